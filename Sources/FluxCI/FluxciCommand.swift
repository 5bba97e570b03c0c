import ArgumentParser

/// `fluxci`: every command of the toolkit as a subcommand.
public struct FluxciCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fluxci",
        abstract: "Test a Flux v2 GitOps repository end to end in CI and on a laptop.",
        discussion: """
            On GitHub Actions (GITHUB_ACTIONS=true) every command speaks workflow commands: \
            annotations, groups, masks, outputs (GITHUB_OUTPUT) and a step summary \
            (GITHUB_STEP_SUMMARY). Elsewhere the same commands print for a terminal; NO_COLOR \
            turns colour off, FLUXCI_DEBUG=1 shows debug lines.
            """,
        version: fluxciVersion,
        subcommands: [AnnotateCommand.self, KeysCommand.self, SOPSCommand.self, SecretCommand.self, ApplyCommand.self, BootstrapCommand.self, ClusterCommand.self, E2ECommand.self, MatrixCommand.self])

    public init() {}
}
