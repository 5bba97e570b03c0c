import Actions
import Kube

/// What a Flux Kustomization names besides its source and dependencies, checked against what
/// the cluster's Kustomizations apply, as kustomize-controller resolves it
/// (fluxcd/kustomize-controller `internal/controller/kustomization_controller.go`):
/// `spec.healthChecks`, `spec.serviceAccountName`, `spec.kubeConfig.secretRef` and the order of
/// `spec.postBuild.substituteFrom` (a source that does not exist at all is reported by the walk).
enum KustomizationReferences {
    /// `defaultServiceAccount` is kustomize-controller's `--default-service-account` (read from
    /// the flux-system components), nil when it is not set.
    static func problems(_ index: AppliedObjects, defaultServiceAccount: String? = nil, at locate: AppliedObjects.Locator) -> [Annotation] {
        var problems: [Annotation] = []
        for id in index.order {
            // Only what kustomize-controller reconciles: a Kustomization fluxci did not build
            // (suspended, apply disabled, another source) is reported where it is listed.
            guard let kustomization = index.kustomizations[id], !kustomization.suspended, !kustomization.applyDisabled else { continue }
            problems += healthCheckProblems(kustomization, index, locate)
            problems += impersonationProblems(kustomization, index, locate, defaultServiceAccount: defaultServiceAccount)
            problems += kubeConfigProblems(kustomization, index, locate)
            problems += substituteFromRaces(kustomization, index, locate)
        }
        return problems
    }

    /// The unbuilt Kustomizations, as a clause for a message ("" when every one was built):
    /// what they apply is unknown, so a reference nothing built satisfies may still be satisfied
    /// by them (a tenant's own GitRepository, an OCIRepository artifact). Each is named with its
    /// source when that is not the root's (tester t9 F6).
    static func unlessUnbuilt(_ index: AppliedObjects, for needer: AppliedObjects.Reference? = nil, in namespace: String? = nil, defines: Bool = false) -> String {
        let unbuilt = needer.map { index.unknown(for: $0, in: namespace) } ?? index.unbuilt.filter { id in namespace.map { index.mayWrite(id, in: $0) } ?? true }
        guard !unbuilt.isEmpty else { return "" }
        let rootSource = index.order.first.flatMap { index.kustomizations[$0]?.source }
        let listed = unbuilt.map { id in
            guard let source = index.kustomizations[id]?.source, source != rootSource else { return id.description }
            return "\(id), sourced from \(source)"
        }.joined(separator: "; ")
        return ", unless a Kustomization fluxci did not build (\(listed)) \(defines ? "defines" : "creates") it"
    }

    /// A reference nothing built satisfies, as an annotation: an error, or a warning when
    /// Kustomizations fluxci did not build may write in `namespace` (the message then holds
    /// `unlessUnbuilt(index, in: namespace)`).
    static func unresolved(_ index: AppliedObjects, _ message: String, in namespace: String, title: String, fix: String, at location: SourceLocation?) -> Annotation {
        Annotation(unlessUnbuilt(index, in: namespace).isEmpty ? .error : .warning, message, title: title, fix: fix, at: location)
    }

    // MARK: Health checks

