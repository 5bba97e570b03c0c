import Actions
import Age
import ArgumentParser
import Foundation
import Git
import GPG

/// `fluxci keys new`: the keys of a cloud and environment, where the repository's
/// documentation says they live, and what to do next.
struct KeysNewCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create the age key and/or the PGP key of a cloud and environment under .secrets/<cloud>/<env>/.",
        discussion: """
            --age writes .secrets/<cloud>/<env>/age/age.agekey (age's keys.txt form); --pgp creates \
            an ed25519 key with a cv25519 encryption subkey and no passphrase (for CI) with gpgme in \
            a temporary keyring, and writes .secrets/<cloud>/<env>/gpg/sops.asc (secret) and \
            sops.pub.asc, and the public key to commit as clusters/<cloud>/<env>/.sops.pub.asc (as \
            Flux's SOPS guide keeps it: `fluxci sops encrypt` in a teammate's fresh clone finds it \
            there). Files are 0600, folders 0700. An existing key is an error unless \
            --update-sops-yaml (the key is kept, its rule and public key are written) or --force \
            (a new key; the old one is moved to a dated backup first). .secrets/ is added to \
            .gitignore when missing; a key file tracked by git is a loud warning. Prints the \
            .sops.yaml creation rule (--update-sops-yaml adds it; an earlier rule for the same path \
            keeps its recipients and settings and gains the new key) and how to hand the PGP key to CI (fluxci keys export-ci).

            Environment: GITHUB_WORKSPACE, NO_COLOR.
            """)

    @Option(help: "The cloud of .secrets/<cloud>/<env>/.")
    var cloud: String

    @Option(help: "The environment of .secrets/<cloud>/<env>/.")
    var env: String

    @Flag(help: "Create the age key.")
    var age = false

    @Flag(help: "Create the PGP key.")
    var pgp = false

    @Option(help: "The PGP key's name.")
    var name: String?

    @Option(help: "The PGP key's email.")
    var email: String?

    @Option(help: "The PGP key's expiry (e.g. 1y, 6m, 90d); default: never.")
    var expire: String?

    @Flag(help: "Replace an existing key (the old one is kept as a dated backup).")
    var force = false

    @Flag(help: "Add the creation rule to .sops.yaml.")
    var updateSopsYaml = false

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    init() {}

    func validate() throws {
        if !age && !pgp { throw ValidationError("Say which key to create: --age, --pgp, or both.") }
        for value in [cloud, env] where value.isEmpty || value.contains("/") || value.hasPrefix(".") {
            throw ValidationError("'\(value)' is not a cloud or environment name (no slashes, not starting with '.').")
        }
        if let expire, Self.seconds(expire) == nil { throw ValidationError("--expire takes a number and d, w, m or y (e.g. 1y), not '\(expire)'.") }
    }

    static func seconds(_ text: String) -> UInt? {
        guard let unit = text.last, let number = UInt(text.dropLast()), number > 0 else { return nil }
        switch unit {
        case "d": return number * 86_400
        case "w": return number * 604_800
        case "m": return number * 2_592_000
        case "y": return number * 31_536_000
        default: return nil
        }
    }

    func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        let root = context.repositoryRoot(repository)
        let folder = root.appendingPathComponent(".secrets/\(cloud)/\(env)")
        var recipients: (age: String?, pgp: String?) = (nil, nil)
        try KeyFiles.ensureIgnored(root: root, reporter: reporter)
        // With --update-sops-yaml and no --force, a key that exists is kept and only its rule
        // (and its committed public key) is written: the rule for keys made earlier.
        let keepExisting = updateSopsYaml && !force
        if age {
            let file = folder.appendingPathComponent("age/age.agekey")
            if keepExisting, let existing = try KeyFiles.existingAgeRecipient(file, root: root, reporter: reporter) {
                reporter.log("Kept \(KeyFiles.relative(file, to: root)) (age recipient \(existing)).")
                recipients.age = existing
            } else {
                try KeyFiles.prepare(file, force: force, root: root, reporter: reporter)
                let identity = X25519Identity.generate()
                reporter.mask(identity.encoded)
                let created = ISO8601DateFormatter().string(from: Date())
                try SecureFile.write(Data("# created: \(created)\n# public key: \(identity.recipient)\n\(identity.encoded)\n".utf8), to: file)
                reporter.log("Wrote \(KeyFiles.relative(file, to: root)) (age recipient \(identity.recipient)).")
                recipients.age = identity.recipient.description
            }
        }
        if pgp {
            let secretFile = folder.appendingPathComponent("gpg/sops.asc"), publicFile = folder.appendingPathComponent("gpg/sops.pub.asc")
            let keyring: Keyring
            do { keyring = try Keyring.create(in: context.environment["TMPDIR"]) } catch { throw KeyErrors.annotation(for: error, source: "a temporary keyring") }
            defer { keyring.destroy() }
            do {
                let fingerprint: String
                if keepExisting, FileManager.default.fileExists(atPath: secretFile.path) {
                    guard let armor = FileManager.default.contents(atPath: secretFile.path) else {
                        throw Annotation.error("\(KeyFiles.relative(secretFile, to: root)) cannot be read.", title: "Key unreadable", fix: "Check its permissions.")
                    }
                    reporter.mask(String(decoding: armor, as: UTF8.self))
                    guard let found = try keyring.importKeys(armor).fingerprints.first else {
                        throw Annotation.error("\(KeyFiles.relative(secretFile, to: root)) holds no PGP key.", title: "No PGP key", fix: "Restore it, or replace it with `fluxci keys new --cloud \(cloud) --env \(env) --pgp --force`.")
                    }
                    fingerprint = found
                    reporter.log("Kept \(KeyFiles.relative(secretFile, to: root)): PGP key \(fingerprint).")
                } else {
                    try KeyFiles.prepare(secretFile, force: force, root: root, reporter: reporter)
                    let userID = "\(name ?? "SOPS \(cloud)/\(env)") <\(email ?? "sops-\(cloud)-\(env)@fluxci.invalid")>"
                    let key = try keyring.createKey(userID: userID, expires: expire.flatMap(Self.seconds) ?? 0)
                    let secret = try keyring.exportSecretKeys([key.fingerprint])
                    reporter.mask(String(decoding: secret, as: UTF8.self))
                    try SecureFile.write(secret, to: secretFile)
                    try SecureFile.write(try keyring.exportPublicKeys([key.fingerprint]), to: publicFile)
                    chmod(publicFile.path, 0o644)
                    reporter.log("Wrote \(KeyFiles.relative(secretFile, to: root)) and sops.pub.asc: PGP key \(key.fingerprint) (\(userID)).")
                    fingerprint = key.fingerprint
                }
                // The public key where it is committed, as Flux's SOPS guide keeps it
                // (clusters/<cluster>/.sops.pub.asc): a teammate's fresh clone encrypts with it.
                let committed = root.appendingPathComponent("clusters/\(cloud)/\(env)/.sops.pub.asc")
                try FileManager.default.createDirectory(at: committed.deletingLastPathComponent(), withIntermediateDirectories: true)
                try keyring.exportPublicKeys([fingerprint]).write(to: committed, options: .atomic)
                chmod(committed.path, 0o644)
                reporter.log("Wrote \(KeyFiles.relative(committed, to: root)) (the public key, to commit: `fluxci sops encrypt` finds recipients there by their .sops.yaml fingerprint).")
                recipients.pgp = fingerprint
                try reporter.setOutput("fingerprint", fingerprint)
            } catch let error as KeyringError {
                throw KeyErrors.annotation(for: error, source: "the new key")
            }
        }
        let rule = SOPSConfig.rule(cloud: cloud, env: env, age: recipients.age, pgp: recipients.pgp)
        if updateSopsYaml {
            let added = try SOPSConfig.add(rule, to: root.appendingPathComponent(".sops.yaml"))
            reporter.log(added ? "Added the creation rule for kubernetes/overlays/\(cloud)/\(env) to .sops.yaml." : ".sops.yaml already has this creation rule for kubernetes/overlays/\(cloud)/\(env).")
        } else {
            reporter.log("Next: add this creation rule to .sops.yaml (or run again with --update-sops-yaml):\n\n" + rule)
        }
        if pgp {
            reporter.log("For CI: `fluxci keys export-ci --cloud \(cloud) --env \(env) | gh secret set SOPS_GPG_KEY` (the value never shows in a terminal).")
        }
        if age {
            reporter.log("For CI: `gh secret set SOPS_AGE_KEY < .secrets/\(cloud)/\(env)/age/age.agekey`.")
        }
    }
}

