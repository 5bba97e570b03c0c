import Age
import Crypto
import Foundation
import GPG

/// The keys a run holds to recover SOPS data keys: age identities (native) and gpgme keyrings
/// (the run's private one, and the user's own GnuPG home used in place beside it).
public struct KeyChain: Sendable {
    public var ageIdentities: [X25519Identity]
    public var keyring: Keyring?
    /// Further keyrings whose secret keys are tried too (the user's GnuPG home beside the run's).
    public var otherKeyrings: [Keyring]
    /// Fingerprints (primary and subkeys, upper case) of the keyrings' secret keys.
    public var pgpFingerprints: Set<String>
    /// The keyring holding each fingerprint of `pgpFingerprints`.
    var holders: [String: Keyring]

    public init(ageIdentities: [X25519Identity], keyring: Keyring?, otherKeyrings: [Keyring] = []) {
        self.ageIdentities = ageIdentities
        self.keyring = keyring
        self.otherKeyrings = otherKeyrings
        var holders: [String: Keyring] = [:]
        for ring in ([keyring].compactMap { $0 } + otherKeyrings) {
            for key in (try? ring.secretKeys()) ?? [] {
                if holders[key.fingerprint.uppercased()] == nil { holders[key.fingerprint.uppercased()] = ring }
                for subkey in key.subkeys where subkey.hasSecret && holders[subkey.fingerprint.uppercased()] == nil {
                    holders[subkey.fingerprint.uppercased()] = ring
                }
            }
        }
        self.holders = holders
        pgpFingerprints = Set(holders.keys)
    }

    public var ageRecipients: [String] { ageIdentities.map(\.name) }

    /// Whether this chain holds the secret for a master key (without trying it).
    public func holds(_ key: Metadata.MasterKey) -> Bool {
        switch key {
        // An SSH recipient may carry a comment after the key (`ssh-ed25519 AAAA… user@host`).
        case .age(let recipient, _): ageRecipients.contains(recipient) || ageRecipients.contains(recipient.split(separator: " ").prefix(2).joined(separator: " "))
        case .pgp(let fingerprint, _): holdsPGP(fingerprint)
        case .other: false
        }
    }

    func holdsPGP(_ fingerprint: String) -> Bool { holder(of: fingerprint) != nil }

    /// The keyring with the secret key of a fingerprint (or of a key id, its last hex digits).
    func holder(of fingerprint: String) -> Keyring? {
        let wanted = fingerprint.uppercased().replacingOccurrences(of: " ", with: "")
        guard !wanted.isEmpty else { return nil }
        if let exact = holders[wanted] { return exact }
        return holders.first { $0.key.hasSuffix(wanted) }?.value
    }
}

/// One master key tried, and why it did not give the data key.
public struct KeyAttempt: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { "\(key): \(reason)" }
}

enum DataKeyRecovery {
    /// The 32-byte data key: from any key of a single group, or from `shamir_threshold` groups'
    /// shares. Age keys are tried before PGP ones (no process to start).
    static func recover(_ metadata: Metadata, with keys: KeyChain) throws(DecryptionError) -> [UInt8] {
        var attempts: [KeyAttempt] = []
        var shares: [[UInt8]] = []
        let needed = metadata.keyGroups.count == 1 ? 1 : (metadata.shamirThreshold ?? metadata.keyGroups.count)
        for group in metadata.keyGroups {
            if let part = groupSecret(group, keys: keys, attempts: &attempts) { shares.append(part) }
            if shares.count >= needed { break }
        }
        if metadata.keyGroups.count == 1 {
            guard let key = shares.first else { throw .dataKeyNotRecoverable(attempts: attempts, groupsOpened: 0, groupsNeeded: 1) }
            guard key.count == 32 else { throw .dataKeyNotRecoverable(attempts: attempts + [KeyAttempt(key: "data key", reason: "it is \(key.count) bytes, not 32")], groupsOpened: 1, groupsNeeded: 1) }
            return key
        }
        guard shares.count >= needed else {
            throw .dataKeyNotRecoverable(attempts: attempts, groupsOpened: shares.count, groupsNeeded: needed)
        }
        let combined: [UInt8]
        do {
            combined = try Shamir.combine(Array(shares.prefix(needed)))
        } catch {
            throw .dataKeyNotRecoverable(attempts: attempts + [KeyAttempt(key: "key groups", reason: "the Shamir shares do not combine (\(error))")], groupsOpened: shares.count, groupsNeeded: needed)
        }
        guard combined.count == 32 else {
            throw .dataKeyNotRecoverable(attempts: attempts + [KeyAttempt(key: "key groups", reason: "the combined key is \(combined.count) bytes, not 32")], groupsOpened: shares.count, groupsNeeded: needed)
        }
        return combined
    }

    private static func groupSecret(_ group: [Metadata.MasterKey], keys: KeyChain, attempts: inout [KeyAttempt]) -> [UInt8]? {
        let ordered = group.filter { if case .age = $0 { true } else { false } } + group.filter { if case .age = $0 { false } else { true } }
        for key in ordered {
            switch key {
            case .age(let recipient, let encryptedKey):
                guard !keys.ageIdentities.isEmpty else {
                    attempts.append(KeyAttempt(key: recipient, reason: "no age identity was imported"))
                    continue
                }
                do {
                    return try AgeFile.decrypt(Array(encryptedKey.utf8), identities: keys.ageIdentities)
                } catch .noMatch {
                    attempts.append(KeyAttempt(key: recipient, reason: "none of the imported age identities (\(keys.ageRecipients.joined(separator: ", "))) is its identity"))
                } catch {
                    attempts.append(KeyAttempt(key: recipient, reason: "\(error)"))
                }
            case .pgp(let fingerprint, let encryptedKey):
                guard let keyring = keys.holder(of: fingerprint) else {
                    attempts.append(KeyAttempt(key: "pgp \(fingerprint)", reason: "its secret key was not imported"))
                    continue
                }
                do {
                    return Array(try keyring.decrypt(Data(encryptedKey.utf8)))
                } catch {
                    attempts.append(KeyAttempt(key: "pgp \(fingerprint)", reason: "\(error)"))
                }
            case .other(let kind, let identifier):
                attempts.append(KeyAttempt(key: "\(kind) \(identifier)", reason: "\(kind) keys are not supported by fluxci"))
            }
        }
        return nil
    }
}

extension KeyChain {
    /// Whether these keys recover the data key of a file with `metadata`, tried as decryption
    /// tries them (every key stanza with every identity, key groups and their threshold
    /// weighed); throws `.dataKeyNotRecoverable` with each key tried when they do not. The key
    /// itself never leaves: for checks that must know which keys open a file without opening it
    /// (the keys of a decryption Secret the repository applies).
    public func recoverDataKey(_ metadata: Metadata) throws(DecryptionError) {
        _ = try DataKeyRecovery.recover(metadata, with: self)
    }
}
