import Crypto
import Foundation

/// One SOPS document (a YAML file may hold several, each with its own copy of the metadata).
public struct SOPSDocument: Sendable {
    /// The document without its `sops` key.
    public var tree: TreeNode
    public var metadata: Metadata
}

/// A file in SOPS format, YAML or JSON.
public struct SOPSFile: Sendable {
    public enum Format: Sendable { case yaml, json }

    public var format: Format
    public var documents: [SOPSDocument]

    /// Reads a SOPS file. JSON is chosen by the `.json` extension, or content starting with `{`.
    public init(text: String, path: String) throws(DecryptionError) {
        let trimmed = text.drop { $0.isWhitespace }
        format = path.lowercased().hasSuffix(".json") || trimmed.hasPrefix("{") ? .json : .yaml
        let trees: [TreeNode]
        do {
            trees = try TreeReader.documents(text)
        } catch {
            throw .malformedMetadata(error.message, line: error.line)
        }
        guard !trees.isEmpty else { throw .notSOPS("the file is empty") }
        var documents: [SOPSDocument] = []
        for tree in trees {
            guard case .mapping(let entries, let position) = tree else {
                throw .notSOPS("a document is not a mapping")
            }
            guard let sops = entries.first(where: { $0.key == "sops" }) else {
                // sops reads a stream's metadata from its first document only (stores/yaml
                // `LoadEncryptedFile`: `yaml.Unmarshal` decodes one document) and decrypts every
                // document with it: a later plaintext document is walked by those rules.
                if let first = documents.first {
                    documents.append(SOPSDocument(tree: tree, metadata: first.metadata))
                    continue
                }
                if trees.count > 1, let later = trees.dropFirst().firstIndex(where: { $0["sops"] != nil }) {
                    throw .malformedMetadata(
                        "sops metadata not found in the first document: sops reads a stream's metadata from its first document only, and `sops -d` fails with \"sops metadata not found\" (the sops block is in document \(later + 1))",
                        line: trees[later]["sops"]?.position?.line ?? tree.position?.line)
                }
                throw .notSOPS("there is no sops metadata")
            }
            let metadata: Metadata
            do {
                metadata = try Metadata(sops.value, line: sops.position?.line)
            } catch {
                throw .malformedMetadata(error.message, line: error.line ?? sops.position?.line)
            }
            documents.append(SOPSDocument(tree: .mapping(entries.filter { $0.key != "sops" }, position), metadata: metadata))
        }
        self.documents = documents
    }

    /// Whether text looks like a SOPS file without decrypting it: a top-level `sops` mapping with
    /// a `mac`. Cheap enough to run over a whole repository.
    public static func looksLikeSOPS(_ text: String) -> Bool {
        text.contains("sops") && text.contains("mac") && text.contains(EncryptedValue.prefix)
    }
}

/// A decrypted document: plaintext values, typed.
public struct DecryptedDocument: Sendable {
    public var tree: TreeNode
    public var dataKey: [UInt8]
    /// Every value that was encrypted, in plaintext: what a caller must mask before printing.
    public var secretValues: [String]
}

public enum SOPSDecryptor {
    /// Decrypts every document, checking each value's authentication and the file's MAC. A
    /// multi-document file has one data key and one MAC over all its documents (each document
    /// carries a copy of the metadata).
    public static func decrypt(_ file: SOPSFile, with keys: KeyChain) throws(DecryptionError) -> [DecryptedDocument] {
        guard let metadata = file.documents.first?.metadata else { throw .notSOPS("the file has no document") }
        let dataKey = try DataKeyRecovery.recover(metadata, with: keys)
        let key = SymmetricKey(data: dataKey)
        var hash = SHA512()
        if metadata.macOnlyEncrypted { hash.update(data: macOnlyEncryptedSeed) }
        var result: [DecryptedDocument] = []
        for document in file.documents {
            var secrets: [String] = []
            let tree = try walk(document.tree, path: [], key: key, hash: &hash, rules: FlatRules(metadata), secrets: &secrets)
            result.append(DecryptedDocument(tree: tree, dataKey: dataKey, secretValues: secrets))
        }
        let computed = hash.finalize().map { String(format: "%02X", $0) }.joined()
        let storedMAC: [UInt8]
        do {
            guard let value = try EncryptedValue(parsing: metadata.mac) else { throw DecryptionError.macUndecryptable(line: metadata.line) }
            storedMAC = try value.decrypt(key: key, additionalData: metadata.macAdditionalData)
        } catch {
            throw .macUndecryptable(line: metadata.line)
        }
        guard String(decoding: storedMAC, as: UTF8.self) == computed else { throw .macMismatch(line: metadata.line) }
        return result
    }

