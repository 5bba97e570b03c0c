import Foundation
import Yams

/// A document as SOPS sees it: mappings keep their order, scalars keep their text, style and
/// position (for annotations at the value's line).
public indirect enum TreeNode: Sendable, Equatable {
    public struct Position: Sendable, Equatable {
        public var line: Int
        public var column: Int
    }

    public struct Scalar: Sendable, Equatable {
        public var text: String
        /// Quoted or block scalars are strings whatever they say; plain ones are typed by the
        /// YAML 1.2 core schema.
        public var isPlain: Bool
        public var position: Position?
        /// A YAML `null` (or an absent value).
        public var isNull: Bool { isPlain && (text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL") }

        public init(_ text: String, isPlain: Bool = false, position: Position? = nil) {
            self.text = text
            self.isPlain = isPlain
            self.position = position
        }
    }

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: TreeNode
        public var position: Position?
    }

    case scalar(Scalar)
    case mapping([Entry], Position?)
    case sequence([TreeNode], Position?)

    public var position: Position? {
        switch self {
        case .scalar(let scalar): scalar.position
        case .mapping(_, let position), .sequence(_, let position): position
        }
    }

    public subscript(key: String) -> TreeNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    public var scalarText: String? {
        guard case .scalar(let scalar) = self else { return nil }
        return scalar.text
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

    /// YAML anchors (`&name`) make aliases possible, and aliases make "billion laughs" bombs
    /// possible (the parser expands them while composing): a file with an anchor is refused.
    nonisolated(unsafe) static let anchor = /(?m)(^|[ \t\[{,:-])&[A-Za-z0-9_.\/-]+([ \t]|$)/

    public static func refuseAnchors(_ text: String) throws(TreeError) {
        guard let match = text.firstMatch(of: anchor) else { return }
        let line = text[..<match.range.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
        throw TreeError(message: "YAML anchors and aliases are not supported (they allow documents that expand without bound)", line: line)
    }

    /// Reads every document of a YAML (or JSON) file.
    public static func documents(_ text: String) throws(TreeError) -> [TreeNode] {
        try refuseAnchors(text)
        var result: [TreeNode] = []
        do {
            // compose_all stops quietly at a parse error; its `error` says so.
            var nodes = try Yams.compose_all(yaml: text, .basic)
            while let node = nodes.next() { result.append(try convert(node, depth: 0)) }
            if let error = nodes.error { throw error }
        } catch let error as TreeError {
            throw error
        } catch let error as YamlError {
            throw TreeError(message: "not valid YAML: \(Self.describe(error))", line: Self.line(error))
        } catch {
            throw TreeError(message: "not valid YAML: \(error)", line: nil)
        }
        return result
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        case .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        // Yams's own description of these two quotes the input (the whole mapping, or the line),
        // which is the plaintext of a secret: name the key and the line only.
        case .duplicatedKeysInMapping(let duplicates, _):
            return "the key \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")) appears twice in one mapping"
        case .reader(let problem, _, _, _):
            return problem
        default:
            return "\(error)"
        }
    }

    private static func line(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        case .duplicatedKeysInMapping(_, let context): context.mark.line
        default: nil
        }
    }

    private static func position(_ mark: Mark?) -> TreeNode.Position? {
        mark.map { TreeNode.Position(line: $0.line, column: $0.column) }
    }

    static func convert(_ node: Node, depth: Int) throws(TreeError) -> TreeNode {
        guard depth < maximumDepth else {
            throw TreeError(message: "nesting deeper than \(maximumDepth) levels", line: node.mark?.line)
        }
        switch node {
        case .scalar(let scalar):
            return .scalar(.init(scalar.string, isPlain: scalar.style == .plain, position: position(scalar.mark)))
        case .mapping(let mapping):
            var entries: [TreeNode.Entry] = []
            var seen: Set<String> = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw TreeError(message: "a mapping key is not a string", line: key.mark?.line)
                }
                guard seen.insert(keyScalar.string).inserted else {
                    throw TreeError(message: "the key '\(keyScalar.string)' appears twice in one mapping", line: keyScalar.mark?.line)
                }
                entries.append(.init(key: keyScalar.string, value: try convert(value, depth: depth + 1), position: position(keyScalar.mark)))
            }
            return .mapping(entries, position(mapping.mark))
        case .sequence(let sequence):
            var items: [TreeNode] = []
            for item in sequence { items.append(try convert(item, depth: depth + 1)) }
            return .sequence(items, position(sequence.mark))
        case .alias(let alias):
            throw TreeError(message: "YAML aliases are not supported in SOPS files", line: alias.mark?.line)
        }
    }
}
