import Foundation
import Subprocess
import SystemPackage

/// What a finished process printed, and how it ended.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    /// Everything the process printed, for leak scans.
    public var allOutput: String { standardOutput + "\n" + standardError }
}

/// Runs a program to completion (through swift-subprocess: Foundation.Process can hang in tests).
/// `environment` replaces the whole environment, so tests decide exactly what a command sees;
/// PATH and HOME are added from the test process when not given.
public func runProcess(
    _ executable: URL, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
    workingDirectory: URL? = nil
) async throws -> ProcessResult {
    var variables = environment
    let inherited = ProcessInfo.processInfo.environment
    for key in ["PATH", "HOME", "LANG"] where variables[key] == nil { variables[key] = inherited[key] }
    var custom: [Environment.Key: String] = [:]
    for (key, value) in variables { custom[Environment.Key(stringLiteral: key)] = value }
    let result = try await run(
        .path(FilePath(executable.path)),
        arguments: Arguments(arguments),
        environment: .custom(custom),
        workingDirectory: workingDirectory.map { FilePath($0.path) },
        input: .string(input ?? ""),
        output: .string(limit: 64 << 20),
        error: .string(limit: 64 << 20))
    let status: Int32 = switch result.terminationStatus {
    case .exited(let code): Int32(code)
    case .signaled(let signal): 128 + Int32(signal)
    }
    return ProcessResult(status: status, standardOutput: result.standardOutput, standardError: result.standardError)
}

/// Runs a program found on PATH.
public func runTool(
    _ name: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
    workingDirectory: URL? = nil
) async throws -> ProcessResult {
    try await runProcess(which(name), arguments, environment: environment, input: input, workingDirectory: workingDirectory)
}

public func which(_ name: String) throws -> URL {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw ToolMissing(name: name)
}

public struct ToolMissing: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "\(name) is not on PATH; run scripts/setup first." }
}
