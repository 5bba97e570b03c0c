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

    /// Reads a SOPS file in the store sops picks by its name (`SOPSFileFormat(path:)`): JSON for
    /// `.json` (read as Go's encoding/json reads it, `JSONStore`), else YAML, which also reads a
    /// JSON file named `.yaml`, as sops does.
    public init(text: String, path: String) throws(DecryptionError) {
        if SOPSFileFormat(path: path) == .json {
            self = try JSONStore.sopsFile(Array(text.utf8))
            return
        }
        format = .yaml
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
        var walk = Walk(key: key, hash: hash, selection: ValueSelection(metadata))
        for document in file.documents {
            walk.secrets = []
            let tree = try walk.node(document.tree, path: [], stack: [])
            result.append(DecryptedDocument(tree: tree, dataKey: dataKey, secretValues: walk.secrets))
        }
        hash = walk.hash
        try checkMAC(hash, metadata: metadata, key: key)
        return result
    }

    /// The stored MAC against the computed one, as sops compares them (getsops/sops
    /// `decrypt/decrypt.go` and `cmd/sops/common`: `fileMac, err := cipher.Decrypt(mac, key,
    /// lastmodified)`; an error is "Cannot decrypt MAC", else `fileMac != computedMac`). The
    /// cipher (`aes/cipher.go` `Decrypt`) converts the plaintext by the value's `type`, which the
    /// GCM tag does not cover: `int`, `float`, `bool` and `time` are parsed (`strconv.Atoi`,
    /// `ParseFloat`, `ParseBool`, `time.Parse`), which fails for a hex MAC, so sops cannot decrypt
    /// it; `bytes` and `comment` give a non-string, never equal to the computed string: a mismatch.
    /// Only `type:str` (what sops writes) can match.
    static func checkMAC(_ stored: [UInt8], type: EncryptedValue.ValueType, computed: String, line: Int?) throws(DecryptionError) {
        let text = String(decoding: stored, as: UTF8.self)
        switch type {
        case .str:
            guard stored.elementsEqual(computed.utf8) else { throw .macMismatch(line: line) }
        case .bytes, .comment:
            throw .macMismatch(line: line)
        case .int:
            throw Int(text) == nil ? .macUndecryptable(line: line) : .macMismatch(line: line)
        case .float:
            throw Double(text) == nil ? .macUndecryptable(line: line) : .macMismatch(line: line)
        case .bool:
            throw ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"].contains(text) ? .macMismatch(line: line) : .macUndecryptable(line: line)
        case .time:
            throw .macUndecryptable(line: line)
        }
    }

    /// SHA-256("sops"): what a `mac_only_encrypted` MAC starts from, so it differs from a full one.
    static let macOnlyEncryptedSeed: [UInt8] = Array(SHA256.hash(data: Array("sops".utf8)))

    /// sops's decrypt callback (`sops.go` `Tree.Decrypt`, walked by `TreeWalk`): every leaf the
    /// rules select is decrypted; the MAC hashes each non-comment result's Go value as `ToBytes`
    /// writes it, only the encrypted ones with `mac_only_encrypted`.
    struct Walk: TreeLeafVisitor {
        var key: SymmetricKey
        var hash: SHA512
        var selection: ValueSelection
        var secrets: [String] = []

        mutating func node(_ node: TreeNode, path: [String], stack: [[String]]) throws(DecryptionError) -> TreeNode {
            try TreeWalk.walk(node, path: path, comments: stack, &self)
        }

        /// A comment the rules select goes through the cipher, and what comes back takes its
        /// place (`TreeWalk.CommentResult`): a `type:comment` value is a comment again; an empty
        /// comment is the empty string (`aes.Cipher.Decrypt` returns `""` for empty text
        /// before parsing), which in a sequence is the item `- ""` that `sops -d` prints; a
        /// comment that does not decrypt is kept as it is (sops warns "possibly unencrypted
        /// comment", as written by older versions). A value other than a comment is hashed.
        mutating func comment(_ text: String, path: [String], comments: [[String]]) throws(DecryptionError) -> TreeWalk.CommentResult {
            guard selection.shouldBeEncrypted(path: path, comments: comments, isComment: true) else { return .comment(text) }
            if text.isEmpty { return .value(TreeNode.Scalar("")) }
            let pathText = path.joined(separator: ":") + ":"
            guard let encrypted = try? EncryptedValue(parsing: text),
                let plaintext = try? encrypted.decrypt(key: key, additionalData: pathText)
            else { return .comment(text) }
            secrets.append(String(decoding: plaintext, as: UTF8.self))
            if encrypted.type == .comment { return .comment(String(decoding: plaintext, as: UTF8.self)) }
            let scalar = try SOPSDecryptor.typed(plaintext, encrypted.type, path: pathText, position: nil)
            if let bytes = scalar.value.macBytes { hash.update(data: bytes) }
            return .value(scalar)
        }

        func nonStringKey(_ entry: TreeNode.Entry, path: [String]) -> DecryptionError {
            .malformedValue(path: (path + [entry.key]).joined(separator: ":") + ":", detail: entry.nonStringKeyMessage, line: entry.position?.line)
        }

        mutating func leaf(_ scalar: TreeNode.Scalar, path: [String], comments stack: [[String]]) throws(DecryptionError) -> TreeNode {
            let node = TreeNode.scalar(scalar)
            let pathText = path.joined(separator: ":") + ":"
            let line = scalar.position?.line
            let selected = selection.shouldBeEncrypted(path: path, comments: stack, isComment: false)
            // sops `Tree.Decrypt`: the metadata's rules, not the value's look, say which leaves are
            // encrypted. A leaf they select must decrypt (a plaintext one fails as "Could not
            // decrypt value"; an empty string stays empty); any other leaf is hashed as it is,
            // ENC[…] text included, so a rule edited after encryption is a MAC mismatch.
            var encrypted: EncryptedValue?
            if selected, !scalar.isNull {
                do {
                    encrypted = try EncryptedValue(parsing: scalar.text)
                } catch {
                    throw .malformedValue(path: pathText, detail: error.description, line: line)
                }
                if encrypted == nil, !scalar.text.isEmpty {
                    throw .malformedValue(
                        path: pathText,
                        detail: "it is not encrypted, but the file's sops metadata (\(selection.ruleDescription)) says it is: the metadata or the value was edited after encryption (`sops -d` fails: \"Could not decrypt value\")",
                        line: line)
                }
            }
            var result = scalar
            if let encrypted {
                let plaintext: [UInt8]
                do {
                    plaintext = try encrypted.decrypt(key: key, additionalData: pathText)
                } catch {
                    throw .valueAuthenticationFailed(path: pathText, line: line)
                }
                secrets.append(String(decoding: plaintext, as: UTF8.self))
                // A `type:comment` value is a comment again (sops's cipher returns a `Comment`,
                // which `walkSlice` keeps and the MAC skips): how sops stores an encrypted
                // comment inside a sequence.
                if encrypted.type == .comment { return .comment(String(decoding: plaintext, as: UTF8.self)) }
                result = try SOPSDecryptor.typed(plaintext, encrypted.type, path: pathText, position: scalar.position)
            }
            if scalar.isNull { return node }
            if !selection.macOnlyEncrypted || selected {
                let value = result.value
                if case .uint = value {
                    throw .malformedValue(path: pathText, detail: "the integer \(scalar.text) is beyond what sops can hash (it fails on it too)", line: line)
                }
                if let bytes = value.macBytes { hash.update(data: bytes) }
            }
            return .scalar(result)
        }
    }

    /// A decrypted value with the Go type sops gives it (`stores` cipher: `strconv.Atoi`,
    /// `ParseFloat`, `ParseBool`, `time.Parse(time.RFC3339, …)`).
    static func typed(_ bytes: [UInt8], _ type: EncryptedValue.ValueType, path: String, position: TreeNode.Position?) throws(DecryptionError) -> TreeNode.Scalar {
        let text = String(decoding: bytes, as: UTF8.self)
        func scalar(_ value: GoValue) -> TreeNode.Scalar { TreeNode.Scalar(text, isPlain: false, position: position, typed: value) }
        switch type {
        case .str, .bytes:
            // A Go string holds any bytes: one that is not UTF-8 stays those bytes (`.binary`),
            // hashed as they are and written back as sops writes it (`!!binary`, `\ufffd`).
            return scalar(.goString(bytes))
        case .comment:
            return scalar(.string(text))
        case .int:
            guard let value = Int64(text.hasPrefix("+") ? String(text.dropFirst()) : text) else { throw .malformedValue(path: path, detail: "the int value is not an integer", line: position?.line) }
            return scalar(.int(value))
        case .float:
            let special: [String: Double] = ["+inf": .infinity, "inf": .infinity, "-inf": -.infinity, "nan": .nan, "+infinity": .infinity, "infinity": .infinity, "-infinity": -.infinity]
            guard let value = special[text.lowercased()] ?? Double(text) else { throw .malformedValue(path: path, detail: "the float value is not a number", line: position?.line) }
            return scalar(.float(value))
        case .bool:
            switch text {
            case "1", "t", "T", "TRUE", "true", "True": return scalar(.bool(true))
            case "0", "f", "F", "FALSE", "false", "False": return scalar(.bool(false))
            default: throw .malformedValue(path: path, detail: "the bool value is not True or False", line: position?.line)
            }
        case .time:
            guard let time = GoTime.rfc3339(text) else { throw .malformedValue(path: path, detail: "the time value is not RFC 3339", line: position?.line) }
            return scalar(.time(time))
        }
    }
}
