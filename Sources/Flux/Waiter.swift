import Actions
import Foundation
import Kube

/// Waits, by watching, until the GitRepository has the branch's revision and every
/// Kustomization of the cluster has applied it; or says which one failed, where it is defined,
/// and why.
public struct ReconciliationWaiter: Sendable {
    public struct Row: Sendable {
        public var kustomization: FluxKustomization
        public var readiness: Readiness
        public var revision: String?
        public var elapsed: Duration?
    }

    public struct Failure: Error, Sendable {
        public var annotation: Annotation
        public var rows: [Row]
        /// The objects whose events are worth collecting.
        public var failed: [FluxKustomization]
    }

    public let client: KubeClient
    public let revision: Revision
    public let timeout: Duration
    public let perKustomizationTimeout: Duration
    public let reporter: Reporter

    public init(client: KubeClient, revision: Revision, timeout: Duration, perKustomizationTimeout: Duration, reporter: Reporter) {
        self.client = client
        self.revision = revision
        self.timeout = timeout
        self.perKustomizationTimeout = perKustomizationTimeout
        self.reporter = reporter
    }

    public func waitForSource(_ repository: KubeObject) async throws {
        let resource = try await client.resource(apiVersion: repository.apiVersion, kind: "GitRepository")
        let revision = self.revision
        let last = Latest()
        do {
            _ = try await client.observe(resource, namespace: repository.namespace, fieldSelector: "metadata.name=\(repository.name)", timeout: timeout) { event -> Bool? in
                let readiness = Readiness.gitRepository(event.object, revision: revision)
                last.set(readiness)
                switch readiness {
                case .ready: return true
                case .pending: return nil
                case .failed(let reason, let message):
                    throw Annotation.error(
                        "The GitRepository \(repository.reference) failed to fetch \(revision): \(message)", title: "Source failed: \(reason)",
                        fix: "Check the repository URL and credentials (GITHUB_TOKEN for a private repository).",
                        at: repository.file.map { SourceLocation(file: $0, line: repository.line) })
                }
            }
        } catch let error as KubeError {
            if case .timeout = error {
                let detail: String = if case .pending(_, let message)? = last.value { message } else { "no status" }
                throw Annotation.error(
                    "The GitRepository \(repository.reference) did not get \(revision) within \(timeout): \(detail)", title: "Source timed out",
                    fix: "Check that source-controller runs and can reach the repository; raise --timeout if it is only slow.",
                    at: repository.file.map { SourceLocation(file: $0, line: repository.line) })
            }
            throw error
        }
    }

    /// Watches every Kustomization at once; each is reported as it becomes ready, dependencies
    /// first as Flux orders them.
    public func waitForKustomizations(_ kustomizations: [FluxKustomization]) async throws -> [Row] {
        guard let first = kustomizations.first else { return [] }
        let resource = try await client.resource(apiVersion: first.object.apiVersion, kind: "Kustomization")
        let state = WaitState(kustomizations, revision: revision, perKustomizationTimeout: perKustomizationTimeout, reporter: reporter)
        do {
            return try await client.observe(resource, namespace: nil, timeout: timeout) { event -> [Row]? in
                try state.observe(event)
            }
        } catch let error as KubeError {
            guard case .timeout = error else { throw error }
            let rows = state.rows()
            let stuck = rows.filter { if case .ready = $0.readiness { false } else { true } }
            let lines = stuck.map { row -> String in
                if case .pending(let reason, let message) = row.readiness { return "\(row.kustomization.id): \(reason.isEmpty ? "pending" : reason) \(message)" }
                return "\(row.kustomization.id)"
            }
            throw Failure(
                annotation: .error(
                    "Not every Kustomization applied \(revision) within \(timeout):\n" + lines.joined(separator: "\n"), title: "Timed out",
                    fix: "Look at the first one that is not DependencyNotReady; raise --timeout if it is only slow.",
                    at: stuck.first?.kustomization.location),
                rows: rows, failed: stuck.map(\.kustomization))
        }
    }
}

/// The latest readiness seen, across watch events.
final class Latest: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Readiness?
    var value: Readiness? { lock.withLock { stored } }
    func set(_ value: Readiness) { lock.withLock { stored = value } }
}

