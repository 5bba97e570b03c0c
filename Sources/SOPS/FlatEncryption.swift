import Crypto
import Foundation
import GPG

/// Encrypting to the stores that are not YAML: what `sops encrypt` writes for a file whose name
/// selects the JSON, dotenv, ini or binary store (getsops/sops stores/json, stores/dotenv,
/// stores/ini, and `BinaryStore`), with the tree walk, rules and MAC of `SOPSEncryptor`.
///
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
            let tree = try dotenvTree(bytes)
            let (encrypted, metadata) = try walk(tree, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
            guard case .mapping(let entries, _) = encrypted else { return [] }
            var out: [UInt8] = []
            for entry in entries {
                if case .comment(let text) = entry.value {
                    out += [UInt8(ascii: "#")] + Array(text.utf8) + [0x0A]
                } else if case .scalar(let scalar) = entry.value {
                    out += Array(entry.key.utf8) + [UInt8(ascii: "=")] + escapeNewlines(Array(scalar.text.utf8)) + [0x0A]
                }
            }
            for (key, value) in flatten(metadata) {
                out += DotenvStore.metadataPrefix + Array(key.utf8) + [UInt8(ascii: "=")] + escapeNewlines(Array(value.utf8)) + [0x0A]
            }
            return out
        case .ini:
            let tree = try iniTree(bytes)
            let (encrypted, metadata) = try walk(tree, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
            var items: [FlatDocument.Item] = []
            if case .mapping(let sections, _) = encrypted {
                for section in sections {
                    let name = Array(section.key.utf8)
                    items.append(.init(path: [name], value: [], isComment: false, line: 0, isSection: true))
                    guard case .mapping(let entries, _) = section.value else { continue }
                    for entry in entries {
                        if case .comment(let text) = entry.value {
                            items.append(.init(path: [name], value: Array(text.utf8), isComment: true, line: 0))
                        } else if case .scalar(let scalar) = entry.value {
                            items.append(.init(path: [name, Array(entry.key.utf8)], value: Array(scalar.text.utf8), isComment: false, line: 0))
                        }
                    }
                }
            }
            let sops = Array("sops".utf8)
            items.append(.init(path: [sops], value: [], isComment: false, line: 0, isSection: true))
            for (key, value) in flatten(metadata) {
                items.append(.init(path: [sops, Array(key.utf8)], value: escapeNewlines(Array(value.utf8)), isComment: false, line: 0))
            }
            return Array(INIStore.emit(items))
        }
    }

    static func escapeNewlines(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte == 0x0A { out += [UInt8(ascii: "\\"), UInt8(ascii: "n")] } else { out.append(byte) }
        }
        return out
    }

    /// sops's dotenv `LoadPlainFile`: lines split at `\n`, empty ones dropped, `#` starts a
    /// comment, any other line must hold `=` (split at the first), `\n` in a value is a newline.
    static func dotenvTree(_ bytes: [UInt8]) throws(EncryptionError) -> TreeNode {
        var entries: [TreeNode.Entry] = []
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let position = TreeNode.Position(line: index + 1, column: 1)
            if line.first == UInt8(ascii: "#") {
                entries.append(.comment(String(decoding: line.dropFirst(), as: UTF8.self), position: position))
                continue
            }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw .malformed("line \(index + 1) is neither KEY=VALUE nor a # comment: sops refuses it too (\"invalid dotenv input line\")", line: index + 1)
            }
            let key = Array(line[line.startIndex..<equals])
            // sops's `HasSopsTopLevelKey` for dotenv: a `sops_` key means the file is encrypted.
            if key.starts(with: DotenvStore.metadataPrefix) { throw .alreadyEncrypted }
            let value = DotenvStore.unescapeNewlines(Array(line[(equals + 1)...]))
            entries.append(TreeNode.Entry(key: String(decoding: key, as: UTF8.self), value: .scalar(TreeNode.Scalar(String(decoding: value, as: UTF8.self), position: position)), position: position))
        }
        return .mapping(entries, nil)
    }

    /// sops's ini `LoadPlainFile` (`treeItemFromSection`): every section (DEFAULT first) with its
    /// comment first, then each key followed by its comment; comments lose their `;`/`#`.
    static func iniTree(_ bytes: [UInt8]) throws(EncryptionError) -> TreeNode {
        let sections: [INIStore.Section]
        do { sections = try INIStore.parse(bytes) } catch { throw .malformed("not valid ini (as sops reads it): \(error.message)", line: error.line) }
        var result: [TreeNode.Entry] = []
        for section in sections {
            // The default store check: a top-level `sops` item (here a `[sops]` section).
            if section.name.elementsEqual("sops".utf8) { throw .alreadyEncrypted }
            let position = TreeNode.Position(line: section.line, column: 1)
            var entries: [TreeNode.Entry] = []
            if !section.comment.isEmpty { entries.append(.comment(String(decoding: INIStore.stripCommentChar(section.comment), as: UTF8.self), position: position)) }
            for key in section.keys {
                let keyPosition = TreeNode.Position(line: key.line, column: 1)
                entries.append(TreeNode.Entry(key: String(decoding: key.name, as: UTF8.self), value: .scalar(TreeNode.Scalar(String(decoding: key.value, as: UTF8.self), position: keyPosition)), position: keyPosition))
                if !key.comment.isEmpty { entries.append(.comment(String(decoding: INIStore.stripCommentChar(key.comment), as: UTF8.self), position: keyPosition)) }
            }
            result.append(TreeNode.Entry(key: String(decoding: section.name, as: UTF8.self), value: .mapping(entries, position), position: position))
        }
        return .mapping(result, nil)
    }

    /// `SOPSEncryptor`'s walk over one tree, then its MAC and metadata.
    static func walk(
        _ tree: TreeNode, recipients: Recipients, rule: EncryptionRule, macOnlyEncrypted: Bool, keyring: Keyring?, now: Date, dataKey: [UInt8]
    ) throws(EncryptionError) -> (tree: TreeNode, metadata: TreeNode) {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        if case .encryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("encrypted_regex '\(pattern)' is not a valid regular expression") }
        if case .unencryptedRegex(let pattern) = rule, (try? Regex(pattern)) == nil { throw .invalidRule("unencrypted_regex '\(pattern)' is not a valid regular expression") }
        let key = SymmetricKey(data: dataKey)
        var walk = SOPSEncryptor.Walk(key: key, selection: ValueSelection(rule, macOnlyEncrypted: macOnlyEncrypted))
        if macOnlyEncrypted { walk.hash.update(data: SOPSDecryptor.macOnlyEncryptedSeed) }
        let encrypted = try walk.node(tree, path: [], stack: [])
        let metadata = try SOPSEncryptor.metadata(hash: walk.hash, key: key, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring, now: now, dataKey: dataKey)
        return (encrypted, metadata)
    }

    /// The binary store: `{"data": "ENC[…]", "sops": {…}}`, the rules left out.
    static func binary(_ bytes: [UInt8], recipients: Recipients, keyring: Keyring?, now: Date, dataKey: [UInt8]) throws(EncryptionError) -> [UInt8] {
        guard recipients.groups.contains(where: { !$0.isEmpty }) else { throw .noRecipients }
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        hash.update(data: bytes)
        var data = ""
        if !bytes.isEmpty {
            do {
                data = try EncryptedValue.encrypt(bytes, type: .str, key: key, additionalData: "data:").encoded
            } catch {
                throw .malformed("cannot encrypt the file's bytes: \(error)", line: nil)
            }
        }
        let full = try SOPSEncryptor.metadata(hash: hash, key: key, recipients: recipients, rule: .unencryptedSuffix("_unencrypted"), macOnlyEncrypted: false, keyring: keyring, now: now, dataKey: dataKey)
        // sops ignores every rule for this store ("the binary store produces one key that should
        // always be encrypted") and so writes none into the metadata.
        let ruleKeys: Set<String> = ["encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix", "encrypted_comment_regex", "unencrypted_comment_regex", "mac_only_encrypted"]
        guard case .mapping(let metadataEntries, let position) = full else { return [] }
        let metadata = TreeNode.mapping(metadataEntries.filter { !ruleKeys.contains($0.key) }, position)
        let document = TreeNode.mapping([
            TreeNode.Entry(key: "data", value: .scalar(TreeNode.Scalar(data)), position: nil),
            TreeNode.Entry(key: "sops", value: metadata, position: nil),
        ], nil)
        return Array(JSONStore.emit([document]).utf8)
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
