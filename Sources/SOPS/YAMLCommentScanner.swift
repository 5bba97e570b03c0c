/// go-yaml v3's scanner, as far as it decides where comments belong: the token stream (kinds and
/// marks) and the comment records it queues beside the tokens (`scannerc.go`:
/// `yaml_parser_fetch_next_token`, `yaml_parser_scan_to_next_token`, `yaml_parser_scan_comments`,
/// `yaml_parser_scan_line_comment`, `yaml_parser_unroll_indent` with its repositioning of block
/// ends before the foot comments of parent blocks). Scalar values are not decoded here: libyaml
/// (`YAMLComposer`) reads them; this scanner only has to consume exactly what go-yaml consumes, so
/// that its marks, indentation stack and `newlines` count (which decide head, line and foot
/// comments) are go-yaml's. Marks count bytes for `index` (go-yaml counts characters; only their
/// order is compared) and characters for `column`.
struct YAMLCommentScanner {
    struct Mark: Equatable {
        var index = 0
        var line = 0
        var column = 0
    }

    enum TokenKind: Equatable {
        case streamStart, streamEnd, versionDirective, tagDirective, documentStart, documentEnd
        case blockSequenceStart, blockMappingStart, blockEnd
        case flowSequenceStart, flowSequenceEnd, flowMappingStart, flowMappingEnd
        case blockEntry, flowEntry, key, value, alias, anchor, tag, scalar
    }

    struct Token {
        var kind: TokenKind
        var start: Mark
        var end: Mark
        /// The anchor or alias name.
        var name: [UInt8] = []
    }

    /// go-yaml's `yaml_comment_t`: a head, line or foot comment (text with its `#`, lines joined
    /// by `\n`, a blank line as an empty line) and the token mark it is unfolded at.
    struct Comment {
        var scanMark = Mark()
        var tokenMark = Mark()
        var startMark = Mark()
        var endMark = Mark()
        var head: [UInt8] = []
        var line: [UInt8] = []
        var foot: [UInt8] = []
    }

    struct SimpleKey {
        var possible = false
        var required = false
        var tokenNumber = 0
        var mark = Mark()
    }

    struct Failure: Error {
        var message: String
        var line: Int
    }

    private let buffer: [UInt8]
    private var pos = 0
    private var mark = Mark()
    private(set) var tokens: [Token] = []
    private(set) var comments: [Comment] = []
    private var indent = -1
    private var indents: [Int] = []
    private var flowLevel = 0
    private var simpleKeys: [SimpleKey] = []
    private var simpleKeyAllowed = false
    private var newlines = 0
    private var streamStartProduced = false
    private var streamEndProduced = false

    /// A scanner over a YAML stream. A leading BOM is the reader's encoding mark (go-yaml's
    /// reader drops it before the scanner counts columns).
    init(_ bytes: [UInt8]) {
        var bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        buffer = bytes
    }

    /// go-yaml's `yaml_parser_fetch_more_tokens`: tokens are scanned as the parser reaches them,
    /// two beyond the one it looks at (more while a simple key may still start there). The
    /// timing matters: the parser clears the comments it takes (`unfoldComments`), and the
    /// scanner only rewrites comments still queued (a line comment under `- ` that turns into
    /// the head of a nested sequence).
    mutating func fetchMoreTokens(parsed: Int) throws(Failure) {
        while !streamEndProduced {
            if parsed < tokens.count - 2 {
                guard let index = simpleKeys.lastIndex(where: { $0.possible && $0.tokenNumber == parsed }), try simpleKeyIsValid(index) else { break }
            }
            try fetchNextToken()
        }
    }

    /// The parser took this comment (go-yaml zeroes it in the queue).
    mutating func clearComment(_ index: Int) {
        comments[index] = Comment()
    }

    // MARK: Characters

    private func byte(_ offset: Int = 0) -> UInt8 {
        let at = pos + offset
        return at < buffer.count ? buffer[at] : 0
    }

