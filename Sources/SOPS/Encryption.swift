import Age
import Crypto
import Foundation
import GPG

/// Who can recover a file's data key, in key groups (one group: any key opens the file).
public struct Recipients: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var age: [String]
        public var pgp: [String]
        public init(age: [String] = [], pgp: [String] = []) {
            self.age = age
            self.pgp = pgp
        }
        public var isEmpty: Bool { age.isEmpty && pgp.isEmpty }
    }

    public var groups: [Group]
    public var shamirThreshold: Int?

    public init(groups: [Group], shamirThreshold: Int? = nil) {
        self.groups = groups
        self.shamirThreshold = shamirThreshold
    }
}

/// Which values are encrypted: sops's rules (one of them).
public enum EncryptionRule: Sendable, Equatable {
    case encryptedRegex(String)
    case unencryptedRegex(String)
    case encryptedSuffix(String)
    case unencryptedSuffix(String)

    /// What sops writes for a rule in the metadata.
    var metadata: (key: String, value: String) {
        switch self {
        case .encryptedRegex(let value): ("encrypted_regex", value)
        case .unencryptedRegex(let value): ("unencrypted_regex", value)
        case .encryptedSuffix(let value): ("encrypted_suffix", value)
        case .unencryptedSuffix(let value): ("unencrypted_suffix", value)
        }
    }

    /// Whether a value under these keys is encrypted (once a key decides, everything below it follows).
    func encrypts(_ path: [String]) -> Bool {
        switch self {
        case .encryptedRegex(let pattern):
            guard let regex = try? Regex(pattern) else { return false }
            return path.contains { $0.firstMatch(of: regex) != nil }
        case .unencryptedRegex(let pattern):
            guard let regex = try? Regex(pattern) else { return true }
            return !path.contains { $0.firstMatch(of: regex) != nil }
        case .encryptedSuffix(let suffix): return path.contains { $0.hasSuffix(suffix) }
        case .unencryptedSuffix(let suffix): return !path.contains { $0.hasSuffix(suffix) }
        }
    }
}

public enum EncryptionError: Error, Equatable, CustomStringConvertible {
    case alreadyEncrypted
    case notAMapping(document: Int)
    case noRecipients
    case invalidAgeRecipient(String, reason: String)
    case unknownPGPKey(String)
    case pgp(String)
    case invalidRule(String)
    case malformed(String, line: Int?)

    public var description: String {
        switch self {
        case .alreadyEncrypted: "the file is already encrypted (it has sops metadata)"
        case .notAMapping(let document): "document \(document) is not a mapping; sops encrypts mappings"
        case .noRecipients: "no recipient: the data key would be lost"
        case .invalidAgeRecipient(let recipient, let reason): "'\(recipient)' is not an age recipient: \(reason)"
        case .unknownPGPKey(let fingerprint): "no public PGP key \(fingerprint) in the keyring"
        case .pgp(let detail): detail
        case .invalidRule(let detail): detail
        case .malformed(let detail, _): detail
        }
    }
}

public enum SOPSEncryptor {
    /// sops writes its version into the metadata; this is the format fluxci writes.
    public static let version = "3.9.0"

    /// Encrypts plaintext documents into a SOPS file's text (YAML or JSON).
    public static func encrypt(
        _ text: String, format: SOPSFile.Format, recipients: Recipients, rule: EncryptionRule, keyring: Keyring?, now: Date = Date()
    ) throws(EncryptionError) -> String {
        let documents: [TreeNode]
        do { documents = try TreeReader.documents(text) } catch { throw .malformed(error.message, line: error.line) }
        for (index, document) in documents.enumerated() {
            guard case .mapping(let entries, _) = document else { throw .notAMapping(document: index + 1) }
            if entries.contains(where: { $0.key == "sops" }) { throw .alreadyEncrypted }
        }
        return try encrypt(documents, format: format, recipients: recipients, rule: rule, keyring: keyring, now: now)
    }

