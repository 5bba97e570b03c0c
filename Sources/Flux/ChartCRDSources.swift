import Actions
import Kube

/// Where the CRD of a custom kind that no CustomResourceDefinition of the tree defines could come
/// from, as seen by one Kustomization on the e2e's fresh cluster: the chart of a HelmRelease
/// (helm-controller installs a chart's `crds/`; which ones is unknown without rendering it) or a
/// Kustomization fluxci did not build.
///
/// kustomize-controller applies a build with fluxcd/pkg ssa `ApplyAllStaged`
/// (ssa/manager_apply.go): CRDs and Namespaces first, then `ApplyAll` of every other object,
/// which server-side dry-runs each of them and returns on the first failure before applying any.
/// So a custom resource beside the HelmRelease whose chart brings its CRD fails
/// `no matches for kind` and the HelmRelease is never applied: the CRD never comes. A HelmRelease
/// of a Kustomization it depends on is installed in time only when that Kustomization waits for
/// it (`wait: true`, or a health check of it): Ready then means the release is installed.
enum ChartCRDSources {
    enum Verdict {
        /// A source is surely in time: nothing to say.
        case ordered
        /// Possible sources that race with the Kustomization, named in the text.
        case racing(String)
        /// The only possible sources are HelmReleases of the Kustomization itself.
        case sameKustomization([AppliedObjects.Owned])
        /// Nothing could install it before the Kustomization applies it.
        case none
    }

    /// The Kustomizations that are Ready before `id` applies anything: the `dependsOn` of `id` and
    /// of every Kustomization it waits for (a parent's own `dependsOn` were Ready before the
    /// parent applied `id`). A parent itself is not: it applies `id` in the same run as its other
    /// objects, before its health checks.
    static func readyBefore(_ id: AppliedObjects.Reference, _ index: AppliedObjects) -> Set<AppliedObjects.Reference> {
        var ready: Set<AppliedObjects.Reference> = []
        for node in index.waitsFor(id).union([id]) { ready.formUnion(index.kustomizations[node]?.dependsOn ?? []) }
        return ready
    }

    /// Whether `owner` is Ready only once `object` (a HelmRelease, a workload) is: `spec.wait:
    /// true`, or a health check naming it by kind, name and namespace (kustomize-controller's
    /// `checkHealth`; a check without namespace matches none).
    static func waits(_ owner: FluxKustomization?, for object: KubeObject) -> Bool {
        guard let spec = owner?.object.json["spec"] else { return false }
        if spec["wait"]?.bool == true { return true }
        return (spec["healthChecks"]?.array ?? []).contains { check in
            check["kind"]?.string == object.kind && check["name"]?.string == object.name
                && (check["namespace"]?.string ?? "") == (object.namespace ?? "")
        }
    }

    static func verdict(for id: AppliedObjects.Reference, _ index: AppliedObjects) -> Verdict {
        let releases = index.all("HelmRelease").filter { $0.group == "helm.toolkit.fluxcd.io" }
        let waited = index.waitsFor(id)
        let ready = readyBefore(id, index)
        // Kustomizations that start only after `id` is Ready (or that `id` applies) can never
        // bring the CRD in time: the dry-run of `id` fails first, so they never run.
        let after = { (other: AppliedObjects.Reference) in other != id && index.waitsFor(other).contains(id) }
        if releases.contains(where: { ready.contains($0.owner) && waits(index.kustomizations[$0.owner], for: $0.object) }) { return .ordered }
        var racing: [String] = []
        for release in releases where release.owner != id && !after(release.owner) {
            let relation = waited.contains(release.owner)
                ? (ready.contains(release.owner)
                    ? "which \(id) depends on, but which does not wait for it (no wait: true or health check): helm-controller installs the chart after that Kustomization is Ready"
                    : "which applies \(id) in the same run: helm-controller installs the chart concurrently")
                : "which \(id) does not depend on"
            racing.append("the chart of \(release.object.reference) (applied by \(release.owner), \(relation))")
        }
        let unbuilt = index.unbuilt.filter { !after($0) }
        if !unbuilt.isEmpty { racing.append("a Kustomization fluxci did not build (\(unbuilt.map(\.description).joined(separator: ", ")))") }
        if !racing.isEmpty { return .racing(racing.joined(separator: ", or ")) }
        let own = releases.filter { $0.owner == id }
        return own.isEmpty ? .none : .sameKustomization(own)
    }
}
