import Foundation
import Testing
import TestSupport

/// `fluxci sops encrypt` on the example repository: .sops.yaml rules, the seed pipe from
/// `secret from-file`, and files the real sops decrypts.
@Suite struct SOPSEncryptCommandTests {
    static func copyOfFleet() throws -> URL {
        let parent = try TestPaths.temporaryDirectory("fluxci-encrypt")
        removeAtExit(parent)
        let fleet = parent.appendingPathComponent("fleet")
        try FileManager.default.copyItem(at: ExampleFleet.source, to: fleet)
        return fleet
    }

    static func fluxci(_ arguments: [String], in directory: URL, input: String? = nil, environment: [String: String] = [:]) async throws -> ProcessResult {
        try await runProcess(TestPaths.executable("fluxci"), arguments, environment: environment.merging(["TMPDIR": "/tmp"]) { $1 }, input: input, workingDirectory: directory)
    }

    @Test func inPlaceFollowsTheSopsYamlRuleAndSopsDecryptsIt() async throws {
        let fleet = try Self.copyOfFleet()
        let path = "kubernetes/overlays/kind/local/apps/new.sops.yaml"
        let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: new\n    namespace: apps\nstringData:\n    token: seed-token-value\n"
        try plain.write(to: fleet.appendingPathComponent(path), atomically: true, encoding: .utf8)
        // The rule names the example's PGP key too: its public key comes from .secrets.
        let result = try await Self.fluxci(["sops", "encrypt", "--in-place", path, "--pgp-key-file", ".secrets/kind/local/gpg/sops.pub.asc"], in: fleet)
        #expect(result.status == 0, "\(result.allOutput)")
        let encrypted = try String(contentsOf: fleet.appendingPathComponent(path), encoding: .utf8)
        #expect(encrypted.contains("name: new") && !encrypted.contains("seed-token-value"))
        #expect(encrypted.contains("recipient: age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"))
        #expect(encrypted.contains("fp: 6FFF9699B0376D4D06F7D6B0EF57C12CF4CFE278"))
        let theirs = try await SopsTool.run(
            ["--decrypt", fleet.appendingPathComponent(path).path], environment: ["SOPS_AGE_KEY_FILE": fleet.appendingPathComponent(".secrets/kind/local/age/age.agekey").path])
        #expect(try await canonicalJSON(theirs) == canonicalJSON(plain))
        // Again: refused, and the file is untouched.
        let again = try await Self.fluxci(["sops", "encrypt", "--in-place", path], in: fleet, environment: ["GITHUB_ACTIONS": "true"])
        #expect(again.status != 0 && again.standardError.contains("::error title=Already encrypted"))
        #expect(try String(contentsOf: fleet.appendingPathComponent(path), encoding: .utf8) == encrypted)
    }

    @Test func theSeedPipeFromAFileToAnEncryptedSecret() async throws {
        let fleet = try Self.copyOfFleet()
        try "very sensitive\n".write(to: fleet.appendingPathComponent("credentials.txt"), atomically: true, encoding: .utf8)
        let manifest = try await Self.fluxci(["secret", "from-file", "--name", "seeded", "--namespace", "apps", "credentials.txt"], in: fleet)
        #expect(manifest.status == 0)
        let encrypted = try await Self.fluxci(["sops", "encrypt", "--cloud", "kind", "--env", "local", "-"], in: fleet, input: manifest.standardOutput)
        #expect(encrypted.status == 0, "\(encrypted.allOutput)")
        #expect(!encrypted.standardOutput.contains(Data("very sensitive\n".utf8).base64EncodedString()))
        let file = fleet.appendingPathComponent("seeded.sops.yaml")
        try encrypted.standardOutput.write(to: file, atomically: true, encoding: .utf8)
        let theirs = try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY_FILE": fleet.appendingPathComponent(".secrets/kind/local/age/age.agekey").path])
        #expect(theirs.contains(Data("very sensitive\n".utf8).base64EncodedString()))
    }

