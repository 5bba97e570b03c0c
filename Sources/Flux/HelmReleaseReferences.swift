import Actions
import Foundation
import Kube

/// What each HelmRelease of the cluster names, checked against the objects the cluster's
/// Kustomizations apply, as helm-controller resolves it (helm.toolkit.fluxcd.io v2): the chart's
/// source (`spec.chart.spec.sourceRef`, or `spec.chartRef`), `spec.valuesFrom` and
/// `spec.dependsOn`, each in the HelmRelease's own namespace unless the reference gives one.
/// A reference that resolves to nothing keeps the HelmRelease from ever becoming Ready, which
/// the run would only see at its timeout.
enum HelmReleaseReferences {
    static let group = "helm.toolkit.fluxcd.io"

    /// What the checks know beyond the applied objects.
    struct Context {
        /// helm-controller runs with `--no-cross-namespace-refs=true` (the multi-tenancy lockdown).
        var noCrossNamespaceRefs = false
        /// The GitRepository whose artifact fluxci has (the branch's own), as `namespace/name`.
        var artifactSource: String?
        /// Why a repository-relative path (a file, or a folder when it ends in `/`) is not in
        /// that artifact; nil when it is there.
        var absence: ((String) -> String?)?
        /// helm-controller's `--default-service-account` (the multi-tenancy lockdown): the account
        /// a release without `serviceAccountName` installs as (tester t14 F18).
        var defaultServiceAccount: String?
    }

