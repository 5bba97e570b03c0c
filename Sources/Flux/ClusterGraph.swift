import Actions
import Foundation
import Kube

/// The picture of a cluster's reconciliation: its sources, Kustomizations (with dependsOn edges)
/// and what each applied (HelmReleases and the other waited kinds), every node in a state with
/// its time to ready. Drawn as a Mermaid flowchart for the step summary and as an indented tree,
/// like `flux tree`, for a terminal.
public struct ClusterGraph: Sendable {
    /// Objects drawn as nodes of their own however large the graph (the one a failed wait
    /// blames: tester t15 F2, a timed-out release folded into "261 HelmReleases waiting").
    public var kept: Set<ObjectReference> = []
    public enum State: String, Sendable {
        case ready, failed, waiting
        case notReached = "not reached"
        /// `spec.suspend: true`: its controller does not reconcile it (tester t10 F5).
        case suspended
    }

    public struct Node: Sendable {
        public var reference: ObjectReference
        public var state: State = .notReached
        public var elapsed: Duration?
        public var revision: String?
        public var message: String?
        public var location: SourceLocation?
        /// The Kustomization whose build applies it.
        public var parent: ObjectReference?
        /// `spec.sourceRef` (Kustomizations), the chart's source (HelmReleases).
        public var source: ObjectReference?
        public var dependsOn: [ObjectReference] = []
        /// Why a node stays not reached when the run got past it (e.g. no inventory lists it).
        public var note: String?
    }

    public private(set) var nodes: [Node] = []
    private var positions: [ObjectReference: Int] = [:]

    public init() {}

    /// What a wait on `tree` covers before anything runs: every node not reached.
    public static func plan(_ tree: ClusterTree, scope: WaitScope) -> ClusterGraph {
        var graph = ClusterGraph()
        let written = WrittenObjects(tree)
        let repository = tree.gitRepository
        graph.add(Node(reference: ObjectReference(repository.json), location: WrittenObjects.location(repository)))
        for kustomization in tree.kustomizations {
            let reference = ObjectReference(kustomization)
            let source = kustomization.sourceReference
            if graph.positions[source] == nil {
                graph.add(Node(reference: source, location: written.object(source).flatMap(WrittenObjects.location), parent: written.parent(of: source)))
            }
            graph.add(Node(
                reference: reference, location: kustomization.location, parent: written.parent(of: reference), source: source,
                dependsOn: WrittenObjects.dependsOn(kustomization.object.json, namespace: kustomization.id.namespace, kind: reference)))
        }
        for kustomization in tree.kustomizations {
            for object in tree.objects[kustomization.id] ?? [] {
                let reference = WrittenObjects.reference(object, in: kustomization)
                guard scope.covers(reference), graph.positions[reference] == nil else { continue }
                graph.add(Node(
                    reference: reference, location: WrittenObjects.location(object), parent: ObjectReference(kustomization),
                    source: Self.chartSource(object.json, namespace: reference.namespace),
                    dependsOn: WrittenObjects.dependsOn(object.json, namespace: reference.namespace, kind: reference)))
            }
        }
        return graph
    }

    /// A HelmRelease's chart source: `spec.chart.spec.sourceRef` (HelmRepository, GitRepository,
    /// Bucket) or `spec.chartRef` (OCIRepository, HelmChart); namespace defaulting to its own.
    static func chartSource(_ json: JSONValue, namespace: String) -> ObjectReference? {
        guard json["kind"]?.string == "HelmRelease" else { return nil }
        guard let ref = json["spec", "chart", "spec", "sourceRef"] ?? json["spec", "chartRef"], let kind = ref["kind"]?.string, let name = ref["name"]?.string else {
            return nil
        }
        return ObjectReference(group: "source.toolkit.fluxcd.io", kind: kind, namespace: ref["namespace"]?.string ?? namespace, name: name)
    }

    private mutating func add(_ node: Node) {
        guard positions[node.reference] == nil else { return }
        positions[node.reference] = nodes.count
        nodes.append(node)
    }

