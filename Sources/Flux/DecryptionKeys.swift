import Foundation
import SOPS

/// What the run's keys put into the decryption Secrets the pipeline creates, for the checks that
/// depend on which keys were given (tester t9 F12): a Kustomization naming a Secret the pipeline
/// does not create, variables from a SOPS-encrypted Secret that did not decrypt. Without it
/// (nil) the checks only know the Secrets' names.
public struct DecryptionKeys: Sendable {
    /// A kind of key whose only sources were skipped (a key file git-crypt holds locked, a key
    /// file that does not exist): the Secret it would have made is not created.
    public struct Skipped: Sendable, Equatable {
        /// "the age key that would create sops-age was skipped (.secrets/kind/local/age/age.agekey is locked by git-crypt)".
        public var why: String
        /// "Run `git-crypt unlock` in the repository, or pass SOPS_AGE_KEY."
        public var fix: String
        public init(why: String, fix: String) {
            self.why = why
            self.fix = fix
        }
    }

    /// Per Secret name the pipeline creates, the keys it holds: age recipients (`age1…`) and PGP
    /// fingerprints (primary keys and subkeys, upper-case).
    public var held: [String: Set<String>]
    /// Per Secret name the pipeline would create but for a skipped key source.
    public var skipped: [String: Skipped]

    public init(held: [String: Set<String>], skipped: [String: Skipped] = [:]) {
        self.held = held
        self.skipped = skipped
    }

    /// Whether one of `keys` is a recipient of the file's `metadata`. A PGP recipient matches a
    /// held fingerprint that ends with it (sops writes a primary key's or a subkey's, in full or
    /// as a long key ID). Shamir thresholds are not weighed: this says which Secret can be the
    /// one, the SOPS preflight decides whether it decrypts.
    static func opens(_ keys: Set<String>, _ metadata: Metadata) -> Bool {
        func held(_ key: Metadata.MasterKey) -> Bool {
            switch key {
            case .age(let recipient, _): keys.contains(recipient)
            case .pgp(let fingerprint, _):
                !fingerprint.isEmpty && keys.contains { $0.hasSuffix(fingerprint.uppercased().replacingOccurrences(of: " ", with: "")) }
            case .other: false
            }
        }
        // With key groups the data key is split (Shamir): a key of each of `shamir_threshold`
        // groups is needed, all of them when it is not set (sops: threshold 0 means
        // len(key_groups)); tester t14 F7.
        let groups = metadata.keyGroups.filter { !$0.isEmpty }
        guard groups.count > 1 else { return metadata.allKeys.contains(where: held) }
        let threshold = metadata.shamirThreshold.flatMap { $0 > 0 ? $0 : nil } ?? groups.count
        return groups.filter { $0.contains(where: held) }.count >= threshold
    }
}

/// A decryption that failed, as the `Decrypt` closure of `ClusterTreeReader.read` may throw it:
/// why (without any secret) and what to do. Any other error is reported by its description.
public struct DecryptFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var fix: String
    public init(reason: String, fix: String) {
        self.reason = reason
        self.fix = fix
    }
    public var description: String { reason }
}
