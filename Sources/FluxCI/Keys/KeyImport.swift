import Actions
import Age
import Foundation
import GPG
import SOPS

/// The keys of a run, in their private keyring: PGP keys imported through gpgme, age
/// identities kept in the keyring directory beside them.
struct ImportedKeys {
    var keyring: Keyring
    var pgp: [KeyInfo]
    var age: [X25519Identity]
    /// Where each key came from ("SOPS_AGE_KEY", a key file, "your GnuPG keyring ~/.gnupg"), by
    /// age recipient or PGP fingerprint, for saying which key opened a file.
    var origins: [String: String] = [:]
    /// Keyrings used in place beside `keyring` (the user's GnuPG home): their secret keys are in
    /// `pgp` too, and decrypt from where they are.
    var otherKeyrings: [Keyring] = []
    /// SSH keys sops would use as age identities that fluxci cannot (an ssh-rsa key, one
    /// protected by a passphrase): "path (reason)", for the error of a file they might open.
    var passedOver: [String] = []
    /// Key sources given but not used (KeySources.Skipped): named wherever a file does not open.
    var skipped: [KeySources.Skipped] = []

    /// The skipped sources that may hold a key for a file with these recipients (an age source
    /// for an `age1…` recipient, a PGP one for a PGP fingerprint), as a sentence and a fix; nil
    /// when none was skipped that could matter.
    func skippedNote(forRecipients recipients: [String]) -> (sentence: String, fix: String)? {
        KeySources.Skipped.note(skipped, forRecipients: recipients)
    }

    /// One line per key: its recipient or fingerprint and where it came from.
    var originLines: [String] {
        (age.map(\.name) + pgp.map(\.fingerprint)).map { key in "Key \(key) from \(origins[key] ?? "the keyring")." }
    }

    /// Where the key that can open a file with these recipients came from, as sops tries them
    /// (age first, then PGP), or nil. Pass the `chain` a caller already has: making one lists
    /// the keyrings' secret keys through gpg.
    func opener(of metadata: Metadata, chain: KeyChain? = nil) -> String? {
        let chain = chain ?? self.chain
        let held = metadata.allKeys.filter(chain.holds)
        let first = held.first { if case .age = $0 { true } else { false } } ?? held.first
        guard let first else { return nil }
        switch first {
        case .age(let recipient, _):
            return "\(recipient) (\(origins[recipient] ?? origins[recipient.split(separator: " ").prefix(2).joined(separator: " ")] ?? "the keyring"))"
        case .pgp(let fingerprint, _):
            let key = pgp.first { $0.fingerprint.uppercased().hasSuffix(fingerprint.uppercased()) || $0.subkeys.contains { $0.fingerprint.uppercased().hasSuffix(fingerprint.uppercased()) } }
            return "pgp \(fingerprint) (\(key.flatMap { origins[$0.fingerprint] } ?? "the keyring"))"
        case .other: return nil
        }
    }

    /// Environment variable naming the keyring for later steps (and `fluxci keys cleanup`).
    static let keyringVariable = "FLUXCI_KEYRING"

