import Foundation
import Testing
import TestSupport

/// Tester t9 F6b: a SOPS-encrypted Secret whose decrypted `data` value is not base64 passes
/// `kubectl kustomize` and kustomize-controller's decryption, and the API server then refuses it.
/// The preflight, the one step that sees decrypted values, checks them with the plain-text path's
/// code: an error at the data key's line of the encrypted file, through the real `fluxci` on a
/// file the real sops encrypted, with no value in any output; the valid neighbours are quiet.
@Suite(.serialized) struct DecryptedSecretPreflightTests {
    static let secretValue = "not-base64-SECRETVALUE-7373!"

    @Test func aDecryptedDataValueThatIsNotBase64IsAnErrorAtItsKey() async throws {
        let recipient = "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"
        let app = "kubernetes/apps/default/whoami/app"
        var bad = "", good = ""
        let checkout = try await KeyDependentMessagesTests.homeLab { checkout in
            bad = try await Self.encrypt(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: badb64\ndata:\n  ok: c2VjcmV0\n  token: \(Self.secretValue)\n",
                recipient: recipient, in: checkout)
            // Valid neighbours: base64 data, stringData of anything, a value that postBuild
            // substitutes after kustomize-controller decrypts it.
            good = try await Self.encrypt(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: fine\ndata:\n  ok: c2VjcmV0\n  later: ${CLUSTER_TOKEN_B64:=c2VjcmV0}\nstringData:\n  plain: plain-GOODVALUE-6262!\n",
                recipient: recipient, in: checkout)
            try bad.write(to: checkout.appendingPathComponent("\(app)/badb64.sops.yaml"), atomically: true, encoding: .utf8)
            try good.write(to: checkout.appendingPathComponent("\(app)/fine.sops.yaml"), atomically: true, encoding: .utf8)
            let kustomization = checkout.appendingPathComponent("\(app)/kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8)).replacingOccurrences(of: "  - ./deployment.yaml\n", with: "  - ./deployment.yaml\n  - ./badb64.sops.yaml\n  - ./fine.sops.yaml\n")
                .write(to: kustomization, atomically: true, encoding: .utf8)
        }
        let (result, summary) = try await KeyDependentMessagesTests.plan(checkout, [], environment: ["SOPS_AGE_KEY_FILE": FleetFixture.ageKey.path])
        #expect(result.status != 0, "\(result.allOutput)")
        let line = try #require(bad.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("    token: ENC[") }) + 1
        let errors = KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: "Value not base64")
        #expect(errors.count == 1, "only the bad value: \(result.standardError)")
        let error = try #require(errors.first)
        #expect(error.file == "\(app)/badb64.sops.yaml" && error.line == String(line), "\(error)")
        #expect(error.text.contains("Secret/badb64 (decrypted from \(app)/badb64.sops.yaml): data.token is not base64 (illegal base64 data at input byte 3)"), "\(error.text)")
        #expect(error.text.contains("flux-system/whoami applies nothing"), "\(error.text)")
        #expect(error.text.contains("Fix: Did you mean stringData?"), "\(error.text)")
        #expect(result.standardError.contains("::error title=SOPS preflight failed::"), "\(result.standardError)")
        // No decrypted value in any output (stdout, stderr, the step summary) but the
        // `::add-mask::` commands the runner consumes (tester t10 F4: the preflight masks the
        // values it decrypts, before anything prints), redacted or not.
        for output in [result.standardOutput, result.standardError, summary] {
            let shown = output.split(separator: "\n").filter { !$0.hasPrefix("::add-mask::") }.joined(separator: "\n")
            #expect(!shown.contains("SECRETVALUE") && !shown.contains("GOODVALUE"))
        }
        #expect(result.standardError.contains("::add-mask::\(Self.secretValue)\n") && result.standardError.contains("::add-mask::plain-GOODVALUE-6262!\n"))
        #expect(leakedSecrets(in: result.allOutput + summary, secrets: FleetFixture.plaintexts).isEmpty)
    }

    /// Tester t12 F7: sops records the type of each value it encrypts (`type:int`, `type:bool`)
    /// and restores it, so an unquoted `port: 5432` in a Secret's stringData, or `flag: true` in
    /// a ConfigMap's data, is a number or bool once kustomize-controller decrypts the object, and
    /// the API server refuses it. An error at the key's line naming only the type; the quoted
    /// neighbours (strings in the same files) are quiet.
    @Test func aDecryptedNumberOrBoolInAStringFieldIsAnErrorAtItsKey() async throws {
        let recipient = "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"
        let app = "kubernetes/apps/default/whoami/app"
        var secret = "", config = ""
        let checkout = try await KeyDependentMessagesTests.homeLab { checkout in
            secret = try await Self.encrypt(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: \"48213579\"\n  port: 48213579\n", recipient: recipient, in: checkout)
            config = try await Self.encrypt(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  flag: true\n  mode: \"true\"\n", recipient: recipient, in: checkout)
            try secret.write(to: checkout.appendingPathComponent("\(app)/db.sops.yaml"), atomically: true, encoding: .utf8)
            try config.write(to: checkout.appendingPathComponent("\(app)/flags.sops.yaml"), atomically: true, encoding: .utf8)
            let kustomization = checkout.appendingPathComponent("\(app)/kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8)).replacingOccurrences(of: "  - ./deployment.yaml\n", with: "  - ./deployment.yaml\n  - ./db.sops.yaml\n  - ./flags.sops.yaml\n")
                .write(to: kustomization, atomically: true, encoding: .utf8)
        }
        let (result, summary) = try await KeyDependentMessagesTests.plan(checkout, [], environment: ["SOPS_AGE_KEY_FILE": FleetFixture.ageKey.path])
        #expect(result.status != 0, "\(result.allOutput)")
        func line(_ text: String, _ prefix: String) throws -> String {
            String(try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(prefix) }) + 1)
        }
        let errors = KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: "Non-string value in a string field")
        #expect(errors.count == 2, "\(result.standardError)")
        let port = try #require(errors.first { $0.file == "\(app)/db.sops.yaml" })
        #expect(port.line == (try line(secret, "    port: ENC[")), "\(port)")
        #expect(port.text.contains("Secret/db (decrypted from \(app)/db.sops.yaml): stringData.port is a number once decrypted") && !port.text.contains("password"), "\(port.text)")
        let flag = try #require(errors.first { $0.file == "\(app)/flags.sops.yaml" })
        #expect(flag.line == (try line(config, "    flag: ENC[")), "\(flag)")
        #expect(flag.text.contains("data.flag is a bool once decrypted") && !flag.text.contains("data.mode"), "\(flag.text)")
        for output in [result.standardOutput, result.standardError, summary] {
            let shown = output.split(separator: "\n").filter { !$0.hasPrefix("::add-mask::") }.joined(separator: "\n")
            #expect(!shown.contains("48213579"), "no decrypted value is shown")
        }
    }

    /// The real sops, as a fleet encrypts a Secret (`encrypted_regex: ^(data|stringData)$`).
    static func encrypt(_ text: String, recipient: String, in folder: URL) async throws -> String {
        let plain = folder.deletingLastPathComponent().appendingPathComponent("plain-\(UUID().uuidString.prefix(6)).yaml")
        try text.write(to: plain, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: plain) }
        return try await SopsTool.run(
            ["--config", "/dev/null", "-e", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", "--input-type", "yaml", "--output-type", "yaml", plain.path])
    }
}
