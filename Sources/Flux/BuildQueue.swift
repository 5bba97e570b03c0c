import Foundation

/// Runs the kustomize builds of a plan on up to `width` threads at once (the machine's cores by
/// default), in the order they are submitted. A build is submitted as soon as its Kustomization
/// is found, so it runs while the walk is still reading earlier builds' outputs; the walk reads
/// the results in its own order with `Ticket.wait()`, so what it finds does not depend on which
/// build finished first.
final class BuildQueue: @unchecked Sendable {
    let width: Int
    private let lock = NSLock()
    private var waiting: [@Sendable () -> Void] = []
    private var running = 0

    init(width: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.width = max(1, width)
    }

    /// Starts `work` now when fewer than `width` builds run, else after those submitted before it.
    func submit<R>(_ work: @escaping @Sendable () -> R) -> Ticket<R> {
        let ticket = Ticket<R>()
        let job: @Sendable () -> Void = { ticket.fulfil(work()) }
        let start = lock.withLock { () -> Bool in
            if running < width {
                running += 1
                return true
            }
            waiting.append(job)
            return false
        }
        if start { spawn(job) }
        return ticket
    }

    /// A thread of its own per worker (not the Dispatch pool, whose threads the waiting walk may
    /// hold): it runs `first`, then whatever waits, and ends when nothing does.
    private func spawn(_ first: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var job: (@Sendable () -> Void)? = first
            while let current = job {
                current()
                job = lock.withLock {
                    if waiting.isEmpty {
                        running -= 1
                        return nil
                    }
                    return waiting.removeFirst()
                }
            }
        }
        thread.start()
    }

    /// One submitted build's result, once it is there.
    final class Ticket<R>: @unchecked Sendable {
        private let condition = NSCondition()
        private var value: R?
        private let derived: (@Sendable () -> R)?

        init() { derived = nil }

        /// A ticket whose result is there already.
        init(_ result: R) {
            value = result
            derived = nil
        }

        /// A ticket whose result `source` gives, waiting on other tickets (one build of a batch).
        init(deriving source: @escaping @Sendable () -> R) { derived = source }

        fileprivate func fulfil(_ result: R) {
            condition.withLock {
                value = result
                condition.broadcast()
            }
        }

        /// Blocks until the build ends; its result (the same on every call).
        func wait() -> R {
            if let derived { return derived() }
            return condition.withLock {
                while value == nil { condition.wait() }
                return value!
            }
        }
    }
}
