/// go-yaml v3's parser and node composer, as far as comments go: the events its parser builds
/// from `YAMLCommentScanner`'s tokens, with the head, line and foot comments it unfolds onto them
/// (`parserc.go`: `peek_token` → `yaml_parser_unfold_comments`, `yaml_parser_set_event_comments`,
/// the document head split at a blank line, `yaml_parser_split_stem_comment`, document-end feet),
/// and the `yaml.Node` tree its decoder composes from them, with the moves of foot comments
/// between a mapping's keys and values (`yaml.go`/`decode.go` `parser.mapping`,
/// `parser.sequence`, `parser.document`). Values are not kept: `YAMLComposer` reads them.
struct YAMLCommentParser {
    typealias Token = YAMLCommentScanner.Token
    typealias Mark = YAMLCommentScanner.Mark

    /// go-yaml's `yaml.Node`, reduced to its kind, children and comments.
    final class Node {
        enum Kind { case document, mapping, sequence, scalar, alias }
        var kind: Kind
        var flow = false
        var head: [UInt8]
        var line: [UInt8]
        var foot: [UInt8]
        var content: [Node] = []
        var alias: Node?
        var mark: Mark

        init(kind: Kind, event: Event) {
            self.kind = kind
            head = event.head
            line = event.line
            foot = event.foot
            mark = event.start
        }
    }

    enum EventKind: Equatable {
        case streamStart, streamEnd, documentStart, documentEnd, alias, scalar
        case sequenceStart, sequenceEnd, mappingStart, mappingEnd, tailComment
    }

    struct Event {
        var kind: EventKind
        var start: Mark
        var anchor: [UInt8] = []
        var flow = false
        var head: [UInt8] = []
        var line: [UInt8] = []
        var foot: [UInt8] = []
    }

    private enum State {
        case streamStart, implicitDocumentStart, documentStart, documentContent, documentEnd
        case blockNode, blockNodeOrIndentlessSequence, flowNode
        case blockSequenceFirstEntry, blockSequenceEntry, indentlessSequenceEntry
        case blockMappingFirstKey, blockMappingKey, blockMappingValue
        case flowSequenceFirstEntry, flowSequenceEntry, flowSequenceEntryMappingKey, flowSequenceEntryMappingValue, flowSequenceEntryMappingEnd
        case flowMappingFirstKey, flowMappingKey, flowMappingValue, flowMappingEmptyValue, end
    }

    typealias Failure = YAMLCommentScanner.Failure

    private var scanner: YAMLCommentScanner
    private var head = 0
    private var tokenAvailable = false
    private var commentsHead = 0
    private var state = State.streamStart
    private var states: [State] = []
    private var headComment: [UInt8] = []
    private var lineComment: [UInt8] = []
    private var footComment: [UInt8] = []
    private var tailComment: [UInt8] = []
    private var stemComment: [UInt8] = []
    private var event: Event?
    private var anchors: [[UInt8]: Node] = [:]

    /// The document nodes of a YAML stream, with go-yaml's comments.
    static func documents(_ bytes: [UInt8]) throws(Failure) -> [Node] {
        var parser = YAMLCommentParser(scanner: YAMLCommentScanner(bytes))
        try parser.expect(.streamStart)
        var documents: [Node] = []
        while try parser.peek() != .streamEnd {
            guard let node = try parser.parse() else { break }
            documents.append(node)
        }
        return documents
    }

    private init(scanner: YAMLCommentScanner) {
        self.scanner = scanner
    }

    private func failure(_ message: String, _ mark: Mark) -> Failure { Failure(message: message, line: mark.line + 1) }

    // MARK: Tokens

    /// `peek_token`: the next token, after joining the comments queued up to it.
    private mutating func peekToken() throws(Failure) -> Token {
        if !tokenAvailable {
            try scanner.fetchMoreTokens(parsed: head)
            tokenAvailable = true
        }
        guard head < scanner.tokens.count else { throw Failure(message: "unexpected end of the token stream", line: 0) }
        let token = scanner.tokens[head]
        unfoldComments(token)
        return token
    }

    private mutating func skipToken() {
        head += 1
        tokenAvailable = false
    }

