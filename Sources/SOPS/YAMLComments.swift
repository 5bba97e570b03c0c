/// Comments of a YAML file, placed in the tree where sops places them.
///
/// sops keeps a comment as an item of the mapping or sequence it stands in. Where is decided in
/// two steps, both followed here: go-yaml v3 attaches every comment to a node as its head, line
/// or foot comment (`YAMLCommentScanner`, `YAMLCommentParser`: ports of `scannerc.go`,
/// `parserc.go` and the decoder's node composer), and sops turns the nodes' comments into
/// items (getsops/sops 3.11 `stores/yaml/store.go`: `appendYamlNodeToTreeBranch`,
/// `nodeToTreeValue`, `appendCommentToMap`, `appendCommentToList`): in a mapping, a key's head
/// and line comments (and a scalar value's) go before the pair and its feet after it; in a
/// sequence, an item's head and line comments before it and its foot after it; a collection's
/// own head and line comments open it and its foot closes it when it is a mapping value, and
/// the document's comments open and close the top-level mapping. Each comment line is one item
/// (its text after `#`); empty lines between comments are dropped.
///
/// libyaml (`YAMLComposer`) reads the values; the comment tree is matched to them node by node
/// (both parse the same token stream).
enum YAMLComments {
    static func attach(to documents: [TreeNode], in text: String) throws(TreeError) -> [TreeNode] {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "#")) else { return documents }
        let nodes: [YAMLCommentParser.Node]
        do {
            nodes = try YAMLCommentParser.documents(bytes)
        } catch {
            throw TreeError(message: "not valid YAML: \(error.message) (go-yaml's scanner, reading comments)", line: error.line)
        }
        guard nodes.count == documents.count else {
            throw TreeError(message: "comments could not be matched to the documents (\(nodes.count) documents with comments, \(documents.count) without)", line: nil)
        }
        var result: [TreeNode] = []
        for (node, document) in zip(nodes, documents) {
            result.append(try self.document(node, document))
        }
        return result
    }

    /// sops's `appendYamlNodeToTreeBranch` for a document node.
    static func document(_ node: YAMLCommentParser.Node, _ tree: TreeNode) throws(TreeError) -> TreeNode {
        var leading: [TreeNode.Entry] = []
        append(node.head, to: &leading)
        append(node.line, to: &leading)
        var trailing: [TreeNode.Entry] = []
        guard let content = node.content.first else { return tree }
        var result = tree
        switch (content.kind, tree) {
        case (.mapping, .mapping(let entries, let position)):
            result = .mapping(try mapping(content, entries, handled: false), position)
        case (.alias, .mapping(let entries, let position)):
            if let target = content.alias, target.kind == .mapping {
                result = .mapping(try mapping(target, entries, handled: false), position)
            }
        case (.scalar, .scalar(let scalar)) where scalar.isNull:
            // An empty document: sops keeps its comments as a mapping of comments.
            append(content.head, to: &leading)
            append(content.line, to: &leading)
            // (sops returns early for a null document: the scalar's own foot is not kept.)
            append(node.foot, to: &trailing)
            let comments = leading + trailing
            return comments.isEmpty ? tree : .mapping(comments, scalar.position)
        default:
            return tree
        }
        append(node.foot, to: &trailing)
        guard case .mapping(let entries, let position) = result else { return result }
        return .mapping(leading + entries + trailing, position)
    }

    /// sops's `appendYamlNodeToTreeBranch` for a mapping node (`handled`: its own comments were
    /// taken by the caller).
    static func mapping(_ node: YAMLCommentParser.Node, _ entries: [TreeNode.Entry], handled: Bool) throws(TreeError) -> [TreeNode.Entry] {
        guard node.content.count == entries.count * 2 else { throw mismatch(node) }
        var out: [TreeNode.Entry] = []
        if !handled {
            append(node.head, to: &out)
            append(node.line, to: &out)
        }
        for (index, entry) in entries.enumerated() {
            let key = node.content[2 * index], value = node.content[2 * index + 1]
            append(key.head, to: &out)
            append(key.line, to: &out)
            let scalarValue = value.kind == .scalar || value.kind == .alias
            if scalarValue {
                append(value.head, to: &out)
                append(value.line, to: &out)
            }
            var entry = entry
            entry.value = try self.value(value, entry.value, handled: scalarValue)
            out.append(entry)
            if scalarValue { append(value.foot, to: &out) }
            append(key.foot, to: &out)
        }
        if !handled { append(node.foot, to: &out) }
        return out
    }

    /// sops's `nodeToTreeValue`.
    static func value(_ node: YAMLCommentParser.Node, _ tree: TreeNode, handled: Bool) throws(TreeError) -> TreeNode {
        switch (node.kind, tree) {
        case (.sequence, .sequence(let items, let position)):
            guard node.content.count == items.count else { throw mismatch(node) }
            var out: [TreeNode] = []
            func add(_ text: [UInt8]) {
                for line in lines(text) { out.append(.comment(line)) }
            }
            if !handled {
                add(node.head)
                add(node.line)
            }
            for (item, treeItem) in zip(node.content, items) {
                add(item.head)
                add(item.line)
                out.append(try value(item, treeItem, handled: true))
                add(item.foot)
            }
            if !handled { add(node.foot) }
            return .sequence(out, position)
        case (.mapping, .mapping(let entries, let position)):
            return .mapping(try mapping(node, entries, handled: handled), position)
        case (.alias, _):
            guard let target = node.alias else { return tree }
            return try value(target, tree, handled: false)
        case (.scalar, _):
            return tree
        default:
            throw mismatch(node)
        }
    }

    /// sops's `appendCommentToMap`/`appendCommentToList`: one item per non-empty line, without
    /// its first character (the `#`).
    static func lines(_ text: [UInt8]) -> [String] {
        text.split(separator: 0x0A, omittingEmptySubsequences: true).map { String(decoding: $0.dropFirst(), as: UTF8.self) }
    }

    static func append(_ text: [UInt8], to entries: inout [TreeNode.Entry]) {
        for line in lines(text) { entries.append(.comment(line)) }
    }

    static func mismatch(_ node: YAMLCommentParser.Node) -> TreeError {
        TreeError(message: "comments could not be matched to the values (go-yaml's and libyaml's parse differ here)", line: node.mark.line + 1)
    }
}
