import Actions
import Age
import Foundation
import GPG

/// The keys a laptop has when none was given, where sops finds them (getsops/sops age/keysource:
/// `SOPS_AGE_KEY_FILE`, else `keys.txt` under `os.UserConfigDir()/sops/age`, which on Linux is
/// `$XDG_CONFIG_HOME`, else `~/.config`; pgp/keysource: the GnuPG home, `GNUPGHOME` or
/// `~/.gnupg`, through its agent), plus the repository's `.secrets/<cloud>/<env>/` keys (age
/// identities and PGP secret keys, imported into a private keyring).
///
/// The user's keyring is used in place through gpgme: its secret keys are never exported or
/// copied. Every key found is logged with where it came from.
enum DefaultKeys {
    static func ageKeyFile(_ environment: [String: String]) -> String {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return config + "/sops/age/keys.txt"
    }

    /// The GnuPG home sops hands gpg (pgp/keysource.go `gnuPGHome`): GNUPGHOME, else `.gnupg` in
    /// the user's home from the password database (Go's `user.Current()`), else in `$HOME`.
    static func gnupgHome(_ environment: [String: String]) -> String {
        if let home = environment["GNUPGHOME"], !home.isEmpty { return home }
        if let entry = getpwuid(getuid()), let directory = entry.pointee.pw_dir {
            let path = String(cString: directory)
            if !path.isEmpty { return path + "/.gnupg" }
        }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.gnupg"
    }

