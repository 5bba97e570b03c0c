import Foundation
import Testing
import TestSupport

/// Tester t10 F4 (the part fluxci already knows the values of): a controller can echo a secret
/// value back in a message and its events (kustomize-controller's dry-run error quoting a value
/// that `postBuild.substituteFrom` put into a manifest). bootstrap masks the values of the
/// substituteFrom Secrets it decrypts (tester t9 F5); the log and step summary are redacted
/// through the reporter, and so must the artifacts, where the events and status are written.
@Suite(.serialized) struct ControllerEchoedSecretTests {
    static let value = "ECHOED-SUBSTITUTED-4242-value"

    @Test(.standIn("the fake Flux controller's fault injection")) func aMaskedValueInAControllerMessageReachesNoOutputNorArtifact() async throws {
        let scratch = try TestPaths.temporaryDirectory("fluxci-echo")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // A substituteFrom Secret, encrypted by the real sops for the example fleet's age key.
        let encrypted = try await DecryptedSecretPreflightTests.encrypt(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-vars\n  namespace: flux-system\nstringData:\n  API_TOKEN: \(Self.value)\n",
            recipient: "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx", in: scratch.appendingPathComponent("x"))
        let setup = try await BootstrapTests.setup { checkout in
            let infrastructure = checkout.appendingPathComponent("kubernetes/overlays/kind/local/infrastructure")
            try encrypted.write(to: infrastructure.appendingPathComponent("cluster-vars.sops.yaml"), atomically: true, encoding: .utf8)
            let kustomization = infrastructure.appendingPathComponent("kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8) + "  - cluster-vars.sops.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
            let apps = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
            try (try String(contentsOf: apps, encoding: .utf8) + "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-vars\n")
                .write(to: apps, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        setup.controller.set(
            "apps", .fail(reason: "ReconciliationFailed", message: "ConfigMap/apps/settings dry-run failed: data.token: Invalid value: \"\(Self.value)\": must be a UUID"))
        let artifacts = scratch.appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "60s"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("::add-mask::\(Self.value)"), "masked before it could print: \(result.standardError)")
        #expect(result.standardError.contains("data.token: Invalid value: \"***\""), "the message is kept, the value redacted: \(result.standardError)")
        let events = try String(contentsOf: artifacts.appendingPathComponent("kustomization-flux-system-apps.txt"), encoding: .utf8)
        #expect(events.contains("ReconciliationFailed") && events.contains("***"), "the events are kept, the value redacted: \(events)")
        #expect(leakedSecrets(in: result.allOutput + summary + events, secrets: [Self.value]).isEmpty, "no value in the log, the summary or the artifacts")
    }
}
