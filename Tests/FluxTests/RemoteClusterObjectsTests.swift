import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t14 F15: what a Kustomization with spec.kubeConfig applies goes to another cluster.
/// A Namespace it defines does not exist in this one, so a Kustomization of this cluster using
/// that namespace fails its dry-run: "Namespace not created"; without kubeConfig it is there.
@Suite struct RemoteClusterObjectsTests {
    @Test(arguments: [true, false]) func objectsForAnotherClusterCreateNothingHere(remote: Bool) async throws {
        let kubeConfig = remote ? "  kubeConfig:\n    secretRef:\n      name: remote-kubeconfig\n" : ""
        let fleet = try await Fleet.make([
            "clusters/c/remote.yaml": kustomization("remote", path: "./remote", extra: kubeConfig),
            "clusters/c/local.yaml": kustomization("local", path: "./local", extra: "  dependsOn:\n    - name: remote\n"),
            "clusters/c/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: remote-kubeconfig\n  namespace: flux-system\nstringData:\n  value: x\n",
            "remote/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: edge\n",
            "local/cm.yaml": configMap("c", namespace: "edge"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let missing = tree.problems.filter { $0.title == "Namespace not created" }
        #expect(missing.count == (remote ? 1 : 0), "\(tree.problems)")
        if remote { #expect(missing.first?.location?.file == "local/cm.yaml") }
    }
}