    /// With `allowNone` (a plan), finding no key at all is no error: `body` gets an empty keyring.
    ///
    /// `given` are the keys the environment (or `--cloud/--env`) gave: sops uses its default key
    /// file and the user's GnuPG keyring in addition to SOPS_AGE_KEY and the others
    /// (`loadIdentities` reads every source it finds; gpg decrypts from the GnuPG home whatever
    /// else was set), so the laptop commands do too; `.secrets/` is then not searched (a run
    /// given keys holds those, not the repository's). Without `given`, every `.secrets/<cloud>/<env>/`
    /// is searched as well.
    static func withKeys<T>(
        _ context: CommandContext, repository: URL, given: KeySources? = nil, allowNone: Bool = false, _ body: (ImportedKeys) async throws -> T
    ) async throws -> T {
        let reporter = context.reporter
        var sources = given ?? KeySources(skipped: KeySources.emptyVariables(context.environment))
        if given == nil, let passphrase = context.environment["SOPS_GPG_PASSPHRASE"], !passphrase.isEmpty {
            reporter.mask(passphrase)
            sources.passphrase = passphrase
        }
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
            for entry in entries { reporter.mask(entry.identity.encoded) }
            if !entries.isEmpty { sources.age.append(KeySources.AgeSource(name: name, file: name, entries: entries)) }
        }
        // The repository's PGP secret keys, as `keys import --cloud --env` reads them: imported
        // into the private keyring below (never into the user's).
        func addPGP(_ path: String, shownAs name: String) throws {
            looked.append(name)
            guard let data = FileManager.default.contents(atPath: path) else { return }
            let text = String(decoding: data, as: UTF8.self)
            reporter.mask(text)
            let material: KeyMaterial
            do {
                material = try KeyMaterial(decoding: text)
            } catch {
                throw KeyErrors.annotation(for: error, source: name)
            }
            if let decoded = material.decodedText { reporter.mask(decoded) }
            for block in material.blocks { reporter.mask(String(decoding: block.data, as: UTF8.self)) }
            sources.pgp.append(KeySources.PGPSource(name: name, file: name, material: material))
        }
        // The default key file, read whenever it exists, beside SOPS_AGE_KEY_FILE (unless it is
        // that file).
        let defaultFile = ageKeyFile(context.environment)
        if !sources.age.contains(where: { $0.file.map { URL(fileURLWithPath: $0, relativeTo: repository).standardizedFileURL.path } == URL(fileURLWithPath: defaultFile).standardizedFileURL.path }) {
            try addAge(defaultFile, shownAs: defaultFile)
        }
        let secrets = repository.appendingPathComponent(".secrets")
        for cloud in (given != nil ? [] : ((try? FileManager.default.contentsOfDirectory(atPath: secrets.path)) ?? [])).sorted() {
            for env in ((try? FileManager.default.contentsOfDirectory(atPath: secrets.appendingPathComponent(cloud).path)) ?? []).sorted() {
                let paths = KeySources.secretsPaths(cloud: cloud, env: env)
                try addAge(repository.appendingPathComponent(paths.age).path, shownAs: paths.age)
                try addPGP(repository.appendingPathComponent(paths.pgp).path, shownAs: paths.pgp)
            }
        }
        // The user's keyring, in place. Only opened when it exists: gpgme would create it.
        let home = gnupgHome(context.environment)
        looked.append(home)
        var userKeyring: Keyring?
        var userKeys: [KeyInfo] = []
        if FileManager.default.fileExists(atPath: home) {
            if let keyring = try? Keyring.userHome(URL(fileURLWithPath: home), passphrase: sources.passphrase),
                let keys = try? keyring.secretKeys(), !keys.isEmpty
            {
                userKeyring = keyring
                userKeys = keys
            }
        }
        let ssh = sshIdentities(context.environment, reporter: reporter)
        looked += ssh.looked
        guard allowNone || !sources.isEmpty || !userKeys.isEmpty || !ssh.found.isEmpty else {
            if !ssh.passedOver.isEmpty {
                throw Annotation.error(
                    "No SOPS key fluxci can use was given or found where sops looks (\(looked.joined(separator: ", "))); SSH keys passed over: \(ssh.passedOver.joined(separator: "; ")).",
                    title: "No SOPS keys",
                    fix: "Decrypt with the real sops (`sops -d FILE`: it reads ssh-rsa keys and asks for an SSH key's passphrase), or set SOPS_AGE_KEY_FILE to an age key file, or point SOPS_AGE_SSH_PRIVATE_KEY_FILE at an unprotected ssh-ed25519 key.")
            }
            // What was given but skipped is the likelier cause, and its fix the one to give.
            let skipped = sources.skipped.isEmpty ? "" : " Skipped: " + sources.skipped.map(\.why).joined(separator: "; ") + "."
            throw Annotation.error(
                "No SOPS key was given, and none is where sops looks (\(looked.joined(separator: ", "))).\(skipped)", title: "No SOPS keys",
                fix: sources.skipped.isEmpty
                    ? "Set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY (AGE-SECRET-KEY-1… lines) or SOPS_GPG_KEY, put your age keys in \(ageKeyFile(context.environment)), or pass --cloud and --env to read .secrets/<cloud>/<env>/."
                    : KeySources.Skipped.fixes(sources.skipped) + " Or put your age keys in \(ageKeyFile(context.environment)).")
        }
        // Age identities and the repository's PGP keys live in a private keyring directory, as
        // imported keys do; the user's own secret keys are used where they are.
        let temporary = try KeyErrors.createKeyring(for: sources, in: context.environment["TMPDIR"])
        defer { temporary.destroy() }
        var imported = try ImportedKeys.importing(sources, into: temporary, reporter: reporter)
        if let userKeyring {
            if imported.pgp.isEmpty {
                imported.keyring = userKeyring
            } else {
                imported.otherKeyrings = [userKeyring]
            }
            for key in userKeys where !imported.pgp.contains(where: { $0.fingerprint == key.fingerprint }) {
                imported.pgp.append(key)
                imported.origins[key.fingerprint] = "your GnuPG keyring \(home)"
            }
        }
        imported.passedOver = ssh.passedOver
        for (identity, path) in ssh.found where !imported.age.contains(where: { $0.name == identity.name }) {
            // Held in memory only: an SSH key is not written into the keyring folder.
            imported.age.append(identity)
            imported.origins[identity.name] = path
        }
        for line in imported.originLines { reporter.log(line) }
        return try await body(imported)
    }

    /// The SSH keys sops 3.10+ uses as age identities (getsops/sops age/keysource.go
    /// `loadAgeSSHIdentities`): the file `SOPS_AGE_SSH_PRIVATE_KEY_FILE` names when it is set,
    /// and `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` (`os.UserHomeDir`: `$HOME`) when they exist,
    /// all of them, beside the other sources. A key sops cannot load is one of its load errors,
    /// shown only when no key opens the file; fluxci warns for the named file and passes over a
    /// default one it cannot use (an RSA key: fluxci reads ssh-ed25519 keys only, as
    /// swift-crypto's RSA-OAEP takes no label and age's ssh-rsa stanza is OAEP with the label
    /// "age-encryption.org/v1/ssh-rsa"; one protected by a passphrase, which sops asks for on the
    /// terminal and fails without one) — saying so in a line, and naming it in the error of any
    /// file whose data key is then not recovered (`passedOver`), never silently.
    static func sshIdentities(_ environment: [String: String], reporter: Reporter) -> (found: [(X25519Identity, String)], looked: [String], passedOver: [String]) {
        var candidates: [(path: String, named: Bool)] = []
        if let path = environment["SOPS_AGE_SSH_PRIVATE_KEY_FILE"] { candidates.append((path, true)) }
        if let home = environment["HOME"], !home.isEmpty {
            for name in ["id_ed25519", "id_rsa"] { candidates.append((home + "/.ssh/" + name, false)) }
        }
        var found: [(X25519Identity, String)] = []
        var passedOver: [String] = []
        for (path, named) in candidates {
            guard let data = FileManager.default.contents(atPath: path) else {
                if named {
                    reporter.warning(
                        "SOPS_AGE_SSH_PRIVATE_KEY_FILE points at \(path), which cannot be read: skipped, as sops skips it; the other key sources given, if any, are used.", title: "SSH key missing",
                        fix: "Check the path, or unset SOPS_AGE_SSH_PRIVATE_KEY_FILE.")
                }
                continue
            }
            do {
                found.append((try X25519Identity(openSSHPrivateKey: String(decoding: data, as: UTF8.self)), path))
            } catch {
                passedOver.append("\(path) (\(error.description))")
                if !named {
                    reporter.log("SSH key \(path) passed over: \(error.description).")
                }
                if named {
                    reporter.warning(
                        "SOPS_AGE_SSH_PRIVATE_KEY_FILE points at \(path), which is not usable as an age identity: \(error.description); skipped.", title: "SSH key not usable",
                        fix: "Point it at an unencrypted ssh-ed25519 private key (ssh-keygen -t ed25519), or use an age key (SOPS_AGE_KEY_FILE).")
                }
            }
        }
        return (found, candidates.map(\.path), passedOver)
    }
}
