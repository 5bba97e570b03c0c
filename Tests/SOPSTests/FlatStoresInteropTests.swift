import Age
import Foundation
import Testing
import TestSupport

@testable import SOPS

/// dotenv, ini and binary files written by the real sops decrypt here to exactly the bytes
/// `sops -d` writes, found by content whatever their name, and tampering fails. Inputs come from
/// seeded generators (a failure names its seed and file).
@Suite(.serialized) struct FlatStoresInteropTests {
    struct Setup {
        var directory: URL
        var age: AgeKeyPair
        var keys: KeyChain { KeyChain(ageIdentities: [try! X25519Identity(parsing: age.identity)], keyring: nil) }
        var environment: [String: String] { ["SOPS_AGE_KEY": age.identity] }

        /// sops encrypts `plain` (named `name`, which picks the store) and decrypts it again with
        /// `--output`, so its bytes are compared as they are. Returns (encrypted, sops -d bytes).
        func roundTrip(_ name: String, _ plain: Data, arguments: [String] = []) async throws -> (encrypted: Data, decrypted: Data) {
            let input = directory.appendingPathComponent(name)
            try plain.write(to: input)
            let encrypted = directory.appendingPathComponent("enc-" + name)
            let decrypted = directory.appendingPathComponent("dec-" + name)
            try? FileManager.default.removeItem(at: encrypted)
            try? FileManager.default.removeItem(at: decrypted)
            _ = try await SopsTool.run(["--encrypt", "--age", age.recipient] + arguments + ["--output", encrypted.path, input.path], environment: environment)
            _ = try await SopsTool.run(["--decrypt", "--output", decrypted.path, encrypted.path], environment: environment)
            return (try Data(contentsOf: encrypted), try Data(contentsOf: decrypted))
        }
    }

    static func setup() async throws -> Setup {
        let directory = try TestPaths.temporaryDirectory("fluxci-sops-flat")
        removeAtExit(directory)
        return Setup(directory: directory, age: try await AgeKeyPair.generate())
    }

    // MARK: Generators

    static func pick<T>(_ items: [T], _ random: inout SeededGenerator) -> T { items[Int(random.next() % UInt64(items.count))] }

    /// Value text from pieces that exercise each store's rules: spaces at the ends, `=`, quotes,
    /// `#`/`;`, backslashes, `\n` escapes, unicode, CR.
    static func valueText(_ random: inout SeededGenerator, pieces: [String]) -> String {
        let count = Int(random.next() % 5)
        return (0..<count).map { _ in pick(pieces, &random) }.joined()
    }

    static let dotenvPieces = ["a", "Z9", " ", "=", "==", "\"", "'", "#", ";", "\\", "\\n", "é", "✓", "日本", "\t", "\r", "${X}", "ENC", "[x]", ":"]
    static let iniPieces = ["a", "Z9", " ", "=", "\"", "'", "\\", "é", "✓", "日本", "%", "[x]", ":", "-", "_", ".", "/"]

    static func dotenv(_ random: inout SeededGenerator) -> Data {
        var lines: [String] = []
        for index in 0..<(5 + Int(random.next() % 20)) {
            switch random.next() % 6 {
            case 0: lines.append("#" + valueText(&random, pieces: dotenvPieces))
            case 1: lines.append("")
            case 2: lines.append("KEY_\(index)_unencrypted=" + valueText(&random, pieces: dotenvPieces))
            default: lines.append(pick(["KEY", "lower", "Mixed.dot", "with-dash", "ünï"], &random) + "_\(index)=" + valueText(&random, pieces: dotenvPieces))
            }
        }
        return Data((lines.joined(separator: "\n") + (random.next() % 2 == 0 ? "\n" : "")).utf8)
    }

    static func ini(_ random: inout SeededGenerator) -> Data {
        var lines: [String] = []
        if random.next() % 2 == 0 { lines.append("top_\(random.next() % 9) = " + valueText(&random, pieces: iniPieces)) }
        for section in 0..<(1 + Int(random.next() % 4)) {
            if random.next() % 3 == 0 { lines.append(pick(["; ", "# ", ";", "#"], &random) + "section note \(section)") }
            lines.append("[" + pick(["app", "db", "Server One", "x.y"], &random) + "\(section)]")
            for key in 0..<(1 + Int(random.next() % 6)) {
                if random.next() % 4 == 0 { lines.append(pick(["; ", "# "], &random) + "about key \(key)") }
                let name = pick(["key", "Name", "pass_unencrypted", "dotted.key", "with space"], &random) + "\(key)"
                let delimiter = pick([" = ", "=", " =", "= ", ": ", "\t=\t"], &random)
                var value = valueText(&random, pieces: iniPieces)
                switch random.next() % 8 {
                case 0: value = "\"" + value + "\""
                case 1: value = value + " ; trailing comment"
                case 2: value = "`" + value + " # kept`"
                default: break
                }
                lines.append(name + delimiter + value)
            }
            if random.next() % 3 == 0 { lines.append("") }
        }
        let separator = random.next() % 4 == 0 ? "\r\n" : "\n"
        return Data((lines.joined(separator: separator) + separator).utf8)
    }

