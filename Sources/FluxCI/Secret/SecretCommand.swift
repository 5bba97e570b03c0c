import ArgumentParser

/// `fluxci secret` (and `fluxci-secret`): the Secrets Flux needs.
public struct SecretCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("secret"),
        abstract: "Create the sops-gpg / sops-age Secrets Flux decrypts with, and Secret manifests from files.",
        version: fluxciVersion,
        subcommands: [SecretSOPSCommand.self, SecretAgeCommand.self, SecretFromFileCommand.self])

    public init() {}
}
