import CGPGME
import Foundation

/// Why a keyring operation failed, in terms a caller can turn into advice.
public enum KeyringError: Error, Equatable, CustomStringConvertible {
    /// gpgme or gpg itself does not work here.
    case unavailable(String)
    /// The input held no OpenPGP key at all (gpg reports success with nothing considered).
    case nothingImported
    case importFailed(String)
    /// A protected secret key and no passphrase.
    case passphraseRequired(fingerprint: String)
    case badPassphrase(fingerprint: String)
    case operationFailed(String)
    /// A directory that fluxci did not create as a keyring.
    case notAKeyring(String)

    public var description: String {
        switch self {
        case .unavailable(let detail): "GnuPG is not usable: \(detail)"
        case .nothingImported: "no OpenPGP key was found in the data"
        case .importFailed(let detail): "gpg could not import the key: \(detail)"
        case .passphraseRequired(let fingerprint): "the secret key \(fingerprint) is protected by a passphrase and none was given"
        case .badPassphrase(let fingerprint): "bad passphrase for the secret key \(fingerprint)"
        case .operationFailed(let detail): detail
        case .notAKeyring(let path): "\(path) is not a keyring created by fluxci"
        }
    }
}

/// The counters of one import, as gpg reports them.
public struct ImportResult: Sendable, Equatable {
    public var considered: Int
    public var imported: Int
    public var unchanged: Int
    public var secretRead: Int
    public var secretImported: Int
    public var secretUnchanged: Int
    public var notImported: Int
    /// Fingerprints of the keys gpg took (primary keys; a secret and a public record of one key
    /// appear once).
    public var fingerprints: [String]
}

/// A GnuPG home of fluxci's own, driven through gpgme: a short, mode-0700 directory under /tmp
/// (gpg-agent puts its sockets there, and a socket path has ~100 bytes at most), never the
/// user's `~/.gnupg`. `destroy()` stops its gpg-agent and removes it.
public final class Keyring: @unchecked Sendable {
    public let directory: URL
    /// False for a user's own GnuPG home, which fluxci only reads and never removes.
    public let isPrivate: Bool
    /// The gpgme context, made on first use: starting gpgme runs gpgconf and gpg several times
    /// (engine discovery), which a run with age keys only never needs (`sops verify` over
    /// hundreds of files pays it for nothing).
    private var contextStorage: gpgme_ctx_t?
    private let passphrase: PassphraseSource
    private let lock = NSLock()
    private var destroyed = false
    /// Made by `create()` in this process: no gpg-agent can run in it before gpgme first did.
    private let createdHere: Bool

    /// The file that marks a directory as a fluxci keyring, so cleanup never removes anything else.
    public static let markerName = ".fluxci-keyring"
    /// Where imported age identities are kept, beside the GnuPG files.
    public static let ageIdentitiesName = "age.agekey"

    private init(directory: URL, isPrivate: Bool, passphrase: String?, createdHere: Bool = false) throws(KeyringError) {
        self.directory = directory
        self.isPrivate = isPrivate
        self.passphrase = PassphraseSource(passphrase)
        self.createdHere = createdHere
    }

    private func makeContext() throws(KeyringError) -> gpgme_ctx_t {
        _ = GPGME.version
        var context: gpgme_ctx_t?
        do {
            try GPGME.check(gpgme_new(&context), "gpgme_new")
            guard let context else { throw KeyringError.unavailable("gpgme_new returned no context") }
            try GPGME.check(gpgme_set_protocol(context, GPGME_PROTOCOL_OpenPGP), "gpgme_set_protocol")
            try GPGME.check(
                gpgme_ctx_set_engine_info(context, GPGME_PROTOCOL_OpenPGP, nil, directory.path), "gpgme_ctx_set_engine_info")
            try GPGME.check(gpgme_set_pinentry_mode(context, GPGME_PINENTRY_MODE_LOOPBACK), "gpgme_set_pinentry_mode")
        } catch let failure as GPGME.Failure {
            if let context { gpgme_release(context) }
            throw .unavailable(failure.description)
        } catch {
            throw error as! KeyringError
        }
        gpgme_set_passphrase_cb(context!, PassphraseSource.callback, Unmanaged.passUnretained(passphrase).toOpaque())
        gpgme_set_armor(context!, 1)
        return context!
    }

    deinit { if let contextStorage { gpgme_release(contextStorage) } }