    /// Imports everything `sources` holds into `keyring`: every armor block on its own (so a
    /// broken one is named), then checks what gpgme does not: that something was imported,
    /// that it includes secret keys, that each can decrypt (an encryption subkey, not expired
    /// or revoked), and that the passphrase unlocks it.
    static func importing(_ sources: KeySources, into keyring: Keyring, reporter: Reporter) throws -> ImportedKeys {
        var fingerprints: [String] = []
        var origins: [String: String] = [:]
        for source in sources.age {
            for entry in source.entries where origins[entry.identity.recipient.description] == nil { origins[entry.identity.recipient.description] = source.name }
        }
        for source in sources.pgp {
            for (index, block) in source.material.blocks.enumerated() {
                let name = source.material.blocks.count == 1
                    ? source.name
                    : "key block \(index + 1) of \(source.material.blocks.count) in \(source.name)" + (block.lines.map { " (lines \($0.lowerBound)–\($0.upperBound))" } ?? "")
                let result: ImportResult
                do {
                    result = try keyring.importKeys(block.data)
                } catch {
                    throw located(KeyErrors.annotation(for: error, source: name), source, block)
                }
                if result.secretRead == 0 {
                    throw located(.error(
                        "\(name) holds only a public key (\(result.fingerprints.joined(separator: ", "))); SOPS needs the secret key to decrypt.",
                        title: "Public key only",
                        fix: "Export the secret key: `gpg --export-secret-keys --armor \(result.fingerprints.first ?? "FINGERPRINT")`."), source, block)
                }
                reporter.debug("\(name): considered \(result.considered), secret read \(result.secretRead), imported \(result.secretImported), unchanged \(result.secretUnchanged)")
                for fingerprint in result.fingerprints where !fingerprints.contains(fingerprint) {
                    guard let key = try keyring.key(fingerprint) else { continue }
                    if let problem = key.decryptionProblem {
                        throw located(.error(
                            "The key \(fingerprint) from \(name) cannot decrypt SOPS files: \(problem).",
                            title: "Unusable SOPS key", fix: fixFor(key)), source, block)
                    }
                    if let expiry = key.expiry {
                        // gpg, sops and Flux decrypt with an expired key: warn, do not refuse. The
                        // probe below encrypts to the key, which gpg refuses once it expired.
                        var warning = Annotation.warning(
                            "The key \(fingerprint) from \(name) still decrypts SOPS files, but \(expiry): nothing new can be encrypted to it (sops encrypt, updatekeys and rotate will fail).",
                            title: "Expired SOPS key",
                            fix: expiryFix(key))
                        if let file = source.file { warning.location = SourceLocation(file: file, line: block.lines?.lowerBound) }
                        reporter.annotate(warning)
                    } else {
                        do {
                            try keyring.verifyDecryption(with: fingerprint)
                        } catch {
                            throw located(KeyErrors.annotation(for: error, source: name), source, block)
                        }
                    }
                    fingerprints.append(fingerprint)
                    origins[fingerprint] = source.name
                }
            }
        }
        let pgp = try fingerprints.compactMap { try keyring.key($0) }
        var identities: [X25519Identity] = []
        for source in sources.age {
            for entry in source.entries where !identities.contains(entry.identity) { identities.append(entry.identity) }
        }
        if !identities.isEmpty { try storeAgeIdentities(identities, in: keyring) }
        return ImportedKeys(keyring: keyring, pgp: pgp, age: try loadAgeIdentities(from: keyring), origins: origins, skipped: sources.skipped)
    }

    private static func located(_ annotation: Annotation, _ source: KeySources.PGPSource, _ block: KeyMaterial.Block) -> Annotation {
        var annotation = annotation
        if annotation.location == nil, let file = source.file {
            annotation.location = SourceLocation(file: file, line: block.lines?.lowerBound)
        }
        return annotation
    }

    /// Extending what expired, with each expired subkey named, then exporting again.
    static func expiryFix(_ key: KeyInfo) -> String {
        let commands = key.extendExpiryCommands.map { "`\($0)`" }.joined(separator: " and ")
        return "Extend it in the keyring that holds the secret key: \(commands), then export it again (`gpg --export-secret-keys --armor \(key.fingerprint)`) and store that in SOPS_GPG_KEY."
    }

    private static func fixFor(_ key: KeyInfo) -> String {
        if key.revoked { return "Use another key: a revoked key stays revoked. Re-encrypt the files for the new key with `sops updatekeys`." }
        return "Add an encryption subkey: `gpg --quick-add-key \(key.fingerprint) cv25519 encr`, export the secret key again, and re-encrypt with `sops updatekeys`."
    }

    /// The identities file inside the keyring (mode 0600), merged with what an earlier import left.
    static func storeAgeIdentities(_ identities: [X25519Identity], in keyring: Keyring) throws {
        let url = keyring.directory.appendingPathComponent(Keyring.ageIdentitiesName)
        var all = (try? loadAgeIdentities(from: keyring)) ?? []
        for identity in identities where !all.contains(identity) { all.append(identity) }
        let text = all.map { "# public key: \($0.recipient)\n\($0.encoded)\n" }.joined()
        try SecureFile.write(Data(text.utf8), to: url)
    }

