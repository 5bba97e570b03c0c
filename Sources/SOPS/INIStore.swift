import Foundation

/// sops's ini store (getsops/sops stores/ini), which reads and writes through gopkg.in/ini.v1 with
/// its default options. Followed here, on bytes:
///
/// - reading (`ini.Load`): a leading BOM is skipped; lines are trimmed on the left; `#`/`;` lines
///   are comments, gathered until the next section header or key, which they belong to (a header's
///   own trailing `; …` too; comments left at the end are dropped); `[name]` opens a section (the
///   name up to the last `]`, a repeated name reopens it); keys are split at the first `=` or `:`
///   (a key may be quoted with `"`, `"""` or a backtick); a value is trimmed, may be quoted with
///   `"""` or a backtick (and then span lines), continued by a trailing `\`, cut at the first `#` or
///   `;` (an inline comment, joined to the key's comment), and loses one pair of surrounding `"` or
///   `'`; a repeated key keeps its place and takes the new value; a repeated section header opens
///   another section of the same name (sops 3.11 writes both back). Keys before any header are in
///   `DEFAULT`.
/// - the tree (`treeItemFromSection`): each section with its comment first, then each key followed
///   by its comment; comments lose their leading `;`/`#` and spaces. The `[sops]` section is the
///   metadata, flattened as in the dotenv store.
/// - writing (`WriteTo`, PrettyFormat): comments as `; text`, `[name]` headers (an empty DEFAULT is
///   left out), `key = value` with `=` aligned per section on the longest key, values holding a
///   newline or backtick in `"""`, holding `#`/`;` in backticks, with surrounding spaces in `"`;
///   an empty value as `key = `; a blank line after each section.
///
/// Not followed: `%(name)s` interpolation in unencrypted values (go-ini's `Key.Value()`), which
/// no sops-written file needs.
public enum INIStore {
    public struct Failure: Error {
        public var message: String
        public var line: Int
    }

    struct Key {
        var name: [UInt8]
        var value: [UInt8]
        var comment: [UInt8]
        var line: Int
    }

    struct Section {
        var name: [UInt8]
        var comment: [UInt8]
        var keys: [Key]
        var line: Int
    }

    static let defaultSection = Array("DEFAULT".utf8)

    /// Reads an encrypted ini file.
    public static func read(_ bytes: [UInt8]) throws(DecryptionError) -> FlatDocument {
        let sections: [Section]
        do {
            sections = try parse(bytes)
        } catch {
            throw .malformedMetadata("not valid ini (as sops reads it): \(error.message)", line: error.line)
        }
        guard let sopsIndex = sections.firstIndex(where: { $0.name.elementsEqual("sops".utf8) }) else {
            throw .notSOPS("there is no [sops] section")
        }
        let sopsSection = sections[sopsIndex]
        let metadata = try FlatMetadata.metadata(
            sopsSection.keys.map { (String(decoding: $0.name, as: UTF8.self), String(decoding: $0.value, as: UTF8.self), $0.line) }, line: sopsSection.line)
        var rest = sections
        rest.remove(at: sopsIndex)
        let items = self.items(rest)
        return FlatDocument(items: items, metadata: metadata)
    }

    /// sops's tree of the sections (`treeItemFromSection`): every section, an empty one too, with
    /// its comment first, then each key followed by its comment; comments lose their `;`/`#`.
    static func items(_ sections: [Section]) -> [FlatDocument.Item] {
        var items: [FlatDocument.Item] = []
        for section in sections {
            items.append(.init(path: [section.name], value: [], isComment: false, line: section.line, isSection: true))
            if !section.comment.isEmpty {
                items.append(.init(path: [section.name], value: stripCommentChar(section.comment), isComment: true, line: section.line))
            }
            for key in section.keys {
                items.append(.init(path: [section.name, key.name], value: key.value, isComment: false, line: key.line))
                if !key.comment.isEmpty {
                    items.append(.init(path: [section.name], value: stripCommentChar(key.comment), isComment: true, line: key.line))
                }
            }
        }
        return items
    }