    /// `yaml_parser_unfold_comments`.
    private mutating func unfoldComments(_ token: Token) {
        func join(_ into: inout [UInt8], _ text: [UInt8]) {
            if !into.isEmpty { into.append(0x0A) }
            into += text
        }
        while commentsHead < scanner.comments.count && token.start.index >= scanner.comments[commentsHead].tokenMark.index {
            let comment = scanner.comments[commentsHead]
            if !comment.head.isEmpty {
                // No heads on ends: keep it for a following token.
                if token.kind == .blockEnd { break }
                join(&headComment, comment.head)
            }
            if !comment.foot.isEmpty { join(&footComment, comment.foot) }
            if !comment.line.isEmpty { join(&lineComment, comment.line) }
            scanner.clearComment(commentsHead)
            commentsHead += 1
        }
    }

    private mutating func setEventComments(_ event: inout Event) {
        event.head = headComment
        event.line = lineComment
        event.foot = footComment
        headComment = []
        lineComment = []
        footComment = []
        tailComment = []
        stemComment = []
    }

    private mutating func popState() -> State { states.removeLast() }

    private func emptyScalar(_ mark: Mark) -> Event { Event(kind: .scalar, start: mark) }

    // MARK: Events

    private mutating func nextEvent() throws(Failure) -> Event {
        switch state {
        case .streamStart:
            let token = try peekToken()
            guard token.kind == .streamStart else { throw failure("did not find expected <stream-start>", token.start) }
            state = .implicitDocumentStart
            skipToken()
            return Event(kind: .streamStart, start: token.start)
        case .implicitDocumentStart: return try documentStart(implicit: true)
        case .documentStart: return try documentStart(implicit: false)
        case .documentContent:
            let token = try peekToken()
            if [.versionDirective, .tagDirective, .documentStart, .documentEnd, .streamEnd].contains(token.kind) {
                state = popState()
                return emptyScalar(token.start)
            }
            return try node(block: true, indentlessSequence: false)
        case .documentEnd:
            let token = try peekToken()
            if token.kind == .documentEnd { skipToken() }
            state = .documentStart
            var event = Event(kind: .documentEnd, start: token.start)
            setEventComments(&event)
            if !event.head.isEmpty && event.foot.isEmpty {
                event.foot = event.head
                event.head = []
            }
            return event
        case .blockNode: return try node(block: true, indentlessSequence: false)
        case .blockNodeOrIndentlessSequence: return try node(block: true, indentlessSequence: true)
        case .flowNode: return try node(block: false, indentlessSequence: false)
        case .blockSequenceFirstEntry: return try blockSequenceEntry(first: true)
        case .blockSequenceEntry: return try blockSequenceEntry(first: false)
        case .indentlessSequenceEntry: return try indentlessSequenceEntry()
        case .blockMappingFirstKey: return try blockMappingKey(first: true)
        case .blockMappingKey: return try blockMappingKey(first: false)
        case .blockMappingValue: return try blockMappingValue()
        case .flowSequenceFirstEntry: return try flowSequenceEntry(first: true)
        case .flowSequenceEntry: return try flowSequenceEntry(first: false)
        case .flowSequenceEntryMappingKey:
            let token = try peekToken()
            if ![.value, .flowEntry, .flowSequenceEnd].contains(token.kind) {
                states.append(.flowSequenceEntryMappingValue)
                return try node(block: false, indentlessSequence: false)
            }
            skipToken()
            state = .flowSequenceEntryMappingValue
            return emptyScalar(token.end)
        case .flowSequenceEntryMappingValue:
            var token = try peekToken()
            if token.kind == .value {
                skipToken()
                token = try peekToken()
                if token.kind != .flowEntry && token.kind != .flowSequenceEnd {
                    states.append(.flowSequenceEntryMappingEnd)
                    return try node(block: false, indentlessSequence: false)
                }
            }
            state = .flowSequenceEntryMappingEnd
            return emptyScalar(token.start)
        case .flowSequenceEntryMappingEnd:
            let token = try peekToken()
            state = .flowSequenceEntry
            return Event(kind: .mappingEnd, start: token.start)
        case .flowMappingFirstKey: return try flowMappingKey(first: true)
        case .flowMappingKey: return try flowMappingKey(first: false)
        case .flowMappingValue: return try flowMappingValue(empty: false)
        case .flowMappingEmptyValue: return try flowMappingValue(empty: true)
        case .end: return Event(kind: .streamEnd, start: Mark())
        }
    }

