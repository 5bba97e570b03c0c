import Actions
import Flux
import Foundation
import Kube
import TestSupport

// Benchmark (scripts/bench wait-latency): how long after a controller sets Ready=True does the
// waiter notice? fluxci watches; the flux CLI polls every 2 s. Both run against the same fake API
// server (a stand-in) in one process, over its real HTTP and TLS path. Prints medians in ms.
let server = try await FakeAPIServer.start()
let directory = try TestPaths.temporaryDirectory("fluxci-latency")
removeAtExit(directory)
let kubeconfig = directory.appendingPathComponent("kubeconfig")
try server.writeKubeconfig(to: kubeconfig)
let client = try KubeClient(try Kubeconfig.load([kubeconfig.path], explicit: true).connection(context: nil))
let secrets = try await client.resource(apiVersion: "v1", kind: "Secret")
let rounds = Int(CommandLine.arguments.dropFirst().first ?? "7") ?? 7
// `helmrelease`: the same measure through the waiter fluxci runs (ReconciliationWaiter, the
// HelmRelease rule), the controller's Ready=True written as helm-controller writes it.
let helmRelease = CommandLine.arguments.dropFirst(2).first == "helmrelease"
if helmRelease {
    try await measureHelmRelease()
    await server.shutdown()
    exit(0)
}

func object(_ name: String, ready: Bool) -> KubeObject {
    KubeObject(.object([
        ("apiVersion", .string("v1")), ("kind", .string("Secret")),
        ("metadata", .object([("name", .string(name)), ("namespace", .string("default")), ("labels", .object([("ready", .string(ready ? "true" : "false"))]))])),
    ]))
}

func isReady(_ json: JSONValue) -> Bool { json["metadata", "labels", "ready"]?.string == "true" }

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

var watched: [Double] = [], polled: [Double] = []
for round in 0..<rounds {
    let name = "target-\(round)"
    _ = try await client.apply(object(name, ready: false))
    // A random moment within the polling period, as a controller's would be.
    let delay = Duration.milliseconds(Int64.random(in: 200...2200))
    let watcher = Task {
        _ = try await client.observe(secrets, namespace: "default", fieldSelector: "metadata.name=\(name)", timeout: .seconds(30)) { event -> Bool? in
            isReady(event.object) ? true : nil
        }
        return ContinuousClock.now
    }
    let poller = Task {
        while true {
            if let live = try await client.fetch(secrets, namespace: "default", name: name), isReady(live) { return ContinuousClock.now }
            try await Task.sleep(for: .seconds(2))
        }
    }
    try await Task.sleep(for: delay)
    let readyAt = ContinuousClock.now
    _ = try await client.apply(object(name, ready: true))
    let seenByWatch = try await watcher.value, seenByPoll = try await poller.value
    func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
    watched.append(ms(seenByWatch - readyAt))
    polled.append(ms(seenByPoll - readyAt))
}
print(String(format: "%.1f %.1f", median(watched), median(polled)))
await server.shutdown()
exit(0)

func measureHelmRelease() async throws {
    let components = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
    for crd in try Manifest.objects(components) where crd.kind == "CustomResourceDefinition" && crd.name == "helmreleases.helm.toolkit.fluxcd.io" {
        server.applyAsController(crd)
    }
    var served = false
    for _ in 0..<100 where !served {
        served = (try? await client.resource(apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease")) != nil
        if !served { try await Task.sleep(for: .milliseconds(50)) }
    }
    let releases = try await client.resource(apiVersion: "helm.toolkit.fluxcd.io/v2", kind: "HelmRelease")
    // Where the time goes: the fake writes the event to the stream (`flushed`), the waiter decides
    // (its "✓ … ready" line: `decided`), the wait returns (`watched`).
    let marks = Marks()
    FakeAPIServer.watchEventFlushed = { object in
        if Readiness.fluxObject(object) == .ready, let name = object["metadata", "name"]?.string { marks.set("flushed \(name)") }
    }
    let waiter = ReconciliationWaiter(
        client: client, revision: Revision(branch: "main", commit: String(repeating: "0", count: 40)), timeout: .seconds(30),
        perKustomizationTimeout: .seconds(30), reporter: Reporter(.init(mode: .terminal(color: false)), log: MarkingSink(marks)))
    var watched: [Double] = [], polled: [Double] = [], flushed: [Double] = [], decided: [Double] = []
    func ready(_ json: JSONValue) -> Bool { Readiness.fluxObject(json) == .ready }
    for round in 0..<rounds {
        let name = "release-\(round)"
        server.applyAsController(try Manifest.objects("""
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {name: \(name), namespace: default}
            spec:
              interval: 10m
              chart: {spec: {chart: app, version: 1.0.0, sourceRef: {kind: HelmRepository, name: charts}}}
            """)[0])
        let target = ReconciliationWaiter.Target(
            reference: ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "default", name: name),
            apiVersion: "helm.toolkit.fluxcd.io/v2", location: nil)
        let delay = Duration.milliseconds(Int64.random(in: 200...2200))
        let watcher = Task {
            _ = try await waiter.wait([target])
            return ContinuousClock.now
        }
        let poller = Task {
            while true {
                if let live = try await client.fetch(releases, namespace: "default", name: name), ready(live) { return ContinuousClock.now }
                try await Task.sleep(for: .seconds(2))
            }
        }
        try await Task.sleep(for: delay)
        let readyAt = ContinuousClock.now
        server.setStatus(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: "default", name: name, .object([
            ("conditions", .array([.object([
                ("type", .string("Ready")), ("status", .string("True")), ("reason", .string("InstallSucceeded")),
                ("message", .string("Helm install succeeded for release default/\(name).v1 with chart app@1.0.0")),
            ])])),
            ("history", .array([.object([("chartName", .string("app")), ("chartVersion", .string("1.0.0")), ("version", .integer(1))])])),
            ("observedGeneration", .integer(1)),
        ]))
        let seenByWatch = try await watcher.value, seenByPoll = try await poller.value
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
        watched.append(ms(seenByWatch - readyAt))
        polled.append(ms(seenByPoll - readyAt))
        if let at = marks.get("flushed \(name)") { flushed.append(ms(at - readyAt)) }
        if let at = marks.get("decided \(name)") { decided.append(ms(at - readyAt)) }
    }
    print(String(format: "%.1f %.1f", median(watched), median(polled)))
    // The breakdown, on standard error (scripts/bench reads the two medians above).
    if !flushed.isEmpty, !decided.isEmpty {
        FileHandle.standardError.write(Data(String(
            format: "wait-latency breakdown (medians, ms after the controller's write): event flushed by the fake %.2f, waiter decided %.2f, wait returned %.2f\n",
            median(flushed), median(decided), median(watched)).utf8))
    }
}

/// Instants by label, set once.
final class Marks: @unchecked Sendable {
    private let lock = NSLock()
    private var instants: [String: ContinuousClock.Instant] = [:]
    func set(_ label: String) { let now = ContinuousClock.now; lock.withLock { if instants[label] == nil { instants[label] = now } } }
    func get(_ label: String) -> ContinuousClock.Instant? { lock.withLock { instants[label] } }
}

/// The waiter's log: its "✓ HelmRelease/default/<name> ready" line is the moment it decided.
final class MarkingSink: TextSink, @unchecked Sendable {
    let marks: Marks
    init(_ marks: Marks) { self.marks = marks }
    func write(_ text: String) {
        if let match = text.firstMatch(of: /✓ HelmRelease\/default\/(\S+) ready/) { marks.set("decided \(match.1)") }
    }
    func write(_ data: Data) { write(String(decoding: data, as: UTF8.self)) }
}
