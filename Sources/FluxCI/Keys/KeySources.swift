import Actions
import Age
import Foundation
import GPG

/// The SOPS keys a run was given, read from the environment and the repository's `.secrets/`
/// folder, validated and masked, before any keyring exists.
struct KeySources {
    struct PGPSource {
        /// Where it came from, for messages: "SOPS_GPG_KEY", ".secrets/kind/local/gpg/sops.asc".
        var name: String
        /// A file the key came from, for annotations.
        var file: String?
        var material: KeyMaterial
    }

    struct AgeSource {
        var name: String
        var file: String?
        var entries: [AgeIdentityFile.Entry]
    }

    /// A key source that was given but not used (a file git-crypt holds locked, a
    /// SOPS_AGE_KEY_FILE that does not exist, a source with no identity, a failing
    /// SOPS_AGE_KEY_CMD): the later messages that depend on the keys name it as the cause.
    struct Skipped: Sendable, Equatable {
        enum Kind: String, Sendable { case age, pgp }
        var kind: Kind
        /// "`.secrets/kind/local/age/age.agekey` is locked by git-crypt".
        var why: String
        /// What makes it usable: "run `git-crypt unlock` …, or pass SOPS_AGE_KEY".
        var fix: String
    }

    var pgp: [PGPSource] = []
    var age: [AgeSource] = []
    var passphrase: String?
    var skipped: [Skipped] = []

    var isEmpty: Bool { pgp.isEmpty && age.isEmpty }

    /// Whether the environment gives SOPS keys (as CI does): then `.secrets/` is read only when
    /// a command is asked to (`keys import --cloud/--env`, `sops verify --cloud/--env`), never
    /// merged in because a cluster's cloud and env happen to name a folder there.
    static func environmentGivesKeys(_ environment: [String: String]) -> Bool { !keyVariablesSet(environment).isEmpty }

    /// The key variables `environment` sets (not empty), in this order.
    static func keyVariablesSet(_ environment: [String: String]) -> [String] {
        ["SOPS_GPG_KEY", "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD"].filter { environment[$0].map { !$0.isEmpty } ?? false }
    }

    /// The cloud and env whose `.secrets/<cloud>/<env>/` a run on that cluster may read: none
    /// when the environment gives keys (CI's keys are the ones the cluster gets). Then each key
    /// file that folder holds is returned as a skipped source (tester t11 F5, F6), so that a
    /// message about a file the keys do not open, or a decryption Secret the pipeline does not
    /// create, names it and the variable that kept it from being read.
    static func clusterSecrets(
        _ cloudEnv: (cloud: String, env: String)?, environment: [String: String], repository: URL, reporter: Reporter
    ) -> (cloudEnv: (cloud: String, env: String)?, unread: [Skipped]) {
        guard let cloudEnv else { return (nil, []) }
        guard environmentGivesKeys(environment) else { return (cloudEnv, []) }
        let folder = ".secrets/\(cloudEnv.cloud)/\(cloudEnv.env)"
        let set = keyVariablesSet(environment)
        let variables = set.joined(separator: " and ")
        let paths = secretsPaths(cloud: cloudEnv.cloud, env: cloudEnv.env)
        var unread: [Skipped] = []
        for (kind, path) in [(Skipped.Kind.age, paths.age), (.pgp, paths.pgp)] where FileManager.default.fileExists(atPath: repository.appendingPathComponent(path).path) {
            unread.append(Skipped(
                kind: kind, why: "\(path) was not read: \(variables) \(set.count == 1 ? "is" : "are") set, and then the keys come from the environment only",
                fix: "unset \(variables) to use \(path), or pass its key through \(kind == .age ? "SOPS_AGE_KEY" : "SOPS_GPG_KEY")"))
        }
        if FileManager.default.fileExists(atPath: repository.appendingPathComponent(folder).path) {
            reporter.log("Keys from the environment (\(variables)) only; \(folder) is not read (unset \(set.count == 1 ? "it" : "them") to use it).")
        }
        return (nil, unread)
    }

