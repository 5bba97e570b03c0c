import Foundation
import Yams

/// kustomize's refusal of a second resource with the same id in one build (kustomize api resmap
/// `resWrangler.Append`: "may not add resource with an already registered id: <id>"), which
/// kustomize-controller reports as its build failure (BuildFailed): the message names the id,
/// wrapped in kustomize's accumulation context, never the files. This finds the definitions
/// among the files the build reads, so that the problem is reported at each one.
enum RegisteredIds {
    /// The words kustomize uses.
    static let phrase = "may not add resource with an already registered id"

    /// A kustomize resource id as `ResId.String()` writes it: `Kind.version.group/name.namespace`,
    /// `[noGrp]` for the core group, `[noNs]` for no namespace (api resid `Gvk.String`,
    /// `ResId.String`). A kind and a version hold no dot, a namespace none either (a DNS label);
    /// a group and a name may.
    struct ID: Equatable {
        var kind: String
        var version: String
        var group: String
        var name: String
        var namespace: String?

        init?(_ text: String) {
            guard let slash = text.firstIndex(of: "/") else { return nil }
            let gvk = text[..<slash].split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            let rest = text[text.index(after: slash)...]
            guard gvk.count == 3, let dot = rest.lastIndex(of: ".") else { return nil }
            kind = gvk[0]
            version = gvk[1]
            group = gvk[2] == "[noGrp]" ? "" : gvk[2]
            name = String(rest[..<dot])
            let namespace = String(rest[rest.index(after: dot)...])
            self.namespace = namespace == "[noNs]" || namespace.isEmpty ? nil : namespace
        }

        /// `Kind/namespace/name`, as fluxci names objects.
        var description: String { "\(kind)/\(namespace.map { $0 + "/" } ?? "")\(name)" }

        var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    }

    /// kustomize's own sentence with the id (`may not add resource with an already registered
    /// id: ConfigMap.v1.[noGrp]/same.default`), without the accumulation context around it.
    static func refusal(in message: String) -> (sentence: String, id: ID)? {
        guard let range = message.range(of: phrase + ": ") else { return nil }
        let token = message[range.upperBound...].prefix { !$0.isWhitespace && $0 != "'" && $0 != "\"" }
        guard let id = ID(String(token)) else { return nil }
        return ("\(phrase): \(token)", id)
    }

    /// A definition of the id: the file and the line of its `metadata.name`.
    struct Definition: Equatable {
        var file: String
        var line: Int?
    }

    /// The documents defining `id` among the files the build of `directory` reads as resources
    /// (its kustomization's `resources`/`bases`/`components`, folder by folder, or the files Flux's
    /// generated kustomization lists; `extraComponents` are the Flux Kustomization's
    /// `spec.components`, relative to `directory`). Written names are compared as kustomize's
    /// transformers leave them: equal, or held in the id's name (a prefix or suffix); a document
    /// without a namespace matches any (a transformer may set it).
    static func definitions(of id: ID, building directory: String, extraComponents: [String], files: Set<String>, origins: Origins) -> [Definition] {
        var read: [String] = []
        var visited: Set<String> = []
        let folders = Set(files.flatMap { file in
            let parts = file.split(separator: "/").dropLast()
            return parts.indices.map { parts[...$0].joined(separator: "/") }
        })
        func resolve(_ folder: String, _ entry: String) -> String? {
            guard !entry.contains("://") else { return nil }
            let path = FluxKustomization.normalize(folder.isEmpty ? entry : "\(folder)/\(entry)")
            return path.hasPrefix("..") ? nil : path
        }
        func visit(_ folder: String, extra: [String] = []) {
            guard visited.insert(folder).inserted, visited.count < 10_000 else { return }
            var entries: [String] = []
            if let file = KustomizationGenerator.kustomizationFile(in: folder, files: files) {
                let node = origins.documents(file).first?.node
                for key in ["resources", "bases", "components"] {
                    entries += (node?[key]?.sequence ?? []).compactMap(\.string)
                }
            } else {
                entries = KustomizationGenerator.generatedResources(folder, files: files)
            }
            for entry in entries + extra {
                guard let path = resolve(folder, entry) else { continue }
                if files.contains(path) { read.append(path) } else if folders.contains(path) { visit(path) }
            }
        }
        visit(directory, extra: extraComponents)
        // In the order kustomize reads them; a name a transformer changed counts only when
        // fewer than two are written exactly so.
        var exact: [Definition] = []
        var all: [Definition] = []
        for file in read {
            for document in origins.documents(file) where document.kind == id.kind {
                guard (document.node["apiVersion"]?.string ?? "") == id.apiVersion,
                    document.namespace == nil || document.namespace == id.namespace
                else { continue }
                let definition = Definition(file: file, line: Origins.line(of: ["metadata", "name"], in: document.node) ?? document.line)
                if document.name == id.name {
                    exact.append(definition)
                    all.append(definition)
                } else if !document.name.isEmpty, id.name.contains(document.name) {
                    all.append(definition)
                }
            }
        }
        return exact.count >= 2 ? exact : all
    }
}