    /// Yams's duplicate-key error quotes the whole mapping: a plaintext secret in the log. sops
    /// refuses such a file too; fluxci names the key and its line
    /// (go-yaml v3's words: `mapping key "password" already defined at line 6`), and quotes no value.
    @Test func aDuplicateKeyErrorQuotesNoContent() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-encrypt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let inputs = [
            "dup.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: TopSecretPassword123\n  password: AnotherSecretValue456\n",
        ]
        // JSON is another matter: sops's JSON store reads token by token and keeps both keys, in
        // order, so fluxci encrypts such a file as sops does (and prints no plaintext).
        let json = "{\n  \"stringData\": {\n    \"password\": \"TopSecretPassword123\",\n    \"password\": \"AnotherSecretValue456\"\n  }\n}\n"
        try json.write(to: directory.appendingPathComponent("dup.json"), atomically: true, encoding: .utf8)
        let kept = try await Self.fluxci(["sops", "encrypt", "--age", age.recipient, "dup.json"], in: directory)
        #expect(kept.status == 0, "\(kept.allOutput)")
        #expect(kept.standardOutput.components(separatedBy: "\"password\": \"ENC[").count == 3, "\(kept.standardOutput)")
        #expect(!kept.allOutput.contains("TopSecretPassword123") && !kept.allOutput.contains("AnotherSecretValue456"))
        for (name, text) in inputs {
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            for github in [true, false] {
                let result = try await Self.fluxci(["sops", "encrypt", "--age", age.recipient, name], in: directory, environment: github ? ["GITHUB_ACTIONS": "true"] : [:])
                #expect(result.status != 0)
                #expect(!result.allOutput.contains("TopSecretPassword123") && !result.allOutput.contains("AnotherSecretValue456"), "\(result.allOutput)")
                #expect(!result.allOutput.contains("Context"), "\(result.allOutput)")
                #expect(result.allOutput.contains("key \"password\" already defined at line"), "\(result.allOutput)")
                #expect(result.allOutput.contains(name), "\(result.allOutput)")
            }
        }
    }

    /// The lines of a SOPS YAML file that say what was encrypted: metadata keys other than the
    /// per-run ones, and which top-level values are ENC.
    static func shape(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            if line.hasPrefix("    ") && !line.hasPrefix("        ") && !line.hasPrefix("    -") && line.contains(": ") && !line.contains("ENC[") { return String(line.split(separator: ":")[0]) }
            if !line.hasPrefix(" ") { return line.contains("ENC[") ? String(line.split(separator: ":")[0]) + "=ENC" : String(line.split(separator: ":")[0]) }
            return nil
        }.filter { !["    lastmodified", "    mac", "    version"].contains($0) }
    }

    /// An encrypted file with what is random in it masked: each ENC value's data, IV and tag
    /// (its type stays), the age blob, `lastmodified`.
    static func masked(_ text: String) -> String {
        var out = text.replacing(/ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:([a-z]+)\]/) { "ENC[\($0.output.1)]" }
        out = out.replacing(/-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/) { _ in "AGE" }
        return out.replacing(/lastmodified: "[^"]*"/) { _ in "lastmodified: T" }
    }

    /// Same rule, same input, as the real sops: a rule without a selector encrypts every value
    /// (Kubernetes manifests included); `mac_only_encrypted`, `encrypted_comment_regex` and
    /// `unencrypted_comment_regex` are applied as sops applies them (`sops -d` of fluxci's file
    /// equals `sops -d` of sops's own, and the files are equal but for their random parts); a rule
    /// with two selectors is refused as sops refuses it, the file untouched.
    @Test func creationRuleSettingsAsSopsAppliesThem() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-encrypt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\n    # keep the next one\n    namespace: apps\n    # enc next\n    labels:\n        # enc\n        app: db\nstringData:\n    token: abc\n    # keep\n    port: 5432\n    hosts:\n        # enc next\n        - a\n        # keep\n        - b\n"
        let rules: [(folder: String, settings: String)] = [
            ("plain", ""),
            ("maconly", "    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n"),
            ("enccomment", "    encrypted_comment_regex: enc\n"),
            ("unenccomment", "    unencrypted_comment_regex: keep\n"),
            ("unenccomment-maconly", "    unencrypted_comment_regex: keep\n    mac_only_encrypted: true\n"),
            ("conflict", "    encrypted_regex: ^data$\n    encrypted_comment_regex: enc\n"),
        ]
        try ("creation_rules:\n" + rules.map { "  - path_regex: ^\($0.folder)/.*\n    age: \(age.recipient)\n" + $0.settings }.joined())
            .write(to: directory.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        for rule in rules {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(rule.folder), withIntermediateDirectories: true)
            try plain.write(to: directory.appendingPathComponent("\(rule.folder)/s.yaml"), atomically: true, encoding: .utf8)
        }
        let keys = ["SOPS_AGE_KEY": age.identity]
        for rule in rules where rule.folder != "conflict" {
            let theirs = try await SopsTool.run(["--encrypt", "\(rule.folder)/s.yaml"], workingDirectory: directory)
            let ours = try await Self.fluxci(["sops", "encrypt", "\(rule.folder)/s.yaml"], in: directory)
            #expect(ours.status == 0, "\(rule.folder): \(ours.allOutput)")
            #expect(Self.masked(ours.standardOutput) == Self.masked(theirs), "\(rule.folder):\n\(Self.masked(ours.standardOutput))\n---\n\(Self.masked(theirs))")
            let oursFile = directory.appendingPathComponent("\(rule.folder)/ours.yaml")
            let theirsFile = directory.appendingPathComponent("\(rule.folder)/theirs.yaml")
            try ours.standardOutput.write(to: oursFile, atomically: true, encoding: .utf8)
            try theirs.write(to: theirsFile, atomically: true, encoding: .utf8)
            let oursDecrypted = try await SopsTool.run(["--decrypt", oursFile.path], environment: keys)
            let theirsDecrypted = try await SopsTool.run(["--decrypt", theirsFile.path], environment: keys)
            #expect(oursDecrypted == theirsDecrypted, "\(rule.folder):\n\(oursDecrypted)\n---\n\(theirsDecrypted)")
        }
        #expect(try await SopsTool.run(["--encrypt", "plain/s.yaml"], workingDirectory: directory).contains("apiVersion: ENC["))
        #expect(try await SopsTool.run(["--encrypt", "maconly/s.yaml"], workingDirectory: directory).contains("mac_only_encrypted: true"))
        let conflict = try await Self.fluxci(["sops", "encrypt", "--in-place", "conflict/s.yaml"], in: directory, environment: ["GITHUB_ACTIONS": "true"])
        #expect(conflict.status != 0 && conflict.standardError.contains("more than one of"), "\(conflict.allOutput)")
        #expect(try String(contentsOf: directory.appendingPathComponent("conflict/s.yaml"), encoding: .utf8) == plain)
        await #expect(throws: (any Error).self) { try await SopsTool.run(["--encrypt", "conflict/s.yaml"], workingDirectory: directory) }
    }

    @Test func noRecipientsOrABadOneIsAClearError() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-encrypt")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "a: b\n".write(to: directory.appendingPathComponent("x.yaml"), atomically: true, encoding: .utf8)
        let none = try await Self.fluxci(["sops", "encrypt", "x.yaml"], in: directory, environment: ["GITHUB_ACTIONS": "true", "GNUPGHOME": directory.path])
        #expect(none.status != 0 && none.standardError.contains("::error title=No recipients"))
        let bad = try await Self.fluxci(["sops", "encrypt", "--age", "age1notarecipient", "x.yaml"], in: directory, environment: ["GITHUB_ACTIONS": "true"])
        #expect(bad.status != 0 && bad.standardError.contains("::error title=Invalid age recipient"))
        #expect(try String(contentsOf: directory.appendingPathComponent("x.yaml"), encoding: .utf8) == "a: b\n")
    }
}

