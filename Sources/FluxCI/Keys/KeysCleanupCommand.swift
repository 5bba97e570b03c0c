import Actions
import ArgumentParser
import Foundation
import GPG

/// `fluxci keys cleanup`: stops the keyring's gpg-agent and removes the keyring.
struct KeysCleanupCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Stop the keyring's gpg-agent and remove the keyring directory. Safe to run twice.",
        discussion: """
            The keyring is --keyring, else FLUXCI_KEYRING, else STATE_keyring (an action's post \
            step). Only a directory that fluxci created as a keyring is removed.

            Environment: FLUXCI_KEYRING, STATE_keyring, GITHUB_ACTIONS, NO_COLOR.
            """)

    @Option(help: "The keyring directory to remove.")
    var keyring: String?

    init() {}

    func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        let candidates = [keyring, context.environment[ImportedKeys.keyringVariable], context.environment["STATE_keyring"]]
        guard let path = candidates.compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            reporter.log("No keyring to clean up (FLUXCI_KEYRING is not set).")
            return
        }
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            reporter.log("The keyring \(path) is already gone.")
            return
        }
        guard Keyring.isKeyring(url) else {
            throw Annotation.error(
                "\(path) is not a keyring created by fluxci; it was left alone.", title: "Not a fluxci keyring",
                fix: "Point --keyring or FLUXCI_KEYRING at the directory `fluxci keys import` created.")
        }
        Keyring.remove(url)
        reporter.log("Stopped the keyring's gpg-agent and removed \(path).")
    }
}
