import Actions
import Flux
import Foundation
import Kube
import Testing
import TestSupport

/// With 200 HelmReleases in 40 namespaces the waiter holds one watch per kind, never one per
/// object or namespace, and never polls. Against the fake API server (a stand-in, because the
/// fake Flux controller marks the HelmReleases ready; a real cluster would need helm-controller
/// and a chart repository).
@Suite(.serialized) struct WatchCountTests {
    @Test func twoHundredHelmReleasesInFortyNamespacesAreOneWatch() async throws {
        let server = try await FakeAPIServer.start()
        let controller = FakeFluxController(server: server)
        defer { controller.stop(); Task { await server.shutdown() } }
        let components = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        for crd in try Manifest.objects(components) where crd.kind == "CustomResourceDefinition"
            && ["helmreleases.helm.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io"].contains(crd.name)
        {
            server.applyAsController(crd)
        }
        let directory = try TestPaths.temporaryDirectory("fluxci-watch-count")
        removeAtExit(directory)
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try server.writeKubeconfig(to: kubeconfig)
        let client = try KubeClient(try Kubeconfig.load([kubeconfig.path], explicit: true).connection(context: nil))
        // The CRDs are served once Established.
        for _ in 0..<100 {
            if (try? await client.resource(apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease")) != nil,
                (try? await client.resource(apiVersion: "source.toolkit.fluxcd.io/v1", kind: "HelmRepository")) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        func object(_ yaml: String) throws -> KubeObject { try #require(try Manifest.objects(yaml).first) }
        server.applyAsController(try object("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n"))
        server.applyAsController(try object("""
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: HelmRepository
            metadata: {name: charts, namespace: flux-system}
            spec: {interval: 10m, url: "https://charts.example"}
            """))
        var targets: [ReconciliationWaiter.Target] = [
            .init(reference: ObjectReference(group: "source.toolkit.fluxcd.io", kind: "HelmRepository", namespace: "flux-system", name: "charts"),
                  apiVersion: "source.toolkit.fluxcd.io/v1", location: nil)
        ]
        for namespace in (0..<40).map({ "team-\($0)" }) {
            server.applyAsController(try object("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \(namespace)\n"))
            for index in 0..<5 {
                server.applyAsController(try object("""
                    apiVersion: helm.toolkit.fluxcd.io/v2
                    kind: HelmRelease
                    metadata: {name: app-\(index), namespace: \(namespace)}
                    spec:
                      interval: 10m
                      chart: {spec: {chart: app, version: "1.\(index).0", sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}}}
                    """))
                targets.append(.init(
                    reference: ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: namespace, name: "app-\(index)"),
                    apiVersion: "helm.toolkit.fluxcd.io/v2", location: nil))
            }
        }
        #expect(server.objects(group: "helm.toolkit.fluxcd.io", plural: "helmreleases").count == 200)
        let before = server.requests.count
        controller.start()
        let reporter = Reporter(.init(mode: .terminal(color: false)), log: CapturedText())
        let waiter = ReconciliationWaiter(
            client: client, revision: Revision(branch: "main", commit: String(repeating: "a", count: 40)), timeout: .seconds(60),
            perKustomizationTimeout: .seconds(60), reporter: reporter)
        let rows = try await waiter.wait(targets, what: "Flux object")
        #expect(rows.count == 201)
        #expect(rows.allSatisfy { $0.readiness == .ready })
        #expect(rows.first { $0.reference.name == "app-3" }?.revision == "app@1.3.0")
        let requests = server.requests[before...].filter { !$0.hasPrefix("PATCH") && !$0.contains("/status") }
        let watches = requests.filter { $0.hasSuffix("(watch)") }
        // At most one watch per kind: a kind whose list already showed every object ready opens no
        // watch when another kind's watch decides first (the wait does not wait for it to open).
        #expect(watches.filter { $0.contains("/helmreleases") }.count <= 1, "\(watches)")
        #expect(watches.filter { $0.contains("/helmrepositories") }.count <= 1, "\(watches)")
        #expect((1...2).contains(watches.count), "\(watches)")
        // Lists once per kind (before its watch), across all namespaces; no per-object GETs.
        #expect(!requests.contains { $0.contains("/namespaces/") && ($0.contains("/helmreleases") || $0.contains("/helmrepositories")) }, "\(requests)")
        #expect(requests.filter { $0 == "GET /apis/helm.toolkit.fluxcd.io/v2/helmreleases" }.count == 1)
    }
}