/// `fluxci keys export-ci`: the value of the SOPS_GPG_KEY repository secret.
struct KeysExportCICommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-ci",
        abstract: "Print the SOPS_GPG_KEY secret's value (armored, or --base64), only into a pipe or --output, never onto a terminal.",
        discussion: "Environment: GITHUB_WORKSPACE.")

    @Option(help: "The cloud of .secrets/<cloud>/<env>/.")
    var cloud: String

    @Option(help: "The environment of .secrets/<cloud>/<env>/.")
    var env: String

    @Flag(help: "Print the base64 of the armored key (what the old workflow stored).")
    var base64 = false

    @Option(name: .shortAndLong, help: "Write the value to this file (mode 0600) instead of standard output.")
    var output: String?

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    init() {}

    func execute(in context: CommandContext) async throws {
        let root = context.repositoryRoot(repository)
        let file = root.appendingPathComponent(".secrets/\(cloud)/\(env)/gpg/sops.asc")
        guard let armor = FileManager.default.contents(atPath: file.path) else {
            throw Annotation.error(
                ".secrets/\(cloud)/\(env)/gpg/sops.asc does not exist.", title: "No PGP key",
                fix: "Create it with `fluxci keys new --cloud \(cloud) --env \(env) --pgp`.")
        }
        let value = base64 ? Data(armor.base64EncodedString().utf8) : armor
        if let output {
            try SecureFile.write(value, to: context.url(for: output))
            context.reporter.log("Wrote the SOPS_GPG_KEY value to \(output).")
            return
        }
        guard isatty(1) == 0 else {
            throw Annotation.error(
                "Standard output is a terminal; the secret key would land in its scroll-back.", title: "Refusing to print a secret key",
                fix: "Pipe it (`fluxci keys export-ci --cloud \(cloud) --env \(env) | gh secret set SOPS_GPG_KEY`) or pass --output FILE.")
        }
        context.standardOutput.write(String(decoding: value, as: UTF8.self))
    }
}

