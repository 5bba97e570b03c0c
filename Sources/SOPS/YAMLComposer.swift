import CYaml
import Foundation

/// Builds `TreeNode` documents from libyaml's event stream, as go-yaml v3 (whose parser is a
/// port of libyaml) hands its nodes to sops.
///
/// libyaml directly rather than Yams's composer, because sops compares what Go compares:
/// - mapping keys are byte strings: `é` (NFC) and `e\u{301}` (NFD) are two keys, where Yams's
///   duplicate check uses Swift's `String ==` (canonical equivalence) and refuses the file;
/// - scalar values keep every byte (NUL included) and their style, and an explicit `!!str` tag
///   makes a plain scalar a string, as go-yaml's resolver does;
/// - a leading BOM is the encoding mark libyaml (like go-yaml's reader) skips, never content.
/// Aliases are expanded as go-yaml's decoder expands them (the same subtree), under its
/// "excessive aliasing" bound (`decode.go` `allowedAliasRatio`), counted without expanding.
struct YAMLComposer {
    private var parser = yaml_parser_t()
    private var anchors: [String: (node: TreeNode, size: Int, aliases: Int)] = [:]
    private var decoded = 0
    private var aliases = 0

    static func documents(_ text: String) throws(TreeError) -> [TreeNode] {
        var bytes = Array(text.utf8)
        // libyaml reads a NUL as the end of input: go-yaml refuses control characters there too.
        if let index = bytes.firstIndex(of: 0) {
            // Lines as libyaml and go-yaml count them (CR LF one break): bytes, never `Character`s.
            var line = 1
            var at = 0
            while at < index {
                let length = YAMLCommentScanner.lineBreakLength(bytes[..<index], at: at)
                line += length > 0 ? 1 : 0
                at += max(length, 1)
            }
            throw TreeError(message: "not valid YAML: control characters are not allowed", line: line)
        }
        bytes.append(0)
        var composer = YAMLComposer()
        yaml_parser_initialize(&composer.parser)
        defer { yaml_parser_delete(&composer.parser) }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(TreeError) -> [TreeNode] in
            yaml_parser_set_input_string(&composer.parser, buffer.baseAddress, buffer.count - 1)
            return try composer.stream()
        }
    }

    /// One parsed event, copied out of libyaml's buffers.
    private struct Event {
        var type: yaml_event_type_t
        var line: Int
        var column: Int
        var value: [UInt8] = []
        var plain = false
        var tag: String?
        var anchor: String?
    }

    private mutating func next() throws(TreeError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else {
            let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
            let context = parser.context.map { String(cString: $0) }
            throw TreeError(message: "not valid YAML: " + [context, problem].compactMap { $0 }.joined(separator: ": "), line: Int(parser.problem_mark.line) + 1)
        }
        defer { yaml_event_delete(&event) }
        var result = Event(type: event.type, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))), as: UTF8.self) }
        }
        switch event.type {
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            result.value = Array(UnsafeBufferPointer(start: scalar.value, count: scalar.length))
            result.plain = scalar.style == YAML_PLAIN_SCALAR_STYLE
            result.tag = string(scalar.tag)
            result.anchor = string(scalar.anchor)
        case YAML_SEQUENCE_START_EVENT:
            result.tag = string(event.data.sequence_start.tag)
            result.anchor = string(event.data.sequence_start.anchor)
        case YAML_MAPPING_START_EVENT:
            result.tag = string(event.data.mapping_start.tag)
            result.anchor = string(event.data.mapping_start.anchor)
        case YAML_ALIAS_EVENT:
            result.anchor = string(event.data.alias.anchor)
        default: break
        }
        return result
    }

    private mutating func stream() throws(TreeError) -> [TreeNode] {
        var documents: [TreeNode] = []
        while true {
            let event = try next()
            switch event.type {
            case YAML_STREAM_END_EVENT: return documents
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]
                let root = try node(try next(), depth: 0)
                guard try next().type == YAML_DOCUMENT_END_EVENT else { throw TreeError(message: "not valid YAML: a document has more than one root", line: event.line) }
                documents.append(root.node)
            default: continue
            }
        }
    }

    /// A node and how many nodes go-yaml would decode for it (aliases counted expanded).
    private mutating func node(_ event: Event, depth: Int) throws(TreeError) -> (node: TreeNode, size: Int, aliases: Int) {
        guard depth < TreeReader.maximumDepth else {
            throw TreeError(message: "nesting deeper than \(TreeReader.maximumDepth) levels", line: event.line)
        }
        let position = TreeNode.Position(line: event.line, column: event.column)
        var result: (node: TreeNode, size: Int, aliases: Int)
        switch event.type {
        case YAML_SCALAR_EVENT:
            // go-yaml's resolver: a plain scalar without a tag (or with `!`) is resolved; `!!str`
            // or any quoted/block style is a string. Other explicit tags are resolved from the
            // text as a plain scalar would be.
            let isString = event.tag == "tag:yaml.org,2002:str" || event.tag == "!"
            let plain = !isString && (event.plain || (event.tag != nil && event.tag != "?"))
            let text = String(decoding: event.value, as: UTF8.self)
            result = (.scalar(.init(text, isPlain: plain, position: position)), 1, 0)
            decoded += 1
        case YAML_SEQUENCE_START_EVENT:
            var items: [TreeNode] = []
            var size = 1, inner = 0
            decoded += 1
            while true {
                let item = try next()
                if item.type == YAML_SEQUENCE_END_EVENT { break }
                let child = try node(item, depth: depth + 1)
                items.append(child.node)
                size += child.size
                inner += child.aliases
            }
            result = (.sequence(items, position), size, inner)
        case YAML_MAPPING_START_EVENT:
            var entries: [TreeNode.Entry] = []
            var seen: [[UInt8]: Int] = [:]
            var size = 1, inner = 0
            decoded += 1
            while true {
                let keyEvent = try next()
                if keyEvent.type == YAML_MAPPING_END_EVENT { break }
                let key = try node(keyEvent, depth: depth + 1)
                guard case .scalar(let keyScalar) = key.node else {
                    throw TreeError(message: "a mapping key is not a string", line: keyEvent.line)
                }
                // Keys are compared as bytes, as Go compares map keys (go-yaml v3 `decode.go`
                // refuses a key defined twice, with the line of the first).
                let bytes = Array(keyScalar.text.utf8)
                if let first = seen[bytes] {
                    throw TreeError(message: "mapping key \"\(keyScalar.text.prefix(80))\" already defined at line \(first) (go-yaml v3 refuses a duplicate key)", line: keyEvent.line)
                }
                seen[bytes] = keyEvent.line
                let value = try node(try next(), depth: depth + 1)
                entries.append(.init(key: keyScalar.text, value: value.node, position: TreeNode.Position(line: keyEvent.line, column: keyEvent.column)))
                size += key.size + value.size
                inner += key.aliases + value.aliases
            }
            result = (.mapping(entries, position), size, inner)
        case YAML_ALIAS_EVENT:
            guard let name = event.anchor, let anchored = anchors[name] else {
                throw TreeError(message: "an alias to an unknown anchor '\(event.anchor ?? "")'", line: event.line)
            }
            // go-yaml decodes the anchored node again for every alias: count it so, and stop at
            // its bound before the expansion grows (the subtree itself is shared, not copied).
            decoded += anchored.size
            aliases += 1 + anchored.aliases
            if aliases > 100, decoded > 1000, Double(aliases) / Double(decoded) > Self.allowedAliasRatio(decoded) {
                throw TreeError(message: "the document contains excessive aliasing (YAML anchors and aliases are not supported beyond go-yaml's bound)", line: event.line)
            }
            return (anchored.node, anchored.size, 1 + anchored.aliases)
        default:
            throw TreeError(message: "not valid YAML: unexpected event", line: event.line)
        }
        if let anchor = event.anchor { anchors[anchor] = result }
        return result
    }

    /// go-yaml v3 `decode.go` `allowedAliasRatio`: 0.99 up to 400,000 decoded nodes, falling
    /// linearly to 0.1 at 4 million.
    static func allowedAliasRatio(_ decoded: Int) -> Double {
        if decoded <= 400_000 { return 0.99 }
        if decoded >= 4_000_000 { return 0.10 }
        return 0.99 - 0.89 * Double(decoded - 400_000) / 3_600_000
    }
}
