import Foundation
import Subprocess
import SystemPackage

/// The git program, run to completion with an environment of our own choosing on top of the
/// process's (GIT_DIR, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY...). Serving needs the real git:
/// `git http-backend` answers the cluster, so the served repository is made with git too.
enum GitTool {
    struct Failed: Error, CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var output: String
        var description: String { "git \(arguments.joined(separator: " ")) failed (exit \(status)): \(output)" }
    }

    /// `git` on PATH (nil when it is not there).
    static func path(_ environment: [String: String]) -> String? {
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/git"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs git and returns its standard output without the trailing newline; a non-zero exit is
    /// an error with git's own message.
    @discardableResult
    static func run(
        _ arguments: [String], environment: [String: String], extra: [String: String] = [:], directory: URL? = nil
    ) async throws -> String {
        guard let git = path(environment) else { throw Failed(arguments: arguments, status: 127, output: "git is not on PATH") }
        var custom: [Environment.Key: String] = [:]
        for (key, value) in environment.merging(extra, uniquingKeysWith: { $1 }) { custom[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(git)), arguments: Arguments(arguments), environment: .custom(custom),
            workingDirectory: directory.map { FilePath($0.path) }, output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
        let status: Int32 = switch result.terminationStatus {
        case .exited(let code): Int32(code)
        case .signaled(let signal): 128 + Int32(signal)
        }
        guard status == 0 else {
            throw Failed(arguments: arguments, status: status, output: result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return result.standardOutput.trimmingCharacters(in: .newlines)
    }
}
