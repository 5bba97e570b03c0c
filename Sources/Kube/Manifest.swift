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
    /// `yes` and `on` are booleans).
    public static func objects(_ text: String, file: String? = nil) throws(KubeError) -> [KubeObject] {
        if let line = anchorLine(text) {
            throw .configuration("\(file ?? "the manifest"):\(line): YAML anchors and aliases are not supported (they allow documents that expand without bound).", fix: "Write the values out.")
        }
        return try parse(text, file: file, lineOffset: 0)
    }

    nonisolated(unsafe) static let anchor = /(?m)(^|[ \t\[{,:-])&[A-Za-z0-9_.\/-]+([ \t]|$)/

    /// The line of the first YAML anchor, if any.
    public static func anchorLine(_ text: String) -> Int? {
        guard let match = text.firstMatch(of: anchor) else { return nil }
        return text[..<match.range.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
    }

    private static func parse(_ text: String, file: String?, lineOffset: Int) throws(KubeError) -> [KubeObject] {
        var objects: [KubeObject] = []
        do {
            // The basic resolver: scalars are typed below, without Yams's per-scalar regexes.
            var nodes = try Yams.compose_all(yaml: text, .basic)
            defer { _ = nodes }
            while let node = nodes.next() {
                let json = try value(node, depth: 0)
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
        guard depth < 200 else { throw KubeError.configuration("a manifest is nested deeper than 200 levels", fix: "Fix the YAML.") }
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
            var pairs: [(key: String, value: JSONValue)] = []
            for (key, value) in mapping { pairs.append((key.string ?? "", try self.value(value, depth: depth + 1))) }
            return .object(pairs)
        case .sequence(let sequence):
            return .array(try sequence.map { try value($0, depth: depth + 1) })
        case .alias:
            throw KubeError.configuration("YAML aliases are not supported in manifests", fix: "Write the values out.")
        }
    }
}