    static func loadAgeIdentities(from keyring: Keyring) throws -> [X25519Identity] {
        let url = keyring.directory.appendingPathComponent(Keyring.ageIdentitiesName)
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return try AgeIdentityFile.parse(String(decoding: data, as: UTF8.self)).map(\.identity)
    }

    /// Opens the keyring a `keys import` step made, from `--keyring` or `FLUXCI_KEYRING`.
    static func open(_ path: String?, environment: [String: String]) throws -> ImportedKeys {
        guard let path = path ?? environment[keyringVariable].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw Annotation.error(
                "No keyring: \(keyringVariable) is not set.", title: "No keyring",
                fix: "Run `fluxci keys import` in an earlier step (on GitHub it exports \(keyringVariable)), or pass --keyring.")
        }
        let keyring: Keyring
        do {
            keyring = try Keyring.open(URL(fileURLWithPath: path), passphrase: environment["SOPS_GPG_PASSPHRASE"])
        } catch {
            throw KeyErrors.annotation(for: error, source: path)
        }
        let pgp = try keyring.secretKeys(), age = try loadAgeIdentities(from: keyring)
        let origin = "the keyring \(keyring.directory.path) (of `fluxci keys import`)"
        var origins: [String: String] = [:]
        for key in pgp { origins[key.fingerprint] = origin }
        for identity in age { origins[identity.recipient.description] = origin }
        return ImportedKeys(keyring: keyring, pgp: pgp, age: age, origins: origins)
    }
}

/// Files that hold secrets: created exclusively with mode 0600 and renamed into place, so no
/// one else can read them, not even for a moment, and no half-written file is left.
enum SecureFile {
    /// Writes through a temporary file and a rename, mode 0600. With `keepingMode`, a file that
    /// exists keeps its permission bits, as sops's in-place writes keep them (`os.Create` on the
    /// existing path truncates it and leaves its mode: `sops rotate -i`, `updatekeys`, `-e -i`).
    static func write(_ data: Data, to url: URL, keepingMode: Bool = false) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Annotation.error("Cannot create \(temporary.path): \(String(cString: strerror(errno))).", fix: "Check free disk space and permissions.")
        }
        var existing = stat()
        if keepingMode, stat(url.path, &existing) == 0 { _ = fchmod(descriptor, existing.st_mode & 0o7777) }
        let written = data.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == data.count, synced == 0 else {
            unlink(temporary.path)
            throw Annotation.error("Cannot write \(url.path): \(String(cString: strerror(errno))).", fix: "Check free disk space.")
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw Annotation.error("Cannot move a file into \(url.path): \(String(cString: strerror(errno))).")
        }
    }
}

extension KeySources.Skipped {
    /// The skipped sources that may hold a key for a file with these recipients (an age source
    /// for an `age1…` or `ssh-` recipient, a PGP one for a `pgp …` one), as a sentence and a
    /// fix; nil when none was skipped that could matter.
    static func note(_ skipped: [KeySources.Skipped], forRecipients recipients: [String]) -> (sentence: String, fix: String)? {
        let kinds: Set<KeySources.Skipped.Kind> = Set(recipients.compactMap { recipient in
            recipient.hasPrefix("age1") || recipient.hasPrefix("ssh-") ? .age : recipient.hasPrefix("pgp ") ? .pgp : nil
        })
        let relevant = skipped.filter { kinds.isEmpty || kinds.contains($0.kind) }
        guard !relevant.isEmpty else { return nil }
        return (
            "Skipped key source\(relevant.count == 1 ? "" : "s") that may hold its key: \(relevant.map { "the \($0.kind == .age ? "age" : "PGP") key (\($0.why))" }.joined(separator: "; ")).",
            fixes(relevant))
    }

    /// The fixes of `skipped` as one sentence: each capitalized, joined by "; ".
    static func fixes(_ skipped: [KeySources.Skipped]) -> String {
        skipped.map { $0.fix.prefix(1).uppercased() + $0.fix.dropFirst() }.joined(separator: "; ") + "."
    }
}
