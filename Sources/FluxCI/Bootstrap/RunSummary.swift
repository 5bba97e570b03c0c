import Actions
import Flux
import Foundation

/// The head and the picture of a bootstrap or e2e step summary, on every path (issue 15): the
/// verdict first — passed, or which object failed, at which revision, in how long — then the
/// graph, then the tables. A run that stops before the wait (the tree checks, the SOPS preflight,
/// the cluster, the apply) still draws the graph of what it would wait for, every node not
/// reached and the objects its errors point at marked failed, linked to where they are written.
final class RunSummary: @unchecked Sendable {
    private let lock = NSLock()
    private var waitVerdict: (passed: Bool, text: String)?
    private var tree: ClusterTree?
    private var testedRevision: Revision?
    private var graphDrawn = false
    /// Where "in how long" counts from: the command's start.
    let start = ContinuousClock.now

    /// The wait's own verdict, once the run got that far.
    var verdict: (passed: Bool, text: String)? { lock.withLock { waitVerdict } }
    func set(passed: Bool, _ text: String) { lock.withLock { waitVerdict = (passed, text) } }

    /// The revision under test, once resolved (and again when `--push` made a new commit).
    var revision: Revision? { lock.withLock { testedRevision } }
    func record(revision: Revision) { lock.withLock { testedRevision = revision } }

    /// The tree as read, also when its checks failed: the graph of a failed run is drawn from it.
    func record(tree: ClusterTree) { lock.withLock { self.tree = tree } }

    /// What the wait saw so far (its graph and rows, what it was waiting for when the last
    /// phase began): the summary of a run a signal cancels (tester t13 F9).
    private var waitProgress: (graph: ClusterGraph, rows: [ReconciliationWaiter.Row], waiting: String)?
    var progress: (graph: ClusterGraph, rows: [ReconciliationWaiter.Row], waiting: String)? { lock.withLock { waitProgress } }
    func record(progress graph: ClusterGraph, rows: [ReconciliationWaiter.Row], waiting: String) { lock.withLock { waitProgress = (graph, rows, waiting) } }

    /// The rows of the wait under way (set once the wait starts).
    private var inFlight: ReconciliationWaiter.InFlight?
    func record(inFlight: ReconciliationWaiter.InFlight) { lock.withLock { self.inFlight = inFlight } }
    var inFlightRows: [ReconciliationWaiter.Row] { (lock.withLock { inFlight })?.rows() ?? [] }

    private var finished = false
    /// True for the first caller only: the summary's head is written once.
    func claimFinish() -> Bool {
        lock.withLock {
            defer { finished = true }
            return !finished
        }
    }

    var isGraphDrawn: Bool { lock.withLock { graphDrawn } }
    func markGraphDrawn() { lock.withLock { graphDrawn = true } }

    /// What the run's errors point at, for a run that stopped before the wait.
    struct Cause {
        /// The objects of the graph the errors point at, each with the first error about it.
        var failed: [(reference: ObjectReference, error: Annotation)]
        var errors: [Annotation]
    }

    /// Each error (with a place) is laid on an object of the graph: the object written in its
    /// file at or above its line; else every Kustomization whose build reaches that file (a
    /// SOPS file, a base, a patch).
    func cause(_ graph: ClusterGraph, errors: [Annotation]) -> Cause {
        let tree = lock.withLock { self.tree }
        var failed: [(reference: ObjectReference, error: Annotation)] = []
        var seen: Set<ObjectReference> = []
        for error in errors {
            guard let location = error.location else { continue }
            var references: [ObjectReference] = []
            let written = graph.nodes.filter { node in
                guard let place = node.location, place.file == location.file else { return false }
                return (place.line ?? 1) <= (location.line ?? Int.max)
            }
            if let closest = written.max(by: { ($0.location?.line ?? 1) < ($1.location?.line ?? 1) }) {
                references = [closest.reference]
            } else if let tree {
                references = tree.kustomizations.filter { k in
                    (tree.files[k.id] ?? []).contains(location.file) || (tree.sopsFiles[k.id] ?? []).contains(location.file)
                }.map(ObjectReference.init)
            }
            for reference in references where seen.insert(reference).inserted { failed.append((reference, error)) }
        }
        return Cause(failed: failed, errors: errors)
    }

    /// The graph a run waits for, drawn where the wait did not draw one: nodes not reached, those
    /// the run's errors point at failed.
    func plannedGraph(scope: WaitScope, errors: [Annotation]) -> (graph: ClusterGraph, cause: Cause)? {
        guard let tree = lock.withLock({ self.tree }) else { return nil }
        var graph = ClusterGraph.plan(tree, scope: scope)
        let cause = cause(graph, errors: errors)
        for (reference, error) in cause.failed {
            graph.mark(reference, .failed, message: [error.title, error.message].compactMap { $0 }.joined(separator: ": "), location: error.location)
        }
        return (graph, cause)
    }

