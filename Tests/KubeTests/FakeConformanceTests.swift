import Foundation
import Testing
import TestSupport

@testable import Kube

/// The fake API server answers exactly as the recorded real kube-apiserver did: the same Status
/// bodies, the same apply responses, the same watch framing. Where it cannot, this fails.
@Suite(.serialized) struct FakeConformanceTests {
    static func recorded(_ name: String) throws -> (body: JSONValue, code: Int) {
        let text = try String(contentsOf: try TestPaths.shared("testdata/kube-apiserver/\(name)"), encoding: .utf8)
        let lines = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n")
        return (try JSONValue.parse(Data(lines.dropLast().joined(separator: "\n").utf8)), Int(lines.last!)!)
    }

    static func expectSame(_ response: KubeClient.Response, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try recorded(name)
        #expect(response.status == expected.code, "\(name): status", sourceLocation: sourceLocation)
        let actual = try JSONValue.parse(response.body)
        #expect(actual == expected.body, "\(name):\n fake: \(actual.jsonText)\n real: \(expected.body.jsonText)", sourceLocation: sourceLocation)
    }

    static func secretJSON(_ name: String, _ namespace: String) -> Data {
        Data(#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"\#(name)","namespace":"\#(namespace)"},"stringData":{"age.agekey":"AGE-SECRET-KEY-EXAMPLE"}}"#.utf8)
    }

    @Test(.enabled(if: TestCluster.usesFake, "compares the fake with the recording (FLUXCI_TEST_KUBECONFIG is set: the real cluster is not the fake)")) func statusBodiesMatchTheRecording() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let fake = try #require(cluster.fake)
        let client = try cluster.client()
        _ = try await client.apply(KubeObject(.object([("apiVersion", .string("v1")), ("kind", .string("Namespace")), ("metadata", .object([("name", .string("flux-system"))]))])))

        try Self.expectSame(try await client.sendRaw(.GET, "/api/v1/namespaces/flux-system/secrets/does-not-exist"), "status-404-notfound.txt")
        try Self.expectSame(
            try await client.sendRaw(.POST, "/api/v1/namespaces/no-such-ns/secrets", body: Self.secretJSON("s", "no-such-ns")), "status-404-namespace.txt")
        _ = try await client.sendRaw(.POST, "/api/v1/namespaces/flux-system/secrets", body: Self.secretJSON("sops-gpg", "flux-system"))
        try Self.expectSame(
            try await client.sendRaw(.POST, "/api/v1/namespaces/flux-system/secrets", body: Self.secretJSON("sops-gpg", "flux-system")), "status-409-alreadyexists.txt")
        try Self.expectSame(
            try await client.sendRaw(.POST, "/api/v1/namespaces/flux-system/secrets", body: Self.secretJSON("Bad_Name", "flux-system")), "status-422-invalid.txt")

        let wrong = cluster.directory.appendingPathComponent("wrong")
        try fake.writeKubeconfig(to: wrong, token: "wrong")
        let badClient = try KubeClient(try Kubeconfig.load([wrong.path], explicit: true).connection(context: nil))
        try Self.expectSame(try await badClient.sendRaw(.GET, "/api/v1/namespaces/flux-system/secrets"), "status-401-badtoken.txt")
        var anonymous = badClient.connection
        anonymous.token = nil
        try Self.expectSame(try await KubeClient(anonymous).sendRaw(.GET, "/api/v1/namespaces/flux-system/secrets"), "status-403-anonymous.txt")
    }