    /// What `sops -d` prints for decrypted items.
    public static func emit(_ items: [FlatDocument.Item]) -> Data {
        // encodeTree: sections in first-seen order (DEFAULT always first), the first item's
        // comment is the section's, a later comment belongs to the key before it.
        // A section item opens its section (a repeated name is another section, as sops keeps
        // it); the first DEFAULT item is the DEFAULT section go-ini always has.
        var sections: [Section] = [Section(name: defaultSection, comment: [], keys: [], line: 0)]
        var lastKey: (section: Int, key: Int)?
        var current = -1
        var previousSection: [UInt8]?
        var firstInSection = true
        var defaultOpened = false
        for item in items {
            let name = item.path.first ?? defaultSection
            if item.isSection {
                if name == defaultSection && !defaultOpened {
                    defaultOpened = true
                    current = 0
                } else {
                    sections.append(Section(name: name, comment: [], keys: [], line: 0))
                    current = sections.count - 1
                }
                previousSection = name
                firstInSection = true
                lastKey = nil
                continue
            }
            if name != previousSection {
                previousSection = name
                if let found = sections.firstIndex(where: { $0.name == name }) { current = found } else {
                    sections.append(Section(name: name, comment: [], keys: [], line: 0))
                    current = sections.count - 1
                }
                firstInSection = true
                lastKey = nil
            }
            if item.isComment {
                if firstInSection { sections[current].comment = item.value } else if let lastKey { sections[lastKey.section].keys[lastKey.key].comment = item.value }
            } else {
                let keyName = item.path.count > 1 ? item.path[1] : []
                if let existing = sections[current].keys.firstIndex(where: { $0.name == keyName }) {
                    sections[current].keys[existing].value = item.value
                    lastKey = (current, existing)
                } else {
                    sections[current].keys.append(Key(name: keyName, value: item.value, comment: [], line: 0))
                    lastKey = (current, sections[current].keys.count - 1)
                }
            }
            firstInSection = false
        }
        var out = Data()
        for (index, section) in sections.enumerated() {
            if !section.comment.isEmpty {
                for line in section.comment.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                    if line.first == UInt8(ascii: "#") || line.first == UInt8(ascii: ";") {
                        out.append(contentsOf: [line.first!, UInt8(ascii: " ")] + trimSpace(Array(line.dropFirst())))
                    } else {
                        out.append(contentsOf: Array("; ".utf8) + line)
                    }
                    out.append(UInt8(ascii: "\n"))
                }
            }
            if index > 0 || !section.name.elementsEqual(defaultSection) {
                out.append(contentsOf: [UInt8(ascii: "[")] + section.name + [UInt8(ascii: "]"), UInt8(ascii: "\n")])
            } else if section.keys.isEmpty {
                continue
            }
            let names = section.keys.map { quotedKey($0.name) }
            let align = names.map(\.count).max() ?? 0
            for (key, name) in zip(section.keys, names) {
                if !key.comment.isEmpty {
                    for line in key.comment.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                        if line.first == UInt8(ascii: "#") || line.first == UInt8(ascii: ";") {
                            out.append(contentsOf: [line.first!, UInt8(ascii: " ")] + trimSpace(Array(line.dropFirst())))
                        } else {
                            out.append(contentsOf: Array("; ".utf8) + trimSpace(Array(line)))
                        }
                        out.append(UInt8(ascii: "\n"))
                    }
                }
                out.append(contentsOf: name)
                out.append(contentsOf: [UInt8](repeating: UInt8(ascii: " "), count: align - name.count))
                out.append(contentsOf: Array(" = ".utf8))
                out.append(contentsOf: quotedValue(key.value))
                out.append(UInt8(ascii: "\n"))
            }
            out.append(UInt8(ascii: "\n"))
        }
        // The blank line goes between sections: the file ends after the last section's last line.
        if out.count >= 2, out.suffix(2).elementsEqual([UInt8(ascii: "\n"), UInt8(ascii: "\n")]) { out.removeLast() }
        return out
    }

    static func quotedKey(_ name: [UInt8]) -> [UInt8] {
        if name.contains(UInt8(ascii: "\"")) || name.contains(UInt8(ascii: "=")) || name.contains(UInt8(ascii: ":")) {
            return [UInt8(ascii: "`")] + name + [UInt8(ascii: "`")]
        }
        if name.contains(UInt8(ascii: "`")) { return Array("\"\"\"".utf8) + name + Array("\"\"\"".utf8) }
        return name
    }

    static func quotedValue(_ value: [UInt8]) -> [UInt8] {
        if value.contains(UInt8(ascii: "\n")) || value.contains(UInt8(ascii: "`")) { return Array("\"\"\"".utf8) + value + Array("\"\"\"".utf8) }
        if value.contains(UInt8(ascii: "#")) || value.contains(UInt8(ascii: ";")) { return [UInt8(ascii: "`")] + value + [UInt8(ascii: "`")] }
        if trimSpace(value).count != value.count { return [UInt8(ascii: "\"")] + value + [UInt8(ascii: "\"")] }
        return value
    }

    /// `stripCommentChar`: a leading `;` or `#` and every `;`/`#`-and-space after it (TrimLeft).
    static func stripCommentChar(_ comment: [UInt8]) -> [UInt8] {
        guard let first = comment.first, first == UInt8(ascii: ";") || first == UInt8(ascii: "#") else { return comment }
        return Array(comment.drop { $0 == first || $0 == UInt8(ascii: " ") })
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    static func trimSpace<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        Array(Array(bytes).drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    static func trimLeft(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> { bytes.drop(while: isSpace) }

    /// go-ini's parser with the default options.
    static func parse(_ input: [UInt8]) throws(Failure) -> [Section] {
        var bytes = ArraySlice(input)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) } else if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) { bytes = bytes.dropFirst(2) }
        // Lines with their newline, as bufio's ReadBytes('\n') gives them.
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            lines.append(bytes[start...index])
            start = index + 1
        }
        if start < bytes.endIndex { lines.append(bytes[start...]) }

        var sections = [Section(name: defaultSection, comment: [], keys: [], line: 1)]
        var current = 0
        var comment: [UInt8] = []
        var counter = 1
        var lineIndex = 0
        func nextLine() -> ArraySlice<UInt8>? {
            guard lineIndex < lines.count else { return nil }
            defer { lineIndex += 1 }
            return lines[lineIndex]
        }
        while let raw = nextLine() {
            let number = lineIndex
            let line = trimLeft(raw)
            if line.isEmpty { continue }
            let first = line.first!
            if first == UInt8(ascii: "#") || first == UInt8(ascii: ";") {
                comment += line
                continue
            }
            if first == UInt8(ascii: "[") {
                guard let close = line.lastIndex(of: UInt8(ascii: "]")) else { throw Failure(message: "line \(number) opens a section that is never closed with ]", line: number) }
                let name = Array(line[(line.startIndex + 1)..<close])
                guard !name.isEmpty else { throw Failure(message: "line \(number) has an empty section name", line: number) }
                // A repeated header opens another section of that name: sops 3.11 keeps them
                // apart, in order (its tree holds both, and it writes both back).
                sections.append(Section(name: name, comment: [], keys: [], line: number))
                current = sections.count - 1
                let rest = line[(close + 1)...]
                if let hash = rest.firstIndex(where: { $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: ";") }) { comment += rest[hash...] }
                sections[current].comment = trimSpace(comment)
                comment = []
                counter = 1
                continue
            }
            // The key name.
            var keyName: [UInt8]
            var offset: Int
            var quote: [UInt8] = []
            if first == UInt8(ascii: "\"") {
                quote = line.count > 6 && line.starts(with: Array("\"\"\"".utf8)) ? Array("\"\"\"".utf8) : [UInt8(ascii: "\"")]
            } else if first == UInt8(ascii: "`") {
                quote = [UInt8(ascii: "`")]
            }
            let text = Array(line)
            if !quote.isEmpty {
                guard let close = firstRange(of: quote, in: text, from: quote.count) else { throw Failure(message: "line \(number) has a key quote that is never closed", line: number) }
                guard let delimiter = text[(close + quote.count)...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") }) else {
                    throw Failure(message: "line \(number) has no = or : after its key", line: number)
                }
                keyName = trimSpace(text[quote.count..<close])
                offset = delimiter + 1
            } else {
                guard let delimiter = text.firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") }) else {
                    throw Failure(message: "line \(number) is neither a section, a key = value pair nor a comment", line: number)
                }
                keyName = trimSpace(text[..<delimiter])
                offset = delimiter + 1
            }
            if keyName.elementsEqual("-".utf8) {
                keyName = Array("#\(counter)".utf8)
                counter += 1
            }
            guard !keyName.isEmpty else { throw Failure(message: "line \(number) has an empty key name", line: number) }
            // The value.
            var value: [UInt8]
            let rest = Array(trimLeft(text[offset...]))
            if rest.isEmpty {
                value = []
            } else {
                var valueQuote: [UInt8] = []
                if rest.count > 3 && rest.starts(with: Array("\"\"\"".utf8)) { valueQuote = Array("\"\"\"".utf8) } else if rest.first == UInt8(ascii: "`") { valueQuote = [UInt8(ascii: "`")] }
                if !valueQuote.isEmpty {
                    if let close = lastRange(of: valueQuote, in: rest, from: valueQuote.count) {
                        value = Array(rest[valueQuote.count..<close])
                    } else {
                        value = Array(rest[valueQuote.count...])
                        var closed = false
                        while let next = nextLine() {
                            let nextBytes = Array(next)
                            if let close = lastRange(of: valueQuote, in: nextBytes, from: 0) {
                                value += nextBytes[..<close]
                                let after = nextBytes[close...]
                                if let hash = after.firstIndex(where: { $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: ";") }) { comment += trimSpace(after[hash...]) }
                                closed = true
                                break
                            }
                            value += nextBytes
                        }
                        guard closed else { throw Failure(message: "the value quoted on line \(number) is never closed", line: number) }
                    }
                } else {
                    var trimmed = trimSpace(rest)
                    if trimmed.last == UInt8(ascii: "\\") {
                        trimmed.removeLast()
                        while let next = nextLine() {
                            let nextTrimmed = trimSpace(next)
                            if nextTrimmed.isEmpty { break }
                            trimmed += nextTrimmed
                            if trimmed.last != UInt8(ascii: "\\") { break }
                            trimmed.removeLast()
                        }
                        value = trimmed
                    } else {
                        if let hash = trimmed.firstIndex(where: { $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: ";") }) {
                            comment += trimmed[hash...]
                            trimmed = trimSpace(trimmed[..<hash])
                        }
                        for mark in [UInt8(ascii: "'"), UInt8(ascii: "\"")] where trimmed.count >= 2 && trimmed.first == mark && trimmed.last == mark
                            && trimmed.dropFirst().firstIndex(of: mark) == trimmed.count - 1
                        {
                            trimmed = Array(trimmed.dropFirst().dropLast())
                            break
                        }
                        value = trimmed
                    }
                }
            }
            if let existing = sections[current].keys.firstIndex(where: { $0.name == keyName }) {
                sections[current].keys[existing].value = value
                sections[current].keys[existing].comment = trimSpace(comment)
            } else {
                sections[current].keys.append(Key(name: keyName, value: value, comment: trimSpace(comment), line: number))
            }
            comment = []
        }
        return sections
    }

    static func firstRange(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        return nil
    }

    static func lastRange(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in stride(from: haystack.count - needle.count, through: start, by: -1) where haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        return nil
    }
}
