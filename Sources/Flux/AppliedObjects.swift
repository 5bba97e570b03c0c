import Actions
import Kube

/// Every object the cluster's Kustomizations apply, indexed once by kind, namespace and name,
/// with the order in which Flux lets the Kustomizations run: the checks of references (health
/// checks, impersonation, kubeconfig Secrets, substituteFrom, CRDs) share it instead of each
/// scanning every object per reference.
struct AppliedObjects {
    typealias Reference = FluxKustomization.Reference
    /// The file:line of a field of a Kustomization (its document in the repository).
    typealias Locator = (FluxKustomization, [Origins.FieldKey]) -> SourceLocation?

    struct Key: Hashable {
        var kind: String, namespace: String, name: String
    }

    /// One object and the Kustomization that applies it.
    struct Owned {
        var owner: Reference
        var object: KubeObject
        /// The API group (`""` for the core group).
        var group: String { Self.group(of: object.apiVersion) }
        static func group(of apiVersion: String) -> String {
            apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        }
    }

    let order: [Reference]
    let kustomizations: [Reference: FluxKustomization]
    private var byKey: [Key: [Owned]] = [:]
    private var byKind: [String: [Owned]] = [:]
    private var byName: [String: [Owned]] = [:]
    /// The Kustomization whose build holds each one (its objects are applied before it exists).
    private(set) var parents: [Reference: Reference] = [:]
    /// Kustomizations fluxci did not build (another source, suspended, failed): what they apply
    /// is unknown.
    let unbuilt: [Reference]

    /// `objects` holds each built Kustomization's objects, `kustomizations` every Kustomization of
    /// the tree (the root first), `components` what bootstrap applies before the root (owned by
    /// the root here: it is there before anything else runs).
    init(_ objects: [Reference: [KubeObject]], kustomizations: [FluxKustomization], components: [KubeObject] = []) {
        order = kustomizations.map(\.id)
        self.kustomizations = Dictionary(kustomizations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        unbuilt = kustomizations.filter { objects[$0.id] == nil }.map(\.id)
        func add(_ object: KubeObject, _ owner: Reference) {
            let owned = Owned(owner: owner, object: object)
            byKey[Key(kind: object.kind, namespace: object.namespace ?? "", name: object.name), default: []].append(owned)
            byKind[object.kind, default: []].append(owned)
            byName["\(object.namespace ?? "")/\(object.name)", default: []].append(owned)
        }
        if let root = order.first { for object in components { add(object, root) } }
        for id in order {
            for object in objects[id] ?? [] {
                add(object, id)
                if let child = FluxKustomization(object), child.id != id, parents[child.id] == nil { parents[child.id] = id }
            }
        }
    }

    /// The objects of `kind` named `name` in `namespace` ("" for cluster-scoped), of the API
    /// group `group` when one is given.
    func find(_ kind: String, group: String? = nil, namespace: String, name: String) -> [Owned] {
        (byKey[Key(kind: kind, namespace: namespace, name: name)] ?? []).filter { group == nil || $0.group == group }
    }

    /// Every object of any kind named `name` in `namespace`.
    func named(_ name: String, namespace: String) -> [Owned] { byName["\(namespace)/\(name)"] ?? [] }

    /// Every object of `kind`.
    func all(_ kind: String) -> [Owned] { byKind[kind] ?? [] }

    /// The Kustomizations `id` waits for before it applies anything: its `dependsOn` (kustomize-
    /// controller's `checkDependencies` requeues until each is Ready at the source's revision)
    /// and the one whose build holds it (it does not exist before that one applied it),
    /// transitively.
    func waitsFor(_ id: Reference) -> Set<Reference> {
        var seen: Set<Reference> = []
        var queue = [id]
        while let next = queue.popLast() {
            let edges = (kustomizations[next]?.dependsOn ?? []) + [parents[next]].compactMap { $0 }
            for edge in edges where seen.insert(edge).inserted { queue.append(edge) }
        }
        return seen
    }

    /// How `id` relates to what `owners` apply: `.ordered` when one of them is `id` itself or one
    /// it waits for, `.racing(first)` when only others apply it, `.missing` when none does.
    enum Availability: Equatable {
        case ordered, racing(Reference), missing
    }

    func availability(of owners: [Owned], for id: Reference, sameBuildIsOrdered: Bool = true) -> Availability {
        guard let first = owners.first else { return .missing }
        let waited = waitsFor(id)
        if owners.contains(where: { (sameBuildIsOrdered && $0.owner == id) || waited.contains($0.owner) }) { return .ordered }
        return .racing(owners.first { $0.owner != id }?.owner ?? first.owner)
    }

    /// `dependsOn: [{name: x}]`, with the namespace when it differs.
    static func dependsOnText(_ other: Reference, from id: Reference) -> String {
        "dependsOn: [{name: \(other.name)\(other.namespace == id.namespace ? "" : ", namespace: \(other.namespace)")}]"
    }
}
