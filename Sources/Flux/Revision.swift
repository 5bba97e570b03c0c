import Kube

/// Flux's revision of a Git source: `<branch>@sha1:<40 hex>`.
public struct Revision: Sendable, Equatable, CustomStringConvertible {
    public var branch: String
    public var commit: String

    public init(branch: String, commit: String) {
        self.branch = branch
        self.commit = commit
    }

    public var description: String { "\(branch)@sha1:\(commit)" }
    public var short: String { "\(branch)@\(commit.prefix(7))" }
}

/// How far an object has got, by Flux's readiness rules.
public enum Readiness: Sendable, Equatable {
    case ready
    case pending(reason: String, message: String)
    case failed(reason: String, message: String)

    static let waitingReasons: Set<String> = ["DependencyNotReady", "Progressing", "ProgressingWithRetry", "Reconciling", ""]

    static func readyCondition(_ object: JSONValue) -> (status: String, reason: String, message: String)? {
        guard let condition = (object["status", "conditions"]?.array ?? []).first(where: { $0["type"]?.string == "Ready" }) else { return nil }
        return (condition["status"]?.string ?? "Unknown", condition["reason"]?.string ?? "", condition["message"]?.string ?? "")
    }

    /// `status.observedGeneration` is the current generation. Flux's controllers write it only
    /// when the object is Ready or Stalled (kustomize-controller `finalizeStatus`:
    /// `if conditions.IsTrue(obj, meta.ReadyCondition) { …; obj.Status.ObservedGeneration =
    /// obj.Generation }`; source- and helm-controller patch it `WithStatusObservedGeneration` only
    /// for a Ready or Stalled result), so a failing new object never has it (tester t10 F1).
    static func isCurrent(_ object: JSONValue) -> Bool {
        guard let observed = object["status", "observedGeneration"]?.int else { return false }
        return observed == (object["metadata", "generation"]?.int ?? 1)
    }

    /// Whether the condition `type` speaks of the current generation: its own
    /// `observedGeneration`, which fluxcd/pkg `runtime/conditions.Set` always writes
    /// (`condition.ObservedGeneration = to.GetGeneration()`), failures included; a condition
    /// without one (older controllers) falls back to `status.observedGeneration`.
    static func isCurrent(_ object: JSONValue, condition type: String) -> Bool {
        guard let condition = (object["status", "conditions"]?.array ?? []).first(where: { $0["type"]?.string == type }) else { return false }
        guard let observed = condition["observedGeneration"]?.int else { return isCurrent(object) }
        return observed == (object["metadata", "generation"]?.int ?? 1)
    }

    /// `Stalled=True` on the current generation: the controller gave up (fluxcd/pkg
    /// `conditions.MarkStalled`, kstatus's Failed), so no retry will change the outcome.
    static func stalled(_ object: JSONValue) -> (reason: String, message: String)? {
        guard let stalled = condition(object, "Stalled"), stalled.status == "True", isCurrent(object, condition: "Stalled") else { return nil }
        return (stalled.reason, stalled.message)
    }

    /// `Reconciling=True` with reason `ProgressingWithRetry`: the attempt failed and the
    /// controller will try again (kustomize-controller's `finalizeStatus`: "Set the Reconciling
    /// reason to ProgressingWithRetry if the reconciliation has failed"; source- and
    /// helm-controller do the same). kstatus reads it as InProgress, not Failed.
    public static func retrying(_ object: JSONValue) -> Bool {
        guard let reconciling = condition(object, "Reconciling") else { return false }
        return reconciling.status == "True" && reconciling.reason == "ProgressingWithRetry"
    }

    /// An attempt under way: kustomize-controller starts each one with
    /// `MarkUnknown(Ready, Progressing, "Reconciliation in progress")` and
    /// `MarkReconciling(Progressing, …)`; helm- and source-controller mark Reconciling=True with
    /// reason `Progressing` too. A failure seen after one is a new attempt's.
    public static func attempting(_ object: JSONValue) -> Bool {
        if condition(object, "Ready")?.status == "Unknown" { return true }
        guard let reconciling = condition(object, "Reconciling") else { return false }
        return reconciling.status == "True" && reconciling.reason == "Progressing"
    }

    /// Whether the controller gave up on the object (`Stalled=True` on its current generation):
    /// a failure it reports is final, not retried.
    public static func isStalled(_ object: JSONValue) -> Bool { stalled(object) != nil }

    /// `Ready=False` with a failure reason (not a waiting one) on the current generation: the
    /// Ready condition's own `observedGeneration` is `metadata.generation` (status's when the
    /// condition has none). This is how a failed attempt shows on a real cluster, where
    /// `status.observedGeneration` stays behind until the object is Ready or Stalled.
    static func currentFailure(_ object: JSONValue) -> (reason: String, message: String)? {
        guard let ready = readyCondition(object), ready.status == "False", isCurrent(object, condition: "Ready"),
            !waitingReasons.contains(ready.reason), !helmWaitingReasons.contains(ready.reason)
        else { return nil }
        return (ready.reason, ready.message)
    }

    /// A GitRepository: Ready=True with the artifact at the revision. A fetch failure on the
    /// current generation (`GitOperationFailed`, `AuthenticationFailed`, …) is `.failed`; while
    /// source-controller retries it (`ProgressingWithRetry`) the waiter holds it for a bounded
    /// grace (`RetriedFailures`); `Stalled=True` (source-controller gave up) is final.
    public static func gitRepository(_ object: JSONValue, revision: Revision) -> Readiness {
        let artifact = object["status", "artifact", "revision"]?.string
        if let stalled = stalled(object) { return .failed(reason: stalled.reason, message: stalled.message) }
        guard let ready = readyCondition(object) else { return .pending(reason: "", message: "not reconciled yet") }
        if ready.status == "True" && isCurrent(object) {
            return artifact == revision.description
                ? .ready : .pending(reason: "StaleRevision", message: "the artifact is \(artifact ?? "none"), not \(revision)")
        }
        if let failure = currentFailure(object) { return .failed(reason: failure.reason, message: failure.message) }
        return .pending(reason: ready.reason, message: ready.message)
    }

    /// A Kustomization: Ready=True, observedGeneration current, lastAppliedRevision the revision.
    /// Ready=False for another reason than waiting, on an attempt at this revision, is a failure.
    public static func kustomization(_ object: JSONValue, revision: Revision) -> Readiness {
        kustomization(object, expected: revision.description)
    }
}
