import Foundation
import GPG
import Testing
import TestSupport

/// `fluxci keys import` and `cleanup`, run as the built executable against keys the real gpg made.
@Suite struct KeysImportTests {
    /// One run of the command in a sandbox: its own TMPDIR (where the keyring goes), runner files
    /// for outputs, env, state and summary, and an environment of its own.
    struct Run {
        var result: ProcessResult
        var sandbox: URL
        var outputs: [String: String]
        var env: [String: String]
        var summary: String
        /// Everything the command wrote anywhere, for the leak scan.
        var everything: String { result.allOutput + "\n" + outputs.values.joined(separator: "\n") + "\n" + env.values.joined(separator: "\n") + "\n" + summary }
        var keyrings: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: sandbox.appendingPathComponent("tmp").path)) ?? []).filter { $0.hasPrefix("fluxci.") }
        }
    }

    static func run(
        _ arguments: [String], _ environment: [String: String], github: Bool = true, workingDirectory: URL? = nil,
        executable: String = "fluxci"
    ) async throws -> Run {
        let sandbox = try TestPaths.temporaryDirectory("fluxci-keys")
        let tmp = sandbox.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        var variables = environment
        variables["TMPDIR"] = tmp.path
        if github {
            variables["GITHUB_ACTIONS"] = "true"
            for name in ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"] {
                variables[name] = sandbox.appendingPathComponent(name).path
            }
        }
        let result = try await runProcess(
            TestPaths.executable(executable), executable == "fluxci" ? ["keys"] + arguments : arguments, environment: variables,
            workingDirectory: workingDirectory ?? sandbox)
        func read(_ name: String) -> String {
            (try? String(contentsOf: sandbox.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }
        return Run(
            result: result, sandbox: sandbox, outputs: parseFileCommands(read("GITHUB_OUTPUT")),
            env: parseFileCommands(read("GITHUB_ENV")), summary: read("GITHUB_STEP_SUMMARY"))
    }

    static func cleanup(_ run: Run) async throws {
        if let keyring = run.env["FLUXCI_KEYRING"] {
            let result = try await runProcess(TestPaths.executable("fluxci"), ["keys", "cleanup", "--keyring", keyring])
            #expect(result.status == 0)
            #expect(!FileManager.default.fileExists(atPath: keyring))
            #expect(try agentProcesses(homedir: keyring).isEmpty, "gpg-agent of \(keyring) survived cleanup")
        }
        try? FileManager.default.removeItem(at: run.sandbox)
    }

    /// Live gpg-agent processes whose --homedir is `homedir` (zombies, already dead, are not counted).
    static func agentProcesses(homedir: String) throws -> [Int32] {
        var pids: [Int32] = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry),
                let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)
            else { continue }
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            if arguments.first?.hasSuffix("gpg-agent") == true, arguments.contains(homedir), state != "Z" { pids.append(pid) }
        }
        return pids
    }

    static func expectNoLeak(_ run: Run, _ secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let leaked = leakedSecrets(in: run.everything, secrets: secrets)
        #expect(leaked.isEmpty, "secret material in the output: \(leaked.map { String($0.prefix(12)) + "…" })", sourceLocation: sourceLocation)
    }

    // MARK: Success

    @Test func importsAnArmoredKeyReportsItAndDecryptsWhatGPGEncrypted() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        #expect(run.outputs["fingerprint"] == keys.ed25519.fingerprint)
        #expect(run.outputs["keyid"] == String(keys.ed25519.fingerprint.suffix(16)))
        #expect(run.outputs["name"] == "Flux CI Ed" && run.outputs["email"] == "ed@example.com")
        let keyring = try #require(run.env["FLUXCI_KEYRING"])
        #expect(run.outputs["gnupghome"] == keyring)
        #expect(keyring.hasPrefix(run.sandbox.path + "/tmp/fluxci."))
        let mode = try FileManager.default.attributesOfItem(atPath: keyring)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        #expect(run.summary.contains(keys.ed25519.fingerprint))

        // A message the gpg CLI encrypted to the key decrypts through the keyring.
        let message = try await keys.encrypt("the SOPS data key", to: keys.ed25519.fingerprint)
        let opened = try Keyring.open(URL(fileURLWithPath: keyring))
        #expect(try opened.decrypt(Data(message.utf8)) == Data("the SOPS data key".utf8))
        Self.expectNoLeak(run, [keys.ed25519.secretArmor])
        try await Self.cleanup(run)
    }

    @Test func importsBase64WithCRLFAndSpacesAndAgeKeys() async throws {
        let keys = try await GPGFixtures.shared()
        let armor = "\n\n  " + keys.rsa.secretArmor.replacingOccurrences(of: "\n", with: "\r\n  ") + "\n\n"
        let base64 = Data(armor.utf8).base64EncodedString()
        let identity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
        let run = try await Self.run(
            ["import"], ["SOPS_GPG_KEY": base64, "SOPS_AGE_KEY": "# created: today\n# public key: x\n\(identity)\n"])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        #expect(run.outputs["fingerprints"] == keys.rsa.fingerprint)
        #expect(run.outputs["age-recipients"] == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
        Self.expectNoLeak(run, [keys.rsa.secretArmor, base64, identity])
        try await Self.cleanup(run)
    }

    @Test func protectedKeyWithItsPassphrase() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(
            ["import"], ["SOPS_GPG_KEY": keys.protected.secretArmor, "SOPS_GPG_PASSPHRASE": keys.protected.passphrase!])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        #expect(run.outputs["fingerprint"] == keys.protected.fingerprint)
        Self.expectNoLeak(run, [keys.protected.secretArmor, keys.protected.passphrase!])
        try await Self.cleanup(run)
    }

    @Test func reimportIntoTheSameKeyringIsIdempotent() async throws {
        let keys = try await GPGFixtures.shared()
        let first = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor])
        let keyring = try #require(first.env["FLUXCI_KEYRING"])
        let second = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor, "FLUXCI_KEYRING": keyring])
        #expect(second.result.status == 0, "\(second.result.allOutput)")
        #expect(second.env["FLUXCI_KEYRING"] == keyring)
        #expect(second.result.standardError.contains("Imported into the existing keyring"))
        #expect(!second.result.standardError.contains("FLUXCI_KEYRING not used"))
        #expect(second.keyrings.isEmpty)
        try await Self.cleanup(first)
        try? FileManager.default.removeItem(at: second.sandbox)
    }

    /// Tester t11 F24: FLUXCI_KEYRING naming a folder that is no keyring (missing, or an empty
    /// directory) is not used, and a warning names the keyring made instead, so that a later
    /// cleanup is pointed at it; the re-import above says nothing of the kind.
    @Test(arguments: [false, true])
    func aKeyringVariableNamingNoKeyringIsSaidToBeUnused(exists: Bool) async throws {
        let keys = try await GPGFixtures.shared()
        let named = try TestPaths.temporaryDirectory("fluxci-not-a-keyring").appendingPathComponent("ring")
        if exists { try FileManager.default.createDirectory(at: named, withIntermediateDirectories: true) }
        let run = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor, "FLUXCI_KEYRING": named.path])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        let made = try #require(run.env["FLUXCI_KEYRING"])
        #expect(made != named.path)
        let warning = run.result.standardError.split(separator: "\n").first { $0.hasPrefix("::warning title=FLUXCI_KEYRING not used::") }
        #expect(warning?.contains("FLUXCI_KEYRING names \(named.path), which is not a keyring fluxci created") == true, "\(run.result.standardError)")
        #expect(warning?.contains("FLUXCI_KEYRING=\(made)") == true, "\(warning ?? "")")
        try await Self.cleanup(run)
        try? FileManager.default.removeItem(at: named.deletingLastPathComponent())
    }

    @Test func readsTheSecretsFolderOfACloudAndEnv() async throws {
        let keys = try await GPGFixtures.shared()
        let repository = try TestPaths.temporaryDirectory("fluxci-repo")
        defer { try? FileManager.default.removeItem(at: repository) }
        let age = repository.appendingPathComponent(".secrets/kind/local/age"), gpg = repository.appendingPathComponent(".secrets/kind/local/gpg")
        try FileManager.default.createDirectory(at: age, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: gpg, withIntermediateDirectories: true)
        let identity = try await runTool("age-keygen", []).standardOutput
        try identity.write(to: age.appendingPathComponent("age.agekey"), atomically: true, encoding: .utf8)
        try keys.ed25519.secretArmor.write(to: gpg.appendingPathComponent("sops.asc"), atomically: true, encoding: .utf8)
        let recipient = try await runTool("age-keygen", ["-y"], input: identity).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)

        let run = try await Self.run(["import", "--cloud", "kind", "--env", "local", "--json"], [:], github: false, workingDirectory: repository)
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        let json = try JSONSerialization.jsonObject(with: Data(run.result.standardOutput.utf8)) as? [String: Any]
        #expect(json?["ageRecipients"] as? [String] == [recipient])
        #expect((json?["pgp"] as? [[String: Any]])?.first?["fingerprint"] as? String == keys.ed25519.fingerprint)
        // Locally the same facts are a table, and no workflow command is printed.
        #expect(run.result.standardError.contains(recipient))
        #expect(!run.result.allOutput.contains("::"))
        let keyring = try #require(json?["keyring"] as? String)
        Self.expectNoLeak(run, [keys.ed25519.secretArmor, identity])
        let stored = try String(contentsOfFile: keyring + "/age.agekey", encoding: .utf8)
        #expect(stored.contains(identity.split(separator: "\n").last.map(String.init) ?? "?"))
        let mode = try FileManager.default.attributesOfItem(atPath: keyring + "/age.agekey")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try await Self.cleanup(Run(result: run.result, sandbox: run.sandbox, outputs: [:], env: ["FLUXCI_KEYRING": keyring], summary: ""))
    }

    @Test func exportsFromTheUsersOwnKeyring() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(["import", "--local-keyring", keys.rsa.fingerprint], ["GNUPGHOME": keys.home.path])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        #expect(run.outputs["fingerprint"] == keys.rsa.fingerprint)
        Self.expectNoLeak(run, [keys.rsa.secretArmor])
        try await Self.cleanup(run)
    }

    @Test func standaloneExecutableAndCleanupTwice() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor], executable: "fluxci-keys")
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        defer { try? FileManager.default.removeItem(at: run.sandbox) }
        let keyring = try #require(run.env["FLUXCI_KEYRING"])
        for _ in 0..<2 {
            let cleanup = try await runProcess(TestPaths.executable("fluxci-keys"), ["cleanup"], environment: ["FLUXCI_KEYRING": keyring])
            #expect(cleanup.status == 0)
        }
        #expect(!FileManager.default.fileExists(atPath: keyring))
        #expect(try Self.agentProcesses(homedir: keyring).isEmpty)
        // A directory fluxci did not make is never removed.
        let other = try TestPaths.temporaryDirectory("not-a-keyring")
        defer { try? FileManager.default.removeItem(at: other) }
        let refused = try await runProcess(TestPaths.executable("fluxci"), ["keys", "cleanup", "--keyring", other.path])
        #expect(refused.status != 0)
        #expect(FileManager.default.fileExists(atPath: other.path))
    }

    /// Fault: the keyring's gpg-agent dies between steps (a runner reaping processes). The next
    /// PGP operation starts it again and works; cleanup leaves no agent.
    @Test func aKilledAgentIsStartedAgain() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.ed25519.secretArmor])
        let keyring = try #require(run.env["FLUXCI_KEYRING"])
        for pid in try Self.agentProcesses(homedir: keyring) { kill(pid, SIGKILL) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try Self.agentProcesses(homedir: keyring).isEmpty)
        let message = try await keys.encrypt("after the agent died", to: keys.ed25519.fingerprint)
        let opened = try Keyring.open(URL(fileURLWithPath: keyring))
        #expect(try opened.decrypt(Data(message.utf8)) == Data("after the agent died".utf8))
        try await Self.cleanup(run)
    }

    /// Fault: the disk is full where the keyring goes (a full tmpfs, mounted when the tests run
    /// as root). A clear error, a non-zero exit, nothing left behind.
    @Test(.enabled(if: getuid() == 0, "mounting a full tmpfs needs root"))
    func aFullDiskFailsCleanly() async throws {
        let keys = try await GPGFixtures.shared()
        let mountPoint = try TestPaths.temporaryDirectory("fluxci-full")
        defer { _ = try? FileManager.default.removeItem(at: mountPoint) }
        let mounted = try await runTool("mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", mountPoint.path])
        try #require(mounted.status == 0, "cannot mount a tmpfs here: \(mounted.standardError)")
        defer { Task { _ = try? await runTool("umount", [mountPoint.path]) } }
        _ = try? await runTool("dd", ["if=/dev/zero", "of=\(mountPoint.path)/filler", "bs=1k", "count=64"])
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["keys", "import"],
            environment: ["SOPS_GPG_KEY": keys.ed25519.secretArmor, "TMPDIR": mountPoint.path, "GITHUB_ACTIONS": "true"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=GnuPG unavailable") || result.standardError.contains("No space left"), "\(result.allOutput)")
        let left = try FileManager.default.contentsOfDirectory(atPath: mountPoint.path).filter { $0.hasPrefix("fluxci.") }
        #expect(left.isEmpty, "a keyring was left on the full disk: \(left)")
        _ = try? await runTool("umount", [mountPoint.path])
    }

    // MARK: Bad input

    struct BadInput: CustomTestStringConvertible, Sendable {
        var name: String
        var environment: @Sendable (GPGFixtures) -> [String: String]
        var expected: [String]
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "garbage", environment: { _ in ["SOPS_GPG_KEY": "this is not a key!"] }, expected: ["title=Not an OpenPGP key", "neither an ASCII-armored"]),
        BadInput(name: "empty variable", environment: { _ in ["SOPS_GPG_KEY": ""] }, expected: ["title=Empty SOPS key", "secrets.SOPS_GPG_KEY"]),
        BadInput(name: "nothing at all", environment: { _ in [:] }, expected: ["title=No SOPS keys"]),
        BadInput(name: "empty age variable", environment: { _ in ["SOPS_AGE_KEY": ""] }, expected: ["title=No SOPS keys", "SOPS_AGE_KEY is set but empty"]),
        BadInput(
            name: "truncated armor",
            environment: { keys in ["SOPS_GPG_KEY": String(keys.ed25519.secretArmor.prefix(300))] },
            expected: ["title=Truncated key", "has no END line"]),
        BadInput(
            name: "base64 of garbage", environment: { _ in ["SOPS_GPG_KEY": Data("garbage, not a key".utf8).base64EncodedString()] },
            expected: ["title=Not an OpenPGP key", "is base64"]),
        BadInput(name: "public key only", environment: { keys in ["SOPS_GPG_KEY": keys.ed25519.publicArmor] }, expected: ["title=Public key only", "gpg --export-secret-keys --armor"]),
        BadInput(
            name: "signing-only key", environment: { keys in ["SOPS_GPG_KEY": keys.signingOnly.secretArmor] },
            expected: ["title=Unusable SOPS key", "no encryption subkey", "quick-add-key"]),
        BadInput(
            name: "protected key without passphrase", environment: { keys in ["SOPS_GPG_KEY": keys.protected.secretArmor] },
            expected: ["title=Passphrase required", "SOPS_GPG_PASSPHRASE"]),
        BadInput(
            name: "wrong passphrase",
            environment: { keys in ["SOPS_GPG_KEY": keys.protected.secretArmor, "SOPS_GPG_PASSPHRASE": "wrong passphrase 123"] },
            expected: ["title=Bad passphrase"]),
        BadInput(
            name: "two keys, the second broken",
            environment: { keys in
                let lines = keys.rsa.secretArmor.split(separator: "\n")
                let broken = (lines.prefix(6) + lines.suffix(2)).joined(separator: "\n")
                return ["SOPS_GPG_KEY": keys.ed25519.secretArmor + "\n" + broken]
            },
            expected: ["key block 2 of 2 in SOPS_GPG_KEY"]),
        BadInput(
            name: "age key with a bad checksum",
            environment: { _ in ["SOPS_AGE_KEY": "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEQ"] },
            expected: ["title=Invalid age identity", "Line 1 of SOPS_AGE_KEY", "checksum"]),
        BadInput(
            name: "age key in lower case",
            environment: { _ in ["SOPS_AGE_KEY": "age-secret-key-1gfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpq4egaex"] },
            expected: ["title=Invalid age identity", "lower case"]),
        BadInput(
            name: "age key file that does not exist", environment: { _ in ["SOPS_AGE_KEY_FILE": "/nonexistent/keys.txt"] },
            expected: ["title=No SOPS keys", "SOPS_AGE_KEY_FILE points at /nonexistent/keys.txt, which does not exist"]),
    ]

    /// An expired key imports with a warning: gpg, sops and Flux decrypt with it (only encrypting
    /// to it is refused). The fix names the expired subkey by fingerprint.
    @Test func anExpiredKeyImportsWithAWarning() async throws {
        let keys = try await GPGFixtures.shared()
        let run = try await Self.run(["import"], ["SOPS_GPG_KEY": keys.expired.secretArmor])
        #expect(run.result.status == 0, "\(run.result.allOutput)")
        let warnings = run.result.standardError.split(separator: "\n").filter { $0.hasPrefix("::warning") }
        #expect(warnings.contains { $0.contains("title=Expired SOPS key") && $0.contains("quick-set-expire \(keys.expired.fingerprint) 1y") })
        #expect(!run.result.standardError.contains("'*'"))
        Self.expectNoLeak(run, [keys.expired.secretArmor])
        try await Self.cleanup(run)
    }

    @Test(arguments: badInputs)
    func badInputFailsClearlyAndLeavesNothing(_ bad: BadInput) async throws {
        let keys = try await GPGFixtures.shared()
        let environment = bad.environment(keys)
        let run = try await Self.run(["import"], environment)
        defer { try? FileManager.default.removeItem(at: run.sandbox) }
        #expect(run.result.status != 0)
        let errors = run.result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.count == 1, "\(run.result.standardError)")
        for text in bad.expected { #expect(errors.first?.contains(text) == true, "missing '\(text)' in \(errors)") }
        #expect(errors.first?.contains("Fix%3A") == true || errors.first?.contains("Fix:") == true)
        #expect(run.keyrings.isEmpty, "a keyring was left behind")
        #expect(run.outputs.isEmpty && run.env.isEmpty)
        Self.expectNoLeak(run, environment.filter { !$0.key.hasSuffix("_FILE") }.map(\.value) + [keys.ed25519.secretArmor, keys.protected.secretArmor, keys.rsa.secretArmor])
    }
}

/// Reads heredoc file commands (`name<<delimiter … delimiter`) as the runner does.
func parseFileCommands(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
    while let line = lines.popFirst() {
        guard let range = line.range(of: "<<") else { continue }
        let name = String(line[..<range.lowerBound]), delimiter = String(line[range.upperBound...])
        var value: [String] = []
        while let next = lines.popFirst(), next != delimiter { value.append(next) }
        result[name] = value.joined(separator: "\n")
    }
    return result
}
