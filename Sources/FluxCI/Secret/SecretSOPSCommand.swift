import Actions
import ArgumentParser
import Foundation

/// `fluxci secret sops`: the sops-gpg and sops-age Secrets, from the run's keys.
struct SecretSOPSCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "sops",
        abstract: "Create or update the sops-gpg (sops.asc) and sops-age (age.agekey) Secrets in flux-system.",
        discussion: """
            The PGP Secret holds the imported secret keys, armored, exported from the keyring; the \
            age Secret holds the imported identities. By default both are created for the keys \
            that were imported. The namespace is created when missing. Server-side apply makes a \
            re-run idempotent, and it says so ("unchanged"). --dry-run prints the manifests with \
            the data redacted and touches no cluster. Key material is never written to disk or \
            put on a command line.

            Environment: \(KeyOptions.environmentHelp), \(ClusterOptions.environmentHelp), \
            GITHUB_ACTIONS, GITHUB_OUTPUT.
            """)

    @Option(help: "The namespace of the Secrets.")
    var namespace = "flux-system"

    @Option(name: .customLong("gpg-name"), help: "The name of the PGP Secret.")
    var gpgName = "sops-gpg"

    @Option(name: .customLong("age-name"), help: "The name of the age Secret.")
    var ageName = "sops-age"

    @Option(help: "Create only this one: gpg or age (default: each one there are keys for).")
    var only: DecryptionSecrets.Which?

    @Flag(help: "Print the manifests, data redacted, and change nothing.")
    var dryRun = false

    @OptionGroup var keys: KeyOptions
    @OptionGroup var cluster: ClusterOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        let secrets = DecryptionSecrets(namespace: namespace, names: .init(gpg: gpgName, age: ageName))
        try await keys.withKeys(context, repository: context.workingDirectory) { imported in
            let which: Set<DecryptionSecrets.Which> = only.map { [$0] }
                ?? Set([imported.pgp.isEmpty ? nil : .gpg, imported.age.isEmpty ? nil : .age].compactMap { $0 })
            try await Self.create(secrets, which: which, keys: imported, dryRun: dryRun, cluster: cluster, context: context)
        }
    }

    static func create(
        _ secrets: DecryptionSecrets, which: Set<DecryptionSecrets.Which>, keys: ImportedKeys, dryRun: Bool, cluster: ClusterOptions,
        context: CommandContext
    ) async throws {
        let objects = try secrets.manifests(from: keys, which: which, reporter: context.reporter)
        if dryRun {
            context.standardOutput.write(DecryptionSecrets.redactedYAML(objects))
            return
        }
        let client = try cluster.client(context)
        let results = try await context.reporter.group("Create the decryption Secrets in \(secrets.namespace)") {
            try await secrets.apply(objects, client: client, reporter: context.reporter)
        }
        try context.reporter.setOutput("secrets", results.map(\.0).joined(separator: ","))
    }
}

extension DecryptionSecrets.Which: ExpressibleByArgument {}

/// `fluxci secret age --cloud C --env E`: the sops-age Secret from the repository's
/// `.secrets/C/E/age/age.agekey` (what `make sops-age-secret` did).
struct SecretAgeCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "age",
        abstract: "Create the sops-age Secret from .secrets/<cloud>/<env>/age/age.agekey.",
        discussion: "Environment: \(ClusterOptions.environmentHelp), GITHUB_ACTIONS.")

    @Option(help: "The cloud of .secrets/<cloud>/<env>/.")
    var cloud: String

    @Option(help: "The environment of .secrets/<cloud>/<env>/.")
    var env: String

    @Option(help: "The namespace of the Secret.")
    var namespace = "flux-system"

    @Option(help: "The name of the Secret.")
    var name = "sops-age"

    @Flag(help: "Print the manifest, data redacted, and change nothing.")
    var dryRun = false

    @OptionGroup var cluster: ClusterOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        var options = try KeyOptions.parse(["--cloud", cloud, "--env", env])
        options.keyring = nil
        // Only the cloud/env files: the environment's keys are not what this command is for.
        var isolated = context
        isolated.environment = context.environment.filter { !["SOPS_GPG_KEY", "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "FLUXCI_KEYRING"].contains($0.key) }
        let secrets = DecryptionSecrets(namespace: namespace, names: .init(age: name))
        try await options.withKeys(isolated, repository: context.workingDirectory) { imported in
            try await SecretSOPSCommand.create(secrets, which: [.age], keys: imported, dryRun: dryRun, cluster: cluster, context: context)
        }
    }
}