    /// `read` for a run on the cluster whose `.secrets/<cloud>/<env>/` is `asked`: that folder is
    /// read when it exists; when it does not, and no other key was found, the sources say so
    /// (`secretsFolder`).
    static func read(
        cluster asked: (cloud: String, env: String)?, environment: [String: String], repository: URL, reporter: Reporter, currentDirectory: URL,
        noneIsError: Bool
    ) throws -> KeySources {
        let folder = secretsFolder(asked, repository: repository)
        var sources = try read(
            environment: environment, repository: repository, cloudEnv: folder.cloudEnv,
            localKeyring: [], reporter: reporter, currentDirectory: currentDirectory, noneIsError: noneIsError)
        if sources.isEmpty { sources.skipped += folder.skipped }
        return sources
    }

    /// The cloud and env whose `.secrets` folder `read` may read: `asked` when that folder
    /// exists; when it does not, none, and a skipped source saying so (so that a message about
    /// missing keys does not tell to pass the --cloud and --env that were passed; tester t11 F8).
    private static func secretsFolder(
        _ asked: (cloud: String, env: String)?, repository: URL
    ) -> (cloudEnv: (cloud: String, env: String)?, skipped: [Skipped]) {
        guard let asked else { return (nil, []) }
        let folder = ".secrets/\(asked.cloud)/\(asked.env)"
        if FileManager.default.fileExists(atPath: repository.appendingPathComponent(folder).path) { return (asked, []) }
        return (nil, [Skipped(
            kind: .age, why: "\(folder)/ does not exist in \(repository.path)",
            fix: "create the keys with `fluxci keys new --cloud \(asked.cloud) --env \(asked.env) --age` (or copy them into \(folder)/ from your team's secret store), or pass SOPS_AGE_KEY / SOPS_GPG_KEY")])
    }

    /// SOPS_AGE_KEY set but empty, as a skipped source: what `${{ secrets.SOPS_AGE_KEY }}` gives
    /// when the secret does not exist or does not reach the run (a fork's pull request). sops
    /// skips it silently; fluxci names it where a missing key is the problem (tester t11 F8), not
    /// in every run that gives its keys another way. (An empty SOPS_GPG_KEY is an error of its own.)
    static func emptyVariables(_ environment: [String: String]) -> [Skipped] {
        environment["SOPS_AGE_KEY"] == "" ? [Skipped(kind: .age, why: "SOPS_AGE_KEY is set but empty", fix: emptySecretFix("SOPS_AGE_KEY"))] : []
    }

    /// How to give a key variable that is set but empty.
    static func emptySecretFix(_ variable: String) -> String {
        "check that the repository secret exists and reaches this step (env: \(variable): ${{ secrets.\(variable) }}); secrets are empty in pull requests from forks"
    }

    /// What a cloud/env's `.secrets` folder holds for local reproduction.
    static func secretsPaths(cloud: String, env: String) -> (age: String, pgp: String) {
        (".secrets/\(cloud)/\(env)/age/age.agekey", ".secrets/\(cloud)/\(env)/gpg/sops.asc")
    }

