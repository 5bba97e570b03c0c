import Actions
import ArgumentParser
import Foundation
import GPG
import SOPS

/// Where a command that needs the SOPS keys finds them: the keyring of an earlier
/// `fluxci keys import` (`--keyring` or FLUXCI_KEYRING), or else the same sources `keys import`
/// reads, imported into a temporary keyring that is removed when the command ends.
struct KeyOptions: ParsableArguments {
    @Option(help: "The keyring of an earlier `fluxci keys import` (default: FLUXCI_KEYRING).")
    var keyring: String?

    @Option(help: "With --env: read keys from .secrets/<cloud>/<env>/ when there is no keyring.")
    var cloud: String?

    @Option(help: "With --cloud: the environment of .secrets/<cloud>/<env>/.")
    var env: String?

    func validate() throws {
        if (cloud == nil) != (env == nil) { throw ValidationError("--cloud and --env go together.") }
    }

    static let environmentHelp = "FLUXCI_KEYRING, SOPS_GPG_KEY, SOPS_GPG_PASSPHRASE, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD"

    /// Runs `body` with the keys, removing a temporary keyring afterwards, also on failure.
    ///
    /// `whereSopsLooks` is for the laptop commands that stand in for sops (`sops decrypt`,
    /// `verify`, `rotate`, `updatekeys`): without a keyring they use, as sops does, the keys the
    /// environment gives *and* sops's defaults (the default age key file, the user's GnuPG
    /// keyring in place). Commands that prove what a cluster will hold keep exactly the keys
    /// they were given.
    func withKeys<T>(_ context: CommandContext, repository: URL, whereSopsLooks: Bool = false, _ body: (ImportedKeys) async throws -> T) async throws -> T {
        try await Self.withKeys(
            context, keyring: keyring, repository: repository, cloudEnv: cloud.flatMap { c in env.map { (c, $0) } }, whereSopsLooks: whereSopsLooks, body)
    }

    /// The same, for commands whose --cloud and --env also name the cluster.
    /// With `allowNone`, no key at all is no error: `body` gets no keys. With `cleanup`, a temporary keyring is also registered there, so that a signal's cleanup
    /// (SignalCleanup) removes it when the process is stopped before `body` returns.
    static func withKeys<T>(
        _ context: CommandContext, keyring: String?, repository: URL, cloudEnv: (cloud: String, env: String)?, unread: [KeySources.Skipped] = [],
        cleanup: Cleanup? = nil, allowNone: Bool = false, whereSopsLooks: Bool = false, _ body: (ImportedKeys) async throws -> T
    ) async throws -> T {
        if keyring != nil || context.environment[ImportedKeys.keyringVariable].map({ !$0.isEmpty }) == true {
            let imported = try ImportedKeys.open(keyring, environment: context.environment)
            for line in imported.originLines { context.reporter.log(line) }
            return try await body(imported)
        }
        let given = KeySources.environmentGivesKeys(context.environment)
        // Every `.secrets/<cloud>/<env>/` is searched only by the commands that stand in for
        // sops on a laptop; a command that makes a cluster's Secrets takes the keys given or
        // its cluster's folder, never another cluster's (tester t14 F3).
        if !given && cloudEnv == nil && whereSopsLooks {
            return try await DefaultKeys.withKeys(context, repository: repository, allowNone: allowNone, body)
        }
        // Keys from the environment (CI): these and, only when --cloud/--env ask for it, that
        // folder's — never .secrets/ merged in silently, so a laptop run holds CI's keys.
        // Nothing given at all is no error when the caller runs what needs no key (an empty
        // keyring) or looks where sops looks; what was skipped is kept for its messages.
        var sources = try KeySources.read(
            cluster: cloudEnv, environment: context.environment, repository: repository, reporter: context.reporter,
            currentDirectory: context.workingDirectory, noneIsError: !(allowNone || whereSopsLooks))
        sources.skipped += unread
        if whereSopsLooks {
            return try await DefaultKeys.withKeys(context, repository: repository, given: sources, allowNone: allowNone, body)
        }
        let temporary = try KeyErrors.createKeyring(for: sources, in: context.environment["TMPDIR"])
        defer { temporary.destroy() }
        cleanup?.add("Remove the keyring and stop its gpg-agent", removesSecrets: true) { temporary.destroy() }
        let imported = try ImportedKeys.importing(sources, into: temporary, reporter: context.reporter)
        for line in imported.originLines { context.reporter.log(line) }
        return try await body(imported)
    }
}

extension ImportedKeys {
    var chain: KeyChain { KeyChain(ageIdentities: age, keyring: pgp.isEmpty ? nil : keyring, otherKeyrings: otherKeyrings) }
}
