import Crypto
import Foundation

/// age v1 files with X25519 recipients: decryption (armored or binary) and encryption.
public enum AgeFile {
    /// Decrypts a whole file.
    public static func decrypt(_ file: some Collection<UInt8>, identities: [X25519Identity]) throws(AgeError) -> [UInt8] {
        var plaintext: [UInt8] = []
        try decrypt(file, identities: identities, into: &plaintext)
        return plaintext
    }

    /// Decrypts into `plaintext`; on a payload error, what was authenticated before it stays there.
    /// `armored` says whether the file is in ASCII armor; nil looks at its first bytes.
    public static func decrypt(
        _ file: some Collection<UInt8>, identities: [X25519Identity], armored: Bool? = nil, into plaintext: inout [UInt8]
    ) throws(AgeError) {
        let bytes = armored ?? AgeArmor.isArmored(file) ? try AgeArmor.decode(file) : Array(file)
        let header = try AgeHeader(parsing: bytes)
        let fileKey = try unwrapFileKey(header, identities: identities)
        let macKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: fileKey), salt: [UInt8](), info: Array("header".utf8), outputByteCount: 32)
        guard HMAC<SHA256>.isValidAuthenticationCode(header.mac, authenticating: header.macInput, using: macKey) else {
            throw .headerMAC
        }
        try AgePayload.decrypt(bytes[header.payloadOffset...], fileKey: fileKey, into: &plaintext)
    }

    /// The recipients named by a file's X25519 stanzas (they are not in the file: only the
    /// ephemeral shares are). Returns the stanza types instead, for messages.
    public static func stanzaTypes(_ file: some Collection<UInt8>) throws(AgeError) -> [String] {
        let bytes = AgeArmor.isArmored(file) ? try AgeArmor.decode(file) : Array(file)
        return try AgeHeader(parsing: bytes).stanzas.map(\.type)
    }

    static func unwrapFileKey(_ header: AgeHeader, identities: [X25519Identity]) throws(AgeError) -> [UInt8] {
        if header.stanzas.contains(where: { $0.type == "scrypt" }) && header.stanzas.count > 1 {
            throw .header("an scrypt stanza must be the only one")
        }
        for stanza in header.stanzas {
            for identity in identities {
                if stanza.type == X25519Stanza.type, identity.ssh == nil, let fileKey = try X25519Stanza.unwrap(stanza, with: identity) { return fileKey }
                if stanza.type == SSHEd25519Stanza.type, let key = identity.ssh, let fileKey = try SSHEd25519Stanza.unwrap(stanza, with: identity, key: key) { return fileKey }
            }
        }
        throw .noMatch(recipients: [])
    }

    /// Encrypts to X25519 recipients; `armored` gives the PEM form SOPS stores.
    public static func encrypt(_ plaintext: some Collection<UInt8>, to recipients: [X25519Recipient], armored: Bool) throws -> [UInt8] {
        guard !recipients.isEmpty else { throw AgeError.header("no recipient") }
        let fileKey = (0..<16).map { _ in UInt8.random(in: 0...255) }
        var header = Array((AgeHeader.versionLine + "\n").utf8)
        for recipient in recipients {
            let stanza = try X25519Stanza.wrap(fileKey, for: recipient)
            header += Array(("-> " + ([stanza.type] + stanza.arguments).joined(separator: " ") + "\n").utf8)
            let body = StrictBase64.encode(stanza.body, padded: false)
            var rest = Substring(body)
            repeat {
                header += Array((String(rest.prefix(64)) + "\n").utf8)
                let full = rest.count >= 64
                rest = rest.dropFirst(64)
                if !full { break }
                if rest.isEmpty { header += Array("\n".utf8); break }
            } while true
        }
        header += Array("---".utf8)
        let macKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: fileKey), salt: [UInt8](), info: Array("header".utf8), outputByteCount: 32)
        let mac = Array(HMAC<SHA256>.authenticationCode(for: header, using: macKey))
        header += Array((" " + StrictBase64.encode(mac, padded: false) + "\n").utf8)
        let file = header + (try AgePayload.encrypt(Array(plaintext), fileKey: fileKey))
        return armored ? Array(AgeArmor.encode(file).utf8) : file
    }
}