    /// Reads, masks and validates every source, in the documented order: SOPS_GPG_KEY,
    /// SOPS_GPG_PASSPHRASE, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD (its output), the `.secrets/<cloud>/<env>/` files,
    /// then keys exported from the user's own keyring. Without `noneIsError`, finding no key
    /// returns sources holding none, with what was skipped and why (the caller decides).
    static func read(
        environment: [String: String], repository: URL, cloudEnv: (cloud: String, env: String)?,
        localKeyring: [String], reporter: Reporter, currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        noneIsError: Bool = true
    ) throws -> KeySources {
        var sources = KeySources()
        // Mask first: nothing is printed before every secret form is registered.
        for name in ["SOPS_GPG_KEY", "SOPS_GPG_PASSPHRASE", "SOPS_AGE_KEY"] {
            if let value = environment[name], !value.isEmpty { reporter.mask(value) }
        }
        sources.passphrase = environment["SOPS_GPG_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }

        if let value = environment["SOPS_GPG_KEY"] {
            sources.pgp.append(PGPSource(name: "SOPS_GPG_KEY", file: nil, material: try material(value, from: "SOPS_GPG_KEY", reporter: reporter)))
        }
        // An age source that holds no identity (an empty SOPS_AGE_KEY, an empty or comment-only
        // key file, a command printing nothing) is skipped as sops 3.11 skips it: it goes on with
        // the other keys (checked: `SOPS_AGE_KEY_FILE=empty SOPS_AGE_KEY=… sops -d` decrypts),
        // while age itself refuses such a file ("no secret keys found"). fluxci says so.
        var empty: [String] = []
        func addAge(_ name: String, file: String?, _ text: String, from source: String) throws {
            let entries = try ageEntries(text, from: source, file: file, reporter: reporter, allowEmpty: true)
            guard !entries.isEmpty else {
                empty.append(source)
                sources.skipped.append(Skipped(kind: .age, why: "\(source) holds no age identity", fix: "put the AGE-SECRET-KEY-1… lines age-keygen wrote into \(source)"))
                reporter.warning(
                    "\(source) holds no age identity: skipped, as sops skips it; the other key sources given, if any, are used.", title: "No age identity",
                    fix: "Put the AGE-SECRET-KEY-1… lines age-keygen wrote into it, or unset the variable.", at: file.map { SourceLocation(file: $0) })
                return
            }
            sources.age.append(AgeSource(name: name, file: file, entries: entries))
        }
        sources.skipped += emptyVariables(environment)
        if let value = environment["SOPS_AGE_KEY"], !value.isEmpty {
            try addAge("SOPS_AGE_KEY", file: nil, value, from: "SOPS_AGE_KEY")
        }
        // Key files a git-crypt-locked checkout holds encrypted (`.secrets` is usually so kept).
        var locked: [String] = []
        var commandFailure: Annotation?
        var missingKeyFile: String?
        if let path = environment["SOPS_AGE_KEY_FILE"], !path.isEmpty {
            // sops opens the path as given (os.Open): a relative one from the current directory,
            // not from the repository's root.
            if !FileManager.default.fileExists(atPath: path.hasPrefix("/") ? path : currentDirectory.appendingPathComponent(path).path) {
                // sops goes on without it: `loadIdentities` (getsops/sops age/keysource.go) adds
                // "failed to open SOPS_AGE_KEY_FILE file" to its load errors, shown only when no
                // identity opens the file; the other sources are used. fluxci says so at once.
                missingKeyFile = path
                sources.skipped.append(Skipped(kind: .age, why: "SOPS_AGE_KEY_FILE points at \(path), which does not exist", fix: "correct SOPS_AGE_KEY_FILE, or pass SOPS_AGE_KEY"))
                reporter.warning(
                    "SOPS_AGE_KEY_FILE points at \(path), which does not exist: skipped, as sops skips it; the other key sources given, if any, are used.", title: "Key file missing",
                    fix: "Check the path (relative paths start at the current directory, \(currentDirectory.path), as sops reads them), or unset SOPS_AGE_KEY_FILE.")
            } else if let text = try readFile(path, relativeTo: currentDirectory, variable: "SOPS_AGE_KEY_FILE", locked: &locked) {
                try addAge(path, file: path, text, from: path)
            }
        }
        if let command = environment["SOPS_AGE_KEY_CMD"], !command.isEmpty {
            do {
                let output = try AgeKeyCommand.run(command, environment: environment)
                try addAge("SOPS_AGE_KEY_CMD", file: nil, output, from: "the output of SOPS_AGE_KEY_CMD")
            } catch let failure as AgeKeyCommand.Failure {
                sources.skipped.append(Skipped(kind: .age, why: "SOPS_AGE_KEY_CMD failed (\(failure.description))", fix: "fix SOPS_AGE_KEY_CMD, or pass SOPS_AGE_KEY"))
                // sops notes a failing command and goes on with the other keys; so does fluxci,
                // saying so, and it is the error when no other key was given.
                commandFailure = Annotation.error(
                    "Cannot read age identities from SOPS_AGE_KEY_CMD: \(failure.description).", title: "SOPS_AGE_KEY_CMD failed",
                    fix: "Run the command yourself and check that it prints AGE-SECRET-KEY-1… lines, or unset SOPS_AGE_KEY_CMD.")
            }
        }
        if let (cloud, env) = cloudEnv {
            let paths = secretsPaths(cloud: cloud, env: env)
            let ageURL = repository.appendingPathComponent(paths.age), pgpURL = repository.appendingPathComponent(paths.pgp)
            let ageExists = FileManager.default.fileExists(atPath: ageURL.path)
            let pgpExists = FileManager.default.fileExists(atPath: pgpURL.path)
            if !ageExists && !pgpExists && sources.isEmpty {
                throw Annotation.error(
                    "Neither \(paths.age) nor \(paths.pgp) exists in \(repository.path).\(sources.skipped.isEmpty ? "" : " Skipped: " + sources.skipped.map(\.why).joined(separator: "; ") + ".")",
                    title: "No keys for \(cloud)/\(env)",
                    fix: "Create them with `fluxci keys new --cloud \(cloud) --env \(env) --age` (or copy them from your team's secret store), or set SOPS_AGE_KEY / SOPS_GPG_KEY.")
            }
            if ageExists, let text = try readFile(ageURL.path, relativeTo: repository, variable: nil, shownAs: paths.age, locked: &locked) {
                sources.age.append(AgeSource(name: paths.age, file: paths.age, entries: try ageEntries(text, from: paths.age, file: paths.age, reporter: reporter)))
            }
            if pgpExists, let text = try readFile(pgpURL.path, relativeTo: repository, variable: nil, shownAs: paths.pgp, locked: &locked) {
                reporter.mask(text)
                sources.pgp.append(PGPSource(name: paths.pgp, file: paths.pgp, material: try material(text, from: paths.pgp, reporter: reporter)))
            }
        }
        if !localKeyring.isEmpty {
            let home = environment["GNUPGHOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.gnupg")
            let exported: Data
            do {
                let user = try Keyring.userHome(URL(fileURLWithPath: home), passphrase: sources.passphrase)
                exported = try user.exportSecretKeys(localKeyring)
            } catch {
                throw KeyErrors.annotation(for: error, source: "your keyring \(home)")
            }
            let text = String(decoding: exported, as: UTF8.self)
            reporter.mask(text)
            sources.pgp.append(PGPSource(name: "your keyring (\(localKeyring.joined(separator: ", ")))", file: nil, material: try material(text, from: home, reporter: reporter)))
        }
        if !locked.isEmpty {
            let unlock = "Run `git-crypt unlock` in the repository (with the key it was locked with), or pass the keys through SOPS_AGE_KEY / SOPS_GPG_KEY."
            if sources.isEmpty {
                throw Annotation.error(
                    "\(locked.joined(separator: " and ")) \(locked.count == 1 ? "is" : "are") locked by git-crypt (\(locked.count == 1 ? "it starts" : "each starts") with git-crypt's header), and no other key was given.",
                    title: "Key file locked by git-crypt", fix: unlock, at: SourceLocation(file: locked[0]))
            }
            for file in locked {
                // Which kind of key the file held, from where it was found: a `.secrets` PGP
                // key file (`gpg/sops.asc`), else an age identity file.
                let isPGP = cloudEnv.map { file == secretsPaths(cloud: $0.cloud, env: $0.env).pgp } ?? false
                sources.skipped.append(Skipped(
                    kind: isPGP ? .pgp : .age, why: "\(file) is locked by git-crypt",
                    fix: "run `git-crypt unlock` in the repository, or pass \(isPGP ? "SOPS_GPG_KEY" : "SOPS_AGE_KEY")"))
                reporter.warning(
                    "\(file) is locked by git-crypt: skipped; the other keys given are used.", title: "Key file locked by git-crypt", fix: unlock,
                    at: SourceLocation(file: file))
            }
        }
        if let commandFailure {
            if sources.isEmpty { throw commandFailure }
            var warning = commandFailure
            warning.level = .warning
            warning.message += " The other keys given are used."
            reporter.annotate(warning)
        }
        if sources.isEmpty && noneIsError {
            throw Annotation.error(
                missingKeyFile.map { "No SOPS key was given: SOPS_AGE_KEY_FILE points at \($0), which does not exist." }
                    ?? (empty.isEmpty ? "No SOPS key was given." : "No SOPS key was given: \(empty.joined(separator: " and ")) \(empty.count == 1 ? "holds" : "hold") no age identity.")
                    + (emptyVariables(environment).isEmpty ? "" : " \(emptyVariables(environment).map(\.why).joined(separator: "; ")).")
                , title: "No SOPS keys",
                fix: "Set SOPS_GPG_KEY (an armored secret key, or its base64) and/or SOPS_AGE_KEY (AGE-SECRET-KEY-1… lines) from repository secrets, or pass --cloud and --env to read .secrets/<cloud>/<env>/ locally.")
        }
        return sources
    }

    /// git-crypt's header: a file it holds locked starts with these 10 bytes.
    static let gitCryptHeader = Data("\0GITCRYPT\0".utf8)

    /// A key file's text; nil when git-crypt holds it locked (its name is added to `locked`).
    private static func readFile(
        _ path: String, relativeTo repository: URL, variable: String?, shownAs shown: String? = nil, locked: inout [String]
    ) throws -> String? {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : repository.appendingPathComponent(path)
        let via = variable.map { "\($0) points at \(path)" } ?? path
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Annotation.error("\(via), which does not exist.", title: "Key file missing", fix: "Check the path (relative paths start at \(repository.path)).")
        }
        if let data = FileManager.default.contents(atPath: url.path), data.starts(with: gitCryptHeader) {
            locked.append(shown ?? path)
            return nil
        }
        // String(decoding:), not String(data:encoding:): the latter drops a leading BOM, which
        // age and sops refuse, so a key file would pass here and fail in the cluster.
        guard let data = FileManager.default.contents(atPath: url.path), let text = Optional(String(decoding: data, as: UTF8.self)) else {
            throw Annotation.error("\(via), which cannot be read as text.", title: "Key file unreadable", fix: "Check its permissions and that it is a text key file.")
        }
        return text
    }

