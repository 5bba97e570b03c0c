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
