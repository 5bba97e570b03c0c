import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t14 F17: with kustomize-controller's `--no-remote-bases=true` a remote resource fails
/// the build in the cluster, whatever this machine can fetch: an error at the entry. Without the
/// flag, a resource this machine cannot fetch stays a warning (the cluster fetches it itself).
@Suite struct NoRemoteBasesTests {

    @Test(arguments: [true, false]) func aRemoteResourceIsRefusedWithTheFlag(_ flag: Bool) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": FleetManifests.sync(),
            "clusters/c/flux-system/kustomize-controller.yaml": controllerDeployment("kustomize-controller", argument: flag ? "--no-remote-bases=true" : "--log-level=info"),
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(["gotk-sync.yaml", "kustomize-controller.yaml"]),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources:\n  - https://git.example.invalid/podinfo//kustomize?ref=6.7.1\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let refused = tree.problem("Remote resource refused")
        #expect((refused != nil) == flag, "\(tree.problems)")
        if flag {
            #expect(refused?.level == .error && refused?.location == SourceLocation(file: "apps/kustomization.yaml", line: 2), "\(String(describing: refused))")
        } else {
            #expect(tree.problem("Remote resource not fetched")?.level == .warning, "\(tree.problems)")
        }
    }
}
