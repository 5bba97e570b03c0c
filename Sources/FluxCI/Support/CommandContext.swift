import Actions
import ArgumentParser
import Foundation

/// What a command may take from the process it runs in: environment variables, the working
/// directory, standard input and output, and the reporter. Commands take everything through
/// this value, so tests run them in-process with an environment of their own and capture all
/// they print.
public struct CommandContext: Sendable {
    public var environment: [String: String]
    public var workingDirectory: URL
    public var reporter: Reporter
    /// The command's data (a decrypted file, JSON); the log goes through the reporter.
    public var standardOutput: TextSink
    public var readStandardInput: @Sendable () -> Data

    public init(
        environment: [String: String], workingDirectory: URL, reporter: Reporter, standardOutput: TextSink,
        readStandardInput: @escaping @Sendable () -> Data
    ) {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.reporter = reporter
        self.standardOutput = standardOutput
        self.readStandardInput = readStandardInput
    }

    /// The real process: its environment, standard streams, and a reporter configured by them.
    public static func process() -> CommandContext {
        // A reader that closes the pipe early (`| head`, `| less` then `q`) must not kill the run
        // before its cleanup (the keyring holds key files): with SIGPIPE ignored a write to the
        // closed pipe fails with EPIPE, which the sinks drop, and the run ends as it would have.
        // Spawned tools get default signal dispositions back (Processes resets them).
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        let configuration = Reporter.Configuration.from(environment: environment, logIsTerminal: isatty(2) == 1)
        return CommandContext(
            environment: environment,
            workingDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
            reporter: Reporter(configuration),
            standardOutput: FileDescriptorSink.standardOutput,
            readStandardInput: { FileHandle.standardInput.readDataToEndOfFile() })
    }

    /// Runs a command's body: a thrown `Annotation` is reported where it points and ends the
    /// command with a non-zero exit code; any other error is reported as an error. The step
    /// summary is written either way.
    public func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
            reporter.finish()
        } catch let annotation as Annotation {
            reporter.annotate(annotation)
            reporter.finish()
            throw ExitCode.failure
        } catch let error as ExitCode {
            reporter.finish()
            throw error
        } catch {
            reporter.error("\(error)")
            reporter.finish()
            throw ExitCode.failure
        }
    }

    /// The repository a command works on: `explicit` (a --repository flag), else
    /// GITHUB_WORKSPACE, else the working directory.
    public func repositoryRoot(_ explicit: String?) -> URL {
        explicit.map(url(for:)) ?? environment["GITHUB_WORKSPACE"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) } ?? workingDirectory
    }

    /// A path as the user meant it: relative paths start at the working directory.
    public func url(for path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : workingDirectory.appendingPathComponent(path)
    }
}

/// A command that runs against a `CommandContext`; `run()` uses the real process.
public protocol ContextCommand: AsyncParsableCommand {
    func execute(in context: CommandContext) async throws
}

extension ContextCommand {
    public func run() async throws {
        let context = CommandContext.process()
        try await context.run { try await execute(in: context) }
    }
}

/// The name a command shows in its usage: `fluxci-keys` when run as that executable, `keys`
/// under `fluxci`.
func commandName(_ subcommand: String) -> String {
    let executable = (CommandLine.arguments.first ?? "").split(separator: "/").last.map(String.init) ?? ""
    return executable == "fluxci-\(subcommand)" ? executable : subcommand
}
