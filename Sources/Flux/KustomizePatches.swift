import Foundation
import Kube
import Yams

/// The patch entries of everything one Flux Kustomization builds, level by level, as written in
/// the repository: the kustomization of `spec.path` (or the one kustomize-controller generates
/// there), every local `resources`/`bases`/`components` folder below it that holds a
/// kustomization, and the Kustomization's own `spec.patches` (which kustomize-controller
/// appends to the top kustomization's `patches`, fluxcd/pkg kustomize `Generator.WriteFile`).
/// Levels come deepest first: kustomize builds each base completely (its patches included)
/// before the kustomization that names it applies its own (api/krusty `accumulateResources`
/// then the transformers), so the first patch kustomize fails on is the deepest one that fails.
struct KustomizePatches {
    /// One entry of `patches`, `patchesStrategicMerge` or `patchesJson6902`.
    struct Entry {
        /// The kustomization file that lists it; nil for the Flux Kustomization's spec.patches.
        var file: String?
        var field: String
        var index: Int
        /// The folder its paths resolve against.
        var folder: String
        /// The line of the entry (`- path: x`), and of its `target:` key; nil for spec.patches
        /// (the caller places those with the Flux Kustomization's document).
        var line: Int?
        var targetLine: Int?
        var target: Node?
        /// The patch file it names (resolved, repository-relative), or its inline text.
        var patchFile: String?
        var inline: Node.Scalar?
        /// The file whose lines the inline patch's marks count (the kustomization file, or the
        /// Flux Kustomization's file for spec.patches read from it).
        var inlineFile: String?
        /// The manifests the kustomization that holds the entry reaches through its resources
        /// (the objects it may patch, as written).
        var reached: [String]

        /// `patchesStrategicMerge` names a file or holds the patch; `patches` and
        /// `patchesJson6902` entries are mappings.
        init(file: String?, field: String, index: Int, folder: String, node: Node, reached: [String]) {
            self.file = file
            self.field = field
            self.index = index
            self.folder = folder
            self.reached = reached
            inlineFile = file
            line = node.mark?.line
            if case .scalar(let scalar) = node {
                if scalar.string.contains("\n") || scalar.string.contains(":") { inline = scalar } else { patchFile = KustomizePatches.join(folder, scalar.string) }
                return
            }
            if case .mapping(let mapping) = node, let pair = mapping.first(where: { $0.key.string == "target" }) {
                target = pair.value
                targetLine = pair.key.mark?.line
            }
            if let path = node["path"]?.string { patchFile = KustomizePatches.join(folder, path) }
            if case .scalar(let scalar)? = node["patch"] { inline = scalar }
        }

        /// The patch's text: the file's bytes or the inline scalar.
        func text(root: URL) -> String? {
            if let inline { return inline.string }
            guard let patchFile, let data = FileManager.default.contents(atPath: root.appendingPathComponent(patchFile).path) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }

        /// "apps/staging/kustomization.yaml:7" or "spec.patches[0]".
        var written: String {
            if let file { return "the \(field) entry at \(file)\(line.map { ":\($0)" } ?? "")" }
            return "spec.patches[\(index)]"
        }

        /// What the target selects, in words: "kind ClusterIssuer, name letsencrypt".
        var targetWords: String {
            guard case .mapping(let mapping)? = target else { return "" }
            return mapping.compactMap { pair in pair.value.string.map { "\(pair.key.string ?? "") \($0)" } }.joined(separator: ", ")
        }
    }

