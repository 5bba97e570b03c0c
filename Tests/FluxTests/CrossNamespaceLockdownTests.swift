import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// flux2-multi-tenancy's lockdown: flux-system/kustomization.yaml patches
/// `--no-cross-namespace-refs=true` into the controllers, and kustomize-controller and
/// helm-controller then refuse a source in another namespace (tester t5 L, fleet 12). The
/// same fleet without the patch is valid. Built with the real kubectl kustomize.
@Suite struct CrossNamespaceLockdownTests {
    static func controller(_ name: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: \(name)
          namespace: flux-system
        spec:
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              containers:
                - name: manager
                  image: ghcr.io/fluxcd/\(name):latest
                  args: [--watch-all-namespaces=true, --log-level=info]

        """
    }

    static let lockdown = """
          - patch: |
              - op: add
                path: /spec/template/spec/containers/0/args/0
                value: --no-cross-namespace-refs=true
            target:
              kind: Deployment
              name: "(kustomize-controller|helm-controller)"

        """

    static let release = """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
          namespace: apps
        spec:
          interval: 10m
          chart:
            spec:
              chart: podinfo
              sourceRef:
                kind: HelmRepository
                name: podinfo
                namespace: flux-system
        """

    static func fleet(locked: Bool) async throws -> Fleet {
        try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": FleetManifests.sync(),
            "clusters/c/flux-system/controllers.yaml": controller("kustomize-controller") + "---\n" + controller("helm-controller"),
            "clusters/c/flux-system/kustomization.yaml": "resources: [controllers.yaml, gotk-sync.yaml]\n" + (locked ? "patches:\n" + lockdown : ""),
            "clusters/c/tenants.yaml": kustomization("tenants", path: "./tenants"),
            "tenants/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
            "tenants/sync.yaml": kustomization("dev-team", namespace: "apps", path: "./team"),
            "tenants/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1h\n  url: https://stefanprodan.github.io/podinfo\n",
            "tenants/release.yaml": release,
            "team/settings.yaml": configMap("settings", namespace: "apps"),
        ])
    }

    @Test func withoutTheLockdownCrossNamespaceSourcesAreAccepted() async throws {
        let fleet = try await Self.fleet(locked: false)
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.isEmpty, "\(tree.problems)")
    }

    @Test func theLockdownRefusesCrossNamespaceSourcesAtTheirNamespaceLines() async throws {
        let fleet = try await Self.fleet(locked: true)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let blocked = tree.problems.filter { $0.title == "Cross-namespace reference blocked" }
        #expect(tree.problems.count == 2 && blocked.count == 2, "\(tree.problems)")
        let kustomization = try #require(blocked.first { $0.message.contains("apps/dev-team") })
        #expect(kustomization.level == .error)
        #expect(kustomization.location == SourceLocation(file: "tenants/sync.yaml", line: 13))
        #expect(kustomization.message.contains("can't access 'GitRepository/flux-system/flux-system', cross-namespace references have been blocked"), "\(kustomization.message)")
        let release = try #require(blocked.first { $0.message.contains("HelmRelease/apps/podinfo") })
        #expect(release.location == SourceLocation(file: "tenants/release.yaml", line: 14))
        #expect(release.message.contains("can't access 'HelmRepository/flux-system/podinfo'"))
    }

    @Test func flagsAreReadAsPflagReadsThem() {
        func flags(_ arguments: [String]) -> ControllerFlags {
            let args = arguments.map { "\"\($0)\"" }.joined(separator: ", ")
            let deployment = try! Manifest.objects("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kustomize-controller}\nspec: {template: {spec: {containers: [{name: manager, args: [\(args)]}]}}}\n")
            return ControllerFlags("kustomize-controller", in: deployment)
        }
        #expect(flags(["--no-cross-namespace-refs=true"]).isSet("no-cross-namespace-refs"))
        #expect(flags(["--no-cross-namespace-refs"]).isSet("no-cross-namespace-refs"))
        #expect(flags(["--no-cross-namespace-refs", "--log-level=info"]).isSet("no-cross-namespace-refs"))
        #expect(!flags(["--no-cross-namespace-refs=true", "--no-cross-namespace-refs=false"]).isSet("no-cross-namespace-refs"))
        #expect(!flags(["--no-cross-namespace-refs=yes"]).isSet("no-cross-namespace-refs"))
        #expect(!flags(["--no-remote-bases=true"]).isSet("no-cross-namespace-refs"))
        #expect(flags(["--default-service-account", "tenant"]).value("default-service-account") == "tenant")
    }

    /// `--default-service-account=default` (the lockdown's third patch): a Kustomization without
    /// spec.serviceAccountName impersonates `default` of its namespace, flux-system's too, which
    /// nothing binds; the valid neighbour names kustomize-controller, bound to cluster-admin.
    @Test func theDefaultServiceAccountNeedsPermissions() async throws {
        let patch = """
              - patch: |
                  - op: add
                    path: /spec/template/spec/containers/0/args/0
                    value: --default-service-account=default
                target: {kind: Deployment, name: kustomize-controller}
              - patch: |
                  - op: add
                    path: /spec/serviceAccountName
                    value: kustomize-controller
                target: {kind: Kustomization}

            """
        let binding = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: cluster-reconciler-flux-system\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects:\n  - {kind: ServiceAccount, name: kustomize-controller, namespace: flux-system}\n"
        func fleet(named: Bool) async throws -> Fleet {
            try await Fleet.make([
                "clusters/c/flux-system/gotk-sync.yaml": FleetManifests.sync(),
                "clusters/c/flux-system/controllers.yaml": Self.controller("kustomize-controller") + binding,
                "clusters/c/flux-system/kustomization.yaml": "resources: [controllers.yaml, gotk-sync.yaml]\npatches:\n"
                    + (named ? patch : String(patch.prefix(upTo: patch.range(of: "  - patch: |\n      - op: add\n        path: /spec/serviceAccountName")!.lowerBound))),
                "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: named ? "  serviceAccountName: kustomize-controller\n" : ""),
                "apps/settings.yaml": configMap("settings", namespace: "flux-system"),
            ])
        }
        let broken = try await fleet(named: false)
        defer { broken.remove() }
        let tree = try broken.read()
        let denied = tree.problems.filter { $0.title == "Impersonated account has no permissions" }
        #expect(tree.problems.count == 2 && denied.count == 2, "\(tree.problems)")
        #expect(denied.allSatisfy { $0.level == .error && $0.message.contains("system:serviceaccount:flux-system:default") && $0.message.contains("--default-service-account=default") })
        #expect(Set(denied.compactMap(\.location?.file)) == ["clusters/c/flux-system/gotk-sync.yaml", "clusters/c/apps.yaml"])

        let valid = try await fleet(named: true)
        defer { valid.remove() }
        let validTree = try valid.read()
        #expect(validTree.problems.isEmpty, "\(validTree.problems)")
    }
}
