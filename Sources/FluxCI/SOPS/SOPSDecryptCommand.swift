import Actions
import ArgumentParser
import Foundation
import SOPS

/// `fluxci sops decrypt FILE`: what `sops -d FILE` prints, without the sops binary.
struct SOPSDecryptCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a SOPS file (YAML or JSON) to standard output or --output, checking its MAC.",
        discussion: """
            The plaintext has the same content as `sops -d` gives (comments are not kept). On \
            GitHub every decrypted value is masked in the log first. With --output the file is \
            written with mode 0600 through a temporary file, so a failure leaves nothing half-written.

            Environment: \(KeyOptions.environmentHelp), GITHUB_ACTIONS.
            """)

    @Argument(help: "The SOPS file.")
    var file: String

    @Option(name: .shortAndLong, help: "Write the plaintext here instead of standard output.")
    var output: String?

    @OptionGroup var keys: KeyOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        let url = context.url(for: file)
        let text = try SOPSFiles.read(url, shownAs: file)
        let sopsFile: SOPSFile
        do {
            sopsFile = try SOPSFile(text: text, path: file)
        } catch {
            throw SOPSFiles.annotation(error, file: file)
        }
        let plaintext: String = try await keys.withKeys(context, repository: context.workingDirectory) { imported in
            let documents: [DecryptedDocument]
            do throws(DecryptionError) {
                documents = try SOPSDecryptor.decrypt(sopsFile, with: imported.chain)
            } catch {
                throw SOPSFiles.annotation(error, file: file, keys: imported)
            }
            SOPSFiles.maskSecrets(documents, reporter: context.reporter)
            let trees = documents.map(\.tree)
            return sopsFile.format == .json ? TreeEmitter.json(trees) : try TreeEmitter.yaml(trees)
        }
        if let output {
            try SecureFile.write(Data(plaintext.utf8), to: context.url(for: output))
            context.reporter.log("Decrypted \(file) to \(output).")
        } else {
            context.standardOutput.write(plaintext)
        }
    }
}
