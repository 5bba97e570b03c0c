import Kube

/// Whether the account kustomize-controller impersonates may apply an object, from the RBAC
/// objects the tree applies (tester t12 F4, t20 F4). Server-side apply is a PATCH
/// (`kubectl auth can-i patch <resource>`): a binding allows it when its role has a rule whose
/// `apiGroups`, `resources` and `verbs` (`patch` or `*`) match and whose `resourceNames`, if
/// any, name the object. A RoleBinding reaches its own namespace only, a ClusterRoleBinding
/// every namespace and the cluster scope (k8s.io/kubernetes `rbac` authorizer).
///
/// The roles: a Role or ClusterRole of the tree (with the rules its `aggregationRule` gathers
/// from ClusterRoles of the tree whose labels match), or a built-in ClusterRole:
/// `cluster-admin` (everything), `view` (no writes), `edit` and `admin` (the writes
/// k8s.io/kubernetes `bootstrappolicy` gives them in the built-in groups, plus what ClusterRoles
/// of the tree aggregate into them, such as Flux's `flux-edit`). A role that is none of these,
/// or a custom kind whose resource name is not known, is unknown: never a verdict.
struct ImpersonatedPermissions {
    enum Verdict: Equatable { case allowed, forbidden, unknown }

    let index: AppliedObjects
    /// `group|Kind` → plural resource name, from the tree's CRDs.
    let plurals: [String: String]

    init(_ index: AppliedObjects) {
        self.index = index
        var plurals: [String: String] = [:]
        for crd in index.all("CustomResourceDefinition") {
            if let group = crd.object.json["spec", "group"]?.string, let kind = crd.object.json["spec", "names", "kind"]?.string,
                let plural = crd.object.json["spec", "names", "plural"]?.string
            {
                plurals["\(group)|\(kind)"] = plural
            }
        }
        self.plurals = plurals
    }

    /// The resource of a built-in kind (`|ConfigMap` → configmaps).
    static let builtInPlurals: [String: String] = [
        "|ConfigMap": "configmaps", "|Secret": "secrets", "|Service": "services", "|ServiceAccount": "serviceaccounts", "|Pod": "pods",
        "|PersistentVolumeClaim": "persistentvolumeclaims", "|Endpoints": "endpoints", "|LimitRange": "limitranges", "|ResourceQuota": "resourcequotas",
        "|ReplicationController": "replicationcontrollers", "|PodTemplate": "podtemplates", "|Event": "events", "|Namespace": "namespaces",
        "|PersistentVolume": "persistentvolumes", "|Node": "nodes",
        "apps|Deployment": "deployments", "apps|StatefulSet": "statefulsets", "apps|DaemonSet": "daemonsets", "apps|ReplicaSet": "replicasets",
        "batch|Job": "jobs", "batch|CronJob": "cronjobs", "autoscaling|HorizontalPodAutoscaler": "horizontalpodautoscalers",
        "policy|PodDisruptionBudget": "poddisruptionbudgets", "networking.k8s.io|Ingress": "ingresses", "networking.k8s.io|NetworkPolicy": "networkpolicies",
        "networking.k8s.io|IngressClass": "ingressclasses", "rbac.authorization.k8s.io|Role": "roles", "rbac.authorization.k8s.io|RoleBinding": "rolebindings",
        "rbac.authorization.k8s.io|ClusterRole": "clusterroles", "rbac.authorization.k8s.io|ClusterRoleBinding": "clusterrolebindings",
        "coordination.k8s.io|Lease": "leases", "discovery.k8s.io|EndpointSlice": "endpointslices", "storage.k8s.io|StorageClass": "storageclasses",
        "scheduling.k8s.io|PriorityClass": "priorityclasses", "apiextensions.k8s.io|CustomResourceDefinition": "customresourcedefinitions",
    ]

    /// The writes `edit` has in the built-in groups (k8s.io/kubernetes bootstrappolicy
    /// `testdata/cluster-roles.yaml`, "edit": events since 1.22, leases since 1.24); `admin`
    /// has these, roles/rolebindings and localsubjectaccessreviews.
    static let editWrites: [String: Set<String>] = [
        "": ["pods", "replicationcontrollers", "persistentvolumeclaims", "configmaps", "endpoints", "secrets", "services", "serviceaccounts", "events"],
        "apps": ["statefulsets", "daemonsets", "deployments", "replicasets"],
        "autoscaling": ["horizontalpodautoscalers"], "batch": ["jobs", "cronjobs"], "policy": ["poddisruptionbudgets"],
        "networking.k8s.io": ["ingresses", "networkpolicies"], "coordination.k8s.io": ["leases"],
    ]
    /// The writes of the built-in `edit` or `admin` (`editWrites`, and for admin RBAC and
    /// localsubjectaccessreviews).
    static func builtInWrites(_ role: String) -> [String: Set<String>] {
        guard role == "admin" else { return editWrites }
        return editWrites.merging(["rbac.authorization.k8s.io": ["roles", "rolebindings"], "authorization.k8s.io": ["localsubjectaccessreviews"]]) { $0.union($1) }
    }

