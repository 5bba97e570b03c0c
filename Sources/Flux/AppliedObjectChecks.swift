import Actions
import Foundation
import Kube
import Yams

/// Checks of what each Kustomization applies, against what a fresh cluster (the e2e's) has and
/// what the API server accepts: objects in a namespace nothing creates, string-only fields that
/// hold a bool or number after the build and postBuild substitution, and a flux-system folder
/// that installs no Flux.
public enum AppliedObjectChecks {
    /// The namespaces a new cluster has before Flux applies anything (kind, kubeadm).
    static let builtInNamespaces: Set<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]

    /// Built-in kinds the API server serves cluster-scoped (core and the usual add-on CRDs).
    static let clusterScopedKinds: Set<String> = [
        "Namespace", "Node", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass", "PriorityClass",
        "PersistentVolume", "IngressClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "APIService", "RuntimeClass", "CSIDriver", "CSINode",
        "VolumeAttachment", "VolumeSnapshotClass", "VolumeSnapshotContent", "CertificateSigningRequest", "FlowSchema",
        "PriorityLevelConfiguration",
    ]

    /// Problems of the objects the Kustomizations apply. `objects` holds each built
    /// Kustomization's objects (after postBuild), `kustomizations` every Kustomization of the
    /// tree (the root first), `components` the flux-system objects bootstrap applies, and
    /// `gitRepository` the root GitRepository (its namespace exists when the sync is applied).
    /// `unsubstituted` holds each object's JSON before postBuild substitution (in the order of
    /// `objects`), `at` gives the location of a field of an object (FieldSites: the patch that writes it, else its
    /// line in the object's file).
    static func problems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], applied: AppliedObjects, components: [KubeObject], gitRepository: KubeObject,
        unsubstituted: [FluxKustomization.Reference: [JSONValue]] = [:], writtenNamespace: (String) -> String? = { _ in nil },
        at: (KubeObject, [Origins.FieldKey]) -> SourceLocation? = { object, _ in object.file.map { SourceLocation(file: $0, line: object.line) } }
    ) -> [Annotation] {
        var problems = namespaceProblems(objects, applied: applied, components: components, gitRepository: gitRepository, writtenNamespace: writtenNamespace, at: at)
        var seen: Set<String> = []
        for id in applied.order {
            for (index, object) in (objects[id] ?? []).enumerated() {
                let before = unsubstituted[id].flatMap { $0.indices.contains(index) ? $0[index] : nil }
                for problem in stringFieldProblems(object, before: before, at: { at(object, $0) }) where seen.insert("\(problem.location.map { "\($0.file):\($0.line ?? 0)" } ?? "")|\(problem.message)").inserted {
                    problems.append(problem)
                }
            }
        }
        return problems
    }

    // MARK: Namespaces nothing creates

    /// kustomize-controller applies with a server-side dry-run first (fluxcd/pkg ssa
    /// `ApplyAllStaged`): within one Kustomization it applies Namespaces and CRDs before the
    /// rest, but it does not wait for other Kustomizations, so an object in a namespace that no
    /// Namespace object of its own build, of a Kustomization it depends on, or of one that
    /// applies it (an ancestor), defines fails `namespaces "X" not found` on a fresh cluster.
    static func namespaceProblems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], applied: AppliedObjects, components: [KubeObject], gitRepository: KubeObject,
        writtenNamespace: (String) -> String? = { _ in nil }, at: (KubeObject, [Origins.FieldKey]) -> SourceLocation? = { object, _ in object.file.map { SourceLocation(file: $0, line: object.line) } }
    ) -> [Annotation] {
        var given = builtInNamespaces
        for object in components where object.kind == "Namespace" && object.apiVersion == "v1" { given.insert(object.name) }
        // The sync's GitRepository and root Kustomization are applied by bootstrap in their
        // namespace; when the components create nothing at all, the missing Flux install is
        // reported by `fluxInstallProblems` instead.
        given.insert(gitRepository.namespace ?? "flux-system")
        let order = applied.order

        // Who creates each namespace: Namespace objects per Kustomization, and HelmReleases
        // with install.createNamespace and a targetNamespace (helm-controller creates the
        // release namespace; without targetNamespace that is the HelmRelease's own, which must
        // exist before the HelmRelease can), with the Kustomization that applies them.
        var creators: [String: [FluxKustomization.Reference]] = [:]
        var createdByHelm: [String: [(owner: FluxKustomization.Reference, release: KubeObject)]] = [:]
        // CRDs of the tree: their spec.scope decides (a CRD's kind may reuse a built-in name).
        var clusterScoped: Set<String> = []
        var defined: Set<String> = []
        for object in components + objects.values.flatMap({ $0 }) where object.kind == "CustomResourceDefinition" {
            guard let group = object.json["spec", "group"]?.string, let kind = object.json["spec", "names", "kind"]?.string else { continue }
            defined.insert("\(group)|\(kind)")
            if object.json["spec", "scope"]?.string == "Cluster" { clusterScoped.insert("\(group)|\(kind)") }
        }
        for id in order {
            for object in objects[id] ?? [] {
                if object.kind == "Namespace", object.apiVersion == "v1" { creators[object.name, default: []].append(id) }
                if object.kind == "HelmRelease", object.apiVersion.hasPrefix("helm.toolkit.fluxcd.io/"),
                    object.json["spec", "install", "createNamespace"] == .bool(true), let target = object.json["spec", "targetNamespace"]?.string, !target.isEmpty
                {
                    createdByHelm[target, default: []].append((id, object))
                }
            }
        }

        var problems: [Annotation] = []
        for id in order {
            var uses: [String: [KubeObject]] = [:]
            var namespaces: [String] = []
            for object in objects[id] ?? [] {
                guard let namespace = object.namespace, !namespace.isEmpty else { continue }
                let group = object.apiVersion.contains("/") ? String(object.apiVersion.split(separator: "/")[0]) : ""
                let key = "\(group)|\(object.kind)"
                // Any other kind (built in, or unknown here) is namespaced, as it names a namespace.
                let scopedByCRD = defined.contains(key)
                guard scopedByCRD ? !clusterScoped.contains(key) : !clusterScopedKinds.contains(object.kind) else { continue }
                if uses[namespace] == nil { namespaces.append(namespace) }
                uses[namespace, default: []].append(object)
            }
            for namespace in namespaces {
                guard !given.contains(namespace) else { continue }
                let users = uses[namespace]!
                let first = users[0]
                let location = first.file.map { SourceLocation(file: $0, line: first.line) }
                let what = users.count == 1 ? first.reference : "\(first.reference) and \(users.count - 1) more object\(users.count == 2 ? "" : "s")"
                if let releases = createdByHelm[namespace] {
                    // A HelmRelease of another Kustomization creates it once installed: the
                    // dry-run fails until then and is retried (a delay, not a failure).
                    if releases.contains(where: { $0.owner != id }) { continue }
                    if creators[namespace] == nil {
                        // Only HelmReleases of this same build (tester t11 F14): the dry-run of
                        // the whole build (fluxcd/pkg ssa ApplyAllStaged) fails on the object in
                        // the namespace before the HelmRelease is applied, so helm-controller
                        // never creates it.
                        let release = releases[0].release
                        problems.append(.error(
                            "The Kustomization \(id) applies \(what) in the namespace \(namespace), which only \(release.reference) of the same Kustomization creates (install.createNamespace): kustomize-controller dry-runs the whole build before applying any of it, the dry-run fails with namespaces \"\(namespace)\" not found, so the HelmRelease is never applied and \(id) never becomes Ready.",
                            title: "Namespace created by a HelmRelease of the same Kustomization",
                            fix: "Add a Namespace object \(namespace) (apiVersion: v1, kind: Namespace) to the build of \(id), or move \(what) to a Kustomization that depends on \(id) (with wait: true or a health check of \(release.reference)).",
                            at: location))
                        continue
                    }
                }
                switch applied.availability(of: creators[namespace] ?? [], for: id) {
                case .ordered, .itself: break
                case .racing(let other):
                    problems.append(.warning(
                        "The Kustomization \(id) applies \(what) in the namespace \(namespace), which the Kustomization \(other) creates, and \(id) does not depend on it: kustomize-controller applies Namespaces first only within one Kustomization, so on a fresh cluster \(id) can run first and its dry-run fail with namespaces \"\(namespace)\" not found (it retries at its interval).",
                        title: "Namespace created by another Kustomization",
                        fix: "Add `\(AppliedObjects.dependsOnText(other, from: id))` to the Kustomization \(id), or define the Namespace in its own build.",
                        at: location))
                case .deadlocked(let other):
                    // The creator waits for this one (tester t9 F2): the dry-run fails at every
                    // retry, this one is never Ready, and the creator never runs.
                    problems.append(.error(
                        "The Kustomization \(id) applies \(what) in the namespace \(namespace), which only the Kustomization \(other) creates, \(applied.deadlock(other, needs: id)) (its dry-run fails with namespaces \"\(namespace)\" not found).",
                        title: "Namespace created by a dependent",
                        fix: "Define the Namespace \(namespace) in the build of \(id) (kustomize-controller applies Namespaces first) or of a Kustomization it depends on, and remove it from \(other) (a dependsOn on \(other) would be a cycle).",
                        at: location))
                case .missing:
                    let message = "The Kustomization \(id) applies \(what) in the namespace \(namespace), which no Namespace object of the cluster's tree defines and no HelmRelease creates: on a fresh cluster (only \(given.sorted().joined(separator: ", ")) exist) kustomize-controller's server-side dry-run fails with namespaces \"\(namespace)\" not found and \(id) never becomes Ready"
                    let fix = "Add a Namespace object \(namespace) (apiVersion: v1, kind: Namespace) to this Kustomization's build or to one it depends on, or correct the namespace (metadata.namespace or the Kustomization's spec.targetNamespace)."
                    problems.append(namespaceNotCreated(message, fix: writtenNamespace(namespace).map { String($0.dropFirst()) } ?? fix, needer: id, applied: applied, at: location))
                }
            }
        }
        problems += releaseNamespaceProblems(objects, applied: applied, given: given, creators: creators, createdByHelm: Set(createdByHelm.keys), writtenNamespace: writtenNamespace, at: at)
        return problems
    }

    /// "Namespace not created" (`message` without its final period): an error, or a warning
    /// naming the Kustomizations fluxci did not build that may create it. Creating a Namespace is
    /// cluster-scoped: only one that may (no impersonation, or a ClusterRoleBinding) counts.
    static func namespaceNotCreated(_ message: String, fix: String, needer id: FluxKustomization.Reference, applied: AppliedObjects, at location: SourceLocation?) -> Annotation {
        let unbuilt = applied.unknown(for: id, in: "").map(\.description)
        guard !unbuilt.isEmpty else { return .error(message + ".", title: "Namespace not created", fix: fix, at: location) }
        return .warning(message + ", unless a Kustomization fluxci did not build (\(unbuilt.joined(separator: ", "))) creates it.", title: "Namespace not created", fix: fix, at: location)
    }

    /// A HelmRelease whose `spec.targetNamespace` nothing creates (tester t11 F13): helm-controller
    /// installs the chart there, and without `install.createNamespace` Helm's install fails
    /// (namespaces "…" not found); the HelmRelease never becomes Ready. Which Kustomization
    /// creates the Namespace does not matter: helm-controller retries until it exists.
    ///
    /// The same for `spec.storageNamespace` (tester t12 F11): helm-controller gives Helm's
    /// storage driver that namespace (the release records, Secrets `sh.helm.release.v1.*`), and
    /// Helm's install writes the record there after creating the release namespace (so a
    /// storage namespace that is the target namespace of a release with `install.createNamespace`
    /// is created in time), failing with namespaces "…" not found otherwise.
    static func releaseNamespaceProblems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], applied: AppliedObjects, given: Set<String>,
        creators: [String: [FluxKustomization.Reference]], createdByHelm: Set<String>, writtenNamespace: (String) -> String? = { _ in nil }, at: (KubeObject, [Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var problems: [Annotation] = []
        for id in applied.order {
            for release in objects[id] ?? [] where release.kind == "HelmRelease" && release.apiVersion.hasPrefix("helm.toolkit.fluxcd.io/") {
                for field in ["targetNamespace", "storageNamespace"] {
                    let creates = field == "targetNamespace" && release.json["spec", "install", "createNamespace"] == .bool(true)
                    guard let target = release.json["spec", field]?.string, !target.isEmpty, target != release.namespace, !creates,
                        !given.contains(target), creators[target] == nil, !createdByHelm.contains(target)
                    else { continue }
                    let location = at(release, ["spec", .key(field)])
                    let message = field == "targetNamespace"
                        ? "\(release.reference) installs its chart into the namespace \(target) (spec.targetNamespace), which no Namespace object of the cluster's tree defines and no HelmRelease creates, and spec.install.createNamespace is not set: helm-controller's install fails (namespaces \"\(target)\" not found) and the HelmRelease never becomes Ready"
                        : "\(release.reference) keeps its Helm release records in the namespace \(target) (spec.storageNamespace), which no Namespace object of the cluster's tree defines and no HelmRelease creates: Helm's install fails to store the release (namespaces \"\(target)\" not found) and the HelmRelease never becomes Ready"
                    let fix = field == "targetNamespace"
                        ? "Add a Namespace object \(target) to the tree, or set spec.install.createNamespace: true, or correct spec.targetNamespace."
                        : "Add a Namespace object \(target) to the tree, or correct spec.storageNamespace (without it, the records are kept in the HelmRelease's namespace)."
                    problems.append(namespaceNotCreated(message, fix: fix + (writtenNamespace(target) ?? ""), needer: id, applied: applied, at: location))
                }
            }
        }
        return problems
    }

    // MARK: String-only fields

    /// The string-only fields of `object` that hold a bool or number: (dotted path, field, the
    /// value's YAML text).
    static func nonStringFields(_ object: KubeObject) -> [(path: String, field: [Origins.FieldKey], value: String)] {
        var bad: [(path: String, field: [Origins.FieldKey], value: String)] = []
        func scan(_ map: JSONValue?, _ path: String, _ field: [Origins.FieldKey]) {
            guard case .object(let entries)? = map else { return }
            for (key, value) in entries {
                if let text = nonString(value) { bad.append(("\(path).\(key)", field + [.key(key)], text)) }
            }
        }
        scan(object.json["metadata", "labels"], "metadata.labels", ["metadata", "labels"])
        scan(object.json["metadata", "annotations"], "metadata.annotations", ["metadata", "annotations"])
        let group = object.apiVersion.contains("/") ? String(object.apiVersion.split(separator: "/")[0]) : ""
        switch (group, object.kind) {
        case ("", "ConfigMap"):
            scan(object.json["data"], "data", ["data"])
            scan(object.json["binaryData"], "binaryData", ["binaryData"])
        case ("", "Secret"):
            scan(object.json["data"], "data", ["data"])
            scan(object.json["stringData"], "stringData", ["stringData"])
        default: break
        }
        if let (spec, field) = BuiltInKindValidation.podSpec(object, key: "\(group)|\(object.kind)") {
            let path = Origins.dotted(field)
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for (index, container) in (spec[list]?.array ?? []).enumerated() {
                    for (entry, variable) in (container["env"]?.array ?? []).enumerated() {
                        guard let value = variable["value"], let text = nonString(value) else { continue }
                        let name = variable["name"]?.string.map { "[name=\($0)]" } ?? "[\(entry)]"
                        bad.append(("\(path).\(list)[\(index)].env\(name).value", field + [.key(list), .index(index), "env", .index(entry), "value"], text))
                    }
                }
            }
        }
        return bad
    }

    /// The same check on an object decrypted from a SOPS file (tester t12 F7): sops restores
    /// the types it recorded (`type:int`, `type:bool`), kustomize-controller's DecryptResource
    /// writes them as JSON numbers and booleans, and the API server refuses them in a string
    /// field. Only the types are named, never a decrypted value; `at` places a field (the key's
    /// line in the encrypted file: sops keeps keys in plain text).
    /// `substituted`: the values are the decrypted `${…}` after postBuild substitution (tester
    /// t20 F8): the variable's value is what to quote, not the encrypted value.
    static func decryptedStringFieldProblems(_ object: KubeObject, file: String, refused: String, substituted: Bool = false, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        let bad = nonStringFields(object)
        guard let first = bad.first else { return [] }
        func type(_ value: String) -> String { value == "true" || value == "false" ? "a bool" : "a number" }
        let key = first.path.split(separator: ".").last.map(String.init) ?? "KEY"
        return [.error(
            "\(object.reference) (decrypted from \(file)): \(bad.map { "\($0.path) is \(type($0.value))" }.joined(separator: ", ")) \(substituted ? "once its decrypted ${…} is substituted (Flux parses the substituted text again as YAML)" : "once decrypted"), where the API server takes only strings: \(refused).",
            title: "Non-string value in a string field",
            fix: substituted
                ? "Put the quotes in the variable's value (`VAR: '\"…\"'` in spec.postBuild.substitute, or in the substituteFrom data): quoting the encrypted `${VAR}` does not help, the substituted text is read again."
                : "Quote the value before encrypting it (`\(key): \"…\"` in the plain file, then encrypt again: sops keeps it a string), as the API server takes only strings there.",
            at: at(first.field))]
    }

    /// Fields the API server types as strings (`map[string]string` or `string`) that hold a
    /// bool or number. Flux's postBuild runs envsubst on the object's YAML text and parses it
    /// again with sigs.k8s.io/yaml (YAML 1.1 plain scalars: `true`, `yes`, `8080`, `1.0`), so an
    /// unquoted `${ENABLED}` set to `true` becomes a JSON boolean (so does `"${ENABLED}"`: the
    /// build writes the string without its quotes, as `kubectl kustomize` prints it), and the dry-run rejects the
    /// object (cannot unmarshal bool into ... of type string). A JSON null decodes as "" and
    /// passes.
    ///
    /// A value postBuild substituted (it differs from `before`, the build's JSON) is never
    /// quoted: the message shows the text before substitution (`${SECRET_PIN}`), since the
    /// value may come from a decrypted Secret (tester t9 F5). The problem sits at the first
    /// field's location (`at`, tester t9 F10), else at the object's first line.
    static func stringFieldProblems(_ object: KubeObject, before: JSONValue? = nil, at: ([Origins.FieldKey]) -> SourceLocation? = { _ in nil }) -> [Annotation] {
        let bad = nonStringFields(object)
        guard !bad.isEmpty else { return [] }
        func type(_ value: String) -> String { value == "true" || value == "false" ? "bool" : "number" }
        // The text before substitution of each field postBuild changed (nil: written as is).
        let sources = bad.map { SubstitutedValues.source(at: $0.field, before: before, after: object.json) }
        let listed = zip(bad, sources).map { entry, source in
            guard let source else { return "\(entry.path) is \(entry.value)" }
            return "\(entry.path) is a \(type(entry.value)) after postBuild substitution\(source.isEmpty ? "" : " of `\(source)`")"
        }.joined(separator: ", ")
        let example = bad[0].path.split(separator: ".").last.map(String.init) ?? "KEY"
        let key = example.hasPrefix("value") ? "value" : example
        let fix = sources[0] == nil
            ? "Quote it: `\(key): \"\(Int(bad[0].value) != nil || ["true", "false"].contains(bad[0].value) ? bad[0].value : "…")\"`, as written in the file (YAML reads `1.10` as the number 1.1: the quotes keep the text). When the value comes from a postBuild substitution, quoting the placeholder does not help (kustomize writes `\"${VAR}\"` without its quotes before Flux substitutes): put the quotes in the variable's value (`VAR: '\"\(bad[0].value)\"'`), or disable substitution for the object."
            : "Quoting the placeholder does not help (kustomize writes `\"${VAR}\"` without its quotes before Flux substitutes): put the quotes in the variable's value (`VAR: '\"…\"'`), or disable substitution for the object."
        return [.error(
            "\(object.reference): \(listed), where the API server takes only strings: kustomize-controller's server-side dry-run fails (cannot unmarshal \(type(bad[0].value)) into a string) and the Kustomization never becomes Ready. A postBuild substitution gives such a value when the variable's value is unquoted: Flux parses the substituted text again as YAML.",
            title: "Non-string value in a string field", fix: fix,
            at: at(bad[0].field) ?? object.file.map { SourceLocation(file: $0, line: object.line) })]
    }

    /// The YAML text of a bool or number; nil for strings, null and collections.
    static func nonString(_ value: JSONValue) -> String? {
        switch value {
        case .bool(let flag): "\(flag)"
        case .integer(let number): "\(number)"
        case .number(let number): "\(number)"
        case .array, .object: nil
        case .null, .string: nil
        }
    }

    // MARK: A flux-system that installs no Flux

    /// What the flux-system folder must install for the run's own apply to work: fluxci applies
    /// exactly the flux-system components, then the GitRepository and the root Kustomization,
    /// so without these CRDs discovery does not serve those kinds (the apply fails), and without
    /// these controllers nothing reconciles them (the run waits until its timeout).
    static let requiredCRDs = ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]
    static let requiredControllers = ["source-controller", "kustomize-controller"]

    /// An error at the flux-system kustomization file when its build lacks a required CRD or
    /// controller Deployment (a repository that installs Flux another way: Helm chart,
    /// flux-operator, terraform). Checked where bootstrap prepares its plan, since a tree read
    /// for other purposes need not install Flux.
    public static func fluxInstallProblems(_ tree: ClusterTree) -> [Annotation] {
        let crds = Set(tree.components.filter { $0.kind == "CustomResourceDefinition" && $0.apiVersion.hasPrefix("apiextensions.k8s.io/") }.map(\.name))
        let deployments = Set(tree.components.filter { $0.kind == "Deployment" && $0.apiVersion == "apps/v1" }.map(\.name))
        let missing = requiredCRDs.filter { !crds.contains($0) }.map { "the CustomResourceDefinition \($0)" }
            + requiredControllers.filter { !deployments.contains($0) }.map { "the Deployment \($0)" }
        guard !missing.isEmpty else { return [] }
        let path = tree.fluxSystemPath
        let written = tree.files.values.contains { $0.contains(path + "/kustomization.yaml") }
        let file = written ? path + "/kustomization.yaml" : path
        let list = missing.count == 1 ? missing[0] : missing.dropLast().joined(separator: ", ") + " and " + missing.last!
        return [.error(
            "\(path) installs no Flux: its build lacks \(list). fluxci applies exactly what flux-system holds, so the run's apply of the GitRepository and Kustomization fails (discovery does not serve their kinds) or, without the controllers, waits until its timeout.",
            title: "flux-system installs no Flux",
            fix: "Run `flux install --export > \(path)/gotk-components.yaml` and list gotk-components.yaml in the resources of \(path)/kustomization.yaml (flux bootstrap writes both).",
            at: SourceLocation(file: file))]
    }
}
