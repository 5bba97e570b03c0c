import Actions
import Age
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t9 F2: a Kustomization that needs something only a Kustomization waiting for it
/// creates (its namespace, a substituteFrom source, its decryption Secret, its kubeconfig Secret,
/// a HelmRelease its HelmRelease depends on). kustomize-controller reconciles a Kustomization only
/// once every dependsOn is Ready, so the creator never runs: an error, whose fix is never a
/// dependsOn (that would be a cycle). With neither waiting for the other it is a race (a warning
/// whose dependsOn fix, applied, leaves no problem and no cycle); ordered, it is fine. Each shape
/// is planned with the real kubectl kustomize, and each fix the message gives is applied and the
/// fleet planned again.
@Suite struct DependentDeadlockTests {
    /// How the creator `apps` relates to the needer `infra`.
    enum Shape: String, CaseIterable, CustomStringConvertible {
        /// apps → configs → infra (dependsOn), the flux2-kustomize-helm-example chain.
        case transitive
        /// apps → infra.
        case direct
        /// infra applies the Kustomization apps (its parent).
        case child
        /// Neither depends on the other.
        case race
        /// infra depends on apps.
        case ordered
        var description: String { rawValue }
    }

    /// A needer `infra` (with `needs` in its spec, and `own` files in its build) and a creator
    /// `apps` whose build holds `made`, related as `shape` says.
    static func files(needs: String, own: [String: String], made: [String: String], shape: Shape, infraExtra: String = "") -> [String: String] {
        var files: [String: String] = [
            "clusters/c/configs.yaml": kustomization("configs", path: "./configs", extra: "  dependsOn: [{name: infra}]\n"),
            "configs/cm.yaml": configMap("configs", namespace: "default"),
        ]
        let infraDependsOn = shape == .ordered ? "  dependsOn: [{name: apps}]\n" : ""
        files["clusters/c/infra.yaml"] = kustomization("infra", path: "./infra", extra: needs + infraExtra + infraDependsOn)
        let apps: String = switch shape {
        case .transitive: kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: configs}]\n")
        case .direct: kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: infra}]\n")
        case .child, .race, .ordered: kustomization("apps", path: "./apps")
        }
        files[shape == .child ? "infra/apps-ks.yaml" : "clusters/c/apps.yaml"] = apps
        for (path, text) in own { files["infra/" + path] = text }
        for (path, text) in made { files["apps/" + path] = text }
        if made.isEmpty { files["apps/cm.yaml"] = configMap("apps", namespace: "default") }
        return files
    }

    static func plan(_ files: [String: String]) async throws -> ClusterTree {
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        return try fleet.read()
    }

    /// The `dependsOn: [{name: x, namespace: y}]` a fix suggests, as a spec line for infra.
    static func suggestedDependsOn(_ fix: String?) -> String? {
        guard let fix, let range = fix.range(of: #"dependsOn: \[\{name: [a-z0-9-]+(, namespace: [a-z0-9-]+)?\}\]"#, options: .regularExpression) else { return nil }
        return "  " + fix[range] + "\n"
    }

    /// Checks a need of infra's build under `wait: true` in every shape: where the creator waits
    /// for infra, a deadlock error at `file:line` naming `shown` and "has wait: true", whose fix
    /// is never a dependsOn; quiet for race and ordered, and quiet (no error) without wait. With
    /// `line` nil the need never deadlocks (an optional reference).
    static func checkUnderWait(own: [String: String], made: [String: String], title: String, file: String, line: Int?, shown: String) async throws {
        for shape in Shape.allCases {
            let waiting = try await plan(files(needs: "  wait: true\n", own: own, made: made, shape: shape))
            let problem = waiting.problem(title)
            switch (shape, line) {
            case (.transitive, let line?), (.direct, let line?), (.child, let line?):
                let deadlock = try #require(problem, "\(shape): \(waiting.problems)")
                #expect(deadlock.level == .error)
                #expect(deadlock.location == SourceLocation(file: file, line: line), "\(shape): \(deadlock.location as Any)")
                #expect(deadlock.message.contains(shown) && deadlock.message.contains("has wait: true"), "\(deadlock.message)")
                #expect(suggestedDependsOn(deadlock.fix) == nil, "\(deadlock.fix ?? "")")
            default:
                #expect(problem == nil, "\(shape): \(waiting.problems)")
            }
            let quiet = try await plan(files(needs: "", own: own, made: made, shape: shape))
            #expect(quiet.problem(title) == nil, "\(shape): \(quiet.problems)")
            #expect(quiet.errors.isEmpty, "\(shape): \(quiet.errors)")
        }
    }

    /// Checks one kind in every shape: deadlocks are errors naming the chain and no dependsOn on
    /// the creator; the race is a warning whose fix, applied, leaves neither the problem nor a
    /// cycle; ordered is quiet; and `moved` (the object moved into infra's own build, where the
    /// kind allows it) plans with no error.
    static func check(
        needs: String, own: [String: String] = [:], made: [String: String], race raceTitle: String, deadlock deadlockTitle: String,
        moved: [String: String]? = nil, infraExtra: String = "", childTitle: String? = nil, line: Int
    ) async throws {
        for shape in Shape.allCases {
            let tree = try await plan(files(needs: needs, own: own, made: made, shape: shape, infraExtra: infraExtra))
            let deadlock = tree.problem(deadlockTitle)
            let race = tree.problem(raceTitle)
            #expect(tree.problem("Dependency cycle") == nil, "\(shape): \(tree.problems)")
            switch shape {
            case .child where childTitle != nil:
                // The parent never builds without what it needs, so its child is never created
                // (nor built by fluxci): the error names the child as the possible creator.
                let problem = try #require(tree.problem(childTitle!), "\(shape): \(tree.problems)")
                #expect(problem.level == .error && race == nil, "\(shape): \(problem)")
                #expect(problem.location == SourceLocation(file: "clusters/c/infra.yaml", line: line), "\(shape): \(problem.location as Any)")
                #expect(problem.message.contains("flux-system/apps itself"), "\(shape): \(problem.message)")
                #expect(suggestedDependsOn(problem.fix) == nil, "\(shape): \(problem.fix ?? "")")
            case .transitive, .direct, .child:
                let problem = try #require(deadlock, "\(shape): \(tree.problems)")
                #expect(race == nil, "\(shape): \(race as Any)")
                #expect(problem.level == .error, "\(shape)")
                #expect(problem.location == SourceLocation(file: "clusters/c/infra.yaml", line: line) || problem.location?.file.hasPrefix("infra/") == true, "\(shape): \(problem.location as Any)")
                let chain = switch shape {
                case .transitive: "flux-system/apps → flux-system/configs → flux-system/infra"
                default: "flux-system/apps → flux-system/infra"
                }
                #expect(problem.message.contains(chain), "\(shape): \(problem.message)")
                #expect(suggestedDependsOn(problem.fix) == nil, "\(shape): \(problem.fix ?? "")")
                #expect(problem.fix?.contains("would be a cycle") == true, "\(shape): \(problem.fix ?? "")")
            case .race:
                let problem = try #require(race, "\(shape): \(tree.problems)")
                #expect(deadlock == nil)
                #expect(problem.level == .warning)
                // Apply the fix the message gives and plan again: no race, no cycle, no error.
                let dependsOn = try #require(suggestedDependsOn(problem.fix), "\(problem.fix ?? "")")
                let fixed = try await plan(files(needs: needs, own: own, made: made, shape: .race, infraExtra: infraExtra + dependsOn))
                #expect(fixed.problem(raceTitle) == nil, "\(fixed.problems)")
                #expect(fixed.problem("Dependency cycle") == nil, "\(fixed.problems)")
                #expect(fixed.problem(deadlockTitle) == nil, "\(fixed.problems)")
            case .ordered:
                #expect(deadlock == nil && race == nil, "\(tree.problems)")
            }
        }
        // The deadlock's fix applied: the object moved into infra's own build (or one infra
        // depends on), planned again with the transitive chain.
        if let moved {
            let tree = try await plan(files(needs: needs, own: own.merging(moved) { $1 }, made: [:], shape: .transitive, infraExtra: infraExtra))
            #expect(tree.problem(deadlockTitle) == nil && tree.problem(raceTitle) == nil, "\(tree.problems)")
            #expect(tree.errors.isEmpty, "\(tree.errors)")
        }
    }

    static let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n"

    /// Repro t9/10: infra applies an object in podinfo, whose Namespace only apps creates.
    @Test func namespaceCreatedByADependent() async throws {
        try await Self.check(
            needs: "", own: ["repository.yaml": configMap("podinfo-source", namespace: "podinfo")], made: ["ns.yaml": Self.namespace],
            race: "Namespace created by another Kustomization", deadlock: "Namespace created by a dependent",
            moved: ["ns.yaml": Self.namespace], line: 0)
    }

    /// Repro t9/25: infra substitutes from a ConfigMap only apps creates.
    @Test func substituteFromCreatedByADependent() async throws {
        try await Self.check(
            needs: "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n",
            own: ["cm.yaml": configMap("infra", namespace: "default", data: "domain: ${DOMAIN:=x}")],
            made: ["settings.yaml": configMap("cluster-settings", namespace: "flux-system", data: "DOMAIN: example.com")],
            race: "substituteFrom created by another Kustomization", deadlock: "substituteFrom created by a dependent", childTitle: "Unknown substituteFrom", line: 17)
    }

    /// `optional: true` skips a source that does not exist yet: infra applies with the variables
    /// empty and converges later, so a dependent creator is a warning, not a deadlock.
    @Test func optionalSubstituteFromCreatedByADependentIsAWarning() async throws {
        let tree = try await Self.plan(Self.files(
            needs: "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n        optional: true\n",
            own: ["cm.yaml": configMap("infra", namespace: "default")],
            made: ["settings.yaml": configMap("cluster-settings", namespace: "flux-system", data: "DOMAIN: example.com")], shape: .transitive))
        let problem = try #require(tree.problem("substituteFrom created by a dependent"), "\(tree.problems)")
        #expect(problem.level == .warning)
        #expect(problem.message.contains("empty"), "\(problem.message)")
        #expect(Self.suggestedDependsOn(problem.fix) == nil)
    }

    static let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: infra-age\n  namespace: flux-system\nstringData:\n  age.agekey: \(X25519Identity.generate().encoded)\n"

    /// Repro t9/51: infra decrypts with a Secret only apps creates.
    @Test func decryptionSecretCreatedByADependent() async throws {
        try await Self.check(
            needs: "  decryption:\n    provider: sops\n    secretRef:\n      name: infra-age\n", made: ["secret.yaml": Self.secret],
            race: "Decryption Secret created by another Kustomization", deadlock: "Decryption Secret created by a dependent", line: 17)
    }

    /// The same code path: infra reads its kubeconfig from a Secret only apps creates.
    @Test func kubeConfigSecretCreatedByADependent() async throws {
        let secret = Self.secret.replacingOccurrences(of: "infra-age", with: "remote")
        try await Self.check(
            needs: "  kubeConfig:\n    secretRef:\n      name: remote\n", made: ["secret.yaml": secret],
            race: "kubeconfig Secret created by another Kustomization", deadlock: "kubeConfig Secret created by a dependent", line: 16)
    }

    /// Impersonation: infra applies as a ServiceAccount whose RoleBinding only apps applies.
    @Test func roleBindingAppliedByADependent() async throws {
        let binding = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: deployer, namespace: flux-system}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
            subjects: [{kind: ServiceAccount, name: deployer, namespace: flux-system}]
            """
        try await Self.check(
            needs: "  serviceAccountName: deployer\n", made: ["binding.yaml": binding],
            race: "Impersonated account bound by another Kustomization", deadlock: "Impersonated account bound by a dependent", line: 14)
    }

    /// A custom resource whose CRD only apps installs.
    @Test func crdInstalledByADependent() async throws {
        let crd = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {kind: Widget, plural: widgets}
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
            """
        try await Self.check(
            needs: "", own: ["widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\n"], made: ["crd.yaml": crd],
            race: "CRD installed by another Kustomization", deadlock: "CRD installed by a dependent", moved: ["crd.yaml": crd], line: 0)
    }

    // MARK: HelmRelease dependsOn

    static func release(_ name: String, dependsOn: String = "") -> String {
        """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: \(name)
          namespace: flux-system
        spec:
          interval: 10m
          chart:
            spec:
              chart: \(name)
              sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}
        \(dependsOn)
        """
    }

    static let repository = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec: {interval: 1h, url: https://example.com/charts}\n"

    /// Repro t9/52: the cert-manager HelmRelease (infra, `wait: true`) depends on the podinfo
    /// HelmRelease, which only apps applies: a deadlock. Without wait (and no health check of
    /// it) infra is Ready once it applied the release, apps runs, and helm-controller installs
    /// cert-manager after podinfo: quiet. A health check of the release is the same as wait.
    @Test func helmReleaseDependingOnOneADependentApplies() async throws {
        let own = ["repository.yaml": Self.repository, "cert-manager.yaml": Self.release("cert-manager", dependsOn: "  dependsOn:\n    - name: podinfo\n")]
        let made = ["podinfo.yaml": Self.release("podinfo")]
        let title = "HelmRelease dependency applied by a dependent"
        try await Self.checkUnderWait(own: own, made: made, title: title, file: "infra/cert-manager.yaml", line: 13, shown: "HelmRelease/flux-system/podinfo")
        let checked = try await Self.plan(Self.files(
            needs: "  healthChecks:\n    - {apiVersion: helm.toolkit.fluxcd.io/v2, kind: HelmRelease, name: cert-manager, namespace: flux-system}\n",
            own: own, made: made, shape: .transitive))
        let problem = try #require(checked.problem(title), "\(checked.problems)")
        #expect(problem.message.contains("health-checks"), "\(problem.message)")
        // The fix applied: podinfo moved into infra's own build.
        let moved = try await Self.plan(Self.files(needs: "  wait: true\n", own: own.merging(made) { $1 }, made: [:], shape: .transitive))
        #expect(moved.problem(title) == nil && moved.errors.isEmpty, "\(moved.problems)")
    }
}

