import Actions
import Kube

/// Lists server-side apply merges by key, with an entry written twice (tester t20 F2).
/// kustomize-controller applies with server-side apply, whose typed patch (sigs.k8s.io
/// structured-merge-diff) refuses an applied list of `x-kubernetes-list-type: map` that holds
/// two entries with the same key (`.spec.template.spec.containers[name="web"].ports: duplicate
/// entries for key [containerPort=80,protocol="TCP"]`, kubernetes/kubernetes#113482), so the
/// dry-run of the whole Kustomization fails. The keys are those of the Kubernetes OpenAPI
/// (`x-kubernetes-list-map-keys` of PodSpec and Container, 1.25–1.37); a key not written takes
/// its default (a port's `protocol`: TCP). CRDs' lists are checked by `StructuralSchema`.
enum AssociativeLists {
    /// PodSpec's keyed lists.
    static let podSpecLists: [(list: String, keys: [String])] = [
        ("containers", ["name"]), ("initContainers", ["name"]), ("ephemeralContainers", ["name"]), ("volumes", ["name"]),
        ("imagePullSecrets", ["name"]), ("hostAliases", ["ip"]), ("resourceClaims", ["name"]), ("schedulingGates", ["name"]),
        ("topologySpreadConstraints", ["topologyKey", "whenUnsatisfiable"]),
    ]
    /// Container's keyed lists.
    static let containerLists: [(list: String, keys: [String])] = [
        ("ports", ["containerPort", "protocol"]), ("env", ["name"]), ("volumeMounts", ["mountPath"]), ("volumeDevices", ["devicePath"]),
    ]
    static let defaults: [String: JSONValue] = ["protocol": .string("TCP")]

    /// One error per entry that repeats the key of an earlier one, at that entry.
    static func problems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        guard let (spec, path) = BuiltInKindValidation.podSpec(object, key: key) else { return [] }
        var problems: [Annotation] = []
        func check(_ items: [JSONValue]?, keys: [String], field: [Origins.FieldKey]) {
            var seen: [String: Int] = [:]
            for (index, item) in (items ?? []).enumerated() {
                let values = keys.map { item[$0] ?? defaults[$0] ?? .null }
                // A value postBuild could not resolve is not judged.
                guard !values.contains(where: { BuiltInKindValidation.placeholder($0.string ?? "") }) else { continue }
                let shownKey = zip(keys, values).map { "\($0)=\($1.jsonText)" }.joined(separator: ",")
                if let first = seen[shownKey] {
                    let list = Origins.dotted(field)
                    problems.append(.error(
                        "\(subject): \(list)[\(index)] repeats the key [\(shownKey)] of \(list)[\(first)]: server-side apply merges this list by that key and refuses the object (\"duplicate entries for key [\(shownKey)]\"), so \(refused).",
                        title: "Duplicate list entry",
                        fix: "Remove one of the two entries or merge them (a list merged by \(keys.joined(separator: " and ")) holds each key once).",
                        at: at(field + [.index(index)])))
                } else {
                    seen[shownKey] = index
                }
            }
        }
        for (list, keys) in podSpecLists { check(spec[list]?.array, keys: keys, field: path + [.key(list)]) }
        for containers in ["initContainers", "containers", "ephemeralContainers"] {
            for (position, container) in (spec[containers]?.array ?? []).enumerated() {
                for (list, keys) in containerLists {
                    check(container[list]?.array, keys: keys, field: path + [.key(containers), .index(position), .key(list)])
                }
            }
        }
        return problems
    }
}
