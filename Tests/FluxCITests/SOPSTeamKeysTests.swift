import Foundation
import Kube
import Testing
import TestSupport

/// Issue 14's keys and rules, as executables against the real sops, gpg and age: encrypting as a
/// team from a fresh clone, `.sops.yaml` found as sops finds it, `keys new --update-sops-yaml` on
/// existing keys, metadata rules edited after encryption, streams with a plaintext document,
/// where keys come from, and what updatekeys says.
@Suite struct SOPSTeamKeysTests {
    /// A scratch folder with an empty HOME and GnuPG home, so no test reads the machine's keys.
    /// (the shared `ScratchHome`, with how this suite runs fluxci and sops there.)
    final class Scratch: ScratchHome {
        /// fluxci in `directory` (default the root) with only `environment` plus a scratch HOME,
        /// GNUPGHOME and TMPDIR, as on GitHub (annotations in the output).
        func fluxci(_ arguments: [String], in directory: String = "", environment: [String: String] = [:]) async throws -> ProcessResult {
            var variables = ["HOME": home.path, "GNUPGHOME": gnupg.path, "TMPDIR": "/tmp", "GITHUB_ACTIONS": "true"]
            for (key, value) in environment { variables[key] = value }
            return try await runProcess(
                TestPaths.executable("fluxci"), arguments, environment: variables,
                workingDirectory: directory.isEmpty ? root : root.appendingPathComponent(directory))
        }

        /// The real sops (Go binary) in `directory`, its status and output, never throwing.
        func sops(_ arguments: [String], in directory: String = "", environment: [String: String]) async throws -> ProcessResult {
            try await runProcess(
                try await SopsTool.path(), arguments, environment: ["HOME": home.path, "GNUPGHOME": gnupg.path].merging(environment) { $1 },
                workingDirectory: directory.isEmpty ? root : root.appendingPathComponent(directory))
        }
    }

    static let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: apps\nstringData:\n    password: team-secret-value\n    user: admin-user\n"

    // MARK: Item: encrypting as a team

    /// `keys new --pgp --update-sops-yaml` writes the public key beside the cluster; a teammate's
    /// fresh clone (no .secrets/, an empty keyring) encrypts from a subfolder with it, and the real
    /// sops decrypts the result with the private key.
    @Test func aFreshCloneEncryptsForTheTeamKeyAndSopsDecryptsIt() async throws {
        let origin = try Scratch("fluxci-team")
        _ = try await git(["init", "--quiet", "-b", "main", origin.root.path])
        let created = try await origin.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--pgp", "--update-sops-yaml"])
        #expect(created.status == 0, "\(created.allOutput)")
        let publicKey = try origin.read("clusters/kind/local/.sops.pub.asc")
        #expect(publicKey.contains("BEGIN PGP PUBLIC KEY BLOCK") && !publicKey.contains("PRIVATE"))
        let fingerprint = try #require(created.standardOutput.matches(of: /::set-output name=fingerprint::([0-9A-F]{40})/).first.map { String($0.output.1) }
            ?? created.allOutput.matches(of: /PGP key ([0-9A-F]{40})/).first.map { String($0.output.1) })
        #expect(try origin.read(".sops.yaml").contains("pgp: \(fingerprint)"))
        try origin.write("kubernetes/overlays/kind/local/apps/.keep", "")
        _ = try await git(["add", "-A"], in: origin.root)
        _ = try await git(["commit", "--quiet", "-m", "keys"], in: origin.root)
        let tracked = try await git(["ls-files"], in: origin.root)
        #expect(tracked.contains("clusters/kind/local/.sops.pub.asc") && !tracked.contains(".secrets/"), "the public key is committed, .secrets/ is not: \(tracked)")

        // The teammate: a fresh clone, an empty GnuPG home, no key variable.
        let teammate = try Scratch("fluxci-teammate")
        _ = try await git(["clone", "--quiet", origin.root.path, teammate.root.appendingPathComponent("fleet").path])
        let fleet = "fleet/kubernetes/overlays/kind/local/apps"
        try teammate.write("\(fleet)/db.yaml", Self.secret)
        let encrypted = try await teammate.fluxci(["sops", "encrypt", "--in-place", "db.yaml"], in: fleet)
        #expect(encrypted.status == 0, "\(encrypted.allOutput)")
        #expect(encrypted.standardError.contains("PGP public key \(fingerprint) from clusters/kind/local/.sops.pub.asc"), "says where the key came from: \(encrypted.standardError)")
        let file = try teammate.read("\(fleet)/db.yaml")
        #expect(file.contains("fp: \(fingerprint)") && !file.contains("team-secret-value"))

