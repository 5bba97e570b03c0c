import Foundation

/// Comments of a YAML file, placed in the tree where sops places them.
///
/// sops keeps a comment as an item of the mapping or sequence it stands in (getsops/sops
/// `stores/yaml/store.go`: `appendCommentToMap`, `appendCommentToList`, fed by go-yaml v3's
/// head, line and foot comments). libyaml (Yams) drops comments, so they are found here by a
/// small lexer over the text (it knows quoted and block scalars, where `#` is not a comment) and
/// placed by position against the items Yams reports, with the rules go-yaml v3 follows in the
/// cases sops output and people's files contain, checked against sops 3.11 by the differential
/// test:
/// - a comment after content on a line goes before the line's first item in its container
///   (`k: v # c` before `k`; `- a: b # c` before that sequence item), or into a flow collection
///   that ends the line (`k: [1, 2] # c`, before its first item);
/// - a comment on its own line at the column of the next item is that item's head comment;
/// - comment lines right after content are a foot of the item before them when a later line
///   starts left of that item's block at another column (go-yaml's split, `priorTokenFeet`);
/// - a comment on its own line right after content (no blank line between) and indented past
///   the next item is a foot comment of the deepest open container it is not left of;
/// - after a blank line, a comment belongs to the next item; with no next item, to the deepest
///   open container it is not left of.
enum YAMLComments {
    struct Comment {
        var line: Int
        var column: Int
        /// The text after `#`.
        var text: String
        /// After content on the same line.
        var trailing: Bool
    }

    struct Scan {
        var comments: [Comment] = []
        /// Lines (1-based) holding a `---` document marker.
        var documentMarkers: [Int] = []
        var blankLines: Set<Int> = []
    }

    /// Lexes the text line by line for comments, outside quoted and block scalars.
    static func scan(_ text: String) -> Scan {
        var result = Scan()
        let lines = breakLines(text).map { line -> [Unicode.Scalar] in
            var scalars = line
            if scalars.first?.value == 0xFEFF { scalars.removeFirst() }
            return scalars
        }
        enum Quote { case none, single, double }
        var quote = Quote.none
        var blockParent: Int?  // inside a block scalar whose parent is at this column
        var blockIndent: Int?
        var flowDepth = 0
        for (index, line) in lines.enumerated() {
            let number = index + 1
            let indent = line.prefix { $0 == " " }.count
            let isBlank = line.allSatisfy { $0 == " " || $0 == "\t" }
            if let parent = blockParent {
                if isBlank { continue }
                if let content = blockIndent {
                    if indent >= content { continue }
                } else if indent > parent {
                    blockIndent = indent
                    continue
                }
                blockParent = nil
                blockIndent = nil
            }
            if isBlank && quote == .none {
                result.blankLines.insert(number)
                continue
            }
            var i = 0
            var expectNode = quote == .none  // at a place where a node may start
            var lastKeyColumn: Int?
            var sawContent = quote != .none
            if quote == .none, indent == 0, line.count >= 3, line[0] == "-", line[1] == "-", line[2] == "-", line.count == 3 || line[3] == " " || line[3] == "\t" {
                result.documentMarkers.append(number)
                i = 3
            }
            while i < line.count {
                let c = line[i]
                switch quote {
                case .single:
                    if c == "'" {
                        if i + 1 < line.count, line[i + 1] == "'" { i += 2; continue }
                        quote = .none
                    }
                    i += 1
                    continue
                case .double:
                    if c == "\\" { i += 2; continue }
                    if c == "\"" { quote = .none }
                    i += 1
                    continue
                case .none: break
                }
                if c == " " || c == "\t" { i += 1; continue }
                let precededBySpace = i == 0 || line[i - 1] == " " || line[i - 1] == "\t"
                if c == "#" && precededBySpace {
                    result.comments.append(Comment(line: number, column: i + 1, text: String(String.UnicodeScalarView(line[(i + 1)...])), trailing: sawContent))
                    break
                }
                sawContent = true
                if expectNode {
                    switch c {
                    case "-", "?", ":":
                        if i + 1 == line.count || line[i + 1] == " " || line[i + 1] == "\t" {
                            if c == "-" { lastKeyColumn = i }
                            i += 1
                            continue
                        }
                    case "\"": quote = .double; i += 1; expectNode = false; continue
                    case "'": quote = .single; i += 1; expectNode = false; continue
                    case "[", "{": flowDepth += 1; i += 1; continue
                    case "]", "}": flowDepth = max(0, flowDepth - 1); i += 1; expectNode = false; continue
                    case ",": i += 1; continue
                    case "|", ">":
                        if flowDepth == 0 {
                            // A block scalar: its content is indented past its parent.
                            blockParent = lastKeyColumn ?? indent
                            blockIndent = nil
                            i += 1
                            while i < line.count, line[i] != "#" || !(line[i - 1] == " " || line[i - 1] == "\t") { i += 1 }
                            continue
                        }
                    case "&", "!", "*":
                        while i < line.count, line[i] != " ", line[i] != "\t" { i += 1 }
                        continue
                    default: break
                    }
                    if lastKeyColumn == nil || c != "-" { lastKeyColumn = i }
                }
                // A plain scalar (or the rest of a key): up to `: `, ` #`, or a flow indicator.
                expectNode = false
                var j = i
                while j < line.count {
                    let d = line[j]
                    if d == ":" && (j + 1 == line.count || line[j + 1] == " " || line[j + 1] == "\t" || (flowDepth > 0 && ",]}".unicodeScalars.contains(line[j + 1]))) {
                        break
                    }
                    if d == "#" && j > i && (line[j - 1] == " " || line[j - 1] == "\t") { break }
                    if flowDepth > 0 && (d == "," || d == "]" || d == "}") { break }
                    j += 1
                }
                i = j
                if i < line.count, line[i] == ":" {
                    i += 1
                    expectNode = true
                } else if i < line.count, flowDepth > 0, line[i] == "," {
                    i += 1
                    expectNode = true
                } else if i < line.count, flowDepth > 0, line[i] == "]" || line[i] == "}" {
                    flowDepth -= 1
                    i += 1
                }
            }
        }
        return result
    }

