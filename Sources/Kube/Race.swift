import Foundation

/// Runs `operation` for at most `bound`: true when it finished, false when the bound came
/// first (the operation is then cancelled and left to end on its own, as `race` leaves it). For
/// a last look that must not hold a run past its deadline (an API server that went away).
@discardableResult
public func within(_ bound: Duration, _ operation: @escaping @Sendable () async -> Void) async -> Bool {
    (try? await race([
        { @Sendable () async throws -> Bool in
            await operation()
            return true
        },
        { @Sendable () async throws -> Bool in
            try await Task.sleep(for: bound)
            return false
        },
    ])) ?? false
}

/// Runs `operations` at once and returns the first one's outcome (its value, or the error it
/// threw); the others are cancelled and left to end on their own, not awaited. A task group would
/// wait for every child to finish before returning: a watch that has decided would then wait
/// for the other watches' HTTP streams to be torn down, milliseconds on a loaded machine, before
/// the waiter could say so (the wait-latency benchmark measured it). Cancelling the caller
/// cancels them all.
public func race<T: Sendable>(_ operations: [@Sendable () async throws -> T]) async throws -> T {
    precondition(!operations.isEmpty, "race needs an operation")
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation, operations)
        }
    } onCancel: {
        race.cancel()
    }
}

/// The state of one `race`: the continuation resumed once, the tasks to cancel.
private final class Race<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var tasks: [Task<Void, Never>] = []
    private var cancelled = false

    func start(_ continuation: CheckedContinuation<T, Error>, _ operations: [@Sendable () async throws -> T]) {
        lock.withLock { self.continuation = continuation }
        for operation in operations {
            let task = Task {
                do { self.finish(.success(try await operation())) } catch { self.finish(.failure(error)) }
            }
            let late = lock.withLock { () -> Bool in
                tasks.append(task)
                return cancelled
            }
            if late { task.cancel() }
        }
    }

    private func finish(_ result: Result<T, Error>) {
        let continuation = lock.withLock { () -> CheckedContinuation<T, Error>? in
            defer { self.continuation = nil }
            return self.continuation
        }
        guard let continuation else { return }
        continuation.resume(with: result)
        cancel()
    }

    func cancel() {
        let all = lock.withLock { () -> [Task<Void, Never>] in
            cancelled = true
            return tasks
        }
        for task in all { task.cancel() }
    }
}