    private mutating func documentStart(implicit: Bool) throws(Failure) -> Event {
        var token = try peekToken()
        if !implicit {
            while token.kind == .documentEnd {
                skipToken()
                token = try peekToken()
            }
        }
        if implicit && ![.versionDirective, .tagDirective, .documentStart, .streamEnd].contains(token.kind) {
            states.append(.documentEnd)
            state = .blockNode
            // The head comment before the last blank line is the document's; the rest goes on.
            var documentHead: [UInt8] = []
            if !headComment.isEmpty {
                var i = headComment.count - 1
                while i > 0 {
                    if headComment[i] == 0x0A {
                        if i == headComment.count - 1 {
                            documentHead = Array(headComment[..<i])
                            headComment = Array(headComment[(i + 1)...])
                            break
                        } else if headComment[i - 1] == 0x0A {
                            documentHead = Array(headComment[..<(i - 1)])
                            headComment = Array(headComment[(i + 1)...])
                            break
                        }
                    }
                    i -= 1
                }
            }
            return Event(kind: .documentStart, start: token.start, head: documentHead)
        }
        if token.kind != .streamEnd {
            while token.kind == .versionDirective || token.kind == .tagDirective {
                skipToken()
                token = try peekToken()
            }
            guard token.kind == .documentStart else { throw failure("did not find expected <document start>", token.start) }
            states.append(.documentEnd)
            state = .documentContent
            skipToken()
            return Event(kind: .documentStart, start: token.start)
        }
        state = .end
        skipToken()
        return Event(kind: .streamEnd, start: token.start)
    }

    private mutating func node(block: Bool, indentlessSequence: Bool) throws(Failure) -> Event {
        var token = try peekToken()
        if token.kind == .alias {
            state = popState()
            var event = Event(kind: .alias, start: token.start, anchor: token.name)
            setEventComments(&event)
            skipToken()
            return event
        }
        let start = token.start
        var anchor: [UInt8] = []
        var tagged = false
        for _ in 0..<2 where token.kind == .anchor || token.kind == .tag {
            if token.kind == .anchor { anchor = token.name } else { tagged = true }
            skipToken()
            token = try peekToken()
        }
        if indentlessSequence && token.kind == .blockEntry {
            state = .indentlessSequenceEntry
            return Event(kind: .sequenceStart, start: start, anchor: anchor)
        }
        switch token.kind {
        case .scalar:
            state = popState()
            var event = Event(kind: .scalar, start: start, anchor: anchor)
            setEventComments(&event)
            skipToken()
            return event
        case .flowSequenceStart, .flowMappingStart:
            let isSequence = token.kind == .flowSequenceStart
            state = isSequence ? .flowSequenceFirstEntry : .flowMappingFirstKey
            var event = Event(kind: isSequence ? .sequenceStart : .mappingStart, start: start, anchor: anchor, flow: true)
            setEventComments(&event)
            return event
        case .blockSequenceStart where block, .blockMappingStart where block:
            let isSequence = token.kind == .blockSequenceStart
            state = isSequence ? .blockSequenceFirstEntry : .blockMappingFirstKey
            var event = Event(kind: isSequence ? .sequenceStart : .mappingStart, start: start, anchor: anchor)
            if !stemComment.isEmpty {
                event.head = stemComment
                stemComment = []
            }
            return event
        default:
            if !anchor.isEmpty || tagged {
                state = popState()
                return Event(kind: .scalar, start: start, anchor: anchor)
            }
            throw failure("did not find expected node content", token.start)
        }
    }

    /// `yaml_parser_split_stem_comment`: under a sequence entry, the head comment gathered before
    /// the `-` belongs to the collection that follows, not to its first entry.
    private mutating func splitStemComment(_ stemLength: Int) throws(Failure) {
        guard stemLength > 0 else { return }
        let token = try peekToken()
        guard token.kind == .blockSequenceStart || token.kind == .blockMappingStart else { return }
        stemComment = Array(headComment[..<stemLength])
        headComment = headComment.count == stemLength ? [] : Array(headComment[(stemLength + 1)...])
    }

