import Crypto
import Foundation

/// The X25519 recipient stanza: `-> X25519 <ephemeral share>` and the wrapped file key.
enum X25519Stanza {
    static let type = "X25519"
    static let label = "age-encryption.org/v1/X25519"

    /// The file key, or nil when the stanza was not made for this identity. A stanza that is
    /// malformed for its type, or whose share gives the all-zero shared secret, is an error.
    static func unwrap(_ stanza: AgeHeader.Stanza, with identity: X25519Identity) throws(AgeError) -> [UInt8]? {
        guard stanza.arguments.count == 1 else { throw .header("an X25519 stanza must have exactly one argument") }
        guard let share = StrictBase64.decode(Array(stanza.arguments[0].utf8), padded: false), share.count == 32 else {
            throw .header("an X25519 stanza's share is not 32 bytes of canonical base64")
        }
        guard stanza.body.count == 32 else { throw .header("an X25519 stanza's body is not 32 bytes") }
        guard let secret = try? sharedSecret(identity: identity, share: share) else {
            throw .header("an X25519 stanza's share is not a valid point")
        }
        // swift-crypto on Linux does not reject a low-order share: the spec requires it.
        guard secret.contains(where: { $0 != 0 }) else { throw .header("an X25519 stanza's share is a low-order point") }
        let salt = share + identity.recipient.publicKey
        let wrapKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: salt, info: Array(label.utf8), outputByteCount: 32)
        guard let box = try? ChaChaPoly.SealedBox(combined: zeroNonce + stanza.body),
            let fileKey = try? ChaChaPoly.open(box, using: wrapKey)
        else { return nil }
        guard fileKey.count == 16 else { throw .header("an X25519 stanza wraps a file key that is not 16 bytes") }
        return Array(fileKey)
    }

    /// Wraps a file key for a recipient (used by encryption).
    static func wrap(_ fileKey: [UInt8], for recipient: X25519Recipient) throws -> AgeHeader.Stanza {
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let share = Array(ephemeral.publicKey.rawRepresentation)
        let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: recipient.publicKey)
        let secret = try ephemeral.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
        guard secret.contains(where: { $0 != 0 }) else { throw AgeError.header("the recipient is a low-order point") }
        let wrapKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: share + recipient.publicKey, info: Array(label.utf8),
            outputByteCount: 32)
        let sealed = try ChaChaPoly.seal(fileKey, using: wrapKey, nonce: ChaChaPoly.Nonce(data: zeroNonce))
        return AgeHeader.Stanza(type: type, arguments: [StrictBase64.encode(share, padded: false)], body: Array(sealed.ciphertext + sealed.tag))
    }

    static let zeroNonce = [UInt8](repeating: 0, count: 12)

    private static func sharedSecret(identity: X25519Identity, share: [UInt8]) throws -> [UInt8] {
        let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: share)
        return try identity.privateKey.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
    }
}
