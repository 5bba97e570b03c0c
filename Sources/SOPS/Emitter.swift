import Foundation
import Yams

/// Writes decrypted documents back as YAML or JSON, as `sops -d` prints them: keys in their
/// order, strings quoted where their plain form would read as another type.
public enum TreeEmitter {
    public static func yaml(_ documents: [TreeNode]) throws -> String {
        var out = ""
        for (index, document) in documents.enumerated() {
            if index > 0 { out += "---\n" }
            out += try Yams.serialize(node: node(document), indent: 4, width: -1, allowUnicode: true)
        }
        return out
    }

    static func node(_ tree: TreeNode) -> Node {
        switch tree {
        case .scalar(let scalar):
            if scalar.isPlain { return .scalar(.init(scalar.text)) }
            let style: Node.Scalar.Style =
                scalar.text.contains("\n") ? .literal : readsAsAnotherType(scalar.text) ? .doubleQuoted : .any
            return .scalar(.init(scalar.text, Tag(.str), style))
        case .mapping(let entries, _):
            return .mapping(.init(entries.map { (Node.scalar(.init($0.key, Tag(.str))), node($0.value)) }))
        case .sequence(let items, _):
            return .sequence(.init(items.map(node)))
        }
    }

    /// Whether a string written plain would be read back as something else by a YAML 1.1 or 1.2
    /// reader (`yes`, `true`, `1.0`, `null`, a date, an empty value), and so must be quoted.
    static func readsAsAnotherType(_ text: String) -> Bool {
        if text.isEmpty || TreeNode.Scalar(text, isPlain: true).isNull { return true }
        let yaml11Booleans: Set<String> = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]
        if yaml11Booleans.contains(text) || LeafBytes.bool(text) != nil { return true }
        if LeafBytes.integer(text) != nil || LeafBytes.float(text) != nil { return true }
        if text.wholeMatch(of: timestamp) != nil || text.wholeMatch(of: sexagesimal) != nil { return true }
        return false
    }

    nonisolated(unsafe) static let timestamp = /[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?/
    nonisolated(unsafe) static let sexagesimal = /[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?/

    public static func json(_ documents: [TreeNode]) -> String {
        documents.map { json($0, indent: "") + "\n" }.joined()
    }

    private static func json(_ tree: TreeNode, indent: String) -> String {
        let inner = indent + "\t"
        switch tree {
        case .scalar(let scalar):
            if scalar.isPlain {
                if scalar.isNull { return "null" }
                if let bool = LeafBytes.bool(scalar.text) { return bool ? "true" : "false" }
                if LeafBytes.integer(scalar.text) != nil || LeafBytes.float(scalar.text)?.isFinite == true { return scalar.text }
            }
            return quote(scalar.text)
        case .mapping(let entries, _):
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { inner + quote($0.key) + ": " + json($0.value, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        case .sequence(let items, _):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + json($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default:
                if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
