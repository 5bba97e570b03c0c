import Crypto
import Foundation

/// An age X25519 recipient: `age1…`, the public half.
public struct X25519Recipient: Sendable, Hashable, CustomStringConvertible {
    public let publicKey: [UInt8]

    public init(publicKey: [UInt8]) { self.publicKey = publicKey }

    public init(parsing text: String) throws(AgeKeyError) {
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(text) } catch { throw .malformed(reason: error.description) }
        guard decoded.hrp == "age" else {
            throw .malformed(reason: "it starts with '\(decoded.hrp)1', an age X25519 recipient starts with 'age1'")
        }
        guard decoded.data.count == 32 else { throw .malformed(reason: "it holds \(decoded.data.count) bytes, not 32") }
        publicKey = decoded.data
    }

    public var description: String { Bech32.encode(hrp: "age", data: publicKey) }
}

/// An age X25519 identity: `AGE-SECRET-KEY-1…`. Its `description` never shows the key.
public struct X25519Identity: Sendable, Hashable, CustomStringConvertible {
    let secretKey: [UInt8]
    public let recipient: X25519Recipient
    /// The key object, made once: swift-crypto derives the public key whenever one is made from
    /// raw bytes (a scalar multiplication as costly as the key agreement itself), which per
    /// file was a quarter of a preflight's time.
    let privateKey: Curve25519.KeyAgreement.PrivateKey

    /// Set when the identity is an SSH Ed25519 key (`init(openSSHPrivateKey:)`): it then opens
    /// `ssh-ed25519` stanzas, not `X25519` ones.
    public let ssh: SSHEd25519Key?

    /// The recipient it opens files for, as sops names it: `age1…`, or `ssh-ed25519 AAAA…`.
    public var name: String { ssh?.recipient ?? recipient.description }

    public init(secretKey: [UInt8]) throws(AgeKeyError) {
        try self.init(secretKey: secretKey, ssh: nil)
    }

    init(secretKey: [UInt8], ssh: SSHEd25519Key?) throws(AgeKeyError) {
        self.ssh = ssh
        guard secretKey.count == 32 else { throw .malformed(reason: "it holds \(secretKey.count) bytes, not 32") }
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secretKey) else {
            throw .malformed(reason: "it is not an X25519 scalar")
        }
        self.secretKey = secretKey
        privateKey = key
        recipient = X25519Recipient(publicKey: Array(key.publicKey.rawRepresentation))
    }

    public static func == (lhs: X25519Identity, rhs: X25519Identity) -> Bool { lhs.secretKey == rhs.secretKey }
    public func hash(into hasher: inout Hasher) { hasher.combine(secretKey) }

    public init(parsing text: String) throws(AgeKeyError) {
        guard text.hasPrefix("AGE-SECRET-KEY-1") else {
            if text.hasPrefix("age-secret-key-1") {
                throw .malformed(reason: "it is in lower case; age identities are written in upper case (AGE-SECRET-KEY-1…)")
            }
            if text.hasPrefix("age1") { throw .malformed(reason: "it is a recipient (public key), not an identity") }
            throw .malformed(reason: "an age identity starts with AGE-SECRET-KEY-1")
        }
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(text) } catch { throw .malformed(reason: error.description) }
        try self.init(secretKey: decoded.data)
    }

    /// A new random identity.
    public static func generate() -> X25519Identity {
        let key = Curve25519.KeyAgreement.PrivateKey()
        return try! X25519Identity(secretKey: Array(key.rawRepresentation))
    }

    /// The identity as age writes it. This is secret: mask it before printing anything.
    public var encoded: String { Bech32.encode(hrp: "AGE-SECRET-KEY-", data: secretKey).uppercased() }

    public var description: String { "age identity for \(name)" }
}

public enum AgeKeyError: Error, Equatable, CustomStringConvertible {
    case malformed(reason: String)

    public var description: String {
        switch self {
        case .malformed(let reason): "not a valid age key: \(reason)"
        }
    }
}

/// Identities in age's keys.txt form: one per line, `#` comments and blank lines ignored.
public enum AgeIdentityFile {
    public struct Entry: Sendable {
        public var identity: X25519Identity
        public var line: Int
    }

    public struct LineError: Error, CustomStringConvertible {
        public var line: Int
        public var error: AgeKeyError
        public var description: String { "line \(line): \(error)" }
    }

    /// Lines as age's `ParseIdentities` reads them (and sops, for SOPS_AGE_KEY and key files):
    /// split at `\n` with one `\r` before it dropped (bufio.ScanLines, so CRLF files work), empty
    /// lines and lines starting with `#` skipped, every other line exactly one identity. Spaces
    /// or tabs around an identity are refused, as age 1.1 and sops 3.11 refuse them ("unknown
    /// identity type"): a key file fluxci accepts is one Flux's kustomize-controller accepts.
    public static func parse(_ text: String) throws(LineError) -> [Entry] {
        var entries: [Entry] = []
        // Bytes, not Characters: Swift reads "\r\n" as one Character, which `split("\n")` misses.
        let lines = Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            var bytes = raw
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            let line = String(decoding: bytes, as: UTF8.self)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed != line, !trimmed.isEmpty, !trimmed.hasPrefix("#") {
                throw LineError(line: index + 1, error: .malformed(reason: "it has spaces, tabs or a stray carriage return around the key, which age and sops refuse; remove them"))
            }
            if trimmed.isEmpty {
                throw LineError(line: index + 1, error: .malformed(reason: "it holds only spaces or tabs, which age and sops refuse; make it empty"))
            }
            if trimmed.hasPrefix("#") {
                throw LineError(line: index + 1, error: .malformed(reason: "it is a comment with spaces before the #, which age and sops refuse; start the line with #"))
            }
            do {
                entries.append(Entry(identity: try X25519Identity(parsing: line), line: index + 1))
            } catch {
                throw LineError(line: index + 1, error: error)
            }
        }
        return entries
    }
}
