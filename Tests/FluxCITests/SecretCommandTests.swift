import Foundation
import GPG
import Kube
import Testing
import TestSupport

/// `fluxci secret …` against the fake API server (or FLUXCI_TEST_KUBECONFIG's cluster).
@Suite(.serialized) struct SecretCommandTests {
    static func fluxci(_ arguments: [String], _ environment: [String: String], in directory: URL) async throws -> ProcessResult {
        try await runProcess(TestPaths.executable("fluxci"), arguments, environment: environment.merging(["TMPDIR": directory.path]) { $1 }, workingDirectory: directory)
    }

    @Test func createsBothSecretsFromTheKeysAndIsIdempotent() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let keys = try await GPGFixtures.shared()
        let age = try await AgeKeyPair.generate()
        let namespace = TestCluster.uniqueName("flux")
        let environment = [
            "SOPS_GPG_KEY": keys.ed25519.secretArmor, "SOPS_AGE_KEY": age.identity, "KUBECONFIG": cluster.kubeconfig.path, "GITHUB_ACTIONS": "true",
        ]
        let first = try await Self.fluxci(["secret", "sops", "--namespace", namespace], environment, in: cluster.directory)
        #expect(first.status == 0, "\(first.allOutput)")
        #expect(first.standardError.contains("Secret \(namespace)/sops-gpg: created"))
        #expect(first.standardError.contains("Secret \(namespace)/sops-age: created"))
        #expect(leakedSecrets(in: first.allOutput, secrets: [keys.ed25519.secretArmor, age.identity]).isEmpty)

        let client = try cluster.client()
        let secrets = try await client.resource(apiVersion: "v1", kind: "Secret")
        let gpg = try #require(try await client.fetch(secrets, namespace: namespace, name: "sops-gpg"))
        let armor = try #require(gpg["data", "sops.asc"]?.string.flatMap { Data(base64Encoded: $0) })
        #expect(String(decoding: armor, as: UTF8.self).contains("BEGIN PGP PRIVATE KEY BLOCK"))
        // What Flux will import is the same secret key: it imports into a fresh keyring and decrypts.
        let check = try Keyring.create()
        defer { check.destroy() }
        #expect(try check.importKeys(armor).fingerprints == [keys.ed25519.fingerprint])
        #expect(try check.secretKeys().first?.hasSecret == true)
        let ageSecret = try #require(try await client.fetch(secrets, namespace: namespace, name: "sops-age"))
        #expect(ageSecret["data", "age.agekey"]?.string.flatMap { Data(base64Encoded: $0) } == Data((age.identity + "\n").utf8))

        let second = try await Self.fluxci(["secret", "sops", "--namespace", namespace], environment, in: cluster.directory)
        #expect(second.status == 0)
        #expect(second.standardError.contains("Secret \(namespace)/sops-gpg: unchanged"))
        #expect(second.standardError.contains("Secret \(namespace)/sops-age: unchanged"))
    }

    @Test func dryRunRedactsAndTouchesNoCluster() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-secret")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let result = try await Self.fluxci(
            ["secret", "sops", "--dry-run", "--kubeconfig", "/nonexistent"], ["SOPS_AGE_KEY": age.identity], in: directory)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardOutput.contains("name: sops-age"))
        #expect(result.standardOutput.contains("age.agekey: <redacted, 75 bytes>"))
        #expect(leakedSecrets(in: result.allOutput, secrets: [age.identity]).isEmpty)
    }

    @Test func missingKeysAndBadKubeconfigsFailClearly() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-secret")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let noPGP = try await Self.fluxci(["secret", "sops", "--only", "gpg", "--dry-run"], ["SOPS_AGE_KEY": age.identity, "GITHUB_ACTIONS": "true"], in: directory)
        #expect(noPGP.status != 0)
        #expect(noPGP.standardError.contains("::error title=No PGP key::"))

        let kubeconfig = directory.appendingPathComponent("config")
        try "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n".write(to: kubeconfig, atomically: true, encoding: .utf8)
        let noContext = try await Self.fluxci(["secret", "sops", "--kubeconfig", kubeconfig.path], ["SOPS_AGE_KEY": age.identity, "GITHUB_ACTIONS": "true"], in: directory)
        #expect(noContext.status != 0)
        #expect(noContext.standardError.contains("::error title=Kubeconfig::The kubeconfig \(kubeconfig.path) sets no current-context."))
    }

    @Test func ageSecretFromTheSecretsFolder() async throws {
        let cluster = try await TestCluster.start()
        defer { Task { await cluster.stop() } }
        let age = try await AgeKeyPair.generate()
        let repository = cluster.directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository.appendingPathComponent(".secrets/kind/local/age"), withIntermediateDirectories: true)
        try (age.identity + "\n").write(to: repository.appendingPathComponent(".secrets/kind/local/age/age.agekey"), atomically: true, encoding: .utf8)
        let namespace = TestCluster.uniqueName("flux")
        let result = try await Self.fluxci(
            ["secret", "age", "--cloud", "kind", "--env", "local", "--namespace", namespace, "--kubeconfig", cluster.kubeconfig.path], [:], in: repository)
        #expect(result.status == 0, "\(result.allOutput)")
        let client = try cluster.client()
        let secret = try await client.fetch(try await client.resource(apiVersion: "v1", kind: "Secret"), namespace: namespace, name: "sops-age")
        #expect(secret?["data", "age.agekey"]?.string.flatMap { Data(base64Encoded: $0) } == Data((age.identity + "\n").utf8))
    }

    @Test func fromFilePrintsAManifest() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-secret")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "cert-body".write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        let result = try await Self.fluxci(
            ["secret", "from-file", "--name", "tls", "--namespace", "apps", "--from-literal", "user=admin", "tls.crt", "renamed.key=tls.crt"], [:], in: directory)
        #expect(result.status == 0, "\(result.allOutput)")
        let objects = try Manifest.objects(result.standardOutput)
        #expect(objects.count == 1 && objects[0].name == "tls" && objects[0].namespace == "apps")
        #expect(objects[0].json["data", "tls.crt"]?.string == Data("cert-body".utf8).base64EncodedString())
        #expect(objects[0].json["data", "renamed.key"] != nil && objects[0].json["data", "user"]?.string == Data("admin".utf8).base64EncodedString())
        let duplicate = try await Self.fluxci(["secret", "from-file", "--name", "x", "--namespace", "y", "tls.crt", "tls.crt"], [:], in: directory)
        #expect(duplicate.status != 0 && duplicate.standardError.contains("given twice"))
        #expect(duplicate.standardOutput.isEmpty)
    }
}
