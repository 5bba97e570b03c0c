import Actions
import GPG

/// Turns key errors into annotations that say what is wrong and how to fix it.
enum KeyErrors {
    /// A new private keyring for `sources` under `parent` (nil: the system's temporary folder);
    /// its failure is the annotation every key command gives for "the keyring".
    static func createKeyring(for sources: KeySources, in parent: String?) throws -> Keyring {
        do { return try Keyring.create(passphrase: sources.passphrase, in: parent) } catch {
            throw annotation(for: error, source: "the keyring")
        }
    }

    static func annotation(for error: Error, source: String) -> Annotation {
        if let annotation = error as? Annotation { return annotation }
        if let failure = error as? KeyMaterial.Failure {
            switch failure {
            case .empty:
                return .error(
                    "\(source) is set but empty.", title: "Empty SOPS key",
                    fix: source.allSatisfy({ $0.isUppercase || $0 == "_" })
                        ? { let fix = KeySources.emptySecretFix(source); return fix.prefix(1).uppercased() + fix.dropFirst() + "." }()
                        : "Put the armored secret key (gpg --armor --export-secret-keys) into \(source).")
            case .notKeyMaterial(let base64):
                return .error(
                    base64
                        ? "\(source) is base64, but what it decodes to is neither an armored nor a binary OpenPGP key."
                        : "\(source) holds neither an ASCII-armored OpenPGP key nor the base64 of one.",
                    title: "Not an OpenPGP key",
                    fix: "Store the output of `gpg --export-secret-keys --armor FINGERPRINT` (or `fluxci keys export-ci`), or its base64.")
            case .truncated(let label, let line):
                return .error(
                    "The \(label) that starts on line \(line) of \(source) has no END line: the value is truncated.",
                    title: "Truncated key",
                    fix: "Copy the whole export again, through the -----END \(label)----- line.")
            case .endWithoutBegin(let line):
                return .error(
                    "Line \(line) of \(source) ends an armor block that never began.", title: "Truncated key",
                    fix: "Copy the whole export again, from the -----BEGIN line.")
            }
        }
        if let failure = error as? KeyringError {
            switch failure {
            case .passphraseRequired(let fingerprint):
                return .error(
                    "The secret key \(fingerprint) from \(source) is protected by a passphrase, and SOPS_GPG_PASSPHRASE is not set.",
                    title: "Passphrase required", fix: "Pass the key's passphrase in SOPS_GPG_PASSPHRASE (from a repository secret).")
            case .badPassphrase(let fingerprint):
                return .error(
                    "Bad passphrase for the secret key \(fingerprint) from \(source).", title: "Bad passphrase",
                    fix: "Check SOPS_GPG_PASSPHRASE: it must be the passphrase of this key.")
            case .nothingImported:
                return .error(
                    "gpg found no key in \(source).", title: "Not an OpenPGP key",
                    fix: "Store the output of `gpg --export-secret-keys --armor FINGERPRINT`.")
            case .importFailed(let detail):
                return .error(
                    "gpg could not import \(source): \(detail).", title: "Key import failed",
                    fix: "The key data is damaged; export it again with `gpg --export-secret-keys --armor FINGERPRINT`.")
            case .unavailable(let detail):
                return .error("GnuPG does not work here: \(detail).", title: "GnuPG unavailable", fix: "Install gnupg and libgpgme (scripts/setup does).")
            case .notAKeyring(let path):
                return .error("\(path) is not a keyring created by fluxci.", title: "Not a fluxci keyring", fix: "Run `fluxci keys import` first.")
            case .operationFailed(let detail):
                return .error("\(source): \(detail).", title: "GnuPG error")
            }
        }
        return .error("\(source): \(error)")
    }
}
