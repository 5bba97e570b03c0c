import Crypto
import Foundation
import GPG

/// `sops rotate` and `sops updatekeys` for a file in any store (getsops/sops
/// `cmd/sops/rotate.go`, `cmd/sops/subcommand/updatekeys`): the file is loaded by the store its
/// name selects (`LoadEncryptedFile`) and written back by the same store (`EmitEncryptedFile`),
/// so a dotenv, ini or binary file keeps its store, its items, comments and order as sops keeps
/// them (a dotenv file's empty lines are dropped, an ini file is written in go-ini's layout, as
/// sops writes them).
extension StoredSOPSFile {
    /// The outcome of `rotated`: the new file and every decrypted value (to mask).
    public struct Rotation: Sendable {
        public var bytes: [UInt8]
        public var secretValues: [[UInt8]]
    }

    /// `sops rotate`: decrypted with `keys` (MAC checked), encrypted again under a fresh data key
    /// for `recipients` with the file's rule and `mac_only_encrypted`.
    public func rotated(
        with keys: KeyChain, for recipients: Recipients, keyring: Keyring?, now: Date = Date(),
        dataKey: [UInt8] = (0..<32).map { _ in UInt8.random(in: 0...255) }
    ) throws(SOPSKeyUpdate.Failure) -> Rotation {
        let metadata = self.metadata
        func encrypting<T>(_ body: () throws(EncryptionError) -> T) throws(SOPSKeyUpdate.Failure) -> T {
            do { return try body() } catch { throw .encryption(error) }
        }
        switch content {
        case .tree(let file) where output == .binary:
            let plaintext: [UInt8]
            do { plaintext = try BinaryStore.decrypt(file, with: keys) } catch { throw .decryption(error) }
            let bytes = try encrypting { () throws(EncryptionError) in try FlatEncryption.binary(plaintext, recipients: recipients, keyring: keyring, now: now, dataKey: dataKey, rule: metadata.encryptionRule) }
            return Rotation(bytes: bytes, secretValues: [plaintext])
        case .tree(let file):
            let documents: [DecryptedDocument]
            do { documents = try SOPSDecryptor.decrypt(file, with: keys) } catch { throw .decryption(error) }
            let text = try encrypting { () throws(EncryptionError) in
                try SOPSEncryptor.encrypt(
                    documents.map(\.tree), format: file.format, recipients: recipients, rule: metadata.encryptionRule, macOnlyEncrypted: metadata.macOnlyEncrypted,
                    keyring: keyring, now: now, dataKey: dataKey)
            }
            return Rotation(bytes: Array(text.utf8), secretValues: documents.flatMap { $0.secretValues.map { Array($0.utf8) } })
        case .flat(let document):
            let decrypted: FlatDocument.Decrypted
            do { decrypted = try document.decrypt(with: keys) } catch { throw .decryption(error) }
            let bytes = try encrypting { () throws(EncryptionError) in
                try FlatEncryption.encrypt(
                    items: decrypted.items, format: output, recipients: recipients, rule: metadata.encryptionRule, macOnlyEncrypted: metadata.macOnlyEncrypted,
                    keyring: keyring, now: now, dataKey: dataKey)
            }
            return Rotation(bytes: bytes, secretValues: decrypted.secretValues)
        }
    }

    /// `sops updatekeys`: the same data key wrapped for `recipients`, every item, the MAC,
    /// `lastmodified` and `version` kept; nil when the key groups already name `recipients`.
    public func updatingKeys(to recipients: Recipients, with keys: KeyChain, keyring: Keyring?, now: Date = Date()) throws(SOPSKeyUpdate.Failure) -> [UInt8]? {
        switch content {
        case .tree(let file):
            return try SOPSKeyUpdate.updateKeys(file, to: recipients, with: keys, keyring: keyring, now: now).map { Array($0.utf8) }
        case .flat(let document):
            guard let metadata = try SOPSKeyUpdate.metadataNode(document.metadata, to: recipients, with: keys, keyring: keyring, now: now, format: .yaml) else { return nil }
            return FlatEncryption.emit(document.items, metadata: metadata, format: output)
        }
    }
}
