import Actions
import Foundation

/// libgit2 1.5 has no network timeout: a git server that accepts a connection and never answers
/// would hang the run. Remote calls run on a thread of their own; past the deadline the run fails
/// with a clear error (the thread is left behind, and the process ends soon after).
enum GitDeadline {
    /// FLUXCI_GIT_TIMEOUT (seconds), default two minutes.
    static func seconds(_ environment: [String: String]) -> Double {
        environment["FLUXCI_GIT_TIMEOUT"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 120
    }

    /// How long a remote call runs, at most, before `notice` says that it waits (tester t15 F4: a
    /// server that never answers was silent until the deadline).
    static let quietSeconds = 10.0

    /// Runs `body` (a libgit2 remote call: `what` says which) until done or `seconds` passed;
    /// past `quietSeconds` it tells `notice` that it is still waiting, and for how long it will.
    static func run<T: Sendable>(_ seconds: Double, _ what: String, notice: (String) -> Void = { _ in }, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = Box<Result<T, Error>>()
        let done = DispatchSemaphore(value: 0)
        let start = DispatchTime.now()
        Thread.detachNewThread {
            result.value = Result { try body() }
            done.signal()
        }
        // A quarter of the deadline, at most `quietSeconds`.
        let quiet = min(quietSeconds, seconds / 4)
        var finished = done.wait(timeout: start + quiet) == .success
        if !finished { notice("\(what): no answer after \(Reporter.format(.milliseconds(Int(quiet * 1000)))); waiting up to \(Int(seconds)) s in all (FLUXCI_GIT_TIMEOUT).") }
        if !finished { finished = done.wait(timeout: start + seconds) == .success }
        guard finished, let value = result.value else {
            throw Annotation.error(
                "\(what) did not finish within \(Int(seconds)) s: the git server accepted the connection but did not answer.",
                title: "Git server not answering", fix: "Check the server (and proxies on the way); raise FLUXCI_GIT_TIMEOUT if it is only slow.")
        }
        return try value.get()
    }

    final class Box<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Value?
        var value: Value? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }
}