/// Tester t11 F15: under `wait: true`, a HelmRelease's chart source or valuesFrom object that only
/// a Kustomization waiting for the release's Kustomization applies is a deadlock (the release
/// cannot install without it), at the reference; without wait it is a delay (quiet).
@Suite struct ReleaseSourceDeadlockTests {
    static let values = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vals, namespace: flux-system}\ndata: {values.yaml: \"replicas: 2\"}\n"

    @Test(arguments: [
        (title: "Chart source applied by a dependent", line: 11, shown: "HelmRepository/flux-system/charts"),
        (title: "Values source applied by a dependent", line: 13, shown: "ConfigMap/flux-system/vals"),
    ])
    func aChartOrValuesSourceADependentAppliesIsADeadlockUnderWait(title: String, line: Int, shown: String) async throws {
        let chart = title.hasPrefix("Chart")
        let release = DependentDeadlockTests.release("cert-manager", dependsOn: chart ? "" : "  valuesFrom:\n    - {kind: ConfigMap, name: vals}\n")
        let own = chart ? ["cert-manager.yaml": release] : ["repository.yaml": DependentDeadlockTests.repository, "cert-manager.yaml": release]
        let made = chart ? ["repository.yaml": DependentDeadlockTests.repository] : ["vals.yaml": Self.values]
        try await DependentDeadlockTests.checkUnderWait(own: own, made: made, title: title, file: "infra/cert-manager.yaml", line: line, shown: shown)
    }
}

