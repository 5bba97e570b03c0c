import Foundation

/// Writes SOPS trees as `sops -d` and `sops -e` write YAML: go-yaml v3's encoder with
/// `SetIndent(4)` (getsops/sops `stores/yaml/store.go`, `EmitPlainFile`/`EmitEncryptedFile`),
/// over nodes that sops builds afresh, so every collection is in block style (empty ones `{}` and
/// `[]`) and every comment is a head comment of the next node or a foot comment of the last.
///
/// Own code rather than Yams: libyaml (under Yams) neither writes comments nor indents
/// sequences as go-yaml v3 does. What is followed, from go-yaml v3 `emitterc.go`:
/// `yaml_emitter_analyze_scalar` (which styles a string may take), `select_scalar_style`,
/// the double-quoted escapes (`write_double_quoted_scalar`, including its `is_bom` test, which
/// looks at the start of the value, not at the current character), block scalar hints, and the
/// layout of go-yaml's compact sequences: a sequence's dashes 4 columns in from its mapping, a
/// mapping that is a sequence item starting after `- ` with its children 4 columns in from the
/// dash. Long lines are not folded (go-yaml v3 sets no width).
public enum YAMLEmitter {
    static let indentStep = 4

    public static func emit(_ documents: [TreeNode]) -> String {
        var out = ""
        for (index, document) in documents.enumerated() {
            if index > 0 { out += "---\n" }
            var writer = Writer()
            switch document {
            case .mapping(let entries, _):
                if entries.allSatisfy(\.isComment) && !entries.isEmpty {
                    for entry in entries { if case .comment(let text) = entry.value { writer.line(0, "#" + text) } }
                    writer.line(0, "{}")
                } else if entries.isEmpty {
                    writer.line(0, "{}")
                } else {
                    writer.mapping(entries, indent: 0, keyColumn: 0, inline: false)
                }
            default:
                writer.value(document, indent: 0, afterKey: false)
            }
            out += writer.out
        }
        return out
    }

    /// A collection that sops gives a head comment: one that starts with comments.
    static func hasHeadComment(_ node: TreeNode) -> Bool {
        switch node {
        case .mapping(let entries, _): entries.first?.isComment ?? false
        case .sequence(let items, _): items.first.map { if case .comment = $0 { true } else { false } } ?? false
        default: false
        }
    }

    struct Writer {
        var out = ""
        /// Whether the current line has content (a key or dash waiting for its value).
        var lineOpen = false

        mutating func line(_ column: Int, _ text: String) {
            if lineOpen && out.hasSuffix("- ") {
                // Right after a dash, go-yaml's `write_indent` is already at the indentation
                // (`- - x` whose inner item has a head comment prints `- # c`).
                out += text + "\n"
                lineOpen = false
                return
            }
            if lineOpen { out += "\n"; lineOpen = false }
            out += String(repeating: " ", count: column) + text + "\n"
        }

        mutating func start(_ column: Int, _ text: String) {
            if lineOpen { out += "\n" }
            out += String(repeating: " ", count: column) + text
            lineOpen = true
        }

        mutating func finish(_ text: String) {
            out += text + "\n"
            lineOpen = false
        }

        /// The head comment of an empty flow sequence (`[]`, a sequence of comments only):
        /// go-yaml's emitter never writes it with the `[]`; it stays pending
        /// (`yaml_emitter_analyze_event` keeps the last non-empty head comment) until the next
        /// `yaml_emitter_process_head_comment`: before the next key of the mapping, unless that
        /// key has a head comment of its own (which replaces it), or at the mapping's end, after
        /// the last key's foot (then a blank line apart, `write_indent`'s `foot_indent`).
        var pendingHead: [String] = []