    /// Takes what a wait saw: states, times, revisions, messages; objects the plan did not know
    /// (found only in an inventory) are added under the Kustomization that applied them.
    public mutating func update(_ rows: [ReconciliationWaiter.Row]) {
        for row in rows {
            if positions[row.reference] == nil {
                add(Node(
                    reference: row.reference, location: row.location, parent: row.parent,
                    source: row.live.flatMap { Self.chartSource($0, namespace: row.reference.namespace) },
                    dependsOn: WrittenObjects.dependsOn(row.live, namespace: row.reference.namespace, kind: row.reference)))
            }
            guard let position = positions[row.reference] else { continue }
            var node = nodes[position]
            switch row.readiness {
            case .ready: node.state = .ready; node.message = nil
            case .failed(let reason, let message): node.state = .failed; node.message = "\(reason): \(message)"
            case .pending(let reason, let message):
                node.state = row.live == nil ? .notReached : reason == Readiness.suspendedReason ? .suspended : .waiting
                node.message = [reason, message].filter { !$0.isEmpty }.joined(separator: ": ")
            }
            node.elapsed = row.elapsed
            node.revision = row.revision ?? node.revision
            if node.location == nil { node.location = row.location }
            nodes[position] = node
        }
    }

    /// Marks a node (e.g. the branch's GitRepository, waited for on its own). `location`: where
    /// a failed node links instead of its first line (the line a check failed at).
    public mutating func mark(
        _ reference: ObjectReference, _ state: State, elapsed: Duration? = nil, revision: String? = nil, message: String? = nil, location: SourceLocation? = nil
    ) {
        guard let position = positions[reference] else { return }
        if let location { nodes[position].location = location }
        nodes[position].state = state
        nodes[position].elapsed = elapsed ?? nodes[position].elapsed
        nodes[position].revision = revision ?? nodes[position].revision
        nodes[position].message = message
    }

    /// Says why a node was not reached although the run got past it.
    public mutating func note(_ reference: ObjectReference, _ text: String) {
        guard let position = positions[reference] else { return }
        nodes[position].note = text
    }

    public func node(_ reference: ObjectReference) -> Node? { positions[reference].map { nodes[$0] } }

    // MARK: Mermaid

    /// A node id Mermaid accepts whatever the name: kind initials, then every byte outside
    /// `[A-Za-z0-9]` written as `_XX` (so `-`, `.`, `/` cannot end an id or start an edge).
    public static func mermaidID(_ reference: ObjectReference) -> String {
        var id = ""
        for byte in "\(reference.kind)/\(reference.namespace)/\(reference.name)".utf8 {
            if (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) {
                id.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                id += "_" + String(format: "%02X", byte)
            }
        }
        return id
    }

