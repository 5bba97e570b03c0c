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
        /// The Go type go-yaml decoded the key into when it is not a string (`int` for `1:`,
        /// `<nil>` for `null:`, `[]interface {}` for a sequence key); `key` is then its text.
        /// sops's walk refuses such a key ("Tree contains a non-string key"), encrypting and
        /// decrypting alike.
        public var nonStringKey: String?

        public init(key: String, value: TreeNode, position: Position?, nonStringKey: String? = nil) {
            self.key = key
            self.value = value
            self.position = position
            self.nonStringKey = nonStringKey
        }

        public static func comment(_ text: String, position: Position? = nil) -> Entry {
            Entry(key: "", value: .comment(text), position: position)
        }

        public var isComment: Bool { if case .comment = value { true } else { false } }

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            Array(lhs.key.utf8) == Array(rhs.key.utf8) && lhs.value == rhs.value && lhs.position == rhs.position && lhs.nonStringKey == rhs.nonStringKey
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
    /// Which of go-yaml's checks run, as sops reads a file. Before its store reads every
    /// document through `yaml.Node` (where a value that go-yaml cannot decode is silently nil and
    /// a repeated key is kept twice), sops decodes the *first* document whole: `sops encrypt`
    /// into a `map[string]interface{}` (go-yaml's duplicate keys, tag errors, complex keys, a
    /// first document that is not a mapping are refused), `sops -d` into its metadata struct
    /// (the top-level keys only). Observed with sops 3.11: `b: !!int x` in a second document
    /// encrypts as `b: null`; in the first it is "cannot decode !!str `x` as a !!int".
    public enum Mode: Sendable {
        case encrypt
        case decrypt
    }

    /// Nesting deeper than this is refused: no real manifest comes close, and recursion on a
    /// hostile file must stay bounded.
    public static let maximumDepth = 200

    /// Reads every document of a YAML (or JSON) file as go-yaml v3 gives it to sops: values,
    /// styles and positions from libyaml (`YAMLComposer`), comments placed as sops places them
    /// (`YAMLComments`), aliases expanded under go-yaml's excessive-aliasing rule.
    /// A document that is empty or null (`---` alone, `--- ~`) is the empty mapping, as sops's
    /// store makes it (`appendYamlNodeToTreeBranch`: "A empty document with a document start
    /// marker without comments results in null"), so sops writes it as `{}`. `mode`: which of
    /// go-yaml's checks sops runs before its store reads the file (see `Mode`).
    public static func documents(_ text: String, mode: Mode = .decrypt) throws(TreeError) -> [TreeNode] {
        try YAMLComments.attach(to: try YAMLComposer.documents(text, mode: mode), in: text).map { document in
            if case .scalar(let scalar) = document, scalar.isNull { return .mapping([], scalar.position) }
            return document
        }
    }
}
