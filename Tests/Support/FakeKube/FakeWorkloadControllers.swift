import Foundation
import Kube

/// A stand-in for kube-controller-manager's Deployment, StatefulSet, DaemonSet and Job
/// controllers and the kubelet of a one-node cluster (a new kind cluster): no pod runs, but each
/// workload on the fake API server gets the status those controllers write, in the same two
/// steps: first in progress (pods created, not ready), then, `rollOutDelay` later, rolled out,
/// or stuck as told. The field names, condition types, reasons and messages are the
/// controllers' (k8s.io/kubernetes `pkg/controller/deployment/util`, `statefulset`, `daemon`,
/// `job`): a Deployment's `Available`/`Progressing` (`MinimumReplicasAvailable`,
/// `NewReplicaSetAvailable`, `ReplicaSetUpdated`, `ProgressDeadlineExceeded`), a Job's
/// `SuccessCriteriaMet`/`Complete` and `FailureTarget`/`Failed` (`BackoffLimitExceeded`).
public final class FakeWorkloadControllers: @unchecked Sendable {
    /// How a workload (by name) rolls out; the default is `.rollOut`.
    public enum Behaviour: Sendable {
        /// Every replica becomes ready and available; a Job completes.
        case rollOut
        /// The pods never become ready (an image that cannot be pulled, a crash loop): the
        /// workload stays in progress with unavailable replicas; a Job keeps running.
        case unavailable
        /// A Deployment past its `progressDeadlineSeconds`: `Progressing=False`,
        /// `ProgressDeadlineExceeded`. Other kinds: as `.unavailable`.
        case progressDeadlineExceeded
        /// A Job whose pods failed `backoffLimit + 1` times: `Failed=True`, `BackoffLimitExceeded`.
        /// Other kinds: as `.unavailable`.
        case failed
    }

    static let kinds: [(group: String, plural: String, kind: String)] = [
        ("apps", "deployments", "Deployment"), ("apps", "statefulsets", "StatefulSet"), ("apps", "daemonsets", "DaemonSet"), ("batch", "jobs", "Job"),
    ]

    /// How long the pods take to become ready once the workload's generation is observed.
    public var rollOutDelay: Duration = .milliseconds(400)

    private let server: FakeAPIServer
    private let lock = NSLock()
    private var behaviours: [String: Behaviour] = [:]
    /// When each workload's generation was first observed: `<plural>/<namespace>/<name>@<generation>`.
    private var observedAt: [String: ContinuousClock.Instant] = [:]
    private var subscription: UUID?
    private let work = AsyncStream<Void>.makeStream()
    private var tasks: [Task<Void, Never>] = []

    public init(server: FakeAPIServer) { self.server = server }

    public func set(_ name: String, _ behaviour: Behaviour) {
        lock.withLock { behaviours[name] = behaviour }
        work.continuation.yield()
    }

