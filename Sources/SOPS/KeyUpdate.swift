import Foundation
import GPG

/// `sops updatekeys`: the same data key, wrapped for the recipients the creation rule names now
/// (getsops/sops `cmd/sops/subcommand/updatekeys`: the data key is recovered with
/// `GetDataKeyWithKeyServices`, the key groups are replaced by the rule's, and
/// `UpdateMasterKeysWithKeyServices` wraps that key for every master key of the new groups,
/// split by Shamir again when there are several). The values are not decrypted or touched:
/// every `ENC[…]` value, the MAC, `lastmodified` and `version` stay as they are, so a file with
/// a broken value or MAC is re-keyed as sops re-keys it.
public enum SOPSKeyUpdate {
    public enum Failure: Error {
        case decryption(DecryptionError)
        case encryption(EncryptionError)
    }

    /// The file's new text (YAML or JSON, as it was), or nil when its key groups already name
    /// exactly `recipients` (sops then says "already up to date" and writes nothing).
    public static func updateKeys(
        _ file: SOPSFile, to recipients: Recipients, with keys: KeyChain, keyring: Keyring?, now: Date = Date()
    ) throws(Failure) -> String? {
        guard let metadata = file.documents.first?.metadata else { throw .decryption(.notSOPS("the file has no document")) }
        // A binary file too: sops reads its metadata back with the default rule
        // (`unencrypted_suffix`), and writes that.
        guard let node = try metadataNode(metadata, to: recipients, with: keys, keyring: keyring, now: now, format: file.format) else { return nil }
        let documents = file.documents.map { document -> TreeNode in
            guard case .mapping(let entries, let position) = document.tree else { return document.tree }
            return .mapping(entries + [TreeNode.Entry(key: "sops", value: node, position: nil)], position)
        }
        if file.format == .json { return TreeEmitter.json(documents) }
        return YAMLEmitter.emit(documents)
    }

    /// The new `sops` metadata for `recipients` (the data key recovered with `keys`; the MAC,
    /// `lastmodified`, the rule and `version` as they were), or nil when nothing changes.
    static func metadataNode(
        _ metadata: Metadata, to recipients: Recipients, with keys: KeyChain, keyring: Keyring?, now: Date, format: SOPSFile.Format
    ) throws(Failure) -> TreeNode? {
        if !changes(metadata, to: recipients) { return nil }
        let dataKey: [UInt8]
        do { dataKey = try DataKeyRecovery.recover(metadata, with: keys) } catch { throw .decryption(error) }
        var node: TreeNode
        do {
            node = try SOPSEncryptor.metadataNode(
                recipients: recipients, dataKey: dataKey, keyring: keyring, lastModified: metadata.lastModified, mac: metadata.mac,
                rule: metadata.encryptionRule, macOnlyEncrypted: metadata.macOnlyEncrypted, now: now, format: format)
        } catch {
            throw .encryption(error)
        }
        // The version the file was written with stays (sops copies it from the file it read).
        if case .mapping(var entries, let position) = node, let version = metadata.version,
            let index = entries.firstIndex(where: { $0.key == "version" })
        {
            entries[index].value = .scalar(TreeNode.Scalar(version, isPlain: false))
            node = .mapping(entries, position)
        }
        return node
    }

    /// Whether the key groups (recipients per group, in any order; fingerprints without case or
    /// spaces) or the Shamir threshold differ from `recipients`.
    public static func changes(_ metadata: Metadata, to recipients: Recipients) -> Bool {
        func normalized(_ fingerprint: String) -> String { fingerprint.uppercased().replacingOccurrences(of: " ", with: "") }
        let before = metadata.keyGroups.map { group in
            Set(group.map { key -> String in
                switch key {
                case .age(let recipient, _): recipient
                case .pgp(let fingerprint, _): "pgp " + normalized(fingerprint)
                case .other(let kind, let identifier): "\(kind) \(identifier)"
                }
            })
        }
        let after = recipients.groups.filter { !$0.isEmpty }.map { group in Set(group.age + group.pgp.map { "pgp " + normalized($0) }) }
        let threshold = { (groups: Int, value: Int?) in groups > 1 ? (value ?? groups) : nil }
        return before != after || threshold(before.count, metadata.shamirThreshold) != threshold(after.count, recipients.shamirThreshold)
    }
}

extension Metadata {
    /// The encryption rule the file was written with, as sops reads it back (the default
    /// `unencrypted_suffix: _unencrypted` when none is stored).
    public var encryptionRule: EncryptionRule {
        if let value = encryptedRegex { return .encryptedRegex(value) }
        if let value = unencryptedRegex { return .unencryptedRegex(value) }
        if let value = encryptedSuffix { return .encryptedSuffix(value) }
        if let value = encryptedCommentRegex { return .encryptedCommentRegex(value) }
        if let value = unencryptedCommentRegex { return .unencryptedCommentRegex(value) }
        return .unencryptedSuffix(unencryptedSuffix ?? "_unencrypted")
    }
}
