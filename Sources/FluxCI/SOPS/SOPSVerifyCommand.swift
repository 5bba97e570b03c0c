import Actions
import ArgumentParser
import Foundation
import SOPS

/// `fluxci sops verify PATH…`: the preflight. Every SOPS file under the paths must decrypt with
/// the run's keys, MAC checked, before any cluster exists.
struct SOPSVerifyCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove that every SOPS file under the paths decrypts with the run's keys (MAC checked).",
        discussion: """
            Finds the SOPS files (YAML and JSON with sops metadata) under each path, skipping .git \
            and .secrets. For each it reports the recipients it is encrypted for, whether one of \
            the imported keys is among them, and whether it decrypts with a valid MAC. Failures \
            are annotations at the file and line (of the value, or of the sops block); the step \
            summary gets a table of every file. A file encrypted only for keys that were not \
            imported is an error, unless --allow-foreign makes it a warning. Nothing decrypted is \
            printed. Outputs: files, failed.

            Environment: \(KeyOptions.environmentHelp), GITHUB_ACTIONS, GITHUB_OUTPUT, \
            GITHUB_STEP_SUMMARY, NO_COLOR.
            """)

    @Argument(help: "Files or folders to check (default: the current directory).")
    var paths: [String] = ["."]

    @Flag(help: "Report files encrypted only for keys that were not imported as warnings, not errors.")
    var allowForeign = false

    @OptionGroup var keys: KeyOptions

    init() {}

    enum Outcome {
        case verified(documents: Int)
        case foreign
        case failed(Annotation)
    }

    struct Verdict {
        var name: String
        var recipients: [String]
        var ours: Bool
        var outcome: Outcome
    }

    func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        let files = try SOPSFiles.find(paths, in: context)
        try await keys.withKeys(context, repository: context.workingDirectory) { imported in
            // The group closes as failed (✗, "failed after") when a file failed: the verdict
            // is decided inside it.
            try await reporter.group("Verify SOPS files") {
                let verdicts = await Self.verify(files, keys: imported)
                for verdict in verdicts { report(verdict, imported: imported, reporter: reporter) }
                let failed = try Self.summarize(verdicts, allowForeign: allowForeign, reporter: reporter)
                if verdicts.isEmpty { reporter.warning("No SOPS file was found under \(paths.joined(separator: ", ")).", title: "No SOPS files") }
                guard failed == 0 else { throw ExitCode.failure }
            }
        }
    }

    /// The step summary table and the outputs; returns how many files failed.
    static func summarize(_ verdicts: [Verdict], allowForeign: Bool, reporter: Reporter) throws -> Int {
        let failed = verdicts.filter { if case .failed = $0.outcome { true } else if case .foreign = $0.outcome { !allowForeign } else { false } }
        var summary = StepSummary()
        summary.heading("SOPS preflight: \(verdicts.count - failed.count) of \(verdicts.count) files decrypt", level: 3)
        summary.table(header: ["File", "Encrypted for", "Our key", "Result"], rows: verdicts.map { verdict in
            let result: String = switch verdict.outcome {
            case .verified(let documents): documents > 1 ? "decrypts, MAC valid (\(documents) documents)" : "decrypts, MAC valid"
            case .foreign: allowForeign ? "not ours (allowed)" : "no imported key"
            case .failed(let annotation): annotation.title ?? "failed"
            }
            return [verdict.name, verdict.recipients.joined(separator: ", "), verdict.ours ? "yes" : "no", result]
        })
        reporter.publish(summary)
        try reporter.setOutput("files", String(verdicts.count))
        try reporter.setOutput("failed", String(failed.count))
        return failed.count
    }

    func report(_ verdict: Verdict, imported: ImportedKeys, reporter: Reporter) {
        switch verdict.outcome {
        case .verified:
            reporter.log("✓ \(verdict.name)")
        case .foreign:
            let ours = (imported.age.map(\.recipient.description) + imported.pgp.map { "pgp \($0.fingerprint)" }).joined(separator: ", ")
            let message = "\(verdict.name) is encrypted for \(verdict.recipients.joined(separator: ", ")); imported: \(ours.isEmpty ? "no key" : ours)."
            if allowForeign {
                reporter.warning(message, title: "Not encrypted for the imported keys", at: SourceLocation(file: verdict.name))
            } else {
                reporter.error(
                    message, title: "Not encrypted for the imported keys",
                    fix: "Add this cluster's key to the file's creation rule in .sops.yaml and run `sops updatekeys \(verdict.name)`, or import the key it is encrypted for.",
                    at: SourceLocation(file: verdict.name, line: 1))
            }
        case .failed(let annotation):
            reporter.annotate(annotation)
        }
    }

    /// Verifies files concurrently (age is CPU work; PGP goes through the keyring one at a time).
    static func verify(_ files: [(name: String, url: URL)], keys: ImportedKeys) async -> [Verdict] {
        await verify(files.map { file in (file.name, { try SOPSFiles.read(file.url, shownAs: file.name) }) }, keys: keys)
    }

    /// The same for files read any other way (from a git tree).
    static func verify(_ files: [(name: String, read: @Sendable () throws -> String)], keys: ImportedKeys) async -> [Verdict] {
        let chain = keys.chain
        let width = max(2, ProcessInfo.processInfo.activeProcessorCount)
        return await withTaskGroup(of: (Int, Verdict?).self) { group in
            var results = [Verdict?](repeating: nil, count: files.count)
            var next = 0
            func start() {
                guard next < files.count else { return }
                let index = next, file = files[index]
                next += 1
                group.addTask { (index, verify(file.name, file.read, chain: chain, keys: keys)) }
            }
            for _ in 0..<width { start() }
            for await (index, verdict) in group {
                results[index] = verdict
                start()
            }
            return results.compactMap { $0 }
        }
    }

    /// nil for a file that is not a SOPS file (most YAML in a repository).
    static func verify(_ name: String, _ read: () throws -> String, chain: KeyChain, keys: ImportedKeys) -> Verdict? {
        let text: String
        do {
            text = try read()
        } catch {
            return nil
        }
        guard SOPSFile.looksLikeSOPS(text) else { return nil }
        let file: SOPSFile
        do {
            file = try SOPSFile(text: text, path: name)
        } catch .notSOPS {
            return nil
        } catch {
            return Verdict(name: name, recipients: [], ours: false, outcome: .failed(SOPSFiles.annotation(error, file: name, keys: keys)))
        }
        let metadata = file.documents[0].metadata
        let recipients = metadata.allKeys.map(\.description)
        let ours = metadata.allKeys.contains(where: chain.holds)
        guard ours else { return Verdict(name: name, recipients: recipients, ours: false, outcome: .foreign) }
        do {
            let documents = try SOPSDecryptor.decrypt(file, with: chain)
            return Verdict(name: name, recipients: recipients, ours: true, outcome: .verified(documents: documents.count))
        } catch {
            return Verdict(name: name, recipients: recipients, ours: true, outcome: .failed(SOPSFiles.annotation(error, file: name, keys: keys)))
        }
    }
}
