import Foundation

/// A document as SOPS sees it: mappings keep their order, scalars keep their text, style and
/// position (for annotations at the value's line).
public indirect enum TreeNode: Sendable, Equatable {
    public struct Position: Sendable, Equatable {
        public var line: Int
        public var column: Int
    }

    public struct Scalar: Sendable, Equatable {
        public var text: String
        /// Quoted or block scalars are strings whatever they say; plain ones are typed as
        /// go-yaml v3 types them (`GoValue.resolvePlain`).
        public var isPlain: Bool
        public var position: Position?
        /// The Go value sops holds, when it is not what the text resolves to (a decrypted value,
        /// typed by its `type:`).
        public var typed: GoValue?
        /// The value as sops holds it.
        public var value: GoValue { typed ?? (isPlain ? GoValue.resolvePlain(text) : .string(text)) }
        /// A YAML `null` (or an absent value).
        public var isNull: Bool { value == .null }

        public init(_ text: String, isPlain: Bool = false, position: Position? = nil, typed: GoValue? = nil) {
            self.text = text
            self.isPlain = isPlain
            self.position = position
            self.typed = typed
        }

        public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
            Array(lhs.text.utf8) == Array(rhs.text.utf8) && lhs.isPlain == rhs.isPlain && lhs.position == rhs.position && lhs.typed == rhs.typed
        }
    }

    /// A mapping entry, or a comment between entries (sops's `TreeItem` with a `Comment` key):
    /// then `value` is `.comment` and `key` is empty.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: TreeNode
        public var position: Position?

        public init(key: String, value: TreeNode, position: Position?) {
            self.key = key
            self.value = value
            self.position = position
        }

        public static func comment(_ text: String, position: Position? = nil) -> Entry {
            Entry(key: "", value: .comment(text), position: position)
        }

        public var isComment: Bool { if case .comment = value { true } else { false } }

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            Array(lhs.key.utf8) == Array(rhs.key.utf8) && lhs.value == rhs.value && lhs.position == rhs.position
        }
    }

    case scalar(Scalar)
    case mapping([Entry], Position?)
    case sequence([TreeNode], Position?)
    /// A comment line as sops keeps it (its text after `#`), in a mapping or a sequence.
    case comment(String)

    public var position: Position? {
        switch self {
        case .scalar(let scalar): scalar.position
        case .mapping(_, let position), .sequence(_, let position): position
        case .comment: nil
        }
    }

    /// The value under `key` (compared as bytes, as Go compares map keys).
    public subscript(key: String) -> TreeNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        let bytes = Array(key.utf8)
        return entries.first { !$0.isComment && Array($0.key.utf8) == bytes }?.value
    }

    public var scalarText: String? {
        guard case .scalar(let scalar) = self else { return nil }
        return scalar.text
    }

    /// The tree without its comments.
    public var withoutComments: TreeNode {
        switch self {
        case .mapping(let entries, let position):
            .mapping(entries.filter { !$0.isComment }.map { Entry(key: $0.key, value: $0.value.withoutComments, position: $0.position) }, position)
        case .sequence(let items, let position):
            .sequence(items.filter { if case .comment = $0 { false } else { true } }.map(\.withoutComments), position)
        default: self
        }
    }
}

/// Why a file could not be read as a tree.
public struct TreeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var line: Int?
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

public enum TreeReader {
    /// Nesting deeper than this is refused: no real manifest comes close, and recursion on a
    /// hostile file must stay bounded.
    public static let maximumDepth = 200

    /// Reads every document of a YAML (or JSON) file as go-yaml v3 gives it to sops: values,
    /// styles and positions from libyaml (`YAMLComposer`), comments placed as sops places them
    /// (`YAMLComments`), aliases expanded under go-yaml's excessive-aliasing rule.
    public static func documents(_ text: String) throws(TreeError) -> [TreeNode] {
        try YAMLComments.attach(to: try YAMLComposer.documents(text), in: text)
    }
}
