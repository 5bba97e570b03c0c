import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t5 B: a Flux Kustomization at an apiVersion the installed CRDs do not serve is no
/// longer read as a Kustomization, but the API server still refuses it: the applying
/// Kustomization's dry-run fails ("no matches for kind"). Reported at its apiVersion line with
/// the served versions of the CRD flux-system installs (the real v2.6.4 components).
@Suite struct UnservedFluxVersionTests {
    @Test(arguments: [("v1beta3", true), ("v1beta2", false), ("v1", false)])
    func aFluxKindAtAnUnservedVersionFailsItsParent(version: String, refused: Bool) async throws {
        let components = try String(contentsOf: TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        let fleet = try await Fleet.make([
            "clusters/c/flux-system/gotk-components.yaml": components,
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/kustomization.yaml": "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps").replacingOccurrences(of: "kustomize.toolkit.fluxcd.io/v1", with: "kustomize.toolkit.fluxcd.io/\(version)"),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("Version not served")
        #expect((problem != nil) == refused, "\(tree.problems)")
        if refused {
            #expect(problem?.level == .error)
            #expect(problem?.location == SourceLocation(file: "clusters/c/apps.yaml", line: 1))
            #expect(problem?.message.contains("Kustomization") == true)
        }
    }
}