/// Tester t12 F11: the same for what a HelmRelease's `serviceAccountName` needs (a binding) and
/// for a source's `secretRef`: only a Kustomization waiting for the waiting one applies it.
@Suite struct ReconcileReferenceDeadlockTests {
    @Test func anAccountBindingADependentAppliesIsADeadlockUnderWait() async throws {
        let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: deployer, namespace: flux-system}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: flux-system}]\n"
        let release = DependentDeadlockTests.release("cert-manager", dependsOn: "  serviceAccountName: deployer\n")
        try await DependentDeadlockTests.checkUnderWait(
            own: ["repository.yaml": DependentDeadlockTests.repository, "cert-manager.yaml": release], made: ["binding.yaml": binding],
            title: "HelmRelease account bound by a dependent", file: "infra/cert-manager.yaml", line: 12, shown: "RoleBinding/flux-system/deployer")
    }

    @Test func aSourceSecretADependentAppliesIsADeadlockUnderWait() async throws {
        let repository = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec:\n  interval: 1h\n  url: https://example.com/charts\n  secretRef: {name: charts-auth}\n"
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: charts-auth, namespace: flux-system}\nstringData: {username: u, password: p}\n"
        try await DependentDeadlockTests.checkUnderWait(
            own: ["repository.yaml": repository, "cert-manager.yaml": DependentDeadlockTests.release("cert-manager")], made: ["auth.yaml": secret],
            title: "Source Secret applied by a dependent", file: "infra/repository.yaml", line: 7, shown: "Secret/flux-system/charts-auth")
    }
}

