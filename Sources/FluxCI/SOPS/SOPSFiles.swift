import Actions
import Foundation
import SOPS

/// What the SOPS commands share: reading files, finding them, and turning errors into
/// annotations at the file and line.
enum SOPSFiles {
    /// Files larger than this are not SOPS manifests; reading them whole would only cost memory.
    static let maximumSize = 16 << 20

    static func read(_ url: URL, shownAs name: String) throws -> String {
        let data = try readBytes(url, shownAs: name)
        guard let text = String(data: data, encoding: .utf8) else {
            throw Annotation.error("\(name) cannot be read as UTF-8 text.", title: "Unreadable file", at: SourceLocation(file: name))
        }
        return text
    }

    /// The file's bytes, as sops reads them (a binary or ini file need not be UTF-8). For a sops
    /// subcommand (`command`), a file that is missing or cannot be read is a `SOPSCommandFailure`
    /// with the status that sops subcommand exits with; otherwise an `Annotation`.
    static func readBytes(_ url: URL, shownAs name: String, for command: SOPSExitCode.Subcommand? = nil) throws -> Data {
        func failure(_ annotation: Annotation, _ code: (SOPSExitCode.Subcommand) -> SOPSExitCode) -> Error {
            command.map { SOPSCommandFailure(annotation, code: code($0)) } ?? annotation
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path) else {
            throw failure(.error("\(name) does not exist.", title: "File not found", fix: "Check the path."), SOPSExitCode.missingFile)
        }
        if let size = attributes[.size] as? Int, size > maximumSize {
            throw Annotation.error("\(name) is \(size) bytes; SOPS files over \(maximumSize) bytes are not read.", title: "File too large", at: SourceLocation(file: name))
        }
        guard attributes[.type] as? FileAttributeType != .typeDirectory, let data = FileManager.default.contents(atPath: url.path) else {
            let folder = attributes[.type] as? FileAttributeType == .typeDirectory
            throw failure(
                .error("\(name) cannot be read\(folder ? ": it is a folder" : "").", title: "Unreadable file", fix: folder ? "Name a file." : "Check its permissions.", at: SourceLocation(file: name)),
                SOPSExitCode.unreadableFile)
        }
        return data
    }

