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
    @Test(arguments: ["manifest", "generator", "both"])
    func withoutDecryptionEachEncryptedFileIsNamedForWhatFluxDoes(_ shape: String) async throws {
        let age = try await AgeKeyPair.generate()
        let scratch = try TestPaths.temporaryDirectory("fluxci-nodecrypt")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func encrypt(_ name: String, _ text: String, regex: String? = nil) async throws -> String {
            let file = scratch.appendingPathComponent(name)
            try text.write(to: file, atomically: true, encoding: .utf8)
            return try await SopsTool.run(["--encrypt", "--age", age.recipient] + (regex.map { ["--encrypted-regex", $0] } ?? []) + [file.path])
        }
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
}
