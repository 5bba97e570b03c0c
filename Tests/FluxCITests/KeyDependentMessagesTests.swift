import Foundation
import Testing
import TestSupport

/// Tester t9 F12 and the F11 note, through the real `fluxci` executable: every message that
/// depends on which keys were given names the cause. A key source that was skipped (an age key
/// file git-crypt holds locked, with the real header bytes) is named, with `git-crypt unlock`, in
/// the decryption Secret mismatch, the unresolved variables and the preflight; keys that were
/// given but are not the files' recipients are said to be so (no fix that renames a Secret to
/// hold a key no file is encrypted for); "without keys" only when no key was given. A file no
/// creation rule of .sops.yaml matches gets the fix that works for it, proven with the real
/// sops: `sops updatekeys` refuses it, the `sops rotate` command of the fix works.
@Suite(.serialized) struct KeyDependentMessagesTests {
    static let exampleRecipient = "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"

    /// The home-lab fixture (its SOPS files encrypted for the example age key only), with
    /// `change` applied, committed on main.
    static func homeLab(_ change: (URL) async throws -> Void = { _ in }) async throws -> URL {
        let checkout = try FleetFixture.load("home-lab").checkout(variant: nil)
        try await change(checkout)
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["-c", "user.name=fixture", "-c", "user.email=fixture@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: checkout)
        return checkout
    }

    /// `.secrets/kind/local/age/age.agekey` as git-crypt leaves it locked: its 10-byte header,
    /// then ciphertext.
    static func lockAgeKey(in checkout: URL) throws {
        let key = checkout.appendingPathComponent(".secrets/kind/local/age/age.agekey")
        try FileManager.default.createDirectory(at: key.deletingLastPathComponent(), withIntermediateDirectories: true)
        var bytes = Data("\0GITCRYPT\0".utf8)
        bytes.append(contentsOf: (0..<80).map { _ in UInt8.random(in: 0...255) })
        try bytes.write(to: key)
    }

    /// The tester's shape: the age key locked by git-crypt, a usable PGP key (`gpg`'s ed25519)
    /// beside it in `.secrets/kind/local/gpg/sops.asc`.
    static func homeLabWithLockedAgeKeyAndPGP(_ gpg: GPGFixtures) async throws -> URL {
        try await homeLab { checkout in
            try lockAgeKey(in: checkout)
            let pgp = checkout.appendingPathComponent(".secrets/kind/local/gpg/sops.asc")
            try FileManager.default.createDirectory(at: pgp.deletingLastPathComponent(), withIntermediateDirectories: true)
            try gpg.ed25519.secretArmor.write(to: pgp, atomically: true, encoding: .utf8)
        }
    }

    static func plan(_ checkout: URL, _ arguments: [String], environment: [String: String]) async throws -> (ProcessResult, String) {
        let summary = checkout.deletingLastPathComponent().appendingPathComponent("summary-\(UUID().uuidString.prefix(6)).md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cluster-path", "kubernetes/flux"] + arguments,
            environment: environment.merging([
                "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path, "TMPDIR": checkout.deletingLastPathComponent().path,
                "GNUPGHOME": checkout.deletingLastPathComponent().path,
            ]) { a, _ in a },
            workingDirectory: checkout)
        return (result, (try? String(contentsOf: summary, encoding: .utf8)) ?? "")
    }

    /// `::LEVEL title=T,file=F,line=L::message` lines with that title.
    static func annotations(_ log: String, level: String, title: String) -> [(file: String, line: String, text: String)] {
        log.split(separator: "\n").compactMap { line -> (String, String, String)? in
            guard line.hasPrefix("::\(level) title=\(title),") else { return nil }
            guard let match = line.firstMatch(of: /^::\w+ title=[^,]*,file=([^,]*),line=(\d+)::(.*)$/) else { return nil }
            return (String(match.1), String(match.2), String(match.3))
        }
    }

    // MARK: F12 — a skipped key source

