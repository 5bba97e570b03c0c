import Actions
import Kube

/// HelmReleases that need a suspended object (tester t15 F3): a chart source source-controller
/// never fetches (it skips a suspended source, so a new cluster has no artifact), or a
/// `dependsOn` release helm-controller never reconciles. Either way the release never becomes
/// Ready, and the full run fails at once; the plan says so first.
enum SuspendedNeeds {
    static func problems(_ applied: AppliedObjects, fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        func suspended(_ owned: [AppliedObjects.Owned]) -> KubeObject? {
            owned.map(\.object).first { $0.json["spec", "suspend"]?.bool == true }
        }
        for release in applied.all("HelmRelease").map(\.object) where release.apiVersion.hasPrefix("helm.toolkit.fluxcd.io/") {
            guard release.json["spec", "suspend"]?.bool != true else { continue }
            let namespace = release.namespace ?? "default"
            func at(_ field: [Origins.FieldKey]) -> SourceLocation? { fieldSite(release, field) }
            if let source = ClusterGraph.chartSource(release.json, namespace: namespace),
                let found = suspended(applied.find(source.kind, group: FluxKustomization.sourceGroup, namespace: source.namespace, name: source.name))
            {
                let field: [Origins.FieldKey] = release.json["spec", "chartRef"] != nil ? ["spec", "chartRef"] : ["spec", "chart", "spec", "sourceRef"]
                problems.append(.error(
                    "\(release.reference) takes its chart from \(found.reference), which is suspended (spec.suspend: true): source-controller never fetches it, so on a fresh cluster the chart never comes and the HelmRelease never becomes Ready.",
                    title: "Source suspended", fix: "Remove spec.suspend from \(found.reference)\(found.file.map { " (\($0))" } ?? ""), or suspend the HelmRelease too.",
                    at: at(field)))
            }
            for (index, item) in (release.json["spec", "dependsOn"]?.array ?? []).enumerated() {
                guard let name = item["name"]?.string,
                    let found = suspended(applied.find("HelmRelease", group: "helm.toolkit.fluxcd.io", namespace: item["namespace"]?.string ?? namespace, name: name))
                else { continue }
                problems.append(.error(
                    "\(release.reference) depends on \(found.reference), which is suspended (spec.suspend: true): helm-controller never reconciles it, so \(release.reference) waits forever (DependencyNotReady).",
                    title: "Depends on a suspended HelmRelease", fix: "Resume \(found.reference) (remove spec.suspend), or drop the dependency.",
                    at: at(["spec", "dependsOn", .index(index)])))
            }
        }
        return problems
    }
}
