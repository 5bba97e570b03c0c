import Crypto
import Foundation

/// An OpenSSH Ed25519 key as an age identity, as age's `agessh` package uses it (FiloSottile/age
/// agessh/agessh.go `Ed25519Identity`), and as sops 3.10+ reads it (getsops/sops age/keysource.go
/// `loadAgeSSHIdentities`: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else `~/.ssh/id_ed25519`).
///
/// The X25519 scalar is the first 32 bytes of SHA-512 of the Ed25519 seed; the stanza is
/// `-> ssh-ed25519 <tag> <share>`, the tag the first 4 bytes of SHA-256 of the key's SSH wire
/// form; the shared secret is X25519(scalar, share) multiplied again by a tweak,
/// HKDF-SHA256(ikm empty, salt the wire key, info "age-encryption.org/v1/ssh-ed25519"); the wrap
/// key is HKDF-SHA256(that secret, salt share ‖ our X25519 public key, the same info).
public struct SSHEd25519Key: Sendable, Hashable {
    /// The stanza tag this key answers to.
    let tag: String
    /// The tweak scalar derived from the public key.
    let tweak: [UInt8]
    /// The recipient as sops and age write it: `ssh-ed25519 AAAA…` (no comment).
    public let recipient: String

    static let label = "age-encryption.org/v1/ssh-ed25519"

    init(publicKey: [UInt8]) {
        let wire = Self.sshString(Array("ssh-ed25519".utf8)) + Self.sshString(publicKey)
        tag = StrictBase64.encode(Array(SHA256.hash(data: wire)).prefix(4), padded: false)
        tweak = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: [UInt8]()), salt: wire, info: Array(Self.label.utf8), outputByteCount: 32)
            .withUnsafeBytes { Array($0) }
        recipient = "ssh-ed25519 " + Data(wire).base64EncodedString()
    }

    static func sshString(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)] + bytes
    }
}

extension X25519Identity {
    /// An identity from an OpenSSH private key file's text (`-----BEGIN OPENSSH PRIVATE KEY-----`,
    /// as `ssh-keygen -t ed25519` writes it). Only unencrypted Ed25519 keys: a key protected by a
    /// passphrase (sops asks for it on the terminal) and RSA keys are refused with the reason.
    public init(openSSHPrivateKey text: String) throws(AgeKeyError) {
        let begin = "-----BEGIN OPENSSH PRIVATE KEY-----", end = "-----END OPENSSH PRIVATE KEY-----"
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") { throw .malformed(reason: "it is an RSA key, which fluxci cannot use as an age identity (use an ed25519 SSH key or an age key)") }
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else {
            throw .malformed(reason: "it is not an OpenSSH private key (no \(begin) block)")
        }
        let body = text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let decoded = Data(base64Encoded: String(body)) else { throw .malformed(reason: "its OpenSSH block is not base64") }
        var reader = SSHReader(bytes: Array(decoded))
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard reader.bytes.starts(with: magic) else { throw .malformed(reason: "it is not in the openssh-key-v1 format") }
        reader.offset = magic.count
        guard let cipher = reader.string(), let _ = reader.string(), let _ = reader.string(), let count = reader.uint32(), count == 1, let _ = reader.string(),
            let privateSection = reader.string()
        else { throw .malformed(reason: "its openssh-key-v1 structure is truncated") }
        guard cipher.elementsEqual("none".utf8) else {
            throw .malformed(reason: "it is protected by a passphrase, which fluxci cannot ask for (sops asks on the terminal); remove it with `ssh-keygen -p` on a copy, or use an age key")
        }
        var section = SSHReader(bytes: privateSection)
        guard let check1 = section.uint32(), let check2 = section.uint32(), check1 == check2, let type = section.string() else {
            throw .malformed(reason: "its private section is malformed")
        }
        guard type.elementsEqual("ssh-ed25519".utf8) else {
            throw .malformed(reason: "it is a \(String(decoding: type, as: UTF8.self)) key; fluxci uses ssh-ed25519 keys as age identities (sops also reads ssh-rsa)")
        }
        guard let publicKey = section.string(), publicKey.count == 32, let secret = section.string(), secret.count == 64, Array(secret[32...]) == publicKey else {
            throw .malformed(reason: "its ssh-ed25519 key is malformed")
        }
        let scalar = Array(SHA512.hash(data: secret[0..<32]).prefix(32))
        try self.init(secretKey: scalar, ssh: SSHEd25519Key(publicKey: publicKey))
    }
}

struct SSHReader {
    var bytes: [UInt8]
    var offset = 0

    mutating func uint32() -> UInt32? {
        guard offset + 4 <= bytes.count else { return nil }
        defer { offset += 4 }
        return bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func string() -> [UInt8]? {
        guard let length = uint32().map(Int.init), offset + length <= bytes.count else { return nil }
        defer { offset += length }
        return Array(bytes[offset..<(offset + length)])
    }
}

/// The `ssh-ed25519` stanza (agessh `Ed25519Identity.Unwrap`).
enum SSHEd25519Stanza {
    static let type = "ssh-ed25519"

    /// The file key, or nil when the stanza's tag is another key's. A malformed stanza, or one
    /// with this key's tag that does not open, is an error (age fails the file too).
    static func unwrap(_ stanza: AgeHeader.Stanza, with identity: X25519Identity, key: SSHEd25519Key) throws(AgeError) -> [UInt8]? {
        guard stanza.arguments.count == 2 else { throw .header("an ssh-ed25519 stanza must have exactly two arguments") }
        guard let share = StrictBase64.decode(Array(stanza.arguments[1].utf8), padded: false), share.count == 32 else {
            throw .header("an ssh-ed25519 stanza's share is not 32 bytes of canonical base64")
        }
        guard stanza.arguments[0] == key.tag else { return nil }
        do {
            let shared = try identity.privateKey.sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: share)).withUnsafeBytes { Array($0) }
            guard shared.contains(where: { $0 != 0 }) else { throw AgeError.header("an ssh-ed25519 stanza's share is a low-order point") }
            let tweaked = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: key.tweak)
                .sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: shared)).withUnsafeBytes { Array($0) }
            let wrapKey = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: tweaked), salt: share + identity.recipient.publicKey, info: Array(SSHEd25519Key.label.utf8), outputByteCount: 32)
            let box = try ChaChaPoly.SealedBox(combined: X25519Stanza.zeroNonce + stanza.body)
            let fileKey = try ChaChaPoly.open(box, using: wrapKey)
            guard fileKey.count == 16 else { throw AgeError.header("an ssh-ed25519 stanza wraps a file key that is not 16 bytes") }
            return Array(fileKey)
        } catch let error as AgeError {
            throw error
        } catch {
            throw .header("the ssh-ed25519 stanza for this key does not open: the file or the key is damaged")
        }
    }
}
