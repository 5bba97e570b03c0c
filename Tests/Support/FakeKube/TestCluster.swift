import Foundation
import Kube

/// The API server a Kubernetes test talks to: a real cluster when FLUXCI_TEST_KUBECONFIG names a
/// kubeconfig, else the in-process fake. Tests that need the fake's controls (faults, a fake
/// controller) run only against the fake, and say so.
public struct TestCluster: Sendable {
    public var kubeconfig: URL
    public var fake: FakeAPIServer?
    public var directory: URL

    public static var realKubeconfig: String? { realKubeconfig(ProcessInfo.processInfo.environment) }

    /// The one switch: FLUXCI_TEST_KUBECONFIG set and not empty.
    public static func realKubeconfig(_ environment: [String: String]) -> String? {
        environment["FLUXCI_TEST_KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var usesFake: Bool { realKubeconfig == nil }

    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> TestCluster {
        let directory = try TestPaths.temporaryDirectory("fluxci-kube")
        removeAtExit(directory)
        if let real = realKubeconfig(environment) {
            return TestCluster(kubeconfig: URL(fileURLWithPath: real), fake: nil, directory: directory)
        }
        let fake = try await FakeAPIServer.start()
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try fake.writeKubeconfig(to: kubeconfig)
        return TestCluster(kubeconfig: kubeconfig, fake: fake, directory: directory)
    }

    public func client(retryDeadline: Duration = .seconds(10)) throws -> KubeClient {
        let config = try Kubeconfig.load([kubeconfig.path], explicit: true)
        return try KubeClient(try config.connection(context: nil), retryDeadline: retryDeadline)
    }

    /// A namespace name of this test's own, so tests against a real cluster do not collide.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func stop() async { await fake?.shutdown() }
}

/// What a wait test (bootstrap, e2e) runs against, chosen by the same switch: FLUXCI_TEST_KUBECONFIG's
/// cluster, whose own Flux controllers reconcile (no stand-in is started), else the fake API
/// server with the fake Flux controller. Tests that need the stand-ins (fault injection, the
/// request log) are skipped against a real cluster, saying why; `api` and `controller` stop a
/// test that uses them there without saying so.
public struct FluxTestCluster: Sendable {
    public var cluster: TestCluster
    /// nil against a real cluster.
    public var standIn: FakeFluxController?

    public static func start(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> FluxTestCluster {
        let cluster = try await TestCluster.start(environment: environment)
        guard let fake = cluster.fake else { return FluxTestCluster(cluster: cluster, standIn: nil) }
        let controller = FakeFluxController(server: fake)
        controller.start()
        return FluxTestCluster(cluster: cluster, standIn: controller)
    }

    public var kubeconfig: URL { cluster.kubeconfig }

    public var api: FakeAPIServer {
        guard let fake = cluster.fake else { preconditionFailure("this test needs the fake API server: mark it to be skipped when FLUXCI_TEST_KUBECONFIG is set") }
        return fake
    }

    public var controller: FakeFluxController {
        guard let standIn else { preconditionFailure("this test needs the fake Flux controller: mark it to be skipped when FLUXCI_TEST_KUBECONFIG is set") }
        return standIn
    }

    public func stop() async {
        standIn?.stop()
        await cluster.stop()
    }
}