    /// A new, empty private keyring in `parent` (default /tmp). A parent path longer than 60
    /// bytes falls back to /tmp, since gpg-agent's socket path must stay short.
    public static func create(passphrase: String? = nil, in parent: String? = nil) throws(KeyringError) -> Keyring {
        let base = parent.flatMap { $0.isEmpty || $0.utf8.count > 60 ? nil : $0 } ?? "/tmp"
        var template = Array("\(base.hasSuffix("/") ? String(base.dropLast()) : base)/fluxci.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .unavailable("cannot create a directory under \(base): \(String(cString: strerror(errno)))")
        }
        let directory = URL(fileURLWithPath: String(cString: made))
        do {
            try Data().write(to: directory.appendingPathComponent(markerName))
            // Explicit, although it is gpg-agent's default: passphrases come through gpgme, never a pinentry window.
            try Data("allow-loopback-pinentry\n".utf8).write(to: directory.appendingPathComponent("gpg-agent.conf"))
            chmod(directory.path, 0o700)
            return try Keyring(directory: directory, isPrivate: true, passphrase: passphrase, createdHere: true)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            if let error = error as? KeyringError { throw error }
            throw .unavailable("cannot prepare \(directory.path): \(error.localizedDescription)")
        }
    }

    /// A keyring an earlier `create()` made (found again through the environment by a later step).
    public static func open(_ directory: URL, passphrase: String? = nil) throws(KeyringError) -> Keyring {
        guard isKeyring(directory) else { throw .notAKeyring(directory.path) }
        return try Keyring(directory: directory, isPrivate: true, passphrase: passphrase)
    }

    /// The user's own GnuPG home, to export keys from it. Never removed by `destroy()`.
    public static func userHome(_ directory: URL, passphrase: String? = nil) throws(KeyringError) -> Keyring {
        try Keyring(directory: directory, isPrivate: false, passphrase: passphrase)
    }

