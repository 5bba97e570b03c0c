import Actions
import ArgumentParser
import Foundation
import GPG

/// `fluxci keys import`: CI secrets (or a laptop's `.secrets/`) into a private keyring.
struct KeysImportCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import SOPS keys (PGP with gpgme, age natively) into a private keyring and report them.",
        discussion: """
            Sources, in this order: SOPS_GPG_KEY (one or more ASCII-armored secret keys, or the \
            base64 of that), SOPS_GPG_PASSPHRASE (for protected keys), SOPS_AGE_KEY \
            (AGE-SECRET-KEY-1… lines, # comments allowed), SOPS_AGE_KEY_FILE, then with --cloud \
            and --env the files .secrets/<cloud>/<env>/age/age.agekey and \
            .secrets/<cloud>/<env>/gpg/sops.asc, then with --local-keyring the secret keys \
            exported from your own GnuPG home (GNUPGHOME or ~/.gnupg).

            Every secret is masked before anything is printed. The keyring is a new mode-0700 \
            directory under /tmp (or the one FLUXCI_KEYRING names, which makes a re-run \
            idempotent); on GitHub its path is exported as FLUXCI_KEYRING for later steps. \
            Outputs: fingerprint, fingerprints, keyid, name, email, age-recipients, gnupghome.

            Environment: SOPS_GPG_KEY, SOPS_GPG_PASSPHRASE, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, \
            FLUXCI_KEYRING, GNUPGHOME (with --local-keyring), TMPDIR, GITHUB_WORKSPACE, GITHUB_ACTIONS, \
            GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE, GITHUB_STEP_SUMMARY, NO_COLOR.
            """)

    @Option(help: "The cloud of .secrets/<cloud>/<env>/ to read keys from (local reproduction).")
    var cloud: String?

    @Option(help: "The environment of .secrets/<cloud>/<env>/.")
    var env: String?

    @Option(name: .customLong("local-keyring"), parsing: .upToNextOption, help: "Fingerprints of secret keys to export from your own GnuPG home.")
    var localKeyring: [String] = []

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    @Flag(help: "Print the result as JSON on standard output.")
    var json = false

    init() {}

    func validate() throws {
        if (cloud == nil) != (env == nil) { throw ValidationError("--cloud and --env go together.") }
        for value in [cloud, env].compactMap({ $0 }) where value.isEmpty || value.contains("/") || value.hasPrefix(".") {
            throw ValidationError("'\(value)' is not a cloud or environment name (no slashes, not starting with '.').")
        }
    }

    func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        let root = context.repositoryRoot(repository)
        let sources = try KeySources.read(
            environment: context.environment, repository: root, cloudEnv: cloud.flatMap { c in env.map { (c, $0) } },
            localKeyring: localKeyring, reporter: reporter, currentDirectory: context.workingDirectory)

        let imported: ImportedKeys = try reporter.group("Import SOPS keys") {
            let existing = context.environment[ImportedKeys.keyringVariable].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            let reusing = existing.map(Keyring.isKeyring) ?? false
            let keyring: Keyring
            if reusing {
                do { keyring = try Keyring.open(existing!, passphrase: sources.passphrase) } catch {
                    throw KeyErrors.annotation(for: error, source: "the keyring")
                }
            } else {
                keyring = try KeyErrors.createKeyring(for: sources, in: context.environment["TMPDIR"])
                if let existing {
                    // FLUXCI_KEYRING names something that is not a keyring (tester t11 F24): said,
                    // so that a later `keys cleanup` with the same variable does not leave this one.
                    reporter.warning(
                        "FLUXCI_KEYRING names \(existing.path), which is not a keyring fluxci created\(FileManager.default.fileExists(atPath: existing.path) ? "" : " (it does not exist)"): the keys were imported into a new keyring, \(keyring.directory.path), instead.",
                        title: "FLUXCI_KEYRING not used",
                        fix: "Use FLUXCI_KEYRING=\(keyring.directory.path) for the later steps and for `fluxci keys cleanup` (on GitHub it is exported for you), or unset FLUXCI_KEYRING before `keys import`.")
                }
            }
            do {
                let imported = try ImportedKeys.importing(sources, into: keyring, reporter: reporter)
                reporter.log(reusing ? "Imported into the existing keyring \(keyring.directory.path)." : "Created the keyring \(keyring.directory.path).")
                return imported
            } catch {
                // Bad input changes nothing: a keyring this run created goes away with its agent.
                if !reusing { keyring.destroy() }
                throw error
            }
        }
        try report(imported, reporter: reporter, context: context)
    }

    private func report(_ imported: ImportedKeys, reporter: Reporter, context: CommandContext) throws {
        let directory = imported.keyring.directory.path
        var rows: [[String]] = imported.pgp.map { key in
            let subkeys = key.subkeys.map { subkey in
                "\(subkey.keyID) \(subkey.algorithm) [\(subkey.capabilities)]" + (subkey.expires.map { " \(subkey.expired ? "expired" : "expires") \(KeyInfo.day($0))" } ?? "")
            }
            return ["pgp", key.fingerprint, key.primaryUserID?.uid ?? "", subkeys.joined(separator: ", ")]
        }
        rows += imported.age.map { ["age", $0.recipient.description, "", ""] }
        var table = StepSummary()
        table.heading("SOPS keys", level: 3)
        table.table(header: ["Type", "Fingerprint / recipient", "User", "Subkeys"], rows: rows)
        reporter.publish(table)

        let first = imported.pgp.first
        let outputs: [(String, String)] = [
            ("fingerprint", first?.fingerprint ?? ""),
            ("fingerprints", imported.pgp.map(\.fingerprint).joined(separator: ",")),
            ("keyid", first?.keyID ?? ""),
            ("name", first?.primaryUserID?.name ?? ""),
            ("email", first?.primaryUserID?.email ?? ""),
            ("age-recipients", imported.age.map(\.recipient.description).joined(separator: ",")),
            ("gnupghome", directory),
        ]
        for (name, value) in outputs { try reporter.setOutput(name, value) }
        try reporter.exportVariable(ImportedKeys.keyringVariable, directory)
        try reporter.saveState("keyring", directory)
        if context.environment["GITHUB_ACTIONS"] != "true" {
            reporter.log("Later fluxci commands find this keyring through: export \(ImportedKeys.keyringVariable)=\(directory)")
        }
        if json {
            struct Output: Encodable {
                var keyring: String
                var pgp: [KeyInfo]
                var ageRecipients: [String]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            let data = try encoder.encode(Output(keyring: directory, pgp: imported.pgp, ageRecipients: imported.age.map(\.recipient.description)))
            context.standardOutput.write(reporter.redact(String(decoding: data, as: UTF8.self)) + "\n")
        }
    }
}
