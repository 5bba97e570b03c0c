import Crypto
import Foundation

/// sops's binary store (getsops/sops stores/json `BinaryStore`): the whole file is one string
/// under `data`, stored as JSON `{"data": "ENC[…]", "sops": {…}}`. Decrypting gives the raw bytes
/// (`EmitPlainFile` writes `data` as it is), not the JSON wrapper; the MAC is SHA-512 over those
/// bytes, the additional data of the value is `data:`.
public enum BinaryStore {
    /// The decrypted bytes of a binary file read as its JSON wrapper.
    public static func decrypt(_ file: SOPSFile, with keys: KeyChain) throws(DecryptionError) -> [UInt8] {
        guard let document = file.documents.first else { throw .notSOPS("the file has no document") }
        let dataKey = try DataKeyRecovery.recover(document.metadata, with: keys)
        return try decrypt(document, dataKey: dataKey)
    }

    static func decrypt(_ document: SOPSDocument, dataKey: [UInt8]) throws(DecryptionError) -> [UInt8] {
        guard case .mapping(let entries, _) = document.tree, let data = entries.first(where: { $0.key == "data" }), case .scalar(let scalar) = data.value else {
            // sops: "No binary data found in tree".
            throw .notSOPS("a binary SOPS file holds its content under \"data\", and this one has none")
        }
        let key = SymmetricKey(data: dataKey)
        let metadata = document.metadata
        let encrypted = FlatRules(metadata).shouldBeEncrypted([Array("data".utf8)])
        var plaintext = Array(scalar.text.utf8)
        if encrypted, !plaintext.isEmpty {
            let value: EncryptedValue?
            do { value = try EncryptedValue(parsing: scalar.text) } catch {
                throw .malformedValue(path: "data:", detail: error.description, line: scalar.position?.line)
            }
            guard let value else {
                throw .malformedValue(path: "data:", detail: "the value is not encrypted although the file's rules say it is", line: scalar.position?.line)
            }
            do { plaintext = try value.decrypt(key: key, additionalBytes: Array("data:".utf8)) } catch {
                throw .valueAuthenticationFailed(path: "data:", line: scalar.position?.line)
            }
        }
        var hash = SHA512()
        if metadata.macOnlyEncrypted { hash.update(data: SOPSDecryptor.macOnlyEncryptedSeed) }
        if !metadata.macOnlyEncrypted || encrypted { hash.update(data: plaintext) }
        try SOPSDecryptor.checkMAC(hash, metadata: metadata, key: key)
        return plaintext
    }
}
