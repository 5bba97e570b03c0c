import Foundation
import Yams

/// One object of a manifest, with where it was defined.
public struct KubeObject: Sendable, Equatable {
    public var json: JSONValue
    public var file: String?
    public var line: Int?

    public init(_ json: JSONValue, file: String? = nil, line: Int? = nil) {
        self.json = json
        self.file = file
        self.line = line
    }

    public var apiVersion: String { json["apiVersion"]?.string ?? "" }
    public var kind: String { json["kind"]?.string ?? "" }
    public var name: String { json["metadata", "name"]?.string ?? "" }
    public var namespace: String? { json["metadata", "namespace"]?.string }
    /// `Kind/namespace/name`, for messages.
    public var reference: String { [kind, namespace, name].compactMap { $0 }.joined(separator: "/") }
}

public enum Manifest {
    /// The objects of a multi-document YAML (or JSON) manifest; empty documents are skipped and
    /// `List` kinds expanded. Plain scalars are typed as kubectl's YAML reader does (YAML 1.1:
    /// `yes` and `on` are booleans). Anchors, aliases and merge keys (`<<`) are accepted, as
    /// kustomize accepts them since v4.4 (go-yaml); alias expansion is bounded by
    /// `maximumNodes` per document, so a billion-laughs document fails quickly.
    public static func objects(_ text: String, file: String? = nil) throws(KubeError) -> [KubeObject] {
        try parse(text, file: file, lineOffset: 0)
    }

    /// The most nodes one document may expand to (aliases counted at every use). A large CRD has
    /// some tens of thousands.
    public static let maximumNodes = 1_000_000

    /// The line of the first node that carries a YAML anchor (`&name`), as the parser sees it;
    /// nil when there is none or the text is not YAML. A value such as `R &D` is no anchor.
    public static func anchorLine(_ text: String) -> Int? {
        guard var nodes = try? Yams.compose_all(yaml: text, .basic) else { return nil }
        func first(_ node: Node, depth: Int) -> Int? {
            guard depth < 200 else { return nil }
            if node.anchor != nil { return node.mark?.line }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    if let line = first(key, depth: depth + 1) ?? first(value, depth: depth + 1) { return line }
                }
            case .sequence(let sequence):
                for item in sequence {
                    if let line = first(item, depth: depth + 1) { return line }
                }
            default: break
            }
            return nil
        }
        while let node = nodes.next() {
            if let line = first(node, depth: 0) { return line }
        }
        return nil
    }

    private static func parse(_ text: String, file: String?, lineOffset: Int) throws(KubeError) -> [KubeObject] {
        var objects: [KubeObject] = []
        do {
            // The basic resolver: scalars are typed below, without Yams's per-scalar regexes.
            var nodes = try Yams.compose_all(yaml: text, .basic)
            defer { _ = nodes }
            while let node = nodes.next() {
                var budget = maximumNodes
                let json = try value(node, depth: 0, budget: &budget)
                if case .null = json { continue }
                let line = node.mark.map { $0.line + lineOffset }
                guard case .object = json, json["kind"]?.string != nil, json["apiVersion"]?.string != nil else {
                    throw KubeError.configuration(
                        "\(file ?? "the manifest")\(line.map { ":\($0)" } ?? ""): a document is not a Kubernetes object (it needs apiVersion and kind).",
                        fix: "Fix or remove the document.")
                }
                if json["kind"]?.string == "List" {
                    objects += (json["items"]?.array ?? []).map { KubeObject($0, file: file, line: line) }
                } else {
                    objects.append(KubeObject(json, file: file, line: line))
                }
            }
            // compose_all stops quietly at a parse error; its `error` says so.
            if let error = nodes.error { throw error }
        } catch let error as KubeError {
            throw error
        } catch {
            throw .configuration("\(file ?? "the manifest") is not valid YAML: \(error).", fix: "Fix the YAML.")
        }
        return objects
    }

    static func value(_ node: Node, depth: Int) throws -> JSONValue {
        var budget = maximumNodes
        return try value(node, depth: depth, budget: &budget)
    }

    /// `budget` counts every node produced, so that aliases (which Yams resolves to the anchored
    /// node) cannot expand without bound.
    static func value(_ node: Node, depth: Int, budget: inout Int) throws -> JSONValue {
        guard depth < 200 else { throw KubeError.configuration("a manifest is nested deeper than 200 levels", fix: "Fix the YAML.") }
        budget -= 1
        guard budget >= 0 else {
            throw KubeError.configuration(
                "a document expands to more than \(maximumNodes) nodes through YAML aliases (an alias bomb)",
                fix: "Write the values out, or use fewer nested aliases.")
        }
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .plain else { return .string(scalar.string) }
            let text = scalar.string
            switch text {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return .bool(true)
            case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return .bool(false)
            default:
                if let integer = Int64(text) { return .integer(integer) }
                if text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true, let double = Double(text), !text.contains("_") {
                    return .number(double)
                }
                return .string(text)
            }
        case .mapping(let mapping):
            // Merge keys (`<<: *base` or `<<: [*a, *b]`), as go-yaml reads them: keys written in
            // the mapping win over merged ones; among merged mappings the first wins.
            var pairs: [(key: String, value: JSONValue)] = []
            var merged: [(key: String, value: JSONValue)] = []
            for (key, value) in mapping {
                if case .scalar(let scalar) = key, scalar.string == "<<", scalar.style == .plain {
                    let sources: [Node] = if case .sequence(let list) = value { Array(list) } else { [value] }
                    for source in sources {
                        guard case .object(let entries) = try self.value(source, depth: depth + 1, budget: &budget) else {
                            throw KubeError.configuration("a merge key (<<) names something that is not a mapping", fix: "Merge mappings only.")
                        }
                        for entry in entries where !merged.contains(where: { $0.key == entry.key }) { merged.append(entry) }
                    }
                    continue
                }
                pairs.append((key.string ?? "", try self.value(value, depth: depth + 1, budget: &budget)))
            }
            for entry in merged where !pairs.contains(where: { $0.key == entry.key }) { pairs.append(entry) }
            return .object(pairs)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try value(item, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case .alias:
            // Yams resolves aliases while composing; an unresolved one is an undefined alias.
            throw KubeError.configuration("a YAML alias names no anchor", fix: "Define the anchor before the alias.")
        }
    }
}
