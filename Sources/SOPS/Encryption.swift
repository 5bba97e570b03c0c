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
    case encryptedCommentRegex(String)
    case unencryptedCommentRegex(String)

    /// What sops writes for a rule in the metadata.
    var metadata: (key: String, value: String) {
        switch self {
        case .encryptedRegex(let value): ("encrypted_regex", value)
        case .unencryptedRegex(let value): ("unencrypted_regex", value)
        case .encryptedSuffix(let value): ("encrypted_suffix", value)
        case .unencryptedSuffix(let value): ("unencrypted_suffix", value)
        case .encryptedCommentRegex(let value): ("encrypted_comment_regex", value)
        case .unencryptedCommentRegex(let value): ("unencrypted_comment_regex", value)
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
    /// The plaintext does not parse as the store reads it (sops: "error unmarshalling file").
    case malformed(String, line: Int?)
    /// An empty (0-byte) YAML file (sops: "File cannot be completely empty").
    case empty
    /// The plaintext parses, but the walk refuses a value or key (sops: "Error encrypting tree").
    case notEncryptable(String, line: Int?)
    case encryptedCommentMatchesUnencryptedCommentRegex(path: String, pattern: String)

    public var description: String {
        switch self {
        case .alreadyEncrypted: "the file is already encrypted (it has sops metadata)"
        case .notAMapping(let document): "document \(document) is not a mapping; sops encrypts mappings"
        case .noRecipients: "no recipient: the data key would be lost"
        case .invalidAgeRecipient(let recipient, let reason): "'\(recipient)' is not an age recipient: \(reason)"
        case .unknownPGPKey(let fingerprint): "no public PGP key \(fingerprint) in the keyring"
        case .pgp(let detail): detail
        case .invalidRule(let detail): detail
        case .malformed(let detail, _), .notEncryptable(let detail, _): detail
        case .empty: "the file is empty; sops refuses it too (\"File cannot be completely empty, it must contain at least one document\"). Write at least `{}`"
        case .encryptedCommentMatchesUnencryptedCommentRegex(let path, let pattern):
            "an encrypted comment\(path.isEmpty ? "" : " under \(path)") matches unencrypted_comment_regex '\(pattern)': it would be read back as a plaintext comment and the MAC would never match (sops refuses it too: \"Encrypted comment … matches UnencryptedCommentRegex!\")"
        }
    }
}

public enum SOPSEncryptor {
    /// sops writes its version into the metadata; this is the format fluxci writes.
    public static let version = "3.11.0"

    /// Encrypts plaintext documents into a SOPS file's text (YAML or JSON).
    public static func encrypt(
        _ text: String, format: SOPSFile.Format, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool = false, keyring: Keyring?, now: Date = Date()
    ) throws(EncryptionError) -> String {
        let documents: [TreeNode]
        if format == .json {
            // sops's JSON store: Go's encoding/json, every number a float64 (`JSONStore`).
            do { documents = [try JSONStore.read(Array(text.utf8))] } catch { throw .malformed("not JSON as sops reads it: \(error.message)", line: error.line) }
        } else {
            do { documents = try TreeReader.documents(text, mode: .encrypt) } catch { throw .malformed(error.message, line: error.line) }
            // sops 3.11: an empty file is "File cannot be completely empty, it must contain at
            // least one document" (exit 92); blank or comment-only text, where go-yaml finds no
            // document, "Error unmarshalling file: EOF" (exit 2).
            if text.utf8.isEmpty { throw .empty }
            if documents.isEmpty {
                throw .malformed("the file holds no YAML document (only blank lines or comments); sops refuses it too. Write at least `{}`", line: nil)
            }
        }
        for (index, document) in documents.enumerated() {
            guard case .mapping(let entries, _) = document else { throw .notAMapping(document: index + 1) }
            if entries.contains(where: { $0.key == "sops" }) { throw .alreadyEncrypted }
        }
        return try encrypt(documents, format: format, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now)
    }

    public static func encrypt(
        _ documents: [TreeNode], format: SOPSFile.Format, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool = false, keyring: Keyring?, now: Date = Date(),
        dataKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
    ) throws(EncryptionError) -> String {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        if case .encryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("encrypted_regex '\(pattern)' is not a valid regular expression") }
        if case .unencryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("unencrypted_regex '\(pattern)' is not a valid regular expression") }
        let key = SymmetricKey(data: dataKey)
        var walk = Walk(key: key, selection: ValueSelection(rule, macOnlyEncrypted: macOnlyEncrypted))
        if macOnlyEncrypted { walk.hash.update(data: SOPSDecryptor.macOnlyEncryptedSeed) }
        var encrypted: [TreeNode] = []
        for document in documents { encrypted.append(try walk.node(document, path: [], stack: [])) }
        let metadata = try metadata(hash: walk.hash, key: key, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey, format: format)
        let withMetadata = encrypted.map { document -> TreeNode in
            guard case .mapping(let entries, let position) = document else { return document }
            return .mapping(entries + [TreeNode.Entry(key: "sops", value: metadata, position: nil)], position)
        }
        if format == .json { return TreeEmitter.json(withMetadata) }
        return YAMLEmitter.emit(withMetadata)
    }

    /// sops's encrypt callback (`sops.go` `Tree.Encrypt`, walked by `TreeWalk`): the rules (and
    /// the comments before a value) select the leaves to encrypt; each non-comment leaf's Go value
    /// goes into the MAC (`ToBytes`), only the selected ones with `mac_only_encrypted`; nulls are
    /// skipped and empty strings stay empty, as sops's cipher leaves them.
    struct Walk: TreeLeafVisitor {
        var key: SymmetricKey
        var hash = SHA512()
        var selection: ValueSelection

        mutating func node(_ node: TreeNode, path: [String], stack: [[String]]) throws(EncryptionError) -> TreeNode {
            try TreeWalk.walk(node, path: path, comments: stack, &self)
        }

        /// A selected comment becomes what `aes.Cipher.Encrypt` returns for a `Comment`: an
        /// `ENC[…,type:comment]` string, or `""` for an empty one. In a mapping that is the
        /// comment's new text (`#ENC[…]`); in a sequence it replaces the comment as an item
        /// (`- ENC[…]`, `- ""`). Comments are never hashed.
        mutating func comment(_ text: String, path: [String], comments: [[String]]) throws(EncryptionError) -> TreeWalk.CommentResult {
            guard selection.shouldBeEncrypted(path: path, comments: comments, isComment: true) else { return .comment(text) }
            let encrypted: String
            if text.isEmpty {
                encrypted = ""
            } else {
                do {
                    encrypted = try EncryptedValue.encrypt(Array(text.utf8), type: .comment, key: key, additionalData: path.joined(separator: ":") + ":").encoded
                } catch {
                    throw .notEncryptable("cannot encrypt a comment: \(error)", line: nil)
                }
            }
            // sops refuses an encrypted comment that its unencrypted_comment_regex matches: read
            // back, that comment would be taken for a plaintext one, so the file's MAC could never
            // be checked (getsops/sops `sops.go` `Tree.Encrypt`: "Encrypted comment %q matches
            // UnencryptedCommentRegex!", exit 23). Matched, as sops does, against what the cipher
            // returned, the empty string for an empty comment included.
            if selection.encryptedCommentMatchesUnencryptedCommentRegex(encrypted) {
                throw .encryptedCommentMatchesUnencryptedCommentRegex(path: path.joined(separator: "."), pattern: selection.unencryptedCommentRegex ?? "")
            }
            return .value(TreeNode.Scalar(encrypted))
        }

        func nonStringKey(_ entry: TreeNode.Entry, path: [String]) -> EncryptionError {
            .notEncryptable(entry.nonStringKeyMessage, line: entry.position?.line)
        }

        mutating func leaf(_ scalar: TreeNode.Scalar, path: [String], comments stack: [[String]]) throws(EncryptionError) -> TreeNode {
            let node = TreeNode.scalar(scalar)
            let value = scalar.value
            if value == .null { return node }
            if case .uint = value {
                throw .notEncryptable("\(path.joined(separator: ".")): the integer \(scalar.text) is beyond int64; sops cannot encrypt it either (quote it to keep it a string)", line: scalar.position?.line)
            }
            let selected = selection.shouldBeEncrypted(path: path, comments: stack, isComment: false)
            let bytes = value.macBytes ?? []
            if !selection.macOnlyEncrypted || selected { hash.update(data: bytes) }
            guard selected, value != .string("") else { return node }
            do {
                let encrypted = try EncryptedValue.encrypt(bytes, type: value.sopsType, key: key, additionalData: path.joined(separator: ":") + ":")
                return .scalar(TreeNode.Scalar(encrypted.encoded, isPlain: false, position: scalar.position))
            } catch {
                throw .notEncryptable("cannot encrypt \(path.joined(separator: ".")): \(error)", line: scalar.position?.line)
            }
        }
    }

    /// The metadata of an encrypted tree: the MAC of `hash` (its walk), encrypted with the data
    /// key and `lastmodified` as additional data, and `metadataNode`.
    static func metadata(
        hash: SHA512, key: SymmetricKey, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool, keyring: Keyring?, now: Date, dataKey: [UInt8],
        format: SOPSFile.Format = .yaml
    ) throws(EncryptionError) -> TreeNode {
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
        return try metadataNode(
            recipients: recipients, dataKey: dataKey, keyring: keyring, lastModified: lastModified, mac: encryptedMAC, rule: rule, macOnlyEncrypted: macOnlyEncrypted, now: now,
            format: format)
    }

    /// The `sops` metadata as sops 3.11 writes it (`stores.Metadata` and `keygroup` field order):
    /// one group as `age`, `lastmodified`, `mac`, `pgp`, the rule, `version`; several as
    /// `shamir_threshold`, `key_groups` whose each group is `pgp` (when any), `hc_vault` and
    /// `age` (both always there: `[]` in YAML, `null` in JSON when empty). A PGP data key is the
    /// armored message without its final newline (sops trims gpg's output), so YAML writes `|-`.
    static func metadataNode(
        recipients: Recipients, dataKey: [UInt8], keyring: Keyring?, lastModified: String, mac: String, rule: EncryptionRule, macOnlyEncrypted: Bool, now: Date,
        format: SOPSFile.Format = .yaml
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
        var pgpAfterMAC: TreeNode?
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
                    TreeNode.Entry(key: "enc", value: scalar(String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), position: nil),
                    TreeNode.Entry(key: "fp", value: scalar(fingerprint), position: nil),
                ], nil))
            }
            if groups.count == 1 {
                if !ageEntries.isEmpty { entries.append(TreeNode.Entry(key: "age", value: .sequence(ageEntries, nil), position: nil)) }
                if !pgpEntries.isEmpty { pgpAfterMAC = .sequence(pgpEntries, nil) }
            } else {
                let empty: TreeNode = format == .json ? scalar("null", plain: true) : .sequence([], nil)
                if !pgpEntries.isEmpty { entries.append(TreeNode.Entry(key: "pgp", value: .sequence(pgpEntries, nil), position: nil)) }
                entries.append(TreeNode.Entry(key: "hc_vault", value: empty, position: nil))
                entries.append(TreeNode.Entry(key: "age", value: ageEntries.isEmpty ? empty : .sequence(ageEntries, nil), position: nil))
            }
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
        if let pgpAfterMAC { metadata.append(TreeNode.Entry(key: "pgp", value: pgpAfterMAC, position: nil)) }
        metadata.append(TreeNode.Entry(key: rule.metadata.key, value: scalar(rule.metadata.value), position: nil))
        if macOnlyEncrypted { metadata.append(TreeNode.Entry(key: "mac_only_encrypted", value: scalar("true", plain: true), position: nil)) }
        metadata.append(TreeNode.Entry(key: "version", value: scalar(version), position: nil))
        return .mapping(metadata, nil)
    }
}
