import Foundation
import Testing
import TestSupport

/// Issue 14, where keys come from, against the real sops, gpg (a GnuPG home of the test's own,
/// with its agent) and age: the laptop commands use the environment's keys *and* the user's
/// defaults as sops does, the CI preflight only the keys it was given; SOPS_AGE_KEY_CMD as sops
/// runs it; updatekeys keeping the data key as sops does; `verify` of named files that prove
/// nothing.
@Suite struct SOPSKeySourcesTests {
    /// A scratch folder with an empty HOME and a GnuPG home of its own.
    /// (the shared `ScratchHome`, with how this suite runs fluxci and sops there.)
    final class Scratch: ScratchHome {
        /// fluxci in a terminal (no GitHub masks in standard output) unless `environment` says otherwise.
        func fluxci(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) async throws -> ProcessResult {
            var variables = ["HOME": home.path, "GNUPGHOME": gnupg.path, "TMPDIR": root.path, "NO_COLOR": "1"]
            for (key, value) in environment { variables[key] = value }
            return try await runProcess(TestPaths.executable("fluxci"), arguments, environment: variables, workingDirectory: directory ?? root)
        }

        /// The real sops (Go binary) with the same HOME and GnuPG home.
        func sops(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) async throws -> ProcessResult {
            try await runProcess(
                try await SopsTool.path(), arguments,
                environment: ["HOME": home.path, "GNUPGHOME": gnupg.path, "SOPS_DISABLE_VERSION_CHECK": "1"].merging(environment) { $1 },
                workingDirectory: directory ?? root)
        }
    }

    static let secret = "# the database\napiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: apps\nstringData:\n    # who\n    user: admin-user\n    password: key-sources-secret\n"

    static func twoGroups(_ first: String, _ second: String) -> String {
        "creation_rules:\n  - path_regex: .*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    shamir_threshold: 2\n    key_groups:\n      - \(first)\n      - \(second)\n"
    }

    // MARK: The environment's keys and the user's keyring, as sops combines them

    /// A file only the age key of SOPS_AGE_KEY and the PGP key of the user's GnuPG keyring open
    /// together (two key groups, both needed): `sops -d` decrypts it, and so does fluxci, which
    /// says where each key came from.
    @Test func environmentKeysAndTheUserKeyringOpenAFileTogetherAsSopsDoes() async throws {
        let scratch = try Scratch("fluxci-keysources")
        let pgp = try await GPGFixtures.shared().ed25519
        _ = try await GPGFixtures.gpg(scratch.gnupg, ["--import"], input: pgp.secretArmor)
        let age = try await AgeKeyPair.generate()
        try scratch.write(".sops.yaml", Self.twoGroups("age: [\(age.recipient)]", "pgp: [\(pgp.fingerprint)]"))
        try scratch.write("db.yaml", Self.secret)
        let encrypted = try await scratch.sops(["--encrypt", "--in-place", "db.yaml"])
        #expect(encrypted.status == 0, "\(encrypted.standardError)")

        let environment = ["SOPS_AGE_KEY": age.identity]
        let sops = try await scratch.sops(["--decrypt", "db.yaml"], environment: environment)
        #expect(sops.status == 0, "\(sops.standardError)")
        #expect(sops.standardOutput.contains("key-sources-secret"))
        let decrypted = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: environment)
        #expect(decrypted.status == 0, "\(decrypted.allOutput)")
        #expect(decrypted.standardOutput == sops.standardOutput)
        #expect(decrypted.standardError.contains("Key \(age.recipient) from SOPS_AGE_KEY."), "\(decrypted.standardError)")
        #expect(decrypted.standardError.contains("Key \(pgp.fingerprint) from your GnuPG keyring \(scratch.gnupg.path)."), "\(decrypted.standardError)")
        #expect(leakedSecrets(in: decrypted.standardError, secrets: [age.identity, pgp.secretArmor]).isEmpty)

        let verified = try await scratch.fluxci(["sops", "verify", "db.yaml"], environment: environment)
        #expect(verified.status == 0, "\(verified.allOutput)")
        #expect(verified.standardError.contains("✓ db.yaml (opened with"), "\(verified.standardError)")