    /// What neither `edit` nor `admin` writes in a namespace (they only read these); and
    /// `edit` does not write RBAC. Any other resource outside `editWrites` is not known here
    /// (tester t23 F1: a table of the built-in roles that is not complete must not refuse).
    static let editNeverWrites: [String: Set<String>] = ["": ["resourcequotas", "limitranges", "namespaces"]]

    /// The object's resource (`deployments`), nil when not known.
    func resource(of object: KubeObject) -> String? {
        let key = "\(AppliedObjects.Owned.group(of: object.apiVersion))|\(object.kind)"
        return Self.builtInPlurals[key] ?? plurals[key]
    }

    /// The verdict for `object` given the account's bindings.
    func verdict(_ object: KubeObject, bindings: [AppliedObjects.Owned]) -> Verdict {
        guard let resource = resource(of: object) else {
            return bindings.contains { $0.object.kind == "ClusterRoleBinding" || (object.namespace != nil && $0.object.namespace == object.namespace) } ? .unknown : .forbidden
        }
        return verdict(group: AppliedObjects.Owned.group(of: object.apiVersion), resource: resource, name: object.name, namespace: object.namespace, bindings: bindings)
    }

    /// The verdict for patching `resource` of `group` (`*`: every one) in `namespace` (nil: at
    /// the cluster scope).
    func verdict(group: String, resource: String, name: String, namespace: String?, verb: String = "patch", bindings: [AppliedObjects.Owned]) -> Verdict {
        let reaching = bindings.filter { $0.object.kind == "ClusterRoleBinding" || (namespace != nil && $0.object.namespace == namespace) }
        guard !reaching.isEmpty else { return .forbidden }
        var verdicts: [Verdict] = []
        for binding in reaching {
            let verdict = allows(binding, group: group, resource: resource, name: name, verb: verb)
            if verdict == .allowed { return .allowed }
            verdicts.append(verdict)
        }
        return verdicts.contains(.unknown) ? .unknown : .forbidden
    }

    /// RBAC's escalation check (k8s.io/kubernetes `rbac/validation` `ConfirmNoEscalation`;
    /// tester t21 F2): an account may create a Role, or a binding to a role, only when it holds
    /// every permission the role gives (or has `escalate`/`bind`, which the roles here are not
    /// asked for). Judged on the writes the role gives (a read is not judged): the first
    /// `group/resource` the account may not patch, nil when it may patch them all or a role
    /// is not known.
    func escalation(_ object: KubeObject, bindings: [AppliedObjects.Owned]) -> String? {
        let rbac = "rbac.authorization.k8s.io"
        guard AppliedObjects.Owned.group(of: object.apiVersion) == rbac else { return nil }
        let writes: [(group: String, resource: String, verb: String)]
        // An account with `escalate` on roles (for a Role) or `bind` (for a binding) passes the
        // check whatever the role gives (rbac/validation `EscalationAllowed`, `BindingAuthorized`).
        let exempt = object.kind.hasSuffix("Binding") ? "bind" : "escalate"
        let roles = object.kind.hasPrefix("Cluster") ? "clusterroles" : "roles"
        if verdict(group: rbac, resource: roles, name: "", namespace: object.namespace, verb: exempt, bindings: bindings) != .forbidden { return nil }
        switch object.kind {
        case "Role", "ClusterRole":
            writes = Self.writes(object.json["rules"]?.array ?? [])
        case "RoleBinding", "ClusterRoleBinding":
            guard let kind = object.json["roleRef", "kind"]?.string, let name = object.json["roleRef", "name"]?.string else { return nil }
            if kind == "Role", let namespace = object.namespace, let role = index.find("Role", group: rbac, namespace: namespace, name: name).first {
                writes = Self.writes(role.object.json["rules"]?.array ?? [])
            } else if kind == "ClusterRole", let role = index.find("ClusterRole", group: rbac, namespace: "", name: name).first {
                writes = Self.writes(role.object.json["rules"]?.array ?? [])
            } else if kind == "ClusterRole", name == "cluster-admin" {
                writes = [("*", "*", "*")]
            } else if kind == "ClusterRole", name == "edit" || name == "admin" {
                writes = Self.builtInWrites(name).sorted { $0.key < $1.key }.flatMap { group, resources in resources.sorted().map { (group, $0, "patch") } }
            } else {
                return nil
            }
        default:
            return nil
        }
        // A ClusterRole is created at the cluster scope; a binding grants in its own namespace.
        let namespace = object.kind == "ClusterRole" || object.kind == "ClusterRoleBinding" ? nil : object.namespace
        for write in writes where verdict(group: write.group, resource: write.resource, name: "", namespace: namespace, verb: write.verb, bindings: bindings) == .forbidden {
            let resource = write.group.isEmpty ? write.resource : "\(write.resource).\(write.group)"
            return write.verb == "*" ? "\(resource) (every verb, `*`)" : resource
        }
        return nil
    }

