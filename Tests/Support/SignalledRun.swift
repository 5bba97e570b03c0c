import Foundation
import Subprocess
import SystemPackage

/// How a run that was sent a signal ended.
public struct SignalledRun: Sendable {
    /// What it printed; `status` is its exit code, or 128 + the signal when the signal ended it.
    public var result: ProcessResult
    /// The signal itself ended the process (it did not exit on its own after cleaning up).
    public var endedBySignal: Bool
    /// `ready` held before the signal was sent (else the signal went after `within`).
    public var wasReady: Bool
}

/// Runs a program (through swift-subprocess, as `runProcess`), waits until `ready` holds (asked
/// every 50 ms, for `within` at the most), lets it run `settle` longer, and sends it `signal`;
/// returns once it has ended. `environment` replaces the whole environment (PATH and HOME added
/// from the test process when not given).
public func runProcess(
    _ executable: URL, _ arguments: [String], environment: [String: String], workingDirectory: URL, signal: Signal,
    when ready: @escaping @Sendable () -> Bool, within: Duration = .seconds(20), settle: Duration, again: Duration? = nil
) async throws -> SignalledRun {
    var custom: [Environment.Key: String] = [:]
    for key in ["PATH", "HOME"] { custom[Environment.Key(stringLiteral: key)] = ProcessInfo.processInfo.environment[key] }
    for (key, value) in environment { custom[Environment.Key(stringLiteral: key)] = value }
    let result = try await run(
        .path(FilePath(executable.path)), arguments: Arguments(arguments), environment: .custom(custom),
        workingDirectory: FilePath(workingDirectory.path), input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)
    ) { execution -> Bool in
        let deadline = ContinuousClock.now + within
        var wasReady = ready()
        while !wasReady && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            wasReady = ready()
        }
        try await Task.sleep(for: settle)
        try execution.send(signal: signal)
        // A second signal while the first one's cleanup runs (timeout(1), a runner's SIGINT then SIGTERM).
        if let again {
            try await Task.sleep(for: again)
            try? execution.send(signal: signal)
        }
        return wasReady
    }
    let (status, bySignal): (Int32, Bool) = switch result.terminationStatus {
    case .exited(let code): (Int32(code), false)
    case .signaled(let number): (128 + Int32(number), true)
    }
    return SignalledRun(
        result: ProcessResult(status: status, standardOutput: result.standardOutput, standardError: result.standardError),
        endedBySignal: bySignal, wasReady: result.closureResult)
}