    /// kustomize-controller's `checkHealth`: without `spec.wait`, the objects of
    /// `spec.healthChecks` (group from `apiVersion`, the namespace as written: none is a
    /// cluster-scoped object) are polled until they are ready or `spec.timeout` passes; an object
    /// that does not exist stays `NotFound`, and the Kustomization fails "health check failed
    /// after …: timeout waiting for: [Kind/ns/name status: 'NotFound']" and is never Ready. An
    /// object only a Kustomization that waits for this one applies is never applied in time (a
    /// deadlock). With `spec.wait: true` the health checks are ignored (the applied objects are
    /// checked instead).
    static func healthCheckProblems(_ kustomization: FluxKustomization, _ index: AppliedObjects, _ locate: AppliedObjects.Locator) -> [Annotation] {
        let spec = kustomization.object.json["spec"]
        guard spec?["wait"]?.bool != true, let checks = spec?["healthChecks"]?.array else { return [] }
        let id = kustomization.id
        // A Kustomization fluxci did not build (another repository's, the app repository of a
        // fleet) health-checks what its own build applies, which is not known here (tester t20 F1).
        guard !index.unbuilt.contains(id) else { return [] }
        var problems: [Annotation] = []
        for (position, check) in checks.enumerated() {
            guard let kind = check["kind"]?.string, let name = check["name"]?.string else { continue }
            let namespace = check["namespace"]?.string ?? ""
            let group = AppliedObjects.Owned.group(of: check["apiVersion"]?.string ?? "")
            if kind == "Kustomization", group == FluxKustomization.group, name == id.name, namespace == id.namespace { continue }  // skipped by Flux
            let shown = "\(kind)/\(namespace.isEmpty ? "" : namespace + "/")\(name)"
            let timeout = spec?["timeout"]?.string ?? spec?["interval"]?.string ?? "its interval"
            let owners = index.find(kind, group: group, namespace: namespace, name: name)
            let at = locate(kustomization, ["spec", "healthChecks", .index(position), "name"])
            if owners.isEmpty {
                let others = index.all(kind).filter { $0.group == group }.map { "\($0.object.namespace.map { $0 + "/" } ?? "")\($0.object.name)" }
                let hint = ClusterTreeReader.nearest(namespace.isEmpty ? name : "\(namespace)/\(name)", in: others).map { " Did you mean \($0)?" } ?? ""
                let message = "The Kustomization \(id) health-checks \(shown)\(check["apiVersion"]?.string.map { " (\($0))" } ?? ""), which no Kustomization of this cluster applies\(unlessUnbuilt(index, for: id, in: namespace)): kustomize-controller waits \(timeout) for it and fails \(id) (\"health check failed … \(shown) status: 'NotFound'\"), so \(id) and whatever depends on it never become Ready.\(hint)"
                let fix = "Correct the health check (kind, apiVersion, namespace, name: a renamed object?), or remove it."
                problems.append(index.unknown(for: id, in: namespace).isEmpty
                    ? .error(message, title: "Health check of nothing", fix: fix, at: at)
                    : .warning(message, title: "Health check of nothing", fix: fix, at: at))
                continue
            }
            // Applied only by Kustomizations that wait for this one: they start after it is Ready,
            // and it is Ready only once they applied it.
            let waiting = owners.filter { $0.owner != id && index.waitsFor($0.owner).contains(id) }
            if waiting.count == owners.count, let first = waiting.first {
                problems.append(.error(
                    "The Kustomization \(id) health-checks \(shown), which only \(first.owner) applies, and \(first.owner) waits for \(id) (dependsOn, or \(id) applies it): neither gets Ready, kustomize-controller fails \(id) after \(timeout) (\"health check failed\").",
                    title: "Health check deadlock",
                    fix: "Move the health check to \(first.owner), or remove the dependency of \(first.owner) on \(id).", at: at))
            }
        }
        return problems
    }

    // MARK: Impersonation

