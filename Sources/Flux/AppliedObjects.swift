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
    private var byNamespace: [String: [Owned]] = [:]
    /// The Kustomization whose build holds each one (its objects are applied before it exists).
    private(set) var parents: [Reference: Reference] = [:]
    /// Kustomizations whose objects fluxci cannot know: sourced from another source than the
    /// root's (another GitRepository, an OCIRepository), so not built. One of the root's source
    /// that did not build (a missing path, a build error, suspended, apply disabled) applies
    /// nothing at this revision in the cluster either, so it is no possible creator.
    let unbuilt: [Reference]

    /// The unbuilt Kustomizations that could apply something before `id` needs it: not `id`
    /// itself (kustomize-controller reads what a Kustomization needs before it applies its
    /// build) and none that waits for `id` (that would be a deadlock, not a creator).
    /// With `namespace` (where the needed object lives, "" for a cluster-scoped one), also none
    /// that may not write there (`mayWrite`).
    func unknown(for id: Reference, in namespace: String? = nil) -> [Reference] {
        unbuilt.filter { other in
            other != id && !waitsFor(other).contains(id) && (namespace.map { mayWrite(other, in: $0) } ?? true)
        }
    }

    /// Whether the Kustomization `id` may create objects in `namespace` ("" cluster-scoped).
    /// kustomize-controller impersonates `spec.serviceAccountName` (fluxcd/pkg `runtime/client`
    /// `setImpersonationConfig`); the API server lets that account write in a namespace only
    /// through a RoleBinding there or a ClusterRoleBinding, and a cluster-scoped object only
    /// through a ClusterRoleBinding (Flux's multi-tenancy lockdown rests on this). The bound
    /// roles' rules are not read: a binding counts as enough. Without an account it applies as
    /// kustomize-controller (cluster-admin after flux install): anywhere. (The controller's
    /// --default-service-account is not taken into account here: that errs towards "may".)
    func mayWrite(_ id: Reference, in namespace: String) -> Bool {
        guard let account = kustomizations[id]?.object.json["spec", "serviceAccountName"]?.string, !account.isEmpty else { return true }
        return bindings(of: account, namespace: id.namespace).contains { binding in
            binding.object.kind == "ClusterRoleBinding" || (!namespace.isEmpty && binding.object.namespace == namespace)
        }
    }

    /// The RoleBindings and ClusterRoleBindings whose subjects name the ServiceAccount
    /// `namespace`/`account` (or its user name, `system:serviceaccount:<namespace>:<account>`).
    func bindings(of account: String, namespace: String) -> [Owned] {
        let user = "system:serviceaccount:\(namespace):\(account)"
        return (all("RoleBinding") + all("ClusterRoleBinding")).filter { owned in
            owned.group == "rbac.authorization.k8s.io"
                && (owned.object.json["subjects"]?.array ?? []).contains { subject in
                    switch subject["kind"]?.string {
                    case "ServiceAccount":
                        subject["name"]?.string == account
                            && (subject["namespace"]?.string ?? (owned.object.kind == "RoleBinding" ? owned.object.namespace : nil)) == namespace
                    case "User": subject["name"]?.string == user
                    default: false
                    }
                }
        }
    }

    /// `objects` holds each built Kustomization's objects, `kustomizations` every Kustomization of
    /// the tree (the root first), `components` what bootstrap applies before the root (owned by
    /// the root here: it is there before anything else runs).
    init(_ objects: [Reference: [KubeObject]], kustomizations: [FluxKustomization], components: [KubeObject] = []) {
        order = kustomizations.map(\.id)
        self.kustomizations = Dictionary(kustomizations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let rootSource = kustomizations.first?.source
        unbuilt = kustomizations.filter { objects[$0.id] == nil && $0.source != rootSource }.map(\.id)
        func add(_ object: KubeObject, _ owner: Reference) {
            let owned = Owned(owner: owner, object: object)
            byKey[Key(kind: object.kind, namespace: object.namespace ?? "", name: object.name), default: []].append(owned)
            byKind[object.kind, default: []].append(owned)
            byName["\(object.namespace ?? "")/\(object.name)", default: []].append(owned)
            byNamespace[object.namespace ?? "", default: []].append(owned)
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

    /// Whether another object named `name` in `namespace` may make the `kind` object of that name
    /// (or write its keys) outside the tree's manifests: a custom resource (an ExternalSecret, a
    /// SealedSecret, …) or a HelmRelease (its chart), but not `needer` itself (a release's chart
    /// installs only once its values resolve), a built-in kind or another Flux kind.
    func mayBeMade(_ kind: String, namespace: String, name: String, except needer: KubeObject? = nil) -> Bool {
        // A custom resource that names the object it makes in its spec (tester t21 F1): an
        // ExternalSecret's `spec.target.name`, a SealedSecret's `spec.template.metadata.name`, a
        // cert-manager Certificate's `spec.secretName`.
        let namesIt = (byNamespace[namespace] ?? []).contains { other in
            !CustomResourceChecks.builtInGroups.contains(other.group) && !other.group.hasSuffix(".toolkit.fluxcd.io")
                && [other.object.json["spec", "target", "name"], other.object.json["spec", "template", "metadata", "name"], other.object.json["spec", "secretName"]]
                    .contains { $0?.string == name }
        }
        if namesIt { return true }
        return named(name, namespace: namespace).contains { other in
            let isNeeder = needer.map { other.object.kind == $0.kind && other.object.name == $0.name && other.group == Owned.group(of: $0.apiVersion) } ?? false
            guard other.object.kind != kind, !isNeeder else { return false }
            if other.group == "helm.toolkit.fluxcd.io" { return other.object.kind == "HelmRelease" }
            return !CustomResourceChecks.builtInGroups.contains(other.group) && !other.group.hasSuffix(".toolkit.fluxcd.io")
        }
    }

    /// Every object of `kind`.
    func all(_ kind: String) -> [Owned] { byKind[kind] ?? [] }

    /// Every object the Kustomization `id` applies, in file and line order.
    func owned(by id: Reference) -> [Owned] {
        byKind.values.joined().filter { $0.owner == id }.sorted { a, b in
            (a.object.file ?? "", a.object.line ?? 0) < (b.object.file ?? "", b.object.line ?? 0)
        }
    }

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

    /// How `id` relates to what `owners` apply:
    /// - `.ordered`: one of them is `id` itself (when `sameBuildIsOrdered`) or one it waits for;
    /// - `.racing(other)`: `other` applies it and neither waits for the other, so on a fresh
    ///   cluster either can run first (a retry fixes it; `dependsOn` on `other` orders it, and
    ///   never closes a cycle, since `other` does not wait for `id`);
    /// - `.deadlocked(other)`: every other owner waits for `id` (its `dependsOn`, transitively, or
    ///   the Kustomization that applies it does). kustomize-controller reconciles a Kustomization
    ///   only once each `dependsOn` is Ready (`checkDependencies`), and one is applied only once
    ///   its parent applied, so `other` runs only after `id` is Ready, which it never is without
    ///   the object: the cluster never converges, and a `dependsOn` on `other` would be a cycle;
    /// - `.itself`: only `id`'s own build applies it (with `sameBuildIsOrdered: false`, for what
    ///   kustomize-controller reads before it applies: decryption, substitution, kubeconfig);
    /// - `.missing`: none does.
    enum Availability: Equatable {
        case ordered, racing(Reference), deadlocked(Reference), itself, missing
    }

    func availability(of owners: [Owned], for id: Reference, sameBuildIsOrdered: Bool = true) -> Availability {
        availability(of: owners.map(\.owner), for: id, sameBuildIsOrdered: sameBuildIsOrdered)
    }

    /// The same for the Kustomizations that apply the object.
    func availability(of owners: [Reference], for id: Reference, sameBuildIsOrdered: Bool = true) -> Availability {
        guard !owners.isEmpty else { return .missing }
        let waited = waitsFor(id)
        if owners.contains(where: { (sameBuildIsOrdered && $0 == id) || waited.contains($0) }) { return .ordered }
        let others = owners.filter { $0 != id }
        if let free = others.first(where: { !waitsFor($0).contains(id) }) { return .racing(free) }
        if let waiting = others.first { return .deadlocked(waiting) }
        return .itself
    }

    /// How `waiter` comes to wait for `id`, as a chain for a message: `apps → infra-configs →
    /// infra-controllers` (each arrow a `dependsOn` or "is applied by"); nil when it does not.
    func waitChain(from waiter: Reference, to id: Reference) -> String? {
        var previous: [Reference: Reference] = [:]
        var queue = [waiter]
        var seen: Set<Reference> = [waiter]
        while !queue.isEmpty {
            let next = queue.removeFirst()
            if next == id {
                var chain = [id]
                while let step = previous[chain[0]] { chain.insert(step, at: 0) }
                return chain.map(\.description).joined(separator: " → ")
            }
            for edge in (kustomizations[next]?.dependsOn ?? []) + [parents[next]].compactMap({ $0 }) where seen.insert(edge).inserted {
                previous[edge] = next
                queue.append(edge)
            }
        }
        return nil
    }

    /// Why `.deadlocked(other)` never converges, for a message: "…, and \(other) waits for
    /// \(id) (the chain): …".
    func deadlock(_ other: Reference, needs id: Reference) -> String {
        let chain = waitChain(from: other, to: id).map { " (\($0); each arrow a dependsOn, or the Kustomization that applies it)" } ?? ""
        return "and \(other) waits for \(id)\(chain): kustomize-controller reconciles a Kustomization only once every dependsOn is Ready, and one exists only once its parent applied it, so \(other) never runs before \(id) is Ready, which \(id) never is without it. Neither becomes Ready; retries do not help"
    }

    /// `dependsOn: [{name: x}]`, with the namespace when it differs.
    static func dependsOnText(_ other: Reference, from id: Reference) -> String {
        "dependsOn: [{name: \(other.name)\(other.namespace == id.namespace ? "" : ", namespace: \(other.namespace)")}]"
    }
}
