import Crypto
import Foundation
import GPG

/// Encrypting to the stores that are not YAML: what `sops encrypt` writes for a file whose name
/// selects the JSON, dotenv, ini or binary store (getsops/sops stores/json, stores/dotenv,
/// stores/ini, and `BinaryStore`), with the tree walk, rules and MAC of `SOPSEncryptor`.
///
/// - dotenv and ini: the file read as sops's store reads it into items (`DotenvStore.parse`,
///   `INIStore.parse`), kept as bytes, and encrypted by `FlatDocument.encrypt`.
/// - dotenv: each line's item in order (`#comment`, `KEY=value` with a newline written `\n`),
///   then the metadata flattened (`stores.FlattenMetadata`: `__map_`/`__list_` paths) as
///   `sops_<key>=<value>` lines, sorted by key, newlines written `\n`.
/// - ini: the sections in order (an empty one kept), `; comment` lines, aligned `key = value`,
///   then a `[sops]` section holding the flattened metadata, sorted by key.
/// - binary: the whole file is one string under `data`, always encrypted (sops ignores the rules
///   and `mac_only_encrypted` for this store and writes none of them into the metadata), stored
///   as a JSON document with the metadata under `sops`. The bytes are encrypted and hashed as
///   they are, NUL, BOM and invalid UTF-8 included.
public enum FlatEncryption {
    /// Encrypts `bytes` (a plaintext file) in the store `format` selects.
    public static func encrypt(
        _ bytes: [UInt8], format: SOPSFileFormat, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool = false, keyring: Keyring?, now: Date = Date(),
        dataKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
    ) throws(EncryptionError) -> [UInt8] {
        switch format {
        case .yaml:
            let text = String(decoding: bytes, as: UTF8.self)
            return Array(try SOPSEncryptor.encrypt(text, format: .yaml, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now).utf8)
        case .json:
            // Read from the bytes: Go replaces invalid UTF-8 byte by byte, Swift's decoder not.
            let tree: TreeNode
            do { tree = try JSONStore.read(bytes) } catch { throw .malformed("not JSON as sops reads it: \(error.message)", line: error.line) }
            if tree["sops"] != nil { throw .alreadyEncrypted }
            return Array(
                try SOPSEncryptor.encrypt([tree], format: .json, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey).utf8)
        case .binary:
            return try binary(bytes, recipients: recipients, keyring: keyring, now: now, dataKey: dataKey)
        case .dotenv:
            let parsed: DotenvStore.Parsed
            do { parsed = try DotenvStore.parse(bytes) } catch {
                throw .malformed("line \(error.line) is neither KEY=VALUE nor a # comment: sops refuses it too (\"invalid dotenv input line\")", line: error.line)
            }
            // sops's `HasSopsTopLevelKey` for dotenv: a `sops_` key means the file is encrypted.
            if !parsed.metadata.isEmpty { throw .alreadyEncrypted }
            return try encrypt(items: parsed.items, format: .dotenv, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
        case .ini:
            let sections: [INIStore.Section]
            do { sections = try INIStore.parse(bytes) } catch { throw .malformed("not valid ini (as sops reads it): \(error.message)", line: error.line) }
            // The default store check: a top-level `sops` item (here a `[sops]` section).
            if sections.contains(where: { $0.name.elementsEqual("sops".utf8) }) { throw .alreadyEncrypted }
            return try encrypt(items: INIStore.items(sections), format: .ini, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
        }
    }

    /// A dotenv or ini file's plaintext items encrypted (`FlatDocument.encrypt`), with the
    /// metadata, in the store's syntax.
    static func encrypt(
        items: [FlatDocument.Item], format: SOPSFileFormat, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool, keyring: Keyring?, now: Date, dataKey: [UInt8]
    ) throws(EncryptionError) -> [UInt8] {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        if case .encryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("encrypted_regex '\(pattern)' is not a valid regular expression") }
        if case .unencryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("unencrypted_regex '\(pattern)' is not a valid regular expression") }
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        if macOnlyEncrypted { hash.update(data: SOPSDecryptor.macOnlyEncryptedSeed) }
        let encrypted = try FlatDocument.encrypt(items, key: key, selection: ValueSelection(rule, macOnlyEncrypted: macOnlyEncrypted), hash: &hash)
        let metadata = try SOPSEncryptor.metadata(hash: hash, key: key, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
        return emit(encrypted, metadata: metadata, format: format)
    }

    /// Encrypted items and their metadata as sops's dotenv or ini store writes them
    /// (`EmitEncryptedFile`): dotenv, the items then `sops_<key>=<value>` lines sorted by key;
    /// ini, the sections then a `[sops]` section with the flattened metadata.
    static func emit(_ items: [FlatDocument.Item], metadata: TreeNode, format: SOPSFileFormat) -> [UInt8] {
        let pairs = flatten(metadata)
        if format == .dotenv {
            let metadataItems = pairs.map { FlatDocument.Item(path: [DotenvStore.metadataPrefix + Array($0.key.utf8)], value: Array($0.value.utf8), isComment: false, line: 0) }
            return Array(DotenvStore.emit(items + metadataItems))
        }
        let sops = Array("sops".utf8)
        var all = items
        all.append(.init(path: [sops], value: [], isComment: false, line: 0, isSection: true))
        for (key, value) in pairs {
            all.append(.init(path: [sops, Array(key.utf8)], value: escapeNewlines(Array(value.utf8)), isComment: false, line: 0))
        }
        return Array(INIStore.emit(all))
    }

    static func escapeNewlines(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte == 0x0A { out += [UInt8(ascii: "\\"), UInt8(ascii: "n")] } else { out.append(byte) }
        }
        return out
    }

