import Actions
import Foundation
import Kube

/// Waits, by watching, until the GitRepository has the branch's revision and every
/// Kustomization of the cluster has applied it, then until every Flux object (and, if asked,
/// workload) they applied is ready; or says which one failed, where it is written, and why.
///
/// Each phase holds one watch per kind across all namespaces (never one per object, never a
/// poll), so 200 HelmReleases cost one HelmRelease watch.
public struct ReconciliationWaiter: Sendable {
    /// One object waited for, as far as it got.
    public struct Row: Sendable {
        public var reference: ObjectReference
        /// The Kustomization that applied it (nil for the root and its source).
        public var parent: ObjectReference?
        public var location: SourceLocation?
        public var readiness: Readiness
        /// Applied revision, artifact revision or chart version.
        public var revision: String?
        /// From the start of its phase to ready.
        public var elapsed: Duration?
        /// The object as last seen (nil if never).
        public var live: JSONValue?

        public init(
            reference: ObjectReference, parent: ObjectReference?, location: SourceLocation?, readiness: Readiness, revision: String?, elapsed: Duration?,
            live: JSONValue?
        ) {
            self.reference = reference
            self.parent = parent
            self.location = location
            self.readiness = readiness
            self.revision = revision
            self.elapsed = elapsed
            self.live = live
        }
    }

    public struct Failure: Error, Sendable {
        public var annotation: Annotation
        public var rows: [Row]
        /// The objects whose events are worth collecting.
        public var failed: [ObjectReference]

        public init(annotation: Annotation, rows: [Row], failed: [ObjectReference]) {
            self.annotation = annotation
            self.rows = rows
            self.failed = failed
        }
    }

    /// What to wait for: an object, where it is written, what it waits on.
    public struct Target: Sendable {
        public enum Rule: Sendable {
            /// A Kustomization of the branch's GitRepository: applied the branch's revision.
            case branchKustomization
            /// A Kustomization sourced elsewhere: applied its source's current revision.
            case sourcedKustomization(source: ObjectReference)
            /// By its kind's rule (`Readiness.of`).
            case kind
        }

        public var reference: ObjectReference
        /// The API version to watch its kind with (others are tried when it is not served).
        public var apiVersion: String
        public var location: SourceLocation?
        public var parent: ObjectReference?
        public var dependsOn: [ObjectReference]
        public var rule: Rule
        /// As written (`./kubernetes/apps`) for a Kustomization's messages.
        public var writtenPath: String?
        /// Fields a kustomize patch writes, by dotted path, at the patch (ClusterTree.patchedFields).
        public var patched: [String: SourceLocation] = [:]
        /// Where `spec.suspend: true` is set, when it is (ClusterTree.suspendLocations).
        public var suspendLocation: SourceLocation?
        /// The source whose artifact writes it, when that is not the branch's repository (its
        /// location is then the Kustomization that applies it).
        public var writtenIn: ObjectReference?
        /// The source it takes its artifact from (a Kustomization sourced elsewhere, a
        /// HelmRelease's chart source): a suspended source never gets one on a new cluster.
        public var source: ObjectReference?

        public init(
            reference: ObjectReference, apiVersion: String, location: SourceLocation?, parent: ObjectReference? = nil, dependsOn: [ObjectReference] = [],
            rule: Rule = .kind, writtenPath: String? = nil
        ) {
            self.reference = reference
            self.apiVersion = apiVersion
            self.location = location
            self.parent = parent
            self.dependsOn = dependsOn
            self.rule = rule
            self.writtenPath = writtenPath
        }
    }

    public let client: KubeClient
    public let revision: Revision
    public let timeout: Duration
    public let perKustomizationTimeout: Duration
    public let reporter: Reporter
    /// The wait under way, for a summary written while it runs (a signal; tester t15 F7).
    public let inFlight = InFlight()

    /// The rows of the wait under way ([] between waits): what it has seen so far.
    public final class InFlight: @unchecked Sendable {
        private let lock = NSLock()
        private var set: WaitSet?
        func start(_ set: WaitSet) { lock.withLock { self.set = set } }
        func end() { lock.withLock { set = nil } }
        public func rows() -> [Row] { (lock.withLock { set })?.rows() ?? [] }
    }

    public init(client: KubeClient, revision: Revision, timeout: Duration, perKustomizationTimeout: Duration, reporter: Reporter) {
        self.client = client
        self.revision = revision
        self.timeout = timeout
        self.perKustomizationTimeout = perKustomizationTimeout
        self.reporter = reporter
    }

