import Actions
import Foundation
import Kube
import Yams

/// Where a kustomize patch writes a field of an object: a problem about a field that the
/// object's own file does not write belongs at the patch line that adds it (tester t5 F: a
/// `postBuild.substituteFrom` that flux-system/kustomization.yaml patches into the root
/// Kustomization). kustomize (api/krusty, `patches`, `patchesStrategicMerge`,
/// `patchesJson6902`) applies an entry to the objects its `target` selects (kind, and name as
/// an anchored regular expression) or, for a strategic-merge patch without one, to the object
/// of the patch's own kind and name; the patch is inline (`patch:`) or a file (`path:`).
enum PatchSites {
    /// The file and line of the patch of `kustomizationFile` that writes `field` of `object` last
    /// (a strategic-merge patch holding the field, or a JSON 6902 operation on it or on one of its
    /// parents): kustomize applies a list's entries in order, so of two patches setting one field
    /// the later one's value is what the cluster gets (tester t15 F13). Nil when none does.
    static func location(of field: [Origins.FieldKey], object: KubeObject, kustomizationFile: String, origins: Origins) -> SourceLocation? {
        guard let document = origins.documents(kustomizationFile).first?.node else { return nil }
        let identities = identities(of: object, origins: origins)
        let folder = (kustomizationFile as NSString).deletingLastPathComponent
        var entries: [Node] = []
        for key in ["patchesStrategicMerge", "patchesJson6902", "patches"] { entries += document[key]?.sequence.map(Array.init) ?? [] }
        for entry in entries.reversed() {
            if case .scalar(let scalar) = entry {
                // patchesStrategicMerge: a file, or the patch itself.
                for object in identities {
                    if scalar.string.contains("\n") || scalar.string.contains(":") {
                        if let line = line(of: field, object: object, inPatch: scalar, target: nil) { return SourceLocation(file: kustomizationFile, line: line) }
                    } else if let found = fileLine(field, object: object, file: joined(folder, scalar.string), target: nil, origins: origins) {
                        return found
                    }
                }
                continue
            }
            let target = entry["target"]
            if let target, !identities.contains(where: { selects(target, $0) }) { continue }
            for object in identities {
                if let patch = entry["patch"], case .scalar(let scalar) = patch {
                    if let line = line(of: field, object: object, inPatch: scalar, target: target) { return SourceLocation(file: kustomizationFile, line: line) }
                } else if let path = entry["path"]?.string, let found = fileLine(field, object: object, file: joined(folder, path), target: target, origins: origins) {
                    return found
                }
            }
        }
        return nil
    }

    /// The object as built, then as its file writes it when a transformer changed its name or
    /// namespace (`namePrefix`, `namespace:`): kustomize selects a patch's object by its current
    /// id or its original one (api/resmap `Select` tries `OrgId` then `CurId`; a strategic-merge
    /// patch without a target matches any of its ids), so a patch naming the written `podinfo`
    /// applies to the built `kind-podinfo` (tester t18 F10).
    static func identities(of object: KubeObject, origins: Origins) -> [KubeObject] {
        guard let file = object.file, let node = origins.documents(file).first(where: { $0.line == object.line })?.node,
            let name = node["metadata"]?["name"]?.string
        else { return [object] }
        let namespace = node["metadata"]?["namespace"]?.string
        guard name != object.name || (namespace != nil && namespace != object.namespace) else { return [object] }
        var written = object.json
        if case .object(var metadata)? = written["metadata"] {
            metadata = metadata.map { $0.key == "name" ? ($0.key, .string(name)) : $0 }
            if let namespace { metadata = metadata.map { $0.key == "namespace" ? ($0.key, .string(namespace)) : $0 } }
            written.set("metadata", .object(metadata))
        }
        return [object, KubeObject(written, file: object.file, line: object.line)]
    }

    private static func joined(_ folder: String, _ path: String) -> String {
        FluxKustomization.normalize(folder.isEmpty ? path : "\(folder)/\(path)")
    }