    /// What failed, for the verdict: the first object an error points at (its error's title and
    /// line), else the first error with a place, else the error that ended the run.
    static func failure(_ cause: Cause?, ended error: Error?, link: (SourceLocation) -> String) -> String {
        let errors = cause?.errors ?? []
        let more = errors.count > 1 ? " (and \(errors.count - 1) more problem\(errors.count == 2 ? "" : "s"))" : ""
        if let (reference, first) = cause?.failed.first, let location = first.location {
            return "\(reference): \(first.title ?? cut(first.message)) (\(link(location)))\(more)"
        }
        if let first = errors.first(where: { $0.location != nil }), let location = first.location {
            return "\(first.title ?? cut(first.message)) (\(link(location)))\(more)"
        }
        if let annotation = error as? Annotation {
            return annotation.title ?? cut(annotation.message)
        }
        return cut(error.map { "\($0)" } ?? "unknown error")
    }
}

extension RunSummary {
    /// A message for a heading: its first line, cut at a word after 160 characters.
    static func cut(_ message: String) -> String {
        let line = message.split(separator: "\n").first.map(String.init) ?? message
        guard line.count > 160 else { return line }
        let cut = line.prefix(160)
        return String(cut.lastIndex(of: " ").map { cut[..<$0] } ?? cut) + "…"
    }
}

extension BootstrapPipeline {
    /// Draws the graph of what a run waits for unless the wait drew one (a plan, or a run that
    /// stopped earlier); returns what the run's errors point at.
    @discardableResult
    func drawGraphIfMissing(scope: WaitScope) -> RunSummary.Cause? {
        // A wait under way when a signal came: what it saw so far, and its table.
        if !summary.isGraphDrawn, var progress = summary.progress, let revision = summary.revision {
            // With what the phase under way has seen: ready, waiting, or not reached (t15 F7, F1).
            let seen = summary.inFlightRows
            progress.graph.update(seen)
            summarize(progress.graph, rows: Self.merge(progress.rows, seen), revision: revision)
        }
        let errors = reporter.annotations.filter { $0.level == .error }
        guard let (graph, cause) = summary.plannedGraph(scope: scope, errors: errors) else { return nil }
        if !summary.isGraphDrawn { publish(graph, heading: "What a run waits for (not reached)") }
        return cause
    }

    /// The verdict's text for a run that ended with `error` (nil: it passed) — the wait's own
    /// when it got that far. `plan`: the run stopped before any cluster by choice.
    func verdictText(plan: Bool, error: Error?, cause: RunSummary.Cause?, elapsed: Duration) -> (passed: Bool, text: String) {
        if let verdict = summary.verdict { return verdict }
        if let interrupted = error as? Interrupted {
            let at = summary.revision.map { " at \(ClusterGraph.shortRevision($0.description))" } ?? ""
            return (false, "\(interrupted)\(summary.progress.map { " while waiting for \($0.waiting)" } ?? "")\(at), after \(Reporter.format(elapsed))")
        }
        guard let error else {
            let at = summary.revision.map { " at \(ClusterGraph.shortRevision($0.description))" } ?? ""
            return (true, plan ? "Plan OK\(at) in \(Reporter.format(elapsed)) (no cluster was touched)" : "Passed\(at) in \(Reporter.format(elapsed))")
        }
        return (false, "Failed: " + failureText(error: error, cause: cause, elapsed: elapsed))
    }

    /// `<what failed> at <revision>, after <time>`: what failed as `RunSummary.failure` says.
    func failureText(error: Error?, cause: RunSummary.Cause?, elapsed: Duration) -> String {
        let at = summary.revision.map { " at \(ClusterGraph.shortRevision($0.description))" } ?? ""
        return "\(RunSummary.failure(cause, ended: error, link: reporter.sourceLink))\(at), after \(Reporter.format(elapsed))"
    }

    /// The summary's head and graph for `fluxci bootstrap`, on every path.
    func finishSummary(_ command: String, plan: Bool, scope: WaitScope, error: Error?) {
        guard summary.claimFinish() else { return }
        let cause = drawGraphIfMissing(scope: scope)
        let (passed, text) = verdictText(plan: plan, error: error, cause: cause, elapsed: ContinuousClock.now - summary.start)
        var head = StepSummary()
        head.heading("\(passed ? "✅" : "❌") \(command): \(text)", level: StepSummary.sectionLevel)
        reporter.summary(.verdict) { $0.append(head) }
    }
}
