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
    private var mode: TreeReader.Mode = .decrypt
    /// The first tag go-yaml fails on in the checked part of the first document (its `failf`
    /// stops the decode there) and the first repeated key (collected, reported at the end).
    private var tagError: TreeError?
    private var duplicateError: TreeError?

    /// How much of a node sops's first-document decode checks (`TreeReader.Mode`).
    enum Checked { case all, keysOnly, none }

    static func documents(_ text: String, mode: TreeReader.Mode = .decrypt) throws(TreeError) -> [TreeNode] {
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
        composer.mode = mode
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
        /// `%YAML` directive of a document start.
        var version: (major: Int, minor: Int)?
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
        case YAML_DOCUMENT_START_EVENT:
            if let directive = event.data.document_start.version_directive {
                result.version = (Int(directive.pointee.major), Int(directive.pointee.minor))
            }
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
                // libyaml accepts `%YAML 1.2`; go-yaml's parser (`parserc.go`
                // `yaml_parser_process_directives`) only 1.1, and sops fails with its message.
                if let version = event.version, version != (1, 1) {
                    throw TreeError(message: "not valid YAML: found incompatible YAML document (go-yaml, and so sops, reads only `%YAML 1.1`; remove the directive)", line: event.line)
                }
                anchors = [:]
                let checked: Checked = documents.isEmpty ? (mode == .encrypt ? .all : .keysOnly) : .none
                let rootEvent = try next()
                let root = try node(rootEvent, depth: 0, checked: checked)
                guard try next().type == YAML_DOCUMENT_END_EVENT else { throw TreeError(message: "not valid YAML: a document has more than one root", line: event.line) }
                if let tagError { throw tagError }
                if let duplicateError { throw duplicateError }
                if checked == .all {
                    // sops decodes the first document into a map[string]interface{}: a scalar
                    // other than null, or a sequence, is refused there.
                    switch root.node {
                    case .scalar(let scalar) where !scalar.isNull:
                        throw TreeError(message: "the document is a single value, not a mapping; sops encrypts mappings (go-yaml: cannot unmarshal \(Self.tagName(scalar.value)) `\(scalar.text.prefix(40))` into map[string]interface {})", line: rootEvent.line)
                    case .sequence:
                        throw TreeError(message: "the document is a sequence, not a mapping; sops encrypts mappings (go-yaml: cannot unmarshal !!seq into map[string]interface {})", line: rootEvent.line)
                    default: break
                    }
                }
                documents.append(root.node)
            default: continue
            }
        }
    }

    /// A node and how many nodes go-yaml would decode for it (aliases counted expanded).
    static func tagName(_ value: GoValue) -> String {
        switch value {
        case .string, .binary: "!!str"
        case .int, .uint: "!!int"
        case .float: "!!float"
        case .bool: "!!bool"
        case .null: "!!null"
        case .time: "!!timestamp"
        }
    }

    /// A scalar's Go value (`GoValue.resolve`). Where sops's first-document decode checks it, a
    /// failure is go-yaml's error at its line; elsewhere sops's store ignores `node.Decode`'s
    /// error and holds nil.
    private mutating func value(of event: Event, checked: Bool) throws(TreeError) -> GoValue {
        do {
            return try GoValue.resolve(tag: event.tag, text: String(decoding: event.value, as: UTF8.self), plain: event.plain)
        } catch {
            if error.unsupported { throw TreeError(message: error.message, line: event.line) }
            if checked, tagError == nil { tagError = TreeError(message: "go-yaml (and so sops) cannot read this value: \(error.message)", line: event.line) }
            return .null
        }
    }

    private mutating func node(_ event: Event, depth: Int, checked: Checked) throws(TreeError) -> (node: TreeNode, size: Int, aliases: Int) {
        guard depth < TreeReader.maximumDepth else {
            throw TreeError(message: "nesting deeper than \(TreeReader.maximumDepth) levels", line: event.line)
        }
        let position = TreeNode.Position(line: event.line, column: event.column)
        var result: (node: TreeNode, size: Int, aliases: Int)
        switch event.type {
        case YAML_SCALAR_EVENT:
            // go-yaml's decoding into interface{}, tag included (`GoValue.resolve`). An untagged
            // (or `!`) plain scalar keeps its text and is typed from it; a tagged one carries the
            // value its tag gives (`!!float 1` is 1.0, `!!binary aGVsbG8=` is "hello").
            let text = String(decoding: event.value, as: UTF8.self)
            if event.tag == nil || event.tag == "!" {
                result = (.scalar(.init(text, isPlain: event.plain, position: position)), 1, 0)
            } else {
                let value = try value(of: event, checked: checked == .all)
                let shown = if case .string(let string) = value { string } else { text }
                result = (.scalar(.init(shown, isPlain: false, position: position, typed: value)), 1, 0)
            }
            decoded += 1
        case YAML_SEQUENCE_START_EVENT:
            var items: [TreeNode] = []
            var size = 1, inner = 0
            decoded += 1
            while true {
                let item = try next()
                if item.type == YAML_SEQUENCE_END_EVENT { break }
                let child = try node(item, depth: depth + 1, checked: checked == .all ? .all : .none)
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
            let tagErrorBefore = tagError != nil
            var repeated = false
            let keysChecked = checked != .none
            while true {
                let keyEvent = try next()
                if keyEvent.type == YAML_MAPPING_END_EVENT { break }
                let key = try node(keyEvent, depth: depth + 1, checked: keysChecked ? .all : .none)
                guard case .scalar(let keyScalar) = key.node else {
                    // A complex key (`? [a, b]`): go-yaml fails on it in sops's first-document
                    // decode ("invalid map key", "cannot unmarshal !!seq into string"), sops's
                    // walk on it in any later document ("non-string key (type []interface {})").
                    let kind = if case .sequence = key.node { "a sequence" } else { "a mapping" }
                    throw TreeError(message: "a mapping key is \(kind); sops supports only string keys (it refuses this file too)", line: keyEvent.line)
                }
                // Repeated keys are compared as go-yaml compares them: the key's text, as bytes
                // (`decode.go` `mapping`: same kind and `Value`, so `1` and `"1"` repeat, `1` and
                // `0x1` do not). Refused where sops's first-document decode looks, with the line
                // of the first; kept twice elsewhere, as sops's store keeps them.
                if case .binary = keyScalar.value {
                    // Keys are held as text; a key of bytes that are not UTF-8 is refused rather
                    // than changed (sops keeps it and writes it back as a `!!binary` key).
                    throw TreeError(message: "a !!binary key whose bytes are not UTF-8 text is not supported by fluxci (sops keeps such a key); use sops for this file, or a text key", line: keyEvent.line)
                }
                let bytes = keyEvent.type == YAML_SCALAR_EVENT ? keyEvent.value : Array(keyScalar.text.utf8)
                if let first = seen[bytes] {
                    if keysChecked, duplicateError == nil {
                        duplicateError = TreeError(message: "mapping key \"\(String(decoding: bytes, as: UTF8.self).prefix(80))\" already defined at line \(first) (go-yaml v3 refuses a duplicate key)", line: keyEvent.line)
                    }
                    repeated = repeated || keysChecked
                } else {
                    seen[bytes] = keyEvent.line
                }
                let value = try node(try next(), depth: depth + 1, checked: checked == .all ? .all : .none)
                entries.append(.init(key: keyScalar.text, value: value.node, position: TreeNode.Position(line: keyEvent.line, column: keyEvent.column), nonStringKey: keyScalar.value.goTypeName))
                size += key.size + value.size
                inner += key.aliases + value.aliases
            }
            // go-yaml checks a mapping's keys for repeats before it decodes its children, and
            // stops there: a tag error inside a mapping with a repeated key is never reached.
            if repeated, !tagErrorBefore { tagError = nil }
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