    /// The (group, resource) pairs `rules` give a write verb on (resources with a subresource
    /// are left out).
    static func writes(_ rules: [JSONValue]) -> [(group: String, resource: String, verb: String)] {
        let writeVerbs: Set<String> = ["*", "create", "update", "patch", "delete", "deletecollection"]
        var found: [(String, String, String)] = []
        for rule in rules {
            let verbs = (rule["verbs"]?.array ?? []).compactMap(\.string)
            guard verbs.contains(where: writeVerbs.contains) else { continue }
            // A `*` verb asks for every verb, which only a `*` rule holds.
            let verb = verbs.contains("*") ? "*" : "patch"
            for group in (rule["apiGroups"]?.array ?? []).compactMap(\.string) {
                for resource in (rule["resources"]?.array ?? []).compactMap(\.string) where !resource.contains("/") { found.append((group, resource, verb)) }
            }
        }
        return found
    }

    private func allows(_ binding: AppliedObjects.Owned, group: String, resource: String, name: String, verb: String) -> Verdict {
        guard let kind = binding.object.json["roleRef", "kind"]?.string, let roleName = binding.object.json["roleRef", "name"]?.string else { return .unknown }
        let rbac = "rbac.authorization.k8s.io"
        if kind == "Role" {
            guard let namespace = binding.object.namespace, let role = index.find("Role", group: rbac, namespace: namespace, name: roleName).first else { return .unknown }
            return Self.rulesAllow(role.object.json["rules"]?.array ?? [], group: group, resource: resource, name: name, verb: verb) ? .allowed : .forbidden
        }
        guard kind == "ClusterRole" else { return .unknown }
        if let role = index.find("ClusterRole", group: rbac, namespace: "", name: roleName).first {
            var rules = role.object.json["rules"]?.array ?? []
            for selector in role.object.json["aggregationRule", "clusterRoleSelectors"]?.array ?? [] {
                rules += aggregated(selector["matchLabels"]?.object ?? [])
            }
            return Self.rulesAllow(rules, group: group, resource: resource, name: name, verb: verb) ? .allowed : .forbidden
        }
        switch roleName {
        case "cluster-admin": return .allowed
        case "view": return .forbidden
        case "edit", "admin":
            // Neither holds every group, resource or verb: bootstrappolicy lists them.
            if group == "*" || resource == "*" || verb == "*" { return .forbidden }
            // Their verbs are the usual ones: never `bind` or `escalate`.
            if !["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"].contains(verb) { return .forbidden }
            if Self.builtInWrites(roleName)[group]?.contains(resource) == true { return .allowed }
            if Self.editNeverWrites[group]?.contains(resource) == true || (roleName == "edit" && group == rbac) { return .forbidden }
            let aggregatedRules = aggregated([("rbac.authorization.k8s.io/aggregate-to-\(roleName)", .string("true"))])
                + (roleName == "admin" ? aggregated([("rbac.authorization.k8s.io/aggregate-to-edit", .string("true"))]) : [])
            if Self.rulesAllow(aggregatedRules, group: group, resource: resource, name: name, verb: verb) { return .allowed }
            // Any other resource: not known (a custom kind a chart's ClusterRole may aggregate
            // into it, as cert-manager's does; a built-in one the table above does not list).
            return .unknown
        default:
            return .unknown
        }
    }

    /// The rules of the tree's ClusterRoles whose labels hold every pair of `labels`.
    private func aggregated(_ labels: [(key: String, value: JSONValue)]) -> [JSONValue] {
        guard !labels.isEmpty else { return [] }
        return index.all("ClusterRole").filter { role in
            labels.allSatisfy { pair in role.object.json["metadata", "labels", pair.key] == pair.value }
        }.flatMap { $0.object.json["rules"]?.array ?? [] }
    }

    /// Whether a rule gives `verb` (`*`: every verb, held only through a `*` rule, as
    /// rbac/validation `ruleCovers`: `has(ownerRule.Verbs, "*") || hasAll(…)`) on the resource.
    static func rulesAllow(_ rules: [JSONValue], group: String, resource: String, name: String, verb: String = "patch") -> Bool {
        rules.contains { rule in
            // A wanted `*` (every group or resource) is held only through a `*` rule.
            func has(_ field: String, _ value: String) -> Bool {
                (rule[field]?.array ?? []).contains { $0.string == value || $0.string == "*" }
            }
            let names = (rule["resourceNames"]?.array ?? []).compactMap(\.string)
            return has("apiGroups", group) && has("resources", resource) && has("verbs", verb) && (names.isEmpty || names.contains(name))
        }
    }
}