        /// A mapping whose children are indented from `indent`, keys at `keyColumn`; `inline`:
        /// the first key goes on the open line (after `- `).
        mutating func mapping(_ entries: [TreeNode.Entry], indent: Int, keyColumn: Int, inline: Bool) {
            var first = inline
            var headComments = 0
            for entry in entries {
                if case .comment(let text) = entry.value {
                    // A comment before the first key of an inline mapping goes above the dash.
                    headComments += 1
                    line(first ? max(keyColumn - 2, 0) : keyColumn, "#" + text)
                    continue
                }
                if headComments == 0 {
                    for text in pendingHead { line(keyColumn, "#" + text) }
                }
                pendingHead = []
                headComments = 0
                if YAMLScalarWriter.isComplexKey(entry.key) {
                    complexEntry(entry, keyColumn: keyColumn, inline: first)
                    first = false
                    continue
                }
                let key = YAMLScalarWriter.key(entry.key)
                if first {
                    out += key + ":"
                    lineOpen = true
                    first = false
                } else {
                    start(keyColumn, key + ":")
                }
                value(entry.value, indent: (keyColumn / indentStep) * indentStep, afterKey: true)
            }
            if !pendingHead.isEmpty {
                // At the mapping's end: after the last key's foot comments, a blank line apart.
                if headComments > 0 { out += "\n" }
                for text in pendingHead { line(keyColumn, "#" + text) }
                pendingHead = []
            }
        }

        /// A key go-yaml cannot write as a simple key (`emitterc.go` `yaml_emitter_check_simple_key`:
        /// one with a line break, or longer than 128 bytes): `? key` with the key written as a
        /// value, then `:` at the key's column and the value, a block collection starting on that
        /// line at the value's indentation (`:   x: 1`, `:   - a`), as sops 3.11 prints
        /// `"k\u2028ey": {x: 1}`; a collection that starts with comments as `headComment` writes it.
        mutating func complexEntry(_ entry: TreeNode.Entry, keyColumn: Int, inline: Bool) {
            let base = (keyColumn / YAMLEmitter.indentStep) * YAMLEmitter.indentStep
            let written = YAMLScalarWriter.value(TreeNode.Scalar(entry.key, typed: .string(entry.key)), blockIndent: base + YAMLEmitter.indentStep)
            if inline { out += "? " + written } else { start(keyColumn, "? " + written) }
            if !written.hasSuffix("\n") { out += "\n" }
            out += String(repeating: " ", count: keyColumn) + ":"
            lineOpen = true
            // The collection starts at the emitter's indentation for the value (the mapping's
            // indentation plus 4: `:   x` at the top, `: x` for keys at column 6 in a sequence item).
            let column = base + YAMLEmitter.indentStep
            let inner = String(repeating: " ", count: max(column - keyColumn - 1, 1))
            switch entry.value {
            case .mapping(let entries, _) where entries.contains(where: { !$0.isComment }):
                let start = headComment(entries.prefix(while: \.isComment).map(\.value), column: column, inner: inner)
                mapping(Array(entries[start...]), indent: column, keyColumn: column, inline: true)
            case .sequence(let items, let position) where items.contains(where: { if case .comment = $0 { false } else { true } }):
                let start = headComment(Array(items.prefix { if case .comment = $0 { true } else { false } }), column: column, inner: inner)
                value(.sequence(Array(items[start...]), position), indent: column - 2, afterKey: false)
            default:
                value(entry.value, indent: base, afterKey: true)
            }
        }

        /// The comments a `? key`'s collection value starts with (its first key's, or the
        /// sequence's, head comment): go-yaml's `yaml_emitter_process_head_comment` pads from the
        /// `:` to the value's indentation (`write_indent`) and writes the first line there, the
        /// others below it at that column; the collection then starts on the next line at that
        /// column. Without comments the collection starts on the `:` line. Leaves the line open
        /// at the collection's column; returns how many leading comments were written.
        mutating func headComment(_ comments: [TreeNode], column: Int, inner: String) -> Int {
            let texts = comments.compactMap { if case .comment(let text) = $0 { text } else { nil } }
            guard let first = texts.first else {
                out += inner
                return 0
            }
            out += inner + "#" + first + "\n"
            lineOpen = false
            for text in texts.dropFirst() { line(column, "#" + text) }
            out += String(repeating: " ", count: column)
            lineOpen = true
            return texts.count
        }