        // The real sops decrypts it with the private key (which only the origin has).
        let owner = try Scratch("fluxci-owner")
        _ = try await GPGFixtures.gpg(owner.gnupg, ["--import", origin.root.appendingPathComponent(".secrets/kind/local/gpg/sops.asc").path])
        let decrypted = try await owner.sops(["--decrypt", teammate.root.appendingPathComponent("\(fleet)/db.yaml").path], environment: [:])
        #expect(decrypted.status == 0, "\(decrypted.standardError)")
        #expect(decrypted.standardOutput.contains("password: team-secret-value"))

        // Without the committed key and with nothing in the keyring: "Unknown PGP key", with a fix.
        try FileManager.default.removeItem(at: teammate.root.appendingPathComponent("fleet/clusters/kind/local/.sops.pub.asc"))
        try teammate.write("\(fleet)/other.yaml", Self.secret)
        let unknown = try await teammate.fluxci(["sops", "encrypt", "other.yaml"], in: fleet)
        #expect(unknown.status != 0)
        #expect(unknown.standardError.contains("title=Unknown PGP key") && unknown.standardError.contains(".sops.pub.asc"), "\(unknown.standardError)")
        // The user's own keyring holds the public key: found there, and said so.
        _ = try await GPGFixtures.gpg(teammate.gnupg, ["--import", origin.root.appendingPathComponent("clusters/kind/local/.sops.pub.asc").path])
        let fromKeyring = try await teammate.fluxci(["sops", "encrypt", "other.yaml"], in: fleet)
        #expect(fromKeyring.status == 0, "\(fromKeyring.allOutput)")
        #expect(fromKeyring.standardError.contains("PGP public key \(fingerprint) from your GnuPG keyring"))
        _ = try? await runTool("gpgconf", ["--homedir", teammate.gnupg.path, "--kill", "all"])
        _ = try? await runTool("gpgconf", ["--homedir", owner.gnupg.path, "--kill", "all"])
    }

    /// `--update-sops-yaml` on keys that exist keeps them and writes their rule (once); without
    /// it, an existing key is an error that names both ways on.
    @Test func updateSopsYamlAddsTheRuleForExistingKeys() async throws {
        let repo = try Scratch("fluxci-existing")
        let first = try await repo.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--pgp"])
        #expect(first.status == 0, "\(first.allOutput)")
        let ageKey = try repo.read(".secrets/kind/local/age/age.agekey"), pgpKey = try repo.read(".secrets/kind/local/gpg/sops.asc")
        #expect(!FileManager.default.fileExists(atPath: repo.root.appendingPathComponent(".sops.yaml").path))

        let refused = try await repo.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--pgp"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("--update-sops-yaml") && refused.standardError.contains("--force"), "\(refused.standardError)")

        let added = try await repo.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--pgp", "--update-sops-yaml"])
        #expect(added.status == 0, "\(added.allOutput)")
        #expect(try repo.read(".secrets/kind/local/age/age.agekey") == ageKey && repo.read(".secrets/kind/local/gpg/sops.asc") == pgpKey, "the keys are kept")
        let recipient = try await runTool("age-keygen", ["-y", repo.root.appendingPathComponent(".secrets/kind/local/age/age.agekey").path]).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let config = try repo.read(".sops.yaml")
        #expect(config.contains("age: \(recipient)") && config.contains("pgp: "), "\(config)")
        #expect(FileManager.default.fileExists(atPath: repo.root.appendingPathComponent("clusters/kind/local/.sops.pub.asc").path))
        #expect(leakedSecrets(in: added.allOutput, secrets: [pgpKey, ageKey]).isEmpty)

        let again = try await repo.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--pgp", "--update-sops-yaml"])
        #expect(again.status == 0)
        #expect(try repo.read(".sops.yaml") == config, "idempotent")
        #expect(again.standardError.contains("already has this creation rule"))

        // The rule it wrote is one the real sops uses: sops encrypts for both keys from it.
        try repo.write("kubernetes/overlays/kind/local/db.yaml", Self.secret)
        let sops = try await repo.sops(["--encrypt", "kubernetes/overlays/kind/local/db.yaml"], environment: [:])
        #expect(sops.standardOutput.contains("recipient: \(recipient)") || sops.standardError.contains("gpg"), "\(sops.standardError)")
    }

    // MARK: Item: .sops.yaml found as sops finds it

    /// From a subfolder both find the repository's .sops.yaml and pick the same rule; a file no
    /// rule matches fails in both; a .sops.yml is ignored by both.
    @Test func sopsYamlIsFoundFromTheWorkingDirectoryAsSopsFindsIt() async throws {
        let repo = try Scratch("fluxci-lookup")
        let age = try await AgeKeyPair.generate(), other = try await AgeKeyPair.generate()
        try repo.write(".sops.yaml", "creation_rules:\n  - path_regex: kubernetes/apps/.*\\.yaml$\n    encrypted_regex: ^(stringData)$\n    age: \(age.recipient)\n")
        // A nearer .sops.yaml beside the file that sops does not use from the repository root.
        try repo.write("kubernetes/apps/.sops.yaml", "creation_rules:\n  - age: \(other.recipient)\n")
        try repo.write("kubernetes/apps/db.yaml", Self.secret)
        try repo.write("other/db.yaml", Self.secret)
        for (directory, path) in [("", "kubernetes/apps/db.yaml"), ("kubernetes", "apps/db.yaml")] {
            let sops = try await repo.sops(["--encrypt", path], in: directory, environment: [:])
            let fluxci = try await repo.fluxci(["sops", "encrypt", path], in: directory)
            #expect(sops.status == 0 && fluxci.status == 0, "\(directory): \(sops.standardError) \(fluxci.allOutput)")
            for output in [sops.standardOutput, fluxci.standardOutput] {
                let recipients = output.matches(of: /recipient: (age1[a-z0-9]+)/).map { String($0.output.1) }
                #expect(recipients == [age.recipient], "from '\(directory)': the root rule, as sops: \(recipients)")
                #expect(output.contains("encrypted_regex: ^(stringData)$"))
            }
        }
        // From kubernetes/apps, the nearer config is the one (for sops and fluxci alike).
        let nearSops = try await repo.sops(["--encrypt", "db.yaml"], in: "kubernetes/apps", environment: [:])
        let nearFluxci = try await repo.fluxci(["sops", "encrypt", "db.yaml"], in: "kubernetes/apps")
        #expect(nearSops.standardOutput.contains(other.recipient) && nearFluxci.standardOutput.contains(other.recipient), "\(nearFluxci.allOutput)")
        // No rule matches: both fail.
        let missSops = try await repo.sops(["--encrypt", "other/db.yaml"], environment: [:])
        let missFluxci = try await repo.fluxci(["sops", "encrypt", "other/db.yaml"])
        #expect(missSops.status != 0 && missSops.standardError.contains("no matching creation rules found"))
        #expect(missFluxci.status != 0 && missFluxci.standardError.contains("title=No creation rule"), "\(missFluxci.allOutput)")
        #expect(!missFluxci.allOutput.contains("team-secret-value"))
        // A .sops.yml is not a config to sops: ignored, with a warning, by both.
        try FileManager.default.moveItem(at: repo.root.appendingPathComponent(".sops.yaml"), to: repo.root.appendingPathComponent(".sops.yml"))
        let ymlSops = try await repo.sops(["--encrypt", "db.yaml"], in: "other", environment: [:])
        let ymlFluxci = try await repo.fluxci(["sops", "encrypt", "db.yaml"], in: "other")
        #expect(ymlSops.status != 0 && ymlSops.standardError.contains("ignoring"))
        #expect(ymlFluxci.status != 0 && ymlFluxci.standardError.contains(".sops.yml"), "\(ymlFluxci.allOutput)")
    }

    // MARK: Item: metadata rules edited after encryption

    /// Each rule edit of a file sops encrypted: sops -d fails, and so does fluxci verify, in the
    /// same class (a value the rules select that is not encrypted; a MAC mismatch).
    @Test func metadataEditedAfterEncryptionFailsAsSopsFails() async throws {
        let repo = try Scratch("fluxci-rules")
        let age = try await AgeKeyPair.generate()
        let environment = ["SOPS_AGE_KEY": age.identity]
        let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: hunter22-long\n    port: 5432\ndata:\n    token: dG9rZW4tdmFsdWU=\n"
        try repo.write("source.yaml", plain)
        let encrypted = try await repo.sops(["--encrypt", "--age", age.recipient, "--encrypted-regex", "^(data|stringData)$", "source.yaml"], environment: [:])
        #expect(encrypted.status == 0, "\(encrypted.standardError)")
        let original = encrypted.standardOutput
        func edited(_ change: (String) -> String) -> String { change(original) }
        let cases: [(name: String, text: String, title: String)] = [
            ("regex-elsewhere", edited { $0.replacingOccurrences(of: "encrypted_regex: ^(data|stringData)$", with: "encrypted_regex: ^(metadata)$") }, "Malformed encrypted value"),
            ("regex-removed", edited { $0.replacingOccurrences(of: "    encrypted_regex: ^(data|stringData)$\n", with: "") }, "Malformed encrypted value"),
            ("unencrypted-regex", edited { $0.replacingOccurrences(of: "encrypted_regex: ^(data|stringData)$", with: "unencrypted_regex: ^(stringData)$") }, "Malformed encrypted value"),
            ("regex-narrowed", edited { $0.replacingOccurrences(of: "encrypted_regex: ^(data|stringData)$", with: "encrypted_regex: ^(data)$") }, "MAC mismatch"),
            ("suffix-instead", edited { $0.replacingOccurrences(of: "encrypted_regex: ^(data|stringData)$", with: "encrypted_suffix: word") }, "MAC mismatch"),
            ("mac-only-added", edited { $0.replacingOccurrences(of: "    version:", with: "    mac_only_encrypted: true\n    version:") }, "MAC mismatch"),
        ]
        try repo.write("rules/unchanged.yaml", original)
        for item in cases { try repo.write("rules/\(item.name).yaml", item.text) }
        #expect(cases.allSatisfy { $0.text != original }, "every edit changed the file")
        let sopsPasses = try await repo.sops(["--decrypt", "rules/unchanged.yaml"], environment: environment)
        #expect(sopsPasses.status == 0)
        let verify = try await repo.fluxci(["sops", "verify", "rules"], environment: environment)
        #expect(verify.status != 0)
        #expect(verify.standardError.contains("✓ rules/unchanged.yaml"), "\(verify.standardError)")
        for item in cases {
            let sops = try await repo.sops(["--decrypt", "rules/\(item.name).yaml"], environment: environment)
            #expect(sops.status != 0, "sops -d fails \(item.name)")
            let sopsClass = sops.standardError.contains("Could not decrypt value") ? "Malformed encrypted value" : sops.standardError.contains("MAC mismatch") ? "MAC mismatch" : "?"
            #expect(sopsClass == item.title, "\(item.name): sops says \(sops.standardError)")
            #expect(verify.standardError.contains("title=\(item.title),file=rules/\(item.name).yaml"), "\(item.name): \(verify.standardError)")
        }
        #expect(leakedSecrets(in: verify.allOutput, secrets: ["hunter22-long"]).isEmpty, "a plaintext value is never printed")
    }

    // MARK: Item: a stream with a plaintext document

    /// An encrypted document followed by a plaintext one, and the reverse: verify reports each as
    /// `sops -d` does (never skipped): a MAC mismatch, a value the rules select left in plaintext,
    /// "sops metadata not found" — and passes what sops passes.
    @Test func aStreamWithAPlaintextDocumentIsReportedAsSopsReportsIt() async throws {
        let repo = try Scratch("fluxci-stream")
        let age = try await AgeKeyPair.generate()
        let environment = ["SOPS_AGE_KEY": age.identity]
        try repo.write("one.yaml", Self.secret)
        let encrypted = try await repo.sops(["--encrypt", "--age", age.recipient, "--encrypted-regex", "^(data|stringData)$", "one.yaml"], environment: [:])
        let macOnly = try await repo.sops(["--encrypt", "--age", age.recipient, "--encrypted-regex", "^(data|stringData)$", "--mac-only-encrypted", "one.yaml"], environment: [:])
        #expect(encrypted.status == 0 && macOnly.status == 0, "\(encrypted.standardError) \(macOnly.standardError)")
        let configMap = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: plain\ndata2:\n    colour: blue\n"
        let plainSecret = "---\napiVersion: v1\nkind: Secret\nmetadata:\n    name: leaked\nstringData:\n    password: plaintext-in-stream\n"
        try repo.write("streams/then-configmap.yaml", encrypted.standardOutput + configMap)
        try repo.write("streams/then-secret.yaml", encrypted.standardOutput + plainSecret)
        try repo.write("streams/mac-only-then-configmap.yaml", macOnly.standardOutput + configMap)
        try repo.write("streams/plain-first.yaml", String(configMap.dropFirst(4)) + "---\n" + encrypted.standardOutput)
        var expected: [String: Bool] = [:]
        for name in ["then-configmap", "then-secret", "mac-only-then-configmap", "plain-first"] {
            let sops = try await repo.sops(["--decrypt", "streams/\(name).yaml"], environment: environment)
            expected[name] = sops.status == 0
        }
        #expect(expected == ["then-configmap": false, "then-secret": false, "mac-only-then-configmap": true, "plain-first": false], "what sops -d does: \(expected)")
        let verify = try await repo.fluxci(["sops", "verify", "streams"], environment: environment)
        #expect(verify.status != 0)
        #expect(verify.standardError.contains("title=MAC mismatch,file=streams/then-configmap.yaml"), "\(verify.standardError)")
        let line = try repo.read("streams/then-secret.yaml").split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("plaintext-in-stream") }.map { $0 + 1 }
        #expect(verify.standardError.contains("title=Malformed encrypted value,file=streams/then-secret.yaml,line=\(try #require(line))"), "the plaintext value's line: \(verify.standardError)")
        #expect(verify.standardError.contains("✓ streams/mac-only-then-configmap.yaml (opened"), "passes as sops passes it")
        #expect(verify.standardError.contains("file=streams/plain-first.yaml") && verify.standardError.contains("sops metadata not found"))
        #expect(leakedSecrets(in: verify.allOutput, secrets: ["plaintext-in-stream"]).isEmpty)
    }

    // MARK: Item: where keys come from

    /// With no key given, the repository's `.secrets/*/*/gpg/sops.asc` opens a PGP file and the
    /// output says so; with a key in the environment, `.secrets/` is not read.
    @Test func secretsPGPKeysAreUsedWhenNoKeyWasGivenAndNeverMergedWithTheEnvironment() async throws {
        let repo = try Scratch("fluxci-origins")
        let made = try await repo.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--pgp"])
        #expect(made.status == 0, "\(made.allOutput)")
        let fingerprint = try #require(made.allOutput.matches(of: /PGP key ([0-9A-F]{40})/).first.map { String($0.output.1) })
        _ = try await GPGFixtures.gpg(repo.gnupg, ["--import", repo.root.appendingPathComponent(".secrets/kind/local/gpg/sops.pub.asc").path])
        try repo.write("apps/db.yaml", Self.secret)
        let sops = try await repo.sops(["--encrypt", "--in-place", "--pgp", fingerprint, "apps/db.yaml"], environment: [:])
        #expect(sops.status == 0, "\(sops.standardError)")
        _ = try? await runTool("gpgconf", ["--homedir", repo.gnupg.path, "--kill", "all"])
        try FileManager.default.removeItem(at: repo.gnupg)  // no user keyring: only .secrets/ has the key

        let verify = try await repo.fluxci(["sops", "verify", "apps"])
        #expect(verify.status == 0, "\(verify.allOutput)")
        #expect(verify.standardError.contains("Key \(fingerprint) from .secrets/kind/local/gpg/sops.asc."), "\(verify.standardError)")
        #expect(verify.standardError.contains("opened with pgp \(fingerprint) (.secrets/kind/local/gpg/sops.asc)"))

        let other = try await AgeKeyPair.generate()
        let ci = try await repo.fluxci(["sops", "verify", "apps"], environment: ["SOPS_AGE_KEY": other.identity])
        #expect(ci.status != 0, "the environment's key alone cannot open it: .secrets/ is not merged in")
        #expect(!ci.standardError.contains(".secrets/kind/local/gpg/sops.asc"), "\(ci.standardError)")
        #expect(ci.standardError.contains("Key \(other.recipient) from SOPS_AGE_KEY."))
    }

    // MARK: Item: updatekeys says what changed

    @Test func updatekeysNamesOnlyWhatChanged() async throws {
        let repo = try Scratch("fluxci-updatekeys")
        let first = try await AgeKeyPair.generate(), second = try await AgeKeyPair.generate()
        try repo.write(".sops.yaml", "creation_rules:\n  - path_regex: .*\\.yaml$\n    age: \(first.recipient)\n")
        try repo.write("db.yaml", Self.secret)
        let environment = ["SOPS_AGE_KEY": first.identity + "\n" + second.identity]
        #expect(try await repo.fluxci(["sops", "encrypt", "--in-place", "db.yaml"]).status == 0)
        try repo.write(".sops.yaml", "creation_rules:\n  - path_regex: .*\\.yaml$\n    age: \(first.recipient),\(second.recipient)\n")
        let added = try await repo.fluxci(["sops", "updatekeys", "db.yaml"], environment: environment)
        #expect(added.status == 0, "\(added.allOutput)")
        #expect(added.standardError.contains("Updated the keys of db.yaml: added \(second.recipient)."), "\(added.standardError)")
        try repo.write(".sops.yaml", "creation_rules:\n  - path_regex: .*\\.yaml$\n    age: \(second.recipient)\n")
        let removed = try await repo.fluxci(["sops", "updatekeys", "db.yaml"], environment: environment)
        #expect(removed.standardError.contains("Updated the keys of db.yaml: removed \(first.recipient)."), "\(removed.standardError)")
        let same = try await repo.fluxci(["sops", "updatekeys", "db.yaml"], environment: environment)
        #expect(same.standardError.contains("db.yaml is already up to date: no recipient changed."), "\(same.standardError)")
        for result in [added, removed, same] {
            #expect(!result.standardError.contains("removed .") && !result.standardError.contains("added ;") && !result.standardError.contains("removed ;"))
        }
        // The real sops agrees on the recipients it now has.
        let decrypted = try await repo.sops(["--decrypt", "db.yaml"], environment: ["SOPS_AGE_KEY": second.identity])
        #expect(decrypted.status == 0 && decrypted.standardOutput.contains("team-secret-value"))
    }

    // MARK: Item: a passphrase-protected PGP key and Flux

    /// The protected key goes to the sops-gpg Secret as a copy without its passphrase: the real
    /// gpg imports it into an empty keyring and the real sops decrypts with it with no pinentry
    /// at all (as kustomize-controller does); the key as given (protected) cannot.
    @Test func aProtectedKeyReachesFluxWithoutItsPassphrase() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let keys = try await GPGFixtures.shared()
        let protected = keys.protected
        let passphrase = try #require(protected.passphrase)
        let repo = try Scratch("fluxci-protected")
        let namespace = TestCluster.uniqueName("flux")
        let created = try await repo.fluxci(
            ["secret", "sops", "--only", "gpg", "--namespace", namespace],
            environment: ["SOPS_GPG_KEY": protected.secretArmor, "SOPS_GPG_PASSPHRASE": passphrase, "KUBECONFIG": cluster.kubeconfig.path])
        #expect(created.status == 0, "\(created.allOutput)")
        #expect(leakedSecrets(in: created.allOutput, secrets: [protected.secretArmor, passphrase]).isEmpty)
        let client = try cluster.client()
        let secrets = try await client.resource(apiVersion: "v1", kind: "Secret")
        let object = try #require(try await client.fetch(secrets, namespace: namespace, name: "sops-gpg"))
        let armor = try #require(object["data", "sops.asc"]?.string.flatMap { Data(base64Encoded: $0) })

        // A file the real sops encrypted for the protected key.
        try repo.write("secret.yaml", Self.secret)
        _ = try await GPGFixtures.gpg(repo.gnupg, ["--import"], input: protected.publicArmor)
        let encrypted = try await repo.sops(["--encrypt", "--in-place", "--pgp", protected.fingerprint, "secret.yaml"], environment: [:])
        #expect(encrypted.status == 0, "\(encrypted.standardError)")
        _ = try? await runTool("gpgconf", ["--homedir", repo.gnupg.path, "--kill", "all"])

        /// What Flux does: import the Secret's key into an empty GnuPG home, decrypt with no way
        /// to ask for a passphrase (a pinentry that fails at once).
        func fluxDecrypts(_ key: Data, _ name: String) async throws -> Bool {
            let home = repo.root.appendingPathComponent("flux-\(name)")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            chmod(home.path, 0o700)
            try "pinentry-program /bin/false\n".write(to: home.appendingPathComponent("gpg-agent.conf"), atomically: true, encoding: .utf8)
            defer { _ = Task { _ = try? await runTool("gpgconf", ["--homedir", home.path, "--kill", "all"]) } }
            let imported = try await runTool("gpg", ["--homedir", home.path, "--batch", "--import"], input: String(decoding: key, as: UTF8.self))
            #expect(imported.status == 0, "\(imported.standardError)")
            let result = try await repo.sops(["--decrypt", "secret.yaml"], environment: ["GNUPGHOME": home.path])
            return result.status == 0 && result.standardOutput.contains("team-secret-value")
        }
        #expect(try await fluxDecrypts(armor, "secret"), "Flux decrypts with the key in the Secret")
        #expect(try await fluxDecrypts(Data(protected.secretArmor.utf8), "as-given") == false, "the key as given needs its passphrase: the test can fail")
    }

    // MARK: Item: masks

    /// `sops decrypt` masks every decrypted value of 4 characters or more on GitHub before
    /// anything else is printed, and its help says which are not and why; `sops verify` prints
    /// no decrypted value at all (so it masks none, and its help says why).
    @Test func everyDecryptedValueIsMaskedOrTheHelpSaysWhyNot() async throws {
        let repo = try Scratch("fluxci-masks")
        let age = try await AgeKeyPair.generate()
        let values = ["long-password-value", "abcd", "multi-line\nsecond-line-of-it\nx", "443", "on"]
        let plain = "stringData:\n" + values.enumerated().map { "    v\($0.offset): \(String(reflecting: $0.element))\n" }.joined()
        try repo.write("s.yaml", plain)
        #expect(try await repo.sops(["--encrypt", "--in-place", "--age", age.recipient, "s.yaml"], environment: [:]).status == 0)
        let decrypted = try await repo.sops(["--decrypt", "s.yaml"], environment: ["SOPS_AGE_KEY": age.identity])
        #expect(decrypted.standardOutput.contains("long-password-value"), "sops decrypts what the test wrote")

        let decrypt = try await repo.fluxci(["sops", "decrypt", "s.yaml"], environment: ["SOPS_AGE_KEY": age.identity])
        #expect(decrypt.status == 0, "\(decrypt.allOutput)")
        let masks = decrypt.standardError.split(separator: "\n").filter { $0.hasPrefix("::add-mask::") }.map { String($0.dropFirst("::add-mask::".count)) }
        for value in values where value.count >= 4 {
            #expect(masks.contains(value.replacingOccurrences(of: "\n", with: "%0A")), "\(value) is masked")
        }
        for value in values where value.count < 4 { #expect(!masks.contains(value), "\(value) is too short to mask") }
        let firstUse = try #require((decrypt.standardError + decrypt.standardOutput).range(of: "long-password-value"))
        #expect((decrypt.standardError + decrypt.standardOutput)[..<firstUse.lowerBound].hasSuffix("::add-mask::"), "the first time the value shows is its mask")
        let decryptHelp = try await repo.fluxci(["sops", "decrypt", "--help"])
        let decryptText = decryptHelp.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(decryptText.contains("4 characters or more is masked") && decryptText.contains("shorter values (1 to 3 characters"), "\(decryptText)")

        let verify = try await repo.fluxci(["sops", "verify", "s.yaml"], environment: ["SOPS_AGE_KEY": age.identity])
        #expect(verify.status == 0, "\(verify.allOutput)")
        #expect(leakedSecrets(in: verify.allOutput, secrets: values.filter { $0.count >= 4 }).isEmpty, "verify prints no decrypted value")
        let verifyHelp = try await repo.fluxci(["sops", "verify", "--help"])
        #expect(verifyHelp.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("no decrypted value is masked"))
    }
}