    static func binary(_ random: inout SeededGenerator) -> Data {
        Data((0..<Int(random.next() % 600)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }

    // MARK: Differential

    func expectSame(_ setup: Setup, _ name: String, _ plain: Data, seed: UInt64, arguments: [String] = []) async throws {
        let (encrypted, expected) = try await setup.roundTrip(name, plain, arguments: arguments)
        // Found by content under a name that says nothing (the output format is then the storage's,
        // or binary for a JSON wrapper).
        #expect(SOPSFileFormat.encryptedStorage(of: encrypted) != nil, "seed \(seed) \(name): not recognised as SOPS")
        let stored = try #require(try StoredSOPSFile(bytes: encrypted, path: name))
        let decrypted = try stored.decrypt(with: setup.keys)
        let ours = try #require(decrypted.plaintext)
        #expect(
            ours == expected,
            "seed \(seed) \(name): fluxci and sops -d differ\n--- input\n\(String(decoding: plain, as: UTF8.self).debugDescription)\n--- fluxci\n\(String(decoding: ours, as: UTF8.self).debugDescription)\n--- sops\n\(String(decoding: expected, as: UTF8.self).debugDescription)")
    }

    @Test func dotenvFilesDecryptToTheBytesSopsPrints() async throws {
        let setup = try await Self.setup()
        for seed in UInt64(1)...40 {
            var random = SeededGenerator(seed: seed)
            try await expectSame(setup, "s\(seed).env", Self.dotenv(&random), seed: seed)
        }
    }

    @Test func iniFilesDecryptToTheBytesSopsPrints() async throws {
        let setup = try await Self.setup()
        for seed in UInt64(1)...40 {
            var random = SeededGenerator(seed: seed)
            try await expectSame(setup, "s\(seed).ini", Self.ini(&random), seed: seed)
        }
    }

    @Test func binaryFilesDecryptToTheirRawBytes() async throws {
        let setup = try await Self.setup()
        for seed in UInt64(1)...20 {
            var random = SeededGenerator(seed: seed)
            let plain = Self.binary(&random)
            try await expectSame(setup, "s\(seed).bin", plain, seed: seed)
            let (encrypted, _) = try await setup.roundTrip("t\(seed).bin", plain)
            let stored = try #require(try StoredSOPSFile(bytes: encrypted, path: "secret"))
            #expect(try stored.decrypt(with: setup.keys).plaintext == plain, "the raw bytes, not sops's JSON wrapper")
        }
    }

    @Test func rulesFromTheCommandLineAreFollowed() async throws {
        let setup = try await Self.setup()
        var random = SeededGenerator(seed: 77)
        let env = Self.dotenv(&random)
        try await expectSame(setup, "regex.env", env, seed: 77, arguments: ["--encrypted-regex", "^KEY"])
        try await expectSame(setup, "suffix.env", env, seed: 77, arguments: ["--unencrypted-suffix", "_0"])
        try await expectSame(setup, "maconly.env", env, seed: 77, arguments: ["--encrypted-regex", "^KEY", "--mac-only-encrypted"])
        let ini = Self.ini(&random)
        try await expectSame(setup, "regex.ini", ini, seed: 77, arguments: ["--encrypted-regex", "^key"])
    }

    @Test func tamperingFailsWithSopsClasses() async throws {
        let setup = try await Self.setup()
        let (encrypted, _) = try await setup.roundTrip("t.env", Data("A=secret-value\nB_unencrypted=plain\n".utf8))
        var text = String(decoding: encrypted, as: UTF8.self)
        // An unencrypted value changed: the MAC no longer matches.
        let changed = text.replacingOccurrences(of: "B_unencrypted=plain", with: "B_unencrypted=other")
        #expect(throws: DecryptionError.macMismatch(line: 3)) { try StoredSOPSFile(bytes: Data(changed.utf8), path: "t.env")!.decrypt(with: setup.keys) }
        // A value moved to another key: its path no longer authenticates it.
        text = text.replacingOccurrences(of: "A=ENC", with: "C=ENC")
        #expect(throws: DecryptionError.valueAuthenticationFailed(path: "C:", line: 1)) { try StoredSOPSFile(bytes: Data(text.utf8), path: "t.env")!.decrypt(with: setup.keys) }
        // A plaintext value where the rules say encrypted: sops refuses it, so does fluxci.
        let plain = String(decoding: encrypted, as: UTF8.self).replacingOccurrences(of: #"A=ENC\[[^\]]*\]"#, with: "A=secret-value", options: .regularExpression)
        #expect(throws: DecryptionError.self) { try StoredSOPSFile(bytes: Data(plain.utf8), path: "t.env")!.decrypt(with: setup.keys) }
    }
}
