import Foundation

/// The `sops:` block of a document: who can recover the data key, and the rules and MAC.
public struct Metadata: Sendable, Equatable {
    /// One entry of a key group.
    public enum MasterKey: Sendable, Equatable, CustomStringConvertible {
        case age(recipient: String, encryptedKey: String)
        case pgp(fingerprint: String, encryptedKey: String)
        /// KMS, GCP KMS, Azure Key Vault, HashiCorp Vault: listed, never usable here.
        case other(kind: String, identifier: String)

        public var description: String {
            switch self {
            case .age(let recipient, _): recipient
            case .pgp(let fingerprint, _): "pgp \(fingerprint)"
            case .other(let kind, let identifier): "\(kind) \(identifier)"
            }
        }
    }

    public var keyGroups: [[MasterKey]]
    public var shamirThreshold: Int?
    /// As written; the MAC's additional data is its RFC 3339 form (`macAdditionalData`).
    public var lastModified: String
    public var mac: String
    public var version: String?
    public var encryptedRegex: String?
    public var unencryptedRegex: String?
    public var encryptedSuffix: String?
    public var unencryptedSuffix: String?
    public var encryptedCommentRegex: String?
    public var unencryptedCommentRegex: String?
    public var macOnlyEncrypted: Bool
    /// Where the `sops:` key is, for annotations.
    public var line: Int?

    public var allKeys: [MasterKey] { keyGroups.flatMap { $0 } }

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var line: Int?
        public var description: String { message }
    }

    static let keyKinds = ["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"]

    public init(_ node: TreeNode, line: Int?) throws(Failure) {
        self.line = line
        guard case .mapping = node else { throw Failure(message: "the sops metadata is not a mapping", line: line) }
        func string(_ key: String) throws(Failure) -> String? {
            guard let value = node[key] else { return nil }
            guard case .scalar(let scalar) = value else { throw Failure(message: "sops.\(key) is not a scalar", line: value.position?.line ?? line) }
            return scalar.isNull ? nil : scalar.text
        }
        guard let lastModified = try string("lastmodified") else { throw Failure(message: "sops.lastmodified is missing", line: line) }
        guard let mac = try string("mac") else { throw Failure(message: "sops.mac is missing", line: line) }
        self.lastModified = lastModified
        self.mac = mac
        version = try string("version")
        encryptedRegex = try string("encrypted_regex")
        unencryptedRegex = try string("unencrypted_regex")
        encryptedSuffix = try string("encrypted_suffix")
        unencryptedSuffix = try string("unencrypted_suffix")
        encryptedCommentRegex = try string("encrypted_comment_regex")
        unencryptedCommentRegex = try string("unencrypted_comment_regex")
        macOnlyEncrypted = (try string("mac_only_encrypted")).map { ["true", "True", "TRUE"].contains($0) } ?? false
        let rules = [encryptedRegex, unencryptedRegex, encryptedSuffix, unencryptedSuffix, encryptedCommentRegex, unencryptedCommentRegex].compactMap { $0 }
        if rules.count > 1 {
            throw Failure(message: "more than one encryption rule is set (sops allows one of encrypted_regex, unencrypted_regex, encrypted_suffix, unencrypted_suffix, and the comment rules)", line: line)
        }
        if let threshold = try string("shamir_threshold") {
            guard let value = Int(threshold), value >= 1 else { throw Failure(message: "sops.shamir_threshold is not a positive integer", line: line) }
            shamirThreshold = value
        }
        if let groups = node["key_groups"], case .sequence(let items, _) = groups, !items.isEmpty {
            keyGroups = try items.map { group throws(Failure) in try Self.keys(in: group) }
        } else {
            keyGroups = [try Self.keys(in: node)]
        }
        guard !allKeys.isEmpty else {
            throw Failure(message: "the sops metadata names no key (no age, pgp, kms, gcp_kms, azure_kv or hc_vault entry)", line: line)
        }
    }

    private static func keys(in group: TreeNode) throws(Failure) -> [MasterKey] {
        var keys: [MasterKey] = []
        for kind in keyKinds {
            guard let list = group[kind] else { continue }
            if case .scalar(let scalar) = list, scalar.isNull { continue }
            guard case .sequence(let entries, _) = list else {
                throw Failure(message: "sops.\(kind) is not a list", line: list.position?.line)
            }
            for entry in entries {
                func field(_ name: String) -> String? { entry[name]?.scalarText }
                switch kind {
                case "age":
                    guard let recipient = field("recipient"), let enc = field("enc") else {
                        throw Failure(message: "an age entry needs recipient and enc", line: entry.position?.line)
                    }
                    keys.append(.age(recipient: recipient, encryptedKey: enc))
                case "pgp":
                    guard let fingerprint = field("fp"), let enc = field("enc") else {
                        throw Failure(message: "a pgp entry needs fp and enc", line: entry.position?.line)
                    }
                    keys.append(.pgp(fingerprint: fingerprint, encryptedKey: enc))
                default:
                    let identifier = field("arn") ?? field("resource_id") ?? field("vault_url").map { "\($0)/\(field("name") ?? "")" }
                        ?? field("vault_address").map { "\($0)/\(field("engine_path") ?? "")/\(field("key_name") ?? "")" } ?? "?"
                    keys.append(.other(kind: kind, identifier: identifier))
                }
            }
        }
        return keys
    }

    /// The MAC's additional data: `lastmodified` in RFC 3339 without a fraction, as Go's
    /// `time.Format(time.RFC3339)` writes it (a zero offset becomes `Z`).
    public var macAdditionalData: String {
        var text = lastModified
        if let dot = text.firstIndex(of: "."), let end = text[dot...].firstIndex(where: { $0 == "Z" || $0 == "+" || $0 == "-" }) {
            text.removeSubrange(dot..<end)
        } else if let dot = text.firstIndex(of: ".") {
            text.removeSubrange(dot...)
        }
        if text.hasSuffix("+00:00") || text.hasSuffix("-00:00") { text = String(text.dropLast(6)) + "Z" }
        return text
    }
}
