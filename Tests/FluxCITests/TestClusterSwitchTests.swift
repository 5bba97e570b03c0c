import Foundation
import Kube
import Testing
import TestSupport

extension Trait where Self == ConditionTrait {
    /// A wait test that needs a stand-in (the fake Flux controller's fault injection, the fake API
    /// server's object store or request log): skipped against FLUXCI_TEST_KUBECONFIG's cluster,
    /// saying why, never passed without running.
    static func standIn(_ what: String) -> Self {
        .enabled(if: TestCluster.usesFake, Comment(rawValue: "needs \(what), which a real cluster does not have (FLUXCI_TEST_KUBECONFIG is set)"))
    }
}

/// The one switch between a real cluster and the stand-ins for the bootstrap and e2e tests
/// (FluxTestCluster, used by BootstrapTests.setup and E2ETests.setup): with FLUXCI_TEST_KUBECONFIG
/// the tests talk to the API server that kubeconfig names and start neither the fake API server
/// nor the fake Flux controller; without it they start both.
@Suite(.serialized) struct TestClusterSwitchTests {
    @Test func withTheVariableTheKubeconfigIsReadAndNoStandInStarts() async throws {
        // A server the test starts itself stands for the real cluster the kubeconfig names.
        let elsewhere = try await FakeAPIServer.start()
        defer { Task { await elsewhere.shutdown() } }
        let directory = try TestPaths.temporaryDirectory("fluxci-switch")
        removeAtExit(directory)
        let kubeconfig = directory.appendingPathComponent("real.kubeconfig")
        try elsewhere.writeKubeconfig(to: kubeconfig)

        let flux = try await FluxTestCluster.start(environment: ["FLUXCI_TEST_KUBECONFIG": kubeconfig.path])
        defer { Task { await flux.stop() } }
        #expect(flux.cluster.fake == nil, "no fake API server is started")
        #expect(flux.standIn == nil, "no fake Flux controller is started")
        #expect(flux.kubeconfig.path == kubeconfig.path)
        let before = elsewhere.requests.count
        _ = try await flux.cluster.client().send(.GET, "/api/v1/namespaces")
        #expect(elsewhere.requests.count > before, "the client talks to the server the kubeconfig names: \(elsewhere.requests.suffix(3))")

        // An empty value is no value: the stand-ins.
        let empty = try await FluxTestCluster.start(environment: ["FLUXCI_TEST_KUBECONFIG": ""])
        defer { Task { await empty.stop() } }
        #expect(empty.cluster.fake != nil && empty.standIn != nil)
    }

    @Test func withoutItTheFakeAPIServerAndTheFakeControllerRun() async throws {
        let flux = try await FluxTestCluster.start(environment: [:])
        defer { Task { await flux.stop() } }
        let fake = try #require(flux.cluster.fake)
        #expect(flux.standIn != nil)
        let before = fake.requests.count
        _ = try await flux.cluster.client().send(.GET, "/api/v1/namespaces")
        #expect(fake.requests.count > before, "the kubeconfig names the fake")
        #expect(TestCluster.realKubeconfig(["FLUXCI_TEST_KUBECONFIG": "/k"]) == "/k" && TestCluster.realKubeconfig([:]) == nil)
    }
}