/// `fluxci sops rotate` and `updatekeys` on files the real sops encrypted: sops still decrypts
/// them to the same values afterwards.
@Suite struct SOPSRekeyTests {
    static let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: rotate-me\n    port: 5432\n"

    @Test func rotateKeepsValuesAndRecipientsWithANewDataKey() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-rekey")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let file = directory.appendingPathComponent("s.yaml")
        try Self.plain.write(to: file, atomically: true, encoding: .utf8)
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--age", age.recipient, "--encrypted-regex", "^(data|stringData)$", file.path])
        // sops rewrites a file in place keeping its mode (tester t4 finding 14: fluxci made it 0600).
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let before = try String(contentsOf: file, encoding: .utf8)
        let result = try await runProcess(TestPaths.executable("fluxci"), ["sops", "rotate", "s.yaml"], environment: ["SOPS_AGE_KEY": age.identity, "TMPDIR": "/tmp"], workingDirectory: directory)
        #expect(result.status == 0, "\(result.allOutput)")
        let after = try String(contentsOf: file, encoding: .utf8)
        #expect(after != before && after.contains("recipient: \(age.recipient)") && after.contains("encrypted_regex: ^(data|stringData)$"))
        #expect((try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        let decrypted = try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY": age.identity])
        #expect(try await canonicalJSON(decrypted) == canonicalJSON(Self.plain))
    }

    /// Comments (in mappings and inside sequences, encrypted or not) and `mac_only_encrypted`
    /// survive a rotate: `sops -d` of the rotated file is byte for byte `sops -d` of the original.
    @Test func rotateKeepsCommentsAndMacOnlyEncrypted() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-rekey")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let file = directory.appendingPathComponent("s.yaml")
        let plain = "# top\nkind: Secret # kind\nstringData:\n    # the password\n    password: rotate-me\n    hosts:\n        # first host\n        - one\n        # second host\n        - two\n    mode: 0644\nport: 5432\n# end\n"
        try plain.write(to: file, atomically: true, encoding: .utf8)
        try "creation_rules:\n  - path_regex: s\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n    age: \(age.recipient)\n"
            .write(to: directory.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        _ = try await SopsTool.run(["--encrypt", "--in-place", file.path], environment: ["SOPS_AGE_KEY": age.identity], workingDirectory: directory)
        let original = try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY": age.identity])
        let before = try String(contentsOf: file, encoding: .utf8)
        let result = try await runProcess(TestPaths.executable("fluxci"), ["sops", "rotate", "s.yaml"], environment: ["SOPS_AGE_KEY": age.identity, "TMPDIR": "/tmp"], workingDirectory: directory)
        #expect(result.status == 0, "\(result.allOutput)")
        let after = try String(contentsOf: file, encoding: .utf8)
        #expect(after != before && after.contains("mac_only_encrypted: true"))
        let decrypted = try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY": age.identity])
        #expect(decrypted == original)
        #expect(decrypted.contains("# first host") && decrypted.contains("# second host") && !decrypted.contains("- ' first host'"))
    }

    @Test func updatekeysFollowsSopsYaml() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-rekey")
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = try await AgeKeyPair.generate(), new = try await AgeKeyPair.generate()
        let file = directory.appendingPathComponent("s.yaml")
        try Self.plain.write(to: file, atomically: true, encoding: .utf8)
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--age", old.recipient, "--encrypted-regex", "^(data|stringData)$", file.path])
        try "creation_rules:\n  - path_regex: s\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: \(new.recipient)\n"
            .write(to: directory.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "updatekeys", "s.yaml"], environment: ["SOPS_AGE_KEY": old.identity, "TMPDIR": "/tmp", "NO_COLOR": "1"], workingDirectory: directory)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("added \(new.recipient); removed \(old.recipient)"))
        let decrypted = try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY": new.identity])
        #expect(try await canonicalJSON(decrypted) == canonicalJSON(Self.plain))
        await #expect(throws: SopsTool.SopsFailed.self) { try await SopsTool.run(["--decrypt", file.path], environment: ["SOPS_AGE_KEY": old.identity]) }
    }
}