        /// A value after `key:` (afterKey) or after `- `; `indent` is the parent's indent.
        mutating func value(_ node: TreeNode, indent: Int, afterKey: Bool) {
            switch node {
            case .comment(let text):
                finish(" #" + text)
            case .scalar(let scalar):
                let written = YAMLScalarWriter.value(scalar, blockIndent: afterKey ? indent + indentStep : indent + 2)
                let text = (afterKey ? " " : "") + written
                if text.hasSuffix("\n") {
                    out += text
                    lineOpen = false
                } else {
                    finish(text)
                }
            case .mapping(let entries, _):
                if afterKey && !entries.isEmpty && entries.allSatisfy(\.isComment) {
                    // go-yaml's flow mapping end (`yaml_emitter_emit_flow_mapping_key`) writes
                    // the mapping's head comment inside the braces, then `}` at the line start.
                    finish(" {")
                    for entry in entries { if case .comment(let text) = entry.value { line(indent + indentStep, "#" + text) } }
                    line(0, "}")
                    return
                }
                if entries.isEmpty || entries.allSatisfy(\.isComment) {
                    finish(afterKey ? " {}" : "{}")
                    return
                }
                if afterKey {
                    finish("")
                    mapping(entries, indent: indent + indentStep, keyColumn: indent + indentStep, inline: false)
                } else {
                    // A sequence item: keys after the dash, children 4 in from the dash.
                    mapping(entries, indent: indent, keyColumn: indent + 2, inline: true)
                }
            case .sequence(let items, _):
                if items.isEmpty || items.allSatisfy({ if case .comment = $0 { true } else { false } }) {
                    finish(afterKey ? " []" : "[]")
                    if afterKey { pendingHead = items.compactMap { if case .comment(let text) = $0 { text } else { nil } } }
                    return
                }
                let dash = afterKey ? indent + indentStep : indent + 2
                var first = !afterKey
                if afterKey { finish("") }
                var items = items
                if let firstItem = items.firstIndex(where: { if case .comment = $0 { false } else { true } }), firstItem > 0, YAMLEmitter.hasHeadComment(items[firstItem]) {
                    // The sequence's head comment (sops gives it the comments before the first
                    // item) is still pending when the first item's own head comment arrives, and
                    // go-yaml's emitter keeps only the last one (`yaml_emitter_analyze_event`):
                    // `sops -d` drops it.
                    items.removeFirst(firstItem)
                }
                for item in items {
                    if case .comment(let text) = item {
                        line(dash, "#" + text)
                        continue
                    }
                    // A collection item's leading comments are its head comment (sops's
                    // `appendTreeBranch`/`appendSequence` give comments before the first entry to
                    // the mapping or sequence node), which go-yaml's emitter writes above the
                    // dash: `- k: v # c` and `- - a # c` come back so.
                    var item = item
                    if case .mapping(let entries, let position) = item, let firstKey = entries.firstIndex(where: { !$0.isComment }), firstKey > 0 {
                        for entry in entries[..<firstKey] {
                            if case .comment(let text) = entry.value { line(dash, "#" + text) }
                        }
                        first = false
                        item = .mapping(Array(entries[firstKey...]), position)
                    }
                    if case .sequence(let elements, let position) = item, let firstValue = elements.firstIndex(where: { if case .comment = $0 { false } else { true } }), firstValue > 0 {
                        for element in elements[..<firstValue] {
                            if case .comment(let text) = element { line(dash, "#" + text) }
                        }
                        first = false
                        item = .sequence(Array(elements[firstValue...]), position)
                    }
                    if first {
                        out += "- "
                        first = false
                    } else {
                        start(dash, "- ")
                    }
                    lineOpen = true
                    value(item, indent: dash, afterKey: false)
                }
            }
        }
    }
}

/// One scalar as go-yaml v3 writes it (`encode.go` for the style it asks for, `emitterc.go` for
/// what the emitter then allows).
enum YAMLScalarWriter {
    enum Style { case plain, single, double, literal }

    /// Whether go-yaml's emitter writes this key as `? key` (`yaml_emitter_check_simple_key`:
    /// the key spans lines, or its value and tag exceed 128 bytes).
    static func isComplexKey(_ text: String) -> Bool {
        text.utf8.count > 128 || text.unicodeScalars.contains(where: isBreak)
    }

    static func key(_ text: String) -> String {
        render(text, requested: requestedStyle(text), simpleKey: true, blockIndent: 0)
    }

    static func value(_ scalar: TreeNode.Scalar, blockIndent: Int) -> String {
        switch scalar.value {
        case .string(let text): render(text, requested: requestedStyle(text), simpleKey: false, blockIndent: blockIndent)
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .float(let value): LeafBytes.goFloatG(value)
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        case .time(let text): text
        case .binary(let bytes): binary(bytes, blockIndent: blockIndent)
        }
    }