    /// The tester's shape: the age key locked by git-crypt, a usable PGP key beside it, every
    /// SOPS file encrypted for age only.
    @Test func aLockedAgeKeyIsNamedAsTheCauseOfEveryKeyMessage() async throws {
        let gpg = try await GPGFixtures.shared()
        let checkout = try await Self.homeLabWithLockedAgeKeyAndPGP(gpg)
        let (result, summary) = try await Self.plan(checkout, ["--cloud", "kind", "--env", "local"], environment: [:])
        #expect(result.status != 0, "\(result.allOutput)")
        // The Kustomizations that ask for sops-age: the error sits at their secretRef.name and
        // names the locked file and `git-crypt unlock`, not renaming a Secret.
        let mismatches = Self.annotations(result.standardError, level: "error", title: "Decryption Secret mismatch")
        #expect(mismatches.contains { $0.file == "kubernetes/flux/apps.yaml" && $0.line == "17" }, "\(result.standardError)")
        #expect(!mismatches.isEmpty)
        for mismatch in mismatches {
            #expect(mismatch.text.contains("The age key that would create sops-age was skipped (.secrets/kind/local/age/age.agekey is locked by git-crypt)"), "\(mismatch.text)")
            let fix = mismatch.text.components(separatedBy: "%0AFix: ").last ?? ""
            #expect(fix.contains("git-crypt unlock") && fix.contains("SOPS_AGE_KEY"), "\(fix)")
            #expect(!fix.contains("--secret-names") && !fix.contains("secretRef.name"), "no fix that gives Flux a key no file is encrypted for: \(fix)")
        }
        // The variables of the SOPS-encrypted cluster-secrets: why they stay unresolved.
        let variables = Self.annotations(result.standardError, level: "warning", title: "Variables not resolved")
        #expect(!variables.isEmpty, "\(result.standardError)")
        for warning in variables {
            #expect(!warning.text.contains("without keys"), "a key was given: \(warning.text)")
            #expect(warning.text.contains("kubernetes/flux/vars/cluster-secrets.sops.yaml is encrypted for \(Self.exampleRecipient)"), "\(warning.text)")
            #expect(warning.text.contains(".secrets/kind/local/age/age.agekey is locked by git-crypt") && warning.text.contains("git-crypt unlock"), "\(warning.text)")
        }
        #expect(leakedSecrets(in: result.allOutput + summary, secrets: [gpg.ed25519.secretArmor] + FleetFixture.plaintexts).isEmpty)
    }

    /// Keys that were given but are not the files' recipients (a PGP key only, nothing skipped):
    /// said so, with the key to pass; "without keys" never.
    @Test func keysThatAreNotTheRecipientsAreSaidToBeSo() async throws {
        let gpg = try await GPGFixtures.shared()
        let checkout = try await Self.homeLab()
        let (result, summary) = try await Self.plan(checkout, [], environment: ["SOPS_GPG_KEY": gpg.ed25519.secretArmor])
        #expect(result.status != 0, "\(result.allOutput)")
        let mismatches = Self.annotations(result.standardError, level: "error", title: "Decryption Secret mismatch")
        #expect(mismatches.contains { $0.file == "kubernetes/flux/apps.yaml" && $0.line == "17" }, "\(result.standardError)")
        for mismatch in mismatches {
            #expect(mismatch.text.contains("The keys given (in sops-gpg) are not among the recipients of the SOPS files decrypted with sops-age (\(Self.exampleRecipient)"), "\(mismatch.text)")
            let fix = mismatch.text.components(separatedBy: "%0AFix: ").last ?? ""
            #expect(fix.contains("Pass the key the files are encrypted for (SOPS_AGE_KEY"), "\(fix)")
            #expect(!fix.contains("--secret-names") && !fix.contains("secretRef.name"), "\(fix)")
        }
        let variables = Self.annotations(result.standardError, level: "warning", title: "Variables not resolved")
        #expect(!variables.isEmpty, "\(result.standardError)")
        for warning in variables {
            #expect(!warning.text.contains("without keys") && warning.text.contains("none of the keys given opens it"), "\(warning.text)")
            #expect(!warning.text.contains("git-crypt"), "nothing was skipped: \(warning.text)")
        }
        #expect(leakedSecrets(in: result.allOutput + summary, secrets: [gpg.ed25519.secretArmor] + FleetFixture.plaintexts).isEmpty)
    }

    /// The neighbour: no key at all. The preflight is not run, and the variables are the ones
    /// left "without keys" (the only case that says so).
    @Test func withoutAnyKeyTheMessagesSaySo() async throws {
        let checkout = try await Self.homeLab()
        let (result, _) = try await Self.plan(checkout, [], environment: ["HOME": checkout.deletingLastPathComponent().path])
        #expect(result.status == 0, "\(result.allOutput)")
        let variables = Self.annotations(result.standardError, level: "warning", title: "Variables not resolved")
        #expect(!variables.isEmpty && variables.allSatisfy { $0.text.contains("without keys (no key was given)") }, "\(result.standardError)")
        #expect(Self.annotations(result.standardError, level: "error", title: "Decryption Secret mismatch").isEmpty)
        // The plan passes (a fork's pull request has no keys), but says what a full run would
        // stop on (tester t11 F7): the Kustomizations decrypt with Secrets made from the keys.
        let noKeys = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::warning title=Keys needed for a full run::") }
        #expect(noKeys.count == 1, "\(result.standardError)")
        #expect(noKeys.first?.contains("a full run without keys stops before any cluster is created") == true, "\(noKeys)")
        #expect(noKeys.first?.contains("sops-age") == true, "\(noKeys)")
    }

