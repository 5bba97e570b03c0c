import ArgumentParser

/// `fluxci sops` (and `fluxci-sops`): SOPS files, natively.
public struct SOPSCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("sops"),
        abstract: "Decrypt SOPS files and prove that every one of them decrypts with the run's keys.",
        version: fluxciVersion,
        subcommands: [SOPSVerifyCommand.self, SOPSDecryptCommand.self, SOPSEncryptCommand.self, SOPSRotateCommand.self, SOPSUpdateKeysCommand.self])

    public init() {}
}
