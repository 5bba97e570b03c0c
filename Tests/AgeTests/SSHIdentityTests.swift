import Foundation
import Testing
import TestSupport

@testable import Age

/// SSH Ed25519 keys made by the real `ssh-keygen` open files the real `age` encrypts to them
/// (`age -R key.pub`, agessh's `ssh-ed25519` stanza), and only those; RSA keys and keys protected
/// by a passphrase are refused with the reason.
@Suite struct SSHIdentityTests {
    static func keygen(_ directory: URL, _ name: String, _ arguments: [String]) async throws -> (key: String, publicKey: String) {
        let path = directory.appendingPathComponent(name).path
        let result = try await runTool("ssh-keygen", arguments + ["-q", "-C", "test@fluxci", "-f", path])
        #expect(result.status == 0, "\(result.standardError)")
        return (try String(contentsOfFile: path, encoding: .utf8), try String(contentsOfFile: path + ".pub", encoding: .utf8))
    }

    @Test(arguments: [0, 1, 1000, 70_000])
    func ageEncryptsToAnSSHKeyWeDecrypt(size: Int) async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-ssh")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (key, publicKey) = try await Self.keygen(directory, "id_ed25519", ["-t", "ed25519", "-N", ""])
        let (otherKey, _) = try await Self.keygen(directory, "other", ["-t", "ed25519", "-N", ""])
        let identity = try X25519Identity(openSSHPrivateKey: key)
        // The recipient as age and sops name it: the public key line without its comment.
        #expect(identity.name == publicKey.split(separator: " ").prefix(2).joined(separator: " "))
        var random = SeededGenerator(seed: UInt64(size))
        let content = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &random) })
        let plain = directory.appendingPathComponent("plain"), encrypted = directory.appendingPathComponent("enc")
        try content.write(to: plain)
        for armored in [false, true] {
            let result = try await runTool("age", (armored ? ["-a"] : []) + ["-R", directory.appendingPathComponent("id_ed25519.pub").path, "-o", encrypted.path, plain.path])
            #expect(result.status == 0, "\(result.standardError)")
            let file = try Data(contentsOf: encrypted)
            #expect(Data(try AgeFile.decrypt(file, identities: [identity])) == content)
            // Another SSH key, or the same scalar as a plain X25519 identity, does not open it.
            #expect(throws: AgeError.self) { try AgeFile.decrypt(file, identities: [try X25519Identity(openSSHPrivateKey: otherKey)]) }
            #expect(throws: AgeError.self) { try AgeFile.decrypt(file, identities: [try X25519Identity(secretKey: identity.secretKey)]) }
        }
    }

    @Test func rsaAndProtectedKeysAreRefusedWithTheReason() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-ssh")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (rsa, _) = try await Self.keygen(directory, "id_rsa", ["-t", "rsa", "-b", "2048", "-N", ""])
        let (protected, _) = try await Self.keygen(directory, "protected", ["-t", "ed25519", "-N", "a passphrase"])
        #expect(throws: AgeKeyError.malformed(reason: "it is a ssh-rsa key; fluxci uses ssh-ed25519 keys as age identities (sops also reads ssh-rsa)")) {
            try X25519Identity(openSSHPrivateKey: rsa)
        }
        #expect(throws: AgeKeyError.self) { try X25519Identity(openSSHPrivateKey: protected) }
        do {
            _ = try X25519Identity(openSSHPrivateKey: protected)
        } catch {
            #expect(error.description.contains("passphrase"))
        }
    }
}
