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
                func written(at line: Int?) -> String { line.map { "\(document.file):\($0)" } ?? (document.file.isEmpty ? "in \(entry.written)" : document.file) }
                let nameSite = written(at: document.line)
                // Where the namespace is written, or where to add it (by the name) when it is not.
                let namespaceSite = written(at: document.namespaceLine ?? document.line)
                if message.contains("multiple matches for Id") {
                    return .error(
                        "The Kustomization \(id) does not build: the strategic-merge \(patchName(entry)) (\(entry.written); without a target it patches the one object of its own kind, name and namespace) names \(named), which more than one object of what \(level(entry)) builds matches: \(consequence)",
                        title: "Kustomize build failed",
                        fix: "Give the patch a metadata.namespace (\(namespaceSite)), or give the entry a target that selects one object (target: {kind: \(kind), name: \(name), namespace: …}).",
                        at: site(entry))
                }
                let objects = KustomizePatches.objects(reachedBy: entry, origins: origins)
                let nearest = KustomizePatches.nearest(kind: kind, name: name, namespace: namespace, in: objects)
                let fix: String
                if let nearest, nearest.name == name, nearest.namespace != namespace {
                    fix = "Set the patch's metadata.namespace to \(nearest.namespace ?? "none (remove it)") (\(namespaceSite)) to patch \(nearest.description), or give the entry a target that selects it."
                } else if let nearest, nearest.namespace != namespace {
                    // tester t11 F4: both fields differ; naming one would leave the patch matching nothing.
                    fix = "Set the patch's metadata.name to \(nearest.name) (\(nameSite)) and its metadata.namespace to \(nearest.namespace ?? "none (remove it)") (\(namespaceSite)) to patch \(nearest.description), or give the entry a target that selects it (target: {kind: \(nearest.kind), name: \(nearest.name)\(nearest.namespace.map { ", namespace: \($0)" } ?? "")})."
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
            var said = consequence
            if entry.inline != nil, entry.patchFile != nil {
                // tester t11 F26: the file may be fine; the entry names two patches.
                what = "\(entry.written) sets both path (\(entry.patchFile ?? "")) and patch (an inline patch), and kustomize takes one or the other"
                fix = "Keep one of path and patch in the entry (move the inline patch to an entry of its own if both are needed)."
            } else if let file = entry.patchFile, file == ".." || file.hasPrefix("../") {
                // tester t11 F27: kustomize-controller builds inside the artifact only (its
                // secure file system); the message would name fluxci's copy of it.
                what = "the \(patchName(entry)) (\(entry.written)) is outside the repository: kustomize-controller builds inside the source artifact only and cannot read a file outside it"
                fix = "Move the patch file into the repository and name it by a path inside it."
                said = "kustomize-controller fails the build of \(id) (BuildFailed) and applies nothing of it."
            } else if message.contains("must specify a target for JSON patch") {
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
            return .error("The Kustomization \(id) does not build: \(what). \(said)", title: "Kustomize build failed", fix: fix, at: site(entry))
        }

        // 3. A target kustomize cannot read (tester t11 F21): a label or annotation selector it
        // cannot parse (apimachinery labels.Parse: `unable to parse requirement: found 'web'
        // expected: '('`), or a name, kind, namespace, group or version that is no regular
        // expression once kustomize anchors it (`^(?:web[)$`: `error parsing regexp: missing
        // closing ]: `[)$``). The message names neither, so the entry is found by its target.
        let selectorError = message.contains("unable to parse requirement") || message.contains("couldn't parse the selector")
            || message.contains("invalid label key") || message.contains("invalid label value")
        let regexError = message.contains("error parsing regexp")
        if selectorError || regexError {
            let fragment = message.firstMatch(of: #/error parsing regexp: [^`]*`([^`]*)`/#).map { String($0.1) }
            let found = message.firstMatch(of: #/found '([^']*)'/#).map { String($0.1) }
            for entry in patches.entries {
                guard case .mapping(let mapping)? = entry.target else { continue }
                for pair in mapping {
                    guard let key = pair.key.string, let value = pair.value.string else { continue }
                    let cause: String
                    let fix: String
                    if regexError, ["name", "kind", "namespace", "group", "version"].contains(key) {
                        let anchored = "^(?:\(value))$"
                        let compiles = (try? NSRegularExpression(pattern: anchored)) != nil
                        if let fragment, !fragment.isEmpty {
                            guard anchored.contains(fragment), !compiles || fragment.count > 4 else { continue }
                        } else if compiles {
                            continue
                        }
                        let special = value.first { "[](){}*+?|\\^$".contains($0) }
                        cause = "the target's \(key) `\(value)` is no regular expression: kustomize matches a target's \(key) as an anchored regular expression (it must match the whole \(key))"
                        fix = "Correct the target's \(key) (\(value))\(special.map { ": escape `\($0)` as `\\\($0)` to match it literally" } ?? " to a valid regular expression")."
                    } else if selectorError, key == "labelSelector" || key == "annotationSelector" {
                        guard let found, value.contains(found) else { continue }
                        let setBased = value.firstMatch(of: #/^\s*(!?[\w./-]+)\s+(in|notin)\s+(.*)$/#)
                        if let setBased, !setBased.3.hasPrefix("(") {
                            cause = "the target's \(key) `\(value)` is no Kubernetes selector: a set-based requirement (\(setBased.2)) needs its values in parentheses"
                            fix = "Write the \(key) as `\(setBased.1) \(setBased.2) (\(setBased.3.trimmingCharacters(in: .whitespaces)))`."
                        } else {
                            cause = "the target's \(key) `\(value)` is no Kubernetes selector"
                            fix = "Correct the \(key) to a Kubernetes selector (`app=web`, `app in (web, api)`, `!canary`)."
                        }
                    } else {
                        continue
                    }
                    let words = message.replacing(#/: `[^`]*`/#, with: "")
                    let at: SourceLocation? = entry.file.map { SourceLocation(file: $0, line: pair.key.mark?.line ?? entry.targetLine ?? entry.line) }
                        ?? location(kustomization, ["spec", "patches", .index(entry.index), "target", .key(key)])
                    return .error(
                        "The Kustomization \(id) does not build: \(cause), in the \(patchName(entry)) (\(entry.written)). kustomize fails (\"\(words)\"), so kustomize-controller fails the build of \(id) (BuildFailed) and applies nothing of it.",
                        title: "Kustomize build failed", fix: fix, at: at)
                }
            }
        }

        // 4. A JSON 6902 operation that does not apply, by its path (or its unknown op).
        let unknownOp = message.firstMatch(of: #/Unexpected kind: (\S+)/#).map { String($0.1) }
        for entry in patches.entries {
            for operation in patches.operations(entry) {
                let path = operation.path
                let matches = unknownOp.map { $0 == operation.op }
                    ?? (message.contains("path: \(path):") || message.hasSuffix("path: \(path)") || message.contains("path: '\(path)'")
                        || message.contains("path: \"\(path)\"")
                        || message.contains("key: \(path):") || message.contains("testing value \(path) failed"))
                guard matches else { continue }
                let target = entry.targetWords.isEmpty ? "" : " (\(entry.targetWords))"
                let fix: String
                var lacking = ""
                if unknownOp != nil {
                    fix = "Correct the op (add, remove, replace, move, copy or test) of the operation on \(path)."
                } else if operation.op == "test" {
                    fix = "The test operation on \(path) fails on an object its target selects: correct its value, or narrow the target."
                } else if ["add", "replace"].contains(operation.op), let missing = patches.missingAncestor(of: path, entry, origins: origins) {
                    // add (and replace, which kustomize turns into add for a missing last key)
                    // creates only the last key: its parent must exist (tester t11 F1, F2).
                    let parent = RepositoryPath.parent(path)
                    lacking = " \(missing.object.description) has no \(missing.path)\(missing.path == parent ? "" : ", an ancestor of \(path)"), and \(operation.op) creates only the last key of the path"
                    fix = "Add the parent object first (op: add, path: \(missing.path), value: {…} holding the rest of the path), or narrow the entry's target\(target) to the objects that have \(parent)."
                } else {
                    fix = "Correct the operation's path to a field the selected objects have, narrow the entry's target\(target) to the objects that have it\(operation.op == "add" ? "" : ", or use op add (which creates the last key of the path)")."
                }
                return .error(
                    "The Kustomization \(id) does not build: the JSON 6902 operation `\(operation.op) \(path)` of the \(patchName(entry)) (\(entry.written)) does not apply to an object its target selects\(target) in what \(level(entry)) builds\(lacking). \(consequence)",
                    title: "Kustomize build failed", fix: fix, at: site(entry))
            }
        }
        return nil
    }
}