    public static func isKeyring(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(markerName).path)
    }

    // MARK: Import

    /// Imports keys (armored or binary). gpg reports success for input that holds no key at
    /// all, so the counters are checked here.
    public func importKeys(_ keyData: Data) throws(KeyringError) -> ImportResult {
        try withContext { context throws(KeyringError) in
            do {
                let data = try GPGMEData(keyData)
                try GPGME.check(gpgme_op_import(context, data.handle), "import")
            } catch {
                throw .importFailed(error.detail)
            }
            guard let result = gpgme_op_import_result(context)?.pointee else { throw .importFailed("gpgme gave no import result") }
            var fingerprints: [String] = []
            var problems: [String] = []
            var status = result.imports
            while let current = status {
                if gpgme_err_code(current.pointee.result) == GPG_ERR_NO_ERROR {
                    if let fpr = current.pointee.fpr.map({ String(cString: $0) }), !fingerprints.contains(fpr) {
                        fingerprints.append(fpr)
                    }
                } else {
                    problems.append(String(cString: gpgme_strerror(current.pointee.result)))
                }
                status = current.pointee.next
            }
            if result.considered == 0 { throw .nothingImported }
            if fingerprints.isEmpty { throw .importFailed(problems.isEmpty ? "no key was imported" : problems.joined(separator: "; ")) }
            return ImportResult(
                considered: Int(result.considered), imported: Int(result.imported), unchanged: Int(result.unchanged),
                secretRead: Int(result.secret_read), secretImported: Int(result.secret_imported),
                secretUnchanged: Int(result.secret_unchanged), notImported: Int(result.not_imported),
                fingerprints: fingerprints)
        }
    }

    // MARK: Keys

    /// Keys whose secret part the keyring holds.
    public func secretKeys() throws(KeyringError) -> [KeyInfo] { try listKeys(secret: true) }

    public func publicKeys() throws(KeyringError) -> [KeyInfo] { try listKeys(secret: false) }

    /// One key by fingerprint (or key id), with its secret flags when `secret`.
    public func key(_ fingerprint: String, secret: Bool = true) throws(KeyringError) -> KeyInfo? {
        try withContext { context throws(KeyringError) in
            var key: gpgme_key_t?
            let error = gpgme_get_key(context, fingerprint, &key, secret ? 1 : 0)
            guard gpgme_err_code(error) == GPG_ERR_NO_ERROR, let key else { return nil }
            defer { gpgme_key_unref(key) }
            return KeyInfo(key)
        }
    }

    private func listKeys(secret: Bool) throws(KeyringError) -> [KeyInfo] {
        try withContext { context throws(KeyringError) in
            var keys: [KeyInfo] = []
            let start = gpgme_op_keylist_start(context, nil, secret ? 1 : 0)
            guard gpgme_err_code(start) == GPG_ERR_NO_ERROR else {
                throw .operationFailed("listing keys: \(String(cString: gpgme_strerror(start)))")
            }
            while true {
                var key: gpgme_key_t?
                let error = gpgme_op_keylist_next(context, &key)
                if gpgme_err_code(error) == GPG_ERR_EOF { break }
                guard gpgme_err_code(error) == GPG_ERR_NO_ERROR, let key else {
                    gpgme_op_keylist_end(context)
                    throw .operationFailed("listing keys: \(String(cString: gpgme_strerror(error)))")
                }
                keys.append(KeyInfo(key))
                gpgme_key_unref(key)
            }
            gpgme_op_keylist_end(context)
            return keys
        }
    }

    // MARK: Export

    /// The armored secret keys (what Flux reads from `sops.asc`). A key the keyring cannot
    /// unlock exports as nothing, without an error from gpgme: that is checked here.
    public func exportSecretKeys(_ fingerprints: [String]) throws(KeyringError) -> Data {
        try export(fingerprints, mode: gpgme_export_mode_t(GPGME_EXPORT_MODE_SECRET))
    }

    /// The armored secret keys for a consumer that cannot give a passphrase (Flux's
    /// kustomize-controller imports `sops.asc` with `gpg --import` and decrypts with no pinentry):
    /// a copy whose passphrase protection is removed, made in a scratch private keyring beside
    /// this one (`gpg --passwd` with an empty new passphrase, through loopback pinentry), never
    /// in this keyring. Keys whose encryption subkey is already unprotected are exported as they
    /// are. Throws when the protection cannot be removed (a subkey with another passphrase).
    public func exportSecretKeysWithoutPassphrase(_ fingerprints: [String]) throws(KeyringError) -> Data {
        let exported = try exportSecretKeys(fingerprints)
        guard passphrase.passphrase != nil else { return exported }  // nothing here is protected: import proved it
        let scratch = try Keyring.create(passphrase: nil, in: directory.deletingLastPathComponent().path)
        defer { scratch.destroy() }
        _ = try scratch.importKeys(exported)
        for fingerprint in fingerprints {
            if (try? scratch.verifyDecryption(with: fingerprint)) != nil { continue }
            try scratch.removePassphrase(fingerprint, old: passphrase.passphrase ?? "")
            do {
                try scratch.verifyDecryption(with: fingerprint)
            } catch {
                throw .operationFailed("the passphrase of \(fingerprint) could not be removed in a copy for Flux: \(error)")
            }
        }
        return try scratch.exportSecretKeys(fingerprints)
    }

    /// `gpg --passwd` with loopback answers: the old passphrase at the first prompt, then an
    /// empty new one for every key (gpg-agent reuses the unlocked passphrase for the subkeys).
    private func removePassphrase(_ fingerprint: String, old: String) throws(KeyringError) {
        try withContext { context throws(KeyringError) in
            var key: gpgme_key_t?
            guard gpgme_err_code(gpgme_get_key(context, fingerprint, &key, 1)) == GPG_ERR_NO_ERROR, let key else {
                throw .operationFailed("no secret key \(fingerprint) in \(directory.path)")
            }
            defer { gpgme_key_unref(key) }
            let answers = PassphraseAnswers([old])
            gpgme_set_passphrase_cb(context, PassphraseAnswers.callback, Unmanaged.passUnretained(answers).toOpaque())
            defer { gpgme_set_passphrase_cb(context, PassphraseSource.callback, Unmanaged.passUnretained(passphrase).toOpaque()) }
            let error = withExtendedLifetime(answers) { gpgme_op_passwd(context, key, 0) }
            guard gpgme_err_code(error) == GPG_ERR_NO_ERROR else {
                throw answers.rejected ? .badPassphrase(fingerprint: fingerprint) : .operationFailed("removing the passphrase of \(fingerprint): \(String(cString: gpgme_strerror(error)))")
            }
        }
    }

    public func exportPublicKeys(_ fingerprints: [String]) throws(KeyringError) -> Data {
        try export(fingerprints, mode: 0)
    }

    private func export(_ fingerprints: [String], mode: gpgme_export_mode_t) throws(KeyringError) -> Data {
        guard !fingerprints.isEmpty else { throw .operationFailed("no key to export") }
        return try withContext { context throws(KeyringError) in
            var keys: [gpgme_key_t?] = []
            defer { for key in keys { if let key { gpgme_key_unref(key) } } }
            for fingerprint in fingerprints {
                var key: gpgme_key_t?
                let error = gpgme_get_key(context, fingerprint, &key, mode == 0 ? 0 : 1)
                guard gpgme_err_code(error) == GPG_ERR_NO_ERROR, key != nil else {
                    throw .operationFailed("no \(mode == 0 ? "" : "secret ")key \(fingerprint) in \(directory.path)")
                }
                keys.append(key)
            }
            keys.append(nil)
            do {
                let output = try GPGMEData()
                try GPGME.check(gpgme_op_export_keys(context, &keys, mode, output.handle), "export")
                let bytes = output.bytes
                if bytes.isEmpty {
                    if passphrase.wasRejected { throw KeyringError.badPassphrase(fingerprint: fingerprints[0]) }
                    if passphrase.wasAsked { throw KeyringError.passphraseRequired(fingerprint: fingerprints[0]) }
                    throw KeyringError.operationFailed("gpg exported nothing for \(fingerprints.joined(separator: ", "))")
                }
                return bytes
            } catch let failure as GPGME.Failure {
                throw passphraseError(failure, fingerprint: fingerprints[0])
            } catch {
                throw error as! KeyringError
            }
        }
    }

    // MARK: Encrypt and decrypt

    /// Encrypts to the given keys (trusted as they are: they are ours).
    public func encrypt(_ plaintext: Data, to fingerprints: [String]) throws(KeyringError) -> Data {
        try withContext { context throws(KeyringError) in
            var keys: [gpgme_key_t?] = []
            defer { for key in keys { if let key { gpgme_key_unref(key) } } }
            for fingerprint in fingerprints {
                var key: gpgme_key_t?
                guard gpgme_err_code(gpgme_get_key(context, fingerprint, &key, 0)) == GPG_ERR_NO_ERROR, key != nil else {
                    throw .operationFailed("no public key \(fingerprint) in \(directory.path)")
                }
                keys.append(key)
            }
            keys.append(nil)
            do {
                let input = try GPGMEData(plaintext), output = try GPGMEData()
                try GPGME.check(gpgme_op_encrypt(context, &keys, GPGME_ENCRYPT_ALWAYS_TRUST, input.handle, output.handle), "encrypt")
                return output.bytes
            } catch {
                throw .operationFailed("encrypting to \(fingerprints.joined(separator: ", ")): \(error.detail)")
            }
        }
    }

    /// Decrypts an OpenPGP message (a SOPS data key) with whatever secret key it was made for.
    public func decrypt(_ ciphertext: Data) throws(KeyringError) -> Data {
        try withContext { context throws(KeyringError) in
            do throws(GPGME.Failure) {
                let input = try GPGMEData(ciphertext), output = try GPGMEData()
                try GPGME.check(gpgme_op_decrypt(context, input.handle, output.handle), "decrypt")
                return output.bytes
            } catch {
                let recipients = decryptRecipients(context)
                throw passphraseError(error, fingerprint: recipients.first ?? "of the message")
            }
        }
    }

    /// The key ids a message was encrypted to, from the last decrypt's result.
    private func decryptRecipients(_ context: gpgme_ctx_t) -> [String] {
        guard let result = gpgme_op_decrypt_result(context) else { return [] }
        var ids: [String] = []
        var recipient = result.pointee.recipients
        while let current = recipient {
            if let keyID = current.pointee.keyid { ids.append(String(cString: keyID)) }
            recipient = current.pointee.next
        }
        return ids
    }

    private func passphraseError(_ failure: GPGME.Failure, fingerprint: String) -> KeyringError {
        if passphrase.wasRejected { return .badPassphrase(fingerprint: fingerprint) }
        if failure.isBadPassphrase || passphrase.wasAsked {
            return passphrase.passphrase == nil ? .passphraseRequired(fingerprint: fingerprint) : .badPassphrase(fingerprint: fingerprint)
        }
        return .operationFailed(failure.description)
    }

    /// Proves the keyring can decrypt with this key: encrypts a random message to it and
    /// decrypts it, which also checks the passphrase of a protected key.
    public func verifyDecryption(with fingerprint: String) throws(KeyringError) {
        let probe = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        let message = try encrypt(probe, to: [fingerprint])
        do throws(KeyringError) {
            guard try decrypt(message) == probe else { throw .operationFailed("the test message did not decrypt to itself") }
        } catch {
            if case .passphraseRequired = error { throw .passphraseRequired(fingerprint: fingerprint) }
            if case .badPassphrase = error { throw .badPassphrase(fingerprint: fingerprint) }
            throw error
        }
    }

    // MARK: Key generation

    /// Creates a key without passphrase: an ed25519 certify/sign primary and a cv25519
    /// encryption subkey (what SOPS encrypts data keys to). `expires` in seconds; 0 never.
    public func createKey(userID: String, expires: UInt) throws(KeyringError) -> KeyInfo {
        let fingerprint = try withContext { context throws(KeyringError) -> String in
            let noExpiry = expires == 0 ? UInt32(GPGME_CREATE_NOEXPIRE) : 0
            let flags = UInt32(GPGME_CREATE_SIGN) | UInt32(GPGME_CREATE_CERT) | UInt32(GPGME_CREATE_NOPASSWD) | noExpiry
            var error = gpgme_op_createkey(context, userID, "ed25519", 0, expires, nil, flags)
            guard gpgme_err_code(error) == GPG_ERR_NO_ERROR, let fingerprint = gpgme_op_genkey_result(context)?.pointee.fpr.map({ String(cString: $0) }) else {
                throw .operationFailed("creating the key: \(String(cString: gpgme_strerror(error)))")
            }
            var key: gpgme_key_t?
            error = gpgme_get_key(context, fingerprint, &key, 1)
            guard gpgme_err_code(error) == GPG_ERR_NO_ERROR, let key else { throw .operationFailed("reading the new key back") }
            defer { gpgme_key_unref(key) }
            let subkeyFlags = UInt32(GPGME_CREATE_ENCR) | UInt32(GPGME_CREATE_NOPASSWD) | noExpiry
            error = gpgme_op_createsubkey(context, key, "cv25519", 0, expires, subkeyFlags)
            guard gpgme_err_code(error) == GPG_ERR_NO_ERROR else {
                throw .operationFailed("creating the encryption subkey: \(String(cString: gpgme_strerror(error)))")
            }
            return fingerprint
        }
        guard let info = try key(fingerprint) else { throw .operationFailed("the new key \(fingerprint) is not in the keyring") }
        return info
    }

    // MARK: Lifecycle

    private func withContext<T>(_ body: (gpgme_ctx_t) throws(KeyringError) -> T) throws(KeyringError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard !destroyed else { throw .operationFailed("the keyring \(directory.path) was already removed") }
        if contextStorage == nil { contextStorage = try makeContext() }
        return try body(contextStorage!)
    }

    /// Stops the keyring's gpg-agent and removes the directory. Safe to call twice. Does
    /// nothing to a user's own GnuPG home.
    public func destroy() {
        lock.lock()
        defer { lock.unlock() }
        guard isPrivate, !destroyed else { return }
        destroyed = true
        if createdHere && contextStorage == nil {
            // gpgme never ran here, so no gpg-agent did: no gpgconf to start.
            try? FileManager.default.removeItem(at: directory)
        } else {
            Self.remove(directory)
        }
    }

    /// Removes a keyring directory that an earlier process created (`fluxci keys cleanup`).
    /// Returns false when there was nothing to remove; refuses a directory without the marker.
    @discardableResult
    public static func remove(_ directory: URL) -> Bool {
        guard FileManager.default.fileExists(atPath: directory.path) else { return false }
        guard isKeyring(directory) else { return false }
        Gpgconf.killAll(homedir: directory.path)
        removeTree(directory)
        return true
    }

    /// Removes `directory`, again while it is still there: `gpgconf --kill` returns before the
    /// agent has exited, and the agent removing its sockets meanwhile makes a removal fail
    /// half-way (seen under load: a keyring left behind after a failed run). Up to 2 s.
    static func removeTree(_ directory: URL) {
        for _ in 0..<40 {
            try? FileManager.default.removeItem(at: directory)
            guard FileManager.default.fileExists(atPath: directory.path) else { return }
            usleep(50_000)
        }
    }
}

extension Error {
    fileprivate var detail: String {
        if let failure = self as? GPGME.Failure { return failure.detail }
        return "\(self)"
    }
}
