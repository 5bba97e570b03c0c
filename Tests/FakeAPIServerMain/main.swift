import Foundation
import TestSupport

// A stand-in kube-apiserver for benchmarks and manual runs: the test suite's in-process fake,
// served until SIGTERM or SIGINT. Writes a kubeconfig for it to the path given as the only argument.
guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: fluxci-fake-apiserver KUBECONFIG-PATH\n".utf8))
    exit(2)
}
for signalNumber in [SIGTERM, SIGINT] {
    // exit() runs the test support's atexit cleanup (its certificates' folder).
    signal(signalNumber) { _ in exit(0) }
}
let server = try await FakeAPIServer.start()
try server.writeKubeconfig(to: URL(fileURLWithPath: CommandLine.arguments[1]))
FileHandle.standardOutput.write(Data("fake API server on \(server.url.absoluteString)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
