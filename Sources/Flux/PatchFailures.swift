import Actions
import Foundation

/// A kustomize build that fails on a patch, reported at the patch entry (tester t9 F8): the
/// line of the kustomization.yaml that lists it, at whatever level of the build (an overlay's
/// base's own kustomization), or the Flux Kustomization's spec.patches entry. kustomize (v5,
/// the one kubectl embeds) names the patch in one of three ways, each followed here:
///
/// - a strategic-merge patch without a target by its own id (api/resmap `ApplySmPatch` and the
///   PatchTransformer: `no resource matches strategic merge patch "<id>"`, and for several
///   objects `multiple matches for Id <id>`; both end `failed to find unique target for patch
///   <id>`, the id being `Kind.version.group/name.namespace`, `[noGrp]`/`[noNs]` for none);
/// - an entry kustomize cannot configure by its own configuration (`trouble configuring builtin
///   PatchTransformer with config: `path: x``, `unable to parse SM or JSON patch from [path:
///   "x"]`, `must specify a target for JSON patch [path: "x"]`);
/// - a JSON 6902 operation that does not apply by the operation's own words (evanphx/json-patch:
///   `replace operation does not apply: doc is missing path: /spec/x`, `error in remove for
///   path: '/x'`, `testing value /x failed`, `Unexpected kind: frob`), which name its path.
extension Reader {
    func patchFailure(_ kustomization: FluxKustomization, message: String, files: Set<String>) -> Annotation? {
        let patches = KustomizePatches(
            building: kustomization.path, specPatches: kustomization.object.json["spec", "patches"]?.array ?? [],
            specNodes: documents[kustomization.id]?["spec"]?["patches"]?.sequence.map(Array.init), specFile: kustomization.object.file, files: files, root: artifact.root)
        guard !patches.entries.isEmpty else { return nil }
        let id = kustomization.id
        func site(_ entry: KustomizePatches.Entry) -> SourceLocation? {
            guard let file = entry.file else { return location(kustomization, ["spec", "patches", .index(entry.index)]) }
            return SourceLocation(file: file, line: entry.line)
        }
        func level(_ entry: KustomizePatches.Entry) -> String { entry.file ?? "the Kustomization \(id)" }
        func patchName(_ entry: KustomizePatches.Entry) -> String {
            entry.patchFile.map { "patch \($0)" } ?? "inline patch"
        }
        let consequence = "kustomize fails (\"\(message)\"), so kustomize-controller fails the build of \(id) (BuildFailed) and applies nothing of it."

        // 1. A strategic-merge patch without a target, by its id.
        if let found = message.firstMatch(of: #/failed to find unique target for patch ([^\s";]+)/#) {
            let patchID = String(found.1)
            guard let slash = patchID.firstIndex(of: "/") else { return nil }
            let kind = String(patchID[..<slash].split(separator: ".").first ?? "")
            let rest = patchID[patchID.index(after: slash)...]
            let name = rest.lastIndex(of: ".").map { String(rest[..<$0]) } ?? String(rest)
            let namespaceText = rest.lastIndex(of: ".").map { String(rest[rest.index(after: $0)...]) }
            let namespace = namespaceText == "[noNs]" ? nil : namespaceText
            for entry in patches.entries where entry.target == nil && entry.field != "patchesJson6902" {
                let documents = patches.strategicMergeDocuments(entry, origins: origins)
                guard let document = documents.first(where: { document in
                    guard document.kind == kind, document.name == name else { return false }
                    return document.namespace == nil || document.namespace == namespace
                }) else { continue }
                let named = "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)"
                let nameSite = document.line.map { "\(document.file):\($0)" } ?? (document.file.isEmpty ? "in \(entry.written)" : document.file)
                if message.contains("multiple matches for Id") {
                    return .error(
                        "The Kustomization \(id) does not build: the strategic-merge \(patchName(entry)) (\(entry.written); without a target it patches the one object of its own kind, name and namespace) names \(named), which more than one object of what \(level(entry)) builds matches: \(consequence)",
                        title: "Kustomize build failed",
                        fix: "Give the patch a metadata.namespace (\(nameSite)), or give the entry a target that selects one object (target: {kind: \(kind), name: \(name), namespace: …}).",
                        at: site(entry))
                }
                let objects = KustomizePatches.objects(reachedBy: entry, origins: origins)
                let nearest = KustomizePatches.nearest(kind: kind, name: name, namespace: namespace, in: objects)
                let fix: String
                if let nearest, nearest.name == name, nearest.namespace != namespace {
                    fix = "Set the patch's metadata.namespace to \(nearest.namespace ?? "none (remove it)") (\(nameSite)) to patch \(nearest.description), or give the entry a target that selects it."
                } else if let nearest {
                    fix = "Rename the patch's metadata.name to \(nearest.name) (\(nameSite)) to patch \(nearest.description), or give the entry a target that selects it (target: {kind: \(nearest.kind), name: \(nearest.name)})."
                } else {
                    fix = "Remove the entry, or make the patch name (metadata.name, \(nameSite)) an object that \(level(entry)) builds, or give the entry a target."
                }
                return .error(
                    "The Kustomization \(id) does not build: the strategic-merge \(patchName(entry)) (\(entry.written); without a target it patches the object of its own kind, name and namespace) names \(named), but no such object is in what \(level(entry)) builds\(nearest.map { "; the nearest is \($0.description)" } ?? ""). \(consequence)",
                    title: "Kustomize build failed", fix: fix, at: site(entry))
            }
            return nil
        }

        // 2. An entry kustomize names by its configuration.
        let named: (path: String?, inline: String?)? = {
            if let found = message.firstMatch(of: #/with config: `\s*path: ([^\s`]+)/#) ?? message.firstMatch(of: #/\[path: "([^"]+)"\]/#) {
                return (String(found.1), nil)
            }
            if let found = message.firstMatch(of: #/with config: `\s*patch: (.*?)`: /#) ?? message.firstMatch(of: #/\[patch: "((?:[^"\\]|\\.)*)"\]/#) {
                return (nil, String(found.1).replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\"", with: "\""))
            }
            return nil
        }()
        if let named {
            func squeezed(_ text: String) -> String { String(text.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) && $0 != "|" && $0 != "-" }.map(Character.init)) }
            let entry = patches.entries.first { entry in
                if let path = named.path { return entry.patchFile != nil && KustomizePatches.join(entry.folder, path) == entry.patchFile }
                guard let inline = entry.inline?.string, let text = named.inline, !squeezed(inline).isEmpty else { return false }
                return squeezed(text).hasPrefix(squeezed(inline)) || squeezed(inline).hasPrefix(squeezed(text))
            }
            guard let entry else { return nil }
            let what: String
            let fix: String
            if message.contains("must specify a target for JSON patch") {
                what = "the \(patchName(entry)) (\(entry.written)) is a JSON 6902 patch (a list of operations), which applies only to the objects a target selects, and the entry has none"
                fix = "Give the entry a target (target: {kind: …, name: …}) naming the objects to patch."
            } else if message.contains("unable to parse SM or JSON patch") {
                let yamlLine = entry.patchFile.flatMap { yamlProblemLine($0) }
                what = "the \(patchName(entry)) (\(entry.written)) is neither a strategic-merge patch (an object with apiVersion, kind and metadata.name) nor a JSON 6902 patch (a list of operations)\(yamlLine.map { " (\(entry.patchFile ?? ""):\($0) is not valid YAML)" } ?? "")"
                fix = yamlLine.map { "Correct the YAML of \(entry.patchFile ?? "") at line \($0)." }
                    ?? "Make the patch an object with apiVersion, kind and metadata.name, or a list of JSON 6902 operations (op, path, value)."
            } else {
                what = "kustomize cannot read the \(patchName(entry)) (\(entry.written))"
                fix = "Correct the entry or the patch it names (kustomize's words are in the message)."
            }
            return .error("The Kustomization \(id) does not build: \(what). \(consequence)", title: "Kustomize build failed", fix: fix, at: site(entry))
        }

        // 3. A JSON 6902 operation that does not apply, by its path (or its unknown op).
        let unknownOp = message.firstMatch(of: #/Unexpected kind: (\S+)/#).map { String($0.1) }
        for entry in patches.entries {
            for operation in patches.operations(entry) {
                let path = operation.path
                let matches = unknownOp.map { $0 == operation.op }
                    ?? (message.contains("path: \(path):") || message.hasSuffix("path: \(path)") || message.contains("path: '\(path)'")
                        || message.contains("key: \(path):") || message.contains("testing value \(path) failed"))
                guard matches else { continue }
                let target = entry.targetWords.isEmpty ? "" : " (\(entry.targetWords))"
                let fix: String
                if unknownOp != nil {
                    fix = "Correct the op (add, remove, replace, move, copy or test) of the operation on \(path)."
                } else if operation.op == "test" {
                    fix = "The test operation on \(path) fails on an object its target selects: correct its value, or narrow the target."
                } else {
                    fix = "Correct the operation's path to a field the selected objects have, narrow the entry's target\(target) to the objects that have it, or use op add (which creates the last key of the path)."
                }
                return .error(
                    "The Kustomization \(id) does not build: the JSON 6902 operation `\(operation.op) \(path)` of the \(patchName(entry)) (\(entry.written)) does not apply to an object its target selects\(target) in what \(level(entry)) builds. \(consequence)",
                    title: "Kustomize build failed", fix: fix, at: site(entry))
            }
        }
        return nil
    }
}