    /// Tester t11 F5, F6: with a key variable set, `.secrets/<cloud>/<env>/` is not read (CI's
    /// keys are the ones the cluster gets). Each key file there is then a skipped source that the
    /// messages name with the variable that kept it from being read: the decryption Secret
    /// mismatch (only a PGP key given, files encrypted for age), and a plan whose only key
    /// variable gave nothing (a missing SOPS_AGE_KEY_FILE).
    @Test func aKeyFileLeftUnreadForTheEnvironmentsKeysIsNamed() async throws {
        let gpg = try await GPGFixtures.shared()
        let checkout = try await Self.homeLab { try Self.lockAgeKey(in: $0) }
        let unread = ".secrets/kind/local/age/age.agekey was not read: SOPS_GPG_KEY is set"
        let (given, _) = try await Self.plan(checkout, ["--cloud", "kind", "--env", "local"], environment: ["SOPS_GPG_KEY": gpg.ed25519.secretArmor])
        let mismatches = Self.annotations(given.standardError, level: "error", title: "Decryption Secret mismatch")
        #expect(!mismatches.isEmpty, "\(given.standardError)")
        for mismatch in mismatches {
            #expect(mismatch.text.contains(unread), "\(mismatch.text)")
            #expect(mismatch.text.contains("unset SOPS_GPG_KEY to use .secrets/kind/local/age/age.agekey") || mismatch.text.contains("Unset SOPS_GPG_KEY to use .secrets/kind/local/age/age.agekey"), "\(mismatch.text)")
        }
        let (missing, _) = try await Self.plan(
            checkout, ["--cloud", "kind", "--env", "local"], environment: ["SOPS_AGE_KEY_FILE": checkout.appendingPathComponent("nowhere.agekey").path])
        #expect(missing.status == 0, "\(missing.allOutput)")
        let needed = missing.standardError.split(separator: "\n").filter { $0.hasPrefix("::warning title=Keys needed for a full run::") }
        #expect(needed.count == 1, "\(missing.standardError)")
        #expect(missing.standardError.contains("::warning title=Key file missing::SOPS_AGE_KEY_FILE points at"), "\(missing.standardError)")
        #expect(needed.first?.contains(".secrets/kind/local/age/age.agekey was not read: SOPS_AGE_KEY_FILE is set") == true, "\(needed)")
        // Without a key variable the folder is read: nothing is said to be unread.
        let (none, _) = try await Self.plan(checkout, ["--cloud", "kind", "--env", "local"], environment: [:])
        #expect(!none.allOutput.contains("was not read"), "\(none.allOutput)")
    }

