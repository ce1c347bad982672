import ArgumentParser

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "segment", abstract: "Segment an image from point or box prompts.")

    @Argument(parsing: .allUnrecognized, help: .hidden) var rest: [String] = []

    func run() throws { throw NotYetAvailable(command: "segment") }
}
