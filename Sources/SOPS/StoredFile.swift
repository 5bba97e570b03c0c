import Foundation

/// A SOPS file in whichever store sops wrote it (YAML, JSON, dotenv, ini, binary): found to be
/// encrypted from its bytes (`SOPSFileFormat.encryptedStorage(of:)`), whatever its name, and
/// read in the store its name selects, as sops reads it.
public struct StoredSOPSFile: Sendable {
    public enum Content: Sendable {
        /// YAML or JSON documents (a binary file's JSON wrapper too).
        case tree(SOPSFile)
        case flat(FlatDocument)
    }

    public var content: Content
    /// The syntax the file is stored in, found from its bytes.
    public var storage: SOPSFileFormat
    /// The store sops reads it with and the format `sops -d` prints: chosen by its name
    /// (`formats.FormatForPath`), as sops and kustomize-controller choose it, never by content.
    public var output: SOPSFileFormat

    /// nil when the bytes carry no sops metadata. A file that is encrypted (found by content)
    /// but stored in a syntax other than the one its name tells sops to read fails here as
    /// `sops -d` fails on it, at the line sops's reader stops, with the storage named. (A JSON
    /// file named `.yaml` is read, as sops reads it, by the YAML store.)
    public init?(bytes: Data, path: String) throws(DecryptionError) {
        try self.init(bytes: bytes, readAs: SOPSFileFormat(path: path))
    }

    /// The same, read with the store of `byName` whatever the file is called: what
    /// `sops -d --input-type F --output-type F` does, and what kustomize-controller does with a
    /// generator's file, whose format it chooses from the generator entry
    /// (`SOPSDecryptorRead` in Flux).
    public init?(bytes: Data, readAs byName: SOPSFileFormat) throws(DecryptionError) {
        guard let storage = SOPSFileFormat.encryptedStorage(of: bytes) else { return nil }
        self.storage = storage
        output = byName
        do throws(DecryptionError) {
            switch byName {
            case .yaml:
                content = .tree(try SOPSFile(text: String(decoding: bytes, as: UTF8.self), path: "file.yaml"))
            case .json:
                content = .tree(try JSONStore.sopsFile(Array(bytes)))
            case .binary:
                // A binary file is stored as JSON (`{"data": "ENC[…]", "sops": {…}}`). A JSON SOPS
                // file without `data` decrypts (sops checks the MAC first) but cannot be written
                // as binary: sops 3.11 exits 4 with "error emitting binary store: no binary data
                // found in tree". Said here, before any key is needed, as the wrong name it is.
                let file = try JSONStore.sopsFile(Array(bytes))
                if case .mapping(let entries, _) = file.documents[0].tree, !entries.contains(where: { $0.key == "data" }) {
                    throw DecryptionError.wrongStore(readAs: .binary, storedAs: .json, detail: "no binary data found in tree", line: 1)
                }
                content = .tree(file)
            case .dotenv:
                content = .flat(try DotenvStore.read(Array(bytes)))
            case .ini:
                content = .flat(try INIStore.read(Array(bytes)))
            }
        } catch {
            if case .wrongStore = error { throw error }
            let compatible = storage == byName || (byName == .yaml && storage == .json) || (byName == .binary && storage == .json)
            guard !compatible else { throw error }
            let detail: String
            switch error {
            case .malformedMetadata(let text, _), .notSOPS(let text): detail = text
            default: detail = error.description
            }
            throw .wrongStore(readAs: byName, storedAs: storage, detail: detail, line: error.line ?? 1)
        }
    }

    /// The ending of a file name that makes sops read `format` (any other for binary).
    public static func suffix(_ format: SOPSFileFormat) -> String {
        switch format {
        case .yaml: ".yaml"
        case .json: ".json"
        case .dotenv: ".env"
        case .ini: ".ini"
        case .binary: ".bin"
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
