import Foundation
import Kube

/// The API server a Kubernetes test talks to: a real cluster when FLUXCI_TEST_KUBECONFIG names a
/// kubeconfig, else the in-process fake. Tests that need the fake's controls (faults, a fake
/// controller) run only against the fake, and say so.
public struct TestCluster: Sendable {
    public var kubeconfig: URL
    public var fake: FakeAPIServer?
    public var directory: URL

    public static var realKubeconfig: String? {
        ProcessInfo.processInfo.environment["FLUXCI_TEST_KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var usesFake: Bool { realKubeconfig == nil }

    public static func start() async throws -> TestCluster {
        let directory = try TestPaths.temporaryDirectory("fluxci-kube")
        removeAtExit(directory)
        if let real = realKubeconfig {
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