    /// Label text inside `["…"]`: quotes, angle brackets and ampersands as Mermaid's entity
    /// codes, so no name or message can close the label, open HTML, or be read as an HTML entity
    /// (Mermaid renders labels as HTML: a branch `x;&amp` would show as `x;&`).
    static func mermaidText(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "#amp;"
            case "\"": out += "#quot;"
            case "<": out += "#lt;"
            case ">": out += "#gt;"
            case "#": out += "#35;"
            case "\n", "\r": out += " "
            default: out.append(character)
            }
        }
        return out
    }

    static func label(_ node: Node) -> String {
        var lines = ["\(node.reference.kind)", node.reference.namespace.isEmpty ? node.reference.name : "\(node.reference.namespace)/\(node.reference.name)"]
        var detail: [String] = []
        if let revision = node.revision { detail.append(ClusterGraph.shortRevision(revision)) }
        switch node.state {
        case .ready: detail.append(node.elapsed.map { "ready in \(Reporter.format($0))" } ?? "ready")
        case .failed: detail.append("failed")
        case .waiting: detail.append("waiting")
        case .suspended: detail.append("suspended")
        case .notReached: detail.append(node.note.map { "not reached: \($0)" } ?? "not reached")
        }
        lines.append(detail.joined(separator: " · "))
        return lines.map(mermaidText).joined(separator: "<br/>")
    }

    /// The flowchart: sources on the left, Kustomizations with their dependsOn edges (dotted,
    /// labelled `dependsOn`), what each applies under it; classes by state; failed nodes link to
    /// where they are written (`link` gives the URL, nil for none).
    ///
    /// GitHub renders a Mermaid block only up to 50,000 characters (mermaid's `maxTextSize`); a
    /// larger fleet (tester t10 F7: 200 HelmReleases) would show an error instead of a graph. So
    /// when the full graph is larger, what a Kustomization applies is drawn as one node per kind
    /// and state ("180 HelmReleases · ready"), first only the ready ones, then all; failed and
    /// waiting objects keep their own node while that fits.
    public static let mermaidLimit = 50_000

    /// A kind's plural as a label says it: `GitRepositories`, `HelmReleases` (tester t16 F9).
    static func plural(_ kind: String) -> String {
        if kind.hasSuffix("y"), let before = kind.dropLast().last, !"aeiou".contains(before) { return kind.dropLast() + "ies" }
        return kind.hasSuffix("s") ? kind + "es" : kind + "s"
    }
    /// Mermaid's `maxEdges` (500 by default, a secure setting a diagram cannot raise): GitHub
    /// refuses a flowchart with more ("Edge limit exceeded"), whatever its size (tester t13 F2).
    public static let mermaidEdgeLimit = 500

    public func mermaid(link: (SourceLocation) -> String? = { _ in nil }) -> String {
        var text = ""
        for grouping in [Set<State>(), [.ready], [.ready, .notReached, .suspended], [.ready, .notReached, .suspended, .waiting, .failed]] {
            text = mermaid(link: link, grouping: grouping)
            if text.utf8.count <= Self.mermaidLimit && Self.edgeCount(text) <= Self.mermaidEdgeLimit { return text }
        }
        // Still too large (hundreds of Kustomizations, which are never grouped; tester t15 F6):
        // GitHub would show an error box, so one node says so instead.
        let kustomizations = nodes.filter { $0.reference.kind == "Kustomization" }.count
        return """
            flowchart LR
              tooLarge["\(nodes.count) objects (\(kustomizations) Kustomizations) and \(Self.edgeCount(text)) edges even grouped:<br/>more than GitHub draws (50,000 characters, 500 edges).<br/>The tree is in the log, every object in the table below."]

            """
    }

    /// The edges of a flowchart as `mermaid` writes them (one per line).
    static func edgeCount(_ text: String) -> Int {
        text.split(separator: "\n").filter { $0.contains(" --> ") || $0.contains(" .-> ") }.count
    }

    /// The flowchart with the leaves (objects a Kustomization applies that nothing else hangs
    /// from) in a state of `grouping` drawn as one node per parent, kind and state.
    func mermaid(link: (SourceLocation) -> String?, grouping: Set<State>) -> String {
        var lines = ["flowchart LR"]
        let hung = Set(nodes.flatMap { node in [node.source, node.parent].compactMap { $0 } + node.dependsOn })
        func grouped(_ node: Node) -> Bool {
            grouping.contains(node.state) && node.parent != nil && node.reference.kind != "Kustomization" && !hung.contains(node.reference)
                && !kept.contains(node.reference)
        }
        var groups: [(id: String, parent: ObjectReference, kind: String, state: State, count: Int)] = []
        var groupIndex: [String: Int] = [:]
        for node in nodes where grouped(node) {
            let id = "G_\(Self.mermaidID(node.parent!))_\(node.reference.kind)_\(node.state == .notReached ? "notReached" : node.state.rawValue)"
            if let index = groupIndex[id] { groups[index].count += 1 } else {
                groupIndex[id] = groups.count
                groups.append((id, node.parent!, node.reference.kind, node.state, 1))
            }
        }
        let drawn = nodes.filter { !grouped($0) }
        let drawnReferences = Set(drawn.map(\.reference))
        for node in drawn {
            lines.append("  \(Self.mermaidID(node.reference))[\"\(Self.label(node))\"]")
        }
        for group in groups {
            lines.append("  \(group.id)[\"\(group.count) \(group.count == 1 ? group.kind : Self.plural(group.kind))<br/>\(group.state.rawValue)\"]")
            lines.append("  \(Self.mermaidID(group.parent)) --> \(group.id)")
        }
        for node in drawn {
            let id = Self.mermaidID(node.reference)
            if let source = node.source, positions[source] != nil {
                lines.append("  \(Self.mermaidID(source)) --> \(id)")
            }
            // What a Kustomization applies hangs under it, child Kustomizations too (tester t13
            // F3: the tree nests them so, and a missing child is its parent's doing).
            if let parent = node.parent, positions[parent] != nil, parent != node.reference {
                lines.append("  \(Self.mermaidID(parent)) --> \(id)")
            }
            // Drawn in the order Flux reconciles, from the dependency to its dependent, so
            // labelled as read that way (tester t13 F4: "a dependsOn b" read backwards).
            for dependency in node.dependsOn where positions[dependency] != nil && drawnReferences.contains(dependency) {
                lines.append("  \(Self.mermaidID(dependency)) -. needed by .-> \(id)")
            }
        }
        lines.append("  classDef ready fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332")
        lines.append("  classDef failed fill:#ffe3e3,stroke:#c92a2a,color:#7a1010")
        lines.append("  classDef waiting fill:#fff3bf,stroke:#e67700,color:#5c3d00")
        lines.append("  classDef notReached fill:#f1f3f5,stroke:#868e96,color:#495057,stroke-dasharray:4 3")
        lines.append("  classDef suspended fill:#e7f5ff,stroke:#1c7ed6,color:#1c3d5a,stroke-dasharray:2 2")
        for state in [State.ready, .failed, .waiting, .notReached, .suspended] {
            let ids = drawn.filter { $0.state == state }.map { Self.mermaidID($0.reference) } + groups.filter { $0.state == state }.map(\.id)
            if !ids.isEmpty { lines.append("  class \(ids.joined(separator: ",")) \(state == .notReached ? "notReached" : state.rawValue)") }
        }
        for node in drawn where node.state == .failed {
            if let location = node.location, let url = link(location), !url.contains("\"") {
                lines.append("  click \(Self.mermaidID(node.reference)) href \"\(url)\" \"\(Self.mermaidText(location.description))\" _blank")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Terminal

    /// An indented tree like `flux tree`: each Kustomization with what it applies, from the
    /// branch's source down; a mark for the state, the revision and time to ready.
    public func tree() -> String {
        var children: [ObjectReference: [Node]] = [:]
        var roots: [Node] = []
        for node in nodes {
            if let parent = node.parent, positions[parent] != nil, parent != node.reference {
                children[parent, default: []].append(node)
            } else if let source = node.source, positions[source] != nil, node.reference.kind == "Kustomization" {
                children[source, default: []].append(node)
            } else {
                roots.append(node)
            }
        }
        var out = ""
        var visited: Set<ObjectReference> = []
        func line(_ node: Node) -> String {
            let mark = switch node.state {
            case .ready: "✓"
            case .failed: "✗"
            case .waiting: "…"
            case .suspended: "⏸"
            case .notReached: "○"
            }
            var text = "\(mark) \(node.reference)"
            if let revision = node.revision { text += " \(ClusterGraph.shortRevision(revision))" }
            if let elapsed = node.elapsed, node.state == .ready { text += " (\(Reporter.format(elapsed)))" }
            if node.state == .failed || node.state == .waiting || node.state == .suspended, let message = node.message, !message.isEmpty { text += " — \(message)" }
            if node.state == .notReached { text += node.note.map { " (not reached: \($0))" } ?? " (not reached)" }
            return text
        }
        func walk(_ node: Node, prefix: String, last: Bool, top: Bool) {
            guard visited.insert(node.reference).inserted else { return }
            out += (top ? "" : prefix + (last ? "└── " : "├── ")) + line(node) + "\n"
            let kids = children[node.reference] ?? []
            for (index, child) in kids.enumerated() {
                walk(child, prefix: top ? "" : prefix + (last ? "    " : "│   "), last: index == kids.count - 1, top: false)
            }
        }
        for root in roots { walk(root, prefix: "", last: true, top: true) }
        return out
    }

    /// `branch@sha1:<12 hex>` for a Git revision, `sha256:<12 hex>` for a digest; other text as is.
    public static func shortRevision(_ revision: String) -> String {
        guard let range = revision.range(of: "sha1:") ?? revision.range(of: "sha256:") else { return revision }
        let digest = revision[range.upperBound...]
        guard digest.count > 12, digest.allSatisfy(\.isHexDigit) else { return revision }
        return String(revision[..<range.upperBound]) + digest.prefix(12)
    }
}