    public static func encrypt(
        _ documents: [TreeNode], format: SOPSFile.Format, recipients: Recipients, rule: EncryptionRule, keyring: Keyring?, now: Date = Date(),
        dataKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
    ) throws(EncryptionError) -> String {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        if case .encryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("encrypted_regex '\(pattern)' is not a valid regular expression") }
        if case .unencryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("unencrypted_regex '\(pattern)' is not a valid regular expression") }
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        var encrypted: [TreeNode] = []
        for document in documents { encrypted.append(try walk(document, path: [], rule: rule, key: key, hash: &hash)) }
        let mac = hash.finalize().map { String(format: "%02X", $0) }.joined()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let lastModified = formatter.string(from: now)
        let encryptedMAC: String
        do {
            encryptedMAC = try EncryptedValue.encrypt(Array(mac.utf8), type: .str, key: key, additionalData: lastModified).encoded
        } catch {
            throw .pgp("cannot encrypt the MAC: \(error)")
        }
        let metadata = try metadataNode(recipients: recipients, dataKey: dataKey, keyring: keyring, lastModified: lastModified, mac: encryptedMAC, rule: rule, now: now)
        let withMetadata = encrypted.map { document -> TreeNode in
            guard case .mapping(let entries, let position) = document else { return document }
            return .mapping(entries + [TreeNode.Entry(key: "sops", value: metadata, position: nil)], position)
        }
        if format == .json { return TreeEmitter.json(withMetadata) }
        do { return try TreeEmitter.yaml(withMetadata) } catch { throw .malformed("cannot write YAML: \(error)", line: nil) }
    }

    private static func walk(_ node: TreeNode, path: [String], rule: EncryptionRule, key: SymmetricKey, hash: inout SHA512) throws(EncryptionError) -> TreeNode {
        switch node {
        case .mapping(let entries, let position):
            var out: [TreeNode.Entry] = []
            for entry in entries {
                var entry = entry
                entry.value = try walk(entry.value, path: path + [entry.key], rule: rule, key: key, hash: &hash)
                out.append(entry)
            }
            return .mapping(out, position)
        case .sequence(let items, let position):
            var out: [TreeNode] = []
            for item in items { out.append(try walk(item, path: path, rule: rule, key: key, hash: &hash)) }
            return .sequence(out, position)
        case .scalar(let scalar):
            guard rule.encrypts(path), !scalar.isNull, !(scalar.text.isEmpty && !scalar.isPlain) else {
                if let bytes = LeafBytes.of(scalar) { hash.update(data: bytes) }
                return node
            }
            let (plaintext, type) = typed(scalar)
            hash.update(data: plaintext)
            do {
                let value = try EncryptedValue.encrypt(plaintext, type: type, key: key, additionalData: path.joined(separator: ":") + ":")
                return .scalar(TreeNode.Scalar(value.encoded, isPlain: false, position: scalar.position))
            } catch {
                throw .malformed("cannot encrypt \(path.joined(separator: ".")): \(error)", line: scalar.position?.line)
            }
        }
    }

    /// A value's bytes and sops type, as sops types a YAML value before encrypting it.
    static func typed(_ scalar: TreeNode.Scalar) -> ([UInt8], EncryptedValue.ValueType) {
        guard scalar.isPlain else { return (Array(scalar.text.utf8), .str) }
        if let bool = LeafBytes.bool(scalar.text) { return (Array((bool ? "True" : "False").utf8), .bool) }
        if let int = LeafBytes.integer(scalar.text) { return (Array(String(int).utf8), .int) }
        if let float = LeafBytes.float(scalar.text) { return (Array(LeafBytes.goFloat(float).utf8), .float) }
        if let time = LeafBytes.timestamp(scalar.text) { return (Array(time.utf8), .time) }
        return (Array(scalar.text.utf8), .str)
    }

    private static func metadataNode(
        recipients: Recipients, dataKey: [UInt8], keyring: Keyring?, lastModified: String, mac: String, rule: EncryptionRule, now: Date
    ) throws(EncryptionError) -> TreeNode {
        let groups = recipients.groups.filter { !$0.isEmpty }
        let secrets: [[UInt8]]
        if groups.count == 1 {
            secrets = [dataKey]
        } else {
            let threshold = recipients.shamirThreshold ?? groups.count
            guard threshold >= 2, threshold <= groups.count else {
                throw .invalidRule("shamir_threshold \(threshold) needs between 2 and the \(groups.count) key groups")
            }
            secrets = Shamir.split(dataKey, parts: groups.count, threshold: threshold)
        }
        func scalar(_ text: String, plain: Bool = false) -> TreeNode { .scalar(TreeNode.Scalar(text, isPlain: plain)) }
        var groupNodes: [[TreeNode.Entry]] = []
        for (group, secret) in zip(groups, secrets) {
            var entries: [TreeNode.Entry] = []
            var ageEntries: [TreeNode] = []
            for recipient in group.age {
                let parsed: X25519Recipient
                do { parsed = try X25519Recipient(parsing: recipient) } catch { throw .invalidAgeRecipient(recipient, reason: error.description) }
                let file: [UInt8]
                do { file = try AgeFile.encrypt(secret, to: [parsed], armored: true) } catch { throw .pgp("age encryption failed: \(error)") }
                ageEntries.append(.mapping([
                    TreeNode.Entry(key: "recipient", value: scalar(recipient), position: nil),
                    TreeNode.Entry(key: "enc", value: scalar(String(decoding: file, as: UTF8.self)), position: nil),
                ], nil))
            }
            var pgpEntries: [TreeNode] = []
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            for fingerprint in group.pgp {
                guard let keyring, (try? keyring.key(fingerprint, secret: false)) != nil else { throw .unknownPGPKey(fingerprint) }
                let message: Data
                do { message = try keyring.encrypt(Data(secret), to: [fingerprint]) } catch { throw .pgp("PGP encryption to \(fingerprint) failed: \(error)") }
                pgpEntries.append(.mapping([
                    TreeNode.Entry(key: "created_at", value: scalar(formatter.string(from: now)), position: nil),
                    TreeNode.Entry(key: "enc", value: scalar(String(decoding: message, as: UTF8.self)), position: nil),
                    TreeNode.Entry(key: "fp", value: scalar(fingerprint), position: nil),
                ], nil))
            }
            if !ageEntries.isEmpty { entries.append(TreeNode.Entry(key: "age", value: .sequence(ageEntries, nil), position: nil)) }
            if !pgpEntries.isEmpty { entries.append(TreeNode.Entry(key: "pgp", value: .sequence(pgpEntries, nil), position: nil)) }
            groupNodes.append(entries)
        }
        var metadata: [TreeNode.Entry] = []
        if groupNodes.count == 1 {
            metadata = groupNodes[0]
        } else {
            metadata.append(TreeNode.Entry(key: "shamir_threshold", value: scalar(String(recipients.shamirThreshold ?? groupNodes.count), plain: true), position: nil))
            metadata.append(TreeNode.Entry(key: "key_groups", value: .sequence(groupNodes.map { .mapping($0, nil) }, nil), position: nil))
        }
        metadata.append(TreeNode.Entry(key: "lastmodified", value: scalar(lastModified), position: nil))
        metadata.append(TreeNode.Entry(key: "mac", value: scalar(mac), position: nil))
        metadata.append(TreeNode.Entry(key: rule.metadata.key, value: scalar(rule.metadata.value), position: nil))
        metadata.append(TreeNode.Entry(key: "version", value: scalar(version), position: nil))
        return .mapping(metadata, nil)
    }
}