    public func waitForSource(_ repository: KubeObject) async throws {
        let resource = try await client.resource(apiVersion: repository.apiVersion, kind: "GitRepository")
        let revision = self.revision
        let last = Latest<Readiness>()
        // A fetch failure source-controller retries is held for a bounded grace (tester t10 F1).
        let retries = RetriedFailures()
        do {
            _ = try await client.observe(resource, namespace: repository.namespace, fieldSelector: "metadata.name=\(repository.name)", timeout: timeout) { event -> Bool? in
                let readiness = retries.judge(
                    ObjectReference(event.object), event.object, Readiness.gitRepository(event.object, revision: revision), at: .now)
                last.set(readiness)
                switch readiness {
                case .ready: return true
                case .pending: return nil
                case .failed(let reason, let message):
                    throw Annotation.error(
                        "The GitRepository \(repository.namespace ?? "")/\(repository.name) failed to fetch \(revision): \(message)", title: "Source failed: \(reason)",
                        fix: "Check the repository URL and credentials (GITHUB_TOKEN for a private repository).",
                        at: repository.file.map { SourceLocation(file: $0, line: repository.line) })
                }
            }
        } catch let error as KubeError {
            if case .timeout = error {
                let detail: String = if case .pending(_, let message)? = last.value { message } else { "no status" }
                throw Annotation.error(
                    "The GitRepository \(repository.namespace ?? "")/\(repository.name) did not get \(revision) within \(timeout): \(detail)", title: "Source timed out",
                    fix: "Check that source-controller runs and can reach the repository; raise --timeout if it is only slow.",
                    at: repository.file.map { SourceLocation(file: $0, line: repository.line) })
            }
            throw error
        }
    }

