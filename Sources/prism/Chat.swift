import ArgumentParser

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Chat about images in an interactive REPL.")

    @Argument(parsing: .allUnrecognized, help: .hidden) var rest: [String] = []

    func run() throws { throw NotYetAvailable(command: "chat") }
}