    public func start() {
        subscription = server.api.store.subscribe { [weak self] event in
            guard event.group == "apps" || event.group == "batch" else { return }
            self?.work.continuation.yield()
        }
        let continuation = work.continuation
        tasks.append(Task {
            // The kubelet's pods become ready on their own time, not on an API event.
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                continuation.yield()
            }
        })
        tasks.append(Task { [weak self] in
            guard let stream = self?.work.stream else { return }
            for await _ in stream { self?.reconcile() }
        })
    }

    public func stop() {
        if let subscription { server.api.store.unsubscribe(subscription) }
        work.continuation.finish()
        for task in tasks { task.cancel() }
    }

    private func reconcile() {
        for (group, plural, kind) in Self.kinds {
            for object in server.objects(group: group, plural: plural) {
                let name = object["metadata", "name"]?.string ?? "", namespace = object["metadata", "namespace"]?.string ?? ""
                let generation = object["metadata", "generation"]?.int ?? 1
                let key = "\(plural)/\(namespace)/\(name)@\(generation)"
                let now = ContinuousClock.now
                let (first, behaviour) = lock.withLock { () -> (ContinuousClock.Instant, Behaviour) in
                    let first = observedAt[key] ?? now
                    observedAt[key] = first
                    return (first, behaviours[name] ?? .rollOut)
                }
                let settled = now - first >= rollOutDelay
                let status = Self.status(kind: kind, object, generation: generation, outcome: settled ? behaviour : nil)
                if object["status"].map({ Self.same($0, status) }) != true {
                    server.setStatus(group: group, plural: plural, namespace: namespace, name: name, status)
                }
            }
        }
    }

    /// Equal but for the times the controllers stamp.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        func strip(_ value: JSONValue) -> JSONValue {
            var copy = value
            copy.remove("startTime")
            copy.remove("completionTime")
            if let conditions = copy["conditions"]?.array {
                copy.set("conditions", .array(conditions.map { var c = $0; c.remove("lastTransitionTime"); c.remove("lastUpdateTime"); c.remove("lastProbeTime"); return c }))
            }
            return copy
        }
        return strip(a) == strip(b)
    }

    private static func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
        let now = FakeAPI.now()
        return .object([
            ("type", .string(type)), ("status", .string(status)), ("lastUpdateTime", .string(now)), ("lastTransitionTime", .string(now)),
            ("reason", .string(reason)), ("message", .string(message)),
        ])
    }

    /// The status the controllers write: in progress while `outcome` is nil, else as it says.
    static func status(kind: String, _ object: JSONValue, generation: Int, outcome: Behaviour?) -> JSONValue {
        let replicas = Int64(object["spec", "replicas"]?.int ?? 1)
        let observed = ("observedGeneration", JSONValue.integer(Int64(generation)))
        // The pod template's hash names a Deployment's ReplicaSet and a StatefulSet's revision.
        let hash = String(FakeFluxController.digest(object["spec", "template"]?.jsonText ?? "").prefix(10))
        let name = object["metadata", "name"]?.string ?? ""
        let ready: Bool = if case .rollOut? = outcome { true } else { false }
        switch kind {
        case "Deployment":
            let replicaSet = "\(name)-\(hash)"
            if ready {
                return .object([
                    ("availableReplicas", .integer(replicas)),
                    ("conditions", .array([
                        condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                        condition("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"\(replicaSet)\" has successfully progressed."),
                    ])),
                    observed, ("readyReplicas", .integer(replicas)), ("replicas", .integer(replicas)), ("updatedReplicas", .integer(replicas)),
                ])
            }
            let progressing: JSONValue = if case .progressDeadlineExceeded? = outcome {
                condition("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"\(replicaSet)\" has timed out progressing.")
            } else {
                condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"\(replicaSet)\" is progressing.")
            }
            return .object([
                ("conditions", .array([condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."), progressing])),
                observed, ("replicas", .integer(replicas)), ("unavailableReplicas", .integer(replicas)), ("updatedReplicas", .integer(replicas)),
            ])
        case "StatefulSet":
            let revision = "\(name)-\(hash)"
            return .object([
                ("availableReplicas", .integer(ready ? replicas : 0)), ("collisionCount", .integer(0)), ("currentReplicas", .integer(replicas)),
                ("currentRevision", .string(revision)), observed, ("readyReplicas", .integer(ready ? replicas : 0)), ("replicas", .integer(replicas)),
                ("updateRevision", .string(revision)), ("updatedReplicas", .integer(replicas)),
            ])
        case "DaemonSet":
            // One node: one pod scheduled.
            var fields: [(String, JSONValue)] = [("currentNumberScheduled", .integer(1)), ("desiredNumberScheduled", .integer(1))]
            fields += ready ? [("numberAvailable", .integer(1))] : []
            fields += [("numberMisscheduled", .integer(0)), ("numberReady", .integer(ready ? 1 : 0))]
            fields += ready ? [] : [("numberUnavailable", .integer(1))]
            fields += [observed, ("updatedNumberScheduled", .integer(1))]
            return .object(fields)
        default:  // Job: no observedGeneration
            let completions = Int64(object["spec", "completions"]?.int ?? 1)
            let start = ("startTime", JSONValue.string(FakeAPI.now()))
            switch outcome {
            case .rollOut?:
                let met = "Reached expected number of succeeded pods"
                return .object([
                    ("completionTime", .string(FakeAPI.now())),
                    ("conditions", .array([condition("SuccessCriteriaMet", "True", "CompletionsReached", met), condition("Complete", "True", "CompletionsReached", met)])),
                    ("ready", .integer(0)), start, ("succeeded", .integer(completions)), ("terminating", .integer(0)),
                ])
            case .failed?:
                let limit = "Job has reached the specified backoff limit"
                return .object([
                    ("conditions", .array([condition("FailureTarget", "True", "BackoffLimitExceeded", limit), condition("Failed", "True", "BackoffLimitExceeded", limit)])),
                    ("failed", .integer(Int64(object["spec", "backoffLimit"]?.int ?? 6) + 1)), ("ready", .integer(0)), start, ("terminating", .integer(0)),
                ])
            default:
                return .object([("active", .integer(1)), ("ready", .integer(0)), start, ("terminating", .integer(0))])
            }
        }
    }
}
