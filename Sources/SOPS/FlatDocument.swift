import Crypto
import Foundation

/// A SOPS file in one of the flat stores (dotenv, ini): leaves and comments with the path sops
/// encrypts each under, kept as bytes (a Go string is bytes; nothing here is normalised).
///
/// The walk, the rules and the MAC follow getsops/sops `Tree.Decrypt`: each leaf or comment is
/// encrypted when `shouldBeEncrypted(path)` says so; a comment that does not decrypt is kept as it
/// is (sops warns and keeps it); the MAC is SHA-512 over every leaf's bytes in file order, comments
/// left out, and with `mac_only_encrypted` only over the encrypted leaves, seeded with
/// SHA-256("sops").
public struct FlatDocument: Sendable {
    public struct Item: Sendable, Equatable {
        /// The section (ini) and the key; for a comment, the section it is in (or nothing).
        public var path: [[UInt8]]
        public var value: [UInt8]
        public var isComment: Bool
        /// 1-based line of the item in the file.
        public var line: Int
        /// An ini section itself (`path` is its name): sops keeps every section in its tree, an
        /// empty one too, and writes it back; it holds no value and is not hashed.
        public var isSection = false
    }

    public var items: [Item]
    public var metadata: Metadata

    /// A decrypted flat document: its items in plaintext, and every decrypted value (to mask).
    public struct Decrypted: Sendable {
        public var items: [Item]
        public var secretValues: [[UInt8]]
    }

    /// Decrypts every item and checks the MAC.
    public func decrypt(with keys: KeyChain) throws(DecryptionError) -> Decrypted {
        let dataKey = try DataKeyRecovery.recover(metadata, with: keys)
        return try decrypt(dataKey: dataKey)
    }

    func decrypt(dataKey: [UInt8]) throws(DecryptionError) -> Decrypted {
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        if metadata.macOnlyEncrypted { hash.update(data: SOPSDecryptor.macOnlyEncryptedSeed) }
        var out: [Item] = []
        var secrets: [[UInt8]] = []
        let rules = FlatRules(metadata)
        var stack = FlatCommentStack()
        for item in items {
            guard let comments = stack.enter(item) else {
                out.append(item)
                continue
            }
            defer { stack.leave(item) }
            let pathBytes = Array(item.path.joined(separator: [UInt8(ascii: ":")]))
            let pathText = String(decoding: pathBytes, as: UTF8.self)
            let encrypted = rules.shouldBeEncrypted(item.path, comments: comments, isComment: item.isComment)
            var plain = item
            if encrypted, !item.value.isEmpty {
                let text = String(decoding: item.value, as: UTF8.self)
                let parsed: EncryptedValue?
                do {
                    parsed = try EncryptedValue(parsing: text)
                } catch {
                    if item.isComment { out.append(item); continue }
                    throw .malformedValue(path: pathText + ":", detail: error.description, line: item.line)
                }
                guard let parsed else {
                    // sops: "Input string … does not match sops' data format"; a comment stays.
                    if item.isComment { out.append(item); continue }
                    throw .malformedValue(path: pathText + ":", detail: "it is not encrypted, but the file's sops metadata (\(rules.ruleDescription)) says it is: the metadata or the value was edited after encryption (`sops -d` fails: \"Could not decrypt value\")", line: item.line)
                }
                do {
                    plain.value = try parsed.decrypt(key: key, additionalBytes: pathBytes + [UInt8(ascii: ":")])
                } catch {
                    if item.isComment { out.append(item); continue }
                    throw .valueAuthenticationFailed(path: pathText + ":", line: item.line)
                }
                secrets.append(plain.value)
            }
            if !item.isComment, !metadata.macOnlyEncrypted || encrypted { hash.update(data: plain.value) }
            out.append(plain)
        }
        try SOPSDecryptor.checkMAC(hash, metadata: metadata, key: key)
        return Decrypted(items: out, secretValues: secrets)
    }

    /// sops's `Tree.Encrypt` over flat items, on bytes: each item the rules select (with the
    /// comments before it) is encrypted under its path (`section:key:`, a comment under its
    /// section's path), as `type:str` or, for a comment, `type:comment`; empty values and
    /// comments stay empty; every value goes into `hash` (only the selected ones with
    /// `mac_only_encrypted`), comments never. Keys, values and comments are Go strings to sops,
    /// that is bytes: invalid UTF-8, NUL, a BOM or a `\r` are encrypted and written as they are.
    static func encrypt(_ items: [Item], key: SymmetricKey, selection: ValueSelection, hash: inout SHA512) throws(EncryptionError) -> [Item] {
        var out: [Item] = []
        out.reserveCapacity(items.count)
        var stack = FlatCommentStack()
        for item in items {
            guard let comments = stack.enter(item) else {
                out.append(item)
                continue
            }
            defer { stack.leave(item) }
            let selected = selection.shouldBeEncrypted(path: item.path.map { String(decoding: $0, as: UTF8.self) }, comments: comments, isComment: item.isComment)
            if !item.isComment, !selection.macOnlyEncrypted || selected { hash.update(data: item.value) }
            var encrypted = item
            if selected, !item.value.isEmpty {
                let additional = Array(item.path.joined(separator: [UInt8(ascii: ":")])) + [UInt8(ascii: ":")]
                do {
                    encrypted.value = Array(try EncryptedValue.encrypt(item.value, type: item.isComment ? .comment : .str, key: key, additionalBytes: additional).encoded.utf8)
                } catch {
                    throw .malformed("cannot encrypt the value on line \(item.line): \(error)", line: item.line)
                }
            }
            out.append(encrypted)
        }
        return out
    }
}

