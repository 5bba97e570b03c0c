import Actions
import Foundation
import SOPS

/// A Kubernetes Secret left in plaintext where `.sops.yaml` says files are encrypted: the output
/// of `fluxci secret from-file` (or `kubectl create secret --dry-run`) committed before `sops
/// encrypt`. sops and Flux would apply it as it is; for a preflight it is a secret about to be
/// published, so it fails like a file that does not decrypt.
enum PlaintextSecret {
    /// The failure for `bytes` when they hold a YAML document of kind Secret with `data` or
    /// `stringData`, and a creation rule covers the file; nil otherwise.
    static func find(in bytes: Data, name: String, rule: (String) -> CreationRule?) -> Annotation? {
        // Cheap first: most files are not Secrets.
        guard bytes.range(of: Data("Secret".utf8)) != nil, bytes.range(of: Data("kind".utf8)) != nil else { return nil }
        guard let documents = try? TreeReader.documents(String(decoding: bytes, as: UTF8.self)) else { return nil }
        for document in documents {
            guard document["kind"]?.scalarText == "Secret" else { continue }
            let payload = ["data", "stringData"].compactMap { key -> (String, TreeNode)? in
                guard let node = document[key], case .mapping(let entries, _) = node, !entries.isEmpty else { return nil }
                return (key, node)
            }
            guard let (key, node) = payload.first, let rule = rule(name) else { continue }
            let secretName = document["metadata"]?["name"]?.scalarText ?? "?"
            let config = URL(fileURLWithPath: rule.configFile).lastPathComponent
            return .error(
                "\(name) holds the Secret \(secretName) in plaintext (its \(key) is not encrypted), although the creation rule of \(config)\(rule.line.map { " (line \($0))" } ?? "") covers this file.",
                title: "Plaintext Secret",
                fix: "Encrypt it before committing: `fluxci sops encrypt --in-place \(name)` (or `sops encrypt --in-place \(name)`); if it was pushed, rotate the values it holds.",
                at: SourceLocation(file: name, line: node.position?.line ?? document.position?.line))
        }
        return nil
    }
}
