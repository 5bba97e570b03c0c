import Foundation

/// sops's JSON store (getsops/sops stores/json), which reads with Go's encoding/json
/// `Decoder.Token` and writes with `json.Marshal` per value, re-indented by `json.Indent` with a
/// tab. Followed here, on bytes:
///
/// - reading: the first token must open an object; keys and values are read token by token, so
///   duplicate keys are kept in order and anything after the top-level object is never read
///   (sops encrypts `{"a":1} junk` as `{"a":1}`). The decoder is not told `UseNumber`, so every
///   number is a Go float64 (`strconv.ParseFloat`): `1` and `1.0` are the same value, integers
///   beyond 2^53 are rounded, `-0` stays negative zero, and a number out of float64's range
///   (`1E400`) is an error ("cannot unmarshal number … into Go value of type float64"). Such
///   numbers are encrypted as `type:float` and hashed into the MAC as `FormatFloat(f, 'f', -1,
///   64)` (sops's `ToBytes`), which `GoValue.float` already does.
/// - strings are unquoted as Go unquotes them: invalid UTF-8 becomes U+FFFD byte by byte, a
///   surrogate escape without its pair becomes U+FFFD, a raw control character is an error.
/// - writing: `json.Marshal` (HTML characters `<`, `>`, `&` and U+2028/U+2029 escaped as `\u…`,
///   `\b`, `\f`, `\n`, `\r`, `\t` short, other control characters `\u00xx`; floats in 'f' form,
///   or 'e' form below 1e-6 and from 1e21 on with the exponent's leading zero dropped), then
///   `json.Indent(…, "", "\t")` (`{}` and `[]` stay closed on one line), then a newline.
public enum JSONStore {
    /// Why bytes are not JSON as Go's decoder reads them.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var line: Int
        public var description: String { "line \(line): \(message)" }
    }

    // MARK: Reading

    /// Reads a plaintext JSON file as sops's `LoadPlainFile` does: one document, a mapping.
    public static func read(_ bytes: [UInt8]) throws(Failure) -> TreeNode {
        var reader = Reader(bytes: bytes)
        return try reader.topLevelObject()
    }

    /// Reads an encrypted JSON file (a binary file's wrapper too) into a SOPS file: the metadata
    /// from the top-level `sops` object, the rest as the document. sops first unmarshals the
    /// whole input (`json.Unmarshal` into its metadata holder), so unlike a plaintext file,
    /// anything after the top-level object is an error.
    public static func sopsFile(_ bytes: [UInt8]) throws(DecryptionError) -> SOPSFile {
        var reader = Reader(bytes: bytes)
        let tree: TreeNode
        do {
            // sops reads an encrypted file with json.Unmarshal, which reports a syntax error
            // anywhere in the document before the top level's type: an ini file's `[s]` is
            // "invalid character 's' looking for beginning of value", not a JSON array.
            var probe = reader
            probe.skipSpace()
            if probe.index < bytes.count, bytes[probe.index] == UInt8(ascii: "[") {
                _ = try probe.value(depth: 0)
                try probe.expectEnd()
            }
            tree = try reader.topLevelObject()
            try reader.expectEnd()
        } catch {
            throw .malformedMetadata("not JSON as sops reads it (Go's encoding/json): \(error.message)", line: error.line)
        }
        guard case .mapping(let entries, let position) = tree else { throw .notSOPS("the file is not a JSON object") }
        guard let sops = entries.last(where: { $0.key == "sops" }) else { throw .notSOPS("there is no sops metadata") }
        let metadata: Metadata
        do {
            metadata = try Metadata(sops.value, line: sops.position?.line)
        } catch {
            throw .malformedMetadata(error.message, line: error.line ?? sops.position?.line)
        }
        return SOPSFile(format: .json, documents: [SOPSDocument(tree: .mapping(entries.filter { $0.key != "sops" }, position), metadata: metadata)])
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0
        var line = 1

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0D: index += 1
                case 0x0A: index += 1; line += 1
                default: return
                }
            }
        }

        func describe(_ byte: UInt8) -> String {
            switch byte {
            case 0x27: "'\\''"
            case 0x22: "'\"'"
            case 0x20...0x7E: "'\(Character(UnicodeScalar(byte)))'"
            default: String(format: "byte 0x%02x", byte)
            }
        }

        func fail(_ message: String) -> Failure { Failure(message: message, line: line) }

        func unexpected(_ context: String) -> Failure {
            index < bytes.count ? fail("invalid character \(describe(bytes[index])) \(context)") : fail("unexpected end of JSON input")
        }

        mutating func topLevelObject() throws(Failure) -> TreeNode {
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of JSON input (sops needs a top-level object)") }
            guard bytes[index] == UInt8(ascii: "{") else {
                if bytes[index] == UInt8(ascii: "[") {
                    throw fail("the top level is an array: sops only encrypts JSON files whose top level is an object (`Expected JSON object start, got delimiter [ instead`); wrap it, e.g. {\"data\": [...]}")
                }
                // Go's scanner: what it says for a value that cannot start here, or for a scalar.
                if let value = try? scalarStart(), value { throw fail("the top level is not an object: sops only encrypts JSON files whose top level is an object") }
                throw unexpected("looking for beginning of value")
            }
            return try value(depth: 0)
        }

        /// Whether the next byte starts a JSON scalar.
        func scalarStart() throws(Failure) -> Bool {
            let byte = bytes[index]
            return byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte) || byte == UInt8(ascii: "t") || byte == UInt8(ascii: "f")
                || byte == UInt8(ascii: "n")
        }

        mutating func expectEnd() throws(Failure) {
            skipSpace()
            if index < bytes.count { throw unexpected("after top-level value") }
        }

        mutating func value(depth: Int) throws(Failure) -> TreeNode {
            guard depth < TreeReader.maximumDepth else { throw fail("nesting deeper than \(TreeReader.maximumDepth) levels") }
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of JSON input") }
            let position = TreeNode.Position(line: line, column: 1)
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var entries: [TreeNode.Entry] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .mapping([], position)
                }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw unexpected("looking for beginning of object key string") }
                    let keyPosition = TreeNode.Position(line: line, column: 1)
                    let key = try string()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw unexpected("after object key") }
                    index += 1
                    let child = try value(depth: depth + 1)
                    entries.append(TreeNode.Entry(key: key, value: child, position: keyPosition))
                    skipSpace()
                    guard index < bytes.count else { throw fail("unexpected end of JSON input") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return .mapping(entries, position) }
                    throw unexpected("after object key:value pair")
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [TreeNode] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .sequence([], position)
                }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw fail("unexpected end of JSON input") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .sequence(items, position) }
                    throw unexpected("after array element")
                }
            case UInt8(ascii: "\""):
                let text = try string()
                return .scalar(TreeNode.Scalar(text, isPlain: false, position: position, typed: .string(text)))
            case UInt8(ascii: "t"):
                try literal("true")
                return .scalar(TreeNode.Scalar("true", isPlain: false, position: position, typed: .bool(true)))
            case UInt8(ascii: "f"):
                try literal("false")
                return .scalar(TreeNode.Scalar("false", isPlain: false, position: position, typed: .bool(false)))
            case UInt8(ascii: "n"):
                try literal("null")
                return .scalar(TreeNode.Scalar("null", isPlain: false, position: position, typed: .null))
            case UInt8(ascii: "-"), 0x30...0x39:
                let text = try number()
                // No UseNumber: a float64, as `strconv.ParseFloat(text, 64)` gives it; out of
                // range is Go's UnmarshalTypeError (underflow rounds to zero without one).
                guard let value = Double(text), value.isFinite else {
                    throw fail("cannot unmarshal number \(text) into Go value of type float64 (sops reads every JSON number as a float64; quote it to keep it a string)")
                }
                return .scalar(TreeNode.Scalar(text, isPlain: false, position: position, typed: .float(value)))
            default:
                throw unexpected("looking for beginning of value")
            }
        }

        mutating func literal(_ word: String) throws(Failure) {
            for expected in word.utf8 {
                guard index < bytes.count else { throw fail("unexpected end of JSON input") }
                guard bytes[index] == expected else { throw unexpected("in literal \(word) (expecting '\(Character(UnicodeScalar(expected)))')") }
                index += 1
            }
        }

        /// Go's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
        mutating func number() throws(Failure) -> String {
            let start = index
            func digit(_ i: Int) -> Bool { i < bytes.count && (0x30...0x39).contains(bytes[i]) }
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digit(index) else { throw unexpected("in numeric literal") }
            if bytes[index] == 0x30 { index += 1 } else { while digit(index) { index += 1 } }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digit(index) else { throw unexpected("after decimal point in numeric literal") }
                while digit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard digit(index) else { throw unexpected("in exponent of numeric literal") }
                while digit(index) { index += 1 }
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// A quoted string, unquoted as Go's `unquote` does.
        mutating func string() throws(Failure) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw fail("unexpected end of JSON input (a string is not closed)") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if byte < 0x20 { throw unexpected("in string literal") }
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count else { throw fail("unexpected end of JSON input") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            // A high surrogate takes the next `\uDC00`–`\uDFFF` escape; alone it is U+FFFD.
                            if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                                let saved = index
                                index += 2
                                let low = try hex4()
                                if (0xDC00..<0xE000).contains(low) {
                                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                                } else {
                                    index = saved
                                    scalar = 0xFFFD
                                }
                            } else {
                                scalar = 0xFFFD
                            }
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            scalar = 0xFFFD
                        }
                        out.append(contentsOf: Array(String(UnicodeScalar(scalar) ?? "\u{FFFD}").utf8))
                    default:
                        index -= 1
                        throw unexpected("in string escape code")
                    }
                    continue
                }
                if byte < 0x80 {
                    out.append(byte)
                    index += 1
                    continue
                }
                let width = GoUTF8.validWidth(bytes, at: index)
                if width == 0 {
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    index += 1
                } else {
                    out.append(contentsOf: bytes[index..<(index + width)])
                    index += width
                }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard index < bytes.count else { throw fail("unexpected end of JSON input") }
                guard let digit = Character(UnicodeScalar(bytes[index])).hexDigitValue, bytes[index] < 0x80 else { throw unexpected("in \\u hexadecimal character escape") }
                value = value * 16 + UInt32(digit)
                index += 1
            }
            return value
        }
    }

    // MARK: Writing

    /// `sops -d` of a JSON file, and the body of an encrypted one: each document as sops's
    /// `EmitPlainFile` writes it.
    public static func emit(_ documents: [TreeNode]) -> String {
        documents.map { node($0, indent: "") + "\n" }.joined()
    }

    static func node(_ tree: TreeNode, indent: String) -> String {
        let inner = indent + "\t"
        switch tree {
        case .scalar(let scalar):
            return self.scalar(scalar)
        case .comment:
            return "null"
        case .mapping(let entries, _):
            // Comments are skipped (`encodeTree`): JSON has none.
            let entries = entries.filter { !$0.isComment }
            if entries.isEmpty { return "{}" }
            return "{\n" + entries.map { inner + quote($0.key) + ": " + node($0.value, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        case .sequence(let items, _):
            let items = items.filter { if case .comment = $0 { false } else { true } }
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + node($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        }
    }

    /// `json.Marshal` of the Go value sops holds.
    static func scalar(_ scalar: TreeNode.Scalar) -> String {
        // A scalar read from YAML (`isPlain`), or typed by JSON or by a decrypted value's type.
        guard scalar.isPlain || scalar.typed != nil else { return quote(scalar.text) }
        switch scalar.value {
        case .null: return "null"
        case .bool(let bool): return bool ? "true" : "false"
        case .int(let value): return String(value)
        case .uint(let value): return String(value)
        case .float(let value): return goFloat(value)
        case .time(let text), .string(let text): return quote(text)
        case .binary(let bytes): return quote(bytes)
        }
    }

    /// encoding/json's float64 encoder: 'f' form, or 'e' form when |f| < 1e-6 or ≥ 1e21, with
    /// `e-07` cleaned to `e-7`. (NaN and infinities do not reach here: sops fails on them.)
    static func goFloat(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value < 0 ? "-Inf" : "+Inf") }
        let magnitude = abs(value)
        guard magnitude != 0, magnitude < 1e-6 || magnitude >= 1e21 else { return LeafBytes.goFloat(value) }
        let (digits, point) = LeafBytes.shortestDigits(magnitude)
        var text = (value < 0 ? "-" : "") + String(digits.first!)
        if digits.count > 1 { text += "." + digits.dropFirst() }
        let exponent = point - 1
        let size = abs(exponent)
        return text + "e" + (exponent < 0 ? "-" : "+") + (size < 10 && exponent >= 0 ? "0" : "") + String(size)
    }

    /// A string as `json.Marshal` quotes it (HTML escaping on).
    static func quote(_ text: String) -> String {
        "\"" + escaped(text) + "\""
    }

    /// A Go string of any bytes as `json.Marshal` quotes it (`encodeState.string`): each byte
    /// that does not start a valid UTF-8 sequence (`utf8.DecodeRuneInString` gives `RuneError`
    /// of width 1) is written `\ufffd`, one per byte; the valid runs as `quote` writes text.
    static func quote(_ bytes: [UInt8]) -> String {
        var out = "\""
        var index = 0, runStart = 0
        while index < bytes.count {
            if bytes[index] < 0x80 {
                index += 1
                continue
            }
            let width = GoUTF8.validWidth(bytes, at: index)
            if width > 0 {
                index += width
                continue
            }
            out += escaped(String(decoding: bytes[runStart..<index], as: UTF8.self)) + "\\ufffd"
            index += 1
            runStart = index
        }
        return out + escaped(String(decoding: bytes[runStart...], as: UTF8.self)) + "\""
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
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
        return out
    }
}

/// Go's `utf8.DecodeRune` acceptance: the width of the valid UTF-8 sequence at `index`, or 0
/// where Go reports `RuneError` of width 1 (an invalid or truncated sequence, a surrogate, an
/// overlong form): Go replaces such bytes one by one, where Swift's decoder would replace a
/// truncated sequence as a whole.
enum GoUTF8 {
    static func validWidth(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let width: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch first {
        case 0xC2...0xDF: width = 2
        case 0xE0: width = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: width = 3
        case 0xED: width = 3; high = 0x9F
        case 0xF0: width = 4; low = 0x90
        case 0xF1...0xF3: width = 4
        case 0xF4: width = 4; high = 0x8F
        default: return 0
        }
        guard index + width <= bytes.count else { return 0 }
        guard (low...high).contains(bytes[index + 1]) else { return 0 }
        for offset in 2..<max(width, 2) where !(0x80...0xBF).contains(bytes[index + offset]) { return 0 }
        return width
    }
}

extension SOPSFile {
    /// A file from documents already read (the JSON store).
    init(format: Format, documents: [SOPSDocument]) {
        self.format = format
        self.documents = documents
    }
}