enum KeyFiles {
    static func relative(_ url: URL, to root: URL) -> String {
        let path = url.standardizedFileURL.path, base = root.standardizedFileURL.path
        return path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
    }

    /// Makes the folders (0700); refuses an existing file unless `force`, which backs it up.
    static func prepare(_ file: URL, force: Bool, root: URL, reporter: Reporter) throws {
        var folder = file.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        while folder.path.count > root.path.count && folder.path.hasPrefix(root.path + "/.secrets") {
            chmod(folder.path, 0o700)
            folder.deleteLastPathComponent()
        }
        guard FileManager.default.fileExists(atPath: file.path) else { return }
        guard force else {
            throw Annotation.error(
                "\(relative(file, to: root)) exists; fluxci does not overwrite a key.", title: "Key exists",
                fix: "To keep the key and add its creation rule to .sops.yaml, pass --update-sops-yaml (without --force). To replace the key, pass --force (the old key is kept as a dated backup), after re-encrypting the files it protects.")
        }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let backup = file.appendingPathExtension("\(stamp).bak")
        try FileManager.default.moveItem(at: file, to: backup)
        reporter.warning("Moved the existing key to \(relative(backup, to: root)).", title: "Key replaced")
    }

    /// The recipient of an existing age key file, or nil when there is none.
    static func existingAgeRecipient(_ file: URL, root: URL, reporter: Reporter) throws -> String? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") { reporter.mask(String(line)) }
        guard let entry = try? AgeIdentityFile.parse(text).first else {
            throw Annotation.error(
                "\(relative(file, to: root)) holds no age identity.", title: "Invalid age identity",
                fix: "Restore it, or replace it with `fluxci keys new --force` (and re-encrypt the files it protects).", at: SourceLocation(file: relative(file, to: root)))
        }
        return entry.identity.recipient.description
    }

    /// `.secrets/` must never be committed: listed in .gitignore, and a loud warning when git tracks a file there.
    static func ensureIgnored(root: URL, reporter: Reporter) throws {
        let gitignore = root.appendingPathComponent(".gitignore")
        let text = (try? String(contentsOf: gitignore, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if !lines.contains(where: { [".secrets/", ".secrets", "/.secrets/", "/.secrets"].contains($0) }) {
            try (text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + ".secrets/\n").write(to: gitignore, atomically: true, encoding: .utf8)
            reporter.log("Added .secrets/ to .gitignore.")
        }
        guard let repository = try? Repository.open(containing: root.path), let head = try? repository.head().commit else { return }
        let tracked = ((try? repository.listFiles(commit: head, under: ".secrets")) ?? []).map(\.path)
        if !tracked.isEmpty {
            reporter.error(
                "git tracks key files under .secrets/: \(tracked.prefix(5).joined(separator: ", ")). Anyone with the repository has these keys.",
                title: "Keys committed to git",
                fix: "Remove them from git (`git rm --cached -r .secrets`), rotate the keys (`fluxci keys new --force`), and re-encrypt the secrets.")
        }
    }
}

/// The `.sops.yaml` creation rule of a cloud/env, and adding it while keeping what is there.
enum SOPSConfig {
    static func rule(cloud: String, env: String, age: String?, pgp: String?) -> String {
        var text = "  - path_regex: kubernetes/overlays/\(cloud)/\(env)/.*\\.ya?ml$\n    encrypted_regex: ^(data|stringData)$\n"
        if let age { text += "    age: \(age)\n" }
        if let pgp { text += "    pgp: \(pgp)\n" }
        return text
    }

    /// Inserts the rule first under `creation_rules:` (sops takes the first rule that matches, so
    /// the specific one must come before catch-alls); the rest of the file is untouched. A rule
    /// for the same path (from an earlier `keys new`, or written by hand) is merged, never
    /// replaced: its other recipients, settings (mac_only_encrypted, its own encrypted_regex…)
    /// and comments stay, and the new key is added to its `age:`/`pgp:` list. A rule with
    /// key_groups is refused (which group the key joins is the team's decision). Returns false
    /// when the rule already names the keys.
    @discardableResult
    static func add(_ rule: String, to file: URL) throws -> Bool {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        var lines = text.components(separatedBy: "\n")
        let ruleLines = rule.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        if let start = lines.firstIndex(of: ruleLines[0]) {
            var end = start + 1
            while end < lines.count, lines[end].hasPrefix("    ") { end += 1 }
            var block = Array(lines[start..<end])
            for line in ruleLines.dropFirst() {
                for kind in ["age", "pgp"] where line.hasPrefix("    \(kind): ") {
                    try merge(kind, String(line.dropFirst(kind.count + 6)), into: &block, file: file)
                }
            }
            if block == Array(lines[start..<end]) { return false }
            lines.replaceSubrange(start..<end, with: block)
            try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        } else if let index = lines.firstIndex(where: { $0.hasPrefix("creation_rules:") }) {
            lines.insert(contentsOf: ruleLines, at: index + 1)
            try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        } else {
            try (text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + "creation_rules:\n" + rule).write(to: file, atomically: true, encoding: .utf8)
        }
        return true
    }

    /// Adds `key` to the rule's `age:`/`pgp:` entry, in whichever form sops reads it: a
    /// comma-separated string, or a list (sops's config takes both).
    static func merge(_ kind: String, _ key: String, into block: inout [String], file: URL) throws {
        if block.contains(where: { $0.hasPrefix("    key_groups:") }) {
            throw Annotation.error(
                "The creation rule for \(block[0].dropFirst(4)) in \(file.path) has key_groups; fluxci does not choose a group for the new \(kind) key \(key).",
                title: "Rule not changed", fix: "Add \(key) to the right group of that rule in .sops.yaml by hand.")
        }
        guard let index = block.firstIndex(where: { $0.hasPrefix("    \(kind):") }) else {
            block.append("    \(kind): \(key)")
            return
        }
        let value = block[index].dropFirst(kind.count + 5).trimmingCharacters(in: .whitespaces)
        if value.isEmpty {
            // A list: `    age:` then `      - age1…` items.
            var end = index + 1
            var items: [String] = []
            while end < block.count, block[end].trimmingCharacters(in: .whitespaces).hasPrefix("- ") {
                items.append(block[end].trimmingCharacters(in: .whitespaces).dropFirst(2).trimmingCharacters(in: .whitespaces))
                end += 1
            }
            if !items.contains(key) { block.insert("      - \(key)", at: end) }
        } else if !value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }).contains(key) {
            block[index] = "    \(kind): \(value),\(key)"
        }
    }
}