    /// The preflight (`sops verify`, the same verdicts): a file not encrypted for the keys given
    /// names the skipped source that may hold its key, and its fix comes first.
    @Test func thePreflightNamesASkippedSourceForAFileNoKeyOpens() async throws {
        let gpg = try await GPGFixtures.shared()
        let checkout = try await Self.homeLabWithLockedAgeKeyAndPGP(gpg)
        let file = "kubernetes/flux/vars/cluster-secrets.sops.yaml"
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "--cloud", "kind", "--env", "local", file],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": checkout.deletingLastPathComponent().path, "GNUPGHOME": checkout.deletingLastPathComponent().path],
            workingDirectory: checkout)
        #expect(result.status != 0)
        let errors = Self.annotations(result.standardError, level: "error", title: "Not encrypted for the imported keys")
        let error = try #require(errors.first { $0.file == file }, "\(result.allOutput)")
        #expect(error.text.contains("Skipped key source that may hold its key: the age key (.secrets/kind/local/age/age.agekey is locked by git-crypt)"), "\(error.text)")
        let fix = error.text.components(separatedBy: "%0AFix: ").last ?? ""
        #expect(fix.hasPrefix("Run `git-crypt unlock` in the repository, or pass SOPS_AGE_KEY."), "\(fix)")
        #expect(leakedSecrets(in: result.allOutput, secrets: [gpg.ed25519.secretArmor] + FleetFixture.plaintexts).isEmpty)
    }

    // MARK: F11 note — no creation rule matches the file

    /// A binary SOPS file that no creation rule of .sops.yaml matches, encrypted for another key:
    /// the fix is not `sops updatekeys` (the real sops refuses it) but a rule that matches, or
    /// the `sops rotate --add-age` it prints, which the real sops runs and after which the file
    /// opens with this cluster's key. A file a rule matches keeps the updatekeys advice.
    @Test func aFileNoCreationRuleMatchesGetsTheFixThatWorks() async throws {
        let scratch = try await SopsScratch.make("fluxci-norule")
        let other = try await AgeKeyPair.generate()
        let folder = scratch.directory
        try "creation_rules:\n  - path_regex: \\.sops\\.ya?ml$\n    age: \(scratch.age.recipient)\n".write(
            to: folder.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("app"), withIntermediateDirectories: true)
        let plain = folder.appendingPathComponent("plain.key")
        try "BINARY-KEYDATA-NORULE-5151\n".write(to: plain, atomically: true, encoding: .utf8)
        let binary = try await SopsTool.run(
            ["--config", "/dev/null", "-e", "--age", other.recipient, "--input-type", "binary", "--output-type", "binary", plain.path])
        try binary.write(to: folder.appendingPathComponent("app/tls.sops.key"), atomically: true, encoding: .utf8)
        let plainYAML = folder.appendingPathComponent("plain.yaml")
        try "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  token: YAML-NORULE-VALUE-5252\n".write(to: plainYAML, atomically: true, encoding: .utf8)
        let yaml = try await SopsTool.run(
            ["--config", "/dev/null", "-e", "--age", other.recipient, "--input-type", "yaml", "--output-type", "yaml", plainYAML.path])
        try yaml.write(to: folder.appendingPathComponent("app/secret.sops.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: plain)
        try FileManager.default.removeItem(at: plainYAML)
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "app/tls.sops.key"],
            environment: ["GITHUB_ACTIONS": "true", "SOPS_AGE_KEY": scratch.age.identity, "TMPDIR": folder.path], workingDirectory: folder)
        #expect(result.status != 0)
        let error = try #require(Self.annotations(result.standardError, level: "error", title: "Not encrypted for the imported keys").first, "\(result.allOutput)")
        #expect(error.file == "app/tls.sops.key")
        let fix = error.text.components(separatedBy: "%0AFix: ").last ?? ""
        #expect(fix.contains("No creation rule of .sops.yaml matches app/tls.sops.key") && fix.contains("no matching creation rules found"), "\(fix)")
        #expect(!fix.contains("Add this cluster's key to the file's creation rule"), "\(fix)")
        // The real sops: updatekeys refuses the file, the rotate command of the fix works.
        let updatekeys = try await runProcess(
            try await SopsTool.path(), ["updatekeys", "-y", "app/tls.sops.key"], environment: ["SOPS_AGE_KEY": other.identity], workingDirectory: folder)
        #expect(updatekeys.status != 0 && updatekeys.standardError.contains("no matching creation rules found"), "\(updatekeys.standardError)")
        let command = try #require(fix.firstMatch(of: /`(sops rotate [^`]+)`/)?.1, "\(fix)")
        let words = command.split(separator: " ").dropFirst().map(String.init)
        #expect(words == ["rotate", "--in-place", "--add-age", scratch.age.recipient, "app/tls.sops.key"], "\(command)")
        _ = try await SopsTool.run(words, environment: ["SOPS_AGE_KEY": other.identity], workingDirectory: folder)
        let after = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "app/tls.sops.key"],
            environment: ["SOPS_AGE_KEY": scratch.age.identity, "TMPDIR": folder.path], workingDirectory: folder)
        #expect(after.status == 0, "the file opens with this cluster's key after the fix: \(after.allOutput)")
        #expect(leakedSecrets(in: result.allOutput + after.allOutput, secrets: [scratch.age.identity, "BINARY-KEYDATA-NORULE-5151"]).isEmpty)

        // The neighbour: a file the rule matches keeps the updatekeys advice, which the real sops
        // then runs.
        let neighbour = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "app/secret.sops.yaml"],
            environment: ["GITHUB_ACTIONS": "true", "SOPS_AGE_KEY": scratch.age.identity, "TMPDIR": folder.path], workingDirectory: folder)
        let matchedError = try #require(Self.annotations(neighbour.standardError, level: "error", title: "Not encrypted for the imported keys").first, "\(neighbour.allOutput)")
        let matchedFix = matchedError.text.components(separatedBy: "%0AFix: ").last ?? ""
        #expect(matchedFix.hasPrefix("Add this cluster's key to the file's creation rule in .sops.yaml and run `sops updatekeys app/secret.sops.yaml`"), "\(matchedFix)")
        _ = try await SopsTool.run(["updatekeys", "-y", "app/secret.sops.yaml"], environment: ["SOPS_AGE_KEY": other.identity], workingDirectory: folder)
        #expect(leakedSecrets(in: neighbour.allOutput, secrets: ["YAML-NORULE-VALUE-5252"]).isEmpty)
    }
}
