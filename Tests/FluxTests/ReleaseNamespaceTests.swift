import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t11 F13, F14: the namespace a HelmRelease installs into (`spec.targetNamespace`) must
/// exist or be created by Helm (`install.createNamespace`); a namespace only a HelmRelease of the
/// same Kustomization creates never exists when that Kustomization's dry-run runs. Planned with
/// the real kubectl kustomize.
@Suite struct ReleaseNamespaceTests {
    static func release(targetNamespace: String, createNamespace: Bool) -> String {
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata: {name: charts, namespace: flux-system}
        spec: {interval: 1h, url: https://example.com}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
          namespace: flux-system
        spec:
          interval: 10m
          targetNamespace: \(targetNamespace)
        \(createNamespace ? "  install: {createNamespace: true}\n" : "")  chart:
            spec:
              chart: podinfo
              sourceRef: {kind: HelmRepository, name: charts}
        """
    }

    static let unbuilt = UnbuiltSourceReferenceTests.sourcedElsewhere("platform-oci", source: "platform")

    enum Case: String, CaseIterable { case nothing, createNamespace, namespaceElsewhere, unbuiltCreator }

    /// Tester t12 F11: the same for the namespace helm-controller keeps the release records in
    /// (`spec.storageNamespace`, line 13 in place of targetNamespace), which Helm creates only as
    /// the release's own target namespace with `install.createNamespace` (before it stores the
    /// record).
    @Test(arguments: Case.allCases, ["targetNamespace", "storageNamespace"])
    func aReleaseNamespaceNothingCreatesIsAnError(_ shape: Case, field: String) async throws {
        var release = Self.release(targetNamespace: "monitoring", createNamespace: shape == .createNamespace)
        if field == "storageNamespace" {
            let storage = shape == .createNamespace ? "storageNamespace: monitoring\n  targetNamespace: monitoring" : "storageNamespace: monitoring"
            release = release.replacingOccurrences(of: "targetNamespace: monitoring", with: storage)
        }
        var files: [String: String] = [
            "clusters/c/infra.yaml": kustomization("infra", path: "./infra"),
            "infra/release.yaml": release,
        ]
        if shape == .namespaceElsewhere {
            files["clusters/c/namespaces.yaml"] = kustomization("namespaces", path: "./namespaces")
            files["namespaces/ns.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n"
        }
        if shape == .unbuiltCreator { files["clusters/c/platform.yaml"] = Self.unbuilt }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problems.first { $0.title == "Namespace not created" && $0.message.hasPrefix("HelmRelease/flux-system/podinfo") }
        switch shape {
        case .createNamespace, .namespaceElsewhere:
            #expect(problem == nil && tree.errors.isEmpty, "\(tree.problems)")
        case .nothing, .unbuiltCreator:
            let found = try #require(problem, "\(tree.problems)")
            #expect(found.level == (shape == .nothing ? .error : .warning))
            #expect(found.location == SourceLocation(file: "infra/release.yaml", line: 13), "\(found)")
            #expect(found.message.contains("(spec.\(field))"), "\(found.message)")
            #expect(found.message.contains("platform-oci") == (shape == .unbuiltCreator), "\(found.message)")
            #expect(found.fix?.contains("createNamespace: true") == (field == "targetNamespace"))
        }
    }

    /// F14: a ConfigMap in the namespace only its own Kustomization's HelmRelease creates is an
    /// error at the ConfigMap; in a Kustomization that depends on the releasing one it is not.
    @Test(arguments: [false, true])
    func aNamespaceOnlyAHelmReleaseOfTheSameBuildCreatesIsAnError(separate: Bool) async throws {
        var files: [String: String] = [
            "clusters/c/infra.yaml": kustomization("infra", path: "./infra"),
            "infra/release.yaml": Self.release(targetNamespace: "monitoring", createNamespace: true),
        ]
        let dashboard = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dash, namespace: monitoring}\ndata: {a: b}\n"
        if separate {
            files["clusters/c/dash.yaml"] = kustomization("dash", path: "./dash", extra: "  dependsOn: [{name: infra}]\n")
            files["dash/cm.yaml"] = dashboard
        } else {
            files["infra/cm.yaml"] = dashboard
        }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("Namespace created by a HelmRelease of the same Kustomization")
        if separate {
            #expect(problem == nil && tree.errors.isEmpty, "\(tree.problems)")
        } else {
            let found = try #require(problem, "\(tree.problems)")
            #expect(found.level == .error)
            #expect(found.location == SourceLocation(file: "infra/cm.yaml", line: 1), "\(found)")
            #expect(found.message.contains("HelmRelease/flux-system/podinfo"), "\(found.message)")
        }
    }
}
