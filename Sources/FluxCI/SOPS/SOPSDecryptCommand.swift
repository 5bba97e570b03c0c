import Actions
import ArgumentParser
import Foundation
import SOPS

/// `fluxci sops decrypt FILE`: what `sops -d FILE` prints, without the sops binary.
struct SOPSDecryptCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a SOPS file (YAML, JSON, dotenv, ini or binary) to standard output or --output, checking its MAC.",
        discussion: """
            The plaintext is what `sops -d` prints, byte for byte, comments included: the store is found from the file's content, \
            the output format from its name as sops chooses it (a binary file gives its raw bytes, \
            not sops's JSON wrapper). On GitHub every decrypted value of \(SOPSFiles.shortestMasked) \
            characters or more is masked in the log first (and each such line of a multi-line value: \
            the runner masks line by line); shorter values (1 to \(SOPSFiles.shortestMasked - 1) \
            characters: numbers such as 443, booleans, `on`) are not: the runner masks any string \
            it is given everywhere in the job's log, so masking them would blank every such \
            character sequence while hiding nothing a guess would not find. In a terminal nothing is \
            masked: the plaintext is the output, and fluxci's messages never quote a value. With --output the file is written with mode 0600 \
            through a temporary file, so a failure leaves nothing half-written.

            Environment: \(KeyOptions.environmentHelp), GITHUB_ACTIONS.
            """)

    @Argument(help: "The SOPS file.")
    var file: String

    @Option(name: .shortAndLong, help: "Write the plaintext here instead of standard output.")
    var output: String?

    @OptionGroup var keys: KeyOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        try await SOPSCommandFailure.reporting(.decrypt, context) { try await decrypt(in: context) }
    }

    func decrypt(in context: CommandContext) async throws {
        let url = context.url(for: file)
        let bytes = try SOPSFiles.readBytes(url, shownAs: file, for: .decrypt)
        let stored: StoredSOPSFile
        do {
            guard let found = try StoredSOPSFile(bytes: bytes, path: file) else {
                throw SOPSFiles.notSOPSFailure(bytes, file: file)
            }
            stored = found
        } catch let error as DecryptionError {
            throw SOPSFiles.failure(error, file: file)
        }
        let plaintext: Data = try await keys.withKeys(context, repository: context.workingDirectory, whereSopsLooks: true) { imported in
            let decrypted: StoredSOPSFile.Decrypted
            let chain = imported.chain
            do throws(DecryptionError) {
                decrypted = try stored.decrypt(with: chain)
            } catch {
                throw SOPSFiles.failure(error, file: file, keys: imported)
            }
            SOPSFiles.maskSecrets(decrypted.secretValues, reporter: context.reporter)
            if let opener = imported.opener(of: stored.metadata, chain: chain) { context.reporter.log("Opened \(file) with \(opener).") }
            if let plaintext = decrypted.plaintext { return plaintext }
            let trees = decrypted.documents.map(\.tree)
            return Data((stored.output == .json ? TreeEmitter.json(trees) : try TreeEmitter.yaml(trees)).utf8)
        }
        if let output {
            try SecureFile.write(plaintext, to: context.url(for: output))
            context.reporter.log("Decrypted \(file) to \(output).")
        } else {
            context.standardOutput.write(plaintext)
        }
    }
}
