import ArgumentParser

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise the records and features in TFRecord files.")

    @Argument(parsing: .allUnrecognized, help: .hidden) var rest: [String] = []

    func run() throws { throw NotYetAvailable(command: "inspect") }
}