    /// The binary store: `{"data": "ENC[…]", "sops": {…}}`, the rules left out.
    /// `rule` is nil when encrypting a file (sops writes no rule); a file read back (rotate)
    /// keeps the one it has, which for a binary file is `unencrypted_suffix: _unencrypted`:
    /// sops's `ToInternal` sets that default when the metadata names no rule, and
    /// `MetadataFromInternal` writes it back.
    static func binary(_ bytes: [UInt8], recipients: Recipients, keyring: Keyring?, now: Date, dataKey: [UInt8], rule: EncryptionRule? = nil) throws(EncryptionError) -> [UInt8] {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        hash.update(data: bytes)
        var data = ""
        if !bytes.isEmpty {
            do {
                data = try EncryptedValue.encrypt(bytes, type: .str, key: key, additionalData: "data:").encoded
            } catch {
                throw .notEncryptable("cannot encrypt the file's bytes: \(error)", line: nil)
            }
        }
        let full = try SOPSEncryptor.metadata(hash: hash, key: key, recipients: recipients, rule: rule ?? .unencryptedSuffix("_unencrypted"), macOnlyEncrypted: false, keyring: keyring, now: now, dataKey: dataKey,
            format: .json)
        let metadata = rule == nil ? withoutRules(full) : full
        let document = TreeNode.mapping([
            TreeNode.Entry(key: "data", value: .scalar(TreeNode.Scalar(data)), position: nil),
            TreeNode.Entry(key: "sops", value: metadata, position: nil),
        ], nil)
        return Array(JSONStore.emit([document]).utf8)
    }

    /// sops ignores every rule for the binary store ("the binary store produces one key that
    /// should always be encrypted") and so writes none into its metadata.
    static func withoutRules(_ metadata: TreeNode) -> TreeNode {
        let ruleKeys: Set<String> = ["encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix", "encrypted_comment_regex", "unencrypted_comment_regex", "mac_only_encrypted"]
        guard case .mapping(let entries, let position) = metadata else { return metadata }
        return .mapping(entries.filter { !ruleKeys.contains($0.key) }, position)
    }

    /// `stores.FlattenMetadata`: the metadata as Go marshals it to JSON, flattened into
    /// `key__map_child__list_0…` paths, sorted by key as the dotenv and ini stores write them.
    /// Values are strings as they are written (`EncodeNonStrings`: `shamir_threshold` and
    /// `mac_only_encrypted` as text).
    static func flatten(_ metadata: TreeNode) -> [(key: String, value: String)] {
        var pairs: [(key: String, value: String)] = []
        func visit(_ node: TreeNode, _ path: String) {
            switch node {
            case .mapping(let entries, _):
                for entry in entries where !entry.isComment { visit(entry.value, path.isEmpty ? entry.key : path + "__map_" + entry.key) }
            case .sequence(let items, _):
                for (index, item) in items.enumerated() { visit(item, path + "__list_\(index)") }
            case .scalar(let scalar):
                if scalar.isNull { return }
                pairs.append((path, scalar.text))
            case .comment:
                break
            }
        }
        visit(metadata, "")
        return pairs.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }
}
