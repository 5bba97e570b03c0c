import Actions
import ArgumentParser
import Flux
import Foundation
import SOPS

/// `fluxci sops verify PATH…`: the preflight. Every SOPS file under the paths must decrypt with
/// the run's keys, MAC checked, before any cluster exists.
struct SOPSVerifyCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove that every SOPS file under the paths decrypts with the run's keys (MAC checked).",
        discussion: """
            Finds the SOPS files under each path, skipping .git, .secrets and node_modules: every \
            file whose content sops wrote (YAML, JSON, dotenv, ini or binary), whatever its name. \
            A YAML Secret that a .sops.yaml creation rule covers but that is not encrypted is an \
            error (a secret about to be published). A file named on the command line that is not \
            a SOPS file is an error, and so is finding no SOPS file under paths that were named; \
            with no path, the current directory is searched and finding nothing is a warning. \
            For each file it reports the recipients it is encrypted for, whether one of \
            the imported keys is among them, and whether it decrypts with a valid MAC. Failures \
            are annotations at the file and line (of the value, or of the sops block); the step \
            summary gets a table of every file. A file encrypted only for keys that were not \
            imported is an error, unless --allow-foreign makes it a warning. Nothing decrypted is \
            printed, so no decrypted value is masked: the runner masks a string everywhere in the \
            job's log, and a value such as a user name `podinfo` would blank every object, path \
            and branch name holding it (`fluxci sops decrypt`, which prints values, masks every \
            one of \(SOPSFiles.shortestMasked) characters or more). Files named on the command line that all turn out to be encrypted for other \
            keys (with --allow-foreign) are an error too: nothing was verified. Outputs: files, \
            failed.

            Environment: \(KeyOptions.environmentHelp), GITHUB_ACTIONS, GITHUB_OUTPUT, \
            GITHUB_STEP_SUMMARY, NO_COLOR.
            """)

    @Argument(help: "Files or folders to check (default: the current directory).")
    var paths: [String] = []

    @Flag(help: "Report files encrypted only for keys that were not imported as warnings, not errors.")
    var allowForeign = false

    @OptionGroup var keys: KeyOptions

    init() {}

    enum Outcome {
        /// The annotation of a failed or MAC-unchecked file.
        var annotation: Annotation? {
            switch self {
            case .failed(let annotation), .macNotChecked(let annotation): annotation
            default: nil
            }
        }

        case verified(documents: Int)
        /// Every value decrypts, but the MAC does not match or cannot be decrypted: `sops -d`
        /// refuses the file, kustomize-controller applies it (see `MACRule.flux`). The annotation
        /// is a warning.
        case macNotChecked(Annotation)
        case foreign
        case failed(Annotation)
    }

    /// Whose rule a MAC failure follows. `sops -d` (getsops/sops `decrypt.go`) refuses a file whose
    /// MAC does not match or cannot be decrypted. kustomize-controller's decryptor
    /// (fluxcd/kustomize-controller `internal/decryptor/decryptor.go`, `SopsDecryptWithFormat`)
    /// calls `tree.Decrypt` (each value authenticated with its path) and compares the MAC only
    /// when `checkSopsMac` is set, which it never is ("arbitrary data gets injected into most
    /// resources"): every value that decrypts is applied. The Flux preflight follows Flux.
    enum MACRule: Sendable { case sops, flux }

    struct Verdict {
        var name: String
        var recipients: [String]
        var ours: Bool
        var outcome: Outcome
        /// The key that opened it and where that key came from.
        var opener: String? = nil
        /// Problems after the first (the outcome's), reported with it.
        var more: [Annotation] = []
        /// The decrypted values the preflight may mask (`DecryptedValueMasks`); never printed.
        var maskCandidates: [String] = []
    }

    func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        let named = !paths.isEmpty
        let searched = named ? paths : ["."]
        let files = try SOPSFiles.find(searched, in: context)
        let namedFiles = Set(searched.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: context.url(for: path).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        })
        try await keys.withKeys(context, repository: context.workingDirectory, whereSopsLooks: true) { imported in
            // The group closes as failed (✗, "failed after") when a file failed: the verdict
            // is decided inside it.
            try await reporter.group("Verify SOPS files") {
                var verdicts = await Self.verify(files, keys: imported, root: context.workingDirectory, named: namedFiles)
                verdicts.sort { $0.name < $1.name }
                // The config `sops updatekeys` would read when run here (sops looks from the working directory up).
                let config = CreationRule.lookup(from: context.workingDirectory).config.map { KeyFiles.relative($0, to: context.workingDirectory) }
                for verdict in verdicts {
                    let url = files.first { $0.name == verdict.name }?.url ?? context.url(for: verdict.name)
                    let matches = config == nil ? nil : Self.ruleMatches { try CreationRule.find(for: url, workingDirectory: context.workingDirectory) }
                    report(verdict, imported: imported, reporter: reporter, sopsConfig: config, ruleMatches: matches)
                }
                let failed = try Self.summarize(verdicts, allowForeign: allowForeign, reporter: reporter)
                if verdicts.isEmpty {
                    if named {
                        reporter.error(
                            "No SOPS file was found under \(searched.joined(separator: ", ")): nothing was verified.", title: "No SOPS files",
                            fix: "Name the folders that hold the encrypted files, or run `fluxci sops verify` without a path to search the current directory.")
                        throw ExitCode.failure
                    }
                    reporter.warning("No SOPS file was found under \(searched.joined(separator: ", ")).", title: "No SOPS files")
                }
                // Files were found but none decrypted (every one foreign, or not a SOPS file at
                // all): for paths the caller named, that proves nothing, whatever else failed.
                if named, !verdicts.isEmpty, !verdicts.contains(where: { if case .verified = $0.outcome { true } else { false } }) {
                    reporter.annotate(Self.nothingVerified(verdicts, searched: searched))
                    throw ExitCode.failure
                }
                guard failed == 0 else { throw ExitCode.failure }
            }
        }
    }

    /// Named paths under which no file verified: says what happened to the files — every one
    /// foreign (then the keys are what is missing), or failed for its own reason (annotated
    /// above: MAC, format, a damaged value), or none a SOPS file.
    static func nothingVerified(_ verdicts: [Verdict], searched: [String]) -> Annotation {
        let paths = searched.joined(separator: ", ")
        let foreign = verdicts.filter { if case .foreign = $0.outcome { true } else { false } }.count
        let failed = verdicts.filter { if case .failed = $0.outcome { true } else if case .macNotChecked = $0.outcome { true } else { false } }
        let sopsFiles = verdicts.filter { !$0.recipients.isEmpty }.count
        if sopsFiles == 0, failed.allSatisfy({ $0.outcome.annotation?.title == "Not a SOPS file" }) {
            return .error(
                "None of the files named (\(paths)) is a SOPS file: nothing was verified.", title: "Nothing verified",
                fix: "Name the encrypted files or the folders that hold them.")
        }
        if failed.isEmpty {
            return .error(
                "None of the \(verdicts.count) files under \(paths) is encrypted for the imported keys: nothing was verified.", title: "Nothing verified",
                fix: "Import the keys these files are encrypted for, or name the folders of this cluster's files.")
        }
        var classes: [String: Int] = [:]
        for verdict in failed { classes[verdict.outcome.annotation?.title ?? "failed", default: 0] += 1 }
        let described = classes.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
        return .error(
            "None of the \(verdicts.count) files under \(paths) verified: \(failed.count) failed (\(described); each annotated above with its fix)\(foreign > 0 ? " and \(foreign) \(foreign == 1 ? "is" : "are") encrypted for other keys" : "").",
            title: "Nothing verified", fix: "Fix the files as each annotation above says, then run `fluxci sops verify \(paths)` again.")
    }

    /// The step summary table and the outputs (`files`, `failed`; a pipeline that runs the
    /// preflight as one of its steps names them `sops-files`, `sops-failed` with `outputPrefix`,
    /// so that `failed=0` never stands for a run that failed elsewhere, tester t15 F10); returns
    /// how many files failed.
    static func summarize(_ verdicts: [Verdict], allowForeign: Bool, reporter: Reporter, outputPrefix: String = "") throws -> Int {
        let failed = verdicts.filter { if case .failed = $0.outcome { true } else if case .foreign = $0.outcome { !allowForeign } else { false } }
        var summary = StepSummary()
        summary.heading("SOPS preflight: \(verdicts.count - failed.count) of \(verdicts.count) files decrypt", level: 3)
        summary.table(header: ["File", "Encrypted for", "Our key", "Result"], rows: verdicts.map { verdict in
            let result: String = switch verdict.outcome {
            case .verified(let documents): documents > 1 ? "decrypts, MAC valid (\(documents) documents)" : "decrypts, MAC valid"
            case .macNotChecked: "decrypts; MAC not valid (Flux does not check it)"
            case .foreign: allowForeign ? "not ours (allowed)" : "no imported key"
            case .failed(let annotation): annotation.title ?? "failed"
            }
            // Linked to the file at the tested commit when a run knows it (t13 F12).
            return [reporter.sourceLink(SourceLocation(file: verdict.name)), verdict.recipients.joined(separator: ", "), verdict.ours ? "yes" : "no", result]
        })
        reporter.publish(summary)
        try reporter.setOutput(outputPrefix + "files", String(verdicts.count))
        try reporter.setOutput(outputPrefix + "failed", String(failed.count))
        return failed.count
    }

    /// `sopsConfig` names the `.sops.yaml` that covers the file, nil when the repository has
    /// none: a fix names only files that exist (tester t5 I).
    /// `ruleMatches` says whether a creation rule of that config matches the file (nil: not known).
    func report(_ verdict: Verdict, imported: ImportedKeys, reporter: Reporter, sopsConfig: String?, ruleMatches: Bool? = nil) {
        switch verdict.outcome {
        case .verified:
            reporter.log("✓ \(verdict.name)" + (verdict.opener.map { " (opened with \($0))" } ?? ""))
        case .foreign:
            let ours = (imported.age.map(\.name) + imported.pgp.map { "pgp \($0.fingerprint)" }).joined(separator: ", ")
            var message = "\(verdict.name) is encrypted for \(verdict.recipients.joined(separator: ", ")); imported: \(ours.isEmpty ? "no key" : ours)."
            if !imported.passedOver.isEmpty, verdict.recipients.contains(where: { $0.hasPrefix("ssh-") }) {
                message += " SSH keys passed over (fluxci reads only unprotected ssh-ed25519 keys; `sops -d` reads ssh-rsa keys and asks for a passphrase): \(imported.passedOver.joined(separator: "; "))."
            }
            // A key source that was given but skipped may hold the key (tester t9 F12): said first.
            let skipped = imported.skippedNote(forRecipients: verdict.recipients)
            if let skipped { message += " " + skipped.sentence }
            if allowForeign {
                reporter.warning(message, title: "Not encrypted for the imported keys", at: SourceLocation(file: verdict.name))
            } else {
                reporter.error(
                    message, title: "Not encrypted for the imported keys",
                    fix: (skipped.map { $0.fix + " Otherwise: " } ?? "") + Self.reencryptFix(verdict.name, imported: imported, sopsConfig: sopsConfig, ruleMatches: ruleMatches),
                    at: SourceLocation(file: verdict.name, line: 1))
            }
        case .failed(let annotation), .macNotChecked(let annotation):
            reporter.annotate(annotation)
            for more in verdict.more { reporter.annotate(more) }
        }
    }

    /// How to make a file open with the imported keys: through the creation rule of the
    /// `.sops.yaml` that exists (`sops updatekeys` reads the recipients there), else, with no
    /// .sops.yaml at all (updatekeys then fails "config file not found"), by adding the
    /// recipient directly (`sops rotate --add-age/--add-pgp`) or by creating the rule.
    /// When no creation rule of the config matches the file (`ruleMatches` false), `sops
    /// updatekeys` fails "no matching creation rules found" (checked with sops 3.11), while
    /// `sops rotate --add-age/--add-pgp` reads no rule and works: the fix says that.
    static func reencryptFix(_ file: String, imported: ImportedKeys, sopsConfig: String?, ruleMatches: Bool? = nil) -> String {
        let add = imported.age.first.map { "--add-age \($0.name)" } ?? imported.pgp.first.map { "--add-pgp \($0.fingerprint)" } ?? "--add-age <this cluster's age recipient>"
        if let sopsConfig, ruleMatches == false {
            return "No creation rule of \(sopsConfig) matches \(file) (sops matches each path_regex against the path relative to the folder of .sops.yaml), so `sops updatekeys` refuses it (\"no matching creation rules found\"): add a creation rule whose path_regex matches it, with this cluster's key, and run `sops updatekeys \(file)`; or, with the key it is encrypted for, run `sops rotate --in-place \(add) \(file)`; or import the key it is encrypted for."
        }
        if let sopsConfig {
            return "Add this cluster's key to the file's creation rule in \(sopsConfig) and run `sops updatekeys \(file)`, or import the key it is encrypted for."
        }
        return "The repository has no .sops.yaml, so `sops updatekeys` has no rule to read: with the key it is encrypted for, run `sops rotate --in-place \(add) \(file)`, or create .sops.yaml with a creation rule for it (creation_rules: [{path_regex: …, age: <recipient>}]) and run `sops updatekeys \(file)`; or import the key it is encrypted for."
    }

    /// Whether a creation rule matches, from a lookup that throws "No creation rule" when none
    /// does (`CreationRule.match`); nil when the config has no rules or cannot be read.
    static func ruleMatches(_ lookup: () throws -> CreationRule?) -> Bool? {
        do { return try lookup() == nil ? nil : true } catch let annotation as Annotation where annotation.title == "No creation rule" { return false } catch { return nil }
    }

    /// Verifies files concurrently (age is CPU work; PGP goes through the keyring one at a time).
    /// `named` are files the caller named: such a file that is not a SOPS file fails.
    static func verify(_ files: [(name: String, url: URL)], keys: ImportedKeys, root: URL? = nil, named: Set<String> = []) async -> [Verdict] {
        await verify(
            files.map { file in (file.name, { try SOPSFiles.readBytes(file.url, shownAs: file.name) }) }, keys: keys,
            plaintextRule: { name in
                guard let root else { return nil }
                let url = files.first { $0.name == name }?.url ?? root.appendingPathComponent(name)
                return try? CreationRule.find(for: url, workingDirectory: root)
            }, named: named)
    }

    /// The same for files read any other way (from a git tree). `plaintextRule` gives the
    /// `.sops.yaml` creation rule covering a file, for finding Secrets left in plaintext.
    static func verify(
        _ files: [(name: String, read: @Sendable () throws -> Data)], keys: ImportedKeys,
        plaintextRule: @escaping @Sendable (String) -> CreationRule? = { _ in nil }, named: Set<String> = [], macRule: MACRule = .sops,
        reads: @escaping @Sendable (String) -> [SOPSDecryptorRead] = { _ in [] },
        appliedAsObject: @escaping @Sendable (String) -> [String]? = { _ in nil }
    ) async -> [Verdict] {
        let chain = keys.chain
        let width = max(2, ProcessInfo.processInfo.activeProcessorCount)
        return await withTaskGroup(of: (Int, Verdict?).self) { group in
            var results = [Verdict?](repeating: nil, count: files.count)
            var next = 0
            func start() {
                guard next < files.count else { return }
                let index = next, file = files[index]
                next += 1
                group.addTask {
                    (index, verify(file.name, file.read, chain: chain, keys: keys, plaintextRule: plaintextRule, named: named.contains(file.name), macRule: macRule, reads: reads(file.name), appliedBy: appliedAsObject(file.name)))
                }
            }
            for _ in 0..<width { start() }
            for await (index, verdict) in group {
                results[index] = verdict
                start()
            }
            return results.compactMap { $0 }
        }
    }

    /// nil for a file that is not a SOPS file (most files in a repository), unless it was named
    /// or is a plaintext Secret a creation rule covers. `reads`: how kustomize-controller's
    /// decryptor reads a file a generator or patch names (`FluxDecryptorCheck`); empty: by its
    /// name, as `sops -d` reads it. `appliedBy`: the Kustomizations that apply the file's
    /// objects (nil: none does); their decrypted content then gets the API server's checks
    /// (`DecryptedObjectChecks`).
    static func verify(
        _ name: String, _ read: () throws -> Data, chain: KeyChain, keys: ImportedKeys,
        plaintextRule: (String) -> CreationRule? = { _ in nil }, named: Bool = false, macRule: MACRule = .sops,
        reads: [SOPSDecryptorRead] = [], appliedBy: [String]? = nil
    ) -> Verdict? {
        let bytes: Data
        do {
            bytes = try read()
        } catch let annotation as Annotation {
            return Verdict(name: name, recipients: [], ours: false, outcome: .failed(annotation))
        } catch {
            return nil
        }
        var others: [StoredSOPSFile] = []
        if !reads.isEmpty, SOPSFileFormat.encryptedStorage(of: bytes) != nil {
            for read in reads {
                switch FluxDecryptorCheck.open(bytes, name: name, read: read) {
                case .success(let opened): others.append(opened)
                case .failure(let annotation): return Verdict(name: name, recipients: [], ours: false, outcome: .failed(annotation))
                }
            }
        }
        let file: StoredSOPSFile
        do {
            if let first = others.first {
                file = first
                others.removeFirst()
            } else if let found = try StoredSOPSFile(bytes: bytes, path: name) {
                file = found
            } else {
                if let secret = PlaintextSecret.find(in: bytes, name: name, rule: plaintextRule) {
                    return Verdict(name: name, recipients: [], ours: false, outcome: .failed(secret))
                }
                guard named else { return nil }
                return Verdict(name: name, recipients: [], ours: false, outcome: .failed(SOPSFiles.notSOPSAnnotation(bytes, file: name)))
            }
        } catch {
            // The content says sops wrote it: whatever fails to read is a failure, never a skip.
            return Verdict(name: name, recipients: [], ours: false, outcome: .failed(SOPSFiles.annotation(error, file: name, keys: keys)))
        }
        let metadata = file.metadata
        let recipients = metadata.allKeys.map(\.description)
        // Decided as decrypt decides (one code path): sops tries every key stanza with every
        // identity, whatever its `recipient:` text says, so a file whose recipient string was
        // edited still opens. "Not ours" is only what the data key could not be recovered from
        // while no stanza names a key we hold.
        let ours = metadata.allKeys.contains(where: chain.holds)
        do {
            let decrypted = try file.decrypt(with: chain)
            var candidates = DecryptedValueMasks.candidates(decrypted, output: file.output)
            // The same file read in another format by another entry.
            for other in others { candidates += DecryptedValueMasks.candidates(try other.decrypt(with: chain), output: other.output) }
            if let appliedBy {
                let problems = DecryptedObjectChecks.problems(name: name, file: file, decrypted: decrypted, appliedBy: appliedBy)
                if let first = problems.first {
                    return Verdict(
                        name: name, recipients: recipients, ours: true, outcome: .failed(first), opener: keys.opener(of: metadata, chain: chain), more: Array(problems.dropFirst()),
                        maskCandidates: candidates)
                }
            }
            return Verdict(
                name: name, recipients: recipients, ours: true, outcome: .verified(documents: decrypted.documentCount), opener: keys.opener(of: metadata, chain: chain),
                maskCandidates: candidates)
        } catch {
            if !ours, case .dataKeyNotRecoverable = error { return Verdict(name: name, recipients: recipients, ours: false, outcome: .foreign) }
            // The MAC is checked after every value decrypted (SOPSDecryptor): a MAC failure
            // means the values are what Flux applies.
            if macRule == .flux, error.isMACFailure {
                return Verdict(
                    name: name, recipients: recipients, ours: true, outcome: .macNotChecked(SOPSFiles.annotation(error, file: name, keys: keys, macRule: .flux)),
                    opener: keys.opener(of: metadata, chain: chain))
            }
            return Verdict(name: name, recipients: recipients, ours: true, outcome: .failed(SOPSFiles.annotation(error, file: name, keys: keys)))
        }
    }
}

extension DecryptionError {
    /// A MAC that does not match or cannot be decrypted (thrown only after every value decrypted).
    var isMACFailure: Bool {
        switch self {
        case .macMismatch, .macUndecryptable: true
        default: false
        }
    }
}
