import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t11 F11: one file holding objects of one kind and name in several namespaces (one per
/// tenant) places each object at its own document, so a problem of the second lands on its own
/// line, not on the first's. Planned with the real kubectl kustomize.
@Suite struct ObjectLineTests {
    static func release(_ namespace: String, repository: String) -> String {
        """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
          namespace: \(namespace)
        spec:
          interval: 10m
          chart:
            spec:
              chart: podinfo
              sourceRef:
                kind: HelmRepository
                name: \(repository)
        """
    }

    static func secret(_ namespace: String, value: String) -> String {
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: \(namespace)\ndata:\n  k: \(value)\n"
    }

    @Test(arguments: [false, true])
    func sameNamedObjectsInOneFileAreEachAtTheirOwnLine(generated: Bool) async throws {
        var files: [String: String] = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
            "apps/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: a}\nspec: {interval: 1h, url: https://example.com}\n",
            // Documents at lines 1 and 15 (`---` on line 14); the second chart name at line 27.
            "apps/releases.yaml": Self.release("a", repository: "charts") + "\n---\n" + Self.release("b", repository: "charts"),
            // Documents at lines 1 and 9: the valid value first, the broken one (line 15) second.
            "apps/secrets.yaml": Self.secret("a", value: "b2s=") + "---\n" + Self.secret("b", value: "notbase64!"),
        ]
        if !generated { files["apps/kustomization.yaml"] = "resources: [ns.yaml, repository.yaml, releases.yaml, secrets.yaml]\n" }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let chart = try #require(tree.problem("Unknown chart source"), "\(tree.problems)")
        #expect(chart.message.hasPrefix("HelmRelease/b/podinfo"), "\(chart.message)")
        #expect(chart.location == SourceLocation(file: "apps/releases.yaml", line: 27), "\(chart)")
        let released = try #require(tree.objects[FluxKustomization.Reference(namespace: "flux-system", name: "apps")]?.first { $0.kind == "HelmRelease" && $0.namespace == "b" })
        #expect(released.line == 15)
        let data = tree.problems.filter { $0.location?.file == "apps/secrets.yaml" }
        #expect(data.count == 1 && data.first?.location?.line == 15, "\(data)")
    }

    /// Tester t11 F23: an unknown dependency's "Did you mean" never names the Kustomization itself.
    @Test func aDependencyHintNeverNamesTheKustomizationItself() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/after.yaml": kustomization("after-team", path: "./apps", extra: "  dependsOn: [{name: dev-team}]\n"),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Unknown dependency"))
        #expect(!problem.message.contains("Did you mean flux-system/after-team"), "\(problem.message)")
    }
}
