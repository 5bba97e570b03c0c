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

    static let decrypted = "ECHOED-DECRYPTED-7171-value"
    static let decoded = "ECHOED-DATA-DECODED-5151-value"

    /// Tester t10 F4, the values the SOPS preflight decrypts: a SOPS Secret's decrypted value
    /// (a stringData value, and a data value both base64-decoded and as base64) that a
    /// controller echoes is masked before it could print and reaches no output nor artifact;
    /// a decrypted value the repository prints in plain text (`podinfo`) and one of 3
    /// characters are not masked (DecryptedValueMasks's rule).
    @Test(.standIn("the fake Flux controller's fault injection")) func aDecryptedValueInAControllerMessageReachesNoOutputNorArtifact() async throws {
        let scratch = try TestPaths.temporaryDirectory("fluxci-echo-sops")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let base64 = Data(Self.decoded.utf8).base64EncodedString()
        let encrypted = try await DecryptedSecretPreflightTests.encrypt(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: echo-auth\n  namespace: flux-system\ntype: Opaque\ndata:\n  token: \(base64)\nstringData:\n  password: \(Self.decrypted)\n  release: podinfo\n  pin: x9Q\n",
            recipient: "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx", in: scratch.appendingPathComponent("x"))
        #expect(!encrypted.contains(Self.decrypted) && !encrypted.contains(base64), "sops encrypted the values")
        let setup = try await BootstrapTests.setup { checkout in
            let infrastructure = checkout.appendingPathComponent("kubernetes/overlays/kind/local/infrastructure")
            try encrypted.write(to: infrastructure.appendingPathComponent("echo-auth.sops.yaml"), atomically: true, encoding: .utf8)
            let kustomization = infrastructure.appendingPathComponent("kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8) + "  - echo-auth.sops.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        setup.controller.set(
            "apps",
            .fail(
                reason: "ReconciliationFailed",
                message: "Secret/flux-system/echo-auth dry-run failed: data.password: Invalid value: \"\(Self.decrypted)\", data.token: Invalid value: \"\(Self.decoded)\" (\(base64)), data.release: \"podinfo\", data.pin: \"x9Q\""))
        let artifacts = scratch.appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "60s"])
        #expect(result.status != 0)
        let log = result.standardError
        for value in [Self.decrypted, Self.decoded, base64] {
            let mask = try #require(log.range(of: "::add-mask::\(value)\n"), "masked: \(value.prefix(6))…")
            let echoed = try #require(log.range(of: "dry-run failed"), "the message is printed")
            #expect(mask.lowerBound < echoed.lowerBound, "masked before the message printed")
        }
        #expect(log.contains("data.password: Invalid value: \"***\", data.token: Invalid value: \"***\" (***)"), "the message is kept, the values redacted: \(log)")
        // Published in plain text by the repository (the release, its namespace and paths), and too short: not masked.
        #expect(!log.contains("::add-mask::podinfo") && !log.contains("::add-mask::x9Q"))
        #expect(log.contains("data.release: \"podinfo\", data.pin: \"x9Q\""), "not redacted: \(log)")
        #expect(log.components(separatedBy: "podinfo").count > 3, "the release name still shows outside the message")
        let events = try String(contentsOf: artifacts.appendingPathComponent("kustomization-flux-system-apps.txt"), encoding: .utf8)
        #expect(events.contains("ReconciliationFailed") && events.contains("***"), "the events are kept, the values redacted: \(events)")
        #expect(leakedSecrets(in: result.allOutput + summary + events, secrets: [Self.decrypted, Self.decoded, base64]).isEmpty, "no value in the log, the summary or the artifacts")
    }
}
