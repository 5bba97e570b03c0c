import Foundation

/// A step summary built from blocks, rendered as GitHub Markdown for `GITHUB_STEP_SUMMARY` or as
/// plain text for a terminal. Cell text is untrusted (file names, controller messages): it is
/// escaped so it cannot break a table or inject HTML.
public struct StepSummary: Sendable, Equatable {
    public indirect enum Block: Sendable, Equatable {
        case heading(Int, String)
        case paragraph(String)
        case table(header: [String], rows: [[String]])
        case details(summary: String, blocks: [Block])
        case code(String)
        /// A Mermaid diagram (GitHub renders it); a terminal gets nothing for it.
        case mermaid(String)
    }

    /// Where a block goes: a summary reads top-down as a user wants it, the verdict first, then
    /// the picture, then the tables, then the rest (annotations folded out of the log last).
    public enum Section: Int, Sendable, CaseIterable, Comparable {
        case verdict, picture, tables, details
        public static func < (a: Section, b: Section) -> Bool { a.rawValue < b.rawValue }
    }

    /// The heading level every section of a summary uses (one level, so none nests by accident).
    public static let sectionLevel = 3

    /// Cell or paragraph text that renders as a link in Markdown and as its text elsewhere. The
    /// URL must be http(s) without spaces, quotes or angle brackets, else only the text is kept.
    public static func link(_ text: String, _ url: String) -> String {
        guard url.hasPrefix("https://") || url.hasPrefix("http://"), !url.contains(where: { " \"<>()\n\u{E000}\u{E001}\u{E002}".contains($0) }) else { return text }
        return "\u{E000}" + text.filter { !"\u{E000}\u{E001}\u{E002}".contains($0) } + "\u{E001}" + url + "\u{E002}"
    }

    public private(set) var blocks: [Block] = []

    public init() {}

    public var isEmpty: Bool { blocks.isEmpty }

    public mutating func heading(_ text: String, level: Int = 2) { blocks.append(.heading(min(max(level, 1), 6), text)) }
    public mutating func paragraph(_ text: String) { blocks.append(.paragraph(text)) }
    public mutating func table(header: [String], rows: [[String]]) { blocks.append(.table(header: header, rows: rows)) }
    public mutating func details(_ summary: String, _ blocks: [Block]) { self.blocks.append(.details(summary: summary, blocks: blocks)) }
    public mutating func code(_ text: String) { blocks.append(.code(text)) }
    public mutating func mermaid(_ text: String) { blocks.append(.mermaid(text)) }
    public mutating func append(_ other: StepSummary) { blocks += other.blocks }

    /// GitHub refuses a step summary over 1 MiB.
    public static let maximumBytes = 1_048_576

    /// Markdown for GitHub, kept under `limit` bytes: when the whole does not fit, table rows are
    /// dropped from the end, and a line says how many were left out.
    public func markdown(limit: Int = maximumBytes) -> String {
        let full = Self.markdown(blocks)
        if full.utf8.count <= limit { return full }
        var text = ""
        var dropped = 0
        for block in blocks {
            let rendered = Self.markdown([block])
            if text.utf8.count + rendered.utf8.count + 200 <= limit {
                text += rendered
            } else if case .table(let header, let rows) = block {
                var table = Self.tableHead(header)
                var kept = 0
                for row in rows {
                    let line = Self.tableRow(row, columns: header.count)
                    if text.utf8.count + table.utf8.count + line.utf8.count + 200 > limit { break }
                    table += line
                    kept += 1
                }
                dropped += rows.count - kept
                if kept > 0 { text += table + "\n" }
            } else {
                dropped += 1
            }
        }
        return text + "\n_The summary was cut to stay under GitHub's 1 MiB limit: \(dropped) more rows or blocks are in the job log._\n"
    }

    /// Plain text for a terminal: tables as aligned columns, details expanded. A Mermaid diagram
    /// is left out, and so is a heading that titles nothing else (the terminal got the graph as
    /// a tree in the log).
    public var plainText: String {
        var kept: [Block] = []
        for (index, block) in blocks.enumerated() {
            if case .mermaid = block { continue }
            if case .heading = block {
                let rest = blocks[(index + 1)...].prefix { if case .heading = $0 { false } else { true } }
                if !rest.isEmpty, rest.allSatisfy({ if case .mermaid = $0 { true } else { false } }) { continue }
            }
            kept.append(block)
        }
        return Self.links(Self.plain(kept, indent: ""), markdown: false)
    }

    // MARK: Markdown