    /// The text's lines as libyaml and go-yaml v3 count them (the lines of their marks): CR LF,
    /// a lone CR, LF, NEL, LS and PS each end a line (libyaml `scanner.c` `SKIP_LINE`/`IS_BREAK`,
    /// go-yaml v3 `scannerc.go` `skip_line`/`is_break`). By unicode scalars, never by
    /// `Character`: Swift reads "\r\n" as one Character, so splitting on "\n" kept a CRLF file
    /// as one line and made its first comment swallow the rest of the file.
    static func breakLines(_ text: String) -> [[Unicode.Scalar]] {
        var lines: [[Unicode.Scalar]] = [[]]
        var previousCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" && previousCR {
                previousCR = false
                continue
            }
            previousCR = scalar == "\r"
            switch scalar.value {
            case 0x0A, 0x0D, 0x85, 0x2028, 0x2029: lines.append([])
            default: lines[lines.count - 1].append(scalar)
            }
        }
        return lines
    }

    /// One item of a container, in document order, with its ancestors.
    struct Item {
        var line: Int
        var column: Int
        /// Container path: indexes from the document root to the container holding this item.
        var container: [Int]
        var index: Int
        /// Columns where each container on the path has its items (root first).
        var containerColumns: [Int]
        var opensFlowOnLine: Bool
        /// The item's value is a scalar (the last token on its line is that scalar, not `key:`).
        var isScalar = false
    }

    /// Where a comment goes: a container (by path) and the item it precedes (or the end).
    struct Placement {
        var container: [Int]
        var before: Int
        var text: String
        var order: Int
    }

    static func attach(to documents: [TreeNode], in text: String) -> [TreeNode] {
        guard text.contains("#") else { return documents }
        let scan = scan(text)
        guard !scan.comments.isEmpty else { return documents }
        var result: [TreeNode] = []
        // Each document's line range, by its first item line.
        var starts: [Int] = []
        for document in documents {
            var items: [Item] = []
            collect(document, container: [], columns: [], items: &items)
            starts.append(items.first?.line ?? Int.max)
        }
        for (documentIndex, document) in documents.enumerated() {
            var items: [Item] = []
            collect(document, container: [], columns: [], items: &items)
            let start = documentIndex == 0 ? 0 : scan.documentMarkers.filter { $0 < starts[documentIndex] }.last ?? 0
            let end = documentIndex + 1 < documents.count ? (scan.documentMarkers.first { $0 >= (items.last?.line ?? start) && $0 > start } ?? Int.max) : Int.max
            let comments = scan.comments.filter { $0.line > start && $0.line < end }
            let feet = priorTokenFeet(comments, items: items, blankLines: scan.blankLines)
            var placements: [Placement] = []
            var previous: (line: Int, column: Int, placement: Placement)?
            for (order, comment) in comments.enumerated() {
                if let foot = feet[order] {
                    placements.append(Placement(container: foot.container, before: foot.index + 1, text: comment.text, order: order))
                    previous = nil
                    continue
                }
                var placement = place(comment, items: items, blankLines: scan.blankLines, order: order)
                if !comment.trailing, let previous, previous.line == comment.line - 1, comment.column >= previous.column {
                    // A comment block stays together, unless it steps left: then each line
                    // closes one more level (sops 3.11 prints a comment at 5, then 3, then 1
                    // as feet of three nested levels).
                    placement.container = previous.placement.container
                    placement.before = previous.placement.before
                }
                placements.append(placement)
                previous = comment.trailing ? nil : (comment.line, comment.column, placement)
            }
            result.append(insert(placements, into: document, path: []))
        }
        return result
    }

    /// go-yaml v3's scanner (`scannerc.go` `yaml_parser_scan_comments`) splits a run of comment
    /// lines that follows content on the next line where a later line (a comment, or the next
    /// content) starts left of the innermost block's indentation at another column than the
    /// run's first line: the lines before the split are a foot comment of the prior token. For a
    /// scalar that token's node is a sequence item or a mapping value (whose foot go-yaml's
    /// decoder gives to its key), and sops keeps either foot right after that item or pair
    /// (`stores/yaml/store.go`), whatever the comment's own column. Returns, by comment index,
    /// the item such a comment follows; the rest of the run is placed by `place`.
    static func priorTokenFeet(_ comments: [Comment], items: [Item], blankLines: Set<Int>) -> [Int: Item] {
        var feet: [Int: Item] = [:]
        var index = 0
        while index < comments.count {
            let first = comments[index]
            defer { index += 1 }
            // The start of a run, on the line right after content.
            let afterComment = index > 0 && !comments[index - 1].trailing && comments[index - 1].line == first.line - 1
            guard !first.trailing, !afterComment, !blankLines.contains(first.line - 1),
                let prior = items.last(where: { $0.line < first.line }), prior.isScalar, !prior.opensFlowOnLine,
                let indent = prior.containerColumns.last
            else { continue }
            var last = index
            var split = false
            while true {
                let line = comments[last].line + 1
                let column: Int
                if last + 1 < comments.count, comments[last + 1].line == line, !comments[last + 1].trailing {
                    column = comments[last + 1].column
                } else if let next = items.first(where: { $0.line >= line }), next.line == line {
                    column = next.column
                } else {
                    break
                }
                if column < indent && column != first.column {
                    split = true
                    break
                }
                guard last + 1 < comments.count, comments[last + 1].line == line, !comments[last + 1].trailing else { break }
                last += 1
            }
            if split {
                for foot in index...last { feet[foot] = prior }
                index = last
            }
        }
        return feet
    }

    static func collect(_ node: TreeNode, container: [Int], columns: [Int], items: inout [Item]) {
        switch node {
        case .mapping(let entries, let position):
            let column = entries.first?.position?.column ?? position?.column ?? 0
            for (index, entry) in entries.enumerated() {
                let line = entry.position?.line ?? 0
                let opensFlow: Bool = {
                    switch entry.value {
                    case .sequence(let items, _): return items.first?.position?.line == line
                    case .mapping(let entries, _): return entries.first?.position?.line == line
                    default: return false
                    }
                }()
                let isScalar: Bool = { if case .scalar = entry.value { true } else { false } }()
                items.append(Item(line: line, column: entry.position?.column ?? column, container: container, index: index, containerColumns: columns + [column], opensFlowOnLine: opensFlow, isScalar: isScalar))
                collect(entry.value, container: container + [index], columns: columns + [column], items: &items)
            }
        case .sequence(let elements, let position):
            let column = position?.column ?? 0
            for (index, element) in elements.enumerated() {
                let line = element.position?.line ?? position?.line ?? 0
                let isScalar: Bool = { if case .scalar = element { true } else { false } }()
                items.append(Item(line: line, column: column, container: container, index: index, containerColumns: columns + [column], opensFlowOnLine: false, isScalar: isScalar))
                collect(element, container: container + [index], columns: columns + [column], items: &items)
            }
        default: break
        }
    }

    static func place(_ comment: Comment, items: [Item], blankLines: Set<Int>, order: Int) -> Placement {
        if comment.trailing, var first = items.first(where: { $0.line == comment.line }) {
            // `- key: value # c`: go-yaml gives the comment to the key, so sops keeps it in the
            // item's mapping (an encrypted one is `#ENC[…]` there, not a `- ENC[…]` item).
            if let inner = items.first(where: { $0.line == comment.line && $0.container == first.container + [first.index] }), !first.opensFlowOnLine {
                first = inner
            }
            if first.opensFlowOnLine {
                return Placement(container: first.container + [first.index], before: 0, text: comment.text, order: order)
            }
            return Placement(container: first.container, before: first.index, text: comment.text, order: order)
        }
        let next = items.first { $0.line > comment.line }
        let previous = items.last { $0.line < comment.line }
        let blankBefore = blankLines.contains(comment.line - 1)
        if let next {
            // Between a key and the collection that is its value (no content in between), a
            // comment is a head comment of that collection's first item, whatever its column.
            let nextInsidePrevious = previous.map { previous in
                next.container.count > previous.container.count && Array(next.container.prefix(previous.container.count + 1)) == previous.container + [previous.index]
                    && previous.line < next.line
            } ?? false
            if comment.column == next.column || blankBefore || comment.column < next.column || previous == nil || nextInsidePrevious {
                return Placement(container: next.container, before: next.index, text: comment.text, order: order)
            }
        }
        guard let previous else { return Placement(container: [], before: Int.max, text: comment.text, order: order) }
        // The deepest container on the previous item's path whose items are not right of the comment.
        var depth = previous.containerColumns.count - 1
        // An indentless sequence (its dashes at its parent mapping's column) has ended at a
        // comment in that column: go-yaml gives the comment to the mapping.
        while depth > 0 && (previous.containerColumns[depth] > comment.column || (previous.containerColumns[depth] == previous.containerColumns[depth - 1] && comment.column <= previous.containerColumns[depth])) {
            depth -= 1
        }
        // The container at `depth` holds the previous item's ancestor at that depth.
        let path = Array(previous.container.prefix(depth))
        let ancestorIndex = depth < previous.container.count ? previous.container[depth] : previous.index
        return Placement(container: path, before: ancestorIndex + 1, text: comment.text, order: order)
    }

    static func insert(_ placements: [Placement], into node: TreeNode, path: [Int]) -> TreeNode {
        let here = placements.filter { $0.container == path }
        let deeper = placements.filter { $0.container.count > path.count && Array($0.container.prefix(path.count)) == path }
        switch node {
        case .mapping(let entries, let position):
            var out: [TreeNode.Entry] = []
            for (index, entry) in entries.enumerated() {
                for placement in here where placement.before == index { out.append(.comment(placement.text)) }
                var entry = entry
                entry.value = insert(deeper, into: entry.value, path: path + [index])
                out.append(entry)
            }
            for placement in here where placement.before >= entries.count { out.append(.comment(placement.text)) }
            return .mapping(out, position)
        case .sequence(let items, let position):
            var out: [TreeNode] = []
            for (index, item) in items.enumerated() {
                for placement in here where placement.before == index { out.append(.comment(placement.text)) }
                out.append(insert(deeper, into: item, path: path + [index]))
            }
            for placement in here where placement.before >= items.count { out.append(.comment(placement.text)) }
            return .sequence(out, position)
        default:
            return node
        }
    }
}
