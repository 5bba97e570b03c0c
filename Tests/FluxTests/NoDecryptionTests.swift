import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Issue 13 item 18, as kustomize-controller decides it: without spec.decryption, an object that
/// still carries sops metadata is refused at apply ("configuring decryption is required"), while a
/// SOPS file a generator reads is data, applied as ciphertext. Both fail the gate; each is named
/// for what Flux does with it. Files encrypted by the real sops.
@Suite struct NoDecryptionTests {
    /// `text` encrypted by the real sops for `age` (its format from `name`, as sops picks it;
    /// `regex`: sops's --encrypted-regex).
    static func sops(_ name: String, _ text: String, for age: AgeKeyPair, regex: String? = nil) async throws -> String {
        let scratch = try TestPaths.temporaryDirectory("fluxci-sops-input")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let file = scratch.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return try await SopsTool.run(["--encrypt", "--age", age.recipient] + (regex.map { ["--encrypted-regex", $0] } ?? []) + [file.path])
    }

    @Test(arguments: ["manifest", "generator", "both"])
    func withoutDecryptionEachEncryptedFileIsNamedForWhatFluxDoes(_ shape: String) async throws {
        let age = try await AgeKeyPair.generate()
        func encrypt(_ name: String, _ text: String, regex: String? = nil) async throws -> String { try await Self.sops(name, text, for: age, regex: regex) }
        var files: [String: String] = ["clusters/c/apps.yaml": kustomization("apps", path: "./apps")]
        var resources: [String] = []
        if shape != "generator" {
            files["apps/secret.yaml"] = try await encrypt("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: s\n    namespace: default\nstringData:\n    k: v\n", regex: "^(data|stringData)$")
            resources.append("secret.yaml")
        }
        var generator = ""
        if shape != "manifest" {
            files["apps/creds.env"] = try await encrypt("creds.env", "TOKEN=secret\n")
            generator = "secretGenerator:\n  - {name: creds, namespace: default, envs: [creds.env]}\n"
        }
        files["apps/kustomization.yaml"] = "resources: [\(resources.joined(separator: ", "))]\n" + generator
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("No decryption"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "clusters/c/apps.yaml", line: 8))
        #expect(problem.message.contains("refuses to apply") == (shape != "generator"), "\(problem.message)")
        #expect(problem.message.contains("applies the ciphertext") == (shape != "manifest"), "\(problem.message)")
        #expect(problem.message.contains("apps/creds.env") == (shape != "manifest"))
        #expect(problem.message.contains("apps/secret.yaml") == (shape != "generator"))
    }

    /// Tester t12 F1: a configMapGenerator reading a SOPS file (files: or envs:) is applied with
    /// the ciphertext even with decryption set: kustomize-controller decrypts secretGenerator
    /// inputs and patches only, and never a ConfigMap's data. An error at the entry, and the file
    /// is not among those the preflight says the cluster decrypts; the same file under a
    /// secretGenerator is.
    @Test func aConfigMapGeneratorOfASOPSFileIsNotDecryptedByFlux() async throws {
        let age = try await AgeKeyPair.generate()
        func encrypt(_ name: String, _ text: String) async throws -> String { try await Self.sops(name, text, for: age) }
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/extra.yaml": try await encrypt("extra.yaml", "apiKey: abc123\n"),
            "apps/settings.env": try await encrypt("settings.env", "MODE=fast\n"),
            "apps/creds.env": try await encrypt("creds.env", "TOKEN=secret\n"),
            "apps/kustomization.yaml": """
                configMapGenerator:
                  - name: app-config
                    namespace: default
                    files:
                      - extra.yaml
                    envs:
                      - settings.env
                secretGenerator:
                  - {name: creds, namespace: default, envs: [creds.env]}

                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let errors = tree.problems.filter { $0.title == "Not decrypted by Flux" }
        #expect(errors.count == 2, "\(tree.problems)")
        #expect(Set(errors.compactMap { $0.location.map { "\($0.file):\($0.line ?? 0)" } }) == ["apps/kustomization.yaml:5", "apps/kustomization.yaml:7"], "\(errors)")
        #expect(errors.allSatisfy { $0.level == .error && $0.fix?.contains("secretGenerator") == true })
        let id = try #require(tree.kustomization("flux-system/apps")).id
        #expect(tree.sopsFiles[id] == ["apps/creds.env"], "\(tree.sopsFiles)")
    }

    /// Tester t12 F2: without spec.decryption an encrypted patch merges its ciphertext into a
    /// plain object. The patch is named as what it is; the plain file it patches is not called
    /// encrypted, and the patch is not called generator data.
    @Test func withoutDecryptionAnEncryptedPatchIsNamedAsAPatch() async throws {
        let patch = try await Self.sops(
            "patch.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: s\n    namespace: default\nstringData:\n    k: secret-value\n",
            for: try await AgeKeyPair.generate(), regex: "^(data|stringData)$")
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\nstringData:\n  k: placeholder\n",
            "apps/secret-patch.sops.yaml": patch,
            "apps/kustomization.yaml": "resources: [secret.yaml]\npatches:\n  - path: secret-patch.sops.yaml\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("No decryption"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.message.contains("SOPS-encrypted patches (apps/secret-patch.sops.yaml)"), "\(problem.message)")
        #expect(!problem.message.contains("apps/secret.yaml") && !problem.message.contains("generator data"), "\(problem.message)")
    }

    /// Tester t12 F6: a YAML SOPS file under envs: is decrypted in place as YAML by
    /// kustomize-controller and then read as KEY=value lines: one error at the entry, not one per
    /// line of ciphertext; a dotenv neighbour is fine.
    @Test func aYAMLSOPSFileUnderEnvsIsOneErrorAtTheEntry() async throws {
        let age = try await AgeKeyPair.generate()
        func encrypt(_ name: String, _ text: String) async throws -> String { try await Self.sops(name, text, for: age) }
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/creds.sops.yaml": try await encrypt("creds.yaml", "DB_USER: admin\nDB_PASS: hunter2\n"),
            "apps/plain.env": try await encrypt("plain.env", "TOKEN=secret\n"),
            "apps/kustomization.yaml": """
                secretGenerator:
                  - name: creds
                    namespace: default
                    envs:
                      - creds.sops.yaml
                  - name: plain
                    namespace: default
                    envs:
                      - plain.env

                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let errors = tree.problems.filter { $0.level == .error }
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.title == "Not a dotenv file" && error.location == SourceLocation(file: "apps/kustomization.yaml", line: 5), "\(error)")
        #expect(!tree.problems.contains { $0.title == "Invalid data key" })
    }

    /// Tester t12 F16: a `replacements` entry copies an encrypted field of a SOPS Secret into a
    /// plain object; kustomize-controller decrypts only objects with sops metadata, after the
    /// build, so the copy is applied as ciphertext. An error at that object; the Secret itself
    /// (decrypted by Flux) is fine.
    @Test func ciphertextCopiedIntoAPlainObjectIsAnError() async throws {
        let secret = try await Self.sops(
            "db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: default\nstringData:\n    host: db.internal\n",
            for: try await AgeKeyPair.generate(), regex: "^(data|stringData)$")
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/db.sops.yaml": secret,
            "apps/settings.yaml": configMap("settings", namespace: "default", data: "host: placeholder"),
            "apps/kustomization.yaml": """
                resources: [db.sops.yaml, settings.yaml]
                replacements:
                  - source: {kind: Secret, name: db, fieldPath: stringData.host}
                    targets:
                      - select: {kind: ConfigMap, name: settings}
                        fieldPaths: [data.host]

                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let stray = tree.problems.filter { $0.title == "Not decrypted by Flux" }
        #expect(stray.count == 1, "\(tree.problems)")
        #expect(stray.first?.message.contains("ConfigMap/default/settings") == true && stray.first?.message.contains("data.host") == true, "\(stray)")
        #expect(stray.first?.location?.file == "apps/settings.yaml", "\(stray)")
    }

    /// Tester t14 F21: kustomize-controller decrypts the files of `patches:` entries only; an
    /// encrypted patch under patchesStrategicMerge is merged still encrypted, and the object then
    /// fails to decrypt. An error at the entry; the same file under `patches:` is fine.
    @Test(arguments: [true, false]) func anEncryptedPatchUnderPatchesStrategicMergeIsNotDecrypted(legacy: Bool) async throws {
        let patch = try await Self.sops(
            "patch.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: s\n    namespace: default\nstringData:\n    password: secret-value\n",
            for: try await AgeKeyPair.generate(), regex: "^(data|stringData)$")
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\nstringData:\n  username: admin\n  password: changeme\n",
            "apps/secret-patch.sops.yaml": patch,
            "apps/kustomization.yaml": "resources: [secret.yaml]\n" + (legacy ? "patchesStrategicMerge:\n  - secret-patch.sops.yaml\n" : "patches:\n  - path: secret-patch.sops.yaml\n"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let errors = tree.problems.filter { $0.title == "Not decrypted by Flux" }
        if legacy {
            #expect(errors.count == 1 && errors.first?.location == SourceLocation(file: "apps/kustomization.yaml", line: 3), "\(tree.problems)")
            #expect(errors.first?.fix?.contains("- path: secret-patch.sops.yaml") == true)
        } else {
            #expect(errors.isEmpty, "\(tree.problems)")
        }
    }

    /// Tester t14 F20: a builtin SecretGenerator configured in a file under `generators:` reads a
    /// SOPS file the decryptor never visits (it walks the kustomization's own secretGenerator):
    /// an error at the generator's files entry.
    @Test func aSOPSFileOfAGeneratorUnderGeneratorsIsNotDecrypted() async throws {
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/creds.env": try await Self.sops("creds.env", "TOKEN=secret\n", for: try await AgeKeyPair.generate()),
            "apps/gen.yaml": "apiVersion: builtin\nkind: SecretGenerator\nmetadata:\n  name: creds\n  namespace: default\nenvs:\n  - creds.env\n",
            "apps/kustomization.yaml": "generators:\n  - gen.yaml\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let errors = tree.problems.filter { $0.title == "Not decrypted by Flux" }
        #expect(errors.count == 1 && errors.first?.location == SourceLocation(file: "apps/gen.yaml", line: 7), "\(tree.problems)")
        #expect(errors.first?.message.contains("listed under generators:") == true)
    }

    /// Tester t14 F16: a plain patch adds a value under the encrypted object's encrypted_regex;
    /// kustomize-controller's decryption of the built object fails on it. An error at the object;
    /// without the patch it is fine.
    @Test(arguments: [true, false]) func aPlainValuePatchedIntoAnEncryptedObjectIsAnError(patched: Bool) async throws {
        let secret = try await Self.sops(
            "db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: default\nstringData:\n    password: hunter2\n",
            for: try await AgeKeyPair.generate(), regex: "^(data|stringData)$")
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: decryption),
            "apps/db.sops.yaml": secret,
            "apps/realm.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\nstringData:\n  realm: staging\n",
            "apps/kustomization.yaml": "resources: [db.sops.yaml]\n" + (patched ? "patches:\n  - path: realm.yaml\n" : ""),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problems = tree.problems.filter { $0.title == "Plain value in an encrypted object" }
        #expect(problems.count == (patched ? 1 : 0), "\(tree.problems)")
        if patched { #expect(problems.first?.message.contains("stringData.realm") == true && problems.first?.message.contains("staging") == false, "\(problems)") }
    }
}