/// Tester t11 F16: under `wait: true`, a Deployment whose pods need a Secret or ConfigMap only a
/// Kustomization waiting for the Deployment's Kustomization applies is a deadlock, at the
/// reference; optional references and runs without wait are quiet.
@Suite struct WorkloadReferenceDeadlockTests {
    static func deployment(_ reference: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: shop, namespace: default}
        spec:
          selector: {matchLabels: {app: shop}}
          template:
            metadata: {labels: {app: shop}}
            spec:
              containers:
                - name: shop
                  image: nginx
        \(reference)
        """
    }

    @Test(arguments: [
        (reference: "          envFrom:\n            - secretRef: {name: creds}\n", kind: "Secret", line: 13 as Int?),
        (reference: "          env:\n            - name: A\n              valueFrom: {configMapKeyRef: {name: creds, key: a}}\n", kind: "ConfigMap", line: 13),
        (reference: "      volumes:\n        - name: v\n          secret: {secretName: creds}\n", kind: "Secret", line: 13),
        (reference: "          envFrom:\n            - secretRef: {name: creds, optional: true}\n", kind: "Secret", line: nil),
    ])
    func aPodReferenceADependentAppliesIsADeadlockUnderWait(reference: String, kind: String, line: Int?) async throws {
        let made = kind == "Secret"
            ? "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\nstringData: {a: b}\n"
            : "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: creds, namespace: default}\ndata: {a: b}\n"
        let own = ["shop.yaml": Self.deployment(reference)]
        try await DependentDeadlockTests.checkUnderWait(
            own: own, made: ["creds.yaml": made], title: "\(kind) applied by a dependent", file: "infra/shop.yaml", line: line, shown: "\(kind)/default/creds")
    }
}

/// Tester t9 F6: a reference that no built Kustomization satisfies, in a cluster where some
/// Kustomization was not built (another source: a tenant's GitRepository, an OCIRepository):
/// what that one applies is unknown, so a warning naming it and its source; an error when every
/// Kustomization was built.
@Suite struct UnbuiltSourceReferenceTests {
    /// An OCIRepository `source` and the Kustomization `name` sourced from it (which fluxci does
    /// not build), impersonating `account` when one is given.
    static func sourcedElsewhere(_ name: String, source: String, account: String = "") -> String {
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: OCIRepository
        metadata: {name: \(source), namespace: flux-system}
        spec: {interval: 1m, url: oci://example.com/\(source), ref: {tag: latest}}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: \(name), namespace: flux-system}
        spec: {interval: 1m, path: ./, prune: true, sourceRef: {kind: OCIRepository, name: \(source)}\(account.isEmpty ? "" : ", serviceAccountName: \(account)")}
        """
    }

    static let tenant = sourcedElsewhere("tenant", source: "tenant")

    static func fleet(unbuilt: Bool) -> [String: String] {
        var files: [String: String] = [
            "clusters/c/monitoring.yaml": kustomization("monitoring", path: "./monitoring", extra: "  dependsOn:\n    - name: podinfo\n      namespace: apps\n"),
            "monitoring/repository.yaml": DependentDeadlockTests.repository,
            "monitoring/release.yaml": DependentDeadlockTests.release("grafana", dependsOn: "  dependsOn:\n    - name: podinfo\n      namespace: apps\n"),
            "monitoring/other.yaml": """
                apiVersion: helm.toolkit.fluxcd.io/v2
                kind: HelmRelease
                metadata: {name: loki, namespace: flux-system}
                spec:
                  interval: 10m
                  chart: {spec: {chart: loki, sourceRef: {kind: HelmRepository, name: tenant-charts}}}
                """,
        ]
        if unbuilt { files["clusters/c/tenant.yaml"] = tenant }
        return files
    }

    /// Repro t9/37: a Kustomization, a HelmRelease dependsOn and a chart sourceRef only the
    /// tenant's artifact can define.
    @Test func referencesOnlyAnUnbuiltSourceCanDefineAreWarnings() async throws {
        let tree = try await DependentDeadlockTests.plan(Self.fleet(unbuilt: true))
        let dependencies = tree.problems.filter { $0.title == "Unknown dependency" }
        #expect(dependencies.count == 2, "\(tree.problems)")
        #expect(dependencies.allSatisfy { $0.level == .warning }, "\(dependencies)")
        let kustomization = try #require(dependencies.first { $0.message.hasPrefix("The Kustomization flux-system/monitoring") })
        #expect(kustomization.message.contains("apps/podinfo"))
        #expect(kustomization.message.contains("unless a Kustomization fluxci did not build (flux-system/tenant, sourced from OCIRepository/flux-system/tenant) defines it"), "\(kustomization.message)")
        #expect(kustomization.location == SourceLocation(file: "clusters/c/monitoring.yaml", line: 15))
        let release = try #require(dependencies.first { $0.message.hasPrefix("HelmRelease/flux-system/grafana") })
        #expect(release.message.contains("OCIRepository/flux-system/tenant"), "\(release.message)")
        let chart = try #require(tree.problem("Unknown chart source"))
        #expect(chart.level == .warning)
        #expect(chart.message.contains("flux-system/tenant, sourced from OCIRepository/flux-system/tenant"), "\(chart.message)")
        #expect(tree.errors.isEmpty, "\(tree.errors)")
    }

    /// Tester t11 F12, F25: a substituteFrom object only a Kustomization fluxci does not build
    /// can create follows the same rule as the other references: a warning naming it when it may
    /// write there and does not wait for the needer, and the needer is still built (its variables
    /// unknown, not unset: strict substitution does not fail on them); an error otherwise. A
    /// dependency sourced elsewhere is no "dependency that does not build".
    @Test(arguments: [(dependsOn: true, account: ""), (dependsOn: false, account: ""), (dependsOn: true, account: "tenant")])
    func aSubstituteFromObjectOnlyAnUnbuiltKustomizationCanCreateIsAWarning(dependsOn: Bool, account: String) async throws {
        let platform = Self.sourcedElsewhere("platform-oci", source: "platform", account: account)
        let files: [String: String] = [
            "clusters/c/platform.yaml": platform,
            "clusters/c/infra.yaml": kustomization(
                "infra", path: "./infra",
                extra: (dependsOn ? "  dependsOn: [{name: platform-oci}]\n" : "")
                    + "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-vars\n"),
            "infra/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {region: \"${CLUSTER_REGION}\"}\n",
        ]
        let tree = try await DependentDeadlockTests.plan(files)
        let problem = try #require(tree.problem("Unknown substituteFrom"), "\(tree.problems)")
        #expect(problem.location == SourceLocation(file: "clusters/c/infra.yaml", line: dependsOn ? 18 : 17), "\(problem)")
        if account.isEmpty {
            #expect(problem.level == .warning, "\(problem)")
            #expect(problem.message.contains("flux-system/platform-oci, sourced from OCIRepository/flux-system/platform"), "\(problem.message)")
            #expect(tree.errors.isEmpty, "\(tree.errors)")
            #expect(tree.problem("substituteFrom not checked") == nil)
            let built = tree.objects[FluxKustomization.Reference(namespace: "flux-system", name: "infra")] ?? []
            #expect(built.contains { $0.name == "settings" }, "infra is built: \(tree.builds)")
        } else {
            // Impersonating an account that no binding lets write anywhere: it cannot create it.
            #expect(problem.level == .error, "\(problem)")
            #expect(!problem.message.contains("platform-oci"), "\(problem.message)")
        }
    }

    /// Every Kustomization built: the same references are errors.
    @Test func referencesNothingDefinesAreErrorsWhenEverythingWasBuilt() async throws {
        let tree = try await DependentDeadlockTests.plan(Self.fleet(unbuilt: false))
        let dependencies = tree.problems.filter { $0.title == "Unknown dependency" }
        #expect(dependencies.count == 2, "\(tree.problems)")
        #expect(dependencies.allSatisfy { $0.level == .error && !$0.message.contains("did not build") }, "\(dependencies)")
        #expect(tree.problem("Unknown chart source")?.level == .error)
    }

    /// A tenant that impersonates an account bound only in its own namespace cannot create what
    /// another namespace needs (the API server refuses it): the reference stays an error. Bound
    /// by a ClusterRoleBinding, it could: a warning. A Kustomization of the branch's own source
    /// whose build fails applies nothing in the cluster either: no "unless" for it.
    @Test func onlyAnUnbuiltKustomizationThatMayWriteThereTurnsAnErrorIntoAWarning() async throws {
        let tenant = """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {name: team-a, namespace: team-a}
            spec: {interval: 1m, url: https://example.com/team-a, ref: {branch: main}}
            ---
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {name: team-a, namespace: team-a}
            spec: {interval: 1m, path: ./, prune: true, serviceAccountName: team-a, sourceRef: {kind: GitRepository, name: team-a}}
            """
        func binding(_ kind: String) -> String {
            """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: \(kind)
            metadata: {name: team-a\(kind == "RoleBinding" ? ", namespace: team-a" : "")}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
            subjects: [{kind: ServiceAccount, name: team-a, namespace: team-a}]
            """
        }
        func files(_ bindingKind: String, broken: Bool = false) -> [String: String] {
            [
                "clusters/c/tenants.yaml": kustomization("tenants", path: "./tenants"),
                "tenants/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: team-a, namespace: team-a}\n",
                "tenants/binding.yaml": binding(bindingKind),
                "tenants/team-a.yaml": tenant,
                "clusters/c/broken.yaml": kustomization("broken", path: broken ? "./missing" : "./tenants-extra"),
                "tenants-extra/cm.yaml": configMap("extra", namespace: "default"),
                "clusters/c/team-b.yaml": kustomization("team-b-apps", namespace: "team-b", path: "./apps", extra: "  decryption:\n    provider: sops\n    secretRef: {name: sops-age}\n"),
                "apps/cm.yaml": configMap("web", namespace: "team-b"),
                "apps/release.yaml": """
                    apiVersion: helm.toolkit.fluxcd.io/v2
                    kind: HelmRelease
                    metadata: {name: web, namespace: team-b}
                    spec:
                      interval: 10m
                      chart: {spec: {chart: web, sourceRef: {kind: HelmRepository, name: charts}}}
                    """,
            ]
        }
        for (kind, level) in [("RoleBinding", Annotation.Level.error), ("ClusterRoleBinding", .warning)] {
            for broken in [false, true] {
                let tree = try await DependentDeadlockTests.plan(files(kind, broken: broken))
                let mismatch = try #require(tree.problem("Decryption Secret mismatch"), "\(kind): \(tree.problems)")
                #expect(mismatch.level == level, "\(kind), broken \(broken): \(mismatch)")
                #expect(mismatch.message.contains("team-a/team-a") == (level == .warning), "\(mismatch.message)")
                #expect(!mismatch.message.contains("flux-system/broken"), "\(mismatch.message)")
                // The same rule for a HelmRelease's chart source in team-b.
                let chart = try #require(tree.problem("Unknown chart source"), "\(kind): \(tree.problems)")
                #expect(chart.level == level, "\(kind): \(chart)")
                #expect(chart.message.contains("team-a/team-a") == (level == .warning), "\(chart.message)")
            }
        }
    }
}
