import Actions
import ArgumentParser
import Foundation
import GPG
import SOPS
import Age

/// `fluxci sops encrypt`: an ordinary SOPS file that sops and Flux decrypt, written natively.
struct SOPSEncryptCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt a YAML, JSON, dotenv, ini or binary file (or standard input, '-') with SOPS: to standard output, or --in-place.",
        discussion: """
            The store is chosen by the file's name, as sops chooses it: .yaml/.yml, .json, .env \
            (dotenv), .ini, any other name binary (the bytes as they are, in sops's JSON wrapper, \
            always encrypted whatever the rule). Recipients and the encryption rule come from flags (--age, --pgp, --encrypted-regex), \
            else from the first matching creation rule of .sops.yaml (path_regex, age, pgp, \
            key_groups, shamir_threshold, encrypted_regex…), else with --cloud/--env from \
            .secrets/<cloud>/<env>/ (age.agekey's recipient, sops.pub.asc's fingerprint). As with \
            sops, .sops.yaml is the first one found from the current directory upwards, a rule's \
            path_regex is matched against the file's path relative to that .sops.yaml's folder, \
            and a .sops.yaml none of whose rules matches the file is an error. Without an \
            encryption selector every value is encrypted (unencrypted_suffix _unencrypted), as \
            sops does, Kubernetes manifests included. The public key of \
            each PGP fingerprint is taken from --pgp-key-file, .secrets' sops.pub.asc, the \
            keyring of FLUXCI_KEYRING, your GnuPG keyring (GNUPGHOME or ~/.gnupg; public keys \
            only), or a committed .sops.pub.asc anywhere in the repository (what `fluxci keys new \
            --pgp` writes beside the cluster), and the output says which. A rule's \
            mac_only_encrypted, encrypted_comment_regex and unencrypted_comment_regex are applied \
            as sops applies them. --in-place writes \
            through a temporary file: a failure leaves the input untouched.

            Environment: FLUXCI_KEYRING, GNUPGHOME, GITHUB_WORKSPACE.
            """)

    @Argument(help: "The file, or '-' for standard input.")
    var file: String

    @Flag(help: "Replace the file with its encrypted form.")
    var inPlace = false

    @Option(help: "An age recipient (repeatable, or comma-separated).")
    var age: [String] = []

    @Option(help: "A PGP fingerprint (repeatable, or comma-separated).")
    var pgp: [String] = []

    @Option(help: "Encrypt only values under keys matching this regular expression.")
    var encryptedRegex: String?

    @Option(help: "A file of armored public PGP keys to encrypt to.")
    var pgpKeyFile: String?

    @Option(help: "Recipients from .secrets/<cloud>/<env>/ (with --env).")
    var cloud: String?

    @Option(help: "With --cloud.")
    var env: String?

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    init() {}

    func validate() throws {
        if (cloud == nil) != (env == nil) { throw ValidationError("--cloud and --env go together.") }
        if inPlace && file == "-" { throw ValidationError("--in-place needs a file, not standard input.") }
    }

    func execute(in context: CommandContext) async throws {
        try await SOPSCommandFailure.reporting(.encrypt, context) { try await encrypt(in: context) }
    }

    func encrypt(in context: CommandContext) async throws {
        let root = context.repositoryRoot(repository)
        let url = file == "-" ? root.appendingPathComponent("stdin.yaml") : context.url(for: file)
        // sops picks the store by the file's name (`formats.FormatForPath`): .yaml/.yml, .json,
        // .env (dotenv), .ini, anything else binary. Standard input has no name: JSON when it
        // starts with `{`, else YAML.
        let bytes: Data = file == "-" ? context.readStandardInput() : try SOPSFiles.readBytes(url, shownAs: file, for: .encrypt)
        let text = String(decoding: bytes, as: UTF8.self)
        if file != "-", SOPSFileFormat(path: url.lastPathComponent) == .yaml, String(data: bytes, encoding: .utf8) == nil {
            throw SOPSCommandFailure(
                .error("\(file) cannot be read as UTF-8 text, and sops's YAML reader refuses it too.", title: "Unreadable file", at: SourceLocation(file: file)),
                code: .couldNotReadInputFile)
        }
        let format: SOPSFileFormat = file == "-" ? (text.drop(while: \.isWhitespace).hasPrefix("{") ? .json : .yaml) : SOPSFileFormat(path: url.lastPathComponent)
        let (recipients, rule, keyring, macOnlyEncrypted) = try await resolve(for: url, text: text, root: root, context: context)
        defer { keyring?.destroy() }
        let encrypted: Data
        do {
            encrypted = Data(try FlatEncryption.encrypt(Array(bytes), format: format, recipients: recipients, rule: rule, macOnlyEncrypted: macOnlyEncrypted, keyring: keyring))
        } catch {
            if case .pgp = error, let expired = Self.expiredRecipient(recipients, keyring: keyring) { throw expired }
            throw SOPSCommandFailure(Self.annotation(error, file: file), code: SOPSExitCode(error))
        }
        if inPlace {
            try SecureFile.write(encrypted, to: url, keepingMode: true)
            context.reporter.log("Encrypted \(file) in place.")
        } else {
            context.standardOutput.write(encrypted)
        }
    }

    /// gpg refuses to encrypt to an expired key (it still decrypts with it): the fix names what
    /// expired, subkeys by fingerprint.
    static func expiredRecipient(_ recipients: Recipients, keyring: Keyring?) -> Annotation? {
        for fingerprint in recipients.groups.flatMap(\.pgp) {
            guard let key = try? keyring?.key(fingerprint, secret: false), let expiry = key.expiry else { continue }
            return .error(
                "Cannot encrypt to the PGP key \(fingerprint): \(expiry). Files already encrypted to it still decrypt.",
                title: "Expired PGP key",
                fix: "Extend it where its secret key is: \(key.extendExpiryCommands.map { "`\($0)`" }.joined(separator: " and ")), then publish the public key again (`gpg --export --armor \(key.fingerprint)`) and, for CI, export the secret key again.")
        }
        return nil
    }

    static func annotation(_ error: EncryptionError, file: String) -> Annotation {
        let location = SourceLocation(file: file, line: {
            switch error {
            case .malformed(_, let line), .notEncryptable(_, let line): line
            default: nil
            }
        }())
        return switch error {
        case .alreadyEncrypted: .error("\(file) is already encrypted.", title: "Already encrypted", fix: "Edit it with `sops \(file)`, or rotate its key with `fluxci sops rotate`.", at: location)
        case .noRecipients: .error("No recipient for \(file).", title: "No recipients", fix: "Pass --age or --pgp, add a creation rule to .sops.yaml, or pass --cloud and --env.", at: location)
        case .invalidAgeRecipient: .error("\(error).", title: "Invalid age recipient", fix: "An age recipient is age1 followed by 58 characters, as age-keygen -y prints it.", at: location)
        case .unknownPGPKey(let fingerprint):
            .error("\(error).", title: "Unknown PGP key", fix: "Commit its public key beside the cluster (`gpg --export --armor \(fingerprint) > clusters/CLOUD/ENV/.sops.pub.asc`, which `fluxci keys new --pgp` writes), import it into your keyring (`gpg --import KEYFILE`), or pass --pgp-key-file KEYFILE with the armored public key of \(fingerprint).", at: location)
        case .encryptedCommentMatchesUnencryptedCommentRegex:
            .error("\(file): \(error).", title: "Cannot encrypt", fix: "Change unencrypted_comment_regex in .sops.yaml so that it cannot match an encrypted comment `ENC[AES256_GCM,data:…,iv:…,tag:…,type:comment]`, whose base64 holds any letter, digit, + and /: anchor it to the comment's start (e.g. `^\\s*keep`), or leave out such comments.", at: location)
        default: .error("\(file): \(error).", title: "Cannot encrypt", at: location)
        }
    }

    /// Flags first, then .sops.yaml, then .secrets/<cloud>/<env>/.
    func resolve(for url: URL, text: String, root: URL, context: CommandContext) async throws -> (Recipients, EncryptionRule, Keyring?, macOnlyEncrypted: Bool) {
        var ages = age.flatMap { $0.split(separator: ",").map(String.init) }
        var fingerprints = pgp.flatMap { $0.split(separator: ",").map(String.init) }
        var recipients: Recipients?
        // sops reads the config for every file it encrypts, found from the working directory
        // upwards (flags win over its keys and rule; no rule for the file is an error). Standard
        // input has no path to match.
        let creation = file == "-" ? nil : try CreationRule.find(for: url, workingDirectory: context.workingDirectory, reporter: context.reporter)
        var rule = encryptedRegex.map(EncryptionRule.encryptedRegex) ?? creation?.rule
        var keyFiles: [(name: String, data: Data)] = []
        if let pgpKeyFile {
            guard let data = FileManager.default.contents(atPath: context.url(for: pgpKeyFile).path) else {
                throw Annotation.error("\(pgpKeyFile) cannot be read.", title: "Key file not found")
            }
            keyFiles.append((pgpKeyFile, data))
        }
        if ages.isEmpty && fingerprints.isEmpty {
            if let cloud, let env {
                let folder = root.appendingPathComponent(".secrets/\(cloud)/\(env)")
                if let identities = FileManager.default.contents(atPath: folder.appendingPathComponent("age/age.agekey").path),
                    let entries = try? AgeIdentityFileReader.recipients(String(decoding: identities, as: UTF8.self))
                {
                    ages = entries
                }
                let publicKey = ".secrets/\(cloud)/\(env)/gpg/sops.pub.asc"
                if let key = FileManager.default.contents(atPath: root.appendingPathComponent(publicKey).path) { keyFiles.append((publicKey, key)) }
            }
            if let creation {
                recipients = creation.recipients
                rule = rule ?? creation.rule
            }
        }
        // A rule (or flags) without a selector encrypts every value, as sops does (its default
        // is unencrypted_suffix _unencrypted, written into the metadata); sops has no special
        // rule for Kubernetes manifests, so neither has fluxci.
        let finalRule = rule ?? .unencryptedSuffix("_unencrypted")
        // No keyring (and no gpg process) when no PGP key is involved.
        let wantsPGP = !keyFiles.isEmpty || !fingerprints.isEmpty || (recipients?.groups.contains { !$0.pgp.isEmpty } ?? false)
        let macOnlyEncrypted = creation?.macOnlyEncrypted ?? false
        guard wantsPGP else { return (recipients ?? Recipients(groups: [.init(age: ages, pgp: [])]), finalRule, nil, macOnlyEncrypted) }
        let keyring: Keyring
        do {
            keyring = try Keyring.create(in: context.environment["TMPDIR"])
        } catch {
            throw KeyErrors.annotation(for: error, source: "a temporary keyring")
        }
        // Key files given or found in .secrets: their keys are the recipients when nothing else names one.
        for (name, data) in keyFiles {
            guard let result = try? keyring.importKeys(data) else { continue }
            if fingerprints.isEmpty && recipients == nil { fingerprints += result.fingerprints }
            for fingerprint in result.fingerprints { context.reporter.log("PGP public key \(fingerprint) from \(name).") }
        }
        let final = recipients ?? Recipients(groups: [.init(age: ages, pgp: fingerprints)])
        try PublicKeyFinder.gather(final.groups.flatMap(\.pgp), into: keyring, root: creation.map { URL(fileURLWithPath: $0.configFile).deletingLastPathComponent() } ?? root, context: context)
        return (final, finalRule, keyring, macOnlyEncrypted)
    }
}

/// The recipients of an age identities file.
enum AgeIdentityFileReader {
    static func recipients(_ text: String) throws -> [String] {
        try AgeIdentityFile.parse(text).map(\.identity.recipient.description)
    }
}
