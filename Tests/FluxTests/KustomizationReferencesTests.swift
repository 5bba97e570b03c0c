import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// What a Flux Kustomization names besides its source (health checks, the impersonated
/// ServiceAccount, a kubeconfig Secret, substituteFrom sources) and the custom resources it
/// applies, against what the cluster's Kustomizations apply, each on a fleet built with the real
/// `kubectl kustomize` (tester t3: F21, F25, F7, F16). Both directions: the broken reference is
/// reported at its field's line, its valid neighbour is not.
@Suite struct KustomizationReferencesTests {
    static func deployment(_ name: String, namespace: String = "default") -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec: {containers: [{name: \(name), image: nginx}]}
        """
    }

    static func healthCheck(_ kind: String, _ apiVersion: String, _ name: String, _ namespace: String) -> String {
        "    - {apiVersion: \(apiVersion), kind: \(kind), name: \(name), namespace: \(namespace)}\n"
    }

    /// F21: health checks of objects nothing applies fail the Kustomization after its timeout
    /// (one error per entry, at the entry); one only a dependant applies is a deadlock; an object
    /// of its own build, or a Kustomization with `wait: true` (health checks ignored), is fine.
    @Test func healthChecksOfNothingAreErrors() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  timeout: 2m\n  healthChecks:\n"
                + Self.healthCheck("Deployment", "apps/v1", "wbe", "default") + Self.healthCheck("HelmRelease", "helm.toolkit.fluxcd.io/v2", "ingress-nginx", "flux-system")),
            "clusters/c/fine.yaml": kustomization("fine", path: "./fine", extra: "  healthChecks:\n" + Self.healthCheck("Deployment", "apps/v1", "web", "default")),
            "clusters/c/waits.yaml": kustomization("waits", path: "./apps", extra: "  wait: true\n  healthChecks:\n" + Self.healthCheck("Deployment", "apps/v1", "gone", "default")),
            "clusters/c/early.yaml": kustomization("early", path: "./apps", extra: "  healthChecks:\n" + Self.healthCheck("Deployment", "apps/v1", "late", "default")),
            "clusters/c/late.yaml": kustomization("late", path: "./late", extra: "  dependsOn: [{name: early}]\n"),
            "apps/cm.yaml": configMap("app", namespace: "default"),
            "fine/web.yaml": Self.deployment("web"),
            "late/late.yaml": Self.deployment("late"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let nothing = tree.problems.filter { $0.title == "Health check of nothing" }
        #expect(nothing.count == 2, "\(nothing)")
        #expect(nothing.allSatisfy { $0.level == .error })
        let web = try #require(nothing.first { $0.message.contains("Deployment/default/wbe") })
        #expect(web.location == SourceLocation(file: "clusters/c/apps.yaml", line: 16))
        #expect(web.message.contains("waits 2m for it") && web.message.contains("status: 'NotFound'"), "\(web.message)")
        #expect(web.message.contains("Did you mean default/web?"), "\(web.message)")
        let release = try #require(nothing.first { $0.message.contains("HelmRelease/flux-system/ingress-nginx") })
        #expect(release.location == SourceLocation(file: "clusters/c/apps.yaml", line: 17))
        let deadlock = try #require(tree.problem("Health check deadlock"))
        #expect(deadlock.location == SourceLocation(file: "clusters/c/early.yaml", line: 15))
        #expect(deadlock.message.contains("only flux-system/late applies"), "\(deadlock.message)")
        #expect(tree.problems.filter { $0.title?.hasPrefix("Health check") == true }.count == 3, "fine and waits are not reported: \(tree.problems)")

        // Sourced from another repository (not built here): it health-checks its own build's
        // Deployment, which is not known here: nothing said (tester t20 F1).
        let other = try await Fleet.make([
            "clusters/c/backend.yaml": SameRepositorySourceTests.source("backend", url: "https://example.com/backend.git") + "---\n"
                + SameRepositorySourceTests.sourced("backend", path: "./deploy", source: "backend") + "  healthChecks:\n" + Self.healthCheck("Deployment", "apps/v1", "backend", "default"),
        ])
        defer { other.remove() }
        #expect(try other.read().problems.filter { $0.title?.hasPrefix("Health check") == true }.isEmpty)
    }

    static let roleBinding = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: reconciler, namespace: flux-system}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
        subjects: [{kind: ServiceAccount, name: reconciler, namespace: flux-system}]
        """

