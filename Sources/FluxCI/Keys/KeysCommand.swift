import ArgumentParser

/// `fluxci keys` (and `fluxci-keys`): the SOPS keys of a run.
public struct KeysCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("keys"),
        abstract: "Import the SOPS keys of a run into a private keyring, and clean it up.",
        version: fluxciVersion,
        subcommands: [KeysImportCommand.self, KeysCleanupCommand.self, KeysNewCommand.self, KeysExportCICommand.self])

    public init() {}
}