    /// A Go string that is not UTF-8, as go-yaml v3's encoder writes it (`encode.go` `stringv`:
    /// "It can't be encoded directly as YAML so use a binary tag and encode it as base64"):
    /// `!!binary` and the standard base64 (`encodeBase64`), which is cut into lines of 70
    /// characters, each ending with a line break, once it is 70 characters or longer; a
    /// multi-line value is a literal block (`|`), a shorter one plain.
    static func binary(_ bytes: [UInt8], blockIndent: Int) -> String {
        let encoded = Data(bytes).base64EncodedString()
        guard encoded.utf8.count >= 70 else { return "!!binary " + encoded }
        var lines = ""
        var rest = Substring(encoded)
        while !rest.isEmpty {
            lines += rest.prefix(70) + "\n"
            rest = rest.dropFirst(70)
        }
        return "!!binary " + literal(lines, indent: blockIndent)
    }

    /// `encode.go` `stringv`: literal for multi-line text, double quotes for text that would
    /// read as another type, else plain.
    static func requestedStyle(_ text: String) -> Style {
        if text.utf8.contains(UInt8(ascii: "\n")) { return .literal }
        return GoValue.needsQuotes(text) ? .double : .plain
    }

    struct Analysis {
        var multiline = false, blockPlainAllowed = true, singleQuotedAllowed = true, blockAllowed = true
    }

    static func isBreak(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" || s.value == 0x85 || s.value == 0x2028 || s.value == 0x2029 }
    static func isBlankOrEnd(_ s: Unicode.Scalar?) -> Bool { s == nil || s == " " || s == "\t" || isBreak(s!) || s == "\0" }

    /// go-yaml's `is_printable`: note that it leaves out everything beyond the BMP.
    static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v == 0x0A || (0x20...0x7E).contains(v) { return true }
        if (0xA0...0xD7FF).contains(v) { return true }
        if (0xE000...0xFFFD).contains(v) { return v != 0xFEFF }
        return false
    }

