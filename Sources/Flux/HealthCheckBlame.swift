import Actions
import Foundation
import Kube

/// The objects a Kustomization's failed health check names (tester t10 F2).
///
/// The behaviour followed: with `spec.wait: true` (or `spec.healthChecks`) kustomize-controller
/// waits for what it applied with fluxcd/pkg ssa `WaitForSet`, kstatus reading each object, and
/// on failure marks `Ready=False` reason `HealthCheckFailed` with "health check failed after
/// <duration>: <error>", the error listing each object not current as
/// `Kind/namespace/name status: '<kstatus status>'`: "timeout waiting for: [HelmRelease/apps/podinfo
/// status: 'InProgress']", or, failing fast on a Failed one (a stalled HelmRelease, a Deployment
/// past its progress deadline), "failed early due to stalled resources: [HelmRelease/apps/podinfo
/// status: 'Failed']". Cluster-scoped objects are written `Kind/name`.
public enum HealthCheckFailure {
    public struct Named: Sendable, Equatable {
        public var kind: String
        public var namespace: String
        public var name: String
        public var status: String

        public init(kind: String, namespace: String, name: String, status: String) {
            self.kind = kind
            self.namespace = namespace
            self.name = name
            self.status = status
        }
    }

    /// The objects `message` names, in its order.
    public static func objects(in message: String) -> [Named] {
        let pattern = #"([A-Za-z][A-Za-z0-9]*)/(?:([a-z0-9][a-z0-9.-]*)/)?([A-Za-z0-9][A-Za-z0-9.:_-]*) status: '([A-Za-z]+)'"#
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return [] }
        let text = message as NSString
        return expression.matches(in: message, range: NSRange(location: 0, length: text.length)).map { match in
            func group(_ index: Int) -> String {
                let range = match.range(at: index)
                return range.location == NSNotFound ? "" : text.substring(with: range)
            }
            return Named(kind: group(1), namespace: group(2), name: group(3), status: group(4))
        }
    }

    /// The API group of a kind fluxci waits for (the message names kinds without their group).
    static func group(of kind: String) -> String? {
        (FluxKinds.waited.union(FluxKinds.workloads)).first { $0.kind == kind }?.group
    }
}

extension ReconciliationWaiter {
    /// A Kustomization that failed its health check is reported as the failure of the object it
    /// waited for, when that object failed by its own rule (a HelmRelease that could not install):
    /// at the object's file and line, with its reason and message, and its row failed, so that
    /// the graph and summary show the release failed instead of not reached (tester t10 F2). The
    /// objects the message names as `Failed` are looked at first, then the others; when none of
    /// them failed by its own rule (still in progress at the deadline), the Kustomization's own
    /// failure stands.
    func blameHealthCheck(_ failure: Failure, written: WrittenObjects) async -> Failure {
        guard let kustomization = failure.failed.first, kustomization.kind == "Kustomization",
            let row = failure.rows.first(where: { $0.reference == kustomization }), case .failed("HealthCheckFailed", let message) = row.readiness
        else { return failure }
        let named = HealthCheckFailure.objects(in: message)
        for candidate in named.filter({ $0.status == "Failed" }) + named.filter({ $0.status != "Failed" }) {
            guard let group = HealthCheckFailure.group(of: candidate.kind),
                let resource = try? await resource(FluxKinds.Key(group: group, kind: candidate.kind), versions: []),
                let object = try? await client.get(resource.path(namespace: candidate.namespace.isEmpty ? nil : candidate.namespace, name: candidate.name))
            else { continue }
            let typed = resource.typed(object)
            guard case .failed(let reason, let text) = Readiness.of(typed) else { continue }
            let reference = ObjectReference(group: group, kind: candidate.kind, namespace: candidate.namespace, name: candidate.name)
            let location = written.object(reference, in: kustomization).flatMap(WrittenObjects.location) ?? row.location
            let what = candidate.namespace.isEmpty ? candidate.name : "\(candidate.namespace)/\(candidate.name)"
            let at = typed["status", "lastAttemptedRevision"]?.string.map { " at \($0)" } ?? ""
            let fix =
                reference.kind == "HelmRelease"
                ? "The message is helm-controller's; the events of the release and of its pods are in the artifacts. Fix the chart version or values where the HelmRelease is written."
                : "The message is its controller's; its events are in the artifacts. Fix the object where it is written."
            let annotation = Annotation.error(
                "The \(candidate.kind) \(what) (applied by \(kustomization.namespace)/\(kustomization.name), which waits for it) failed\(at): \(reason): \(text)",
                title: "\(candidate.kind) failed: \(reason)", fix: fix, at: location)
            let failedRow = Row(
                reference: reference, parent: kustomization, location: location, readiness: .failed(reason: reason, message: text),
                revision: Readiness.revision(typed), elapsed: nil, live: typed)
            let others = await appliedRows(of: row, except: reference, written: written)
            let known = Set(others.map(\.reference) + [reference])
            return Failure(annotation: annotation, rows: failure.rows.filter { !known.contains($0.reference) } + [failedRow] + others, failed: [reference, kustomization])
        }
        return failure
    }

    /// The other Flux objects the Kustomization's inventory lists, as the cluster has them now
    /// (at most 50), so that the ones it was still waiting for show waiting, not not reached.
    private func appliedRows(of kustomization: Row, except: ObjectReference, written: WrittenObjects) async -> [Row] {
        var rows: [Row] = []
        let entries = InventoryEntry.entries(of: kustomization.live ?? .null).filter { WaitScope.flux.covers($0.reference) && $0.reference != except }
        for entry in entries.prefix(50) {
            let reference = entry.reference
            guard let resource = try? await resource(FluxKinds.Key(reference), versions: [entry.apiVersion]),
                let object = try? await client.get(resource.path(namespace: reference.namespace.isEmpty ? nil : reference.namespace, name: reference.name))
            else { continue }
            let typed = resource.typed(object)
            rows.append(Row(
                reference: reference, parent: kustomization.reference,
                location: written.object(reference, in: kustomization.reference).flatMap(WrittenObjects.location), readiness: Readiness.of(typed),
                revision: Readiness.revision(typed), elapsed: nil, live: typed))
        }
        return rows
    }
}