    private func isBlank(_ offset: Int = 0) -> Bool { let c = byte(offset); return c == 0x20 || c == 0x09 }
    private func isBreak(_ offset: Int = 0) -> Bool { Self.lineBreakLength(buffer[...], at: pos + offset) > 0 }

    /// The length in bytes of the line break at `index`, or 0: CR LF (one break), CR, LF, NEL,
    /// LS and PS, as go-yaml's `is_break`/`skip_line` (and libyaml's) read them. The one
    /// definition of a YAML line break, also for `YAMLComposer`'s line numbers.
    static func lineBreakLength(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int {
        func at(_ offset: Int) -> UInt8 { index + offset < bytes.endIndex && index + offset >= bytes.startIndex ? bytes[index + offset] : 0 }
        switch at(0) {
        case 0x0D: return at(1) == 0x0A ? 2 : 1
        case 0x0A: return 1
        case 0xC2 where at(1) == 0x85: return 2
        case 0xE2 where at(1) == 0x80 && (at(2) == 0xA8 || at(2) == 0xA9): return 3
        default: return 0
        }
    }
    private func isZ(_ offset: Int = 0) -> Bool { pos + offset >= buffer.count || byte(offset) == 0 }
    private func isBreakZ(_ offset: Int = 0) -> Bool { isBreak(offset) || isZ(offset) }
    private func isBlankZ(_ offset: Int = 0) -> Bool { isBlank(offset) || isBreakZ(offset) }
    private func isAlpha(_ offset: Int = 0) -> Bool {
        let c = byte(offset)
        return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    private func width(_ c: UInt8) -> Int {
        if c & 0x80 == 0 { return 1 }
        if c & 0xE0 == 0xC0 { return 2 }
        if c & 0xF0 == 0xE0 { return 3 }
        if c & 0xF8 == 0xF0 { return 4 }
        return 1
    }

    /// go-yaml's `skip` (and `read`): a non-blank character ends a run of line breaks.
    private mutating func skip() {
        if !isBlank() { newlines = 0 }
        pos += width(byte())
        mark.index = pos
        mark.column += 1
    }

    private mutating func read(into text: inout [UInt8]) {
        let w = width(byte())
        text.append(contentsOf: buffer[pos..<min(pos + w, buffer.count)])
        skip()
    }

    /// go-yaml's `skip_line` and `read_line`.
    private mutating func skipLine() {
        let length = Self.lineBreakLength(buffer[...], at: pos)
        guard length > 0 else { return }
        pos += length
        mark.index = pos
        mark.column = 0
        mark.line += 1
        newlines += 1
    }

    private func failure(_ message: String) -> Failure { Failure(message: message, line: mark.line + 1) }

    // MARK: The token queue

    private mutating func insert(_ token: Token, at number: Int? = nil) {
        if let number, number >= 0, number <= tokens.count {
            tokens.insert(token, at: number)
        } else {
            tokens.append(token)
        }
    }

    private mutating func fetchNextToken() throws(Failure) {
        if !streamStartProduced {
            indent = -1
            simpleKeys.append(SimpleKey())
            simpleKeyAllowed = true
            streamStartProduced = true
            insert(Token(kind: .streamStart, start: mark, end: mark))
            return
        }
        let scanMark = mark
        try scanToNextToken()
        // While unrolling indents, head comments of the levels that end become feet.
        unrollIndent(column: mark.column, scanMark: scanMark)
        if isZ() { return try fetchStreamEnd() }
        if mark.column == 0 && byte() == UInt8(ascii: "%") { return try fetchDirective() }
        if mark.column == 0 && byte() == 0x2D && byte(1) == 0x2D && byte(2) == 0x2D && isBlankZ(3) { return try fetchDocumentIndicator(.documentStart) }
        if mark.column == 0 && byte() == 0x2E && byte(1) == 0x2E && byte(2) == 0x2E && isBlankZ(3) { return try fetchDocumentIndicator(.documentEnd) }

        var commentMark = mark
        let c = byte()
        if let last = tokens.last, (flowLevel == 0 && c == UInt8(ascii: ":")) || (flowLevel > 0 && c == UInt8(ascii: ",")) {
            // Associate any following comments with the prior token.
            commentMark = last.start
        }
        try fetchToken(c)
        // Sequence indicators alone have no line comments: it becomes a head comment of what follows.
        if tokens.last?.kind != .blockEntry {
            scanLineComment(tokenMark: commentMark)
        }
    }

    private mutating func fetchToken(_ c: UInt8) throws(Failure) {
        switch c {
        case UInt8(ascii: "["): return try fetchFlowCollectionStart(.flowSequenceStart)
        case UInt8(ascii: "{"): return try fetchFlowCollectionStart(.flowMappingStart)
        case UInt8(ascii: "]"): return try fetchFlowCollectionEnd(.flowSequenceEnd)
        case UInt8(ascii: "}"): return try fetchFlowCollectionEnd(.flowMappingEnd)
        case UInt8(ascii: ","): return try fetchFlowEntry()
        default: break
        }
        if c == UInt8(ascii: "-") && isBlankZ(1) { return try fetchBlockEntry() }
        if c == UInt8(ascii: "?") && (flowLevel > 0 || isBlankZ(1)) { return try fetchKey() }
        if c == UInt8(ascii: ":") && (flowLevel > 0 || isBlankZ(1)) { return try fetchValue() }
        if c == UInt8(ascii: "*") { return try fetchAnchor(.alias) }
        if c == UInt8(ascii: "&") { return try fetchAnchor(.anchor) }
        if c == UInt8(ascii: "!") { return try fetchTag() }
        if (c == UInt8(ascii: "|") || c == UInt8(ascii: ">")) && flowLevel == 0 { return try fetchBlockScalar() }
        if c == UInt8(ascii: "'") { return try fetchFlowScalar(single: true) }
        if c == UInt8(ascii: "\"") { return try fetchFlowScalar(single: false) }
        let indicators = "-?:,[]{}#&*!|>'\"%@`".utf8
        if !(isBlankZ() || indicators.contains(c)) || (c == UInt8(ascii: "-") && !isBlank(1))
            || (flowLevel == 0 && (c == UInt8(ascii: "?") || c == UInt8(ascii: ":")) && !isBlankZ(1))
        {
            return try fetchPlainScalar()
        }
        throw failure("found character that cannot start any token")
    }

    // MARK: Simple keys and indentation

    private mutating func simpleKeyIsValid(_ index: Int) throws(Failure) -> Bool {
        guard simpleKeys[index].possible else { return false }
        let key = simpleKeys[index]
        if key.mark.line < mark.line || key.mark.index + 1024 < mark.index {
            if key.required { throw Failure(message: "could not find expected ':'", line: key.mark.line + 1) }
            simpleKeys[index].possible = false
            return false
        }
        return true
    }

    private mutating func saveSimpleKey() throws(Failure) {
        let required = flowLevel == 0 && indent == mark.column
        guard simpleKeyAllowed else { return }
        let key = SimpleKey(possible: true, required: required, tokenNumber: tokens.count, mark: mark)
        try removeSimpleKey()
        simpleKeys[simpleKeys.count - 1] = key
    }

    private mutating func removeSimpleKey() throws(Failure) {
        let i = simpleKeys.count - 1
        // go-yaml checks a pending key lazily, as the parser reaches it; scanned ahead, a key
        // left on an earlier line is stale here (and an error only if it was required).
        if simpleKeys[i].possible, try simpleKeyIsValid(i), simpleKeys[i].required {
            throw Failure(message: "could not find expected ':'", line: simpleKeys[i].mark.line + 1)
        }
        simpleKeys[i].possible = false
    }

    private mutating func increaseFlowLevel() {
        simpleKeys.append(SimpleKey(possible: false, required: false, tokenNumber: tokens.count, mark: mark))
        flowLevel += 1
    }

    private mutating func decreaseFlowLevel() {
        if flowLevel > 0 {
            flowLevel -= 1
            simpleKeys.removeLast()
        }
    }

    private mutating func rollIndent(column: Int, number: Int?, kind: TokenKind, at tokenMark: Mark) {
        guard flowLevel == 0 else { return }
        if indent < column {
            indents.append(indent)
            indent = column
            insert(Token(kind: kind, start: tokenMark, end: tokenMark), at: number)
        }
    }

    /// go-yaml's `yaml_parser_unroll_indent`: each BLOCK-END is placed before the comments, since
    /// the scan started, that stand at the indentation of the block ending (they become its
    /// foot), going back only while comments follow each other without content between.
    private mutating func unrollIndent(column: Int, scanMark: Mark) {
        guard flowLevel == 0 else { return }
        var blockMark = scanMark
        blockMark.index -= 1
        while indent > column {
            var stopIndex = blockMark.index
            for comment in comments.reversed() {
                if comment.endMark.index < stopIndex { break }
                if comment.startMark.column == indent + 1 {
                    blockMark = comment.startMark
                }
                stopIndex = comment.scanMark.index
            }
            insert(Token(kind: .blockEnd, start: blockMark, end: blockMark))
            indent = indents.removeLast()
        }
    }

    // MARK: Fetchers

    private mutating func fetchStreamEnd() throws(Failure) {
        if mark.column != 0 {
            mark.column = 0
            mark.line += 1
        }
        unrollIndent(column: -1, scanMark: mark)
        try removeSimpleKey()
        simpleKeyAllowed = false
        insert(Token(kind: .streamEnd, start: mark, end: mark))
        streamEndProduced = true
    }

    private mutating func fetchDirective() throws(Failure) {
        unrollIndent(column: -1, scanMark: mark)
        try removeSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        skip()
        var name: [UInt8] = []
        while isAlpha() { read(into: &name) }
        let kind: TokenKind = name == Array("YAML".utf8) ? .versionDirective : .tagDirective
        // The directive's values and any comment on its line (go-yaml discards that comment).
        while !isBreakZ() { skip() }
        let end = mark
        skipLine()
        insert(Token(kind: kind, start: start, end: end))
    }

    private mutating func fetchDocumentIndicator(_ kind: TokenKind) throws(Failure) {
        unrollIndent(column: -1, scanMark: mark)
        try removeSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        skip()
        skip()
        skip()
        insert(Token(kind: kind, start: start, end: mark))
    }

    private mutating func fetchFlowCollectionStart(_ kind: TokenKind) throws(Failure) {
        try saveSimpleKey()
        increaseFlowLevel()
        simpleKeyAllowed = true
        let start = mark
        skip()
        insert(Token(kind: kind, start: start, end: mark))
    }

    private mutating func fetchFlowCollectionEnd(_ kind: TokenKind) throws(Failure) {
        try removeSimpleKey()
        decreaseFlowLevel()
        simpleKeyAllowed = false
        let start = mark
        skip()
        insert(Token(kind: kind, start: start, end: mark))
    }

    private mutating func fetchFlowEntry() throws(Failure) {
        try removeSimpleKey()
        simpleKeyAllowed = true
        let start = mark
        skip()
        insert(Token(kind: .flowEntry, start: start, end: mark))
    }

    private mutating func fetchBlockEntry() throws(Failure) {
        if flowLevel == 0 {
            guard simpleKeyAllowed else { throw failure("block sequence entries are not allowed in this context") }
            rollIndent(column: mark.column, number: nil, kind: .blockSequenceStart, at: mark)
        }
        try removeSimpleKey()
        simpleKeyAllowed = true
        let start = mark
        skip()
        insert(Token(kind: .blockEntry, start: start, end: mark))
    }

    private mutating func fetchKey() throws(Failure) {
        if flowLevel == 0 {
            guard simpleKeyAllowed else { throw failure("mapping keys are not allowed in this context") }
            rollIndent(column: mark.column, number: nil, kind: .blockMappingStart, at: mark)
        }
        try removeSimpleKey()
        simpleKeyAllowed = flowLevel == 0
        let start = mark
        skip()
        insert(Token(kind: .key, start: start, end: mark))
    }

    private mutating func fetchValue() throws(Failure) {
        let last = simpleKeys.count - 1
        if try simpleKeyIsValid(last) {
            let key = simpleKeys[last]
            insert(Token(kind: .key, start: key.mark, end: key.mark), at: key.tokenNumber)
            rollIndent(column: key.mark.column, number: key.tokenNumber, kind: .blockMappingStart, at: key.mark)
            simpleKeys[last].possible = false
            simpleKeyAllowed = false
        } else {
            if flowLevel == 0 {
                guard simpleKeyAllowed else { throw failure("mapping values are not allowed in this context") }
                rollIndent(column: mark.column, number: nil, kind: .blockMappingStart, at: mark)
            }
            simpleKeyAllowed = flowLevel == 0
        }
        let start = mark
        skip()
        insert(Token(kind: .value, start: start, end: mark))
    }

    private mutating func fetchAnchor(_ kind: TokenKind) throws(Failure) {
        try saveSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        skip()
        var name: [UInt8] = []
        while isAlpha() { read(into: &name) }
        insert(Token(kind: kind, start: start, end: mark, name: name))
    }

    private mutating func fetchTag() throws(Failure) {
        try saveSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        while !isBlankZ() { skip() }
        insert(Token(kind: .tag, start: start, end: mark))
    }

    private mutating func fetchFlowScalar(single: Bool) throws(Failure) {
        try saveSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        let quote = single ? UInt8(ascii: "'") : UInt8(ascii: "\"")
        skip()
        while true {
            if isZ() { throw failure("found unexpected end of stream while scanning a quoted scalar") }
            while !isBlankZ() {
                let c = byte()
                if single && c == quote && byte(1) == quote {
                    skip()
                    skip()
                } else if c == quote {
                    break
                } else if !single && c == UInt8(ascii: "\\") && isBreak(1) {
                    skip()
                    skipLine()
                    break
                } else if !single && c == UInt8(ascii: "\\") {
                    let length: Int
                    switch byte(1) {
                    case UInt8(ascii: "x"): length = 2
                    case UInt8(ascii: "u"): length = 4
                    case UInt8(ascii: "U"): length = 8
                    default: length = 0
                    }
                    skip()
                    skip()
                    for _ in 0..<length { skip() }
                } else {
                    skip()
                }
            }
            if byte() == quote { break }
            while isBlank() || isBreak() {
                if isBlank() { skip() } else { skipLine() }
            }
        }
        skip()
        insert(Token(kind: .scalar, start: start, end: mark))
    }

    private mutating func fetchPlainScalar() throws(Failure) {
        try saveSimpleKey()
        simpleKeyAllowed = false
        let start = mark
        var end = mark
        let limit = indent + 1
        var leadingBlanks = false
        while true {
            if mark.column == 0
                && ((byte() == 0x2D && byte(1) == 0x2D && byte(2) == 0x2D) || (byte() == 0x2E && byte(1) == 0x2E && byte(2) == 0x2E)) && isBlankZ(3)
            {
                break
            }
            if byte() == UInt8(ascii: "#") { break }
            while !isBlankZ() {
                let c = byte()
                if (c == UInt8(ascii: ":") && isBlankZ(1)) || (flowLevel > 0 && ",?[]{}".utf8.contains(c)) { break }
                leadingBlanks = false
                skip()
                end = mark
            }
            if !(isBlank() || isBreak()) { break }
            while isBlank() || isBreak() {
                if isBlank() {
                    if leadingBlanks && mark.column < limit && byte() == 0x09 {
                        throw failure("found a tab character that violates indentation")
                    }
                    skip()
                } else {
                    skipLine()
                    leadingBlanks = true
                }
            }
            if flowLevel == 0 && mark.column < limit { break }
        }
        insert(Token(kind: .scalar, start: start, end: end))
        if leadingBlanks { simpleKeyAllowed = true }
    }

    private mutating func fetchBlockScalar() throws(Failure) {
        try removeSimpleKey()
        simpleKeyAllowed = true
        let start = mark
        skip()
        var increment = 0
        if byte() == UInt8(ascii: "+") || byte() == UInt8(ascii: "-") {
            skip()
            if byte() >= 0x31 && byte() <= 0x39 {
                increment = Int(byte() - 0x30)
                skip()
            }
        } else if byte() >= 0x31 && byte() <= 0x39 {
            increment = Int(byte() - 0x30)
            skip()
            if byte() == UInt8(ascii: "+") || byte() == UInt8(ascii: "-") { skip() }
        }
        while isBlank() { skip() }
        if byte() == UInt8(ascii: "#") {
            // go-yaml keeps a comment after the indicator as the scalar's line comment.
            scanLineComment(tokenMark: start)
            while !isBreakZ() { skip() }
        }
        guard isBreakZ() else { throw failure("did not find expected comment or line break") }
        if isBreak() { skipLine() }
        var end = mark
        var blockIndent = increment > 0 ? (indent >= 0 ? indent + increment : increment) : 0
        blockScalarBreaks(indent: &blockIndent, end: &end)
        while mark.column == blockIndent && !isZ() {
            while !isBreakZ() { skip() }
            skipLine()
            blockScalarBreaks(indent: &blockIndent, end: &end)
        }
        insert(Token(kind: .scalar, start: start, end: end))
    }

    private mutating func blockScalarBreaks(indent blockIndent: inout Int, end: inout Mark) {
        var maxIndent = 0
        end = mark
        while true {
            while (blockIndent == 0 || mark.column < blockIndent) && byte() == 0x20 { skip() }
            if mark.column > maxIndent { maxIndent = mark.column }
            if !isBreak() { break }
            skipLine()
            end = mark
        }
        if blockIndent == 0 {
            blockIndent = max(maxIndent, indent + 1, 1)
        }
    }

    // MARK: Comments

    /// go-yaml's `yaml_parser_scan_to_next_token`: blanks, line breaks and comment blocks.
    private mutating func scanToNextToken() throws(Failure) {
        let scanMark = mark
        while true {
            if mark.column == 0 && byte() == 0xEF && byte(1) == 0xBB && byte(2) == 0xBF { skip() }
            while byte() == 0x20 || ((flowLevel > 0 || !simpleKeyAllowed) && byte() == 0x09) { skip() }
            // A line comment after `- ` that starts a nested sequence (`- # c` then `  - x`)
            // becomes the head of what follows.
            if !comments.isEmpty, tokens.count > 1 {
                let a = tokens[tokens.count - 2], b = tokens[tokens.count - 1]
                let last = comments.count - 1
                if a.kind == .blockSequenceStart && b.kind == .blockEntry && !comments[last].line.isEmpty && !isBreak() {
                    comments[last].head = comments[last].line
                    comments[last].line = []
                    if comments[last].startMark.line == mark.line - 1 {
                        comments[last].tokenMark = mark
                    }
                }
            }
            if byte() == UInt8(ascii: "#") {
                scanComments(scanMark: scanMark)
            }
            if isBreak() {
                skipLine()
                if flowLevel == 0 { simpleKeyAllowed = true }
            } else {
                break
            }
        }
    }

    /// go-yaml's `yaml_parser_scan_line_comment`: a comment after a token on its line.
    private mutating func scanLineComment(tokenMark: Mark) {
        guard newlines == 0 else { return }
        var start = Mark()
        var text: [UInt8] = []
        var peek = 0
        while peek < 512 {
            if isBlank(peek) { peek += 1; continue }
            if byte(peek) == UInt8(ascii: "#") {
                let seen = mark.index + peek
                while true {
                    if isBreakZ() {
                        if mark.index >= seen { break }
                        skipLine()
                    } else if mark.index >= seen {
                        if text.isEmpty { start = mark }
                        read(into: &text)
                    } else {
                        skip()
                    }
                }
            }
            break
        }
        if !text.isEmpty {
            comments.append(Comment(tokenMark: tokenMark, startMark: start, line: text))
        }
    }

    /// go-yaml's `yaml_parser_scan_comments`: a block of comment lines is the foot of the prior
    /// token when it starts on the line after it (and that token is not a mapping's `:`) or left
    /// of the current indentation, until a blank line or a line at another, lower indentation
    /// splits it; the rest is the head of the next token.
    private mutating func scanComments(scanMark initialScanMark: Mark) {
        var scanMark = initialScanMark
        var token = tokens[tokens.count - 1]
        if token.kind == .flowEntry && tokens.count > 1 {
            token = tokens[tokens.count - 2]
        }
        var tokenMark = token.start
        var start = Mark()
        var nextIndent = max(indent, 0)
        var recentEmpty = false
        var firstEmpty = newlines <= 1
        var line = mark.line
        var column = mark.column
        var text: [UInt8] = []
        // The line where a comment must start to still be a foot of the prior content.
        var footLine = -1
        if scanMark.line > 0 {
            footLine = mark.line - newlines + 1
            if newlines == 0 && mark.column > 1 { footLine += 1 }
        }
        var peek = 0
        while peek < 512 {
            column += 1
            if isBlank(peek) {
                peek += 1
                continue
            }
            let c = byte(peek)
            let closeFlow = flowLevel > 0 && (c == UInt8(ascii: "]") || c == UInt8(ascii: "}"))
            if closeFlow || isBreakZ(peek) {
                if closeFlow || !recentEmpty {
                    if closeFlow || (firstEmpty && ((start.line == footLine && token.kind != .value) || start.column - 1 < nextIndent)) {
                        // The first empty line with no empty line before: the part so far is a
                        // foot of the prior token (or the last comment inside a flow scope).
                        if !text.isEmpty {
                            if start.column - 1 < nextIndent {
                                // Dedented, it is unrelated to the prior token.
                                tokenMark = start
                            }
                            let here = Mark(index: mark.index + peek, line: line, column: column)
                            comments.append(Comment(scanMark: scanMark, tokenMark: tokenMark, startMark: start, endMark: here, foot: text))
                            scanMark = here
                            tokenMark = here
                            text = []
                        }
                    } else if !text.isEmpty && c != 0 {
                        text.append(0x0A)
                    }
                }
                if !isBreak(peek) { break }
                firstEmpty = false
                recentEmpty = true
                column = 0
                line += 1
                peek += 1
                continue
            }
            if !text.isEmpty && (closeFlow || (column - 1 < nextIndent && column != start.column)) {
                // A comment at a different indentation is a foot of the preceding data.
                let here = Mark(index: mark.index + peek, line: line, column: column)
                comments.append(Comment(scanMark: scanMark, tokenMark: tokenMark, startMark: start, endMark: here, foot: text))
                scanMark = here
                tokenMark = here
                text = []
            }
            if c != UInt8(ascii: "#") { break }
            if text.isEmpty {
                start = Mark(index: mark.index + peek, line: line, column: column)
            } else {
                text.append(0x0A)
            }
            recentEmpty = false
            // Consume the comment line.
            let seen = mark.index + peek
            while true {
                if isBreakZ() {
                    if mark.index >= seen { break }
                    skipLine()
                } else if mark.index >= seen {
                    read(into: &text)
                } else {
                    skip()
                }
            }
            // As in go-yaml, the scan goes on one past the line break it stopped at (`peek = 0`
            // and then the loop's `peek++`), with `line` still the comment's line.
            peek = 1
            column = 0
            line = mark.line
            nextIndent = max(indent, 0)
        }
        if !text.isEmpty {
            comments.append(
                Comment(scanMark: scanMark, tokenMark: start, startMark: start, endMark: Mark(index: mark.index + peek - 1, line: line, column: column), head: text))
        }
    }
}
