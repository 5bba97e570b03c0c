import Foundation
import Testing
import TestSupport

/// Tester t14 F4: a Kustomization whose `decryption.secretRef` names a Secret the repository
/// applies decrypts, in the cluster, with that Secret's keys only: kustomize-controller's
/// decryptor (`ImportKeys`) gets the Secret in the Kustomization's namespace and imports the
/// entries ending in `.agekey` (age identities) and `.asc` (armored PGP keys), nothing else.
/// Real git repositories, keys from the real age-keygen and gpg, files encrypted by the real
/// sops, planned through the real `fluxci`: the run's own key (SOPS_AGE_KEY_FILE) opens every
/// file, so only the Secret's keys can make a plan fail. No key reaches any output.
@Suite(.serialized) struct RepositoryDecryptionSecretTests {
    static let apps = "  dependsOn:\n    - name: keys\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-custom\n"

    struct Fleet {
        var checkout: URL
        var runKey: URL
    }

    /// The tester's shape: `keys` applies the Secret `secretYAML`, `apps` (dependsOn keys)
    /// decrypts apps/s.sops.yaml, encrypted by sops for the run's age key plus `age` recipients
    /// and a `pgp` fingerprint (sops takes one --age list: the run's key joins it).
    static func fleet(secretYAML: String, age: [String] = [], pgp: String? = nil, appsNamespace: String = "flux-system", gnupg: URL? = nil, keysExtra: String = "", sealedForRun: Bool = false) async throws -> Fleet {
        let root = try TestPaths.temporaryDirectory("fluxci-repo-secret")
        removeAtExit(root)
        let checkout = root.appendingPathComponent("fleet")
        try FileManager.default.createDirectory(at: checkout.appendingPathComponent("clusters/kind/local/flux-system"), withIntermediateDirectories: true)
        // The Flux components flux bootstrap writes (the plan requires them).
        try FileManager.default.copyItem(
            at: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"),
            to: checkout.appendingPathComponent("clusters/kind/local/flux-system/gotk-components.yaml"))
        let run = try await AgeKeyPair.generate()
        let runKey = root.appendingPathComponent("run.agekey")
        try (run.identity + "\n").write(to: runKey, atomically: true, encoding: .utf8)
        func write(_ path: String, _ text: String) throws {
            let url = checkout.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("clusters/kind/local/flux-system/gotk-sync.yaml", FleetManifests.sync(path: "./clusters/kind/local"))
        try write("clusters/kind/local/flux-system/kustomization.yaml", FleetManifests.fluxSystemKustomization(["gotk-components.yaml", "gotk-sync.yaml"]))
        try write("clusters/kind/local/keys.yaml", kustomization("keys", path: "./keys", extra: keysExtra))
        try write("clusters/kind/local/apps.yaml", kustomization("apps", namespace: appsNamespace, path: "./apps", extra: appsNamespace == "flux-system" ? apps : apps.replacingOccurrences(of: "- name: keys", with: "- {name: keys, namespace: flux-system}")))
        if sealedForRun {
            // The Secret encrypted by sops for the run's key (keys decrypts it with sops-age).
            let plainSecret = root.appendingPathComponent("secret.yaml")
            try secretYAML.write(to: plainSecret, atomically: true, encoding: .utf8)
            try write("keys/secret.yaml", try await SopsTool.run(["--config", "/dev/null", "-e", "--encrypted-regex", "^(data|stringData)$", "--age", run.recipient, plainSecret.path]))
            try FileManager.default.removeItem(at: plainSecret)
        } else {
            try write("keys/secret.yaml", secretYAML)
        }
        let plain = root.appendingPathComponent("plain.yaml")
        try "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\nstringData:\n  password: Rq7-apps-password-value\n".write(to: plain, atomically: true, encoding: .utf8)
        var environment: [String: String] = [:]
        if let gnupg { environment["GNUPGHOME"] = gnupg.path }
        let encrypted = try await SopsTool.run(
            ["--config", "/dev/null", "-e", "--encrypted-regex", "^(data|stringData)$", "--age", ([run.recipient] + age).joined(separator: ",")] + (pgp.map { ["--pgp", $0] } ?? []) + [plain.path], environment: environment)
        try write("apps/s.sops.yaml", encrypted)
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["-c", "user.name=fixture", "-c", "user.email=fixture@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: checkout)
        return Fleet(checkout: checkout, runKey: runKey)
    }

    static func plan(_ fleet: Fleet) async throws -> ProcessResult {
        let scratch = fleet.checkout.deletingLastPathComponent()
        return try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cloud", "kind", "--env", "local"],
            environment: [
                "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": scratch.appendingPathComponent("summary.md").path, "TMPDIR": scratch.path,
                "GNUPGHOME": scratch.path, "SOPS_AGE_KEY_FILE": fleet.runKey.path,
            ],
            workingDirectory: fleet.checkout)
    }

    static func secret(_ entries: [(String, String)], namespace: String = "flux-system") -> String {
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-custom\n  namespace: \(namespace)\nstringData:\n"
            + entries.map { "  \($0.0): |\n" + $0.1.split(separator: "\n").map { "    \($0)\n" }.joined() }.joined()
    }

    static func expectNoLeak(_ result: ProcessResult, _ secrets: [String]) {
        let leaked = leakedSecrets(in: result.allOutput, secrets: secrets + ["Rq7-apps-password-value"])
        #expect(leaked.isEmpty, "\(leaked)")
    }

    static func errors(_ result: ProcessResult, _ title: String) -> [(file: String, line: String, text: String)] {
        KeyDependentMessagesTests.annotations(result.standardError, level: "error", title: title)
    }

    /// Tester repro 26: the Secret holds another identity under age.agekey. An error at the
    /// secretRef naming the Secret, what was imported (its public key) and the file's recipients.
    @Test func anotherIdentityUnderAgekeyFailsAtTheSecretRef() async throws {
        let file = try await AgeKeyPair.generate(), other = try await AgeKeyPair.generate()
        let fleet = try await Self.fleet(secretYAML: Self.secret([("age.agekey", other.identity)]), age: [file.recipient])
        let result = try await Self.plan(fleet)
        #expect(result.status != 0, "\(result.allOutput)")
        let error = try #require(Self.errors(result, "Not encrypted for the decryption Secret").first, "\(result.allOutput)")
        #expect(error.file == "clusters/kind/local/apps.yaml" && error.line == "19", "\(error)")
        #expect(error.text.contains("flux-system/sops-custom") && error.text.contains("age.agekey (the age identity of \(other.recipient))"), "\(error.text)")
        #expect(error.text.contains("apps/s.sops.yaml is encrypted for") && error.text.contains(file.recipient), "\(error.text)")
        #expect(!result.allOutput.contains("(opened with"), "never claimed opened: \(result.allOutput)")
        Self.expectNoLeak(result, [file.identity, other.identity, try String(contentsOf: fleet.runKey, encoding: .utf8)])
    }

    /// Tester repro 25: the right identity under keys.txt, which the controller never imports:
    /// the error names the entry and the rule.
    @Test func theRightIdentityUnderAnotherNameIsNotImported() async throws {
        let file = try await AgeKeyPair.generate()
        let fleet = try await Self.fleet(secretYAML: Self.secret([("keys.txt", file.identity)]), age: [file.recipient])
        let result = try await Self.plan(fleet)
        #expect(result.status != 0, "\(result.allOutput)")
        let error = try #require(Self.errors(result, "Not encrypted for the decryption Secret").first, "\(result.allOutput)")
        #expect(error.text.contains("imports nothing") && error.text.contains("Not imported by kustomize-controller: keys.txt") && error.text.contains("must end in .agekey"), "\(error.text)")
        Self.expectNoLeak(result, [file.identity, try String(contentsOf: fleet.runKey, encoding: .utf8)])
    }

    /// The neighbours that pass: the right identity under .agekey, and a file with two recipients
    /// of which the Secret holds one (beside an entry the controller skips, which is not an error).
    @Test func theRightIdentityUnderAgekeyPasses() async throws {
        let file = try await AgeKeyPair.generate(), second = try await AgeKeyPair.generate()
        for (entries, recipients) in [
            ([("age.agekey", file.identity)], [file.recipient]),
            ([("team.agekey", second.identity), ("notes.txt", "not a key")], [file.recipient, second.recipient]),
        ] {
            let fleet = try await Self.fleet(secretYAML: Self.secret(entries), age: recipients)
            let result = try await Self.plan(fleet)
            #expect(result.status == 0, "\(result.allOutput)")
            #expect(result.allOutput.contains("in the cluster: flux-system/sops-custom opens it (\(entries[0].0))"), "\(result.allOutput)")
            Self.expectNoLeak(result, [file.identity, second.identity, try String(contentsOf: fleet.runKey, encoding: .utf8)])
        }
    }

    /// A PGP key under sops.asc (imported into a GnuPG home of its own, as the controller does):
    /// the file's PGP recipient opens; another PGP key does not.
    @Test func aPGPKeyUnderAscIsImported() async throws {
        let gpg = try await GPGFixtures.shared()
        let right = try await Self.fleet(
            secretYAML: Self.secret([("sops.asc", gpg.ed25519.secretArmor)]), pgp: gpg.ed25519.fingerprint, gnupg: gpg.home)
        let passed = try await Self.plan(right)
        #expect(passed.status == 0, "\(passed.allOutput)")
        #expect(passed.allOutput.contains("in the cluster: flux-system/sops-custom opens it (sops.asc)"), "\(passed.allOutput)")
        Self.expectNoLeak(passed, [gpg.ed25519.secretArmor])

        let wrong = try await Self.fleet(
            secretYAML: Self.secret([("sops.asc", gpg.rsa.secretArmor)]), pgp: gpg.ed25519.fingerprint, gnupg: gpg.home)
        let failed = try await Self.plan(wrong)
        #expect(failed.status != 0, "\(failed.allOutput)")
        let error = try #require(Self.errors(failed, "Not encrypted for the decryption Secret").first, "\(failed.allOutput)")
        #expect(error.text.contains("sops.asc (the PGP key \(gpg.rsa.fingerprint.uppercased())"), "\(error.text)")
        Self.expectNoLeak(failed, [gpg.rsa.secretArmor, gpg.ed25519.secretArmor])
    }

    /// The Secret in another namespace than the Kustomization: the controller reads the
    /// Kustomization's own namespace, so it is not found (an error, never "opened").
    @Test func aSecretInAnotherNamespaceIsNotTheOneRead() async throws {
        let file = try await AgeKeyPair.generate()
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n---\n"
        let fleet = try await Self.fleet(
            secretYAML: namespace + Self.secret([("age.agekey", file.identity)], namespace: "flux-system"), age: [file.recipient], appsNamespace: "team-a")
        let result = try await Self.plan(fleet)
        #expect(result.status != 0, "\(result.allOutput)")
        let error = try #require(Self.errors(result, "Decryption Secret mismatch").first, "\(result.allOutput)")
        #expect(error.text.contains("team-a/sops-custom"), "\(error.text)")
        #expect(!result.allOutput.contains("(opened with"))
        Self.expectNoLeak(result, [file.identity])
    }

    /// An .agekey entry that is not an identity: kustomize-controller's ImportKeys fails ("failed
    /// to import"), whatever the files; the error names the entry and its line, never the text.
    @Test func anAgekeyEntryThatIsNotAnIdentityFailsTheImport() async throws {
        let file = try await AgeKeyPair.generate()
        let damaged = String(file.identity.dropLast(3))
        let fleet = try await Self.fleet(secretYAML: Self.secret([("age.agekey", "# team key\n" + damaged)]), age: [file.recipient])
        let result = try await Self.plan(fleet)
        #expect(result.status != 0, "\(result.allOutput)")
        let error = try #require(Self.errors(result, "Decryption Secret not importable").first, "\(result.allOutput)")
        #expect(error.text.contains("its entry age.agekey: its line 2 is not an age identity") && error.text.contains("failed to import 'age.agekey'"), "\(error.text)")
        Self.expectNoLeak(result, [damaged, file.identity])
    }

    /// A SOPS-encrypted Secret the run's keys open: its decrypted entries (in memory only) are
    /// what is imported; the right identity passes, another one fails at the secretRef.
    @Test func aSOPSEncryptedSecretTheRunOpensIsCheckedByItsContent() async throws {
        let file = try await AgeKeyPair.generate(), other = try await AgeKeyPair.generate()
        let decrypts = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let right = try await Self.fleet(secretYAML: Self.secret([("age.agekey", file.identity)]), age: [file.recipient], keysExtra: decrypts, sealedForRun: true)
        let passed = try await Self.plan(right)
        #expect(passed.status == 0, "\(passed.allOutput)")
        #expect(passed.allOutput.contains("in the cluster: flux-system/sops-custom opens it (age.agekey)"), "\(passed.allOutput)")
        Self.expectNoLeak(passed, [file.identity, try String(contentsOf: right.runKey, encoding: .utf8)])

        let wrong = try await Self.fleet(secretYAML: Self.secret([("age.agekey", other.identity)]), age: [file.recipient], keysExtra: decrypts, sealedForRun: true)
        let failed = try await Self.plan(wrong)
        #expect(failed.status != 0, "\(failed.allOutput)")
        let error = try #require(Self.errors(failed, "Not encrypted for the decryption Secret").first, "\(failed.allOutput)")
        #expect(error.text.contains("age.agekey (the age identity of \(other.recipient))"), "\(error.text)")
        Self.expectNoLeak(failed, [file.identity, other.identity, try String(contentsOf: wrong.runKey, encoding: .utf8)])
    }

    /// A SOPS-encrypted Secret the run's keys do not open: its keys cannot be known, and that is
    /// said (a warning at the secretRef, and on the file's line) instead of "opened".
    @Test func aSecretTheRunCannotDecryptIsSaidToBeUnchecked() async throws {
        let file = try await AgeKeyPair.generate(), stranger = try await AgeKeyPair.generate()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fluxci-sealed-\(UUID().uuidString.prefix(8)).yaml")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Self.secret([("age.agekey", file.identity)]).write(to: scratch, atomically: true, encoding: .utf8)
        let sealed = try await SopsTool.run(["--config", "/dev/null", "-e", "--encrypted-regex", "^(data|stringData)$", "--age", stranger.recipient, scratch.path])
        // keys decrypts it with the pipeline's sops-age (the run's key, which is not its recipient).
        let fleet = try await Self.fleet(secretYAML: sealed, age: [file.recipient], keysExtra: "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n")
        let result = try await Self.plan(fleet)
        let warning = try #require(
            KeyDependentMessagesTests.annotations(result.standardError, level: "warning", title: "Decryption Secret not checked").first, "\(result.allOutput)")
        #expect(warning.text.contains("flux-system/sops-custom") && warning.text.contains("the keys given do not open it"), "\(warning.text)")
        #expect(result.allOutput.contains("not with flux-system/sops-custom, the Secret Flux decrypts it with, which fluxci could not check"), "\(result.allOutput)")
        Self.expectNoLeak(result, [file.identity, stranger.identity])
    }
}
