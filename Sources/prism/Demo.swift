import ArgumentParser

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the built-in demo.")

    @Argument(parsing: .allUnrecognized, help: .hidden) var rest: [String] = []

    func run() throws { throw NotYetAvailable(command: "demo") }
}