    private static func markdown(_ blocks: [Block]) -> String {
        blocks.map { block -> String in
            switch block {
            case .heading(let level, let text):
                return String(repeating: "#", count: level) + " " + inline(text) + "\n\n"
            case .paragraph(let text):
                return inline(text) + "\n\n"
            case .table(let header, let rows):
                return tableHead(header) + rows.map { tableRow($0, columns: header.count) }.joined() + "\n"
            case .details(let summary, let inner):
                return "<details><summary>" + html(summary) + "</summary>\n\n" + markdown(inner) + "</details>\n\n"
            case .code(let text):
                let fence = String(repeating: "`", count: max(3, longestBacktickRun(text) + 1))
                return fence + "\n" + text + (text.hasSuffix("\n") ? "" : "\n") + fence + "\n\n"
            case .mermaid(let text):
                let fence = String(repeating: "`", count: max(3, longestBacktickRun(text) + 1))
                return fence + "mermaid\n" + text + (text.hasSuffix("\n") ? "" : "\n") + fence + "\n\n"
            }
        }.joined()
    }

    private static func tableHead(_ header: [String]) -> String {
        "| " + header.map(cell).joined(separator: " | ") + " |\n" + "|" + header.map { _ in " --- |" }.joined() + "\n"
    }

    private static func tableRow(_ row: [String], columns: Int) -> String {
        let padded = row + Array(repeating: "", count: max(0, columns - row.count))
        return "| " + padded.map(cell).joined(separator: " | ") + " |\n"
    }

    private static func html(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    private static func inline(_ text: String) -> String {
        links(text, markdown: true) { html($0).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: "<br>") }
    }

    private static func cell(_ text: String) -> String {
        links(text, markdown: true) { inline($0).replacingOccurrences(of: "|", with: "\\|") }
    }

    /// Text with its `link` markers rendered: `[text](url)` in Markdown (the text escaped by
    /// `escape` and for brackets), the text alone otherwise.
    static func links(_ text: String, markdown: Bool, escape: (String) -> String = { $0 }) -> String {
        guard text.unicodeScalars.contains("\u{E000}") else { return escape(text) }
        var out = "", rest = Substring(text)
        while let open = rest.firstIndex(of: "\u{E000}"), let middle = rest[open...].firstIndex(of: "\u{E001}"),
            let close = rest[middle...].firstIndex(of: "\u{E002}")
        {
            out += escape(String(rest[..<open]))
            let label = String(rest[rest.index(after: open)..<middle]), url = String(rest[rest.index(after: middle)..<close])
            if markdown {
                // Markdown's own characters first, then the block's escaping (HTML, table pipes).
                var escaped = ""
                for character in label {
                    if "[]\\`*_".contains(character) { escaped.append("\\") }
                    escaped.append(character)
                }
                out += "[\(escape(escaped))](\(url))"
            } else {
                out += label
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + escape(String(rest))
    }

    private static func longestBacktickRun(_ text: String) -> Int {
        var longest = 0, current = 0
        for ch in text { if ch == "`" { current += 1; longest = max(longest, current) } else { current = 0 } }
        return longest
    }

    // MARK: Plain text

    private static func plain(_ blocks: [Block], indent: String) -> String {
        blocks.map { block -> String in
            switch block {
            case .heading(_, let text):
                return indent + text + "\n" + indent + String(repeating: "=", count: text.count) + "\n"
            case .paragraph(let text):
                return text.split(separator: "\n", omittingEmptySubsequences: false).map { indent + $0 }.joined(separator: "\n") + "\n"
            case .table(let header, let rows):
                // Every cell as a terminal shows it (link markers resolved to their text, one
                // line), measured and printed from the same strings, so no cell is ever cut.
                let all = ([header] + rows).map { $0.map { links($0, markdown: false).replacingOccurrences(of: "\n", with: " ") } }
                let columns = all.map(\.count).max() ?? 0
                var widths = Array(repeating: 0, count: columns)
                for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
                func line(_ row: [String]) -> String {
                    let cells = (0..<columns).map { i -> String in
                        let cell = i < row.count ? row[i] : ""
                        // Padded by Characters, as measured (NSString's `padding(toLength:)`
                        // counts UTF-16 units and cuts what is longer).
                        return i == columns - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[i] - cell.count))
                    }
                    return indent + cells.joined(separator: "  ") + "\n"
                }
                let rule = indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
                return all.map(line).prefix(1).joined() + rule + all.dropFirst().map(line).joined()
            case .details(let summary, let inner):
                return indent + summary + "\n" + plain(inner, indent: indent + "  ")
            case .code(let text):
                return text.split(separator: "\n", omittingEmptySubsequences: false).map { indent + "  " + $0 }.joined(separator: "\n") + "\n"
            case .mermaid:
                return ""
            }
        }.joined(separator: "\n")
    }
}
