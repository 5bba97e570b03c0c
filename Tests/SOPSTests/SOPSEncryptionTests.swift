import Age
import Foundation
import GPG
import Testing
import TestSupport

@testable import SOPS

/// Files fluxci encrypts are ordinary SOPS files: the real `sops -d` decrypts them to the same
/// content, with age, PGP, both, and key groups; and encrypt → decrypt round-trips any document.
@Suite(.serialized) struct SOPSEncryptionTests {
    static let secret = SOPSInteropTests.secret
    static let typed = SOPSInteropTests.typed

    func roundTripThroughSops(_ setup: SOPSInteropTests.Setup, _ text: String, name: String = "s.yaml", recipients: Recipients, rule: EncryptionRule = .encryptedRegex("^(data|stringData)$")) async throws -> String {
        let format: SOPSFile.Format = name.hasSuffix(".json") ? .json : .yaml
        let encrypted = try SOPSEncryptor.encrypt(text, format: format, recipients: recipients, rule: rule, keyring: setup.keyring)
        let theirs = try await setup.sopsDecrypt(name, encrypted)
        // What sops -d gives for a file the real sops encrypted from the same plaintext: sops
        // retypes some values on the way (a float 118.0 comes back as 118), and fluxci must match it.
        let ruleFlag: [String] = switch rule {
        case .encryptedRegex(let value): ["--encrypted-regex", value]
        case .unencryptedRegex(let value): ["--unencrypted-regex", value]
        case .encryptedSuffix(let value): ["--encrypted-suffix", value]
        case .unencryptedSuffix(let value): ["--unencrypted-suffix", value]
        case .encryptedCommentRegex(let value): ["--encrypted-comment-regex", value]
        case .unencryptedCommentRegex(let value): ["--unencrypted-comment-regex", value]
        }
        let reference = try await setup.sopsDecrypt(name, try await setup.sopsEncrypt("ref-" + name, text, ["--age", setup.age.recipient] + ruleFlag))
        #expect(try await canonicalJSON(theirs) == canonicalJSON(reference), "sops -d of fluxci's file:\n\(theirs)\nof sops's:\n\(reference)")
        // And fluxci decrypts its own file with the MAC checked.
        let documents = try SOPSDecryptor.decrypt(try SOPSFile(text: encrypted, path: name), with: setup.keys)
        let ours = format == .json ? TreeEmitter.json(documents.map(\.tree)) : try TreeEmitter.yaml(documents.map(\.tree))
        #expect(try await canonicalJSON(ours) == canonicalJSON(reference))
        return encrypted
    }

    @Test func ageOnlyKeepsMetadataReadable() async throws {
        let setup = try await SOPSInteropTests.setup()
        let encrypted = try await roundTripThroughSops(setup, Self.secret, recipients: Recipients(groups: [.init(age: [setup.age.recipient])]))
        #expect(encrypted.contains("name: app-credentials") && encrypted.contains("encrypted_regex: ^(data|stringData)$"))
        #expect(!encrypted.contains("admin"))
    }

    @Test func pgpAndBothAndGroups() async throws {
        let setup = try await SOPSInteropTests.setup()
        _ = try await roundTripThroughSops(setup, Self.secret, recipients: Recipients(groups: [.init(pgp: [setup.gpg.ed25519.fingerprint])]))
        _ = try await roundTripThroughSops(setup, Self.secret, recipients: Recipients(groups: [.init(age: [setup.age.recipient], pgp: [setup.gpg.ed25519.fingerprint])]))
        let groups = Recipients(
            groups: [.init(age: [setup.age.recipient]), .init(age: [setup.otherAge.recipient]), .init(pgp: [setup.gpg.ed25519.fingerprint])], shamirThreshold: 2)
        let encrypted = try await roundTripThroughSops(setup, Self.secret, recipients: groups)
        #expect(encrypted.contains("shamir_threshold: 2"))
    }

