import Kube

/// Which Kustomizations have certainly been applied before a given one reconciles on a fresh
/// cluster: those it depends on (`spec.dependsOn`, which kustomize-controller waits for to be
/// Ready) and the one whose build holds it (its parent applies the child's object together with
/// everything else of its build, so those objects exist when the child first reconciles),
/// transitively.
struct ApplyOrder {
    typealias Reference = FluxKustomization.Reference

    private var parents: [Reference: Reference] = [:]
    private var byID: [Reference: FluxKustomization] = [:]

    /// `objects` holds each built Kustomization's objects, `kustomizations` the tree's (the root first).
    init(_ objects: [Reference: [KubeObject]], kustomizations: [FluxKustomization]) {
        for id in kustomizations.map(\.id) {
            for object in objects[id] ?? [] {
                if let child = FluxKustomization(object), child.id != id, parents[child.id] == nil { parents[child.id] = id }
            }
        }
        byID = Dictionary(kustomizations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The Kustomizations applied before `id` (not `id` itself, unless in a cycle).
    func before(_ id: Reference) -> Set<Reference> {
        var seen: Set<Reference> = []
        var queue = [id]
        while let next = queue.popLast() {
            let edges = (byID[next]?.dependsOn ?? []) + [parents[next]].compactMap { $0 }
            for edge in edges where seen.insert(edge).inserted { queue.append(edge) }
        }
        return seen
    }
}
