import Foundation
import Testing
import TestSupport

@testable import Age

/// Files the real `age` writes decrypt here, and files written here decrypt with `age`.
@Suite struct AgeInteropTests {
    static func keypair() async throws -> (identity: String, recipient: String) {
        let identity = try await runTool("age-keygen", []).standardOutput
            .split(separator: "\n").first { $0.hasPrefix("AGE-SECRET-KEY-1") }.map(String.init) ?? ""
        let recipient = try await runTool("age-keygen", ["-y"], input: identity + "\n").standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return (identity, recipient)
    }

    @Test(arguments: [0, 1, 65_536, 200_000])
    func ageEncryptsWeDecrypt(size: Int) async throws {
        let (identity, recipient) = try await Self.keypair()
        let directory = try TestPaths.temporaryDirectory("fluxci-age")
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = directory.appendingPathComponent("plain"), encrypted = directory.appendingPathComponent("enc")
        var random = SeededGenerator(seed: UInt64(size))
        let content = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &random) })
        try content.write(to: plain)
        for armored in [false, true] {
            let result = try await runTool("age", (armored ? ["-a"] : []) + ["-r", recipient, "-o", encrypted.path, plain.path])
            #expect(result.status == 0, "\(result.standardError)")
            let file = try Data(contentsOf: encrypted)
            let decrypted = try AgeFile.decrypt(file, identities: [try X25519Identity(parsing: identity)])
            #expect(Data(decrypted) == content)
            #expect(AgeRecipientCheck.recipient(identity) == recipient)
        }
    }

    @Test func weEncryptAgeDecrypts() async throws {
        let (identity, recipient) = try await Self.keypair()
        let other = try await Self.keypair()
        let directory = try TestPaths.temporaryDirectory("fluxci-age")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key.txt")
        try (identity + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        let message = Array("a SOPS data key, 32 bytes long!!".utf8)
        let recipients = [try X25519Recipient(parsing: other.recipient), try X25519Recipient(parsing: recipient)]
        for armored in [true, false] {
            let file = try AgeFile.encrypt(message, to: recipients, armored: armored)
            let encrypted = directory.appendingPathComponent("enc")
            try Data(file).write(to: encrypted)
            let result = try await runTool("age", ["-d", "-i", keyFile.path, encrypted.path])
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput == String(decoding: message, as: UTF8.self))
        }
    }

    @Test func wrongIdentityIsNoMatch() throws {
        let file = try AgeFile.encrypt(Array("x".utf8), to: [X25519Identity.generate().recipient], armored: true)
        #expect(throws: AgeError.noMatch(recipients: [])) { try AgeFile.decrypt(file, identities: [X25519Identity.generate()]) }
    }

    @Test func keysRoundTripThroughBech32() throws {
        let identity = X25519Identity.generate()
        #expect(try X25519Identity(parsing: identity.encoded) == identity)
        #expect(try X25519Recipient(parsing: identity.recipient.description) == identity.recipient)
        #expect(!identity.description.contains(identity.encoded))
        #expect(throws: AgeKeyError.self) { try X25519Recipient(parsing: "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq") }
    }
}

enum AgeRecipientCheck {
    static func recipient(_ identity: String) -> String? { try? X25519Identity(parsing: identity).recipient.description }
}