    @Test func everyTypeSeveralDocumentsAndJSON() async throws {
        let setup = try await SOPSInteropTests.setup()
        let recipients = Recipients(groups: [.init(age: [setup.age.recipient])])
        _ = try await roundTripThroughSops(setup, Self.typed, recipients: recipients, rule: .unencryptedSuffix("_unencrypted"))
        _ = try await roundTripThroughSops(setup, Self.secret + "\n---\n" + Self.secret, recipients: recipients)
        _ = try await roundTripThroughSops(
            setup, #"{"kind": "Secret", "stringData": {"password": "hunter2", "port": 5432, "on": true, "list": ["a", 1.5]}}"#, name: "s.json", recipients: recipients)
    }

    @Test func badInputIsRefused() async throws {
        let setup = try await SOPSInteropTests.setup()
        let recipients = Recipients(groups: [.init(age: [setup.age.recipient])])
        let encrypted = try SOPSEncryptor.encrypt(Self.secret, format: .yaml, recipients: recipients, rule: .encryptedRegex("^stringData$"), keyring: nil)
        #expect(throws: EncryptionError.alreadyEncrypted) {
            try SOPSEncryptor.encrypt(encrypted, format: .yaml, recipients: recipients, rule: .encryptedRegex("^stringData$"), keyring: nil)
        }
        #expect(throws: EncryptionError.noRecipients) {
            try SOPSEncryptor.encrypt(Self.secret, format: .yaml, recipients: Recipients(groups: [.init()]), rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
        }
        #expect { try SOPSEncryptor.encrypt(Self.secret, format: .yaml, recipients: Recipients(groups: [.init(age: ["age1nope"])]), rule: .unencryptedSuffix("_u"), keyring: nil) } throws: { error in
            if case .invalidAgeRecipient = error as? EncryptionError { true } else { false }
        }
        #expect(throws: EncryptionError.unknownPGPKey("0000000000000000000000000000000000000000")) {
            try SOPSEncryptor.encrypt(Self.secret, format: .yaml, recipients: Recipients(groups: [.init(pgp: [String(repeating: "0", count: 40)])]), rule: .unencryptedSuffix("_u"), keyring: setup.keyring)
        }
        // The first document is refused at go-yaml's decode into a map (with its line); a later
        // one by sops's store.
        #expect(throws: EncryptionError.malformed("the document is a sequence, not a mapping; sops encrypts mappings (go-yaml: cannot unmarshal !!seq into map[string]interface {})", line: 1)) {
            try SOPSEncryptor.encrypt("- a\n- b\n", format: .yaml, recipients: recipients, rule: .unencryptedSuffix("_u"), keyring: nil)
        }
        #expect(throws: EncryptionError.notAMapping(document: 2)) {
            try SOPSEncryptor.encrypt("a: 1\n---\n- a\n- b\n", format: .yaml, recipients: recipients, rule: .unencryptedSuffix("_u"), keyring: nil)
        }
        #expect { try SOPSEncryptor.encrypt("a: 1\na: 2\n", format: .yaml, recipients: recipients, rule: .unencryptedSuffix("_u"), keyring: nil) } throws: { error in
            "\(error)".contains("mapping key \"a\" already defined at line 1")
        }
    }

    /// Property test: random nested documents (unicode strings, numbers, booleans, lists) round-trip.
    @Test func randomDocumentsRoundTrip() throws {
        var random = SeededGenerator(seed: 0xF1C1_5095)
        let identity = X25519Identity.generate()
        let keys = KeyChain(ageIdentities: [identity], keyring: nil)
        let words = ["héllo", "wörld", "✓ ok", "a:b", "#hash", "yes", "0.5", "line\nbreak", "'quote'", "\"dq\"", "", "null", "日本"]
        func value(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 2 ? 4 : 6), using: &random) {
            case 0: return "\"\(words.randomElement(using: &random)!.replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\""
            case 1: return String(Int.random(in: -1000...1000, using: &random))
            case 2: return ["true", "false"].randomElement(using: &random)!
            case 3: return String(Double(Int.random(in: -1000...1000, using: &random)) / 8)
            case 4: return "[" + (0..<Int.random(in: 0...3, using: &random)).map { _ in value(depth + 1) }.joined(separator: ", ") + "]"
            default: return "{" + (0..<Int.random(in: 1...3, using: &random)).map { "k\($0): \(value(depth + 1))" }.joined(separator: ", ") + "}"
            }
        }
        for _ in 0..<200 {
            let text = (0..<Int.random(in: 1...5, using: &random)).map { "key\($0): \(value(0))" }.joined(separator: "\n")
            let encrypted = try SOPSEncryptor.encrypt(
                text, format: .yaml, recipients: Recipients(groups: [.init(age: [identity.recipient.description])]), rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
            let decrypted = try SOPSDecryptor.decrypt(try SOPSFile(text: encrypted, path: "r.yaml"), with: keys)
            let original = try TreeReader.documents(text)
            #expect(Self.strip(decrypted[0].tree) == Self.strip(original[0]), "\(text)")
        }
    }

    /// Values compared as YAML means them (positions and plain-or-quoted style aside).
    static func strip(_ node: TreeNode) -> String {
        switch node {
        case .scalar(let scalar):
            switch scalar.value {
            case .bool(let bool): return "b:\(bool)"
            case .int(let int): return "n:\(Double(int))"
            case .float(let float): return "n:\(float)"
            default: return "\(scalar.value)"
            }
        case .comment(let text): return "#\(text)"
        case .mapping(let entries, _): return "{" + entries.map { "\($0.key)=\(strip($0.value))" }.joined(separator: ",") + "}"
        case .sequence(let items, _): return "[" + items.map(strip).joined(separator: ",") + "]"
        }
    }
}
