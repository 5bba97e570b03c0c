/// sops's one traversal of a document (getsops/sops `sops.go` `walkBranch`, `walkSlice`,
/// `walkValue`), shared by encryption and decryption: a visitor decides what each leaf and each
/// comment becomes; the walk keeps sops's comments stack (a comment joins its level's list, a
/// value clears it) and puts back what the visitor returns where sops's walk puts it.
protocol TreeLeafVisitor {
    associatedtype Failure: Error

    /// A non-null or null scalar at `path` (mapping keys only: sequence indices do not count).
    mutating func leaf(_ scalar: TreeNode.Scalar, path: [String], comments: [[String]]) throws(Failure) -> TreeNode

    /// What sops's cipher callback returns for a comment: the comment again, or a value.
    mutating func comment(_ text: String, path: [String], comments: [[String]]) throws(Failure) -> TreeWalk.CommentResult

    /// The error for a key go-yaml did not decode into a string (`Entry.nonStringKey`).
    func nonStringKey(_ entry: TreeNode.Entry, path: [String]) -> Failure
}

extension TreeNode.Entry {
    /// sops's walk (`sops.go` `walkBranch`) on a key that is not a Go string: "Tree contains a
    /// non-string key (type int): 1. Only string keys are supported" (sops 3.11 exits 23 when
    /// encrypting, 25 when decrypting).
    var nonStringKeyMessage: String {
        "the key \(key.prefix(80)) is not a string to go-yaml (type \(nonStringKey ?? "")): sops supports only string keys and refuses it (\"Tree contains a non-string key\"); quote it to make it one, e.g. \"\(key.prefix(80))\":"
    }
}

enum TreeWalk {
    /// The callback's answer for a comment. `walkBranch` turns a returned string back into a
    /// comment key (`in[i].Key = Comment{Value: comment}`), so in a mapping a value is a comment
    /// holding its text; `walkSlice` stores whatever comes back (`in[i] = newV`), so in a sequence
    /// a value replaces the comment as an item: sops's encrypted comment `- ENC[…,type:comment]`,
    /// and the empty string that the AES cipher returns for an empty comment (`isEmpty` in
    /// `aes/cipher.go`, both ways), which `sops -d` then prints as `- ""`.
    enum CommentResult {
        case comment(String)
        case value(TreeNode.Scalar)

        var text: String {
            switch self {
            case .comment(let text): text
            case .value(let scalar): scalar.text
            }
        }
    }

    static func walk<Visitor: TreeLeafVisitor>(_ node: TreeNode, path: [String], comments: [[String]], _ visitor: inout Visitor) throws(Visitor.Failure) -> TreeNode {
        switch node {
        case .mapping(let entries, let position):
            var stack = comments + [[]]
            var out: [TreeNode.Entry] = []
            out.reserveCapacity(entries.count)
            for entry in entries {
                if case .comment(let text) = entry.value {
                    stack[stack.count - 1].append(text)
                    out.append(.comment(try visitor.comment(text, path: path, comments: stack).text, position: entry.position))
                    continue
                }
                if entry.nonStringKey != nil { throw visitor.nonStringKey(entry, path: path) }
                var entry = entry
                entry.value = try walk(entry.value, path: path + [entry.key], comments: stack, &visitor)
                out.append(entry)
                stack[stack.count - 1] = []
            }
            return .mapping(out, position)
        case .sequence(let items, let position):
            var stack = comments + [[]]
            var out: [TreeNode] = []
            out.reserveCapacity(items.count)
            for item in items {
                if case .comment(let text) = item {
                    stack[stack.count - 1].append(text)
                    switch try visitor.comment(text, path: path, comments: stack) {
                    case .comment(let text): out.append(.comment(text))
                    case .value(let scalar): out.append(.scalar(scalar))
                    }
                    continue
                }
                out.append(try walk(item, path: path, comments: stack, &visitor))
                stack[stack.count - 1] = []
            }
            return .sequence(out, position)
        case .comment(let text):
            return .comment(try visitor.comment(text, path: path, comments: comments).text)
        case .scalar(let scalar):
            return try visitor.leaf(scalar, path: path, comments: comments)
        }
    }
}