    /// `fieldSite` gives the location of a field of an object (FieldSites: the patch that writes it,
    /// else its line in the object's file).
    static func problems(_ applied: AppliedObjects, context: Context = Context(), fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        func exists(_ kind: String, group: String?, namespace: String, name: String) -> Bool {
            !applied.find(kind, group: group, namespace: namespace, name: name).isEmpty
        }
        var problems: [Annotation] = []
        var seen: Set<String> = []
        // What Kustomizations fluxci did not build apply is unknown: a reference nothing built
        // satisfies is then a warning that names them (tester t9 F6), an error otherwise.
        // Only one that may write in the needed object's namespace counts (RBAC, `mayWrite`).
        // One that waits for the release's Kustomization still counts: helm-controller retries
        // until the object exists.
        func unlessUnbuilt(in namespace: String) -> String { KustomizationReferences.unlessUnbuilt(applied, in: namespace) }
        func unknown(_ message: String, in namespace: String, title: String, fix: String, at location: SourceLocation?) -> Annotation {
            KustomizationReferences.unresolved(applied, message, in: namespace, title: title, fix: fix, at: location)
        }
        for owned in applied.all("HelmRelease") where owned.object.apiVersion.hasPrefix(group + "/") {
            let release = owned.object
            let namespace = release.namespace ?? "default"
            let id = "HelmRelease/\(namespace)/\(release.name)"
            guard seen.insert(id).inserted else { continue }  // applied twice: reported by SharedObjects
            func at(_ field: [Origins.FieldKey]) -> SourceLocation? {
                fieldSite(release, field)
            }
            // The chart's source: a source kind of source.toolkit.fluxcd.io.
            let chart: (reference: JSONValue, field: [Origins.FieldKey])? =
                release.json["spec", "chartRef"].map { ($0, ["spec", "chartRef"]) }
                ?? release.json["spec", "chart", "spec", "sourceRef"].map { ($0, ["spec", "chart", "spec", "sourceRef"]) }
            if let chart, let kind = chart.reference["kind"]?.string, let name = chart.reference["name"]?.string {
                let written = chart.reference["namespace"]?.string
                let sourceNamespace = written ?? namespace
                if context.noCrossNamespaceRefs, sourceNamespace != namespace {
                    // helm-controller `reconcileChart` (chart.spec) and `getSource` (chartRef)
                    // with NoCrossNamespaceRef: an acl.AccessDeniedError before any lookup.
                    problems.append(.error(
                        "\(id) takes its chart from \(kind)/\(sourceNamespace)/\(name), in another namespace, and helm-controller runs with --no-cross-namespace-refs=true (patched into the flux-system components): it refuses the reference (\"can't access '\(kind)/\(sourceNamespace)/\(name)', cross-namespace references have been blocked\", reason AccessDenied), and the HelmRelease never becomes Ready.",
                        title: "Cross-namespace reference blocked",
                        fix: "Define the \(kind) in \(namespace) (the HelmRelease's namespace) and reference it without a namespace, or remove the `no-cross-namespace-refs` argument from the flux-system patches.",
                        at: at(chart.field + (written == nil ? [] : ["namespace"]))))
                } else if !exists(kind, group: FluxKustomization.sourceGroup, namespace: sourceNamespace, name: name) {
                    // Only a defaulted namespace is explained (tester t5 H); a near name is offered.
                    let defaulted = written == nil ? " (a reference without a namespace is in the HelmRelease's own, \(namespace))" : ""
                    let others = applied.all(kind).filter { $0.group == FluxKustomization.sourceGroup && ($0.object.namespace ?? "default") == sourceNamespace }.map(\.object.name)
                    let hint = ClusterTreeReader.nearest(name, in: others).map { " Did you mean \($0)?" } ?? ""
                    problems.append(unknown(
                        "\(id) takes its chart from \(kind)/\(sourceNamespace)/\(name), which no Kustomization of this cluster applies\(defaulted)\(unlessUnbuilt(in: sourceNamespace)): helm-controller never gets the chart, and the HelmRelease never becomes Ready.\(hint)",
                        in: sourceNamespace, title: "Unknown chart source", fix: "Correct the reference's name or namespace, or define \(kind) \(name) in \(sourceNamespace).",
                        at: at(chart.field + ["name"])))
                } else {
                    let sources = applied.find(kind, group: FluxKustomization.sourceGroup, namespace: sourceNamespace, name: name)
                    if let problem = dependencyDeadlock(owned, id: id, on: sources, shown: "\(kind)/\(sourceNamespace)/\(name)", applied, need: .chart, at: at(chart.field + ["name"])) {
                        problems.append(problem)
                    }
                    if release.json["spec", "chartRef"] == nil, let path = release.json["spec", "chart", "spec", "chart"]?.string, kind == "GitRepository" || kind == "Bucket" {
                        problems += chartPathProblems(id, kind: kind, source: "\(sourceNamespace)/\(name)", path: path, context: context, at: at(["spec", "chart", "spec", "chart"]))
                        let valuesFiles = (release.json["spec", "chart", "spec", "valuesFiles"]?.array ?? []).map { $0.string ?? "" }
                        problems += valuesFilesProblems(
                            id, kind: kind, source: "\(sourceNamespace)/\(name)", files: valuesFiles,
                            ignoreMissing: release.json["spec", "chart", "spec", "ignoreMissingValuesFiles"]?.bool == true, context: context,
                            at: { at(["spec", "chart", "spec", "valuesFiles", .index($0)]) })
                    }
                }
            }
            for (index, entry) in (release.json["spec", "valuesFrom"]?.array ?? []).enumerated() {
                guard let kind = entry["kind"]?.string, kind == "ConfigMap" || kind == "Secret", let name = entry["name"]?.string,
                    entry["optional"]?.bool != true
                else { continue }
                let sources = applied.find(kind, group: "", namespace: namespace, name: name)
                // Something else of that name (an ExternalSecret, a SealedSecret, another release's
                // chart) may make it, or write its keys.
                let madeByAnotherKind = applied.mayBeMade(kind, namespace: namespace, name: name, except: release)
                if !sources.isEmpty {
                    if let problem = dependencyDeadlock(owned, id: id, on: sources, shown: "\(kind)/\(namespace)/\(name)", applied, need: .values, at: at(["spec", "valuesFrom", .index(index), "name"])) {
                        problems.append(problem)
                    }
                    if !madeByAnotherKind,
                        let problem = ValuesKeys.problem(entry, index: index, id: id, kind: kind, namespace: namespace, name: name, sources: sources, at: at)
                    {
                        problems.append(problem)
                    }
                    continue
                }
                if madeByAnotherKind { continue }
                // kustomize's generators add a hash suffix (`name-<10 characters>`) that a
                // HelmRelease's valuesFrom does not follow without a nameReference configuration.
                let hashed = applied.all(kind).map(\.object).first { object in
                    (object.namespace ?? "") == namespace && object.name.hasPrefix(name + "-")
                        && object.name.dropFirst(name.count + 1).count == 10
                        && object.name.dropFirst(name.count + 1).allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
                }
                if let hashed {
                    problems.append(.error(
                        "\(id) reads its values from \(kind)/\(namespace)/\(name), but kustomize's generator named it \(hashed.name) (a hash suffix), which valuesFrom does not follow: helm-controller finds no \(name), and the HelmRelease never becomes Ready.",
                        title: "Values from a renamed object",
                        fix: "Set `generatorOptions: {disableNameSuffixHash: true}` (or `options: {disableNameSuffixHash: true}` on the generator), or add a kustomize `configurations:` file with a nameReference from \(kind) to HelmRelease spec/valuesFrom/name.",
                        at: at(["spec", "valuesFrom", .index(index), "name"])))
                } else {
                    problems.append(unknown(
                        "\(id) reads its values from \(kind)/\(namespace)/\(name), which no Kustomization of this cluster applies\(unlessUnbuilt(in: namespace)): helm-controller fails (\"could not resolve \(kind) chart values reference\"), and the HelmRelease never becomes Ready.",
                        in: namespace, title: "Unknown values source", fix: "Define \(kind) \(name) in \(namespace), correct the name, or mark the entry `optional: true`.",
                        at: at(["spec", "valuesFrom", .index(index), "name"])))
                }
            }
            for (index, dependency) in (release.json["spec", "dependsOn"]?.array ?? []).enumerated() {
                guard let name = dependency["name"]?.string else { continue }
                let dependencyNamespace = dependency["namespace"]?.string ?? namespace
                let dependencies = applied.find("HelmRelease", group: group, namespace: dependencyNamespace, name: name)
                if dependencies.isEmpty {
                    // As for a Kustomization's dependsOn: never the HelmRelease itself (tester t14
                    // F13), and one of that name in another namespace is what was meant.
                    let releases = applied.all("HelmRelease").filter { $0.group == group }.map { "\($0.object.namespace ?? "default")/\($0.object.name)" }
                        .filter { $0 != "\(namespace)/\(release.name)" }
                    let sameName = releases.filter { $0.hasSuffix("/\(name)") }.sorted()
                    let near = ClusterTreeReader.nearest(name, in: releases.filter { $0.hasPrefix(dependencyNamespace + "/") }.map { String($0.dropFirst(dependencyNamespace.count + 1)) })
                    let hint = (sameName.first ?? near.map { "\(dependencyNamespace)/\($0)" }).map { " Did you mean \($0)?" } ?? ""
                    let written = dependency["namespace"]?.string != nil
                    problems.append(unknown(
                        "\(id) depends on HelmRelease/\(dependencyNamespace)/\(name), which no Kustomization of this cluster applies\(unlessUnbuilt(in: dependencyNamespace)): helm-controller keeps it waiting (DependencyNotReady).\(hint)",
                        in: dependencyNamespace, title: "Unknown dependency",
                        fix: sameName.first.map { other in
                            "\(written ? "Correct" : "Add") the entry's namespace: \(other.split(separator: "/")[0])\(written ? "" : " (an entry without one is in \(namespace), the HelmRelease's own)"), or define HelmRelease/\(dependencyNamespace)/\(name)."
                        } ?? "Correct spec.dependsOn (a missing namespace is \(namespace)), or define the HelmRelease.",
                        at: at(["spec", "dependsOn", .index(index)])))
                } else if let problem = dependencyDeadlock(owned, id: id, on: dependencies, shown: "HelmRelease/\(dependencyNamespace)/\(name)", applied, at: at(["spec", "dependsOn", .index(index)])) {
                    problems.append(problem)
                }
            }
            if let problem = accountProblem(owned, id: id, applied, defaultAccount: context.defaultServiceAccount, at: at(["spec", "serviceAccountName"])) { problems.append(problem) }
        }
        problems += dependencyCycle(applied, fieldSite: fieldSite)
        return problems
    }

    /// `spec.serviceAccountName` (tester t12 F11): helm-controller builds its Helm client
    /// impersonating `system:serviceaccount:<the release's namespace>:<name>` (fluxcd/pkg
    /// `runtime/client` Impersonator, as kustomize-controller does): the API server does not look
    /// the ServiceAccount up, so what counts is what RBAC binds to that name (`bindings`). With
    /// no binding in the tree (the usual case of a ServiceAccount that is not defined either),
    /// every Helm action is forbidden and the release never installs; a binding only a dependent
    /// of a waiting Kustomization applies is a deadlock. A binding another Kustomization applies
    /// later is retried (no problem).
    static func accountProblem(
        _ release: AppliedObjects.Owned, id: String, _ applied: AppliedObjects, defaultAccount: String? = nil, at location: SourceLocation?
    ) -> Annotation? {
        let written = release.object.json["spec", "serviceAccountName"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        guard let account = written ?? defaultAccount.flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        let defaulted = written == nil ? " (helm-controller's --default-service-account, as the release names none)" : ""
        let namespace = release.object.namespace ?? "default"
        let bindings = applied.bindings(of: account, namespace: namespace)
        if let first = bindings.first {
            if let deadlock = dependencyDeadlock(release, id: id, on: bindings, shown: "\(first.object.kind)/\(first.object.namespace.map { $0 + "/" } ?? "")\(first.object.name)", applied, need: .account, at: location) {
                return deadlock
            }
            // Helm keeps each release in Secrets of its storage namespace, written as that account
            // (helm-controller's storage driver `secret`; tester t21 F3): its roles must let it
            // write Secrets there, or the first install fails "secrets is forbidden".
            let storage = release.object.json["spec", "storageNamespace"]?.string ?? namespace
            guard ImpersonatedPermissions(applied).verdict(group: "", resource: "secrets", name: "", namespace: storage, bindings: bindings) == .forbidden else { return nil }
            return .error(
                "\(id) installs as the ServiceAccount \(namespace)/\(account)\(defaulted) (helm-controller impersonates system:serviceaccount:\(namespace):\(account)), whose bindings do not let it write Secrets in \(storage), where Helm stores the release: the install fails (\"secrets is forbidden\") and the HelmRelease never becomes Ready.",
                title: "HelmRelease account cannot store the release",
                fix: "Bind a Role or ClusterRole that allows get, list, create, update, patch and delete on secrets in \(storage) to \(namespace)/\(account) (admin and edit do).",
                at: location)
        }
        let accounts = applied.all("ServiceAccount").filter { $0.group == "" && ($0.object.namespace ?? "default") == namespace }.map(\.object.name)
        let defined = accounts.contains(account) || account == "default"  // the API server makes one in every namespace
        let hint = defined ? "" : ClusterTreeReader.nearest(account, in: accounts).map { " Did you mean \($0)?" } ?? ""
        return KustomizationReferences.unresolved(
            applied, "\(id) installs as the ServiceAccount \(namespace)/\(account)\(defaulted) (helm-controller impersonates system:serviceaccount:\(namespace):\(account)), which \(defined ? "" : "no object of this cluster defines and which ")no RoleBinding or ClusterRoleBinding of this cluster grants anything\(KustomizationReferences.unlessUnbuilt(applied, in: namespace)): every Helm action of the release is forbidden, and the HelmRelease never becomes Ready.\(hint)",
            in: namespace, title: "HelmRelease account has no permissions",
            fix: "Correct spec.serviceAccountName, or define the ServiceAccount \(account) in \(namespace) and bind a Role or ClusterRole to it (subjects: [{kind: ServiceAccount, name: \(account), namespace: \(namespace)}]).",
            at: location)
    }

    /// HelmReleases whose `dependsOn` form a cycle (tester t10 F9): helm-controller's
    /// `checkDependencies` holds each until the other is Ready (DependencyNotReady, requeued at
    /// `--requeue-dependency`), so none ever installs. At the first one's `dependsOn`.
    static func dependencyCycle(_ applied: AppliedObjects, fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        let releases = applied.all("HelmRelease").filter { $0.object.apiVersion.hasPrefix(group + "/") }.map(\.object)
        func id(_ release: KubeObject) -> String { "\(release.namespace ?? "default")/\(release.name)" }
        var edges: [String: [String]] = [:]
        var byID: [String: KubeObject] = [:]
        for release in releases where byID[id(release)] == nil {
            byID[id(release)] = release
            edges[id(release)] = (release.json["spec", "dependsOn"]?.array ?? []).compactMap { dependency in
                dependency["name"]?.string.map { "\(dependency["namespace"]?.string ?? release.namespace ?? "default")/\($0)" }
            }
        }
        guard let cycle = ClusterTreeReader.findCycle(releases.map(id), edges: edges), let first = byID[cycle[0]] else { return [] }
        return [.error(
            "The HelmReleases depend on each other in a cycle: \(cycle.map { "HelmRelease/\($0)" }.joined(separator: " → ")) → HelmRelease/\(cycle[0]). helm-controller holds each until its dependencies are Ready (DependencyNotReady), so none is ever installed.",
            title: "HelmRelease dependency cycle", fix: "Remove one of the dependsOn entries.",
            at: fieldSite(first, ["spec", "dependsOn"]))]
    }

    /// A HelmRelease whose `dependsOn` names a HelmRelease that only a Kustomization waiting
    /// for this one's Kustomization applies. helm-controller (`reconcileRelease`) marks the
    /// release Reconciling ("Fulfilling prerequisites"), then `checkDependencies` fails ("unable
    /// to get '…' dependency", or "dependency '…' is not ready") and requeues at
    /// `--requeue-dependency`, Ready=False DependencyNotReady, until the dependency exists and is
    /// Ready. That converges when the Kustomization applying it is Ready without it: without
    /// `spec.wait` (and no health check of it) kustomize-controller is Ready once the object is
    /// applied, so the dependent Kustomization runs, applies the dependency, and the release
    /// follows (no problem). With `spec.wait: true`, or a health check of the release,
    /// kustomize-controller waits for it with kstatus (Reconciling=True is InProgress) until
    /// `spec.timeout` and fails ("health check failed … timeout waiting for"), is never Ready,
    /// and the Kustomization that would apply the dependency never runs: a deadlock.
    ///
    /// The same holds for the chart source and a `valuesFrom` object (tester t11 F15): the
    /// release cannot install without them, so under `wait` the Kustomization that applies them
    /// after this one never runs. `need` says how the release needs the object.
    ///
    /// The same again for what a source needs before source-controller can fetch (its
    /// `secretRef`, `certSecretRef`: tester t12 F11), under `wait` (kstatus waits for the source's
    /// Ready), and for the binding that lets a HelmRelease's `serviceAccountName` install.
    enum Need {
        case dependency, chart, values, credentials, account
        var relation: String {
            switch self {
            case .dependency: "depends on"
            case .chart: "takes its chart from"
            case .values: "reads its values from"
            case .credentials: "authenticates with"
            case .account: "installs as a ServiceAccount bound by"
            }
        }
        /// What the controller does meanwhile.
        var held: String {
            switch self {
            case .dependency: "helm-controller holds it until it is Ready (DependencyNotReady)"
            case .chart: "helm-controller cannot fetch the chart until it exists (HelmChartNotReady)"
            case .values: "helm-controller fails to resolve the values until it exists"
            case .credentials: "source-controller fails to fetch until it exists"
            case .account: "helm-controller's install is forbidden until it exists"
            }
        }
        var title: String {
            switch self {
            case .dependency: "HelmRelease dependency applied by a dependent"
            case .chart: "Chart source applied by a dependent"
            case .values: "Values source applied by a dependent"
            case .credentials: "Source Secret applied by a dependent"
            case .account: "HelmRelease account bound by a dependent"
            }
        }
    }

    static func dependencyDeadlock(
        _ release: AppliedObjects.Owned, id: String, on dependencies: [AppliedObjects.Owned], shown: String, _ applied: AppliedObjects, need: Need = .dependency,
        at location: SourceLocation?
    ) -> Annotation? {
        let owner = release.owner
        guard case .deadlocked(let other) = applied.availability(of: dependencies, for: owner),
            let spec = applied.kustomizations[owner]?.object.json["spec"], ChartCRDSources.waits(applied.kustomizations[owner], for: release.object)
        else { return nil }
        let waits = spec["wait"]?.bool == true
        let timeout = spec["timeout"]?.string ?? spec["interval"]?.string ?? "its interval"
        let how = waits ? "has wait: true" : "health-checks \(id)"
        return .error(
            "\(id) \(need.relation) \(shown), which only the Kustomization \(other) applies; \(owner), which applies \(id), \(how), so it is Ready only once \(id) is, and \(need.held): kustomize-controller fails \(owner) after \(timeout) (\"health check failed\"), \(applied.deadlock(other, needs: owner)).",
            title: need.title,
            fix: "Move \(shown) into the build of \(owner) or of a Kustomization it depends on, or \(waits ? "drop wait: true from \(owner)" : "drop the health check of \(id)") (a dependsOn of \(owner) on \(other) would be a cycle).",
            at: location)
    }

    /// A chart from a GitRepository or Bucket: helm-controller creates a HelmChart whose
    /// `spec.chart` is this path, and source-controller's local chart builder
    /// (`internal/helm/chart/builder_local.go` `Build`: `securejoin.SecureJoin(artifact, path)`,
    /// then `LoadChartMetadata`, which reads `Chart.yaml` of a folder or opens a packaged chart
    /// file) fails with reason InvalidChartReference ("invalid chart reference: … no such file or
    /// directory") when the path is not in the source's artifact: the HelmChart is not Ready,
    /// and the HelmRelease never becomes Ready. Checked against the branch's own artifact;
    /// another source's artifact is not known here, so it is listed as not checked.
    static func chartPathProblems(_ id: String, kind: String, source: String, path: String, context: Context, at location: SourceLocation?) -> [Annotation] {
        guard kind == "GitRepository", source == context.artifactSource, let absence = context.absence else {
            return [Annotation(
                .notice,
                "\(id) takes its chart from the path \(path) of \(kind)/\(source), whose artifact fluxci does not fetch: that the chart is there is not checked.",
                title: "Chart path not checked", at: location)]
        }
        // securejoin keeps the path inside the artifact: a leading `/` or `./` is its root.
        let normalized = FluxKustomization.normalize(path)
        let chartFile = normalized.isEmpty ? "Chart.yaml" : normalized + "/Chart.yaml"
        if absence(chartFile) == nil { return [] }
        let reason: String
        if let why = absence(normalized) {
            reason = why
        } else if absence(normalized + "/") == nil {
            reason = "\(normalized.isEmpty ? "the artifact's root" : normalized) has no Chart.yaml in the artifact"
        } else {
            return []  // a file: a packaged chart, copied as it is
        }
        return [.error(
            "\(id) takes its chart from the path \(path) of GitRepository/\(source), but \(reason): source-controller fails the HelmChart (\"invalid chart reference: … no such file or directory\", reason InvalidChartReference), so helm-controller never gets the chart and the HelmRelease never becomes Ready.",
            title: "Chart path not in the artifact",
            fix: "Correct spec.chart.spec.chart to the chart's folder (the one holding Chart.yaml, relative to the repository's root), or keep it in the artifact (.sourceignore, spec.ignore).",
            at: location)]
    }
}