    /// SHA-256("sops"): what a `mac_only_encrypted` MAC starts from, so it differs from a full one.
    static let macOnlyEncryptedSeed: [UInt8] = Array(SHA256.hash(data: Array("sops".utf8)))

    private static func walk(
        _ node: TreeNode, path: [String], key: SymmetricKey, hash: inout SHA512, rules: FlatRules, secrets: inout [String]
    ) throws(DecryptionError) -> TreeNode {
        let macOnlyEncrypted = rules.metadata.macOnlyEncrypted
        switch node {
        case .mapping(let entries, let position):
            var out: [TreeNode.Entry] = []
            for entry in entries {
                var entry = entry
                entry.value = try walk(entry.value, path: path + [entry.key], key: key, hash: &hash, rules: rules, secrets: &secrets)
                out.append(entry)
            }
            return .mapping(out, position)
        case .sequence(let items, let position):
            var out: [TreeNode] = []
            for item in items { out.append(try walk(item, path: path, key: key, hash: &hash, rules: rules, secrets: &secrets)) }
            return .sequence(out, position)
        case .scalar(let scalar):
            let pathText = path.joined(separator: ":") + ":"
            let line = scalar.position?.line
            let parsed: Result<EncryptedValue?, EncryptedValue.ValueError> = Result { () throws(EncryptedValue.ValueError) in try EncryptedValue(parsing: scalar.text) }
            let looksEncrypted = if case .success(.some) = parsed { true } else { false }
            // sops `Tree.Decrypt`: the metadata's rules, not the value's look, say which leaves are
            // encrypted. A leaf they select must decrypt (a plaintext one fails as "Could not
            // decrypt value"; an empty string stays empty); any other leaf is hashed as it is, so
            // a rule edited after encryption gives a MAC mismatch. Comment rules need the comments
            // above a value, which this tree does not hold: then the value's look decides.
            let selected = rules.usesCommentRules ? looksEncrypted : rules.shouldBeEncrypted(names: path)
            let encrypted: EncryptedValue?
            do {
                encrypted = selected ? try parsed.get() : nil
            } catch {
                throw .malformedValue(path: pathText, detail: error.description, line: line)
            }
            if selected, encrypted == nil, !scalar.isNull, !scalar.text.isEmpty {
                throw .malformedValue(
                    path: pathText,
                    detail: "it is not encrypted, but the file's sops metadata (\(rules.ruleDescription)) says it is: the metadata or the value was edited after encryption (`sops -d` fails: \"Could not decrypt value\")",
                    line: line)
            }
            guard selected, let encrypted else {
                if !macOnlyEncrypted || selected, let bytes = LeafBytes.of(scalar) { hash.update(data: bytes) }
                return node
            }
            let plaintext: [UInt8]
            do {
                plaintext = try encrypted.decrypt(key: key, additionalData: pathText)
            } catch {
                throw .valueAuthenticationFailed(path: pathText, line: line)
            }
            if encrypted.type != .comment { hash.update(data: plaintext) }
            secrets.append(String(decoding: plaintext, as: UTF8.self))
            return .scalar(try typed(plaintext, encrypted.type, path: pathText, position: scalar.position))
        }
    }

    /// A decrypted value as a scalar that emits with its type: strings quoted where needed,
    /// numbers and booleans plain.
    private static func typed(_ bytes: [UInt8], _ type: EncryptedValue.ValueType, path: String, position: TreeNode.Position?) throws(DecryptionError) -> TreeNode.Scalar {
        let text = String(decoding: bytes, as: UTF8.self)
        switch type {
        case .str, .bytes, .comment:
            return TreeNode.Scalar(text, isPlain: false, position: position)
        case .int:
            guard let value = Int(text) else { throw .malformedValue(path: path, detail: "the int value is not an integer", line: position?.line) }
            return TreeNode.Scalar(String(value), isPlain: true, position: position)
        case .float:
            guard let value = Double(text) else { throw .malformedValue(path: path, detail: "the float value is not a number", line: position?.line) }
            return TreeNode.Scalar(LeafBytes.goFloatG(value), isPlain: true, position: position)
        case .bool:
            guard let value = LeafBytes.bool(text) else { throw .malformedValue(path: path, detail: "the bool value is not True or False", line: position?.line) }
            return TreeNode.Scalar(value ? "true" : "false", isPlain: true, position: position)
        case .time:
            return TreeNode.Scalar(text, isPlain: true, position: position)
        }
    }
}
