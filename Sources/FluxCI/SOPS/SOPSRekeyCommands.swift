import Actions
import ArgumentParser
import Foundation
import SOPS

/// `fluxci sops rotate` and `fluxci sops updatekeys`: a new data key for a file, for the same
/// recipients or for those `.sops.yaml` names now; the values stay as they are.
struct SOPSRotateCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Re-encrypt a SOPS file with a new data key for the same recipients, in place.",
        discussion: """
            Decrypts with the run's keys (MAC checked), then encrypts the same values again with a \
            fresh data key, the same key groups and the same encryption rule, through a temporary \
            file, comments and `mac_only_encrypted` kept as sops keeps them. Environment: \(KeyOptions.environmentHelp), GNUPGHOME.
            """)

    @Argument(help: "The SOPS file.")
    var file: String

    @OptionGroup var keys: KeyOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        try await SOPSRekey.run(file: file, keys: keys, context: context) { metadata, _ in
            (try SOPSRekey.recipients(of: metadata, file: file), "Rotated the data key of \(file).")
        }
    }
}

struct SOPSUpdateKeysCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "updatekeys",
        abstract: "Re-encrypt a SOPS file for the recipients its .sops.yaml creation rule names now, in place.",
        discussion: "Environment: \(KeyOptions.environmentHelp), GNUPGHOME, GITHUB_WORKSPACE.")

    @Argument(help: "The SOPS file.")
    var file: String

    @OptionGroup var keys: KeyOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        try await SOPSRekey.run(file: file, keys: keys, context: context) { metadata, url in
            guard let rule = try CreationRule.find(for: url, stopAt: context.repositoryRoot(nil)) else {
                throw Annotation.error("No .sops.yaml creation rule matches \(file).", title: "No creation rule", fix: "Add a rule whose path_regex matches the file.")
            }
            let before = Set(metadata.allKeys.map(\.description))
            let after = Set(rule.recipients.groups.flatMap { $0.age + $0.pgp.map { "pgp \($0)" } })
            let added = after.subtracting(before).sorted(), removed = before.subtracting(after).sorted()
            let change = added.isEmpty && removed.isEmpty ? "no recipient changed" : "added \(added.joined(separator: ", ")); removed \(removed.joined(separator: ", "))"
            return (rule.recipients, "Updated the keys of \(file): \(change).")
        }
    }
}

enum SOPSRekey {
    static func recipients(of metadata: Metadata, file: String) throws -> Recipients {
        var groups: [Recipients.Group] = []
        for group in metadata.keyGroups {
            var entry = Recipients.Group()
            for key in group {
                switch key {
                case .age(let recipient, _): entry.age.append(recipient)
                case .pgp(let fingerprint, _): entry.pgp.append(fingerprint)
                case .other(let kind, let identifier):
                    throw Annotation.error(
                        "\(file) is also encrypted for \(kind) \(identifier), which fluxci cannot encrypt to.", title: "Unsupported key",
                        fix: "Use `sops rotate` for files with cloud KMS keys.")
                }
            }
            groups.append(entry)
        }
        return Recipients(groups: groups, shamirThreshold: metadata.keyGroups.count > 1 ? metadata.shamirThreshold : nil)
    }

    static func rule(of metadata: Metadata) -> EncryptionRule {
        if let value = metadata.encryptedRegex { return .encryptedRegex(value) }
        if let value = metadata.unencryptedRegex { return .unencryptedRegex(value) }
        if let value = metadata.encryptedSuffix { return .encryptedSuffix(value) }
        if let value = metadata.encryptedCommentRegex { return .encryptedCommentRegex(value) }
        if let value = metadata.unencryptedCommentRegex { return .unencryptedCommentRegex(value) }
        return .unencryptedSuffix(metadata.unencryptedSuffix ?? "_unencrypted")
    }

    static func run(
        file: String, keys: KeyOptions, context: CommandContext, recipients: (Metadata, URL) throws -> (Recipients, String)
    ) async throws {
        let url = context.url(for: file)
        let text = try SOPSFiles.read(url, shownAs: file)
        let sopsFile: SOPSFile
        do { sopsFile = try SOPSFile(text: text, path: file) } catch { throw SOPSFiles.annotation(error, file: file) }
        let metadata = sopsFile.documents[0].metadata
        let (target, message) = try recipients(metadata, url)
        try await keys.withKeys(context, repository: context.repositoryRoot(nil)) { imported in
            let documents: [DecryptedDocument]
            do throws(DecryptionError) {
                documents = try SOPSDecryptor.decrypt(sopsFile, with: imported.chain)
            } catch {
                throw SOPSFiles.annotation(error, file: file, keys: imported)
            }
            SOPSFiles.maskSecrets(documents, reporter: context.reporter)
            let wantsPGP = target.groups.contains { !$0.pgp.isEmpty }
            let keyring = wantsPGP ? imported.keyring : nil
            let encrypted: String
            do throws(EncryptionError) {
                encrypted = try SOPSEncryptor.encrypt(
                    documents.map(\.tree), format: sopsFile.format, recipients: target, rule: rule(of: metadata), macOnlyEncrypted: metadata.macOnlyEncrypted,
                    keyring: keyring)
            } catch {
                throw SOPSEncryptCommand.annotation(error, file: file)
            }
            try SecureFile.write(Data(encrypted.utf8), to: url)
            context.reporter.log(message)
        }
    }
}
