import Actions
import Age
import Foundation
import GPG

/// The keys a laptop has when none was given, where sops finds them (getsops/sops age/keysource:
/// `SOPS_AGE_KEY_FILE`, else `keys.txt` under `os.UserConfigDir()/sops/age`, which on Linux is
/// `$XDG_CONFIG_HOME`, else `~/.config`; pgp/keysource: the GnuPG home, `GNUPGHOME` or
/// `~/.gnupg`, through its agent), plus the repository's `.secrets/<cloud>/<env>/` age keys.
///
/// The user's keyring is used in place through gpgme: its secret keys are never exported or
/// copied. Every key found is logged with where it came from.
enum DefaultKeys {
    static func ageKeyFile(_ environment: [String: String]) -> String {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return config + "/sops/age/keys.txt"
    }

    static func gnupgHome(_ environment: [String: String]) -> String {
        environment["GNUPGHOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.gnupg")
    }

    static func withKeys<T>(_ context: CommandContext, repository: URL, _ body: (ImportedKeys) async throws -> T) async throws -> T {
        let reporter = context.reporter
        var identities: [X25519Identity] = []
        var origins: [String: String] = [:]
        var looked: [String] = []
        func addAge(_ path: String, shownAs name: String) throws {
            looked.append(name)
            guard let data = FileManager.default.contents(atPath: path) else { return }
            let text = String(decoding: data, as: UTF8.self)
            for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") { reporter.mask(String(line)) }
            let entries: [AgeIdentityFile.Entry]
            do {
                entries = try AgeIdentityFile.parse(text)
            } catch {
                throw Annotation.error(
                    "Line \(error.line) of \(name) is \(error.error).", title: "Invalid age identity",
                    fix: "Copy the identity again exactly as age-keygen wrote it (AGE-SECRET-KEY-1 followed by 58 upper-case characters).",
                    at: SourceLocation(file: name, line: error.line))
            }
            for entry in entries where !identities.contains(entry.identity) {
                reporter.mask(entry.identity.encoded)
                identities.append(entry.identity)
                origins[entry.identity.recipient.description] = name
            }
        }
        try addAge(ageKeyFile(context.environment), shownAs: ageKeyFile(context.environment))
        let secrets = repository.appendingPathComponent(".secrets")
        for cloud in ((try? FileManager.default.contentsOfDirectory(atPath: secrets.path)) ?? []).sorted() {
            for env in ((try? FileManager.default.contentsOfDirectory(atPath: secrets.appendingPathComponent(cloud).path)) ?? []).sorted() {
                let relative = KeySources.secretsPaths(cloud: cloud, env: env).age
                try addAge(repository.appendingPathComponent(relative).path, shownAs: relative)
            }
        }
        // The user's keyring, in place. Only opened when it exists: gpgme would create it.
        let home = gnupgHome(context.environment)
        looked.append(home)
        var userKeyring: Keyring?
        var pgp: [KeyInfo] = []
        if FileManager.default.fileExists(atPath: home) {
            if let keyring = try? Keyring.userHome(URL(fileURLWithPath: home), passphrase: context.environment["SOPS_GPG_PASSPHRASE"]),
                let keys = try? keyring.secretKeys(), !keys.isEmpty
            {
                userKeyring = keyring
                pgp = keys
                for key in keys { origins[key.fingerprint] = "your GnuPG keyring \(home)" }
            }
        }
        guard !identities.isEmpty || !pgp.isEmpty else {
            throw Annotation.error(
                "No SOPS key was given, and none is where sops looks (\(looked.joined(separator: ", "))).", title: "No SOPS keys",
                fix: "Set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY (AGE-SECRET-KEY-1… lines) or SOPS_GPG_KEY, put your age keys in \(ageKeyFile(context.environment)), or pass --cloud and --env to read .secrets/<cloud>/<env>/.")
        }
        // Age identities live in a private keyring directory, as for imported keys; PGP goes
        // through the user's own keyring when it has secret keys.
        let temporary: Keyring
        do {
            temporary = try Keyring.create(in: context.environment["TMPDIR"])
        } catch {
            throw KeyErrors.annotation(for: error, source: "the keyring")
        }
        defer { temporary.destroy() }
        if !identities.isEmpty { try ImportedKeys.storeAgeIdentities(identities, in: temporary) }
        let imported = ImportedKeys(keyring: userKeyring ?? temporary, pgp: pgp, age: identities, origins: origins)
        for line in imported.originLines { reporter.log(line) }
        return try await body(imported)
    }
}
