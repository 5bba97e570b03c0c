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
    private var found: [String: [SourceLocation]]?

    init(artifact: SourceArtifact, origins: Origins) {
        self.artifact = artifact
        self.origins = origins
    }

    /// The sentence to add to a fix about the namespace `name`; nil when the repository writes no
    /// Namespace of that name.
    func hint(_ name: String) -> String? {
        guard let first = definitions()[name]?.first else { return nil }
        let written = "\(first.file):\(first.line ?? 1)"
        if let deleted = deletion(of: name) {
            return " The repository writes the Namespace \(name) (\(written)), but the `$patch: delete` at \(deleted) removes it from the build: drop that patch rather than adding a second Namespace."
        }
        return " The repository writes the Namespace \(name) (\(written)), but no build applies it: list its file in the resources of a kustomization this Kustomization builds (a folder reached through a symbolic link is left out of the artifact by source-controller)."
    }

    /// Every Namespace document of the artifact's YAML files, by name (read once, on the first
    /// missing namespace: only the error path pays for it).
    private func definitions() -> [String: [SourceLocation]] {
        lock.withLock {
            if let found { return found }
            var all: [String: [SourceLocation]] = [:]
            for file in artifact.written.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
                guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path),
                    String(decoding: data, as: UTF8.self).contains("Namespace")
                else { continue }
                for document in origins.documents(file) where document.kind == "Namespace" && !document.name.isEmpty {
                    all[document.name, default: []].append(SourceLocation(file: file, line: Origins.line(of: ["metadata", "name"], in: document.node) ?? document.line))
                }
            }
            found = all
            return all
        }
    }

    /// The `$patch: delete` line of a strategic-merge patch of the Namespace `name` (in a patch
    /// file or an inline patch): one whose preceding lines, back to the document's start, name
    /// the kind and the name.
    private func deletion(of name: String) -> String? {
        for file in artifact.written.sorted() where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { continue }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() where line.contains("$patch: delete") {
                let before = lines[max(0, index - 8)..<index].reversed().prefix { !$0.hasPrefix("---") && !$0.contains("- path:") && !$0.contains("- patch:") }
                let text = before.map { $0.trimmingCharacters(in: .whitespaces) }
                if text.contains("kind: Namespace") && text.contains("name: \(name)") { return "\(file):\(index + 1)" }
            }
        }
        return nil
    }
}