    /// An object the repository writes: a candidate for "the nearest object", at the line of
    /// its metadata.name.
    struct Written {
        var kind: String
        var name: String
        var namespace: String?
        var file: String
        var line: Int
        var description: String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name) (\(file):\(line))" }
    }

    /// Deepest level first; within a level `patchesStrategicMerge`, `patches`,
    /// `patchesJson6902` in their written order, then (top level) the spec.patches, which
    /// kustomize-controller appends to `patches`. The order only decides which entry is named
    /// when several could have given one kustomize error.
    var entries: [Entry] = []
    let root: URL

    /// `specNodes`: the spec.patches entries as written in `specFile` (the Flux Kustomization's
    /// document), so that an inline patch's lines are that file's; else they are parsed from
    /// `specPatches` and placed at the entry.
    init(building path: String, specPatches: [JSONValue], specNodes: [Node]? = nil, specFile: String? = nil, files: Set<String>, root: URL) {
        self.root = root
        var visited: Set<String> = []
        // Returns the manifests the folder reaches.
        func walk(_ folder: String, top: Bool) -> [String] {
            guard visited.insert(folder).inserted, visited.count < 10_000 else { return [] }
            var node: Node?
            var file = KustomizationGenerator.kustomizationFile(in: folder, files: files)
            var listed: [String] = []
            if let found = file {
                guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(found).path),
                    let composed = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
                else { return [] }
                node = composed
                for key in ["resources", "bases", "components"] { listed += (composed[key]?.sequence ?? []).compactMap(\.string) }
            } else if top {
                listed = KustomizationGenerator.generatedResources(folder, files: files)
                file = nil
            } else {
                return []
            }
            var reached: [String] = []
            for reference in listed where !reference.contains("://") && !reference.hasPrefix("github.com/") && !reference.hasPrefix("git@") {
                let resolved = Self.join(folder, reference)
                if files.contains(resolved) { reached.append(resolved) } else { reached += walk(resolved, top: false) }
            }
            if let node, let file {
                for field in ["patchesStrategicMerge", "patches", "patchesJson6902"] {
                    for (index, item) in (node[field]?.sequence ?? []).enumerated() {
                        entries.append(Entry(file: file, field: field, index: index, folder: folder, node: item, reached: reached))
                    }
                }
            }
            if top {
                let written = specNodes?.count == specPatches.count ? specNodes : nil
                for (index, value) in specPatches.enumerated() {
                    guard let item = written?[index] ?? KustomizationGenerator.node(from: value) else { continue }
                    var entry = Entry(file: nil, field: "patches", index: index, folder: folder, node: item, reached: reached)
                    if written != nil { entry.inlineFile = specFile }
                    entry.line = nil
                    entry.targetLine = nil
                    entries.append(entry)
                }
            }
            return reached
        }
        _ = walk(path, top: true)
    }

    static func join(_ folder: String, _ path: String) -> String {
        FluxKustomization.normalize(folder.isEmpty ? path : "\(folder)/\(path)")
    }

    /// The objects the entry's kustomization reaches, as the repository writes them.
    static func objects(reachedBy entry: Entry, origins: Origins) -> [Written] {
        entry.reached.flatMap { file in
            origins.documents(file).filter { !$0.kind.isEmpty }.map { Written(kind: $0.kind, name: $0.name, namespace: $0.namespace, file: file, line: Origins.line(of: ["metadata", "name"], in: $0.node) ?? $0.line) }
        }
    }

    /// The object nearest to kind/name/namespace: of the same kind when there is one (any name,
    /// however far: a renamed object is what a stale patch means), the closest name first,
    /// then the same namespace; of another kind only within a few edits of the name.
    static func nearest(kind: String?, name: String?, namespace: String?, in objects: [Written]) -> Written? {
        let name = name ?? ""
        let sameKind = objects.filter { kind == nil || kind == "" || $0.kind == kind }
        let pool = sameKind.isEmpty ? objects : sameKind
        let scored = pool.map { object in
            (object, ClusterTreeReader.distance(Array(name), Array(object.name)), object.namespace == namespace ? 0 : 1)
        }
        guard let best = scored.min(by: { ($0.1, $0.2, $0.0.file, $0.0.line) < ($1.1, $1.2, $1.0.file, $1.0.line) }) else { return nil }
        if sameKind.isEmpty, best.1 > max(2, name.count / 3) { return nil }
        return best.0
    }

    /// The documents of a patch: (kind, name, namespace, the repository file, the lines of
    /// metadata.name and metadata.namespace in it, nil where unknown or not written), for a
    /// strategic-merge patch; [] for a JSON 6902 list.
    func strategicMergeDocuments(_ entry: Entry, origins: Origins) -> [(kind: String, name: String, namespace: String?, file: String, line: Int?, namespaceLine: Int?)] {
        if let patchFile = entry.patchFile {
            return origins.documents(patchFile).map {
                ($0.kind, $0.name, $0.namespace, patchFile, Origins.line(of: ["metadata", "name"], in: $0.node), $0.namespace == nil ? nil : Origins.line(of: ["metadata", "namespace"], in: $0.node))
            }
        }
        guard let inline = entry.inline, var nodes = try? Yams.compose_all(yaml: inline.string) else { return [] }
        var found: [(kind: String, name: String, namespace: String?, file: String, line: Int?, namespaceLine: Int?)] = []
        while let node = nodes.next() {
            guard case .mapping = node else { continue }
            // A literal block (`patch: |`) keeps one text line per file line, from the line after
            // its indicator; any other style is placed at the entry.
            func line(_ path: [Origins.FieldKey]) -> Int? {
                let inner = Origins.line(of: path, in: node)
                if entry.inlineFile == nil { return nil }
                return inline.style == .literal ? inner.map { (inline.mark?.line ?? 0) + $0 } : inline.mark?.line
            }
            let namespace = node["metadata"]?["namespace"]?.string
            found.append((node["kind"]?.string ?? "", node["metadata"]?["name"]?.string ?? "", namespace, entry.inlineFile ?? "", line(["metadata", "name"]), namespace == nil ? nil : line(["metadata", "namespace"])))
        }
        return found
    }

    /// The JSON 6902 operations of a patch (op, path); [] for a strategic-merge patch.
    func operations(_ entry: Entry) -> [(op: String, path: String)] {
        guard let text = entry.text(root: root), let node = try? Yams.compose(yaml: text), case .sequence(let operations) = node else { return [] }
        return operations.compactMap { operation in
            operation["path"]?.string.map { (operation["op"]?.string ?? "", $0) }
        }
    }
}

