import Foundation

/// Writes decrypted documents back as YAML or JSON, as `sops -d` prints them: keys in their
/// order, strings quoted where their plain form would read as another type.
public enum TreeEmitter {
    /// YAML as `sops -d` prints it: see `YAMLEmitter`.
    public static func yaml(_ documents: [TreeNode]) throws -> String {
        YAMLEmitter.emit(documents)
    }

    public static func json(_ documents: [TreeNode]) -> String {
        documents.map { json($0, indent: "") + "\n" }.joined()
    }

    private static func json(_ tree: TreeNode, indent: String) -> String {
        let inner = indent + "\t"
        switch tree {
        case .scalar(let scalar):
            if scalar.isPlain || scalar.typed != nil {
                switch scalar.value {
                case .null: return "null"
                case .bool(let bool): return bool ? "true" : "false"
                case .int(let value): return String(value)
                case .uint(let value): return String(value)
                case .float(let value) where value.isFinite: return scalar.typed == nil ? scalar.text : LeafBytes.goFloat(value)
                case .time(let text): return quote(text)
                default: break
                }
            }
            return quote(scalar.text)
        case .comment:
            return "null"
        case .mapping(let entries, _):
            let entries = entries.filter { !$0.isComment }
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { inner + quote($0.key) + ": " + json($0.value, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        case .sequence(let items, _):
            let items = items.filter { if case .comment = $0 { false } else { true } }
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
