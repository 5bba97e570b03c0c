import Foundation
import Kube
import Yams

/// YAML alias bombs ("billion laughs") among the files a kustomize build reads, found before
/// kustomize runs.
///
/// Why before: kustomize reads every resource and patch through kyaml and inflates its aliases
/// (api resmap `resWrangler.DeAnchor` → kyaml `RNode.DeAnchor`, which copies each alias's target
/// with no bound). go-yaml v3 bounds aliasing only when it decodes into Go values ("document
/// contains excessive aliasing"), a path kyaml's node reading does not take. So a document of nine
/// anchors, each aliasing the previous one nine times, keeps `kubectl kustomize` busy (and growing)
/// for minutes. kustomize-controller builds in-process with the same kustomize (fluxcd/pkg
/// kustomize, one build at a time behind its build mutex) and the build takes no deadline, so that
/// Kustomization never becomes Ready (and later builds queue behind it). fluxci follows the outcome
/// (the build fails; the Kustomization applies nothing) but bounds the expansion as its own reader
/// does (`Manifest.maximumNodes` nodes per document, an alias counted at every use), and reports
/// the document at the file and line where the expansion is written, instead of waiting.
enum AliasExpansion {
    /// A document that expands beyond the bound.
    struct Bomb: Equatable, Sendable {
        var file: String
        /// The line of the outermost value that alone expands beyond the bound (the document's
        /// first line when only their sum does).
        var line: Int
        /// How many nodes the document expands to (saturated at `Int.max`).
        var nodes: Int
    }

    /// The first document of `text` that expands to more than `limit` nodes: the line of its
    /// outermost written value that alone does, and the document's count. Anchors and aliases
    /// are read from the parser (Yams keeps each anchored node once; an alias is that node again),
    /// never from the text; a text with nothing shaped like an alias is not parsed.
    static func bomb(in data: Data, limit: Int = Manifest.maximumNodes) -> (line: Int, nodes: Int)? {
        guard mayHoldAlias(data), var documents = try? Yams.compose_all(yaml: String(decoding: data, as: UTF8.self), .basic) else {
            return nil
        }
        // The parser owns the anchors (nodes hold them weakly): it lives while the documents are measured.
        return withExtendedLifetime(documents) {
            while let document = documents.next() {
                var measure = Measure(limit: limit)
                let (nodes, site) = measure.size(document, line: document.mark?.line ?? 1, depth: 0)
                if nodes > limit { return (site ?? document.mark?.line ?? 1, nodes) }
            }
            return nil
        }
    }

    /// Whether the bytes hold a `*` where a YAML token may start (at a line's start, or after a
    /// space, a tab, `[`, `{` or `,`) followed by a character an anchor's name may start with:
    /// without one there is no alias (Flux's gotk-components.yaml, 600 kB, has none, and is not
    /// parsed for this).
    static func mayHoldAlias(_ data: Data) -> Bool {
        let star = UInt8(ascii: "*")
        let starts: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ",")]
        let ends: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ",")]
        return data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            var index = bytes.startIndex
            while index < bytes.endIndex {
                if bytes[index] == star, index == bytes.startIndex || starts.contains(bytes[index - 1]),
                    index + 1 < bytes.endIndex, !ends.contains(bytes[index + 1])
                {
                    return true
                }
                index += 1
            }
            return false
        }
    }

    /// Expanded sizes, each anchored node measured once (a later occurrence of the same anchor
    /// is an alias use and counts its size again).
    private struct Measure {
        let limit: Int
        var sizes: [ObjectIdentifier: Int] = [:]

        /// The node's expanded count (the node, and the values below it: mapping keys do not
        /// count, as in `Manifest`), and the line of the outermost written value below it (or it)
        /// that alone exceeds the limit. `line` is where the node is written (its key's line for
        /// a mapping value).
        mutating func size(_ node: Node, line: Int, depth: Int) -> (Int, Int?) {
            if let anchor = node.anchor, let known = sizes[ObjectIdentifier(anchor)] { return (known, nil) }
            var total = 1
            var site: Int?
            /// `at`: the line where the child is written, when known even for an alias use (a
            /// mapping value's key); an aliased sequence item carries its anchor's line, so the
            /// sequence's own line stands for it.
            func add(_ child: Node, at written: Int?) {
                let use = child.anchor.map { sizes[ObjectIdentifier($0)] != nil } ?? false
                let (count, inner) = size(child, line: written ?? child.mark?.line ?? line, depth: depth + 1)
                let (sum, overflow) = total.addingReportingOverflow(count)
                total = overflow ? Int.max : sum
                if site == nil, count > limit, let found = inner ?? (use ? written : nil) { site = found }
            }
            // Deeper than `Manifest` reads (it refuses such a document itself).
            if depth < 200 {
                switch node {
                case .mapping(let mapping):
                    for (key, value) in mapping { add(value, at: key.mark?.line) }
                case .sequence(let sequence):
                    for item in sequence { add(item, at: nil) }
                default: break
                }
            }
            if let anchor = node.anchor { sizes[ObjectIdentifier(anchor)] = total }
            return (total, site ?? (total > limit ? line : nil))
        }
    }

    /// `387,420,499`: digits grouped by threes, whatever the locale.
    static func count(_ value: Int) -> String {
        var digits = Array(String(value))
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }

    /// The repository files of a plan, each measured once however many builds read it.
    final class Files: @unchecked Sendable {
        private let lock = NSLock()
        private var measured: [String: Bomb?] = [:]

        /// The bomb in a repository file (`file` relative to `root`, the artifact's), nil when it
        /// has none or cannot be read.
        func bomb(_ file: String, root: URL) -> Bomb? {
            if let known = lock.withLock({ measured[file] }) { return known }
            let found = FileManager.default.contents(atPath: root.path + "/" + file).flatMap { AliasExpansion.bomb(in: $0) }
                .map { Bomb(file: file, line: $0.line, nodes: $0.nodes) }
            lock.withLock { measured[file] = .some(found) }
            return found
        }
    }
}
