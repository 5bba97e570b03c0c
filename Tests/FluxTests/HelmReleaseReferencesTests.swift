import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// A HelmRelease whose chart source, values or dependency resolves to nothing never becomes
/// Ready; the plan names the reference's own line. Built with the real kubectl kustomize.
@Suite struct HelmReleaseReferencesTests {
    static func release(_ name: String, source: String = "podinfo", valuesFrom: String = "", dependsOn: String = "") -> String {
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
              chart: podinfo
              sourceRef:
                kind: HelmRepository
                name: \(source)
        \(valuesFrom)\(dependsOn)
        """
    }

    static let repository = """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata:
          name: podinfo
          namespace: flux-system
        spec:
          interval: 1h
          url: https://stefanprodan.github.io/podinfo
        """

    @Test func everyReferenceThatResolvesIsQuiet() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources: [repository.yaml, release.yaml, base.yaml]\nconfigMapGenerator:\n  - {name: values, namespace: flux-system, literals: [\"values.yaml=replicas: 2\"], options: {disableNameSuffixHash: true}}\n",
            "apps/repository.yaml": Self.repository,
            "apps/base.yaml": Self.release("base"),
            "apps/release.yaml": Self.release(
                "podinfo", valuesFrom: "  valuesFrom:\n    - {kind: ConfigMap, name: values}\n    - {kind: Secret, name: absent, optional: true}\n",
                dependsOn: "  dependsOn:\n    - name: base\n"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
    }

    /// Tester t21 F1: a Secret an operator's resource names in its spec (an ExternalSecret's
    /// `spec.target.name`, a SealedSecret's template name, a Certificate's `secretName`) may be
    /// made under that name: a valuesFrom reading it is not "Unknown values source". Without
    /// the ExternalSecret it is.
    @Test(arguments: [
        "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata: {name: app, namespace: flux-system}\nspec:\n  target: {name: app-secret}\n",
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: sealed, namespace: flux-system}\nspec:\n  template:\n    metadata: {name: app-secret}\n",
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: tls, namespace: flux-system}\nspec:\n  secretName: app-secret\n",
        "",
    ])
    func aSecretAnOperatorMakesUnderAnotherNameIsKnown(maker: String) async throws {
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/repository.yaml": Self.repository,
            "apps/release.yaml": Self.release("podinfo", valuesFrom: "  valuesFrom:\n    - {kind: Secret, name: app-secret}\n"),
        ]
        if !maker.isEmpty { files["apps/maker.yaml"] = maker }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let unknown = try fleet.read().problems.filter { $0.title == "Unknown values source" }
        #expect(unknown.count == (maker.isEmpty ? 1 : 0), "\(unknown)")
    }

    @Test func unknownSourceValuesAndDependencyAreNamedAtTheirLines() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources: [repository.yaml, release.yaml, typo.yaml]\nconfigMapGenerator:\n  - {name: podinfo-values, namespace: flux-system, literals: [a=b]}\n",
            "apps/repository.yaml": Self.repository,
            "apps/typo.yaml": Self.release("typo", source: "podinfo-charts"),
            "apps/release.yaml": Self.release(
                "podinfo", valuesFrom: "  valuesFrom:\n    - kind: ConfigMap\n      name: podinfo-values\n    - kind: Secret\n      name: missing\n",
                dependsOn: "  dependsOn:\n    - name: base\n"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let source = try #require(tree.problem("Unknown chart source"), "\(tree.problems)")
        #expect(source.location == SourceLocation(file: "apps/typo.yaml", line: 13))
        #expect(source.message.contains("HelmRepository/flux-system/podinfo-charts"))
        let renamed = try #require(tree.problem("Values from a renamed object"), "\(tree.problems)")
        #expect(renamed.location == SourceLocation(file: "apps/release.yaml", line: 16))
        #expect(renamed.message.contains("named it podinfo-values-"))
        let values = try #require(tree.problem("Unknown values source"))
        #expect(values.location == SourceLocation(file: "apps/release.yaml", line: 18))
        #expect(values.message.contains("Secret/flux-system/missing"))
        let dependency = try #require(tree.problems.first { $0.title == "Unknown dependency" && $0.message.contains("HelmRelease/flux-system/base") })
        #expect(dependency.location == SourceLocation(file: "apps/release.yaml", line: 20))
        #expect(tree.errors.count == 4, "\(tree.errors)")
    }

    /// Tester t5 H (fleets 23f, 26c): a reference that gives its namespace is not said to be
    /// defaulted, and a near name is offered; the valid neighbour (the right name) is quiet.
    @Test func aWrittenNamespaceIsNotCalledDefaultedAndANearNameIsOffered() async throws {
        func fleet(source: String, dependency: String) async throws -> Fleet {
            try await Fleet.make([
                "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
                "apps/kustomization.yaml": "resources: [repository.yaml, base.yaml, release.yaml]\n",
                "apps/repository.yaml": Self.repository,
                "apps/base.yaml": Self.release("base"),
                "apps/release.yaml": Self.release("podinfo", source: "\(source)\n        namespace: flux-system", dependsOn: "  dependsOn:\n    - name: \(dependency)\n"),
            ])
        }
        let broken = try await fleet(source: "podnfo", dependency: "bse")
        defer { broken.remove() }
        let tree = try broken.read()
        let source = try #require(tree.problem("Unknown chart source"), "\(tree.problems)")
        #expect(source.location == SourceLocation(file: "apps/release.yaml", line: 13))
        #expect(!source.message.contains("without a namespace"), "\(source.message)")
        #expect(source.message.contains("Did you mean podinfo?"), "\(source.message)")
        let dependency = try #require(tree.problem("Unknown dependency"))
        #expect(dependency.message.contains("Did you mean flux-system/base?"), "\(dependency.message)")
        #expect(tree.errors.count == 2, "\(tree.errors)")

        let valid = try await fleet(source: "podinfo", dependency: "base")
        defer { valid.remove() }
        #expect(try valid.read().problems.isEmpty)
    }

    /// Tester t14 F13 (second instance): a dependsOn without namespace whose name is a HelmRelease
    /// of another namespace is that one (add its namespace), never the HelmRelease itself.
    @Test func anUnknownDependencyOffersTheSameNameElsewhereNeverItself() async throws {
        func release(_ name: String, in namespace: String, dependsOn: String = "") -> String {
            Self.release(name, dependsOn: dependsOn).replacingOccurrences(of: "namespace: flux-system\nspec:", with: "namespace: \(namespace)\nspec:")
                .replacingOccurrences(of: "        name: podinfo\n", with: "        name: podinfo\n        namespace: flux-system\n")
        }
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources: [namespaces.yaml, repository.yaml, a.yaml, b.yaml]\n",
            "apps/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n",
            "apps/repository.yaml": Self.repository,
            "apps/a.yaml": release("a", in: "y"),
            "apps/b.yaml": release("b", in: "x", dependsOn: "  dependsOn:\n    - name: a\n"),
        ])
        defer { fleet.remove() }
        let dependency = try #require(try fleet.read().problem("Unknown dependency"))
        #expect(dependency.message.contains("HelmRelease/x/a") && dependency.message.hasSuffix("Did you mean y/a?"), "\(dependency.message)")
        #expect(dependency.fix?.hasPrefix("Add the entry's namespace: y (an entry without one is in x, the HelmRelease's own)") == true, "\(dependency)")

        // A near name only among the others: b depending on "bb" is not offered b itself.
        let alone = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources: [namespaces.yaml, repository.yaml, b.yaml]\n",
            "apps/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
            "apps/repository.yaml": Self.repository,
            "apps/b.yaml": release("b", in: "x", dependsOn: "  dependsOn:\n    - name: bb\n"),
        ])
        defer { alone.remove() }
        let typo = try #require(try alone.read().problem("Unknown dependency"))
        #expect(!typo.message.contains("Did you mean"), "\(typo.message)")
    }

    /// Tester t12 F11: helm-controller impersonates `spec.serviceAccountName` of the release's
    /// namespace; with no RoleBinding or ClusterRoleBinding for it (the account is usually not
    /// defined either) every Helm action is forbidden: an error at the field. A binding is enough
    /// (the API server does not look the account up).
    enum Account: String, CaseIterable { case nothing, definedOnly, nearName, bound }

    @Test(arguments: Account.allCases)
    func anAccountNothingBindsIsAnError(_ shape: Account) async throws {
        let account = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: deployer, namespace: flux-system}\n"
        let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: deployer, namespace: flux-system}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: flux-system}]\n"
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/repository.yaml": Self.repository,
            "apps/release.yaml": Self.release("podinfo", dependsOn: "  serviceAccountName: \(shape == .nearName ? "deploer" : "deployer")\n"),
        ]
        if shape == .definedOnly || shape == .nearName { files["apps/account.yaml"] = account }
        if shape == .bound { files["apps/binding.yaml"] = binding }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("HelmRelease account has no permissions")
        guard shape != .bound else {
            #expect(problem == nil && tree.problems.isEmpty, "\(tree.problems)")
            return
        }
        let found = try #require(problem, "\(shape): \(tree.problems)")
        #expect(found.level == .error)
        #expect(found.location == SourceLocation(file: "apps/release.yaml", line: 14), "\(found.location as Any)")
        #expect(found.message.contains("no object of this cluster defines") == (shape != .definedOnly), "\(found.message)")
        #expect(found.message.contains("Did you mean deployer?") == (shape == .nearName), "\(found.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    /// Tester t10 F9: HelmReleases whose dependsOn form a cycle (across files, one with an
    /// explicit namespace) are an error at the first one's dependsOn; a chain is quiet.
    @Test(arguments: [true, false])
    func aHelmReleaseDependencyCycleIsAnError(cycle: Bool) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/repository.yaml": Self.repository,
            "apps/a.yaml": Self.release("a", dependsOn: "  dependsOn:\n    - name: b\n"),
            "apps/b.yaml": Self.release("b", dependsOn: "  dependsOn:\n    - name: c\n      namespace: flux-system\n"),
            "apps/c.yaml": Self.release("c", dependsOn: cycle ? "  dependsOn:\n    - name: a\n" : ""),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("HelmRelease dependency cycle")
        if cycle {
            let found = try #require(problem, "\(tree.problems)")
            #expect(found.level == .error)
            #expect(found.message.contains("HelmRelease/flux-system/a → HelmRelease/flux-system/b → HelmRelease/flux-system/c → HelmRelease/flux-system/a"), "\(found.message)")
            #expect(found.location == SourceLocation(file: "apps/a.yaml", line: 14), "\(found)")
        } else {
            #expect(problem == nil && tree.errors.isEmpty, "\(tree.problems)")
        }
    }
}