    /// F25: `serviceAccountName` is impersonated as `system:serviceaccount:<ns>:<name>`: with no
    /// binding for it in the tree every dry-run is forbidden (error at the field); a binding in a
    /// Kustomization depended on is fine, one in another is a race (warning). A kubeconfig
    /// Secret nothing creates is an error; an existing one still targets another cluster (warning).
    @Test func impersonationAndKubeconfigNeedWhatTheyName() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/rbac.yaml": kustomization("rbac", path: "./rbac"),
            "clusters/c/tenant.yaml": kustomization("tenant", path: "./apps", extra: "  serviceAccountName: team-a-reconciler\n"),
            "clusters/c/bound.yaml": kustomization("bound", path: "./apps", extra: "  dependsOn: [{name: rbac}]\n  serviceAccountName: reconciler\n"),
            "clusters/c/racy.yaml": kustomization("racy", path: "./apps", extra: "  serviceAccountName: reconciler\n"),
            "clusters/c/remote.yaml": kustomization("remote", path: "./apps", extra: "  kubeConfig:\n    secretRef: {name: remote-kubeconfig}\n"),
            "clusters/c/staging.yaml": kustomization("staging", path: "./apps", extra: "  kubeConfig:\n    secretRef: {name: staging-kubeconfig}\n"),
            "clusters/c/kubeconfig.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: staging-kubeconfig, namespace: flux-system}\nstringData: {value: x}\n",
            "rbac/binding.yaml": Self.roleBinding,
            "apps/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let unbound = tree.problems.filter { $0.title == "Impersonated account has no permissions" }
        #expect(unbound.count == 1, "\(unbound)")
        #expect(unbound.first?.level == .error)
        #expect(unbound.first?.location == SourceLocation(file: "clusters/c/tenant.yaml", line: 14))
        #expect(unbound.first?.message.contains("impersonates system:serviceaccount:flux-system:team-a-reconciler") == true, "\(unbound)")
        let race = tree.problems.filter { $0.title == "Impersonated account bound by another Kustomization" }
        #expect(race.count == 1 && race.first?.level == .warning, "\(race)")
        #expect(race.first?.location == SourceLocation(file: "clusters/c/racy.yaml", line: 14))
        #expect(race.first?.fix?.contains("dependsOn: [{name: rbac}]") == true)
        let missing = try #require(tree.problem("Unknown kubeconfig Secret"))
        #expect(missing.level == .error)
        #expect(missing.location == SourceLocation(file: "clusters/c/remote.yaml", line: 15))
        #expect(missing.message.contains("unable to read KubeConfig secret 'flux-system/remote-kubeconfig'"))
        let remote = tree.problems.filter { $0.title == "Kustomization for another cluster" }
        #expect(remote.count == 1 && remote.first?.level == .warning, "\(remote)")
        #expect(remote.first?.location == SourceLocation(file: "clusters/c/staging.yaml", line: 15))
    }

    /// Tester t12 F4: a RoleBinding grants only in its namespace. The impersonated account bound
    /// in `team` applies a ConfigMap in `team` (fine), and its build also holds a Namespace
    /// (cluster-scoped) or a ConfigMap in `other`: the API server forbids them, an error at the
    /// object's line. A ClusterRoleBinding to cluster-admin reaches everything.
    @Test func anAccountBoundInOneNamespaceIsForbiddenElsewhere() async throws {
        func binding(_ kind: String, namespace: String?) -> String {
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: \(kind)\nmetadata: {name: team-\(kind.lowercased())\(namespace.map { ", namespace: \($0)" } ?? "")}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: \(kind == "RoleBinding" ? "admin" : "cluster-admin")}\nsubjects: [{kind: ServiceAccount, name: team, namespace: flux-system}]\n"
        }
        let namespaces = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n"
        func fleet(_ build: [String: String], clusterWide: Bool) async throws -> Fleet {
            try await Fleet.make([
                "clusters/c/rbac.yaml": kustomization("rbac", path: "./rbac"),
                "clusters/c/team.yaml": kustomization("team", path: "./team", extra: "  dependsOn: [{name: rbac}]\n  serviceAccountName: team\n"),
                "rbac/namespaces.yaml": namespaces,
                "rbac/binding.yaml": clusterWide ? binding("ClusterRoleBinding", namespace: nil) : binding("RoleBinding", namespace: "team"),
            ].merging(build) { a, _ in a })
        }
        let inside = ["team/cm.yaml": configMap("app", namespace: "team")]
        let fine = try await fleet(inside, clusterWide: false)
        defer { fine.remove() }
        #expect(try fine.read().problems.filter { $0.title == "Impersonated account forbidden" }.isEmpty)

        let outside = try await fleet(inside.merging(["team/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n", "team/other.yaml": configMap("x", namespace: "other")]) { a, _ in a }, clusterWide: false)
        defer { outside.remove() }
        let forbidden = try outside.read().problems.filter { $0.title == "Impersonated account forbidden" }
        #expect(forbidden.count == 1 && forbidden.first?.level == .error, "\(forbidden)")
        #expect(forbidden.first?.location == SourceLocation(file: "team/ns.yaml", line: 1), "\(forbidden)")
        #expect(forbidden.first?.message.contains("Namespace/extra (cluster-scoped), ConfigMap/other/x") == true && forbidden.first?.message.contains("bound by RoleBinding team/team-rolebinding → ClusterRole admin") == true, "\(forbidden)")

        let everywhere = try await fleet(inside.merging(["team/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n", "team/other.yaml": configMap("x", namespace: "other")]) { a, _ in a }, clusterWide: true)
        defer { everywhere.remove() }
        #expect(try everywhere.read().problems.filter { $0.title == "Impersonated account forbidden" }.isEmpty)
    }

    /// Tester t20 F4: what the bound role allows. A Role that patches only Deployments, or the
    /// built-in `view`, forbids a ConfigMap; `admin` forbids a ResourceQuota but not a ConfigMap;
    /// a ClusterRole of the tree that aggregates into `admin` (as Flux's flux-edit does) adds
    /// its rules; `cluster-admin` and a role fluxci does not know are never a verdict.
    @Test(arguments: [
        ("Role", "deployer", "configmap", true),
        ("ClusterRole", "view", "configmap", true),
        ("ClusterRole", "admin", "configmap", false),
        ("ClusterRole", "admin", "quota", true),
        ("ClusterRole", "admin", "widget", false),  // aggregated into admin by the tree's ClusterRole
        ("ClusterRole", "cluster-admin", "quota", false),
        ("ClusterRole", "someone-elses", "quota", false),  // not in the tree, not built in: unknown
    ])
    func theBoundRolesRulesDecide(roleKind: String, role: String, object: String, forbidden: Bool) async throws {
        let objects = [
            "configmap": configMap("app", namespace: "team"),
            "quota": "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: team}\nspec: {hard: {pods: \"10\"}}\n",
            "widget": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team}\n",
        ]
        let rbac = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: team}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: deployer, namespace: team}
            rules: [{apiGroups: [apps], resources: [deployments], verbs: ["*"]}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: widgets-edit
              labels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}
            rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get, list, create, update, patch, delete]}]
            ---
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: team, namespace: team}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: \(roleKind), name: \(role)}
            subjects: [{kind: ServiceAccount, name: team, namespace: flux-system}]

            """
        let fleet = try await Fleet.make([
            "clusters/c/rbac.yaml": kustomization("rbac", path: "./rbac"),
            "clusters/c/team.yaml": kustomization("team", path: "./team", extra: "  dependsOn: [{name: rbac}]\n  serviceAccountName: team\n"),
            "rbac/rbac.yaml": rbac,
            "team/object.yaml": objects[object]!,
        ])
        defer { fleet.remove() }
        let found = try fleet.read().problems.filter { $0.title == "Impersonated account forbidden" }
        #expect(found.count == (forbidden ? 1 : 0), "\(found)")
        if forbidden {
            #expect(found.first?.level == .error && found.first?.location == SourceLocation(file: "team/object.yaml", line: 1), "\(found)")
            #expect(found.first?.message.contains("→ \(roleKind) \(role)") == true, "\(found)")
        }
    }

    /// F7: a substituteFrom ConfigMap or Secret that a sibling applies, without a dependsOn on
    /// it, is a race (warning at the entry; with optional: true the variables come out empty);
    /// with the dependsOn, or created by the parent's build, it is not.
    @Test func substituteFromASiblingWithoutDependsOnIsARace() async throws {
        let from = "  postBuild:\n    substituteFrom:\n      - {kind: ConfigMap, name: cluster-settings}\n      - {kind: Secret, name: cluster-secrets}\n"
        let fleet = try await Fleet.make([
            "clusters/c/vars.yaml": kustomization("vars", path: "./vars"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: from),
            "clusters/c/ordered.yaml": kustomization("ordered", path: "./apps", extra: "  dependsOn: [{name: vars}]\n" + from),
            "clusters/c/optional.yaml": kustomization("optional", path: "./apps", extra: "  postBuild:\n    substituteFrom:\n      - {kind: ConfigMap, name: cluster-settings, optional: true}\n"),
            "clusters/c/parented.yaml": kustomization("parented", path: "./apps", extra: "  postBuild:\n    substituteFrom:\n      - {kind: ConfigMap, name: root-settings}\n"),
            "clusters/c/root-settings.yaml": configMap("root-settings", namespace: "flux-system", data: "A: b"),
            "vars/settings.yaml": configMap("cluster-settings", namespace: "flux-system", data: "DOMAIN: example.com"),
            "vars/secrets.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: cluster-secrets, namespace: flux-system}\nstringData: {TOKEN: t}\n",
            "apps/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let races = tree.problems.filter { $0.title == "substituteFrom created by another Kustomization" }
        #expect(races.count == 3, "\(races)")
        #expect(races.allSatisfy { $0.level == .warning && $0.fix?.contains("dependsOn: [{name: vars}]") == true })
        #expect(Set(races.compactMap(\.location)) == [
            SourceLocation(file: "clusters/c/apps.yaml", line: 16), SourceLocation(file: "clusters/c/apps.yaml", line: 17),
            SourceLocation(file: "clusters/c/optional.yaml", line: 16),
        ], "\(races)")
        #expect(races.contains { $0.message.contains("substitutes from ConfigMap flux-system/cluster-settings, which the Kustomization flux-system/vars creates") && $0.message.contains("not found") })
        #expect(races.contains { $0.location?.file == "clusters/c/optional.yaml" && $0.message.contains("variables of cluster-settings empty") })
        #expect(tree.errors.isEmpty, "\(tree.errors)")
    }

    static func crd(_ kind: String, versions: [String] = ["v1"]) -> String {
        """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: \(kind.lowercased())s.example.com}
        spec:
          group: example.com
          scope: Namespaced
          names: {kind: \(kind), plural: \(kind.lowercased())s}
          versions: [\(versions.map { "{name: \($0), served: true, storage: \($0 == versions[0]), schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}" }.joined(separator: ", "))]
        """
    }

    static func custom(_ kind: String, _ name: String, version: String = "v1") -> String {
        "apiVersion: example.com/\(version)\nkind: \(kind)\nmetadata: {name: \(name), namespace: default}\n"
    }

    /// F16: a custom kind no CRD of the tree defines is an error (Flux: `no matches for kind`);
    /// one whose CRD a Kustomization not depended on installs is a race (warning); with the
    /// dependsOn, or the CRD in the same build, it is fine; a version the CRD does not serve is
    /// an error.
    @Test func customResourcesNeedTheirCRDFirst() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/crds.yaml": kustomization("crds", path: "./crds"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "clusters/c/ordered.yaml": kustomization("ordered", path: "./ordered", extra: "  dependsOn: [{name: crds}]\n"),
            "clusters/c/own.yaml": kustomization("own", path: "./own"),
            "crds/widget.yaml": Self.crd("Widget"),
            "apps/w.yaml": Self.custom("Widget", "w") + "---\n" + Self.custom("Widget", "w2"),
            "apps/g.yaml": Self.custom("Gadget", "g"),
            "apps/cm.yaml": configMap("app", namespace: "default"),
            "ordered/w.yaml": Self.custom("Widget", "w3") + "---\n" + Self.custom("Widget", "old", version: "v1beta1"),
            "own/all.yaml": Self.crd("Sprocket") + "\n---\n" + Self.custom("Sprocket", "s"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let missing = tree.problems.filter { $0.title == "Kind not installed" }
        #expect(missing.count == 1 && missing.first?.level == .error, "\(missing)")
        #expect(missing.first?.location == SourceLocation(file: "apps/g.yaml", line: 1))
        #expect(missing.first?.message.contains("no matches for kind \\\"Gadget\\\" in version \\\"example.com/v1\\\"") == true, "\(missing)")
        let race = tree.problems.filter { $0.title == "CRD installed by another Kustomization" }
        #expect(race.count == 1 && race.first?.level == .warning, "\(race)")
        #expect(race.first?.location == SourceLocation(file: "apps/w.yaml", line: 1))
        #expect(race.first?.message.contains("Widget/default/w and 1 more Widget") == true, "\(race)")
        #expect(race.first?.fix?.contains("dependsOn: [{name: crds}]") == true)
        let version = tree.problems.filter { $0.title == "Version not served" }
        #expect(version.count == 1 && version.first?.location == SourceLocation(file: "ordered/w.yaml", line: 5), "\(version)")
        let own = tree.problems.filter { $0.location?.file == "own/all.yaml" }
        #expect(own.isEmpty, "\(own)")
    }

    /// F16 with Helm: a kind whose CRD no manifest defines, but a HelmRelease's chart may install,
    /// is a warning when the Kustomization does not depend on the release's, or depends on it
    /// without that one waiting for the release.
    @Test func aChartMayInstallTheCRD() async throws {
        let release = """
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {name: cert-manager, namespace: flux-system}
            spec:
              chart: {spec: {chart: cert-manager, sourceRef: {kind: HelmRepository, name: jetstack}}}
            ---
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: HelmRepository
            metadata: {name: jetstack, namespace: flux-system}
            spec: {url: https://charts.jetstack.io}
            """
        let fleet = try await Fleet.make([
            "clusters/c/controllers.yaml": kustomization("controllers", path: "./controllers"),
            "clusters/c/configs.yaml": kustomization("configs", path: "./configs", extra: "  dependsOn: [{name: controllers}]\n"),
            "clusters/c/racy.yaml": kustomization("racy", path: "./configs"),
            "controllers/release.yaml": release,
            "configs/issuer.yaml": "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: letsencrypt}\nspec: {acme: {}}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let maybe = tree.problems.filter { $0.title == "Kind not installed" }
        // Both race: racy does not depend on controllers, and configs does but controllers does not
        // wait for its release (t9 F4; with `wait: true` configs is quiet: ChartCRDSourcesTests).
        #expect(maybe.count == 2 && maybe.allSatisfy { $0.level == .warning }, "\(maybe)")
        #expect(maybe.contains { $0.message.contains("flux-system/racy applies ClusterIssuer/letsencrypt") && $0.message.contains("which flux-system/racy does not depend on") }, "\(maybe)")
        #expect(maybe.contains { $0.message.contains("flux-system/configs applies ClusterIssuer/letsencrypt") && $0.message.contains("does not wait for it") }, "\(maybe)")
        #expect(maybe.allSatisfy { $0.message.contains("HelmRelease/flux-system/cert-manager") }, "\(maybe)")
    }
}
