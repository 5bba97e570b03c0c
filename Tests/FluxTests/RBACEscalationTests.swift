import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t21 F2, F3: what an impersonated account may grant and where Helm stores a release.
/// RBAC's escalation check refuses a Role, or a binding, that gives writes the creating account
/// does not hold (a tenant bound to `admin` writing ResourceQuotas, or binding cluster-admin);
/// a Role within its own rights passes. A HelmRelease's `serviceAccountName` must be able to
/// write Secrets where Helm stores the release.
@Suite struct RBACEscalationTests {
    static let platform = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: team}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: team, namespace: team}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
        subjects: [{kind: ServiceAccount, name: team, namespace: flux-system}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: deploys-only, namespace: team}
        rules: [{apiGroups: [apps], resources: [deployments], verbs: ["*"]}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: helm, namespace: team}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deploys-only}
        subjects: [{kind: ServiceAccount, name: helm, namespace: team}]

        """

    static func fleet(_ team: [String: String], escalator: Bool = false) async throws -> Fleet {
        // `escalator`: the platform also binds the account a Role that may escalate roles.
        let escalation = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: escalator, namespace: team}\nrules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: escalator, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: escalator}\nsubjects: [{kind: ServiceAccount, name: team, namespace: flux-system}]\n"
        return try await Fleet.make([
            "clusters/c/platform.yaml": kustomization("platform", path: "./platform"),
            "clusters/c/team.yaml": kustomization("team", path: "./team", extra: "  dependsOn: [{name: platform}]\n  serviceAccountName: team\n"),
            "platform/rbac.yaml": Self.platform + (escalator ? escalation : ""),
        ].merging(team.mapKeys { "team/\($0)" }) { a, _ in a })
    }

    @Test(arguments: [
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: quotas, namespace: team}\nrules: [{apiGroups: [\"\"], resources: [resourcequotas], verbs: [create, update, patch]}]\n", true),
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: all, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: x, namespace: team}]\n", true),
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: config, namespace: team}\nrules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get, create, patch]}]\n", false),
        // An account that may `escalate` roles passes the check (here through the tree's Role).
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: quotas-escalated, namespace: team, labels: {escalate: \"yes\"}}\nrules: [{apiGroups: [\"\"], resources: [resourcequotas], verbs: [create, update, patch]}]\n", false),
        // What admin holds although the first table left it out (t23 F1): events, leases
        // (leader election), localsubjectaccessreviews.
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: leader, namespace: team}\nrules:\n  - {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update, patch]}\n  - {apiGroups: [\"\"], resources: [events], verbs: [create, patch]}\n  - {apiGroups: [authorization.k8s.io], resources: [localsubjectaccessreviews], verbs: [create]}\n", false),
        // A `*` verb asks for every verb, which admin's listed verbs do not cover (tester t22 F2).
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: pods, namespace: team}\nrules: [{apiGroups: [\"\"], resources: [pods, pods/log], verbs: [\"*\"]}]\n", true),
        ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: editors, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\nsubjects: [{kind: ServiceAccount, name: x, namespace: team}]\n", false),
    ])
    func aRoleGivingMoreThanTheAccountHoldsIsRefused(role: String, refused: Bool) async throws {
        let fleet = try await Self.fleet(["role.yaml": role], escalator: role.contains("escalate: \"yes\""))
        defer { fleet.remove() }
        let found = try fleet.read().problems.filter { $0.title == "Impersonated account escalates" }
        #expect(found.count == (refused ? 1 : 0), "\(found)")
        if refused { #expect(found.first?.level == .error && found.first?.location == SourceLocation(file: "team/role.yaml", line: 1), "\(found)") }
        // A binding names the role it binds (tester t24).
        if refused, role.contains("kind: RoleBinding") { #expect(found.first?.message.contains("binds the ClusterRole cluster-admin, which gives") == true, "\(found)") }
    }

    /// Tester t23 F3: every role that escalates is reported in one run, each at its line.
    @Test func everyEscalatingRoleIsReported() async throws {
        let roles = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: q, namespace: team}\nrules: [{apiGroups: [\"\"], resources: [resourcequotas], verbs: [patch]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: l, namespace: team}\nrules: [{apiGroups: [\"\"], resources: [limitranges], verbs: [patch]}]\n"
        let fleet = try await Self.fleet(["roles.yaml": roles])
        defer { fleet.remove() }
        let found = try fleet.read().problems.filter { $0.title == "Impersonated account escalates" }
        #expect(Set(found.compactMap(\.location?.line)) == [1, 6], "\(found)")
    }

    @Test func aHelmReleasesAccountMustStoreTheReleaseInSecrets() async throws {
        func release(_ account: String) -> String {
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web-\(account), namespace: team}\nspec:\n  interval: 10m\n  serviceAccountName: \(account)\n  chart:\n    spec:\n      chart: web\n      sourceRef: {kind: HelmRepository, name: charts}\n"
        }
        let fleet = try await Fleet.make([
            "clusters/c/platform.yaml": kustomization("platform", path: "./platform"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: platform}]\n"),
            "platform/rbac.yaml": Self.platform + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: admin-helm, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\nsubjects: [{kind: ServiceAccount, name: admin-helm, namespace: team}]\n",
            "apps/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: team}\nspec: {interval: 1h, url: \"https://charts.example.invalid\"}\n",
            "apps/helm.yaml": release("helm"),
            "apps/admin.yaml": release("admin-helm"),
        ])
        defer { fleet.remove() }
        let found = try fleet.read().problems.filter { $0.title == "HelmRelease account cannot store the release" }
        #expect(found.count == 1 && found.first?.location == SourceLocation(file: "apps/helm.yaml", line: 6), "\(found)")
    }
}

extension Dictionary where Key == String {
    fileprivate func mapKeys(_ transform: (String) -> String) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
