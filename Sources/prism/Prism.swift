import ArgumentParser
import Foundation

@main
struct Prism: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prism",
        abstract: "A CPU-first vision-language pipeline: chat about images, segment them, convert TFRecord datasets.",
        version: "0.1.0",
        subcommands: [
            ChatCommand.self, AskCommand.self, SegmentCommand.self,
            ConvertCommand.self, InspectCommand.self, IndexCommand.self,
            EvalCommand.self, BenchCommand.self, DemoCommand.self, ServeCommand.self,
        ]
    )
}

/// A subcommand whose implementation has not landed: says so and exits non-zero, never fakes output.
struct NotYetAvailable: Error, CustomStringConvertible {
    let command: String
    var description: String { "prism \(command): not yet available in this build" }
}

/// Errors a user can act on: printed as one line, exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// With `--json`, an error is one JSON object on stderr, `{"error": "…"}`, and the exit status is 1.
func jsonErrorExit(_ message: String) -> ExitCode {
    Terminal.writeErr((try? jsonLine(["error": message])) ?? "{\"error\": \"unprintable error\"}\n")
    return ExitCode(1)
}
