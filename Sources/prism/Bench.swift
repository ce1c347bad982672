import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Run micro-benchmarks against same-run baselines.")

    @Argument(parsing: .allUnrecognized, help: .hidden) var rest: [String] = []

    func run() throws { throw NotYetAvailable(command: "bench") }
}