        // The default key file (~/.config/sops/age/keys.txt) is read beside SOPS_AGE_KEY_FILE too.
        let other = try await AgeKeyPair.generate()
        try scratch.write("other.key", other.identity + "\n")
        try scratch.write("home/.config/sops/age/keys.txt", age.identity + "\n")
        let fromDefault = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: ["SOPS_AGE_KEY_FILE": scratch.root.appendingPathComponent("other.key").path])
        let sopsFromDefault = try await scratch.sops(["--decrypt", "db.yaml"], environment: ["SOPS_AGE_KEY_FILE": scratch.root.appendingPathComponent("other.key").path])
        #expect(sopsFromDefault.status == 0, "\(sopsFromDefault.standardError)")
        #expect(fromDefault.status == 0, "\(fromDefault.allOutput)")
        #expect(fromDefault.standardOutput == sopsFromDefault.standardOutput)
        #expect(fromDefault.standardError.contains("Key \(age.recipient) from \(scratch.home.path)/.config/sops/age/keys.txt."), "\(fromDefault.standardError)")
    }

    /// The CI preflight (`bootstrap --plan`) with a key in the environment uses that key only: the
    /// user's GnuPG keyring, which holds the fleet's PGP key, is not taken, so the plan fails where
    /// the cluster would; `sops verify` and the real `sops -d` on the laptop do use it.
    @Test func thePreflightKeepsTheGivenKeysWhileSopsVerifyAlsoUsesTheUserKeyring() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        try FileManager.default.removeItem(at: fleet.checkout.appendingPathComponent(".secrets"))
        let scratch = try Scratch("fluxci-preflight-keys")
        let pgpKey = TestPaths.packageRoot.appendingPathComponent("Examples/fleet/.secrets/kind/local/gpg/sops.asc")
        _ = try await GPGFixtures.gpg(scratch.gnupg, ["--import", pgpKey.path])
        let unrelated = try await AgeKeyPair.generate()
        let environment = ["SOPS_AGE_KEY": unrelated.identity]
        let file = "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"

        let sops = try await scratch.sops(["--decrypt", file], environment: environment, in: fleet.checkout)
        #expect(sops.status == 0, "sops -d uses the user's keyring beside SOPS_AGE_KEY: \(sops.standardError)")
        let verified = try await scratch.fluxci(["sops", "verify", "kubernetes/overlays/kind/local"], environment: environment, in: fleet.checkout)
        #expect(verified.status == 0, "\(verified.allOutput)")
        #expect(verified.standardError.contains("opened with pgp 6FFF9699B0376D4D06F7D6B0EF57C12CF4CFE278 (your GnuPG keyring \(scratch.gnupg.path))"), "\(verified.standardError)")

        let plan = try await scratch.fluxci(
            ["bootstrap", "--plan", "--cloud", "kind", "--env", "local"], environment: environment.merging(["GITHUB_ACTIONS": "true"]) { $1 },
            in: fleet.checkout)
        #expect(plan.status != 0, "the preflight has only SOPS_AGE_KEY: \(plan.allOutput)")
        #expect(plan.standardError.contains("Key \(unrelated.recipient) from SOPS_AGE_KEY."), "\(plan.standardError)")
        #expect(!plan.standardError.contains("your GnuPG keyring"), "\(plan.standardError)")
        #expect(plan.standardError.contains(file), "the file is named as not opened: \(plan.standardError)")
    }

    // MARK: SOPS_AGE_KEY_CMD

    /// The command's identities are used beside SOPS_AGE_KEY (a file needing both opens, as with
    /// sops); its words are split as sops splits them (a quoted path with a space); nothing of the
    /// key reaches any output; a failing command is an error alone and a warning beside other keys.
    @Test func sopsAgeKeyCmdGivesIdentitiesBesideTheOtherVariablesAsSopsRunsIt() async throws {
        let scratch = try Scratch("fluxci-agekeycmd")
        let first = try await AgeKeyPair.generate(), second = try await AgeKeyPair.generate()
        try scratch.write("key dir/second.txt", "# created: by the test\n\(second.identity)\n")
        let command = "cat '\(scratch.root.path)/key dir/second.txt'"
        try scratch.write(".sops.yaml", Self.twoGroups("age: [\(first.recipient)]", "age: [\(second.recipient)]"))
        try scratch.write("db.yaml", Self.secret)
        #expect(try await scratch.sops(["--encrypt", "--in-place", "db.yaml"]).status == 0)

        let environment = ["SOPS_AGE_KEY": first.identity, "SOPS_AGE_KEY_CMD": command]
        let sops = try await scratch.sops(["--decrypt", "db.yaml"], environment: environment)
        #expect(sops.status == 0, "\(sops.standardError)")
        let decrypted = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: environment)
        #expect(decrypted.status == 0, "\(decrypted.allOutput)")
        #expect(decrypted.standardOutput == sops.standardOutput)
        #expect(decrypted.standardError.contains("Key \(second.recipient) from SOPS_AGE_KEY_CMD."), "\(decrypted.standardError)")
        #expect(leakedSecrets(in: decrypted.standardError, secrets: [first.identity, second.identity]).isEmpty)

        // On GitHub the command's key is masked before anything is printed, and printed nowhere.
        let github = try await scratch.fluxci(["sops", "verify", "db.yaml"], environment: environment.merging(["GITHUB_ACTIONS": "true"]) { $1 })
        #expect(github.status == 0, "\(github.allOutput)")
        #expect(github.standardOutput.contains("::add-mask::\(second.identity)") || github.standardError.contains("::add-mask::\(second.identity)"))
        #expect(leakedSecrets(in: github.allOutput, secrets: [first.identity, second.identity]).isEmpty)

        // A command that fails: alone it is the error (sops fails too); beside another key that
        // opens the file, a warning.
        let onlyFailing = ["SOPS_AGE_KEY_CMD": "false"]
        #expect(try await scratch.sops(["--decrypt", "db.yaml"], environment: onlyFailing).status != 0)
        let failed = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: onlyFailing.merging(["GITHUB_ACTIONS": "true"]) { $1 })
        #expect(failed.status != 0)
        #expect(failed.standardError.contains("::error title=SOPS_AGE_KEY_CMD failed::"), "\(failed.standardError)")
        #expect(failed.standardError.contains("exited with status 1"))
        let single = try await scratch.fluxci(
            ["sops", "verify", "db.yaml"], environment: ["SOPS_AGE_KEY": first.identity + "\n" + second.identity, "SOPS_AGE_KEY_CMD": "false", "GITHUB_ACTIONS": "true"])
        #expect(single.status == 0, "\(single.allOutput)")
        #expect(single.standardError.contains("::warning title=SOPS_AGE_KEY_CMD failed::"), "\(single.standardError)")
    }

    // MARK: updatekeys keeps the data key

    /// After `fluxci sops updatekeys`, the real `sops -d` decrypts with only a newly added
    /// recipient's key (age, and PGP from the keyring), every `ENC[…]` value, the MAC and
    /// `lastmodified` are unchanged (the same data key), and the file is what sops's own
    /// `updatekeys` writes for the same input, with the wrapped data keys and `created_at` masked.
    @Test func updatekeysKeepsTheDataKeyAndWritesWhatSopsWrites() async throws {
        let scratch = try Scratch("fluxci-updatekeys-datakey")
        let pgp = try await GPGFixtures.shared().ed25519
        _ = try await GPGFixtures.gpg(scratch.gnupg, ["--import"], input: pgp.secretArmor)
        let first = try await AgeKeyPair.generate(), second = try await AgeKeyPair.generate()
        try scratch.write(".sops.yaml", "creation_rules:\n  - path_regex: .*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: \(first.recipient)\n")
        try scratch.write("db.yaml", Self.secret)
        #expect(try await scratch.sops(["--encrypt", "--in-place", "db.yaml"]).status == 0)
        let original = try scratch.read("db.yaml")
        try scratch.write("theirs.yaml", original)
        try scratch.write(
            ".sops.yaml",
            "creation_rules:\n  - path_regex: .*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: \(first.recipient),\(second.recipient)\n    pgp: \(pgp.fingerprint)\n")

        let onlyFirst = ["SOPS_AGE_KEY": first.identity, "GNUPGHOME": scratch.root.appendingPathComponent("no-gnupg").path]
        let theirs = try await scratch.sops(["updatekeys", "--yes", "theirs.yaml"], environment: ["SOPS_AGE_KEY": first.identity])
        #expect(theirs.status == 0, "\(theirs.standardError)")
        let ours = try await scratch.fluxci(["sops", "updatekeys", "db.yaml"], environment: ["SOPS_AGE_KEY": first.identity])
        #expect(ours.status == 0, "\(ours.allOutput)")
        #expect(ours.standardError.contains("Updated the keys of db.yaml: added \(second.recipient), pgp \(pgp.fingerprint)."), "\(ours.standardError)")
        let updated = try scratch.read("db.yaml")

        // The same data key: the values, the MAC and lastmodified are the bytes they were.
        func kept(_ text: String) -> [String] {
            text.split(separator: "\n").map(String.init).filter { $0.contains("ENC[") || $0.contains("lastmodified:") || $0.contains("version:") }
        }
        #expect(kept(updated) == kept(original))
        #expect(kept(updated).count >= 5)
        #expect(updated.prefix(upTo: updated.range(of: "sops:")!.lowerBound) == original.prefix(upTo: original.range(of: "sops:")!.lowerBound))

        // Only the new recipients' keys open it now, with the real sops.
        let plain = try await scratch.sops(["--decrypt", "theirs.yaml"], environment: onlyFirst)
        #expect(plain.status == 0 && plain.standardOutput.contains("key-sources-secret"), "\(plain.standardError)")
        let bySecond = try await scratch.sops(["--decrypt", "db.yaml"], environment: ["SOPS_AGE_KEY": second.identity, "GNUPGHOME": scratch.root.appendingPathComponent("no-gnupg").path])
        #expect(bySecond.status == 0, "\(bySecond.standardError)")
        #expect(bySecond.standardOutput == plain.standardOutput)
        let byPGP = try await scratch.sops(["--decrypt", "db.yaml"])
        #expect(byPGP.status == 0, "\(byPGP.standardError)")
        #expect(byPGP.standardOutput == plain.standardOutput)

        // What sops's own updatekeys wrote, the random parts masked.
        #expect(Self.masked(updated) == Self.masked(try scratch.read("theirs.yaml")))

        // Nothing to change: the file is left as it is, as sops leaves it ("already up to date").
        let again = try await scratch.fluxci(["sops", "updatekeys", "db.yaml"], environment: ["SOPS_AGE_KEY": first.identity])
        #expect(again.status == 0)
        #expect(again.standardError.contains("db.yaml is already up to date: no recipient changed."), "\(again.standardError)")
        #expect(try scratch.read("db.yaml") == updated)
    }

    /// A SOPS file's text with the parts each encryption makes anew masked: the body of every
    /// armored data key, and `created_at`.
    static func masked(_ text: String) -> String {
        var inArmor = false
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-----BEGIN ") { inArmor = true; lines.append(String(line)); continue }
            if trimmed.hasPrefix("-----END ") { inArmor = false; lines.append(String(line)); continue }
            if inArmor { continue }
            lines.append(trimmed.hasPrefix("created_at:") || trimmed.hasPrefix("- created_at:") ? String(line.prefix { $0 != "c" }) + "created_at: <masked>" : String(line))
        }
        return lines.joined(separator: "\n")
    }

    // MARK: verify of named files that prove nothing

    /// Every path named is a file that is not a SOPS file: that is no pass ("nothing verified"),
    /// and each file is named.
    @Test func verifyOfNamedFilesNoneOfWhichIsASOPSFileFails() async throws {
        let scratch = try Scratch("fluxci-verify-nothing")
        let key = try await AgeKeyPair.generate()
        try scratch.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: plain\n")
        try scratch.write("notes.txt", "plain text\n")
        let result = try await scratch.fluxci(["sops", "verify", "config.yaml", "notes.txt"], environment: ["SOPS_AGE_KEY": key.identity, "GITHUB_ACTIONS": "true"])
        #expect(result.status != 0, "\(result.allOutput)")
        #expect(result.standardError.contains("::error title=Not a SOPS file,file=config.yaml::"), "\(result.standardError)")
        #expect(result.standardError.contains("::error title=Not a SOPS file,file=notes.txt::"))
        #expect(result.standardError.contains("::error title=Nothing verified::"), "\(result.standardError)")
        // One SOPS file that opens beside them is a pass for it, and the others still fail.
        try scratch.write(".sops.yaml", "creation_rules:\n  - age: \(key.recipient)\n")
        try scratch.write("db.yaml", Self.secret)
        #expect(try await scratch.sops(["--encrypt", "--in-place", "db.yaml"]).status == 0)
        let mixed = try await scratch.fluxci(["sops", "verify", "config.yaml", "db.yaml"], environment: ["SOPS_AGE_KEY": key.identity, "GITHUB_ACTIONS": "true"])
        #expect(mixed.status != 0)
        #expect(mixed.standardError.contains("::error title=Not a SOPS file,file=config.yaml::"))
        #expect(!mixed.standardError.contains("title=Nothing verified"), "\(mixed.standardError)")
    }
}
