import Actions
import Foundation

/// Namespace objects the repository writes that no build applies (tester t12 F10): "Namespace
/// not created" then says where the Namespace is written and what keeps it out of the build (a
/// `$patch: delete`, a file no kustomization lists, a folder behind a symbolic link, which
/// source-controller leaves out), instead of sending the user to add a second one.
final class WrittenNamespaces: @unchecked Sendable {
    private let artifact: SourceArtifact
    private let origins: Origins
    private let lock = NSLock()
    private var found: (definitions: [String: [SourceLocation]], deletions: [String: String])?

    init(artifact: SourceArtifact, origins: Origins) {
        self.artifact = artifact
        self.origins = origins
    }

    /// The sentence to add to a fix about the namespace `name`; nil when the repository writes no
    /// Namespace of that name.
    func hint(_ name: String) -> String? {
        let written = scan()
        guard let first = written.definitions[name]?.first else { return nil }
        let site = "\(first.file):\(first.line ?? 1)"
        if let deleted = written.deletions[name] {
            return " The repository writes the Namespace \(name) (\(site)), but the `$patch: delete` at \(deleted) removes it from the build: drop that patch rather than adding a second Namespace."
        }
        return " The repository writes the Namespace \(name) (\(site)), but no build applies it: list its file in the resources of a kustomization this Kustomization builds (a folder reached through a symbolic link is left out of the artifact by source-controller)."
    }

    /// One pass over the artifact's YAML files, on the first missing namespace (only the error
    /// path pays for it): every Namespace document, by name, and the first `$patch: delete` of a
    /// strategic-merge patch of each Namespace (in a patch file or an inline patch: one whose
    /// preceding lines, back to the document's or entry's start, name the kind and the name).
    private func scan() -> (definitions: [String: [SourceLocation]], deletions: [String: String]) {
        lock.withLock {
            if let found { return found }
            var definitions: [String: [SourceLocation]] = [:]
            var deletions: [String: String] = [:]
            for file in artifact.written.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
                guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { continue }
                let text = String(decoding: data, as: UTF8.self)
                guard text.contains("Namespace") else { continue }
                for document in origins.documents(file) where document.kind == "Namespace" && !document.name.isEmpty {
                    definitions[document.name, default: []].append(SourceLocation(file: file, line: Origins.line(of: ["metadata", "name"], in: document.node) ?? document.line))
                }
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                for (index, line) in lines.enumerated() where line.contains("$patch: delete") {
                    let before = lines[max(0, index - 8)..<index].reversed().prefix { !$0.hasPrefix("---") && !$0.contains("- path:") && !$0.contains("- patch:") }
                    let trimmed = before.map { $0.trimmingCharacters(in: .whitespaces) }
                    guard trimmed.contains("kind: Namespace") else { continue }
                    for name in trimmed where name.hasPrefix("name: ") {
                        let namespace = String(name.dropFirst("name: ".count))
                        if deletions[namespace] == nil { deletions[namespace] = "\(file):\(index + 1)" }
                    }
                }
            }
            found = (definitions, deletions)
            return (definitions, deletions)
        }
    }
}
