import Actions
import Flux
import Foundation
import SOPS

/// The values the SOPS preflight decrypts, masked before anything else prints (tester t10 F4):
/// a controller can echo a decrypted value back (a Secret value quoted in a validation error),
/// and fluxci prints controller messages in its log, step summary and artifacts.
///
/// The rule: each decrypted leaf value of a SOPS file (every value sops encrypted, in every
/// store: YAML, JSON, dotenv, ini; a binary file as a whole only when it is UTF-8 text of one
/// line), and for a Secret's `data` the base64-decoded value as well as the base64 text, is
/// masked (`::add-mask::` on GitHub, `***` in fluxci's own redaction) when
/// - it is at least `SOPSFiles.shortestMasked` (4) characters long after trimming (the runner
///   masks a string everywhere in the job's log: `443` or `on` would blank unrelated text), and
/// - it occurs nowhere in the plain text of the repository's non-SOPS files at the tested
///   commit: a value the repository already publishes in plain text is no secret, and masking
///   it would blank the log (the example fleet's encrypted `username` is `podinfo`, the name of
///   its release, namespace and paths).
/// No value is ever printed while this is decided.
enum DecryptedValueMasks {
    /// The texts of one decrypted file that could be masked (before the plain-text check).
    static func candidates(_ decrypted: StoredSOPSFile.Decrypted, output: SOPSFileFormat) -> [String] {
        var result: [String] = []
        func add(_ text: String) {
            if text.trimmingWhitespace.count >= SOPSFiles.shortestMasked { result.append(text) }
        }
        if output == .binary {
            for value in decrypted.secretValues {
                guard let text = String(validating: value, as: UTF8.self) else { continue }
                let trimmed = text.trimmingWhitespace
                if !trimmed.contains(where: \.isNewline) { add(text) }
            }
            return result
        }
        var encrypted: Set<String> = []
        for value in decrypted.secretValues {
            guard let text = String(validating: value, as: UTF8.self) else { continue }
            encrypted.insert(text)
            add(text)
        }
        // A Secret's data values are base64: the decoded value is what a controller quotes.
        for document in decrypted.documents {
            guard case .scalar(let kind)? = document.tree["kind"], kind.text == "Secret",
                case .mapping(let entries, _)? = document.tree["data"]
            else { continue }
            for entry in entries {
                guard case .scalar(let scalar) = entry.value, encrypted.contains(scalar.text),
                    let bytes = Data(base64Encoded: scalar.text.trimmingWhitespace, options: .ignoreUnknownCharacters),
                    let text = String(validating: bytes, as: UTF8.self)
                else { continue }
                add(text)
            }
        }
        return result
    }

    /// `candidates` less those the repository's non-SOPS files hold in plain text.
    static func secret(_ candidates: [String], source: TreeSource) -> [String] {
        var unseen = Set(candidates.map(\.trimmingWhitespace))
        guard !unseen.isEmpty else { return [] }
        if let entries = try? source.list("") {
            for entry in entries where entry.kind == .file {
                guard let data = try? source.read(entry.path), SOPSFileFormat.encryptedStorage(of: data) == nil else { continue }
                let text = String(decoding: data, as: UTF8.self)
                unseen = unseen.filter { !text.contains($0) }
                if unseen.isEmpty { break }
            }
        }
        return candidates.filter { unseen.contains($0.trimmingWhitespace) }
    }

    /// Masks the candidates the rule keeps, through the reporter (its redaction in every mode,
    /// `::add-mask::` on GitHub).
    static func mask(_ candidates: [String], source: TreeSource, reporter: Reporter) {
        for value in secret(candidates, source: source) { reporter.mask(value) }
    }
}
