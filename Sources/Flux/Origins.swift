import Foundation
import Kube
import Yams

/// Where each built object is written in the repository. kustomize's `buildMetadata:
/// [originAnnotations]` puts `config.kubernetes.io/origin` on every object: `path` (the file,
/// relative to the folder built), or `repo`/`ref`/`path` for a remote resource, or
/// `configuredIn`/`configuredBy` for an object a generator made. The document inside the file is
/// found by kind and name (transformers may have added a prefix or suffix), and its line read
/// from the parser's marks.
final class Origins: @unchecked Sendable {
    static let annotation = "config.kubernetes.io/origin"

    struct Document {
        var kind: String
        var name: String
        var namespace: String?
        var line: Int
        var node: Node
    }

    let root: URL
    private let lock = NSLock()
    private var cache: [String: [Document]] = [:]

    init(root: URL) { self.root = root }

    /// The documents of a repository file, with their first lines; [] when it is not YAML.
    func documents(_ file: String) -> [Document] {
        if let cached = lock.withLock({ cache[file] }) { return cached }
        var documents: [Document] = []
        if let data = FileManager.default.contents(atPath: root.appendingPathComponent(file).path),
            var nodes = try? Yams.compose_all(yaml: String(decoding: data, as: UTF8.self), .basic)
        {
            func add(_ node: Node) {
                documents.append(Document(
                    kind: node["kind"]?.string ?? "", name: node["metadata"]?["name"]?.string ?? "",
                    namespace: node["metadata"]?["namespace"]?.string, line: node.mark?.line ?? 1, node: node))
            }
            while let node = nodes.next() {
                guard case .mapping = node else { continue }
                // kustomize reads the items of a `kind: …List` as objects of their own (the
                // resource factory's inlineAnyEmbeddedLists): each item is a document here, at
                // its own first line, so an item is never placed at the List's or another
                // object's line (tester t3 F14).
                if (node["kind"]?.string ?? "").hasSuffix("List"), let items = node["items"]?.sequence {
                    for item in items { if case .mapping = item { add(item) } }
                } else {
                    add(node)
                }
            }
        }
        lock.withLock { cache[file] = documents }
        return documents
    }

    /// The origin of a built object, as a repository file and line. `directory` is the folder
    /// that was built (repository-relative); `kustomizationFile` the kustomization written there.
    func locate(_ object: JSONValue, origin: String, directory: String, kustomizationFile: String) -> (file: String, line: Int?, document: Node?) {
        guard let fields = try? Yams.load(yaml: origin) as? [String: Any] else { return (kustomizationFile, nil, nil) }
        func relative(_ path: String) -> String { FluxKustomization.normalize(directory.isEmpty ? path : "\(directory)/\(path)") }
        if fields["repo"] != nil {
            // A remote resource: the kustomization that lists it is where it is written here.
            return (kustomizationFile, line(of: fields["repo"] as? String ?? "", in: kustomizationFile), nil)
        }
        if let configuredIn = fields["configuredIn"] as? String {
            let file = relative(configuredIn)
            let name = (object["metadata", "name"]?.string) ?? ""
            let generator = (fields["configuredBy"] as? [String: Any])?["kind"] as? String ?? ""
            return (file, generatorLine(file, kind: generator, objectName: name), nil)
        }
        guard let path = fields["path"] as? String else { return (kustomizationFile, nil, nil) }
        let file = relative(path)
        let kind = object["kind"]?.string ?? ""
        let name = object["metadata", "name"]?.string ?? ""
        let namespace = object["metadata", "namespace"]?.string
        let candidates = documents(file).filter { $0.kind == kind }
        // One file may hold objects of one kind and name in several namespaces (one per tenant):
        // the document written with the object's namespace is the one (tester t11 F11); a
        // namespace a transformer set matches none, and the first of that name is taken.
        let named = candidates.filter { $0.name == name }
        let best = named.first { $0.namespace == namespace } ?? named.first
            ?? candidates.filter { !$0.name.isEmpty && name.contains($0.name) }.max { $0.name.count < $1.name.count }
            ?? (candidates.count == 1 ? candidates.first : nil)
        return (file, best?.line ?? (documents(file).count == 1 ? documents(file)[0].line : nil), best?.node)
    }

    /// The line of the generator entry (`secretGenerator`/`configMapGenerator`) whose name the
    /// object's name holds.
    private func generatorLine(_ file: String, kind: String, objectName: String) -> Int? {
        guard let document = documents(file).first?.node ?? (try? compose(file)) else { return nil }
        let key = kind == "SecretGenerator" ? "secretGenerator" : kind == "ConfigMapGenerator" ? "configMapGenerator" : nil
        guard let key, let list = document[key]?.sequence else { return document[key ?? ""]?.mark?.line }
        let entry = list.filter { ($0["name"]?.string).map { !$0.isEmpty && objectName.contains($0) } ?? false }
            .max { ($0["name"]?.string?.count ?? 0) < ($1["name"]?.string?.count ?? 0) }
        return (entry?["name"] ?? entry)?.mark?.line ?? list.first?.mark?.line
    }

    private func compose(_ file: String) throws -> Node? {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(file).path) else { return nil }
        return try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
    }

    /// The first line holding `text` (for entries of a kustomization).
    func line(of text: String, in file: String) -> Int? {
        guard !text.isEmpty, let data = FileManager.default.contents(atPath: root.appendingPathComponent(file).path) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.firstIndex { $0.contains(text) }.map { $0 + 1 }
    }

    /// The line of a field inside a document, where a problem about it is annotated (issue 13
    /// item 24): a key's own line (`postBuild:`, whatever its value; not the first line of a
    /// block value below it), an item's first line (`["spec", "dependsOn", 1]`); for a field
    /// that is not written, its nearest written parent's key (`sourceRef:` for a defaulted
    /// `sourceRef.namespace`).
    static func line(of path: [FieldKey], in document: Node?) -> Int? {
        guard var node = document else { return nil }
        var line = node.mark?.line
        for key in path {
            switch key {
            case .key(let name):
                guard case .mapping(let mapping) = node, let index = mapping.firstIndex(where: { $0.key.string == name }) else { return line }
                line = mapping[index].key.mark?.line ?? line
                node = mapping[index].value
            case .index(let index):
                guard case .sequence(let sequence) = node, index < sequence.count else { return line }
                node = sequence[index]
                line = node.mark?.line ?? line
            }
        }
        return line
    }

    /// Whether the whole of `path` is written in the document (not only a parent of it).
    static func isWritten(_ path: [FieldKey], in document: Node?) -> Bool {
        guard var node = document else { return false }
        for key in path {
            switch key {
            case .key(let name):
                guard case .mapping(let mapping) = node, let value = mapping.first(where: { $0.key.string == name })?.value else { return false }
                node = value
            case .index(let index):
                guard case .sequence(let sequence) = node, index < sequence.count else { return false }
                node = sequence[index]
            }
        }
        return true
    }

    enum FieldKey: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case key(String), index(Int)
        init(stringLiteral value: String) { self = .key(value) }
        init(integerLiteral value: Int) { self = .index(value) }
    }

    /// `spec.containers[0].image`, for a message.
    static func dotted(_ field: [FieldKey]) -> String {
        field.reduce(into: "") { text, key in
            switch key {
            case .key(let name): text += text.isEmpty ? name : ".\(name)"
            case .index(let index): text += "[\(index)]"
            }
        }
    }
}
