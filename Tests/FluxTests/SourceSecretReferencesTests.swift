import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t12 F11: the Secret a Flux source names (`spec.secretRef`, `spec.certSecretRef`) must
/// be one the cluster's tree defines in the source's namespace, or source-controller fails every
/// reconcile ("failed to get secret"). Built with the real kubectl kustomize.
@Suite struct SourceSecretReferencesTests {
    /// A source of `kind` whose `secretRef.name` is on line 10 and `certSecretRef.name` on 12
    /// (a line later for the kinds whose spec takes two lines before them).
    static func source(_ kind: String, secret: String = "charts-auth", certificate: String = "charts-ca", extra: String = "") -> String {
        let spec = switch kind {
        case "GitRepository": "url: https://example.com/charts.git\n  ref: {branch: main}"
        case "OCIRepository": "url: oci://example.com/charts\n  ref: {tag: latest}"
        case "Bucket": "bucketName: charts\n  endpoint: minio.example.com"
        default: "url: https://example.com/charts"
        }
        return """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: \(kind)
            metadata:
              name: charts
              namespace: flux-system
            spec:
              interval: 1h
              \(spec)
              secretRef:
                name: \(secret)
              certSecretRef:
                name: \(certificate)
            \(extra)
            """
    }

    static func secret(_ name: String, namespace: String = "flux-system") -> String {
        "apiVersion: v1\nkind: Secret\nmetadata: {name: \(name), namespace: \(namespace)}\nstringData: {username: u, password: p}\n"
    }

    static func plan(_ files: [String: String]) async throws -> ClusterTree {
        let fleet = try await Fleet.make(["clusters/c/sources.yaml": kustomization("sources", path: "./sources")].merging(files) { $1 })
        defer { fleet.remove() }
        return try fleet.read()
    }

    @Test(arguments: ["HelmRepository", "GitRepository", "OCIRepository", "Bucket"])
    func anUnknownSecretIsAnErrorAtItsName(kind: String) async throws {
        // The certificate's Secret exists; the credentials' has a near name.
        let tree = try await Self.plan([
            "sources/source.yaml": Self.source(kind), "sources/ca.yaml": Self.secret("charts-ca"), "sources/auth.yaml": Self.secret("chart-auth"),
        ])
        let problem = try #require(tree.problem("Unknown source Secret"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "sources/source.yaml", line: kind == "HelmRepository" ? 10 : 11), "\(problem.location as Any)")
        #expect(problem.message.contains("\(kind)/flux-system/charts names the Secret flux-system/charts-auth in spec.secretRef"), "\(problem.message)")
        #expect(problem.message.contains("failed to get secret 'flux-system/charts-auth'"), "\(problem.message)")
        #expect(problem.message.contains("Did you mean chart-auth?"), "\(problem.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    /// Tester t18 F7: the root's credentials Secret (`flux-system`, which bootstrap writes) may
    /// be reused by another source; the same name in another namespace is still unknown.
    @Test func theRootsCredentialsSecretIsKnown() async throws {
        let tree = try await Self.plan(["sources/source.yaml": Self.source("GitRepository", secret: "flux-system"), "sources/ca.yaml": Self.secret("charts-ca")])
        #expect(tree.problem("Unknown source Secret") == nil, "\(tree.problems)")
        let elsewhere = try await Self.plan([
            "sources/source.yaml": Self.source("GitRepository", secret: "flux-system").replacingOccurrences(of: "  namespace: flux-system\n", with: "  namespace: apps\n"),
            "sources/ca.yaml": Self.secret("charts-ca", namespace: "apps"),
            "sources/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n",
        ])
        #expect(elsewhere.problem("Unknown source Secret")?.message.contains("flux-system/flux-system") == false, "\(elsewhere.problems)")
        #expect(elsewhere.problem("Unknown source Secret")?.message.contains("apps/flux-system") == true, "\(elsewhere.problems)")
    }

    @Test func aCertificateSecretInAnotherNamespaceIsAnError() async throws {
        let tree = try await Self.plan([
            "sources/source.yaml": Self.source("HelmRepository"), "sources/auth.yaml": Self.secret("charts-auth"),
            "sources/ca.yaml": Self.secret("charts-ca", namespace: "default"),
        ])
        let problem = try #require(tree.problem("Unknown source Secret"), "\(tree.problems)")
        #expect(problem.location == SourceLocation(file: "sources/source.yaml", line: 12), "\(problem.location as Any)")
        #expect(problem.message.contains("spec.certSecretRef"), "\(problem.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    enum Quiet: String, CaseIterable { case defined, suspended, externalSecret, rootRepository }

    @Test(arguments: Quiet.allCases)
    func aSecretThatMayExistIsQuiet(_ shape: Quiet) async throws {
        var files: [String: String] = [:]
        switch shape {
        case .defined:
            files = ["sources/source.yaml": Self.source("HelmRepository"), "sources/auth.yaml": Self.secret("charts-auth"), "sources/ca.yaml": Self.secret("charts-ca")]
        case .suspended:
            // source-controller does not reconcile a suspended source.
            files = ["sources/source.yaml": Self.source("HelmRepository", extra: "  suspend: true")]
        case .externalSecret:
            // Something else of that name may make the Secret.
            let made = { (name: String) in "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata: {name: \(name), namespace: flux-system}\nspec: {secretStoreRef: {name: vault, kind: ClusterSecretStore}}\n" }
            let definition = """
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata: {name: externalsecrets.external-secrets.io}
                spec:
                  group: external-secrets.io
                  names: {kind: ExternalSecret, plural: externalsecrets}
                  scope: Namespaced
                  versions: [{name: v1beta1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]
                """
            files = [
                "sources/source.yaml": Self.source("HelmRepository"), "sources/auth.yaml": made("charts-auth"), "sources/ca.yaml": made("charts-ca"),
                "sources/crd.yaml": definition,
            ]
        case .rootRepository:
            // fluxci's bootstrap writes the root GitRepository's credentials (or drops the reference).
            files = [
                "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync.replacingOccurrences(of: "  ref: {branch: main}", with: "  ref: {branch: main}\n  secretRef: {name: flux-system}"),
                "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(),
                "sources/cm.yaml": configMap("x", namespace: "default"),
            ]
        }
        let tree = try await Self.plan(files)
        #expect(tree.problem("Unknown source Secret") == nil, "\(shape): \(tree.problems)")
        #expect(tree.errors.isEmpty, "\(shape): \(tree.errors)")
    }

    /// A Kustomization fluxci did not build may create it: a warning naming it.
    @Test func aSecretAnUnbuiltKustomizationMayCreateIsAWarning() async throws {
        let tree = try await Self.plan([
            "sources/source.yaml": Self.source("HelmRepository"), "sources/ca.yaml": Self.secret("charts-ca"),
            "clusters/c/platform.yaml": UnbuiltSourceReferenceTests.sourcedElsewhere("platform-oci", source: "platform"),
        ])
        let problem = try #require(tree.problem("Unknown source Secret"), "\(tree.problems)")
        #expect(problem.level == .warning)
        #expect(problem.message.contains("platform-oci"), "\(problem.message)")
    }
}