    /// With `spec.serviceAccountName`, kustomize-controller builds its client impersonating the
    /// user `system:serviceaccount:<the Kustomization's namespace>:<name>` (fluxcd/pkg
    /// `runtime/client` Impersonator `setImpersonationConfig`): only the username, so only what
    /// RBAC binds to that ServiceAccount (a RoleBinding or ClusterRoleBinding subject of kind
    /// ServiceAccount, or the User of that name) is allowed. With no such binding in the tree,
    /// every dry-run is forbidden; a binding only another Kustomization (not waited for)
    /// applies is a race on a fresh cluster.
    ///
    /// With `--default-service-account` (flux2-multi-tenancy's lockdown), a Kustomization without
    /// `spec.serviceAccountName` impersonates that account of its own namespace: fluxcd/pkg
    /// `runtime/client` `setImpersonationConfig` takes the default when no name is given, with
    /// no exception for flux-system (its Kustomizations need `serviceAccountName:
    /// kustomize-controller`, which flux install binds to cluster-admin).
    static func impersonationProblems(_ kustomization: FluxKustomization, _ index: AppliedObjects, _ locate: AppliedObjects.Locator, defaultServiceAccount: String? = nil) -> [Annotation] {
        let named = kustomization.object.json["spec", "serviceAccountName"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        guard let account = named ?? defaultServiceAccount.flatMap({ $0.isEmpty ? nil : $0 }) else { return [] }
        let byDefault = named == nil ? ", kustomize-controller's --default-service-account=\(account) as spec.serviceAccountName is not set," : ""
        let id = kustomization.id
        let user = "system:serviceaccount:\(id.namespace):\(account)"
        let bindings = index.bindings(of: account, namespace: id.namespace)
        let at = locate(kustomization, ["spec", "serviceAccountName"])
        switch index.availability(of: bindings, for: id) {
        case .ordered: return scopeProblems(kustomization, account: account, byDefault: byDefault, bindings: bindings, index)
        case .racing(let other):
            return [.warning(
                "The Kustomization \(id) applies as the ServiceAccount \(id.namespace)/\(account)\(byDefault) (kustomize-controller impersonates \(user)), whose RoleBinding the Kustomization \(other) applies, and \(id) does not depend on it: on a fresh cluster \(id) can run first, and its dry-run is forbidden until its retry.",
                title: "Impersonated account bound by another Kustomization",
                fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id).", at: at)]
        case .deadlocked(let other):
            return [.error(
                "The Kustomization \(id) applies as the ServiceAccount \(id.namespace)/\(account)\(byDefault) (kustomize-controller impersonates \(user)), whose RoleBinding only the Kustomization \(other) applies, \(index.deadlock(other, needs: id)): every dry-run of \(id) is forbidden.",
                title: "Impersonated account bound by a dependent",
                fix: "Move the RoleBinding into the build of \(id)'s parent or of a Kustomization \(id) depends on (a dependsOn on \(other) would be a cycle).", at: at)]
        case .itself:
            return []  // sameBuildIsOrdered: its own build is ordered
        case .missing:
            let message = "The Kustomization \(id) applies as the ServiceAccount \(id.namespace)/\(account)\(byDefault) (kustomize-controller impersonates \(user)), but no RoleBinding or ClusterRoleBinding of this cluster grants that ServiceAccount anything\(unlessUnbuilt(index, for: id, in: id.namespace)): every server-side dry-run of \(id) is forbidden, and it never becomes Ready."
            let fix = named == nil
                ? "Set spec.serviceAccountName on \(id) to an account bound to what it applies (for the Kustomizations of \(id.namespace == "flux-system" ? "flux-system: kustomize-controller, which flux install binds to cluster-admin; a patch in flux-system/kustomization.yaml sets it on all of them" : "a tenant: the tenant's reconciler account")), or bind a Role to \(id.namespace)/\(account)."
                : "Bind a Role or ClusterRole to the ServiceAccount \(account) in \(id.namespace) (subjects: [{kind: ServiceAccount, name: \(account), namespace: \(id.namespace)}]) in a Kustomization \(id) depends on, or correct spec.serviceAccountName."
            return [index.unknown(for: id, in: id.namespace).isEmpty
                ? .error(message, title: "Impersonated account has no permissions", fix: fix, at: at)
                : .warning(message, title: "Impersonated account has no permissions", fix: fix, at: at)]
        }
    }

    /// What the impersonated account may not apply (tester t12 F4, t20 F4;
    /// `ImpersonatedPermissions`): an object no binding reaches (a RoleBinding grants only in its
    /// own namespace, nothing but a ClusterRoleBinding reaches a cluster-scoped object), or one
    /// whose bound roles have no rule to patch its resource. The API server then forbids it
    /// (`… is forbidden: User "system:serviceaccount:…" cannot patch resource …`) and
    /// kustomize-controller's dry-run of the whole build fails. An object of unknown scope
    /// without a namespace, and one whose roles are not known, are not judged. A binding an
    /// unbuilt Kustomization may apply makes it a warning.
    static func scopeProblems(_ kustomization: FluxKustomization, account: String, byDefault: String, bindings: [AppliedObjects.Owned], _ index: AppliedObjects) -> [Annotation] {
        let id = kustomization.id
        let permissions = ImpersonatedPermissions(index)
        let owned = index.owned(by: id).filter { owned in
            guard FluxKustomization(owned.object)?.id != id else { return false }
            return owned.object.namespace != nil || AppliedObjectChecks.clusterScopedKinds.contains(owned.object.kind)
        }
        let forbidden = owned.filter { permissions.verdict($0.object, bindings: bindings) == .forbidden }
        // A role or binding that gives more than the account holds: RBAC's escalation check.
        let escalations = owned.compactMap { item in permissions.escalation(item.object, bindings: bindings).map { (item, $0) } }
        let user = "system:serviceaccount:\(id.namespace):\(account)"
        if forbidden.isEmpty, !escalations.isEmpty {
            // One error per role or binding (tester t23 F3: every one in one run).
            return escalations.map { item, resource in
            // A binding names the role it binds (tester t24: "a role" said nothing).
            let role = item.object.json["roleRef"].map { "the \($0["kind"]?.string ?? "role") \($0["name"]?.string ?? "")" } ?? "a role"
            let what = item.object.kind.hasSuffix("Binding") ? "binds \(role), which gives" : "gives"
            return .error(
                "The Kustomization \(id) applies as the ServiceAccount \(id.namespace)/\(account)\(byDefault) (kustomize-controller impersonates \(user)), and its build holds \(item.object.kind)/\(item.object.namespace.map { $0 + "/" } ?? "")\(item.object.name), which \(what) write access to \(resource) that the account does not hold itself: the API server's RBAC escalation check refuses it (\"… is attempting to grant RBAC permissions not currently held\"), so the dry-run of \(id) fails and it never becomes Ready.",
                title: "Impersonated account escalates",
                fix: "Grant \(resource) to the account itself first (a binding a platform Kustomization applies), narrow the \(item.object.kind), or move it to a Kustomization that applies as kustomize-controller.",
                at: item.object.file.map { SourceLocation(file: $0, line: item.object.line) })
            }
        }
        guard let first = forbidden.first else { return [] }
        // Only an unbuilt Kustomization that may itself write a binding there could grant more
        // (RBAC's escalation check aside): one impersonating an account that may not is no creator.
        let creators = index.unknown(for: id, in: first.object.namespace ?? "").filter { other in
            guard let otherAccount = index.kustomizations[other]?.object.json["spec", "serviceAccountName"]?.string, !otherAccount.isEmpty else { return true }
            return permissions.verdict(
                group: "rbac.authorization.k8s.io", resource: first.object.namespace == nil ? "clusterrolebindings" : "rolebindings", name: "",
                namespace: first.object.namespace, bindings: index.bindings(of: otherAccount, namespace: other.namespace)) != .forbidden
        }
        let shown = forbidden.prefix(3).map { owned in
            "\(owned.object.kind)/\(owned.object.namespace.map { $0 + "/" } ?? "")\(owned.object.name)\(owned.object.namespace == nil ? " (cluster-scoped)" : "")"
        }.joined(separator: ", ") + (forbidden.count > 3 ? " and \(forbidden.count - 3) more" : "")
        let bound = bindings.map { "\($0.object.kind) \($0.object.namespace.map { $0 + "/" } ?? "")\($0.object.name) → \($0.object.json["roleRef", "kind"]?.string ?? "") \($0.object.json["roleRef", "name"]?.string ?? "")" }
            .sorted().joined(separator: ", ")
        let resource = permissions.resource(of: first.object) ?? first.object.kind.lowercased()
        let place = first.object.namespace.map { "in the namespace \($0)" } ?? "at the cluster scope"
        let message = "The Kustomization \(id) applies as the ServiceAccount \(id.namespace)/\(account)\(byDefault) (kustomize-controller impersonates \(user)), bound by \(bound.isEmpty ? "nothing" : bound); its build holds \(shown), which those bindings do not allow it to patch: the API server forbids \(first.object.kind) \(first.object.name) (\"… is forbidden: User \(user) cannot patch resource \(resource) … \(place)\"), so the dry-run of \(id) fails and it never becomes Ready\(creators.isEmpty ? "" : unlessUnbuilt(index, for: id, in: first.object.namespace ?? ""))."
        let fix = first.object.namespace == nil
            ? "Move the cluster-scoped objects to a Kustomization that applies as kustomize-controller (the platform's, not the tenant's), or bind a ClusterRole that allows them to \(id.namespace)/\(account) with a ClusterRoleBinding."
            : "Bind a Role or ClusterRole that allows `patch` on \(resource) to \(id.namespace)/\(account) in \(first.object.namespace!) (`kubectl auth can-i patch \(resource) --as=\(user) -n \(first.object.namespace!)` on a cluster), or move the object out of this Kustomization."
        let at = first.object.file.map { SourceLocation(file: $0, line: first.object.line) }
        return [creators.isEmpty
            ? .error(message, title: "Impersonated account forbidden", fix: fix, at: at)
            : .warning(message, title: "Impersonated account forbidden", fix: fix, at: at)]
    }

    // MARK: Another cluster

    /// With `spec.kubeConfig.secretRef`, kustomize-controller reads the kubeconfig from that
    /// Secret in the Kustomization's namespace (fluxcd/pkg `runtime/client`
    /// `getRESTConfigFromSecret`: "unable to read KubeConfig secret") and applies to that
    /// cluster. A Secret nothing creates fails it at every reconcile; one that exists still
    /// names a cluster the e2e's fresh cluster cannot stand in for.
    static func kubeConfigProblems(_ kustomization: FluxKustomization, _ index: AppliedObjects, _ locate: AppliedObjects.Locator) -> [Annotation] {
        guard let name = kustomization.object.json["spec", "kubeConfig", "secretRef", "name"]?.string else { return [] }
        let id = kustomization.id
        let at = locate(kustomization, ["spec", "kubeConfig", "secretRef", "name"])
        let owners = index.find("Secret", group: "", namespace: id.namespace, name: name)
        switch index.availability(of: owners, for: id, sameBuildIsOrdered: false) {
        case .missing:
            let message = "The Kustomization \(id) applies to the cluster of the kubeconfig in the Secret \(id.namespace)/\(name), which no Kustomization of this cluster creates\(unlessUnbuilt(index, for: id, in: id.namespace)) and fluxci does not create: kustomize-controller fails \(id) (\"unable to read KubeConfig secret '\(id.namespace)/\(name)'\"), and it never becomes Ready."
            let fix = "Create the Secret (a SOPS-encrypted Secret in a Kustomization \(id) depends on), correct spec.kubeConfig.secretRef.name, or leave this Kustomization out of the cluster the e2e tests."
            return [index.unknown(for: id, in: id.namespace).isEmpty
                ? .error(message, title: "Unknown kubeconfig Secret", fix: fix, at: at)
                : .warning(message, title: "Unknown kubeconfig Secret", fix: fix, at: at)]
        case .itself:
            return [.error(
                "The Kustomization \(id) reads its kubeconfig from the Secret \(id.namespace)/\(name), which only its own build creates: kustomize-controller reads the kubeconfig before it builds, so \(id) fails (\"unable to read KubeConfig secret '\(id.namespace)/\(name)'\") and never applies it.",
                title: "kubeconfig Secret created by itself",
                fix: "Create the Secret in a Kustomization \(id) depends on.", at: at)]
        case .racing(let other):
            return [.warning(
                "The Kustomization \(id) reads its kubeconfig from the Secret \(id.namespace)/\(name), which the Kustomization \(other) creates, and \(id) does not depend on it: on a fresh cluster it can run first and fail (\"unable to read KubeConfig secret\") until its retry. It applies to another cluster, which the e2e's cluster does not stand in for.",
                title: "kubeconfig Secret created by another Kustomization",
                fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id).", at: at)]
        case .deadlocked(let other):
            return [.error(
                "The Kustomization \(id) reads its kubeconfig from the Secret \(id.namespace)/\(name), which only the Kustomization \(other) creates, \(index.deadlock(other, needs: id)) (\"unable to read KubeConfig secret '\(id.namespace)/\(name)'\").",
                title: "kubeConfig Secret created by a dependent",
                fix: "Create the Secret in the build of \(id)'s parent or of a Kustomization \(id) depends on (a dependsOn on \(other) would be a cycle).", at: at)]
        case .ordered:
            return [.warning(
                "The Kustomization \(id) applies to another cluster (the kubeconfig in the Secret \(id.namespace)/\(name)): the e2e's cluster cannot reach it, so what it applies is not tested there, and it becomes Ready only if that cluster is reachable from the test cluster.",
                title: "Kustomization for another cluster",
                fix: "Leave remote-cluster Kustomizations out of the tree the e2e tests (a cluster path of its own), or accept that the e2e waits for it.", at: at)]
        }
    }

    // MARK: substituteFrom order

    /// kustomize-controller reads each `substituteFrom` ConfigMap or Secret when it builds
    /// (fluxcd/pkg `kustomize` `SubstituteVariables`): one that does not exist yet fails the
    /// build ("substitute from 'ConfigMap/x' error: … not found") until the retry interval, or,
    /// with `optional: true`, is skipped and the objects are applied with its variables empty.
    /// Kustomizations that one apply creates reconcile concurrently, so a source that another
    /// Kustomization applies, one this does not wait for, is a race on a fresh cluster.
    static func substituteFromRaces(_ kustomization: FluxKustomization, _ index: AppliedObjects, _ locate: AppliedObjects.Locator) -> [Annotation] {
        let id = kustomization.id
        var problems: [Annotation] = []
        for (position, reference) in (kustomization.object.json["spec", "postBuild", "substituteFrom"]?.array ?? []).enumerated() {
            guard let kind = reference["kind"]?.string, kind == "ConfigMap" || kind == "Secret", let name = reference["name"]?.string else { continue }
            let owners = index.find(kind, group: "", namespace: id.namespace, name: name)
            // Missing, or created by this same build: reported by the walk (Unknown
            // substituteFrom, substituteFrom created by itself).
            guard !owners.contains(where: { $0.owner == id }) else { continue }
            let optional = reference["optional"]?.bool == true
            let at = locate(kustomization, ["spec", "postBuild", "substituteFrom", .index(position), "name"])
            switch index.availability(of: owners, for: id, sameBuildIsOrdered: false) {
            case .ordered, .missing, .itself: continue
            case .racing(let other):
                problems.append(.warning(
                    "The Kustomization \(id) substitutes from \(kind) \(id.namespace)/\(name), which the Kustomization \(other) creates, and \(id) does not depend on it: both are applied together and reconcile concurrently, so on a fresh cluster \(id) can build first and "
                        + (optional
                            ? "apply its objects with the variables of \(name) empty (optional: true skips a source that does not exist yet)."
                            : "fail (\"substitute from '\(kind)/\(name)' error: not found\") until its retry interval."),
                    title: "substituteFrom created by another Kustomization",
                    fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id).", at: at))
            case .deadlocked(let other) where optional:
                // fluxcd/pkg kustomize `SubstituteVariables` skips an optional source that is
                // not found: id applies with the variables empty, becomes Ready, other runs and
                // creates the source, and id's next reconcile substitutes it.
                problems.append(.warning(
                    "The Kustomization \(id) substitutes from \(kind) \(id.namespace)/\(name) (optional), which only the Kustomization \(other) creates, and \(other) waits for \(id): on a fresh cluster \(id) always applies first with the variables of \(name) empty (optional: true skips a source that does not exist), and substitutes them only at its next reconcile after \(other) ran.",
                    title: "substituteFrom created by a dependent",
                    fix: "Create the \(kind) in the build of \(id)'s parent or of a Kustomization \(id) depends on (a dependsOn on \(other) would be a cycle).", at: at))
            case .deadlocked(let other):
                problems.append(.error(
                    "The Kustomization \(id) substitutes from \(kind) \(id.namespace)/\(name), which only the Kustomization \(other) creates, \(index.deadlock(other, needs: id)) (\"substitute from '\(kind)/\(name)' error: not found\").",
                    title: "substituteFrom created by a dependent",
                    fix: "Create the \(kind) in the build of \(id)'s parent or of a Kustomization \(id) depends on (a dependsOn on \(other) would be a cycle), or mark the reference optional: true.", at: at))
            }
        }
        return problems
    }
}