/// The "comments stack" of sops's `walkBranch` for flat items: one level per branch (dotenv: the
/// file; ini: the file's sections, where no comment ever is, then the section's items). A comment
/// joins its level's list before it is decided; a value is decided with the list, then clears
/// it; a new ini section starts an empty list. The items' stored text is what sops compares
/// (on decryption, an encrypted comment's `ENC[…]` text, as in sops).
struct FlatCommentStack {
    private var current: [String] = []

    /// The stack for `item`, or nil for a section item (nothing to decide).
    mutating func enter(_ item: FlatDocument.Item) -> [[String]]? {
        if item.isSection {
            current = []
            return nil
        }
        if item.isComment { current.append(String(decoding: item.value, as: UTF8.self)) }
        // A value at path [key] or [section, key] is in the branch at depth path.count; a
        // comment at path [] or [section] in the branch at depth path.count + 1.
        let depth = item.isComment ? item.path.count + 1 : item.path.count
        return Array(repeating: [], count: max(depth - 1, 0)) + [current]
    }

    mutating func leave(_ item: FlatDocument.Item) {
        if !item.isComment { current = [] }
    }
}

/// sops's `shouldBeEncrypted` (getsops/sops `sops.go`) for a path, from the file's metadata: the
/// rules applied in sops's order, suffixes compared as bytes (Go's `strings.HasSuffix`), an
/// invalid regular expression matching nothing (sops ignores `regexp.Match`'s error), and
/// `unencrypted_suffix: _unencrypted` only when the metadata sets no rule at all (`ToInternal`).
/// The comment rules take the comments before a value (`FlatCommentStack`).
struct FlatRules: Sendable {
    var metadata: Metadata
    private let selection: ValueSelection

    init(_ metadata: Metadata) {
        self.metadata = metadata
        selection = ValueSelection(metadata)
    }

    func shouldBeEncrypted(_ path: [[UInt8]], comments: [[String]] = [[]], isComment: Bool = false) -> Bool {
        selection.shouldBeEncrypted(path: path.map { String(decoding: $0, as: UTF8.self) }, comments: comments, isComment: isComment)
    }

    /// The rule the metadata sets, as the file writes it, for messages.
    var ruleDescription: String { selection.ruleDescription }
}

extension SOPSDecryptor {
    /// Compares the stored MAC (decrypted with `lastmodified` as additional data) with `hash`.
    static func checkMAC(_ hash: SHA512, metadata: Metadata, key: SymmetricKey) throws(DecryptionError) {
        let computed = hash.finalize().map { String(format: "%02X", $0) }.joined()
        let stored: [UInt8]
        let type: EncryptedValue.ValueType
        do {
            guard let value = try EncryptedValue(parsing: metadata.mac) else { throw DecryptionError.macUndecryptable(line: metadata.line) }
            stored = try value.decrypt(key: key, additionalData: metadata.macAdditionalData)
            type = value.type
        } catch {
            throw .macUndecryptable(line: metadata.line)
        }
        try checkMAC(stored, type: type, computed: computed, line: metadata.line)
    }
}

extension EncryptedValue {
    /// `decrypt(key:additionalData:)` with the path as bytes (keys need not be UTF-8).
    func decrypt(key: SymmetricKey, additionalBytes: [UInt8]) throws(ValueError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: data, tag: tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: additionalBytes))
        } catch {
            throw .authenticationFailed
        }
    }
}

/// sops's flattened metadata (`age__list_0__map_enc`, as `stores.FlattenMetadata` writes it for
/// dotenv and ini) turned back into the tree `Metadata` reads. Values keep sops's `\n` escape
/// decoded (`stores.DecodeNewLines`).
enum FlatMetadata {
    static func tree(_ pairs: [(key: String, value: String, line: Int)], line: Int?) -> TreeNode {
        final class Box {
            var scalar: String?
            var line: Int
            var map: [(String, Box)] = []
            var list: [(Int, Box)] = []
            init(line: Int) { self.line = line }
            func child(_ name: String, line: Int) -> Box {
                if let found = map.first(where: { $0.0 == name }) { return found.1 }
                let box = Box(line: line)
                map.append((name, box))
                return box
            }
            func item(_ index: Int, line: Int) -> Box {
                if let found = list.first(where: { $0.0 == index }) { return found.1 }
                let box = Box(line: line)
                list.append((index, box))
                return box
            }
            func node() -> TreeNode {
                let position = TreeNode.Position(line: line, column: 1)
                if let scalar { return .scalar(TreeNode.Scalar(scalar, isPlain: false, position: position)) }
                if !list.isEmpty { return .sequence(list.sorted { $0.0 < $1.0 }.map { $0.1.node() }, position) }
                return .mapping(map.map { TreeNode.Entry(key: $0.0, value: $0.1.node(), position: position) }, position)
            }
        }
        let root = Box(line: line ?? 1)
        for pair in pairs {
            let parts = pair.key.components(separatedBy: "__")
            var box = root.child(parts[0], line: pair.line)
            for part in parts.dropFirst() {
                if part.hasPrefix("list_"), let index = Int(part.dropFirst(5)) {
                    box = box.item(index, line: pair.line)
                } else if part.hasPrefix("map_") {
                    box = box.child(String(part.dropFirst(4)), line: pair.line)
                } else {
                    box = box.child(part, line: pair.line)
                }
            }
            box.scalar = pair.value.replacingOccurrences(of: "\\n", with: "\n")
        }
        return root.node()
    }

    static func metadata(_ pairs: [(key: String, value: String, line: Int)], line: Int?) throws(DecryptionError) -> Metadata {
        do {
            return try Metadata(tree(pairs, line: line), line: line)
        } catch {
            throw .malformedMetadata(error.message, line: error.line ?? line)
        }
    }
}

