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

    static func isCurrent(_ object: JSONValue) -> Bool {
        guard let observed = object["status", "observedGeneration"]?.int else { return false }
        return observed == (object["metadata", "generation"]?.int ?? 1)
    }

    /// A GitRepository: Ready=True with the artifact at the revision.
    public static func gitRepository(_ object: JSONValue, revision: Revision) -> Readiness {
        let artifact = object["status", "artifact", "revision"]?.string
        guard let ready = readyCondition(object) else { return .pending(reason: "", message: "not reconciled yet") }
        if ready.status == "True" && isCurrent(object) {
            return artifact == revision.description
                ? .ready : .pending(reason: "StaleRevision", message: "the artifact is \(artifact ?? "none"), not \(revision)")
        }
        if ready.status == "False" && isCurrent(object) && !waitingReasons.contains(ready.reason) {
            return .failed(reason: ready.reason, message: ready.message)
        }
        return .pending(reason: ready.reason, message: ready.message)
    }

    /// A Kustomization: Ready=True, observedGeneration current, lastAppliedRevision the revision.
    /// Ready=False for another reason than waiting, on an attempt at this revision, is a failure.
    public static func kustomization(_ object: JSONValue, revision: Revision) -> Readiness {
        kustomization(object, expected: revision.description)
    }
}