    private mutating func blockSequenceEntry(first: Bool) throws(Failure) -> Event {
        if first {
            _ = try peekToken()
            skipToken()
        }
        var token = try peekToken()
        if token.kind == .blockEntry {
            let mark = token.end
            let priorHeadLength = headComment.count
            skipToken()
            try splitStemComment(priorHeadLength)
            token = try peekToken()
            if token.kind != .blockEntry && token.kind != .blockEnd {
                states.append(.blockSequenceEntry)
                return try node(block: true, indentlessSequence: false)
            }
            state = .blockSequenceEntry
            return emptyScalar(mark)
        }
        guard token.kind == .blockEnd else { throw failure("did not find expected '-' indicator", token.start) }
        state = popState()
        skipToken()
        return Event(kind: .sequenceEnd, start: token.start)
    }

    private mutating func indentlessSequenceEntry() throws(Failure) -> Event {
        var token = try peekToken()
        if token.kind == .blockEntry {
            let mark = token.end
            let priorHeadLength = headComment.count
            skipToken()
            try splitStemComment(priorHeadLength)
            token = try peekToken()
            if ![.blockEntry, .key, .value, .blockEnd].contains(token.kind) {
                states.append(.indentlessSequenceEntry)
                return try node(block: true, indentlessSequence: false)
            }
            state = .indentlessSequenceEntry
            return emptyScalar(mark)
        }
        state = popState()
        return Event(kind: .sequenceEnd, start: token.start)
    }

    private mutating func blockMappingKey(first: Bool) throws(Failure) -> Event {
        if first {
            _ = try peekToken()
            skipToken()
        }
        var token = try peekToken()
        if !tailComment.isEmpty {
            // A tail comment left from the prior value is processed with it, not the next key.
            let event = Event(kind: .tailComment, start: token.start, foot: tailComment)
            tailComment = []
            return event
        }
        if token.kind == .key {
            let mark = token.end
            skipToken()
            token = try peekToken()
            if ![.key, .value, .blockEnd].contains(token.kind) {
                states.append(.blockMappingValue)
                return try node(block: true, indentlessSequence: true)
            }
            state = .blockMappingValue
            return emptyScalar(mark)
        }
        guard token.kind == .blockEnd else { throw failure("did not find expected key", token.start) }
        state = popState()
        var event = Event(kind: .mappingEnd, start: token.start)
        setEventComments(&event)
        skipToken()
        return event
    }

    private mutating func blockMappingValue() throws(Failure) -> Event {
        var token = try peekToken()
        if token.kind == .value {
            let mark = token.end
            skipToken()
            token = try peekToken()
            if ![.key, .value, .blockEnd].contains(token.kind) {
                states.append(.blockMappingKey)
                return try node(block: true, indentlessSequence: true)
            }
            state = .blockMappingKey
            return emptyScalar(mark)
        }
        state = .blockMappingKey
        return emptyScalar(token.start)
    }

    private mutating func flowSequenceEntry(first: Bool) throws(Failure) -> Event {
        if first {
            _ = try peekToken()
            skipToken()
        }
        var token = try peekToken()
        if token.kind != .flowSequenceEnd {
            if !first {
                guard token.kind == .flowEntry else { throw failure("did not find expected ',' or ']'", token.start) }
                skipToken()
                token = try peekToken()
            }
            if token.kind == .key {
                state = .flowSequenceEntryMappingKey
                skipToken()
                return Event(kind: .mappingStart, start: token.start, flow: true)
            } else if token.kind != .flowSequenceEnd {
                states.append(.flowSequenceEntry)
                return try node(block: false, indentlessSequence: false)
            }
        }
        state = popState()
        var event = Event(kind: .sequenceEnd, start: token.start)
        setEventComments(&event)
        skipToken()
        return event
    }