    static func analyze(_ text: String) -> Analysis {
        var a = Analysis()
        let scalars = Array(text.unicodeScalars)
        if scalars.isEmpty {
            a.blockPlainAllowed = true; a.singleQuotedAllowed = true; a.blockAllowed = false
            return a
        }
        var blockIndicators = false, lineBreaks = false, special = false, tabs = false
        var leadingSpace = false, leadingBreak = false, trailingSpace = false, trailingBreak = false, breakSpace = false, spaceBreak = false
        var previousSpace = false, previousBreak = false
        if text.hasPrefix("---") || text.hasPrefix("...") { blockIndicators = true }
        var precededByWhitespace = true
        for (i, c) in scalars.enumerated() {
            let next: Unicode.Scalar? = i + 1 < scalars.count ? scalars[i + 1] : nil
            let followedByWhitespace = next == nil || next == " " || next == "\t"
            if i == 0 {
                switch c {
                case "#", ",", "[", "]", "{", "}", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`": blockIndicators = true
                case "?", ":": if followedByWhitespace { blockIndicators = true }
                case "-": if followedByWhitespace { blockIndicators = true }
                default: break
                }
            } else {
                switch c {
                case ":": if followedByWhitespace { blockIndicators = true }
                case "#": if precededByWhitespace { blockIndicators = true }
                default: break
                }
            }
            if c == "\t" { tabs = true } else if !isPrintable(c) { special = true }
            if c == " " {
                if i == 0 { leadingSpace = true }
                if i == scalars.count - 1 { trailingSpace = true }
                if previousBreak { breakSpace = true }
                previousSpace = true; previousBreak = false
            } else if isBreak(c) {
                lineBreaks = true
                if i == 0 { leadingBreak = true }
                if i == scalars.count - 1 { trailingBreak = true }
                if previousSpace { spaceBreak = true }
                previousSpace = false; previousBreak = true
            } else {
                previousSpace = false; previousBreak = false
            }
            precededByWhitespace = isBlankOrEnd(c)
        }
        a.multiline = lineBreaks
        if leadingSpace || leadingBreak || trailingSpace || trailingBreak { a.blockPlainAllowed = false }
        if trailingSpace { a.blockAllowed = false }
        if breakSpace { a.blockPlainAllowed = false; a.singleQuotedAllowed = false }
        if spaceBreak || tabs || special { a.blockPlainAllowed = false; a.singleQuotedAllowed = false }
        if spaceBreak || special { a.blockAllowed = false }
        if lineBreaks { a.blockPlainAllowed = false }
        if blockIndicators { a.blockPlainAllowed = false }
        return a
    }

    static func render(_ text: String, requested: Style, simpleKey: Bool, blockIndent: Int) -> String {
        let a = analyze(text)
        var style = requested
        if simpleKey && a.multiline { style = .double }
        if style == .plain {
            if !a.blockPlainAllowed { style = .single }
            if text.isEmpty && simpleKey { style = .single }
        }
        if style == .single && !a.singleQuotedAllowed { style = .double }
        if style == .literal && (!a.blockAllowed || simpleKey) { style = .double }
        switch style {
        case .plain:
            // sops builds each node with `Node.Encode`, which writes the value and parses it back:
            // a plain `<<` comes back with go-yaml's merge tag, which `resolve("", "<<")` (a
            // string) does not imply, so the encoder keeps it: sops prints `!!merge <<`, as a
            // value and as a key (`"<<"` in the input included).
            return text == "<<" ? "!!merge <<" : text
        case .single:
            // `write_single_quoted`: a line break (U+2028 or U+2029 here; the others make the text
            // double-quoted) is written as it is and the next character goes to the scalar's
            // indentation (`yaml_emitter_write_indent`), which a reader then skips.
            var out = "'"
            var afterBreak = false
            for c in text.unicodeScalars {
                if isBreak(c) {
                    out.unicodeScalars.append(c)
                    afterBreak = true
                    continue
                }
                if afterBreak { out += String(repeating: " ", count: blockIndent); afterBreak = false }
                if c == "'" { out += "'" }
                out.unicodeScalars.append(c)
            }
            return out + "'"
        case .double: return doubleQuoted(text)
        case .literal: return literal(text, indent: blockIndent)
        }
    }

    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        let startsWithBOM = text.unicodeScalars.first?.value == 0xFEFF
        for c in text.unicodeScalars {
            guard !isPrintable(c) || startsWithBOM || isBreak(c) || c == "\"" || c == "\\" else {
                out.unicodeScalars.append(c)
                continue
            }
            out += "\\"
            switch c.value {
            case 0x00: out += "0"
            case 0x07: out += "a"
            case 0x08: out += "b"
            case 0x09: out += "t"
            case 0x0A: out += "n"
            case 0x0B: out += "v"
            case 0x0C: out += "f"
            case 0x0D: out += "r"
            case 0x1B: out += "e"
            case 0x22: out += "\""
            case 0x5C: out += "\\"
            case 0x85: out += "N"
            case 0xA0: out += "_"
            case 0x2028: out += "L"
            case 0x2029: out += "P"
            default:
                let (prefix, width) = c.value <= 0xFF ? ("x", 2) : c.value <= 0xFFFF ? ("u", 4) : ("U", 8)
                let hex = String(c.value, radix: 16, uppercase: true)
                out += prefix + String(repeating: "0", count: width - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// `|` with go-yaml's hints: an indentation indicator when the text starts with a space or a
    /// break, `-` without a final break, `+` with more than one (or only a break).
    static func literal(_ text: String, indent: Int) -> String {
        var header = "|"
        let scalars = Array(text.unicodeScalars)
        if let first = scalars.first, first == " " || isBreak(first) { header += String(YAMLEmitter.indentStep) }
        if let last = scalars.last {
            if !isBreak(last) {
                header += "-"
            } else if scalars.count == 1 || isBreak(scalars[scalars.count - 2]) {
                header += "+"
            }
        } else {
            header += "-"
        }
        // The header's line break, then each line indented; empty lines stay empty. When the
        // text ends with a break the result ends with it (the caller adds no other).
        var out = header + "\n"
        let pad = String(repeating: " ", count: indent)
        var breaks = true
        for c in scalars {
            if isBreak(c) {
                out.unicodeScalars.append(c)
                breaks = true
            } else {
                if breaks { out += pad; breaks = false }
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