    /// Every regular file under `paths`, and every link to one (files named directly are taken as they are), skipping
    /// `.git`, `.secrets` and `node_modules`, in a stable order. Every file, whatever its name:
    /// whether it is a SOPS file is told by its content (dotenv, ini and binary SOPS files are
    /// often named `*.env`, `*.ini`, `*.bin`, `*.txt` or have no extension).
    static func find(_ paths: [String], in context: CommandContext) throws -> [(name: String, url: URL)] {
        var found: [(String, URL)] = []
        for path in paths {
            let url = context.url(for: path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
                throw Annotation.error("\(path) does not exist.", title: "Path not found", fix: "Pass files or folders of the repository.")
            }
            guard isDirectory.boolValue else {
                found.append((path, url))
                continue
            }
            guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else { continue }
            for case let file as URL in walker {
                let name = file.lastPathComponent
                if name == ".git" || name == ".secrets" || name == "node_modules" {
                    walker.skipDescendants()
                    continue
                }
                let values = try? file.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
                if values?.isSymbolicLink == true {
                    // A link to a file is verified as the file it points to: `sops -d link` and
                    // kustomize read through it, so a proof that skipped it would be false. A link
                    // to a folder is not followed (it may loop); a dangling one has no content.
                    var targetIsFolder: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: file.path, isDirectory: &targetIsFolder), !targetIsFolder.boolValue else { continue }
                } else if values?.isRegularFile != true {
                    continue
                }
                let relative = String(file.standardizedFileURL.path.dropFirst(url.standardizedFileURL.path.count)).drop { $0 == "/" }
                found.append(((path == "." ? "" : path.hasSuffix("/") ? path : path + "/") + relative, file))
            }
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// What to say of a file whose bytes carry no complete sops metadata. A file with a
    /// top-level `sops:` block (a `"sops"` object, a `[sops]` section, `sops_…=` lines) but no `mac` is a SOPS file whose MAC line was
    /// deleted: `sops -d` exits 51 with "MAC mismatch. File has no MAC", and kustomize-controller
    /// does not take it for encrypted (it needs `sops.mac`), so its ENC[…] values would be
    /// applied as they are. Telling its owner to encrypt it would encrypt the ciphertext again.
    static func notSOPSAnnotation(_ bytes: Data, file: String) -> Annotation {
        notSOPSFailure(bytes, file: file).annotation
    }

    /// The same, with sops's status: `MacMismatch` (51) for the missing MAC, else generic
    /// ("sops metadata not found").
    static func notSOPSFailure(_ bytes: Data, file: String) -> SOPSCommandFailure {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let yamlBlock = lines.firstIndex { line in
            var line = Array(line)
            while let last = line.last, last == 0x20 || last == 0x09 || last == 0x0D { line.removeLast() }
            // YAML's `sops:` block, ini's `[sops]` section, dotenv's flattened metadata.
            return line == Array("sops:".utf8) || line == Array("[sops]".utf8) || line.starts(with: Array("sops_lastmodified=".utf8))
        }
        let jsonBlock = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{")
            && String(decoding: bytes, as: UTF8.self).contains("\"sops\":")
        if yamlBlock != nil || jsonBlock {
            return SOPSCommandFailure(.error(
                "\(file) has a sops block but no sops.mac: `sops -d` refuses it (\"MAC mismatch. File has no MAC\"), and Flux's kustomize-controller does not take it for encrypted, so it would apply the ENC[…] values as they are.",
                title: "MAC missing",
                fix: "Restore the file from git (its mac line was deleted), or open it with `sops edit --ignore-mac \(file)` and save a change so that sops writes a new MAC.",
                at: SourceLocation(file: file, line: yamlBlock.map { $0 + 1 })), code: .macMismatch)
        }
        return SOPSCommandFailure(.error(
            "\(file) is not a SOPS file: it holds no sops metadata (no sops: block, sops_mac= line or [sops] section).", title: "Not a SOPS file",
            fix: "Encrypt it with `fluxci sops encrypt --in-place \(file)`, or leave it out of the paths.", at: SourceLocation(file: file)), code: .generic)
    }

    /// `annotation(_:file:keys:)` with the status sops exits with for the error (`SOPSExitCode`).
    static func failure(_ error: DecryptionError, file: String, keys: ImportedKeys? = nil) -> SOPSCommandFailure {
        SOPSCommandFailure(annotation(error, file: file, keys: keys), code: SOPSExitCode(error))
    }

    /// `macRule` says whose rule a MAC failure follows (`SOPSVerifyCommand.MACRule`).
    static func annotation(_ error: DecryptionError, file: String, keys: ImportedKeys? = nil, recipients: [String] = [], macRule: SOPSVerifyCommand.MACRule = .sops) -> Annotation {
        let location = SourceLocation(file: file, line: error.line)
        switch error {
        case .notSOPS(let detail):
            return .error("\(file) is not a SOPS file: \(detail).", title: error.title, fix: "If it was encrypted, restore it from git (its sops metadata or structure was damaged); if it is plaintext, encrypt it with `fluxci sops encrypt --in-place \(file)`.", at: location)
        case .malformedMetadata:
            return .error(sentence(error), title: error.title, fix: "Restore the file from git or encrypt it again with sops.", at: location)
        case .dataKeyNotRecoverable(let attempts, _, _):
            let ours = keys.map { imported in
                (imported.age.map(\.name) + imported.pgp.map { "pgp \($0.fingerprint)" }).joined(separator: ", ")
            } ?? ""
            let wanted = attempts.map(\.key).joined(separator: ", ")
            // An SSH key sops would have tried but fluxci cannot read is named, with what to do.
            if let passedOver = keys?.passedOver, !passedOver.isEmpty, attempts.contains(where: { $0.key.hasPrefix("ssh-") }) {
                return .error(
                    "\(error.description.prefix(1).uppercased() + error.description.dropFirst()). Encrypted for \(wanted); imported: \(ours.isEmpty ? "no key" : ours). SSH keys passed over: \(passedOver.joined(separator: "; ")).",
                    title: error.title,
                    fix: "Decrypt it with the real sops (`sops -d \(file)`: it reads ssh-rsa keys and asks for an SSH key's passphrase), or add an age1… or ssh-ed25519 recipient to its creation rule in .sops.yaml and run `sops updatekeys \(file)`, or point SOPS_AGE_SSH_PRIVATE_KEY_FILE at an unprotected ssh-ed25519 key it is encrypted for.",
                    at: location)
            }
            // A key source that was given but skipped (git-crypt, a missing key file) is the
            // likelier cause than the file's recipients: named first (tester t9 F12).
            let skipped = keys?.skippedNote(forRecipients: attempts.map(\.key))
            return .error(
                "\(error.description.prefix(1).uppercased() + error.description.dropFirst()). Encrypted for \(wanted); imported: \(ours.isEmpty ? "no key" : ours).\(skipped.map { " " + $0.sentence } ?? "")",
                title: error.title,
                fix: (skipped.map { $0.fix + " Otherwise: i" } ?? "I") + "mport a key the file is encrypted for, or re-encrypt it for this cluster's key with `sops updatekeys \(file)` after adding the key to .sops.yaml.",
                at: location)
        case .malformedValue, .valueAuthenticationFailed:
            return .error(
                sentence(error) + " `sops -d` fails on it, and so would Flux's kustomize-controller (\"error decrypting sops tree\").", title: error.title,
                fix: "Restore the value from git, or set it again with `sops \(file)`.", at: location)
        case .wrongStore(_, let storedAs, _, _):
            return .error(
                sentence(error), title: error.title,
                fix: "Rename it to end in \(StoredSOPSFile.suffix(storedAs)) (sops and kustomize-controller choose the format by the file name), or read it with `sops -d --input-type \(storedAs.rawValue) --output-type \(storedAs.rawValue) \(file)`.",
                at: location)
        case .macUndecryptable, .macMismatch:
            // kustomize-controller's decryptor leaves the MAC check off (`checkSopsMac` is false:
            // "arbitrary data gets injected into most resources"), so Flux applies such a file.
            let fix = "If the change was intended, open it with `sops edit --ignore-mac \(file)` and save a change so that sops writes a new MAC; otherwise restore it from git."
            switch macRule {
            case .sops:
                return .error(
                    sentence(error) + " `sops -d` refuses it (Flux's kustomize-controller would not: it does not check the MAC, and applies the values as they are now).",
                    title: error.title, fix: fix, at: location)
            case .flux:
                return .warning(
                    sentence(error) + " Every value decrypts, and Flux's kustomize-controller does not check the MAC, so it applies the values as they are now, unverified; only `sops -d` refuses the file.",
                    title: error.title, fix: fix, at: location)
            }
        }
    }

    /// An error's text as a sentence: capitalised, with a full stop.
    static func sentence(_ error: DecryptionError) -> String {
        let text = error.description
        return text.prefix(1).uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : ".")
    }

    /// Decrypted values shorter than this are not masked: a 1–3 character value (`3`, `443`,
    /// `on`, `yes` — sops encrypts every value, numbers and booleans included) masked with
    /// `::add-mask::` would turn every occurrence of those characters anywhere in the job's log
    /// into `***`, hiding the log while protecting nothing (so short a value is guessed at once).
    /// The help of `sops decrypt` and `sops verify` says so.
    static let shortestMasked = 4

    /// Masks every value that was encrypted before anything could print it, on GitHub only.
    /// The runner masks line by line, so each line of a multi-line value of the masked length is
    /// its own mask too (`admin` of "admin\ns3cr3t!\n" printed alone is hidden). In a terminal
    /// nothing is registered: fluxci's own messages never print a decrypted value (errors name
    /// keys and lines), decrypt's standard output is the plaintext by design, and masking there
    /// only rewrote paths and words that happen to equal a value (`/work/***er/...`).
    static func maskSecrets(_ documents: [DecryptedDocument], reporter: Reporter) {
        maskSecrets(documents.flatMap { $0.secretValues.map { Array($0.utf8) } }, reporter: reporter)
    }

    /// The same for values as bytes (every store): each is masked in its text form.
    static func maskSecrets(_ values: [[UInt8]], reporter: Reporter) {
        guard reporter.configuration.mode == .github else { return }
        for value in values {
            let text = String(decoding: value, as: UTF8.self)
            if text.count >= shortestMasked { reporter.mask(text) }
            for line in text.split(whereSeparator: \.isNewline) where line.count >= shortestMasked && line.count < text.count {
                reporter.mask(String(line))
            }
        }
    }
}
