import Kube

/// An object in the cluster by kind and name: `HelmRelease/podinfo/podinfo`. The group tells
/// apart kinds of the same name (a Flux `Kustomization` from kustomize's).
public struct ObjectReference: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var group: String
    public var kind: String
    /// "" for cluster-scoped objects.
    public var namespace: String
    public var name: String

    public init(group: String, kind: String, namespace: String, name: String) {
        self.group = group
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    public init(_ object: JSONValue) {
        let apiVersion = object["apiVersion"]?.string ?? ""
        group = apiVersion.contains("/") ? String(apiVersion.prefix { $0 != "/" }) : ""
        kind = object["kind"]?.string ?? ""
        namespace = object["metadata", "namespace"]?.string ?? ""
        name = object["metadata", "name"]?.string ?? ""
    }

    public init(_ kustomization: FluxKustomization) {
        self.init(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: kustomization.id.namespace, name: kustomization.id.name)
    }

    /// `Kind/namespace/name` (`Kind/name` when cluster-scoped), as `flux tree` prints objects.
    public var description: String { namespace.isEmpty ? "\(kind)/\(name)" : "\(kind)/\(namespace)/\(name)" }

    public static func < (a: ObjectReference, b: ObjectReference) -> Bool {
        (a.kind, a.namespace, a.name, a.group) < (b.kind, b.namespace, b.name, b.group)
    }
}

/// One entry of a Kustomization's `status.inventory.entries`, as kustomize-controller writes it
/// (fluxcd/pkg ssa `ObjMetadata` ids): `id` is `<namespace>_<name>_<group>_<kind>` (namespace
/// empty for cluster-scoped objects, group empty for the core group), `v` the version.
public struct InventoryEntry: Sendable, Hashable {
    public var reference: ObjectReference
    public var version: String

    /// Parses an entry as cli-utils' `ParseObjMetadata` does (kustomize-controller's ids are its
    /// `ObjMetadata.String()`): the namespace up to the first `_`, the kind after the last, the
    /// group between the last two, the name in between with `__` read back as `:` (RBAC names
    /// such as `system:aggregate-to-edit` are written `system__aggregate-to-edit`). Nil when the
    /// id does not have its four fields.
    public init?(id: String, version: String) {
        guard let first = id.firstIndex(of: "_") else { return nil }
        let namespace = String(id[..<first])
        var rest = id[id.index(after: first)...]
        guard let last = rest.lastIndex(of: "_") else { return nil }
        let kind = String(rest[rest.index(after: last)...])
        rest = rest[..<last]
        guard let groupStart = rest.lastIndex(of: "_") else { return nil }
        let group = String(rest[rest.index(after: groupStart)...])
        let name = rest[..<groupStart].replacingOccurrences(of: "__", with: ":")
        guard !name.isEmpty, !kind.isEmpty, !name.contains("_") else { return nil }
        reference = ObjectReference(group: group, kind: kind, namespace: namespace, name: name)
        self.version = version
    }

    public var apiVersion: String { reference.group.isEmpty ? version : "\(reference.group)/\(version)" }

    /// The entries of a Kustomization object's status (none when it has not applied anything).
    public static func entries(of kustomization: JSONValue) -> [InventoryEntry] {
        (kustomization["status", "inventory", "entries"]?.array ?? []).compactMap { entry in
            guard let id = entry["id"]?.string else { return nil }
            return InventoryEntry(id: id, version: entry["v"]?.string ?? "")
        }
    }
}

/// Which kinds a wait covers after the Kustomizations (`--wait-for`).
public enum WaitScope: String, Sendable, CaseIterable {
    /// Only the Kustomizations (what fluxci did before 0.x).
    case kustomizations
    /// The Kustomizations, then every Flux object they applied.
    case flux
    /// Also the workloads they applied: Deployments, StatefulSets, DaemonSets, Jobs.
    case all

    /// Whether objects of `reference`'s kind are waited for in this scope.
    public func covers(_ reference: ObjectReference) -> Bool {
        switch self {
        case .kustomizations: false
        case .flux: FluxKinds.waited.contains(FluxKinds.Key(reference))
        case .all: FluxKinds.waited.contains(FluxKinds.Key(reference)) || FluxKinds.workloads.contains(FluxKinds.Key(reference))
        }
    }
}

