import Actions
import ArgumentParser
import Foundation
import SOPS

/// `fluxci sops rotate`: a new data key for a file, for the same recipients, the values
/// encrypted again with it. `fluxci sops updatekeys`: the same data key for the recipients
/// `.sops.yaml` names now.
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
        try await SOPSCommandFailure.reporting(.rotate, context) { try await rotate(in: context) }
    }

    func rotate(in context: CommandContext) async throws {
        try await SOPSRekey.run(file: file, keys: keys, context: context, sopsCommand: "sops rotate --in-place \(file)") { metadata, _ in
            (try SOPSRekey.recipients(of: metadata, file: file), "Rotated the data key of \(file).")
        }
    }
}

struct SOPSUpdateKeysCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "updatekeys",
        abstract: "Re-encrypt a SOPS file's data key for the recipients its .sops.yaml creation rule names now, in place.",
        discussion: """
            As `sops updatekeys`: the data key is recovered with the run's keys and wrapped for every \
            recipient of the rule (split again by Shamir for several key groups); the values, the MAC, \
            `lastmodified` and `version` stay as they are (use `rotate` for a new data key). A file \
            whose recipients already match is left untouched. \
            Environment: \(KeyOptions.environmentHelp), GNUPGHOME, GITHUB_WORKSPACE.
            """)

    @Argument(help: "The SOPS file.")
    var file: String

    @OptionGroup var keys: KeyOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        try await SOPSCommandFailure.reporting(.updatekeys, context) { try await updateKeys(in: context) }
    }

    func updateKeys(in context: CommandContext) async throws {
        let url = context.url(for: file)
        let sopsFile = try SOPSRekey.load(url, file: file, for: .updatekeys)
        let metadata = sopsFile.metadata
        // sops updatekeys reads the config found from the working directory upwards.
        guard let rule = try CreationRule.find(for: url, workingDirectory: context.workingDirectory, reporter: context.reporter) else {
            throw Annotation.error(
                "No .sops.yaml with creation rules in \(context.workingDirectory.path) or a folder above it (sops updatekeys fails the same way: \"config file not found\").",
                title: "No creation rule", fix: "Run it from the repository, where .sops.yaml is, or add a .sops.yaml with a rule whose path_regex matches \(file).")
        }
        guard SOPSKeyUpdate.changes(metadata, to: rule.recipients) else {
            context.reporter.log("\(file) is already up to date: no recipient changed.")
            return
        }
        let change = SOPSRekey.change(from: metadata, to: rule.recipients)
        try await keys.withKeys(context, repository: context.repositoryRoot(nil), whereSopsLooks: true) { imported in
            let wantsPGP = rule.recipients.groups.contains { !$0.pgp.isEmpty }
            let updated: [UInt8]?
            do throws(SOPSKeyUpdate.Failure) {
                updated = try sopsFile.updatingKeys(to: rule.recipients, with: imported.chain, keyring: wantsPGP ? imported.keyring : nil)
            } catch {
                switch error {
                case .decryption(let failure): throw SOPSFiles.failure(failure, file: file, keys: imported)
                case .encryption(let failure): throw SOPSCommandFailure(SOPSEncryptCommand.annotation(failure, file: file), code: SOPSExitCode(failure))
                }
            }
            guard let updated else { return }
            try SecureFile.write(Data(updated), to: url, keepingMode: true)
            if let opener = imported.opener(of: metadata) { context.reporter.log("Opened the data key of \(file) with \(opener).") }
            context.reporter.log("Updated the keys of \(file): \(change).")
        }
    }
}

enum SOPSRekey {
    /// What updatekeys changes, naming only what there is: "added age1…", "removed pgp FP",
    /// both joined by "; ", or "no recipient changed". Fingerprints compare without case or spaces.
    static func change(from metadata: Metadata, to recipients: Recipients) -> String {
        func normalized(_ name: String) -> String { name.hasPrefix("pgp ") ? "pgp " + name.dropFirst(4).uppercased().replacingOccurrences(of: " ", with: "") : name }
        let before = metadata.allKeys.map { normalized($0.description) }
        let after = recipients.groups.flatMap { $0.age + $0.pgp.map { "pgp \($0)" } }.map(normalized).filter { !$0.isEmpty && $0 != "pgp " }
        var added: [String] = [], removed: [String] = []
        for name in after where !before.contains(name) && !added.contains(name) { added.append(name) }
        for name in before where !after.contains(name) && !removed.contains(name) { removed.append(name) }
        let parts = [added.isEmpty ? nil : "added " + added.joined(separator: ", "), removed.isEmpty ? nil : "removed " + removed.joined(separator: ", ")].compactMap { $0 }
        return parts.isEmpty ? "no recipient changed" : parts.joined(separator: "; ")
    }

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

    /// The SOPS file in the store its name selects, as sops loads it for rotate and updatekeys
    /// (YAML, JSON, dotenv, ini or binary).
    static func load(_ url: URL, file: String, for command: SOPSExitCode.Subcommand) throws -> StoredSOPSFile {
        let bytes = try SOPSFiles.readBytes(url, shownAs: file, for: command)
        do {
            guard let stored = try StoredSOPSFile(bytes: bytes, path: file) else {
                throw SOPSFiles.notSOPSFailure(bytes, file: file)
            }
            return stored
        } catch let error as DecryptionError {
            throw SOPSFiles.failure(error, file: file)
        }
    }

    static func run(
        file: String, keys: KeyOptions, context: CommandContext, sopsCommand: String, recipients: (Metadata, URL) throws -> (Recipients, String)
    ) async throws {
        let url = context.url(for: file)
        let sopsFile = try load(url, file: file, for: .rotate)
        let metadata = sopsFile.metadata
        let (target, message) = try recipients(metadata, url)
        try await keys.withKeys(context, repository: context.repositoryRoot(nil), whereSopsLooks: true) { imported in
            let wantsPGP = target.groups.contains { !$0.pgp.isEmpty }
            let rotation: StoredSOPSFile.Rotation
            do throws(SOPSKeyUpdate.Failure) {
                rotation = try sopsFile.rotated(with: imported.chain, for: target, keyring: wantsPGP ? imported.keyring : nil)
            } catch {
                switch error {
                case .decryption(let failure): throw SOPSFiles.failure(failure, file: file, keys: imported)
                case .encryption(let failure): throw SOPSCommandFailure(SOPSEncryptCommand.annotation(failure, file: file), code: SOPSExitCode(failure))
                }
            }
            SOPSFiles.maskSecrets(rotation.secretValues, reporter: context.reporter)
            if let opener = imported.opener(of: metadata) { context.reporter.log("Opened \(file) with \(opener).") }
            try SecureFile.write(Data(rotation.bytes), to: url, keepingMode: true)
            context.reporter.log(message)
        }
    }
}