/// Readiness of every Kustomization, as events arrive.
final class WaitState: @unchecked Sendable {
    private let lock = NSLock()
    private let kustomizations: [FluxKustomization]
    private let revision: Revision
    private let perKustomizationTimeout: Duration
    private let reporter: Reporter
    private let start = ContinuousClock.now
    private var readiness: [FluxKustomization.Reference: Readiness] = [:]
    private var applied: [FluxKustomization.Reference: String] = [:]
    private var readyAt: [FluxKustomization.Reference: Duration] = [:]
    /// When all of a Kustomization's dependencies were ready: its own clock starts then.
    private var unblockedAt: [FluxKustomization.Reference: ContinuousClock.Instant] = [:]

    init(_ kustomizations: [FluxKustomization], revision: Revision, perKustomizationTimeout: Duration, reporter: Reporter) {
        self.kustomizations = kustomizations
        self.revision = revision
        self.perKustomizationTimeout = perKustomizationTimeout
        self.reporter = reporter
    }

    func observe(_ event: WatchEvent) throws -> [ReconciliationWaiter.Row]? {
        let id = FluxKustomization.Reference(
            namespace: event.object["metadata", "namespace"]?.string ?? "", name: event.object["metadata", "name"]?.string ?? "")
        let result: (done: Bool, newlyReady: Bool, failure: ReconciliationWaiter.Failure?) = lock.withLock {
            guard let kustomization = kustomizations.first(where: { $0.id == id }), event.kind != .deleted else { return (false, false, nil) }
            let now = Readiness.kustomization(event.object, revision: revision)
            let wasReady = readiness[id] == .ready
            readiness[id] = now
            applied[id] = event.object["status", "lastAppliedRevision"]?.string
            var newlyReady = false
            if now == .ready && !wasReady {
                readyAt[id] = ContinuousClock.now - start
                newlyReady = true
            }
            for candidate in kustomizations where unblockedAt[candidate.id] == nil {
                if candidate.dependsOn.allSatisfy({ readiness[$0] == .ready || !kustomizations.map(\.id).contains($0) }) {
                    unblockedAt[candidate.id] = ContinuousClock.now
                }
            }
            if case .failed(let reason, let message) = now {
                return (false, false, failure(kustomization, "\(reason): \(message)", title: "Kustomization failed: \(reason)"))
            }
            if now != .ready, let since = unblockedAt[id], ContinuousClock.now - since > perKustomizationTimeout {
                let detail: String = if case .pending(let reason, let message) = now { "\(reason) \(message)" } else { "" }
                return (false, false, failure(kustomization, "not ready within \(perKustomizationTimeout) of its dependencies being ready: \(detail)", title: "Kustomization timed out"))
            }
            return (kustomizations.allSatisfy { readiness[$0.id] == .ready }, newlyReady, nil)
        }
        if let failure = result.failure { throw failure }
        if result.newlyReady, let kustomization = kustomizations.first(where: { $0.id == id }) {
            reporter.log("✓ \(kustomization.id) applied \(revision.short) (\(Reporter.format(readyAt[id] ?? .zero)))")
        }
        return result.done ? rows() : nil
    }

    private func failure(_ kustomization: FluxKustomization, _ detail: String, title: String) -> ReconciliationWaiter.Failure {
        ReconciliationWaiter.Failure(
            annotation: .error(
                "The Kustomization \(kustomization.id) (path \(kustomization.writtenPath)) \(detail.hasPrefix("not ready") ? detail : "failed at \(revision): \(detail)")",
                title: title, fix: "The message is the controller's; the objects' events are in the artifacts. Fix the manifests under \(kustomization.writtenPath).",
                at: kustomization.location),
            rows: rowsUnlocked(), failed: [kustomization])
    }

    func rows() -> [ReconciliationWaiter.Row] { lock.withLock { rowsUnlocked() } }

    private func rowsUnlocked() -> [ReconciliationWaiter.Row] {
        kustomizations.map { kustomization in
            ReconciliationWaiter.Row(
                kustomization: kustomization, readiness: readiness[kustomization.id] ?? .pending(reason: "", message: "not seen yet"),
                revision: applied[kustomization.id], elapsed: readyAt[kustomization.id])
        }
    }
}