    /// Watches every Kustomization at once (and the sources of those sourced elsewhere); each is
    /// reported as it becomes ready, dependencies first as Flux orders them. Returns every row,
    /// the Kustomizations' last seen objects (their inventories) included.
    public func waitForKustomizations(_ kustomizations: [FluxKustomization], tree: ClusterTree, since start: ContinuousClock.Instant = .now) async throws -> [Row] {
        let branchSource = ObjectReference(tree.gitRepository.json)
        var targets: [Target] = []
        var sources: [ObjectReference: Target] = [:]
        let written = WrittenObjects(tree)
        for kustomization in kustomizations {
            let source = kustomization.sourceReference
            let rule: Target.Rule = source == branchSource ? .branchKustomization : .sourcedKustomization(source: source)
            var target = Target(
                reference: ObjectReference(kustomization), apiVersion: kustomization.object.apiVersion, location: kustomization.location,
                parent: written.parent(of: ObjectReference(kustomization)), dependsOn: kustomization.dependsOn.map {
                    ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: $0.namespace, name: $0.name)
                }, rule: rule, writtenPath: kustomization.writtenPath)
            target.source = source
            targets.append(target)
            if source != branchSource, sources[source] == nil {
                let object = written.object(source)
                var target = Target(
                    reference: source, apiVersion: object?.apiVersion ?? "source.toolkit.fluxcd.io/v1", location: object.flatMap(WrittenObjects.location),
                    parent: written.parent(of: source))
                target.patched = tree.patchedFields[source] ?? [:]
                target.suspendLocation = tree.suspendLocations[source]
                sources[source] = target
            }
        }
        do {
            return try await wait(targets + sources.values.sorted { $0.reference < $1.reference }, what: "Kustomization", since: start)
        } catch let failure as Failure {
            // spec.wait / healthChecks: the object it waited for is where the failure is (t10 F2).
            throw await blameHealthCheck(failure, written: written)
        }
    }

    /// Watches every object of `targets` (one watch per kind) until all are ready by their
    /// kind's rule, one fails, or the timeout passes. Times to ready count from `start`.
    public func wait(_ targets: [Target], what: String = "object", since start: ContinuousClock.Instant = .now) async throws -> [Row] {
        guard !targets.isEmpty else { return [] }
        let state = WaitSet(targets, revision: revision, perObjectTimeout: perKustomizationTimeout, reporter: reporter, start: start)
        inFlight.start(state)
        defer { inFlight.end() }
        let kinds = Self.kinds(targets)
        var resources: [APIResource] = []
        for (key, versions) in kinds.sorted(by: { ($0.key.group, $0.key.kind) < ($1.key.group, $1.key.kind) }) {
            resources.append(try await resource(key, versions: versions))
        }
        // helm-controller reports a chart it cannot get only as HelmChartNotReady (a waiting
        // reason) on the HelmRelease; the HelmChart it made says whether source-controller gave
        // up (Stalled). One watch of HelmCharts, when not a target kind already, tells the two apart.
        let chartKey = FluxKinds.Key(group: "source.toolkit.fluxcd.io", kind: "HelmChart")
        if kinds[chartKey] == nil, targets.contains(where: { FluxKinds.Key($0.reference) == FluxKinds.Key(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease") }),
            let charts = try? await resource(chartKey, versions: [])
        {
            resources.append(charts)
        }
        let client = self.client, timeout = self.timeout
        do {
            // A watch returns only once every target is ready: the others are not needed, and are
            // cancelled without being waited for (`race`), so the wait ends as soon as it decided.
            defer { state.close() }
            // A failure the controller retries is held for a bounded grace (`RetriedFailures`); a
            // retry interval can pass without an event, so its end is checked every second too.
            let ticker: @Sendable () async throws -> Void = {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    try state.tick()
                }
            }
            try await race(resources.map { resource -> @Sendable () async throws -> Void in
                {
                    _ = try await client.observe(resource, namespace: nil, timeout: timeout) { event -> Bool? in
                        try state.observe(event) ? true : nil
                    }
                }
            } + [ticker])
            return state.rows()
        } catch var failure as Failure {
            await settle(state, resources)
            failure.rows = state.rows()
            logFailed(failure)
            throw failure
        } catch let error as KubeError {
            guard case .timeout = error else {
                // The API server went away or refused the watch: the rows keep what the wait
                // saw, so the summary does not call what it saw applied "not reached" (t16 F8).
                throw Failure(
                    annotation: .error("The wait for \(targets.count) \(what)s ended: \(error)", title: error.title, fix: error.fix),
                    rows: state.rows(), failed: [])
            }
            // A timeout because the API server stopped answering (the watches retry a refused
            // connection until the timeout) is that, not the fleet's fault: the last state seen is
            // kept, no object is blamed (tester t17 F1).
            guard await settle(state, resources) else {
                throw Failure(
                    annotation: .error(
                        "The API server stopped answering during the wait for \(targets.count) \(what)s (no watch or list reached it before --timeout \(timeout) ran out): the tables and the graph show the last state seen, and nothing of the repository is blamed.",
                        title: "API server unreachable", fix: "Check that the cluster is running (`fluxci cluster status`) and that the kubeconfig points at it."),
                    rows: state.rows(), failed: [])
            }
            let failure = state.timedOut(after: timeout, what: what == "Kustomization" ? "Not every Kustomization applied \(revision)" : "Not every \(what) became ready")
            logFailed(failure)
            throw failure
        }
    }

    /// The ✗ line of the object that ended the wait, in the wait's own log group (tester t15
    /// F12): a reader who opens the group sees what failed there, the annotation after it.
    private func logFailed(_ failure: Failure) {
        guard let blamed = failure.failed.first else { return }
        reporter.log("✗ \(blamed): \(failure.annotation.title ?? "failed") (the error below says where and why)")
    }

    /// Once the wait has ended (a failure, the timeout): every target as the cluster has it now,
    /// one list of each kind, so that the summary does not show an object as waiting because its
    /// kind's watch was a moment behind the one that failed.
    /// Bounded (`settleBound`): an API server that went away (its client retries a refused
    /// connection for up to 30 s per request) must not hold the run past its timeout (tester
    /// t15 F8); what the watches saw is kept then.
    /// Returns whether the API server answered at all.
    @discardableResult
    private func settle(_ state: WaitSet, _ resources: [APIResource]) async -> Bool {
        let waiter = self
        let answered = Latest<Bool>()
        await within(Self.settleBound) {
            for resource in resources where await waiter.list(resource, into: state) { answered.set(true) }
        }
        return answered.value == true
    }

    /// Every object of `resource` (all namespaces) into `state`, recorded as seen, nothing
    /// decided; false when the API server did not answer.
    private func list(_ resource: APIResource, into state: WaitSet) async -> Bool {
        guard let list = try? await client.send(.GET, resource.path(namespace: nil)).json else { return false }
        for item in list["items"]?.array ?? [] { state.settle(resource.typed(item)) }
        return true
    }

    /// The kinds of `targets`, each with the API versions they are written in (first seen first).
    static func kinds(_ targets: [Target]) -> [FluxKinds.Key: [String]] {
        var kinds: [FluxKinds.Key: [String]] = [:]
        for target in targets {
            let key = FluxKinds.Key(target.reference)
            if !(kinds[key]?.contains(target.apiVersion) ?? false) { kinds[key, default: []].append(target.apiVersion) }
        }
        return kinds
    }

    /// One look at `targets` (a list of each kind, bounded like the look after a wait): their
    /// state now, for a run that ended before it waited for them (a failure in the Kustomization
    /// phase, tester t15 F12), so that a HelmRelease already Ready is drawn ready, not "not
    /// reached". Nothing is decided or logged; only objects found are returned, without a time
    /// to ready (nothing timed them).
    public func look(at targets: [Target]) async -> [Row] {
        guard !targets.isEmpty else { return [] }
        let state = WaitSet(targets, revision: revision, perObjectTimeout: perKustomizationTimeout, reporter: reporter, start: .now)
        let waiter = self, kinds = Self.kinds(targets)
        await within(Self.settleBound) {
            for (key, versions) in kinds {
                guard let resource = try? await waiter.resource(key, versions: versions) else { continue }
                _ = await waiter.list(resource, into: state)
            }
        }
        return state.rows().filter { $0.live != nil }.map { row in
            var row = row
            row.elapsed = nil
            return row
        }
    }

    /// How long the last look at the cluster after a wait may take.
    static let settleBound: Duration = .seconds(5)

    /// The kind's resource at the version the cluster prefers among those serving it, found by
    /// API discovery (`GET /apis`, as kube-apiserver lists each group's versions, preferred
    /// first): v2 for a HelmRelease where v2 is served, else v2beta2 or v2beta1, whatever version
    /// its manifest or inventory entry names (the API server converts). The versions written
    /// (`versions`) are asked only when discovery cannot tell.
    func resource(_ key: FluxKinds.Key, versions: [String]) async throws -> APIResource {
        do {
            return try await client.preferredResource(group: key.group, kind: key.kind)
        } catch {
            for apiVersion in versions {
                if let found = try? await client.resource(apiVersion: apiVersion, kind: key.kind) { return found }
            }
            throw error
        }
    }

    /// After the Kustomizations: every object their inventories list that `scope` covers, placed
    /// at the file and line where the repository writes it.
    public func waitForApplied(_ kustomizationRows: [Row], tree: ClusterTree, scope: WaitScope) async throws -> [Row] {
        let targets = Self.appliedTargets(kustomizationRows, tree: tree, scope: scope)
        return try await wait(targets, what: scope == .all ? "applied object" : "Flux object")
    }

    /// What `graph` draws under a ready Kustomization (the objects fluxci's build of the tree gives
    /// it) that `scope` covers but no Kustomization's `status.inventory` lists. kustomize-controller
    /// lists every object it applied (fluxcd/pkg ssa: each change set entry, skipped ones too), so
    /// on a real cluster such an object was not applied: fluxci's build and the controller's
    /// differ, or the Kustomization has no inventory. Nothing waited for it: it stays "not
    /// reached", and the caller says why.
    public static func notInInventory(_ rows: [Row], graph: ClusterGraph, scope: WaitScope) -> [(node: ClusterGraph.Node, parent: ObjectReference)] {
        var listed: Set<ObjectReference> = []
        var ready: Set<ObjectReference> = []
        for row in rows where row.reference.kind == "Kustomization" {
            listed.formUnion(InventoryEntry.entries(of: row.live ?? .null).map(\.reference))
            if row.readiness == .ready, row.live != nil { ready.insert(row.reference) }
        }
        let waited = Set(rows.map(\.reference))
        return graph.nodes.compactMap { node in
            guard let parent = node.parent, ready.contains(parent), node.reference.kind != "Kustomization", scope.covers(node.reference),
                !listed.contains(node.reference), !waited.contains(node.reference)
            else { return nil }
            return (node, parent)
        }
    }

    /// The objects of the Kustomizations' inventories that `scope` covers (those already waited
    /// for as Kustomizations or their sources left out).
    public static func appliedTargets(_ kustomizationRows: [Row], tree: ClusterTree, scope: WaitScope) -> [Target] {
        let written = WrittenObjects(tree)
        let known = Set(kustomizationRows.map(\.reference))
        var seen: Set<ObjectReference> = []
        var targets: [Target] = []
        for row in kustomizationRows where row.reference.kind == "Kustomization" {
            for entry in InventoryEntry.entries(of: row.live ?? .null) where scope.covers(entry.reference) {
                guard !known.contains(entry.reference), seen.insert(entry.reference).inserted else { continue }
                let object = written.object(entry.reference, in: row.reference)
                // An object this repository does not write (a Kustomization sourced elsewhere
                // applied it) is placed at that Kustomization, which is (t13 F8).
                let appliedBy = object == nil ? tree.kustomizations.first { ObjectReference($0) == row.reference } : nil
                var target = Target(
                    reference: entry.reference, apiVersion: entry.apiVersion, location: object.flatMap(WrittenObjects.location) ?? appliedBy?.location,
                    parent: row.reference, dependsOn: WrittenObjects.dependsOn(object?.json, namespace: entry.reference.namespace, kind: entry.reference))
                if let appliedBy, appliedBy.sourceReference != ObjectReference(tree.gitRepository.json) {
                    target.writtenIn = appliedBy.sourceReference
                }
                target.patched = tree.patchedFields[entry.reference] ?? [:]
                target.suspendLocation = tree.suspendLocations[entry.reference]
                target.source = object.flatMap { ClusterGraph.chartSource($0.json, namespace: entry.reference.namespace) }
                targets.append(target)
            }
        }
        return targets
    }
}

/// The objects the repository writes (ClusterTree.objects), found by reference: where each is
/// written and which Kustomization's build gives it.
struct WrittenObjects {
    private var byReference: [ObjectReference: (KubeObject, ObjectReference)] = [:]
    private var byName: [String: [(KubeObject, ObjectReference)]] = [:]

    init(_ tree: ClusterTree) {
        let kustomizations = Dictionary(tree.kustomizations.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (id, objects) in tree.objects.sorted(by: { $0.key.description < $1.key.description }) {
            guard let owner = kustomizations[id] else { continue }
            let ownerReference = ObjectReference(owner)
            for object in objects {
                let reference = Self.reference(object, in: owner)
                if byReference[reference] == nil { byReference[reference] = (object, ownerReference) }
                byName["\(reference.group)|\(reference.kind)|\(reference.name)", default: []].append((object, ownerReference))
            }
        }
        let system = ObjectReference(tree.gitRepository.json)
        if byReference[system] == nil { byReference[system] = (tree.gitRepository, system) }
    }

    /// An object's reference as applied by `owner`: without a namespace of its own it lands in
    /// the Kustomization's `spec.targetNamespace`, else in `default`.
    static func reference(_ object: KubeObject, in owner: FluxKustomization) -> ObjectReference {
        var reference = ObjectReference(object.json)
        if reference.namespace.isEmpty, !clusterScoped.contains(reference.kind) {
            reference.namespace = owner.object.json["spec", "targetNamespace"]?.string ?? "default"
        }
        return reference
    }

    static let clusterScoped: Set<String> = ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Node", "PersistentVolume", "StorageClass"]

    func object(_ reference: ObjectReference, in owner: ObjectReference? = nil) -> KubeObject? {
        if let found = byReference[reference] { return found.0 }
        let candidates = byName["\(reference.group)|\(reference.kind)|\(reference.name)"] ?? []
        return (candidates.first { $0.1 == owner } ?? (candidates.count == 1 ? candidates.first : nil))?.0
    }

    func parent(of reference: ObjectReference) -> ObjectReference? {
        guard let found = byReference[reference], found.1 != reference else { return nil }
        return found.1
    }

    static func location(_ object: KubeObject) -> SourceLocation? {
        object.file.map { SourceLocation(file: $0, line: object.line) }
    }

    /// `spec.dependsOn` of a HelmRelease or Kustomization (namespace defaulting to its own).
    static func dependsOn(_ json: JSONValue?, namespace: String, kind: ObjectReference) -> [ObjectReference] {
        (json?["spec", "dependsOn"]?.array ?? []).compactMap { item in
            item["name"]?.string.map { ObjectReference(group: kind.group, kind: kind.kind, namespace: item["namespace"]?.string ?? namespace, name: $0) }
        }
    }
}

extension FluxKustomization {
    /// `spec.sourceRef` (namespace defaulting to the Kustomization's own).
    public var sourceReference: ObjectReference {
        ObjectReference(
            group: "source.toolkit.fluxcd.io", kind: sourceKind, namespace: object.json["spec", "sourceRef", "namespace"]?.string ?? id.namespace,
            name: sourceName)
    }
}

/// The latest value set (a readiness across watch events, whether a list was answered), read
/// from any task.
final class Latest<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    var value: Value? { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
}

/// Readiness of every target, as events of their kinds arrive.
final class WaitSet: @unchecked Sendable {
    private let lock = NSLock()
    private let targets: [ReconciliationWaiter.Target]
    private let index: [ObjectReference: Int]
    private let revision: Revision
    private let perObjectTimeout: Duration
    private let reporter: Reporter
    private let start: ContinuousClock.Instant
    private var readiness: [ObjectReference: Readiness] = [:]
    private var live: [ObjectReference: JSONValue] = [:]
    private var readyAt: [ObjectReference: Duration] = [:]
    /// The artifact revision of every source seen, for Kustomizations sourced elsewhere.
    private var artifacts: [ObjectReference: String] = [:]
    /// The HelmCharts seen, for the HelmReleases whose charts they are.
    private var charts: [ObjectReference: JSONValue] = [:]
    /// When all of a target's dependencies were ready: its own clock starts then.
    private var unblockedAt: [ObjectReference: ContinuousClock.Instant] = [:]

    init(_ targets: [ReconciliationWaiter.Target], revision: Revision, perObjectTimeout: Duration, reporter: Reporter, start: ContinuousClock.Instant) {
        self.targets = targets
        self.start = start
        var index: [ObjectReference: Int] = [:]
        for (position, target) in targets.enumerated() where index[target.reference] == nil { index[target.reference] = position }
        self.index = index
        self.revision = revision
        self.perObjectTimeout = perObjectTimeout
        self.reporter = reporter
    }

    /// Failed attempts the controllers retry, held for a bounded grace (tester t10 F1).
    private let retries = RetriedFailures()

    /// The target's readiness by its rule; a Flux object's failed attempt that its controller
    /// retries (not Stalled) is held as pending by `retries` until the grace ends. Workloads'
    /// failures (a Deployment past its progress deadline, a failed Job) are final, as kstatus
    /// reads them.
    private func evaluate(_ target: ReconciliationWaiter.Target, _ object: JSONValue) -> Readiness {
        let state: Readiness = switch target.rule {
        case .branchKustomization: Readiness.kustomization(object, revision: revision)
        case .sourcedKustomization(let source): Readiness.kustomization(object, sourceRevision: artifacts[source])
        case .kind: Readiness.of(object)
        }
        let judged = FluxKinds.workloads.contains(FluxKinds.Key(target.reference)) ? state : retries.judge(target.reference, object, state, at: .now)
        if case .kind = target.rule { return helmRelease(target, judged, object) }
        return judged
    }

    /// Ends the grace of held failures whose objects sent nothing since: the first one expired
    /// is the wait's failure.
    func tick() throws {
        let failure: ReconciliationWaiter.Failure? = lock.withLock {
            guard !closed else { return nil }
            for (reference, state) in retries.expired(at: .now) {
                guard let position = index[reference], case .failed(let reason, let message) = state else { continue }
                readiness[reference] = state
                return self.failure(targets[position], reason: reason, message: message)
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// A HelmRelease waiting for its HelmChart (`HelmChartNotReady`, helm-controller's reason,
    /// whose message carries the chart's) fails when source-controller stalled on that chart:
    /// `Stalled=True` on the chart's current generation, as for a chart or version the
    /// repository does not have (`InvalidChartReference`, which source-controller does not retry).
    private func helmRelease(_ target: ReconciliationWaiter.Target, _ state: Readiness, _ object: JSONValue) -> Readiness {
        guard target.reference.kind == "HelmRelease", case .pending(let reason, let message) = state, ["HelmChartNotReady", "ArtifactFailed"].contains(reason),
            let chart = Self.chartReference(object).flatMap({ charts[$0] }), let stalled = Readiness.condition(chart, "Stalled"), stalled.status == "True",
            Readiness.isCurrent(chart)
        else { return state }
        return .failed(reason: stalled.reason, message: message.contains(stalled.message) ? message : "\(message): \(stalled.message)")
    }

    /// The HelmChart helm-controller made for a HelmRelease: `status.helmChart` (`namespace/name`),
    /// else `<namespace>-<name>` in the chart source's namespace; nil for a `spec.chartRef`.
    static func chartReference(_ release: JSONValue) -> ObjectReference? {
        let namespace = release["metadata", "namespace"]?.string ?? ""
        if let written = release["status", "helmChart"]?.string, let slash = written.firstIndex(of: "/") {
            return ObjectReference(
                group: "source.toolkit.fluxcd.io", kind: "HelmChart", namespace: String(written[..<slash]), name: String(written[written.index(after: slash)...]))
        }
        guard let sourceRef = release["spec", "chart", "spec", "sourceRef"] else { return nil }
        return ObjectReference(
            group: "source.toolkit.fluxcd.io", kind: "HelmChart", namespace: sourceRef["namespace"]?.string ?? namespace,
            name: "\(namespace)-\(release["metadata", "name"]?.string ?? "")")
    }

    /// Takes an object's current state after the wait ended: recorded, nothing decided or logged.
    func settle(_ object: JSONValue) { _ = try? observe(WatchEvent(kind: .modified, object: object), quiet: true) }

    private var closed = false

    /// The wait has ended: the watches still being cancelled change and log nothing more.
    func close() { lock.withLock { closed = true } }

    /// Takes one event; true once every target is ready. Throws the failure of a target.
    func observe(_ event: WatchEvent, quiet: Bool = false) throws -> Bool {
        if !quiet, lock.withLock({ closed }) { return false }
        let reference = ObjectReference(event.object)
        var newlyReady: [ReconciliationWaiter.Target] = []
        var newlySuspended: [ReconciliationWaiter.Target] = []
        let result: (done: Bool, failure: ReconciliationWaiter.Failure?) = lock.withLock {
            if FluxKinds.isSource(reference), event.kind != .deleted, let artifact = event.object["status", "artifact", "revision"]?.string {
                artifacts[reference] = artifact
            }
            guard event.kind != .deleted else { return (false, nil) }
            let position = index[reference]
            if position != nil { live[reference] = event.object }
            // A source's new artifact can make the Kustomizations that read it ready.
            var changed = position.map { [targets[$0]] } ?? []
            changed += targets.filter { if case .sourcedKustomization(let source) = $0.rule { source == reference } else { false } }
            // A HelmChart's state can fail the HelmReleases waiting for it.
            if reference.group == "source.toolkit.fluxcd.io", reference.kind == "HelmChart" {
                charts[reference] = event.object
                changed += targets.filter { $0.reference.kind == "HelmRelease" && live[$0.reference].flatMap(Self.chartReference) == reference }
            }
            guard !changed.isEmpty else { return (false, nil) }
            var failure: ReconciliationWaiter.Failure?
            for target in changed {
                guard let object = live[target.reference] else { continue }
                let now = evaluate(target, object)
                let wasReady = readiness[target.reference] == .ready
                readiness[target.reference] = now
                if now == .ready && !wasReady {
                    readyAt[target.reference] = ContinuousClock.now - start
                    newlyReady.append(target)
                }
                if failure == nil, case .failed(let reason, let message) = now {
                    failure = self.failure(target, reason: reason, message: message)
                }
                // Suspended: reported at once, an error when a waited object needs it (t10 F5):
                // depends on it, is applied by it, or takes its source from it (t13 F14:
                // source-controller skips a suspended source, so on a new cluster it never has
                // an artifact).
                if Self.isSuspended(now), !suspendedReported.contains(target.reference) {
                    suspendedReported.insert(target.reference)
                    let dependents = targets.filter { $0.dependsOn.contains(target.reference) || $0.parent == target.reference || $0.source == target.reference }
                    if dependents.isEmpty {
                        newlySuspended.append(target)
                    } else if failure == nil {
                        failure = suspendedFailure(target, dependents: dependents)
                    }
                }
            }
            for candidate in targets where unblockedAt[candidate.reference] == nil {
                if candidate.dependsOn.allSatisfy({ readiness[$0] == .ready || index[$0] == nil }) {
                    unblockedAt[candidate.reference] = ContinuousClock.now
                }
            }
            if let failure { return (false, failure) }
            if let position, case let target = targets[position], case let now = readiness[reference] ?? .pending(reason: "", message: ""), now != .ready,
                !Self.isSuspended(now), let since = unblockedAt[reference], ContinuousClock.now - since > perObjectTimeout
            {
                let detail: String = if case .pending(let reason, let message) = now { "\(reason) \(message)" } else { "" }
                return (false, timedOut(target, detail: detail))
            }
            return (targets.allSatisfy { readiness[$0.reference] == .ready || Self.isSuspended(readiness[$0.reference]) }, nil)
        }
        if !quiet { for target in newlyReady { reporter.log(readyLine(target)) } }
        if !quiet {
            for target in newlySuspended {
                reporter.warning(
                    "\(describe(target)) is suspended (spec.suspend: true): its controller does not reconcile it, so it is not waited for and not counted ready.",
                    title: "\(target.reference.kind) suspended", fix: resumeFix(target), at: target.suspendLocation ?? target.location)
            }
        }
        if let failure = result.failure { throw failure }
        return result.done
    }

    private func readyLine(_ target: ReconciliationWaiter.Target) -> String {
        let elapsed = Reporter.format(lock.withLock { readyAt[target.reference] } ?? .zero)
        let object = lock.withLock { live[target.reference] }
        switch target.rule {
        case .branchKustomization:
            return "✓ \(target.reference.namespace)/\(target.reference.name) applied \(revision.short) (\(elapsed))"
        case .sourcedKustomization(let source):
            return "✓ \(target.reference.namespace)/\(target.reference.name) applied \(object?["status", "lastAppliedRevision"]?.string ?? "?") of \(source) (\(elapsed))"
        case .kind:
            let at = object.flatMap(Readiness.revision).map { " at \($0)" } ?? ""
            return "✓ \(target.reference) ready\(at) (\(elapsed))"
        }
    }

    private func describe(_ target: ReconciliationWaiter.Target) -> String {
        if let path = target.writtenPath { return "The Kustomization \(target.reference.namespace)/\(target.reference.name) (path \(path))" }
        var text = "The \(target.reference.kind) \(target.reference.namespace.isEmpty ? "" : target.reference.namespace + "/")\(target.reference.name)"
        if let parent = target.parent {
            text += " (applied by \(parent.namespace)/\(parent.name)\(target.writtenIn.map { ", from \($0), not from this repository" } ?? ""))"
        }
        return text
    }

    private func failure(_ target: ReconciliationWaiter.Target, reason: String, message: String) -> ReconciliationWaiter.Failure {
        let at: String
        switch target.rule {
        case .branchKustomization: at = " at \(revision)"
        case .sourcedKustomization: at = live[target.reference]?["status", "lastAttemptedRevision"]?.string.map { " at \($0)" } ?? ""
        case .kind: at = live[target.reference].flatMap { $0["status", "lastAttemptedRevision"]?.string }.map { " at \($0)" } ?? ""
        }
        let fix: String = switch (target.reference.kind, target.writtenPath) {
        case (_, .some(let path)): "The message is the controller's; the objects' events are in the artifacts. Fix the manifests under \(path)."
        case ("HelmRelease", _): "The message is helm-controller's; the events of the release and of its pods are in the artifacts. Fix the chart version or values where the HelmRelease is written."
        default: "The message is the controller's; its events are in the artifacts. Fix the object where it is written (URL, reference, credentials)."
        }
        // A value the controller's message quotes (a chart version, a URL, a branch) is where the
        // patch that set it is, when one did (t10 F8, t13 F1); other patched fields are named.
        let (site, patchedNote) = Self.patchedSite(target, message: message, live: live[target.reference])
        return ReconciliationWaiter.Failure(
            annotation: .error("\(describe(target)) failed\(at): \(reason): \(message)\(patchedNote)", title: "\(target.reference.kind) failed: \(reason)", fix: fix, at: site ?? target.location),
            rows: rowsUnlocked(), failed: [target.reference])
    }

    /// The patch that set the value `message` quotes (the live object's value of a patched field,
    /// 3 characters or more), and a note naming it and where the object is written; else no
    /// site, and a note naming the patched fields.
    static func patchedSite(_ target: ReconciliationWaiter.Target, message: String, live: JSONValue?) -> (SourceLocation?, String) {
        func at(_ location: SourceLocation) -> String { "\(location.file):\(location.line ?? 1)" }
        let patched = target.patched.sorted { $0.key < $1.key }
        guard !patched.isEmpty else { return (nil, "") }
        for (field, location) in patched {
            var value = live
            for key in field.split(separator: ".") { value = value?[String(key)] }
            guard let text = value?.string ?? value?.int.map(String.init), text.count >= 3, message.contains(text) else { continue }
            return (location, " (its \(field) is set by the patch at \(at(location))\(target.location.map { "; the \(target.reference.kind) is written at \(at($0))" } ?? ""))")
        }
        return (nil, " (patched: " + patched.map { "\($0.key) at \(at($0.value))" }.joined(separator: ", ") + ")")
    }

    /// Targets reported suspended (once each).
    private var suspendedReported: Set<ObjectReference> = []

    /// `spec.suspend: true`, as `Readiness.suspended` reports it: the controller skips the
    /// object ("Reconciliation is suspended for this object"), so waiting for it only times out.
    static func isSuspended(_ readiness: Readiness?) -> Bool {
        if case .pending(Readiness.suspendedReason, _)? = readiness { true } else { false }
    }

    private func resumeFix(_ target: ReconciliationWaiter.Target) -> String {
        // The flux CLI's names for the kinds it resumes.
        let commands = [
            "HelmRelease": "helmrelease", "Kustomization": "kustomization", "GitRepository": "source git", "HelmRepository": "source helm",
            "HelmChart": "source chart", "OCIRepository": "source oci", "Bucket": "source bucket",
        ]
        let command = commands[target.reference.kind] ?? target.reference.kind.lowercased()
        return "Remove spec.suspend where it is written, or resume it (`flux resume \(command) \(target.reference.name) -n \(target.reference.namespace)`) if it was suspended on the cluster on purpose."
    }

    /// A suspended object that a waited object depends on (`dependsOn`) or is applied by: those
    /// can never become ready, so the wait fails at once instead of at its timeout.
    private func suspendedFailure(_ target: ReconciliationWaiter.Target, dependents: [ReconciliationWaiter.Target]) -> ReconciliationWaiter.Failure {
        let names = dependents.map(\.reference.description).sorted().joined(separator: ", ")
        return ReconciliationWaiter.Failure(
            annotation: .error(
                "\(describe(target)) is suspended (spec.suspend: true): its controller does not reconcile it, so what depends on it, is applied by it or takes its source from it cannot become ready: \(names).",
                title: "\(target.reference.kind) suspended", fix: resumeFix(target), at: target.suspendLocation ?? target.location),
            rows: rowsUnlocked(), failed: [target.reference])
    }

    /// The wait's failure when `timeout` ran out: the object to look at first, then every other
    /// one not ready. First is a failure held because its controller retries it (a source that
    /// cannot be reached yet, tester t15 F5), reported as that object's failure at the place
    /// that writes the failing value; then what is pending on its own; last what is blocked on
    /// another (a `dependsOn`, its source, its chart), as those only follow (t15 F14). Sources
    /// come before what reads them within each rank.
    func timedOut(after timeout: Duration, what: String) -> ReconciliationWaiter.Failure {
        lock.withLock {
            let stuck = targets.enumerated().filter { readiness[$0.element.reference] != .ready }.sorted { a, b in
                (rank(a.element), a.offset) < (rank(b.element), b.offset)
            }.map(\.element)
            let lines = stuck.map { target -> String in
                // An object of another repository says so, as a failure does (tester t16 F5).
                let origin = target.writtenIn.map { written in " (applied by \(target.parent.map { "\($0.namespace)/\($0.name)" } ?? "?"), from \(written), not from this repository)" } ?? ""
                if case .pending(let reason, let message)? = readiness[target.reference] { return "\(target.reference)\(origin): \(reason.isEmpty ? "pending" : reason) \(message)" }
                return "\(target.reference)\(origin): pending not seen yet"
            }
            if let first = stuck.first, let held = retries.held(first.reference), case .pending(_, let message)? = readiness[first.reference] {
                // The object blamed is failed, in the rows (the graph draws it red and linked,
                // tester t16 F2), not waiting.
                readiness[first.reference] = .failed(reason: held.reason, message: message)
                let why = held.heals
                    ? "its controller retries it, as the failure can end without a change to the repository, so fluxci waited until --timeout \(timeout) ran out"
                    : "its controller was still retrying it when --timeout \(timeout) ran out"
                var failure = self.failure(first, reason: held.reason, message: "\(message) (\(why))")
                if stuck.count > 1 { failure.annotation.message += "\nAlso not ready:\n" + lines.dropFirst().joined(separator: "\n") }
                failure.failed = stuck.map(\.reference)
                return failure
            }
            return ReconciliationWaiter.Failure(
                annotation: .error(
                    "\(what) within \(timeout):\n" + lines.joined(separator: "\n"), title: "Timed out",
                    fix: "Look at the first one: the others wait for it or for another (a dependency, a source). Raise --timeout if it is only slow.",
                    at: stuck.first?.location),
                rows: rowsUnlocked(), failed: stuck.map(\.reference))
        }
    }

    /// 0: a held failure; 1: pending on its own; 2: blocked on another object. A source first.
    private func rank(_ target: ReconciliationWaiter.Target) -> Int {
        let source = FluxKinds.isSource(target.reference) || target.reference.kind == "HelmChart" ? 0 : 1
        if retries.held(target.reference) != nil { return source }
        if case .pending(let reason, _)? = readiness[target.reference], Self.blockedReasons.contains(reason) || Self.isSuspended(readiness[target.reference]) {
            return 4 + source
        }
        return 2 + source
    }

    /// Reasons that say an object waits for another: helm-controller's and kustomize-controller's
    /// `DependencyNotReady`, a chart or source not ready yet (`Readiness.helmWaitingReasons`,
    /// `waitingForSource`).
    static let blockedReasons: Set<String> = Set(["DependencyNotReady"]).union(Readiness.helmWaitingReasons)

    private func timedOut(_ target: ReconciliationWaiter.Target, detail: String) -> ReconciliationWaiter.Failure {
        ReconciliationWaiter.Failure(
            annotation: .error(
                "\(describe(target)) not ready within \(perObjectTimeout) of its dependencies being ready: \(detail)", title: "\(target.reference.kind) timed out",
                fix: "The objects' events are in the artifacts; raise --kustomization-timeout if it is only slow.", at: target.location),
            rows: rowsUnlocked(), failed: [target.reference])
    }

    func rows() -> [ReconciliationWaiter.Row] { lock.withLock { rowsUnlocked() } }

    private func rowsUnlocked() -> [ReconciliationWaiter.Row] {
        targets.map { target in
            ReconciliationWaiter.Row(
                reference: target.reference, parent: target.parent, location: target.location,
                readiness: readiness[target.reference] ?? .pending(reason: "", message: "not seen yet"),
                revision: live[target.reference].flatMap(Readiness.revision), elapsed: readyAt[target.reference], live: live[target.reference])
        }
    }
}
