import Actions
import Foundation
import Kube

/// What each HelmRelease of the cluster names, checked against the objects the cluster's
/// Kustomizations apply, as helm-controller resolves it (helm.toolkit.fluxcd.io v2): the chart's
/// source (`spec.chart.spec.sourceRef`, or `spec.chartRef`), `spec.valuesFrom` and
/// `spec.dependsOn`, each in the HelmRelease's own namespace unless the reference gives one.
/// A reference that resolves to nothing keeps the HelmRelease from ever becoming Ready, which
/// the run would only see at its timeout.
enum HelmReleaseReferences {
    static let group = "helm.toolkit.fluxcd.io"

    /// `lineOf` gives the line of a field of an object (its document in the repository).
    static func problems(_ applied: AppliedObjects, lineOf: (KubeObject, [Origins.FieldKey]) -> Int?) -> [Annotation] {
        func exists(_ kind: String, group: String?, namespace: String, name: String) -> Bool {
            !applied.find(kind, group: group, namespace: namespace, name: name).isEmpty
        }
        var problems: [Annotation] = []
        var seen: Set<String> = []
        for release in applied.all("HelmRelease").map(\.object) where release.apiVersion.hasPrefix(group + "/") {
            let namespace = release.namespace ?? "default"
            let id = "HelmRelease/\(namespace)/\(release.name)"
            guard seen.insert(id).inserted else { continue }  // applied twice: reported by SharedObjects
            func at(_ field: [Origins.FieldKey]) -> SourceLocation? {
                release.file.map { SourceLocation(file: $0, line: lineOf(release, field) ?? release.line) }
            }
            // The chart's source: a source kind of source.toolkit.fluxcd.io.
            let chart: (reference: JSONValue, field: [Origins.FieldKey])? =
                release.json["spec", "chartRef"].map { ($0, ["spec", "chartRef"]) }
                ?? release.json["spec", "chart", "spec", "sourceRef"].map { ($0, ["spec", "chart", "spec", "sourceRef"]) }
            if let chart, let kind = chart.reference["kind"]?.string, let name = chart.reference["name"]?.string {
                let sourceNamespace = chart.reference["namespace"]?.string ?? namespace
                if !exists(kind, group: FluxKustomization.sourceGroup, namespace: sourceNamespace, name: name) {
                    problems.append(.error(
                        "\(id) takes its chart from \(kind)/\(sourceNamespace)/\(name), which no Kustomization of this cluster applies (a reference without a namespace is in the HelmRelease's own, \(namespace)): helm-controller never gets the chart, and the HelmRelease never becomes Ready.",
                        title: "Unknown chart source", fix: "Correct the reference's name or namespace, or define \(kind) \(name) in \(sourceNamespace).",
                        at: at(chart.field + ["name"])))
                }
            }
            for (index, entry) in (release.json["spec", "valuesFrom"]?.array ?? []).enumerated() {
                guard let kind = entry["kind"]?.string, kind == "ConfigMap" || kind == "Secret", let name = entry["name"]?.string,
                    entry["optional"]?.bool != true, !exists(kind, group: nil, namespace: namespace, name: name)
                else { continue }
                // Something else of that name (an ExternalSecret, a SealedSecret, …) may make it.
                if applied.named(name, namespace: namespace).contains(where: { $0.object.kind != kind }) { continue }
                // kustomize's generators add a hash suffix (`name-<10 characters>`) that a
                // HelmRelease's valuesFrom does not follow without a nameReference configuration.
                let hashed = applied.all(kind).map(\.object).first { object in
                    (object.namespace ?? "") == namespace && object.name.hasPrefix(name + "-")
                        && object.name.dropFirst(name.count + 1).count == 10
                        && object.name.dropFirst(name.count + 1).allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
                }
                if let hashed {
                    problems.append(.error(
                        "\(id) reads its values from \(kind)/\(namespace)/\(name), but kustomize's generator named it \(hashed.name) (a hash suffix), which valuesFrom does not follow: helm-controller finds no \(name), and the HelmRelease never becomes Ready.",
                        title: "Values from a renamed object",
                        fix: "Set `generatorOptions: {disableNameSuffixHash: true}` (or `options: {disableNameSuffixHash: true}` on the generator), or add a kustomize `configurations:` file with a nameReference from \(kind) to HelmRelease spec/valuesFrom/name.",
                        at: at(["spec", "valuesFrom", .index(index), "name"])))
                } else {
                    problems.append(.error(
                        "\(id) reads its values from \(kind)/\(namespace)/\(name), which no Kustomization of this cluster applies: helm-controller fails (\"could not resolve \(kind) chart values reference\"), and the HelmRelease never becomes Ready.",
                        title: "Unknown values source", fix: "Define \(kind) \(name) in \(namespace), correct the name, or mark the entry `optional: true`.",
                        at: at(["spec", "valuesFrom", .index(index), "name"])))
                }
            }
            for (index, dependency) in (release.json["spec", "dependsOn"]?.array ?? []).enumerated() {
                guard let name = dependency["name"]?.string else { continue }
                let dependencyNamespace = dependency["namespace"]?.string ?? namespace
                if !exists("HelmRelease", group: group, namespace: dependencyNamespace, name: name) {
                    problems.append(.error(
                        "\(id) depends on HelmRelease/\(dependencyNamespace)/\(name), which no Kustomization of this cluster applies: helm-controller keeps it waiting (DependencyNotReady).",
                        title: "Unknown dependency", fix: "Correct spec.dependsOn (a missing namespace is \(namespace)), or define the HelmRelease.",
                        at: at(["spec", "dependsOn", .index(index)])))
                }
            }
        }
        return problems
    }
}