    private mutating func flowMappingKey(first: Bool) throws(Failure) -> Event {
        if first {
            _ = try peekToken()
            skipToken()
        }
        var token = try peekToken()
        if token.kind != .flowMappingEnd {
            if !first {
                guard token.kind == .flowEntry else { throw failure("did not find expected ',' or '}'", token.start) }
                skipToken()
                token = try peekToken()
            }
            if token.kind == .key {
                skipToken()
                token = try peekToken()
                if ![.value, .flowEntry, .flowMappingEnd].contains(token.kind) {
                    states.append(.flowMappingValue)
                    return try node(block: false, indentlessSequence: false)
                }
                state = .flowMappingValue
                return emptyScalar(token.start)
            } else if token.kind != .flowMappingEnd {
                states.append(.flowMappingEmptyValue)
                return try node(block: false, indentlessSequence: false)
            }
        }
        state = popState()
        var event = Event(kind: .mappingEnd, start: token.start)
        setEventComments(&event)
        skipToken()
        return event
    }

    private mutating func flowMappingValue(empty: Bool) throws(Failure) -> Event {
        var token = try peekToken()
        if empty {
            state = .flowMappingKey
            return emptyScalar(token.start)
        }
        if token.kind == .value {
            skipToken()
            token = try peekToken()
            if token.kind != .flowEntry && token.kind != .flowMappingEnd {
                states.append(.flowMappingKey)
                return try node(block: false, indentlessSequence: false)
            }
        }
        state = .flowMappingKey
        return emptyScalar(token.start)
    }

    // MARK: Nodes (go-yaml's decoder `parser`)

    private mutating func peek() throws(Failure) -> EventKind {
        if event == nil { event = try nextEvent() }
        return event!.kind
    }

    private mutating func expect(_ kind: EventKind) throws(Failure) {
        if event == nil { event = try nextEvent() }
        guard event!.kind == kind else { throw failure("expected \(kind) event but got \(event!.kind)", event!.start) }
        event = nil
    }

    private mutating func parse() throws(Failure) -> Node? {
        switch try peek() {
        case .scalar:
            let node = Node(kind: .scalar, event: event!)
            if !event!.anchor.isEmpty { anchors[event!.anchor] = node }
            try expect(.scalar)
            return node
        case .alias:
            let node = Node(kind: .alias, event: event!)
            node.alias = anchors[event!.anchor]
            try expect(.alias)
            return node
        case .mappingStart: return try mapping()
        case .sequenceStart: return try sequence()
        case .documentStart: return try document()
        case .streamEnd: return nil
        default: throw failure("unexpected \(event!.kind) event", event!.start)
        }
    }

    private mutating func child(of parent: Node) throws(Failure) -> Node {
        guard let node = try parse() else { throw Failure(message: "unexpected end of the stream", line: 0) }
        parent.content.append(node)
        return node
    }

    private mutating func document() throws(Failure) -> Node {
        let node = Node(kind: .document, event: event!)
        try expect(.documentStart)
        _ = try child(of: node)
        if try peek() == .documentEnd {
            node.foot = event!.foot
        }
        try expect(.documentEnd)
        return node
    }

    private mutating func sequence() throws(Failure) -> Node {
        let node = Node(kind: .sequence, event: event!)
        node.flow = event!.flow
        if !event!.anchor.isEmpty { anchors[event!.anchor] = node }
        try expect(.sequenceStart)
        while try peek() != .sequenceEnd {
            _ = try child(of: node)
        }
        node.line = event!.line
        node.foot = event!.foot
        try expect(.sequenceEnd)
        return node
    }

    private mutating func mapping() throws(Failure) -> Node {
        let node = Node(kind: .mapping, event: event!)
        node.flow = event!.flow
        if !event!.anchor.isEmpty { anchors[event!.anchor] = node }
        try expect(.mappingStart)
        while try peek() != .mappingEnd {
            let key = try child(of: node)
            if !node.flow && !key.foot.isEmpty && node.content.count > 2 {
                // A foot comment of the prior value, when dedented.
                node.content[node.content.count - 3].foot = key.foot
                key.foot = []
            }
            let value = try child(of: node)
            if key.foot.isEmpty && !value.foot.isEmpty {
                key.foot = value.foot
                value.foot = []
            }
            if try peek() == .tailComment {
                if key.foot.isEmpty { key.foot = event!.foot }
                try expect(.tailComment)
            }
        }
        node.line = event!.line
        node.foot = event!.foot
        if !node.flow && !node.foot.isEmpty && node.content.count > 1 {
            node.content[node.content.count - 2].foot = node.foot
            node.foot = []
        }
        try expect(.mappingEnd)
        return node
    }
}