    /// A patch file: its first document that writes the field.
    private static func fileLine(_ field: [Origins.FieldKey], object: KubeObject, file: String, target: Node?, origins: Origins) -> SourceLocation? {
        for document in origins.documents(file) {
            if let line = patchedLine(field, object: object, patch: document.node, target: target) { return SourceLocation(file: file, line: line) }
        }
        // A JSON 6902 file is one sequence, which `documents` does not list.
        guard let data = FileManager.default.contents(atPath: origins.root.appendingPathComponent(file).path),
            let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self)), case .sequence = node,
            let line = patchedLine(field, object: object, patch: node, target: target)
        else { return nil }
        return SourceLocation(file: file, line: line)
    }

    /// An inline patch: its line in the kustomization file. A literal block scalar (`patch: |`)
    /// keeps one text line per file line from the line after its indicator; any other style
    /// is placed at its own first line.
    static func line(of field: [Origins.FieldKey], object: KubeObject, inPatch scalar: Node.Scalar, target: Node?) -> Int? {
        guard let patch = try? Yams.compose(yaml: scalar.string), let inner = patchedLine(field, object: object, patch: patch, target: target) else { return nil }
        let start = scalar.mark?.line ?? 1
        return scalar.style == .literal ? start + inner : start
    }

    /// The line, inside a parsed patch, that writes `field`; nil when the patch does not.
    private static func patchedLine(_ field: [Origins.FieldKey], object: KubeObject, patch: Node, target: Node?) -> Int? {
        switch patch {
        case .mapping:
            // A strategic-merge patch names its object unless a target selects it.
            if target == nil {
                guard patch["kind"]?.string == object.kind, patch["metadata"]?["name"]?.string == object.name else { return nil }
            }
            return Origins.isWritten(field, in: patch) ? Origins.line(of: field, in: patch) : nil
        case .sequence(let operations):
            // JSON 6902: an operation on the field, on a parent whose value holds it, or on a part
            // of it (as a strategic-merge patch writing `dependsOn[0].name` writes `dependsOn[0]`).
            let pointer = field.map { key -> String in
                switch key {
                case .key(let name): name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                case .index(let index): String(index)
                }
            }
            for operation in operations {
                guard let op = operation["op"]?.string, ["add", "replace", "copy", "move"].contains(op),
                    let path = operation["path"]?.string
                else { continue }
                let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
                if parts.count > pointer.count, zip(pointer, parts).allSatisfy({ $0 == $1 }) {
                    return (operation["value"] ?? operation["path"])?.mark?.line ?? operation.mark?.line
                }
                // `-` appends: it stands for whatever index the field has.
                guard parts.count <= pointer.count, zip(parts, pointer).allSatisfy({ $0 == $1 || ($0 == "-" && Int($1) != nil) }) else { continue }
                let rest = Array(field.dropFirst(parts.count))
                guard let value = operation["value"] else { return operation["path"]?.mark?.line ?? operation.mark?.line }
                if rest.isEmpty { return value.mark?.line ?? operation.mark?.line }
                if Origins.isWritten(rest, in: value) { return Origins.line(of: rest, in: value) }
            }
            return nil
        default:
            return nil
        }
    }

    /// Whether a patch `target` selects the object: kind, name and namespace as anchored
    /// regular expressions (kustomize's resid selector), group and version as written.
    static func selects(_ target: Node, _ object: KubeObject) -> Bool {
        func matches(_ pattern: String?, _ value: String) -> Bool {
            guard let pattern, !pattern.isEmpty else { return true }
            guard let expression = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return pattern == value }
            return expression.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
        }
        let parts = object.apiVersion.split(separator: "/").map(String.init)
        let group = parts.count > 1 ? parts[0] : ""
        let version = parts.last ?? ""
        if let wanted = target["group"]?.string, !wanted.isEmpty, wanted != group { return false }
        if let wanted = target["version"]?.string, !wanted.isEmpty, wanted != version { return false }
        return matches(target["kind"]?.string, object.kind) && matches(target["name"]?.string, object.name)
            && matches(target["namespace"]?.string, object.namespace ?? "")
    }
}