extension KustomizePatches {
    /// Whether a target's field (an anchored regular expression to kustomize) matches `value`.
    static func targetMatches(_ pattern: String?, _ value: String?) -> Bool {
        guard let pattern, !pattern.isEmpty else { return true }
        guard let value else { return false }
        if pattern == value { return true }
        guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
    }

    /// The shortest prefix of the JSON pointer `path`'s parent that an object the entry's target
    /// selects (by kind, name and namespace, as the repository writes them) lacks: what a
    /// JSON 6902 `add` of `path` needs first (tester t11 F1, F2). nil when every such object has
    /// the parent, or none is found.
    func missingAncestor(of path: String, _ entry: Entry, origins: Origins) -> (path: String, object: Written)? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
        guard segments.count > 1 else { return nil }
        let target = entry.target
        for file in entry.reached {
            for document in origins.documents(file) where !document.kind.isEmpty {
                guard Self.targetMatches(target?["kind"]?.string, document.kind), Self.targetMatches(target?["name"]?.string, document.name),
                    target?["namespace"]?.string == nil || Self.targetMatches(target?["namespace"]?.string, document.namespace)
                else { continue }
                var node: Node? = document.node
                for (depth, segment) in segments.dropLast().enumerated() {
                    switch node {
                    case .mapping?: node = node?[segment]
                    case .sequence(let sequence)?: node = Int(segment).flatMap { $0 < sequence.count ? sequence[$0] : nil }
                    default: node = nil
                    }
                    if node == nil {
                        let missing = "/" + path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().prefix(depth + 1).joined(separator: "/")
                        let written = Written(
                            kind: document.kind, name: document.name, namespace: document.namespace, file: file,
                            line: Origins.line(of: ["metadata", "name"], in: document.node) ?? document.line)
                        return (missing, written)
                    }
                }
            }
        }
        return nil
    }
}
