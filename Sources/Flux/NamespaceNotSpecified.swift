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
/// (a CRD a Helm chart installs) is not judged. Flux's own kinds are reported by the tree walk.
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

    /// One error per object without a namespace whose kind is namespaced, at its `metadata.name`
    /// line (`fieldSite` finds it: FieldSites).
    static func problems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], kustomizations: [FluxKustomization], crds: [KubeObject],
        fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var namespaced: Set<String> = builtInNamespaced
        for crd in crds where crd.kind == "CustomResourceDefinition" {
            guard let group = crd.json["spec", "group"]?.string, let kind = crd.json["spec", "names", "kind"]?.string else { continue }
            if crd.json["spec", "scope"]?.string == "Namespaced" { namespaced.insert("\(group)|\(kind)") } else { namespaced.remove("\(group)|\(kind)") }
        }
        var problems: [Annotation] = []
        for kustomization in kustomizations {
            let id = kustomization.id
            for object in objects[id] ?? [] where object.namespace?.isEmpty ?? true {
                let group = object.apiVersion.contains("/") ? String(object.apiVersion.split(separator: "/")[0]) : ""
                guard !group.hasSuffix(".toolkit.fluxcd.io"), namespaced.contains("\(group)|\(object.kind)") else { continue }
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
