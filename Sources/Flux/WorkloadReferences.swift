import Actions
import Kube

/// A workload that a waiting Kustomization health-checks, whose pods need a Secret or ConfigMap
/// only a Kustomization waiting for that one applies (tester t11 F16).
///
/// With `spec.wait: true` (or a health check of the workload) kustomize-controller is Ready only
/// once the workload is (kstatus: a Deployment's available replicas, a Job's completion). A pod
/// whose container reads a Secret or ConfigMap that does not exist (`envFrom`,
/// `env[].valueFrom.secretKeyRef`/`configMapKeyRef`, a `secret`/`configMap`/projected volume, none
/// `optional: true`) stays in CreateContainerConfigError or ContainerCreating, so the
/// Kustomization fails its health check at every attempt and the Kustomization that would apply
/// the object never runs: a deadlock. Without wait the pods start once the object is applied
/// (a delay, said nothing of); an object nothing in the tree applies is not judged (an
/// operator, a chart or an ExternalSecret may make it).
enum WorkloadReferences {
    /// The workload kinds kstatus judges by their pods, with where their pod spec is.
    static let podSpecs: [String: [String]] = [
        "apps|Deployment": ["spec", "template", "spec"], "apps|StatefulSet": ["spec", "template", "spec"],
        "apps|DaemonSet": ["spec", "template", "spec"], "apps|ReplicaSet": ["spec", "template", "spec"],
        "batch|Job": ["spec", "template", "spec"], "|Pod": ["spec"],
    ]

    struct Need {
        var kind: String, name: String, field: [Origins.FieldKey]
    }

    /// The Secrets and ConfigMaps a pod spec needs (not optional), each with its field.
    static func needs(_ podSpec: JSONValue, at base: [Origins.FieldKey]) -> [Need] {
        var needs: [Need] = []
        func required(_ reference: JSONValue?) -> Bool { reference?["optional"]?.bool != true }
        for containers in ["initContainers", "containers"] {
            for (c, container) in (podSpec[containers]?.array ?? []).enumerated() {
                let at = base + [.key(containers), .index(c)]
                for (e, source) in (container["envFrom"]?.array ?? []).enumerated() {
                    if let ref = source["secretRef"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "Secret", name: name, field: at + ["envFrom", .index(e)])) }
                    if let ref = source["configMapRef"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "ConfigMap", name: name, field: at + ["envFrom", .index(e)])) }
                }
                for (e, variable) in (container["env"]?.array ?? []).enumerated() {
                    if let ref = variable["valueFrom", "secretKeyRef"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "Secret", name: name, field: at + ["env", .index(e)])) }
                    if let ref = variable["valueFrom", "configMapKeyRef"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "ConfigMap", name: name, field: at + ["env", .index(e)])) }
                }
            }
        }
        for (v, volume) in (podSpec["volumes"]?.array ?? []).enumerated() {
            let at = base + ["volumes", .index(v)]
            if let ref = volume["secret"], let name = ref["secretName"]?.string, required(ref) { needs.append(Need(kind: "Secret", name: name, field: at)) }
            if let ref = volume["configMap"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "ConfigMap", name: name, field: at)) }
            for source in volume["projected", "sources"]?.array ?? [] {
                if let ref = source["secret"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "Secret", name: name, field: at)) }
                if let ref = source["configMap"], let name = ref["name"]?.string, required(ref) { needs.append(Need(kind: "ConfigMap", name: name, field: at)) }
            }
        }
        return needs
    }

    /// `fieldSite` gives the location of a field of an object (FieldSites: the patch that writes it,
    /// else its line in the object's file).
    static func problems(_ applied: AppliedObjects, fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        for (key, path) in podSpecs.sorted(by: { $0.key < $1.key }) {
            let kind = String(key.split(separator: "|", omittingEmptySubsequences: false)[1])
            for owned in applied.all(kind) where "\(owned.group)|\(kind)" == key {
                let workload = owned.object
                guard let spec = applied.kustomizations[owned.owner]?.object.json["spec"], ChartCRDSources.waits(applied.kustomizations[owned.owner], for: workload)
                else { continue }
                let podSpec = path.reduce(Optional(workload.json)) { $0?[$1] }
                guard let podSpec else { continue }
                let namespace = workload.namespace ?? "default"
                var seen: Set<String> = []
                for need in needs(podSpec, at: path.map { .key($0) }) where seen.insert("\(need.kind)/\(need.name)").inserted {
                    let creators = applied.find(need.kind, group: "", namespace: namespace, name: need.name)
                    guard case .deadlocked(let other) = applied.availability(of: creators, for: owned.owner) else { continue }
                    let owner = owned.owner
                    let how = spec["wait"]?.bool == true ? "has wait: true" : "health-checks \(workload.reference)"
                    problems.append(.error(
                        "\(workload.reference) needs \(need.kind)/\(namespace)/\(need.name), which only the Kustomization \(other) applies; \(owner), which applies it, \(how), so it is Ready only once the pods run, and they cannot start without the \(need.kind) (CreateContainerConfigError): kustomize-controller fails \(owner) at its timeout (\"health check failed\"), \(applied.deadlock(other, needs: owner)).",
                        title: "\(need.kind) applied by a dependent",
                        fix: "Move \(need.kind) \(need.name) into the build of \(owner) or of a Kustomization it depends on, mark the reference optional: true, or \(spec["wait"]?.bool == true ? "drop wait: true from \(owner)" : "drop the health check") (a dependsOn of \(owner) on \(other) would be a cycle).",
                        at: fieldSite(workload, need.field)))
                }
            }
        }
        return problems
    }
}
