import Foundation
import Testing
import TestSupport

/// `fluxci keys new` and `export-ci`: keys that the real age, gpg and sops accept, in the right
/// place with the right permissions, never printed to a terminal.
@Suite struct KeysNewTests {
    static func fluxci(_ arguments: [String], in directory: URL, input: String? = nil) async throws -> ProcessResult {
        try await runProcess(TestPaths.executable("fluxci"), arguments, environment: ["TMPDIR": "/tmp", "NO_COLOR": "1"], input: input, workingDirectory: directory)
    }

    static func mode(_ url: URL) throws -> Int? { try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int }

    @Test func ageKeyWorksWithTheRealAgeAndIsNeverOverwritten() async throws {
        let repo = try TestPaths.temporaryDirectory("fluxci-newkeys")
        defer { try? FileManager.default.removeItem(at: repo) }
        try await git(["init", "--quiet", repo.path])
        try ".sops.yaml\n# keep me\n".write(to: repo.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        try "# team rules\ncreation_rules:\n  - path_regex: .*\n    age: age1existing\n".write(to: repo.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        let result = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--update-sops-yaml"], in: repo)
        #expect(result.status == 0, "\(result.allOutput)")
        let keyFile = repo.appendingPathComponent(".secrets/kind/local/age/age.agekey")
        #expect(try Self.mode(keyFile) == 0o600)
        #expect(try Self.mode(repo.appendingPathComponent(".secrets/kind/local/age")) == 0o700)
        let text = try String(contentsOf: keyFile, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines[0].hasPrefix("# created: ") && lines[1].hasPrefix("# public key: age1"))
        let identity = String(lines[2])
        #expect(leakedSecrets(in: result.allOutput, secrets: [identity]).isEmpty)
        // The real age: its recipient matches, and it decrypts what is encrypted to it.
        let recipient = try await runTool("age-keygen", ["-y", keyFile.path]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(lines[1] == "# public key: \(recipient)")
        let encrypted = try await runTool("age", ["-r", recipient, "-a"], input: "hello")
        let decrypted = try await runTool("age", ["-d", "-i", keyFile.path], input: encrypted.standardOutput)
        #expect(decrypted.standardOutput == "hello")
        // .gitignore keeps its lines and gains .secrets/; .sops.yaml keeps its rule and comment.
        let gitignore = try String(contentsOf: repo.appendingPathComponent(".gitignore"), encoding: .utf8)
        #expect(gitignore.hasPrefix(".sops.yaml\n# keep me\n") && gitignore.contains(".secrets/"))
        let sops = try String(contentsOf: repo.appendingPathComponent(".sops.yaml"), encoding: .utf8)
        #expect(sops.hasPrefix("# team rules\ncreation_rules:\n  - path_regex: kubernetes/overlays/kind/local/"))
        #expect(sops.contains("age: \(recipient)") && sops.hasSuffix("  - path_regex: .*\n    age: age1existing\n"))

        let again = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age"], in: repo)
        #expect(again.status != 0 && again.standardError.contains("fluxci does not overwrite a key"))
        #expect(try String(contentsOf: keyFile, encoding: .utf8) == text)
        let forced = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--force"], in: repo)
        #expect(forced.status == 0)
        let backups = try FileManager.default.contentsOfDirectory(atPath: keyFile.deletingLastPathComponent().path).filter { $0.hasSuffix(".bak") }
        #expect(backups.count == 1)
        #expect(try String(contentsOf: keyFile, encoding: .utf8) != text)
    }

    /// An earlier rule for the same path keeps its recipients and settings; the new key joins
    /// it. The real sops reads the merged rule: its file names both age recipients and keeps
    /// mac_only_encrypted.
    @Test func updateSopsYamlMergesIntoTheExistingRule() async throws {
        let repo = try TestPaths.temporaryDirectory("fluxci-newkeys")
        defer { try? FileManager.default.removeItem(at: repo) }
        try await git(["init", "--quiet", repo.path])
        let other = try await AgeKeyPair.generate()
        let config = "creation_rules:\n  - path_regex: kubernetes/overlays/kind/local/.*\\.ya?ml$\n    encrypted_regex: ^(data|stringData)$\n    age: \(other.recipient)\n    pgp: 052CAE57503E7DFD561F7B45FC793E738F1A861A\n    mac_only_encrypted: true\n"
        try config.write(to: repo.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        let result = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--update-sops-yaml"], in: repo)
        #expect(result.status == 0, "\(result.allOutput)")
        let recipient = try await runTool("age-keygen", ["-y", repo.appendingPathComponent(".secrets/kind/local/age/age.agekey").path]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let sops = try String(contentsOf: repo.appendingPathComponent(".sops.yaml"), encoding: .utf8)
        #expect(sops.contains("    age: \(other.recipient),\(recipient)\n"), "\(sops)")
        #expect(sops.contains("    pgp: 052CAE57503E7DFD561F7B45FC793E738F1A861A\n") && sops.contains("    mac_only_encrypted: true\n"), "\(sops)")
        // Without the PGP entry (whose public key this machine lacks), the real sops reads the rule.
        try sops.replacingOccurrences(of: "    pgp: 052CAE57503E7DFD561F7B45FC793E738F1A861A\n", with: "").write(to: repo.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        let path = "kubernetes/overlays/kind/local/s.yaml"
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("kubernetes/overlays/kind/local"), withIntermediateDirectories: true)
        try "stringData:\n  a: b\n".write(to: repo.appendingPathComponent(path), atomically: true, encoding: .utf8)
        let encrypted = try await SopsTool.run(["--encrypt", path], workingDirectory: repo)
        #expect(encrypted.contains(other.recipient) && encrypted.contains(recipient) && encrypted.contains("mac_only_encrypted: true"), "\(encrypted)")
        // Again: nothing to add, nothing changed.
        let again = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age", "--update-sops-yaml"], in: repo)
        #expect(again.status == 0 && again.allOutput.contains("already has"), "\(again.allOutput)")
    }

    @Test func pgpKeyImportsDecryptsWhatSopsEncryptsAndGoesToCIOnlyThroughAPipe() async throws {
        let repo = try TestPaths.temporaryDirectory("fluxci-newkeys")
        defer { try? FileManager.default.removeItem(at: repo) }
        let result = try await Self.fluxci(["keys", "new", "--cloud", "aws", "--env", "prod", "--pgp", "--name", "Prod SOPS", "--email", "sops@example.com"], in: repo)
        #expect(result.status == 0, "\(result.allOutput)")
        let secret = repo.appendingPathComponent(".secrets/aws/prod/gpg/sops.asc")
        #expect(try Self.mode(secret) == 0o600)
        let armor = try String(contentsOf: secret, encoding: .utf8)
        #expect(armor.contains("BEGIN PGP PRIVATE KEY BLOCK"))
        #expect(leakedSecrets(in: result.allOutput, secrets: [armor]).isEmpty)

        // It imports, and decrypts a file the real sops encrypted for its fingerprint.
        let imported = try await runProcess(TestPaths.executable("fluxci"), ["keys", "import", "--json"], environment: ["SOPS_GPG_KEY": armor, "TMPDIR": "/tmp"])
        #expect(imported.status == 0, "\(imported.allOutput)")
        let json = try JSONSerialization.jsonObject(with: Data(imported.standardOutput.utf8)) as? [String: Any]
        let fingerprint = try #require((json?["pgp"] as? [[String: Any]])?.first?["fingerprint"] as? String)
        let keyring = try #require(json?["keyring"] as? String)
        defer { _ = try? FileManager.default.removeItem(atPath: keyring) }
        let home = try TestPaths.temporaryDirectory("fluxci-gpghome")
        defer { try? FileManager.default.removeItem(at: home) }
        _ = try await runTool("gpg", ["--homedir", home.path, "--batch", "--import", repo.appendingPathComponent(".secrets/aws/prod/gpg/sops.pub.asc").path])
        let plain = repo.appendingPathComponent("s.yaml")
        try "stringData:\n    password: from-sops\n".write(to: plain, atomically: true, encoding: .utf8)
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--pgp", fingerprint, plain.path], environment: ["GNUPGHOME": home.path])
        let decrypted = try await runProcess(TestPaths.executable("fluxci"), ["sops", "decrypt", plain.path], environment: ["FLUXCI_KEYRING": keyring])
        #expect(decrypted.standardOutput.contains("password: from-sops"), "\(decrypted.allOutput)")
        _ = try await runProcess(TestPaths.executable("fluxci"), ["keys", "cleanup", "--keyring", keyring])
        _ = try await runTool("gpgconf", ["--homedir", home.path, "--kill", "all"])

        // export-ci: into a pipe, armored or base64; onto a terminal, refused.
        let piped = try await Self.fluxci(["keys", "export-ci", "--cloud", "aws", "--env", "prod"], in: repo)
        #expect(piped.status == 0 && piped.standardOutput == armor)
        let base64 = try await Self.fluxci(["keys", "export-ci", "--cloud", "aws", "--env", "prod", "--base64"], in: repo)
        #expect(Data(base64Encoded: base64.standardOutput).map { String(decoding: $0, as: UTF8.self) } == armor)
        let terminal = try await runTool(
            "script", ["-qec", "\(TestPaths.executable("fluxci").path) keys export-ci --cloud aws --env prod", "/dev/null"], workingDirectory: repo)
        #expect(terminal.status != 0)
        #expect(terminal.standardOutput.contains("Refusing to print a secret key"))
        #expect(!terminal.standardOutput.contains("PRIVATE KEY"))
    }

    @Test func warnsLoudlyWhenKeysAreTrackedByGit() async throws {
        let repo = try TestPaths.temporaryDirectory("fluxci-newkeys")
        defer { try? FileManager.default.removeItem(at: repo) }
        try await git(["init", "--quiet", repo.path])
        try FileManager.default.createDirectory(at: repo.appendingPathComponent(".secrets/old/env"), withIntermediateDirectories: true)
        try "AGE-SECRET-KEY-1OLD".write(to: repo.appendingPathComponent(".secrets/old/env/key.txt"), atomically: true, encoding: .utf8)
        try await git(["add", "-f", "."], in: repo)
        try await git(["commit", "--quiet", "-m", "oops"], in: repo)
        let result = try await Self.fluxci(["keys", "new", "--cloud", "kind", "--env", "local", "--age"], in: repo)
        #expect(result.standardError.contains("error: Keys committed to git: git tracks key files under .secrets/: .secrets/old/env/key.txt"))
    }
}