    private static func material(_ value: String, from source: String, reporter: Reporter) throws -> KeyMaterial {
        let material: KeyMaterial
        do {
            material = try KeyMaterial(decoding: value)
        } catch {
            throw KeyErrors.annotation(for: error, source: source)
        }
        if let decoded = material.decodedText { reporter.mask(decoded) }
        for block in material.blocks { reporter.mask(String(decoding: block.data, as: UTF8.self)) }
        return material
    }

    private static func ageEntries(_ text: String, from source: String, file: String?, reporter: Reporter, allowEmpty: Bool = false) throws -> [AgeIdentityFile.Entry] {
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") { reporter.mask(String(line)) }
        do {
            let entries = try AgeIdentityFile.parse(text)
            guard !entries.isEmpty || allowEmpty else {
                throw Annotation.error(
                    "\(source) holds no age identity.", title: "No age identity",
                    fix: "It should hold AGE-SECRET-KEY-1… lines, as age-keygen writes them.",
                    at: file.map { SourceLocation(file: $0) })
            }
            for entry in entries { reporter.mask(entry.identity.encoded) }
            return entries
        } catch let error as AgeIdentityFile.LineError {
            throw Annotation.error(
                "Line \(error.line) of \(source) is \(error.error).", title: "Invalid age identity",
                fix: "Copy the identity again exactly as age-keygen wrote it (AGE-SECRET-KEY-1 followed by 58 upper-case characters).",
                at: file.map { SourceLocation(file: $0, line: error.line) })
        }
    }
}
