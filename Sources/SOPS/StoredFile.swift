import Foundation

/// A SOPS file in whichever store sops wrote it (YAML, JSON, dotenv, ini, binary), found from its
/// bytes (`SOPSFileFormat.encryptedStorage(of:)`), whatever its name.
public struct StoredSOPSFile: Sendable {
    public enum Content: Sendable {
        /// YAML or JSON documents (a binary file's JSON wrapper too).
        case tree(SOPSFile)
        case flat(FlatDocument)
    }

    public var content: Content
    /// The syntax the file is stored in.
    public var storage: SOPSFileFormat
    /// The format `sops -d` prints it in: chosen by name, as sops does, except that a file whose
    /// storage is not the one its name says is printed in its storage (sops would refuse it
    /// without `--input-type`).
    public var output: SOPSFileFormat

    /// nil when the bytes carry no sops metadata.
    public init?(bytes: Data, path: String) throws(DecryptionError) {
        guard let storage = SOPSFileFormat.encryptedStorage(of: bytes) else { return nil }
        self.storage = storage
        let byName = SOPSFileFormat(path: path)
        switch storage {
        case .yaml, .json, .binary:
            content = .tree(try SOPSFile(text: String(decoding: bytes, as: UTF8.self), path: storage == .yaml ? "file.yaml" : "file.json"))
            output = storage == .json && byName == .binary ? .binary : storage
        case .dotenv:
            content = .flat(try DotenvStore.read(Array(bytes)))
            output = .dotenv
        case .ini:
            content = .flat(try INIStore.read(Array(bytes)))
            output = .ini
        }
    }

    public var metadata: Metadata {
        switch content {
        case .tree(let file): file.documents[0].metadata
        case .flat(let document): document.metadata
        }
    }

    /// The outcome of decrypting: what `sops -d` prints (nil for YAML and JSON, which the caller
    /// emits from `documents`), every decrypted value (to mask), and the documents decrypted.
    public struct Decrypted: Sendable {
        public var plaintext: Data?
        public var documents: [DecryptedDocument]
        public var secretValues: [[UInt8]]
        public var documentCount: Int
    }

    /// Decrypts with the MAC checked.
    public func decrypt(with keys: KeyChain) throws(DecryptionError) -> Decrypted {
        switch content {
        case .tree(let file):
            if output == .binary {
                let bytes = try BinaryStore.decrypt(file, with: keys)
                return Decrypted(plaintext: Data(bytes), documents: [], secretValues: [bytes], documentCount: 1)
            }
            let documents = try SOPSDecryptor.decrypt(file, with: keys)
            return Decrypted(plaintext: nil, documents: documents, secretValues: documents.flatMap { $0.secretValues.map { Array($0.utf8) } }, documentCount: documents.count)
        case .flat(let document):
            let decrypted = try document.decrypt(with: keys)
            let text = output == .ini ? INIStore.emit(decrypted.items) : DotenvStore.emit(decrypted.items)
            return Decrypted(plaintext: text, documents: [], secretValues: decrypted.secretValues, documentCount: 1)
        }
    }
}
