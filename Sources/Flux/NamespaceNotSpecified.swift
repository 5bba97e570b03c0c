import Actions
import Kube

/// A namespaced object the build leaves without a namespace. kustomize-controller does not
/// default it (`kubectl apply -k` would use `default`; Flux applies through controller-runtime's
/// client, which needs the namespace of a namespaced kind), so the server-side dry-run of the
/// whole Kustomization fails with `ConfigMap/x namespace not specified` (fluxcd/flux2#4301,
/// fluxcd/pkg ssa `ApplyAllStaged`), and nothing of it is applied.
///
/// Whether a kind is namespaced is what the API server's discovery says: offline, the CRDs of
/// the tree (their `spec.scope`) and the built-in namespaced kinds below. A kind neither names
/// (a CRD a Helm chart installs) is a warning (its scope unknown), unless its name starts with
/// `Cluster`. Flux's own kinds are reported by the tree walk.
enum NamespaceNotSpecified {
    /// Built-in namespaced kinds, as `group|kind` (the core group is empty).
    static let builtInNamespaced: Set<String> = [
        "|ConfigMap", "|Secret", "|Service", "|ServiceAccount", "|Pod", "|PersistentVolumeClaim", "|Endpoints", "|LimitRange",
        "|ResourceQuota", "|ReplicationController", "|PodTemplate", "|Event",
        "apps|Deployment", "apps|StatefulSet", "apps|DaemonSet", "apps|ReplicaSet", "apps|ControllerRevision",
        "batch|Job", "batch|CronJob", "networking.k8s.io|Ingress", "networking.k8s.io|NetworkPolicy", "policy|PodDisruptionBudget",
        "rbac.authorization.k8s.io|Role", "rbac.authorization.k8s.io|RoleBinding", "autoscaling|HorizontalPodAutoscaler",
        "coordination.k8s.io|Lease", "discovery.k8s.io|EndpointSlice", "events.k8s.io|Event",
    ]

    /// Custom kinds that charts install, cluster-scoped in their CRDs, whose names do not start
    /// with `Cluster`: not warned about.
    static let knownClusterScoped: Set<String> = [
        "gateway.networking.k8s.io|GatewayClass", "snapshot.storage.k8s.io|VolumeSnapshotClass", "snapshot.storage.k8s.io|VolumeSnapshotContent",
        "karpenter.sh|NodePool", "karpenter.sh|NodeClaim", "karpenter.k8s.aws|EC2NodeClass",
        "pkg.crossplane.io|Provider", "pkg.crossplane.io|Configuration", "pkg.crossplane.io|Function",
        "apiextensions.crossplane.io|Composition", "apiextensions.crossplane.io|CompositeResourceDefinition",
        "crd.projectcalico.org|GlobalNetworkPolicy", "crd.projectcalico.org|IPPool", "cilium.io|CiliumLoadBalancerIPPool",
        "cilium.io|CiliumClusterwideNetworkPolicy",
    ]

    /// One error per object without a namespace whose kind is namespaced, at its `metadata.name`
    /// line (`fieldSite` finds it: FieldSites).
    static func problems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], kustomizations: [FluxKustomization], crds: [KubeObject],
        fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var namespaced: Set<String> = builtInNamespaced
        var defined: Set<String> = []
        for crd in crds where crd.kind == "CustomResourceDefinition" {
            guard let group = crd.json["spec", "group"]?.string, let kind = crd.json["spec", "names", "kind"]?.string else { continue }
            defined.insert("\(group)|\(kind)")
            if crd.json["spec", "scope"]?.string == "Namespaced" { namespaced.insert("\(group)|\(kind)") } else { namespaced.remove("\(group)|\(kind)") }
        }
        var problems: [Annotation] = []
        for kustomization in kustomizations {
            let id = kustomization.id
            var unknownScope: Set<String> = []
            for object in objects[id] ?? [] where object.namespace?.isEmpty ?? true {
                let group = object.apiVersion.contains("/") ? String(object.apiVersion.split(separator: "/")[0]) : ""
                let key = "\(group)|\(object.kind)"
                // A custom kind no CRD of the tree defines (a chart installs it): its scope is not
                // known offline (tester t12 F17). Said once per kind, unless its name says it is
                // cluster-scoped (`ClusterIssuer`, `ClusterSecretStore`: the convention of such kinds).
                if !group.hasSuffix(".toolkit.fluxcd.io"), !CustomResourceChecks.builtInGroups.contains(group), !defined.contains(key),
                    !object.kind.hasPrefix("Cluster"), !Self.knownClusterScoped.contains(key), unknownScope.insert(key).inserted
                {
                    problems.append(.warning(
                        "\(object.kind) \(object.name) (\(object.apiVersion)) has no metadata.namespace, and nothing in the build of \(id) sets one; no CRD of this cluster's tree defines \(object.kind) (a chart installs it?), so whether it is namespaced is not known here. If it is, the dry-run fails with \"\(object.kind)/\(object.name) namespace not specified\" and \(id) applies nothing.",
                        title: "Namespace maybe needed",
                        fix: "Add metadata.namespace if \(object.kind) is namespaced (`kubectl api-resources | grep \(object.kind)` on a cluster with its CRD), or set namespace: in the kustomization.yaml.",
                        at: fieldSite(object, ["metadata", "name"])))
                }
                guard !group.hasSuffix(".toolkit.fluxcd.io"), namespaced.contains(key) else { continue }
                problems.append(.error(
                    "\(object.kind) \(object.name) has no metadata.namespace, and nothing in the build of \(id) sets one: kustomize-controller does not default it, so the dry-run fails with \"\(object.kind)/\(object.name) namespace not specified\" and \(id) applies nothing (it never becomes Ready).",
                    title: "Namespace not specified",
                    fix: "Add metadata.namespace, or set namespace: in the kustomization.yaml, or spec.targetNamespace on \(id).",
                    at: fieldSite(object, ["metadata", "name"])))
            }
        }
        return problems
    }
}