/// The kinds fluxci knows how to wait for.
public enum FluxKinds {
    struct Key: Hashable {
        var group: String
        var kind: String
        init(group: String, kind: String) { self.group = group; self.kind = kind }
        init(_ reference: ObjectReference) { self.init(group: reference.group, kind: reference.kind) }
    }

    static let waited: Set<Key> = [
        Key(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease"),
        Key(group: "source.toolkit.fluxcd.io", kind: "HelmRepository"),
        Key(group: "source.toolkit.fluxcd.io", kind: "HelmChart"),
        Key(group: "source.toolkit.fluxcd.io", kind: "OCIRepository"),
        Key(group: "source.toolkit.fluxcd.io", kind: "GitRepository"),
        Key(group: "source.toolkit.fluxcd.io", kind: "Bucket"),
        Key(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization"),
    ]

    static let workloads: Set<Key> = [
        Key(group: "apps", kind: "Deployment"), Key(group: "apps", kind: "StatefulSet"), Key(group: "apps", kind: "DaemonSet"),
        Key(group: "batch", kind: "Job"),
    ]

    public static func isSource(_ reference: ObjectReference) -> Bool {
        reference.group == "source.toolkit.fluxcd.io" && reference.kind != "HelmChart"
    }
}

extension Readiness {
    /// Conditions of fluxcd/pkg's runtime (`meta.ReadyCondition`, `StalledCondition`,
    /// `ReconcilingCondition`) as Flux's controllers set them.
    static func condition(_ object: JSONValue, _ type: String) -> (status: String, reason: String, message: String)? {
        guard let condition = (object["status", "conditions"]?.array ?? []).first(where: { $0["type"]?.string == type }) else { return nil }
        return (condition["status"]?.string ?? "Unknown", condition["reason"]?.string ?? "", condition["message"]?.string ?? "")
    }

    /// A Flux object other than the branch's sources and Kustomizations: done when Ready=True and
    /// `status.observedGeneration` is the current generation (the controllers write it only for
    /// a Ready or Stalled result). `Stalled=True` on the current generation (the controller gave
    /// up: no retry) fails; Ready=False on the current generation (the Ready condition's own
    /// `observedGeneration`, which fluxcd/pkg `conditions.Set` always writes) with a reason that
    /// is not a waiting one (`InstallFailed`, `UpgradeFailed`, `ArtifactFailed`, `ChartNotFound`,
    /// `AuthenticationFailed`, …) is a failed attempt: `.failed`, which the waiter holds for a
    /// bounded grace while the controller retries it (`RetriedFailures`, tester t10 F1);
    /// everything else is still in progress, as kstatus reads Flux's conditions.
    ///
    /// Exceptions followed from the controllers: a HelmRepository of `type: oci` is a static
    /// object source-controller no longer reconciles (it has no Ready condition), so it is done
    /// once seen; a suspended object is not reconciled, so it is never Ready by fluxci's say: it
    /// is `Suspended` (`suspended(_:)`), which the waiter reports at once (tester t10 F5).
    public static func fluxObject(_ object: JSONValue) -> Readiness {
        let reference = ObjectReference(object)
        if let suspended = suspended(object) { return suspended }
        if reference.kind == "HelmRepository", object["spec", "type"]?.string == "oci" { return .ready }
        if let stalled = stalled(object) {
            if reference.kind == "HelmRelease", let helm = helmFailure(object, stalled: stalled) { return .failed(reason: helm.reason, message: helm.message) }
            return .failed(reason: stalled.reason, message: stalled.message)
        }
        guard let ready = condition(object, "Ready") else { return .pending(reason: "", message: "not reconciled yet") }
        if ready.status == "True" {
            return isCurrent(object) ? .ready : .pending(reason: "Progressing", message: "the new generation is not reconciled yet")
        }
        if let failure = currentFailure(object) { return .failed(reason: failure.reason, message: failure.message) }
        return .pending(reason: ready.reason, message: ready.message)
    }

    /// The pending state of a suspended object (`spec.suspend: true`): its controller skips it
    /// ("Reconciliation is suspended for this object"), so it will not become Ready.
    public static func suspended(_ object: JSONValue) -> Readiness? {
        guard object["spec", "suspend"]?.bool == true else { return nil }
        return .pending(reason: suspendedReason, message: "spec.suspend is true: the controller does not reconcile it")
    }

    public static let suspendedReason = "Suspended"

    /// Helm's own error behind a stalled HelmRelease (tester t10 F3). helm-controller's
    /// `AtomicRelease` marks `Stalled=True` with `RetriesExceeded` and only "Failed to install
    /// after 1 attempt(s)"; the error is in the conditions `summarize` composes Ready from
    /// (`Released`, `Remediated`, `TestSuccess`: reason `InstallFailed`/`UpgradeFailed`/…, message
    /// "Helm install failed for release …: <error>"), in Ready itself, and the failed release in
    /// `status.history` (newest first, `status: failed`). The first False one that says more than
    /// Stalled is reported, Stalled's text after it.
    static func helmFailure(_ object: JSONValue, stalled: (reason: String, message: String)) -> (reason: String, message: String)? {
        for type in ["Ready", "Remediated", "Released", "TestSuccess"] {
            guard let found = condition(object, type), found.status == "False", !found.message.isEmpty, found.message != stalled.message,
                !waitingReasons.contains(found.reason)
            else { continue }
            return (found.reason, "\(found.message) (\(stalled.reason): \(stalled.message))")
        }
        if let latest = object["status", "history"]?.array?.first, latest["status"]?.string == "failed" {
            let release = "\(latest["name"]?.string ?? "release").v\(latest["version"]?.int ?? 0)"
            let chart = [latest["chartName"]?.string, latest["chartVersion"]?.string].compactMap { $0 }.joined(separator: "@")
            return (stalled.reason, "\(stalled.message): Helm release \(release)\(chart.isEmpty ? "" : " with chart \(chart)") failed")
        }
        return nil
    }

    /// helm-controller reasons that mean "waiting for something else": its chart's source is not
    /// ready yet (the source's own failure is reported on the source).
    static let helmWaitingReasons: Set<String> = ["HelmChartNotReady", "SourceNotReady", "ArtifactInStorage"]

    /// A Kustomization that waits for its source: kustomize-controller marks Ready=False with
    /// `ArtifactFailed` before it tries anything when the source object is missing
    /// (`GitRepository.source.toolkit.fluxcd.io "x" not found`, requeued after the retry
    /// interval), has no artifact yet ("Source artifact not found, retrying in 30s") or its
    /// artifact is gone ("Source is not ready, artifact not found, …"), requeued after
    /// `--requeue-dependency`. None is the Kustomization's failure: the source's state is the
    /// cause, and the Kustomization is blocked on it (tester t15 F14), as on a `dependsOn`.
    static func waitingForSource(_ object: JSONValue) -> Readiness? {
        guard let ready = readyCondition(object), ready.status == "False", ready.reason == "ArtifactFailed" else { return nil }
        let message = ready.message
        guard message.hasPrefix("Source artifact not found") || message.hasPrefix("Source is not ready")
            || message.firstMatch(of: #/^[A-Za-z]+\.source\.toolkit\.fluxcd\.io "[^"]+" not found/#) != nil
        else { return nil }
        return .pending(reason: "SourceNotReady", message: message)
    }

    /// A Kustomization sourced elsewhere than the branch's GitRepository: Ready=True, current, and
    /// `lastAppliedRevision` the revision its own source has (`sourceRevision`; nil while the
    /// source is not seen yet).
    public static func kustomization(_ object: JSONValue, sourceRevision: String?) -> Readiness {
        if let suspended = suspended(object) { return suspended }
        guard let sourceRevision else {
            if let waiting = waitingForSource(object) { return waiting }
            let state = fluxObject(object)
            if case .failed = state { return state }
            return .pending(reason: "SourceNotReady", message: "waiting for its source's revision")
        }
        return kustomization(object, expected: sourceRevision)
    }

    /// A Kustomization: Ready=True, observedGeneration current, lastAppliedRevision `expected`.
    /// Ready=False for another reason than waiting, on an attempt at `expected`, is a failure.
    ///
    /// A failure is judged as kustomize-controller keeps its books: the Ready condition's own
    /// `observedGeneration` is current (`status.observedGeneration` is written only once Ready,
    /// in `finalizeStatus`) and `status.lastAttemptedRevision` is `expected` (none yet: a
    /// failure before the revision was recorded, such as a path not found). `Stalled=True` on
    /// the current generation fails at once; a retried failure is held by the waiter.
    static func kustomization(_ object: JSONValue, expected: String) -> Readiness {
        let applied = object["status", "lastAppliedRevision"]?.string
        let attempted = object["status", "lastAttemptedRevision"]?.string
        if let suspended = suspended(object) { return suspended }
        if let stalled = stalled(object) { return .failed(reason: stalled.reason, message: stalled.message) }
        guard let ready = readyCondition(object) else { return .pending(reason: "", message: "not reconciled yet") }
        if ready.status == "True" {
            guard isCurrent(object) else { return .pending(reason: "Progressing", message: "the new generation is not reconciled yet") }
            return applied == expected ? .ready : .pending(reason: "StaleRevision", message: "last applied \(applied ?? "nothing"), waiting for \(expected)")
        }
        if let waiting = waitingForSource(object) { return waiting }
        if let failure = currentFailure(object), attempted == nil || attempted == expected {
            return .failed(reason: failure.reason, message: failure.message)
        }
        return .pending(reason: ready.reason, message: ready.message)
    }

    /// The chart version a HelmRelease installed: `status.history[0].chartVersion` (v2 and
    /// v2beta2 keep release snapshots, newest first), else v2beta1's `status.lastAppliedRevision`.
    public static func chartVersion(_ object: JSONValue) -> String? {
        if let latest = object["status", "history"]?.array?.first, let version = latest["chartVersion"]?.string {
            let chart = latest["chartName"]?.string
            return chart.map { "\($0)@\(version)" } ?? version
        }
        return object["status", "lastAppliedRevision"]?.string
    }

    /// What an object is at: a source's artifact revision, a Kustomization's applied revision, a
    /// HelmRelease's chart version.
    public static func revision(_ object: JSONValue) -> String? {
        switch ObjectReference(object).kind {
        case "HelmRelease": chartVersion(object)
        case "Kustomization": object["status", "lastAppliedRevision"]?.string
        default: object["status", "artifact", "revision"]?.string
        }
    }

    /// Workloads by the rules kustomize-controller's health checks use: kstatus's
    /// (sigs.k8s.io/cli-utils `pkg/kstatus/status/core.go`) for Deployments, StatefulSets and
    /// DaemonSets, and fluxcd/pkg's custom Job reader (`runtime/statusreaders`), which, unlike
    /// kstatus, counts a running Job as in progress until it completes.
    /// - Deployment: `Progressing` with reason `ProgressDeadlineExceeded` fails; then status
    ///   replicas, updated, available and ready replicas must reach `spec.replicas` (default 1),
    ///   with no old replicas left, `Progressing=True` with reason `NewReplicaSetAvailable` (when
    ///   `spec.progressDeadlineSeconds` is set, as the API server defaults it) and `Available=True`.
    /// - StatefulSet: `OnDelete` is done once observed; status and ready replicas reach the
    ///   desired count, none extra; a partition needs its updated replicas only; else current
    ///   replicas reach it and `currentRevision == updateRevision`.
    /// - DaemonSet: `observedGeneration` must be set; scheduled, updated, available and ready
    ///   pods reach `desiredNumberScheduled`.
    /// - Job: suspended is done; `Failed=True` fails; `Complete=True` is done; else in progress.
    /// Every kind but Job is in progress while `observedGeneration` is behind the generation.
    public static func workload(_ object: JSONValue) -> Readiness {
        let kind = object["kind"]?.string ?? ""
        func int(_ field: String, _ fallback: Int = 0) -> Int { object["status", field]?.int ?? fallback }
        func pending(_ reason: String, _ message: String) -> Readiness { .pending(reason: reason, message: message) }
        let observed = object["status", "observedGeneration"]?.int ?? 0
        let generation = object["metadata", "generation"]?.int ?? 0
        if kind != "Job" && observed < generation { return pending("Progressing", "the new generation is not observed yet") }
        let desired = object["spec", "replicas"]?.int ?? 1
        switch kind {
        case "Deployment":
            var progressing = object["spec", "progressDeadlineSeconds"] == nil
            if let condition = condition(object, "Progressing") {
                if condition.reason == "ProgressDeadlineExceeded" { return .failed(reason: "ProgressDeadlineExceeded", message: condition.message) }
                if condition.status == "True" && condition.reason == "NewReplicaSetAvailable" { progressing = true }
            }
            let total = int("replicas"), updated = int("updatedReplicas"), available = int("availableReplicas"), ready = int("readyReplicas")
            if desired > total { return pending("LessReplicas", "Replicas: \(total)/\(desired)") }
            if desired > updated { return pending("LessUpdated", "Updated: \(updated)/\(desired)") }
            if total > desired { return pending("ExtraPods", "Pending termination: \(total - desired)") }
            if updated > available { return pending("LessAvailable", "Available: \(available)/\(updated)") }
            if desired > ready { return pending("LessReady", "Ready: \(ready)/\(desired)") }
            if !progressing { return pending("ReplicaSetNotAvailable", "ReplicaSet not Available") }
            if condition(object, "Available")?.status != "True" { return pending("DeploymentNotAvailable", "Deployment not Available") }
            return .ready
        case "StatefulSet":
            if object["spec", "updateStrategy", "type"]?.string == "OnDelete" { return .ready }
            let total = int("replicas"), ready = int("readyReplicas"), current = int("currentReplicas")
            if desired > total { return pending("LessReplicas", "Replicas: \(total)/\(desired)") }
            if desired > ready { return pending("LessReady", "Ready: \(ready)/\(desired)") }
            if total > desired { return pending("ExtraPods", "Pending termination: \(total - desired)") }
            if let partition = object["spec", "updateStrategy", "rollingUpdate", "partition"]?.int {
                let updated = int("updatedReplicas")
                return updated < desired - partition ? pending("PartitionRollout", "updated: \(updated)/\(desired - partition)") : .ready
            }
            if desired > current { return pending("LessCurrent", "current: \(current)/\(desired)") }
            if object["status", "currentRevision"]?.string ?? "" != object["status", "updateRevision"]?.string ?? "" {
                return pending("RevisionMismatch", "Waiting for updated revision to match current")
            }
            return .ready
        case "DaemonSet":
            if object["status", "observedGeneration"] == nil { return pending("NoObservedGeneration", "DaemonSet status.observedGeneration not found") }
            guard let scheduled = object["status", "desiredNumberScheduled"]?.int else { return pending("NoDesiredNumber", "Missing .status.desiredNumberScheduled") }
            for (field, reason, label) in [
                ("currentNumberScheduled", "LessCurrent", "Current"), ("updatedNumberScheduled", "LessUpdated", "Updated"),
                ("numberAvailable", "LessAvailable", "Available"), ("numberReady", "LessReady", "Ready"),
            ] where scheduled > int(field) {
                return pending(reason, "\(label): \(int(field))/\(scheduled)")
            }
            return .ready
        case "Job":
            if object["spec", "suspend"]?.bool == true { return .ready }
            let completions = object["spec", "completions"]?.int ?? object["spec", "parallelism"]?.int ?? 1
            if let failed = condition(object, "Failed"), failed.status == "True" {
                return .failed(reason: "JobFailed", message: "Job Failed. failed: \(int("failed"))/\(completions)\(failed.message.isEmpty ? "" : " error: \(failed.message)")")
            }
            if let complete = condition(object, "Complete"), complete.status == "True" { return .ready }
            if object["status", "startTime"] == nil { return pending("JobNotStarted", "Job not started. active: 0/\(object["spec", "parallelism"]?.int ?? 1)") }
            return pending("JobInProgress", "Job in progress. success:\(int("succeeded")), active: \(int("active")), failed: \(int("failed"))")
        default:
            return .ready
        }
    }

    /// The rule for an object of any waited kind.
    public static func of(_ object: JSONValue) -> Readiness {
        let reference = ObjectReference(object)
        return FluxKinds.workloads.contains(FluxKinds.Key(reference)) ? workload(object) : fluxObject(object)
    }
}
