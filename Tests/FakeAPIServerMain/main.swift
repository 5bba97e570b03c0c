import Foundation
import TestSupport

// A stand-in kube-apiserver for benchmarks and manual runs: the test suite's in-process fake,
// served until SIGTERM or SIGINT. Writes a kubeconfig for it to the path given as the last
// argument. With `--flux-controller-stand-in` the tests' stand-in for Flux's controllers runs
// against it too (every source fetched, every Kustomization built with the real
// `kubectl kustomize` and applied, every HelmRelease "installed", workloads rolled out), so that
// a full `fluxci e2e`/`bootstrap` can be tried by hand without a cluster.
var arguments = Array(CommandLine.arguments.dropFirst())
let withController = arguments.first == "--flux-controller-stand-in"
if withController { arguments.removeFirst() }
// An option (`--help`) is not a path: an earlier run wrote a kubeconfig to a file named `--help`.
guard arguments.count == 1, !arguments[0].hasPrefix("-") else {
    FileHandle.standardError.write(Data("usage: fluxci-fake-apiserver [--flux-controller-stand-in] KUBECONFIG-PATH\n".utf8))
    exit(2)
}
for signalNumber in [SIGTERM, SIGINT] {
    // exit() runs the test support's atexit cleanup (its certificates' folder).
    signal(signalNumber) { _ in exit(0) }
}
let server = try await FakeAPIServer.start()
try server.writeKubeconfig(to: URL(fileURLWithPath: arguments[0]))
var controller: FakeFluxController?
if withController {
    controller = FakeFluxController(server: server)
    controller?.start()
}
FileHandle.standardOutput.write(Data("fake API server on \(server.url.absoluteString)\(withController ? " with the Flux controller stand-in" : "")\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