    @Test(.enabled(if: TestCluster.usesFake, "compares the fake with the recording (FLUXCI_TEST_KUBECONFIG is set: the real cluster is not the fake)")) func serverSideApplyMatchesTheRecording() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = try cluster.client()
        _ = try await client.apply(KubeObject(.object([("apiVersion", .string("v1")), ("kind", .string("Namespace")), ("metadata", .object([("name", .string("flux-system"))]))])))
        let query = [("fieldManager", "fluxci"), ("force", "true")]
        let created = try await client.sendRaw(
            .PATCH, "/api/v1/namespaces/flux-system/secrets/sops-age", query: query, body: Self.secretJSON("sops-age", "flux-system"),
            contentType: "application/apply-patch+yaml")
        let expected = try Self.recorded("ssa-201-secret.txt")
        #expect(created.status == expected.code)
        let actual = try JSONValue.parse(created.body)
        // Server-made values (uid, times, resourceVersion) differ; everything else is the same.
        for path in [["kind"], ["apiVersion"], ["data"], ["type"], ["metadata", "name"], ["metadata", "namespace"]] {
            #expect(path.reduce(Optional(actual)) { $0?[$1] } == path.reduce(Optional(expected.body)) { $0?[$1] }, "\(path)")
        }
        #expect(Set(actual["metadata"]!.object!.map(\.key)) == Set(expected.body["metadata"]!.object!.map(\.key)))
        let field = actual["metadata", "managedFields"]?.array?.first
        let recordedField = expected.body["metadata", "managedFields"]?.array?.first
        #expect(field?["manager"] == recordedField?["manager"] && field?["operation"] == recordedField?["operation"])
        #expect(field?["fieldsV1", "f:stringData"] == recordedField?["fieldsV1", "f:stringData"])

        let conflict = try await client.sendRaw(
            .PATCH, "/api/v1/namespaces/flux-system/secrets/sops-age", query: [("fieldManager", "kubectl")],
            body: Data(#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sops-age","namespace":"flux-system"},"stringData":{"age.agekey":"OTHER"}}"#.utf8),
            contentType: "application/apply-patch+yaml")
        try Self.expectSame(conflict, "ssa-409-conflict.txt")
    }

    @Test(.enabled(if: TestCluster.usesFake, "compares the fake with the recording (FLUXCI_TEST_KUBECONFIG is set: the real cluster is not the fake)")) func discoveryAndWatchFraming() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let client = try cluster.client()
        let v1 = try await client.sendRaw(.GET, "/api/v1")
        #expect(try JSONValue.parse(v1.body) == JSONValue.parse(Data(contentsOf: try TestPaths.shared("testdata/kube-apiserver/discovery-api-v1.json"))))
        let text = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        _ = try await client.applyAll(try Manifest.objects(text))
        let kustomizeDiscovery = try JSONValue.parse(try await client.sendRaw(.GET, "/apis/kustomize.toolkit.fluxcd.io/v1").body)
        let recordedDiscovery = try JSONValue.parse(Data(contentsOf: try TestPaths.shared("testdata/kube-apiserver/discovery-kustomize-v1.json")))
        let names = { (list: JSONValue) in Set((list["resources"]?.array ?? []).compactMap { $0["name"]?.string }) }
        #expect(names(kustomizeDiscovery) == names(recordedDiscovery))
        #expect(kustomizeDiscovery["groupVersion"] == recordedDiscovery["groupVersion"])

        // Watch events are newline-delimited {"type","object"} lines, like the recording.
        let recordedEvents = try String(contentsOf: try TestPaths.shared("testdata/kube-apiserver/watch-kustomizations.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
        let first = recordedEvents[0]["object"]!
        var object = first
        var metadata = JSONValue.object([("name", first["metadata", "name"]!), ("namespace", first["metadata", "namespace"]!)])
        metadata.set("namespace", .string("flux-system"))
        object.set("metadata", metadata)
        object.remove("status")
        let list = try await client.sendRaw(.GET, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations")
        let version = try JSONValue.parse(list.body)["metadata", "resourceVersion"]!.string!
        // Applied before the watch starts, and watched from the version listed before it: the
        // API server replays the event from its history (as kube-apiserver's watch cache does),
        // so the framing is checked without racing the apply against the watch's life.
        _ = try await client.apply(KubeObject(object))
        let watched = try await client.sendRaw(
            .GET, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations",
            query: [("watch", "1"), ("resourceVersion", version), ("timeoutSeconds", "1")])
        let body = String(decoding: watched.body, as: UTF8.self)
        let events = try body.split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
        let event = try #require(events.first, "the watch saw no event")
        #expect(event["type"] == recordedEvents[0]["type"])
        #expect(Set(try #require(event.object).map(\.key)) == Set(recordedEvents[0].object!.map(\.key)))
        #expect(events.first?["object", "spec", "path"] == first["spec", "path"])
        #expect(events.first?["object", "metadata", "generation"] == first["metadata", "generation"])
    }
}
