import CGPGME
import Foundation

/// What a keyring says about one OpenPGP key.
public struct KeyInfo: Sendable, Equatable, Codable {
    public struct UserID: Sendable, Equatable, Codable {
        public var uid: String
        public var name: String
        public var email: String
        public var revoked: Bool
    }

    public struct Subkey: Sendable, Equatable, Codable {
        public var fingerprint: String
        public var keyID: String
        public var algorithm: String
        public var length: Int
        public var canEncrypt: Bool
        public var canSign: Bool
        public var canCertify: Bool
        public var created: Date?
        /// nil: never expires.
        public var expires: Date?
        public var expired: Bool
        public var revoked: Bool
        public var disabled: Bool
        public var invalid: Bool
        /// The secret part is in the keyring (not a stub).
        public var hasSecret: Bool

        /// Capabilities as gpg shows them: S, C, E.
        public var capabilities: String {
            (canSign ? "S" : "") + (canCertify ? "C" : "") + (canEncrypt ? "E" : "")
        }

        /// Usable to decrypt a SOPS data key.
        /// Whether gpg decrypts with it. Expiry does not count: gpg (and so sops and Flux)
        /// decrypts with an expired key; expiry only stops encrypting to it.
        public var decrypts: Bool { canEncrypt && hasSecret && !revoked && !disabled && !invalid }
    }

    public var fingerprint: String
    public var keyID: String
    public var userIDs: [UserID]
    public var subkeys: [Subkey]
    public var hasSecret: Bool
    public var expired: Bool
    public var revoked: Bool

    public var primaryUserID: UserID? { userIDs.first { !$0.revoked } ?? userIDs.first }

    /// Why SOPS could not decrypt with this key, or nil when some subkey can. An expired key or
    /// subkey still decrypts (gpg's rule): that is `expiry`, a warning, not a problem.
    public var decryptionProblem: String? {
        if !hasSecret { return "the keyring holds only its public part" }
        if revoked { return "the key is revoked" }
        if subkeys.contains(where: \.decrypts) { return nil }
        let encrypting = subkeys.filter(\.canEncrypt)
        if encrypting.isEmpty { return "it has no encryption subkey (capabilities: \(subkeys.map(\.capabilities).joined(separator: ", ")))" }
        let reasons = encrypting.map { subkey -> String in
            if subkey.expired { return "\(subkey.keyID) expired\(subkey.expires.map { " on \(Self.day($0))" } ?? "")" }
            if subkey.revoked { return "\(subkey.keyID) is revoked" }
            if !subkey.hasSecret { return "\(subkey.keyID) has no secret part" }
            return "\(subkey.keyID) is disabled or invalid"
        }
        return "no encryption subkey is usable: " + reasons.joined(separator: "; ")
    }

    /// What expired so that nothing can be encrypted to this key any more (the primary key, or
    /// every encryption subkey), or nil. Files already encrypted to it still decrypt.
    public var expiry: String? {
        if expired || subkeys.first?.expired == true {
            return "the key expired" + (subkeys.first?.expires.map { " on \(Self.day($0))" } ?? "")
        }
        let encrypting = subkeys.dropFirst().filter { $0.canEncrypt && !$0.revoked }
        guard !encrypting.isEmpty, encrypting.allSatisfy(\.expired) else { return nil }
        return encrypting.map { "its encryption subkey \($0.fingerprint) expired" + ($0.expires.map { " on \(Self.day($0))" } ?? "") }.joined(separator: "; ")
    }

    /// The gpg commands that extend what expired by a year, naming each expired subkey by its
    /// fingerprint (`gpg --quick-set-expire FPR 1y '*'` would extend only unexpired subkeys, and
    /// a bare `FPR 1y` only the primary key).
    public var extendExpiryCommands: [String] {
        var commands: [String] = []
        if expired || subkeys.first?.expired == true { commands.append("gpg --quick-set-expire \(fingerprint) 1y") }
        let expiredSubkeys = subkeys.dropFirst().filter { $0.expired && !$0.revoked }.map(\.fingerprint)
        if !expiredSubkeys.isEmpty { commands.append("gpg --quick-set-expire \(fingerprint) 1y \(expiredSubkeys.joined(separator: " "))") }
        return commands
    }

    /// A date as `2026-11-29`, for messages and tables.
    public static func day(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: date)
    }

    init(_ key: gpgme_key_t) {
        let pointer = key.pointee
        var userIDs: [UserID] = []
        var uid = pointer.uids
        while let current = uid {
            userIDs.append(UserID(
                uid: current.pointee.uid.map { String(cString: $0) } ?? "",
                name: current.pointee.name.map { String(cString: $0) } ?? "",
                email: current.pointee.email.map { String(cString: $0) } ?? "",
                revoked: current.pointee.revoked != 0))
            uid = current.pointee.next
        }
        var subkeys: [Subkey] = []
        var sub = pointer.subkeys
        while let current = sub {
            let s = current.pointee
            subkeys.append(Subkey(
                fingerprint: s.fpr.map { String(cString: $0) } ?? "",
                keyID: s.keyid.map { String(cString: $0) } ?? "",
                algorithm: gpgme_pubkey_algo_name(s.pubkey_algo).map { String(cString: $0) } ?? "unknown",
                length: Int(s.length),
                canEncrypt: s.can_encrypt != 0, canSign: s.can_sign != 0, canCertify: s.can_certify != 0,
                created: s.timestamp > 0 ? Date(timeIntervalSince1970: TimeInterval(s.timestamp)) : nil,
                expires: s.expires > 0 ? Date(timeIntervalSince1970: TimeInterval(s.expires)) : nil,
                expired: s.expired != 0, revoked: s.revoked != 0, disabled: s.disabled != 0, invalid: s.invalid != 0,
                hasSecret: s.secret != 0))
            sub = s.next
        }
        fingerprint = pointer.fpr.map { String(cString: $0) } ?? subkeys.first?.fingerprint ?? ""
        keyID = subkeys.first?.keyID ?? String(fingerprint.suffix(16))
        self.userIDs = userIDs
        self.subkeys = subkeys
        hasSecret = pointer.secret != 0
        expired = pointer.expired != 0
        revoked = pointer.revoked != 0
    }
}
