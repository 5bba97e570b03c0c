import Foundation
import Kube

/// A stand-in for Flux's source-, kustomize- and helm-controller, setting statuses on the fake
/// API server the way the recorded watch stream shows (Ready conditions, observedGeneration,
/// lastAttempted/lastAppliedRevision, DependencyNotReady), with the real controllers'
/// bookkeeping (`write`): every condition carries its own `observedGeneration` (fluxcd/pkg
/// `runtime/conditions.Set` always writes it), `status.observedGeneration` is written only for
/// a Ready or Stalled result (kustomize-controller `finalizeStatus`; source- and helm-controller
/// `WithStatusObservedGeneration`), and a failed attempt is retried (`failedAttempt`: the
/// attempt under way, then `Ready=False` with the failure and `Reconciling=True` reason
/// `ProgressingWithRetry`, again after the stand-in's retry interval). A HelmRelease that fails
/// to install is retried once and then stalls as helm-controller's default remediation (no
/// retries) does: `Stalled=True` `RetriesExceeded` "Failed to install after 1 attempt(s)", Helm's
/// error left in `Ready` and `Released`. It fetches the branch from the real
/// git server (`git ls-remote`, `git clone`), builds each Kustomization's path with the real
/// `kubectl kustomize` (or, without a kustomization.yaml, the YAML files below it, as
/// kustomize-controller generates one), applies the Namespaces and Flux objects of the build
/// and records all of it in `status.inventory` as kustomize-controller does. HelmRepositories,
/// OCIRepositories and Buckets get an artifact (or fail, when told); HelmReleases wait for their
/// chart's source and their dependsOn, then install the chart version they ask for (or fail).
/// The build's Deployments, StatefulSets, DaemonSets and Jobs are applied too, and `workloads`
/// (the stand-in for kube-controller-manager) gives them the status their controllers write:
/// rolled out, or stuck as told. No Helm chart is really installed and no pod runs.
public final class FakeFluxController: @unchecked Sendable {
    public enum Behaviour: Sendable {
        case succeed
        case fail(reason: String, message: String)
        /// Ready, but at another revision: must not count.
        case staleRevision
        /// Never reconciles.
        case never
        /// Succeeds, checking health as kustomize-controller does with `spec.wait: true`: not
        /// Ready while a HelmRelease it applied is not, and failing fast (`HealthCheckFailed`) on a
        /// stalled one. By default the stand-in's `spec.wait` does not wait, so that the tests of
        /// the later phases see the Kustomizations Ready first.
        case checkHealth
    }

    /// How a HelmRelease (by name) reconciles; the default installs its chart version.
    public enum HelmBehaviour: Sendable {
        case install
        case installFailed(message: String)
        /// Never reconciled (helm-controller not running for it).
        case never
    }

    /// How a HelmRepository, OCIRepository or Bucket (by name) reconciles; the default stores an
    /// artifact.
    public enum SourceBehaviour: Sendable {
        case succeed
        case fetchFailed(reason: String, message: String)
    }

    let server: FakeAPIServer
    private let lock = NSLock()
    private var behaviours: [String: Behaviour] = [:]
    private var helmBehaviours: [String: HelmBehaviour] = [:]
    private var sourceBehaviours: [String: SourceBehaviour] = [:]
    private var inventories: [String: [JSONValue]] = [:]
    /// The charts and versions each HelmRepository's index lists (by repository name); a
    /// repository not set lists every chart at every version asked for.
    private var chartIndexes: [String: [String: [String]]] = [:]
    private var eventCount = 0
    /// The attempts made on failing objects (by kind, name, generation), for the retry interval.
    private var attemptsMade: [String: (count: Int, at: ContinuousClock.Instant)] = [:]
    /// The stand-in for `spec.retryInterval`: how long a failing object waits for its next attempt.
    static let retryInterval: Duration = .seconds(1)
    private var subscription: UUID?
    private let work = AsyncStream<Void>.makeStream()
    private var loop: Task<Void, Never>?
    private var ticker: Task<Void, Never>?

    /// The workload controllers behind the applied Deployments, StatefulSets, DaemonSets, Jobs.
    public let workloads: FakeWorkloadControllers

    public init(server: FakeAPIServer) {
        self.server = server
        workloads = FakeWorkloadControllers(server: server)
    }

    /// How the workload `name` rolls out (default: it does).
    public func set(workload name: String, _ behaviour: FakeWorkloadControllers.Behaviour) { workloads.set(name, behaviour) }

    /// How the Kustomization `name` reconciles (default: it succeeds).
    public func set(_ name: String, _ behaviour: Behaviour) {
        lock.withLock { behaviours[name] = behaviour }
        work.continuation.yield()
    }

    public func set(helmRelease name: String, _ behaviour: HelmBehaviour) {
        lock.withLock { helmBehaviours[name] = behaviour }
        work.continuation.yield()
    }

    /// The index of the HelmRepository `name`: chart name → versions. A HelmChart asking for
    /// another chart or version fails as source-controller fails it (InvalidChartReference, stalled).
    public func set(helmRepository name: String, charts: [String: [String]]) {
        lock.withLock { chartIndexes[name] = charts }
        work.continuation.yield()
    }

    public func set(source name: String, _ behaviour: SourceBehaviour) {
        lock.withLock { sourceBehaviours[name] = behaviour }
        work.continuation.yield()
    }

    public func start() {
        workloads.start()
        subscription = server.api.store.subscribe { [weak self] event in
            guard event.group.hasSuffix("toolkit.fluxcd.io") else { return }
            self?.work.continuation.yield()
        }
        // Flux reconciles on an interval too, not only on changes.
        let continuation = work.continuation
        ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                continuation.yield()
            }
        }
        loop = Task { [weak self] in
            guard let stream = self?.work.stream else { return }
            for await _ in stream {
                try? await Task.sleep(for: .milliseconds(20))
                await self?.reconcile()
            }
        }
    }

    public func stop() {
        workloads.stop()
        if let subscription { server.api.store.unsubscribe(subscription) }
        work.continuation.finish()
        loop?.cancel()
        ticker?.cancel()
    }

    private func condition(_ status: String, _ reason: String, _ message: String, type: String = "Ready") -> JSONValue {
        .object([
            ("type", .string(type)), ("status", .string(status)), ("reason", .string(reason)), ("message", .string(message)),
            ("lastTransitionTime", .string(FakeAPI.now())),
        ])
    }

    /// The conditions a failed attempt leaves (kustomize-controller `finalizeStatus`: "Set the
    /// Reconciling reason to ProgressingWithRetry if the reconciliation has failed"), in
    /// fluxcd/pkg's order (Stalled, Reconciling, Ready, then the others by type).
    private func retrying(_ reason: String, _ message: String, also: [JSONValue] = []) -> [JSONValue] {
        [condition("True", "ProgressingWithRetry", "Reconciliation failed, retrying", type: "Reconciling"), condition("False", reason, message)] + also
    }

    /// source-controller's cause of a failed clone, as go-git and Go's `net/http` word it, from
    /// what the git CLI said of the same URL (the stand-in clones with git, not go-git).
    static func goGitCause(url: String, gitError: String) -> String {
        let host = URL(string: url).map { "\($0.host ?? ""):\($0.port ?? ($0.scheme == "https" ? 443 : 80))" } ?? url
        let text = gitError.lowercased()
        if text.contains("connection refused") || text.contains("failed to connect") {
            return "Get \"\(url)/info/refs?service=git-upload-pack\": dial tcp \(host): connect: connection refused"
        }
        if text.contains("could not resolve host") { return "Get \"\(url)/info/refs?service=git-upload-pack\": dial tcp: lookup \(host): no such host" }
        if text.contains("401") || text.contains("authentication") || text.contains("could not read username") { return "authentication required" }
        return "repository not found"
    }

    /// Whether a failing object's next attempt is due: its first at once, then one per
    /// `retryInterval` (the controllers requeue a failure `RequeueAfter: obj.GetRetryInterval()`).
    /// Returns the attempt's number.
    private func dueAttempt(_ key: String) -> Int? {
        lock.withLock {
            let now = ContinuousClock.now
            if let last = attemptsMade[key], now - last.at < Self.retryInterval { return nil }
            let count = (attemptsMade[key]?.count ?? 0) + 1
            attemptsMade[key] = (count, now)
            return count
        }
    }

    /// One failed attempt as a watcher sees it: first the attempt under way (kustomize-controller
    /// `reconcile`: `MarkUnknown(Ready, Progressing, "Reconciliation in progress")`,
    /// `MarkReconciling(Progressing, …)`), then its result, `failure` (Ready=False,
    /// Reconciling=True `ProgressingWithRetry`).
    private func failedAttempt(_ failure: JSONValue, of object: JSONValue, group: String, plural: String, component: String) {
        var progressing = failure
        progressing.set("conditions", .array([
            condition("True", "Progressing", "Reconciliation in progress", type: "Reconciling"), condition("Unknown", "Progressing", "Reconciliation in progress"),
        ]))
        write(progressing, of: object, group: group, plural: plural, component: component)
        let namespace = object["metadata", "namespace"]?.string, name = object["metadata", "name"]?.string ?? ""
        let current = server.object(group: group, plural: plural, namespace: namespace, name: name) ?? object
        write(failure, of: current, group: group, plural: plural, component: component)
    }

    private func reconcile() async {
        // Sources: resolve the branch on the real git server.
        var revisions: [String: String] = [:]  // Kind/namespace/name -> artifact revision
        for repository in server.objects(group: "source.toolkit.fluxcd.io", plural: "gitrepositories") {
            let name = repository["metadata", "name"]?.string ?? "", namespace = repository["metadata", "namespace"]?.string ?? ""
            let generation = repository["metadata", "generation"]?.int ?? 1
            guard let url = repository["spec", "url"]?.string, let branch = repository["spec", "ref", "branch"]?.string else { continue }
            if repository["status", "observedGeneration"]?.int == generation, let revision = repository["status", "artifact", "revision"]?.string {
                revisions["GitRepository/\(namespace)/\(name)"] = revision
                continue
            }
            let listing: String, cause: String
            do {
                listing = try await git(["ls-remote", url, "refs/heads/\(branch)"], environment: credentials(repository))
                cause = "couldn't find remote ref \"refs/heads/\(branch)\""
            } catch {
                listing = ""
                cause = Self.goGitCause(url: url, gitError: "\(error)")
            }
            let status: JSONValue
            if let commit = listing.split(separator: "\t").first, !commit.isEmpty {
                let revision = "\(branch)@sha1:\(commit)"
                revisions["GitRepository/\(namespace)/\(name)"] = revision
                status = .object([
                    ("conditions", .array([condition("True", "Succeeded", "stored artifact for revision '\(revision)'")])),
                    ("artifact", .object([("revision", .string(revision)), ("path", .string("gitrepository/\(namespace)/\(name)/\(commit).tar.gz"))])),
                    ("observedGeneration", .integer(Int64(generation))),
                ])
            } else {
                guard dueAttempt("gitrepositories/\(namespace)/\(name)@\(generation)") != nil else { continue }
                status = .object([
                    ("conditions", .array(retrying("GitOperationFailed", "failed to checkout and determine revision: unable to clone '\(url)': \(cause)"))),
                ])
                failedAttempt(status, of: repository, group: "source.toolkit.fluxcd.io", plural: "gitrepositories", component: "source-controller")
                continue
            }
            write(status, of: repository, group: "source.toolkit.fluxcd.io", plural: "gitrepositories", component: "source-controller")
        }

        reconcileArtifactSources(into: &revisions)
        reconcileHelmCharts()
        reconcileHelmReleases()

        // Kustomizations, in waves: each reconciles once its source and dependencies are ready.
        let kustomizations = server.objects(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations")
        func isReady(_ namespace: String, _ name: String) -> Bool {
            guard let object = server.object(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: namespace, name: name) else { return false }
            let conditions = object["status", "conditions"]?.array ?? []
            return conditions.contains { $0["type"]?.string == "Ready" && $0["status"]?.string == "True" }
                && object["status", "observedGeneration"]?.int == object["metadata", "generation"]?.int
        }
        for kustomization in kustomizations {
            let name = kustomization["metadata", "name"]?.string ?? "", namespace = kustomization["metadata", "namespace"]?.string ?? ""
            let generation = kustomization["metadata", "generation"]?.int ?? 1
            let sourceName = kustomization["spec", "sourceRef", "name"]?.string ?? ""
            let sourceKind = kustomization["spec", "sourceRef", "kind"]?.string ?? "GitRepository"
            let sourceNamespace = kustomization["spec", "sourceRef", "namespace"]?.string ?? namespace
            guard let revision = revisions["\(sourceKind)/\(sourceNamespace)/\(sourceName)"] else { continue }
            let behaviour = lock.withLock { behaviours[name] } ?? .succeed
            if case .never = behaviour { continue }
            // Suspended: kustomize-controller skips it ("Reconciliation is suspended for this object").
            if kustomization["spec", "suspend"]?.bool == true { continue }
            let dependencies = (kustomization["spec", "dependsOn"]?.array ?? []).compactMap { dependency in
                dependency["name"]?.string.map { (dependency["namespace"]?.string ?? namespace, $0) }
            }
            var status: JSONValue
            if let blocked = dependencies.first(where: { !isReady($0.0, $0.1) }) {
                status = .object([
                    ("conditions", .array([condition("False", "DependencyNotReady", "dependency '\(blocked.0)/\(blocked.1)' is not ready")])),
                    ("lastAttemptedRevision", .string(revision)), ("observedGeneration", .integer(Int64(generation))),
                ])
            } else {
                switch behaviour {
                case .fail(let reason, let message):
                    guard dueAttempt("kustomizations/\(namespace)/\(name)@\(generation)@\(revision)") != nil else { continue }
                    var failure = kustomization["status"] ?? .object([])
                    failure.set("conditions", .array(retrying(reason, message)))
                    failure.set("lastAttemptedRevision", .string(revision))
                    failedAttempt(failure, of: kustomization, group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", component: "kustomize-controller")
                    continue
                case .staleRevision:
                    let stale = String(revision.prefix(while: { $0 != "@" })) + "@sha1:" + String(repeating: "0", count: 40)
                    status = .object([
                        ("conditions", .array([condition("True", "ReconciliationSucceeded", "Applied revision: \(stale)")])),
                        ("lastAppliedRevision", .string(stale)), ("lastAttemptedRevision", .string(stale)), ("observedGeneration", .integer(Int64(generation))),
                    ])
                default:
                    let key = "\(namespace)/\(name)@\(revision)"
                    if sourceKind == "GitRepository", let path = kustomization["spec", "path"]?.string,
                        let source = server.objects(group: "source.toolkit.fluxcd.io", plural: "gitrepositories")
                            .first(where: { $0["metadata", "name"]?.string == sourceName }), let url = source["spec", "url"]?.string
                    {
                        await applyChildren(path: path, url: url, credentials: credentials(source), revision: revision, key: key)
                    }
                    let entries = lock.withLock { inventories[key] } ?? []
                    if case .checkHealth = behaviour, kustomization["spec", "wait"]?.bool == true {
                        // kustomize-controller's health check of what it applied (fluxcd/pkg ssa
                        // WaitForSet with kstatus, failing fast): a stalled HelmRelease is Failed,
                        // one not Ready yet is in progress (the attempt goes on).
                        let releases = entries.compactMap { entry -> JSONValue? in
                            let parts = (entry["id"]?.string ?? "").split(separator: "_", omittingEmptySubsequences: false).map(String.init)
                            guard parts.count == 4, parts[2] == "helm.toolkit.fluxcd.io", parts[3] == "HelmRelease" else { return nil }
                            return server.object(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: parts[0], name: parts[1])
                        }
                        let stalled = releases.filter { release in
                            (release["status", "conditions"]?.array ?? []).contains { $0["type"]?.string == "Stalled" && $0["status"]?.string == "True" }
                        }
                        if !stalled.isEmpty {
                            guard dueAttempt("kustomizations/\(namespace)/\(name)@\(generation)@\(revision)") != nil else { continue }
                            let listed = stalled.map { "HelmRelease/\($0["metadata", "namespace"]?.string ?? "")/\($0["metadata", "name"]?.string ?? "") status: 'Failed'" }
                            var failure = kustomization["status"] ?? .object([])
                            failure.set("conditions", .array(retrying(
                                "HealthCheckFailed", "health check failed after 31.896309ms: failed early due to stalled resources: [\(listed.joined(separator: ", "))]")))
                            failure.set("lastAttemptedRevision", .string(revision))
                            failure.set("inventory", .object([("entries", .array(entries))]))
                            failedAttempt(failure, of: kustomization, group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", component: "kustomize-controller")
                            continue
                        }
                        if !releases.allSatisfy({ Self.ready($0) }) { continue }
                    }
                    status = .object([
                        ("conditions", .array([condition("True", "ReconciliationSucceeded", "Applied revision: \(revision)")])),
                        ("inventory", .object([("entries", .array(entries))])),
                        ("lastAppliedRevision", .string(revision)), ("lastAttemptedRevision", .string(revision)),
                        ("observedGeneration", .integer(Int64(generation))),
                    ])
                }
            }
            write(status, of: kustomization, group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", component: "kustomize-controller")
        }
    }

    static func sameStatus(_ a: JSONValue, _ b: JSONValue) -> Bool {
        func strip(_ value: JSONValue) -> JSONValue {
            var copy = value
            if var conditions = copy["conditions"]?.array {
                conditions = conditions.map { var c = $0; c.remove("lastTransitionTime"); return c }
                copy.set("conditions", .array(conditions))
            }
            return copy
        }
        return strip(a) == strip(b)
    }

    /// What source-controller does for the sources that are not Git: a HelmRepository's index,
    /// an OCIRepository's or Bucket's content become an artifact with a digest revision
    /// (`sha256:<hex>`; an OCIRepository's is `<tag>@sha256:<hex>`), or the fetch fails as told.
    private func reconcileArtifactSources(into revisions: inout [String: String]) {
        for (plural, kind) in [("helmrepositories", "HelmRepository"), ("ocirepositories", "OCIRepository"), ("buckets", "Bucket")] {
            for source in server.objects(group: "source.toolkit.fluxcd.io", plural: plural) {
                let name = source["metadata", "name"]?.string ?? "", namespace = source["metadata", "namespace"]?.string ?? ""
                let generation = source["metadata", "generation"]?.int ?? 1
                // An OCI HelmRepository is static: source-controller leaves it without conditions.
                if kind == "HelmRepository", source["spec", "type"]?.string == "oci" { continue }
                // A suspended source is skipped ("Reconciliation is suspended for this object").
                if source["spec", "suspend"]?.bool == true { continue }
                let digest = Self.digest("\(source["spec", "url"]?.string ?? "")|\(source["spec"]?.jsonText ?? "")")
                let revision = kind == "OCIRepository" ? "\(source["spec", "ref", "tag"]?.string ?? "latest")@sha256:\(digest)" : "sha256:\(digest)"
                let status: JSONValue
                switch lock.withLock({ sourceBehaviours[name] }) ?? .succeed {
                case .succeed:
                    revisions["\(kind)/\(namespace)/\(name)"] = revision
                    status = .object([
                        ("conditions", .array([condition("True", "Succeeded", "stored artifact: revision '\(revision)'")])),
                        ("artifact", .object([("revision", .string(revision)), ("digest", .string("sha256:\(digest)"))])),
                        ("observedGeneration", .integer(Int64(generation))),
                    ])
                case .fetchFailed(let reason, let message):
                    guard dueAttempt("\(plural)/\(namespace)/\(name)@\(generation)") != nil else { continue }
                    status = .object([("conditions", .array(retrying(reason, message, also: [condition("True", reason, message, type: "FetchFailed")])))])
                    failedAttempt(status, of: source, group: "source.toolkit.fluxcd.io", plural: plural, component: "source-controller")
                    continue
                }
                write(status, of: source, group: "source.toolkit.fluxcd.io", plural: plural, component: "source-controller")
            }
        }
    }

    /// Writes a status as the controller does and, when its Ready condition changed, records the
    /// event Flux's controllers record for each reconciliation result (fluxcd/pkg runtime/events
    /// through client-go's recorder: a core/v1 Event on the object, Warning for a failure with
    /// the condition's reason and message, Normal for success).
    ///
    /// The bookkeeping is the real controllers': every condition gets the object's generation as
    /// its `observedGeneration` (fluxcd/pkg `conditions.Set`: "Always set the observed generation
    /// on the condition"); `status.observedGeneration` becomes the generation only when Ready or
    /// Stalled is True, else it keeps what it was (kustomize-controller `finalizeStatus`).
    private func write(_ given: JSONValue, of object: JSONValue, group: String, plural: String, component: String) {
        let generation = JSONValue.integer(Int64(object["metadata", "generation"]?.int ?? 1))
        var status = given
        let conditions = (given["conditions"]?.array ?? []).map { condition -> JSONValue in
            var stamped = condition
            if stamped["observedGeneration"] == nil { stamped.set("observedGeneration", generation) }
            return stamped
        }
        status.set("conditions", .array(conditions))
        let settled = conditions.contains { ["Ready", "Stalled"].contains($0["type"]?.string ?? "") && $0["status"]?.string == "True" }
        status.remove("observedGeneration")
        if settled {
            status.set("observedGeneration", generation)
        } else if let kept = object["status", "observedGeneration"] {
            status.set("observedGeneration", kept)
        }
        guard object["status"].map({ Self.sameStatus($0, status) }) != true else { return }
        let namespace = object["metadata", "namespace"]?.string, name = object["metadata", "name"]?.string ?? ""
        server.setStatus(group: group, plural: plural, namespace: namespace, name: name, status)
        func ready(_ status: JSONValue?) -> JSONValue? { status?["conditions"]?.array?.first { $0["type"]?.string == "Ready" } }
        guard let now = ready(status), let reason = now["reason"]?.string, !["DependencyNotReady", "HelmChartNotReady", "Progressing"].contains(reason) else { return }
        let before = ready(object["status"])
        guard before?["reason"] != now["reason"] || before?["message"] != now["message"] else { return }
        record(event: now["status"]?.string == "True" ? "Normal" : "Warning", reason: reason, message: now["message"]?.string ?? "", on: object, component: component)
    }

    /// A core/v1 Event as client-go's recorder writes it (`<name>.<hex>` in the object's namespace,
    /// `involvedObject`, `source.component`, first and last timestamps, count).
    func record(event type: String, reason: String, message: String, on object: JSONValue, component: String) {
        let namespace = object["metadata", "namespace"]?.string ?? "default", name = object["metadata", "name"]?.string ?? ""
        let serial = lock.withLock { () -> Int in eventCount += 1; return eventCount }
        let eventName = "\(name).\(String(format: "%016llx", UInt64(Date().timeIntervalSince1970 * 1_000_000) &+ UInt64(serial)))"
        let now = FakeAPI.now()
        let event = JSONValue.object([
            ("apiVersion", .string("v1")), ("kind", .string("Event")),
            ("metadata", .object([("name", .string(eventName)), ("namespace", .string(namespace)), ("uid", .string(UUID().uuidString.lowercased()))])),
            ("involvedObject", .object([
                ("apiVersion", object["apiVersion"] ?? .string("v1")), ("kind", object["kind"] ?? .string("")), ("name", .string(name)),
                ("namespace", .string(namespace)), ("uid", object["metadata", "uid"] ?? .string("")),
                ("resourceVersion", object["metadata", "resourceVersion"] ?? .string("")),
            ])),
            ("reason", .string(reason)), ("message", .string(message)), ("type", .string(type)),
            ("source", .object([("component", .string(component))])), ("reportingComponent", .string(component)),
            ("firstTimestamp", .string(now)), ("lastTimestamp", .string(now)), ("count", .integer(1)),
        ])
        server.api.store.put(FakeStore.Key(group: "", plural: "events", namespace: namespace, name: eventName), event, type: "ADDED")
    }

    public static func ready(_ object: JSONValue?) -> Bool {
        guard let object else { return false }
        return (object["status", "conditions"]?.array ?? []).contains { $0["type"]?.string == "Ready" && $0["status"]?.string == "True" }
            && object["status", "observedGeneration"]?.int == object["metadata", "generation"]?.int
    }

    static func readyMessage(_ object: JSONValue?) -> String? {
        object?["status", "conditions"]?.array?.first { $0["type"]?.string == "Ready" }?["message"]?.string
    }

    static let sourcePlurals = ["HelmRepository": "helmrepositories", "GitRepository": "gitrepositories", "Bucket": "buckets", "OCIRepository": "ocirepositories", "HelmChart": "helmcharts"]

    /// What source-controller does with a HelmChart (the ones a repository writes and those
    /// helm-controller makes for HelmReleases): once its source is ready, pull the chart version
    /// asked for from the HelmRepository's index: `ChartPullSucceeded` ("pulled '<chart>' chart
    /// with version '<version>'", the artifact's revision the version), or, for a chart or version
    /// the index does not have, a persistent build error: `Stalled=True` and `Ready=False` with
    /// reason `InvalidChartReference` and the message source-controller writes
    /// (`internal/helm/chart` BuildError: "invalid chart reference: failed to get chart version for
    /// remote reference: no '<chart>' chart with version matching '<version>' found"; a chart the
    /// index does not list: "… remote reference: no chart name found"). A source still fetching
    /// leaves it without conditions; a HelmChart named in `set(source:)` fails as told.
    private func reconcileHelmCharts() {
        for chart in server.objects(group: "source.toolkit.fluxcd.io", plural: "helmcharts") {
            let name = chart["metadata", "name"]?.string ?? "", namespace = chart["metadata", "namespace"]?.string ?? ""
            let generation = Int64(chart["metadata", "generation"]?.int ?? 1)
            let sourceKind = chart["spec", "sourceRef", "kind"]?.string ?? "HelmRepository", sourceName = chart["spec", "sourceRef", "name"]?.string ?? ""
            let source = server.object(group: "source.toolkit.fluxcd.io", plural: Self.sourcePlurals[sourceKind] ?? "helmrepositories", namespace: namespace, name: sourceName)
            let chartName = chart["spec", "chart"]?.string ?? name
            let asked = chart["spec", "version"]?.string ?? "*"
            var status: JSONValue
            if case .fetchFailed(let reason, let message)? = lock.withLock({ sourceBehaviours[name] }) {
                guard dueAttempt("helmcharts/\(namespace)/\(name)@\(generation)") != nil else { continue }
                status = .object([("conditions", .array(retrying(reason, message)))])
                failedAttempt(status, of: chart, group: "source.toolkit.fluxcd.io", plural: "helmcharts", component: "source-controller")
                continue
            } else if !(Self.ready(source) || source?["spec", "type"]?.string == "oci") {
                continue
            } else {
                let index = sourceKind == "HelmRepository" ? lock.withLock({ chartIndexes[sourceName] }) : nil
                var version: String? = asked == "*" || asked.isEmpty ? "0.1.0" : asked
                var failure: String?
                if let index {
                    if let versions = index[chartName] {
                        version = asked == "*" || asked.isEmpty ? versions.max() : (versions.contains(asked) ? asked : nil)
                        if version == nil { failure = "no '\(chartName)' chart with version matching '\(asked)' found" }
                    } else {
                        version = nil
                        failure = "no chart name found"
                    }
                }
                if let failure {
                    let message = "invalid chart reference: failed to get chart version for remote reference: \(failure)"
                    status = .object([
                        ("conditions", .array([
                            condition("False", "InvalidChartReference", message),
                            .object([
                                ("type", .string("Stalled")), ("status", .string("True")), ("reason", .string("InvalidChartReference")),
                                ("message", .string(message)), ("lastTransitionTime", .string(FakeAPI.now())),
                            ]),
                        ])),
                        ("observedGeneration", .integer(generation)),
                    ])
                } else {
                    let pulled = version ?? "0.1.0"
                    status = .object([
                        ("conditions", .array([condition("True", "ChartPullSucceeded", "pulled '\(chartName)' chart with version '\(pulled)'")])),
                        ("artifact", .object([("revision", .string(pulled)), ("digest", .string("sha256:\(Self.digest("\(chartName)@\(pulled)"))"))])),
                        ("observedGeneration", .integer(generation)),
                    ])
                }
            }
            write(status, of: chart, group: "source.toolkit.fluxcd.io", plural: "helmcharts", component: "source-controller")
        }
    }

    /// What helm-controller does: make the HelmChart of a `spec.chart` template
    /// (`<namespace>-<name>` in the chart source's namespace, named in `status.helmChart`), wait
    /// for the dependsOn HelmReleases (DependencyNotReady) and for the chart
    /// (`HelmChartNotReady`, "HelmChart '<ns>/<name>' is not ready: <the chart's message>", as
    /// helm-controller v1 writes it), then install the version source-controller pulled
    /// (InstallSucceeded) or fail (InstallFailed: the Warning event, and the chart's pods, which
    /// the kubelet cannot start, with its events). The status has the shape of the newest
    /// version the cluster serves: v2 and v2beta2 keep `history` snapshots, v2beta1
    /// `lastAppliedRevision`.
    private func reconcileHelmReleases() {
        let served = Set(server.api.store.kinds.filter { $0.group == "helm.toolkit.fluxcd.io" && $0.kind == "HelmRelease" }.map(\.version))
        let snapshots = served.contains("v2") || served.contains("v2beta2")
        for release in server.objects(group: "helm.toolkit.fluxcd.io", plural: "helmreleases") {
            let name = release["metadata", "name"]?.string ?? "", namespace = release["metadata", "namespace"]?.string ?? ""
            let generation = Int64(release["metadata", "generation"]?.int ?? 1)
            let behaviour = lock.withLock { helmBehaviours[name] } ?? .install
            if case .never = behaviour { continue }
            if release["spec", "suspend"]?.bool == true { continue }  // helm-controller skips a suspended release
            var chartName = release["spec", "chart", "spec", "chart"]?.string ?? name
            var chart: JSONValue?
            var chartID = ""
            // Without the HelmChart CRD (a test that installs only some CRDs) the chart's source stands for it.
            let chartsServed = server.api.store.kinds.contains { $0.group == "source.toolkit.fluxcd.io" && $0.plural == "helmcharts" }
            if let template = release["spec", "chart", "spec"], !chartsServed {
                chart = server.object(
                    group: "source.toolkit.fluxcd.io", plural: Self.sourcePlurals[template["sourceRef", "kind"]?.string ?? ""] ?? "helmrepositories",
                    namespace: template["sourceRef", "namespace"]?.string ?? namespace, name: template["sourceRef", "name"]?.string ?? "")
                chartID = "\(template["sourceRef", "namespace"]?.string ?? namespace)/\(namespace)-\(name)"
            } else if let template = release["spec", "chart", "spec"] {
                let sourceNamespace = template["sourceRef", "namespace"]?.string ?? namespace
                chartID = "\(sourceNamespace)/\(namespace)-\(name)"
                chart = server.object(group: "source.toolkit.fluxcd.io", plural: "helmcharts", namespace: sourceNamespace, name: "\(namespace)-\(name)")
                if chart == nil {
                    var spec: [(String, JSONValue)] = [("chart", .string(chartName))]
                    if let version = template["version"] { spec.append(("version", version)) }
                    spec += [
                        ("sourceRef", .object([("kind", template["sourceRef", "kind"] ?? .string("HelmRepository")), ("name", template["sourceRef", "name"] ?? .string(""))])),
                        ("interval", template["interval"] ?? release["spec", "interval"] ?? .string("10m")), ("reconcileStrategy", .string("ChartVersion")),
                    ]
                    server.applyAsController(KubeObject(.object([
                        ("apiVersion", .string("source.toolkit.fluxcd.io/v1")), ("kind", .string("HelmChart")),
                        ("metadata", .object([("name", .string("\(namespace)-\(name)")), ("namespace", .string(sourceNamespace))])),
                        ("spec", .object(spec)),
                    ])))
                    continue  // source-controller reconciles it on the next round
                }
            } else if let ref = release["spec", "chartRef"], let kind = ref["kind"]?.string {
                let refNamespace = ref["namespace"]?.string ?? namespace
                chartID = "\(refNamespace)/\(ref["name"]?.string ?? "")"
                chart = server.object(group: "source.toolkit.fluxcd.io", plural: Self.sourcePlurals[kind] ?? "ocirepositories", namespace: refNamespace, name: ref["name"]?.string ?? "")
                chartName = ref["name"]?.string ?? chartName
            }
            // The version source-controller pulled (a HelmChart's artifact revision), else the one asked for.
            let pulled = chart?["kind"]?.string == "HelmChart" ? chart?["status", "artifact", "revision"]?.string : nil
            let version = pulled ?? release["spec", "chart", "spec", "version"]?.string ?? "0.1.0"
            let dependencies = (release["spec", "dependsOn"]?.array ?? []).compactMap { dependency in
                dependency["name"]?.string.map { (dependency["namespace"]?.string ?? namespace, $0) }
            }
            var conditions: [JSONValue]
            var extra: [(String, JSONValue)] = chartID.isEmpty || release["spec", "chartRef"] != nil ? [] : [("helmChart", .string(chartID))]
            if let blocked = dependencies.first(where: { !Self.ready(server.object(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: $0.0, name: $0.1)) }) {
                conditions = [condition("False", "DependencyNotReady", "dependency '\(blocked.0)/\(blocked.1)' is not ready")]
            } else if !(Self.ready(chart) || chart?["spec", "type"]?.string == "oci") {
                let detail = Self.readyMessage(chart).map { ": \($0)" } ?? ""
                conditions = [condition("False", "HelmChartNotReady", "HelmChart '\(chartID)' is not ready\(detail)")]
            } else {
                switch behaviour {
                case .installFailed(let message):
                    guard let attempt = dueAttempt("helmreleases/\(namespace)/\(name)@\(generation)") else { continue }
                    // The failed release helm-controller keeps in its history (v2, v2beta2).
                    if snapshots {
                        extra.append(("history", .array([.object([
                            ("name", .string(name)), ("namespace", .string(namespace)), ("version", .integer(1)), ("status", .string("failed")),
                            ("chartName", .string(chartName)), ("chartVersion", .string(version)),
                        ])])))
                    }
                    extra += [("lastAttemptedRevision", .string(version)), ("installFailures", .integer(1))]
                    let released = condition("False", "InstallFailed", message, type: "Released")
                    if attempt == 1 {
                        // The first attempt fails and is retried (ProgressingWithRetry).
                        let failure = JSONValue.object([("conditions", .array(retrying("InstallFailed", message, also: [released])))] + extra)
                        failedAttempt(failure, of: release, group: "helm.toolkit.fluxcd.io", plural: "helmreleases", component: "helm-controller")
                        if release["status", "installFailures"] == nil { startFailingPods(of: release, chart: chartName, version: version) }
                        continue
                    }
                    // The next finds the retries (none by default) exhausted: AtomicRelease marks it
                    // Stalled, "Failed to %s after %d attempt(s)", and leaves Helm's error in Ready.
                    conditions = [
                        condition("True", "RetriesExceeded", "Failed to install after 1 attempt(s)", type: "Stalled"), condition("False", "InstallFailed", message), released,
                    ]
                default:
                    conditions = [condition("True", "InstallSucceeded", "Helm install succeeded for release \(namespace)/\(name).v1 with chart \(chartName)@\(version)")]
                    if snapshots {
                        extra.append(("history", .array([.object([
                            ("name", .string(name)), ("namespace", .string(namespace)), ("version", .integer(1)), ("status", .string("deployed")),
                            ("chartName", .string(chartName)), ("chartVersion", .string(version)),
                        ])])))
                    } else {
                        extra += [("lastAppliedRevision", .string(version)), ("lastReleaseRevision", .integer(1))]
                    }
                    extra.append(("lastAttemptedRevision", .string(version)))
                }
            }
            let status = JSONValue.object([("conditions", .array(conditions))] + extra + [("observedGeneration", .integer(generation))])
            write(status, of: release, group: "helm.toolkit.fluxcd.io", plural: "helmreleases", component: "helm-controller")
        }
    }

    /// The stand-in for what a chart that fails to install leaves behind: its pod (labelled
    /// `app.kubernetes.io/instance=<release>`, as charts label their workloads) stuck pulling its
    /// image, with the kubelet's Warning events (`Failed`, `BackOff`).
    private func startFailingPods(of release: JSONValue, chart: String, version: String) {
        let name = release["metadata", "name"]?.string ?? "", namespace = release["metadata", "namespace"]?.string ?? ""
        let target = release["spec", "targetNamespace"]?.string ?? namespace
        let instance = release["spec", "releaseName"]?.string ?? name
        let podName = "\(instance)-\(Self.digest(instance).prefix(10))-\(Self.digest(version).prefix(5))"
        let image = "ghcr.io/example/\(chart):\(version)"
        let pod = JSONValue.object([
            ("apiVersion", .string("v1")), ("kind", .string("Pod")),
            ("metadata", .object([
                ("name", .string(podName)), ("namespace", .string(target)), ("uid", .string(UUID().uuidString.lowercased())),
                ("labels", .object([("app.kubernetes.io/instance", .string(instance)), ("app.kubernetes.io/name", .string(chart))])),
            ])),
            ("spec", .object([("containers", .array([.object([("name", .string(chart)), ("image", .string(image))])]))])),
            ("status", .object([("phase", .string("Pending"))])),
        ])
        server.api.store.put(FakeStore.Key(group: "", plural: "pods", namespace: target, name: podName), pod, type: "ADDED")
        record(event: "Warning", reason: "Failed", message: "Failed to pull image \"\(image)\": rpc error: code = NotFound desc = failed to pull and unpack image \"\(image)\": not found", on: pod, component: "kubelet")
        record(event: "Warning", reason: "BackOff", message: "Back-off pulling image \"\(image)\"", on: pod, component: "kubelet")
    }

    static func digest(_ text: String) -> String {
        // A stable stand-in digest (FNV-1a, widened): the fake needs distinct revisions, not SHA-256.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (0..<4).map { String(format: "%016llx", hash &* UInt64($0 + 1)) }.joined()
    }

    static let workloadKinds: Set<String> = Set(FakeWorkloadControllers.kinds.map(\.kind))

    static let clusterScoped: Set<String> = ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"]

    /// As source-controller does with `spec.secretRef`: the Secret's `username` and `password`
    /// as HTTP basic auth (given to git as a header, never on its command line).
    private func credentials(_ repository: JSONValue) -> [String: String] {
        guard let name = repository["spec", "secretRef", "name"]?.string,
            let secret = server.object(group: "", plural: "secrets", namespace: repository["metadata", "namespace"]?.string ?? "", name: name),
            let username = secret["data", "username"]?.string.flatMap({ Data(base64Encoded: $0) }),
            let password = secret["data", "password"]?.string.flatMap({ Data(base64Encoded: $0) })
        else { return ["GIT_TERMINAL_PROMPT": "0"] }
        let basic = (username + Data(":".utf8) + password).base64EncodedString()
        return ["GIT_CONFIG_PARAMETERS": "'http.extraHeader=Authorization: Basic \(basic)'", "GIT_TERMINAL_PROMPT": "0"]
    }

    /// What kustomize-controller does for a Kustomization of the branch: build its path at the
    /// revision with kustomize (a path without a kustomization.yaml gets the one
    /// kustomize-controller generates: every `.yaml`/`.yml` file below it, a folder that has its
    /// own kustomization listed as a whole, so the root's `flux-system` folder is built too);
    /// apply the Namespaces, Flux objects and workloads of the build, except an object whose
    /// in-cluster copy is annotated or labelled `kustomize.toolkit.fluxcd.io/reconcile: disabled`
    /// (kustomize-controller's exclusion selector: skipped, as fluxci's bootstrap GitRepository and
    /// root Kustomization are); and record every object of the build, skipped ones too, as an
    /// inventory entry exactly as kustomize-controller does (`internal/inventory`
    /// `AddChangeSet`: `id` is cli-utils' `ObjMetadata.String()`,
    /// `<namespace>_<name>_<group>_<kind>` with `:` in names written `__`, the namespace empty for
    /// cluster-scoped kinds; `v` is the version alone).
    private func applyChildren(path: String, url: String, credentials: [String: String], revision: String, key: String) async {
        guard lock.withLock({ inventories[key] == nil }) else { return }
        guard let branch = revision.split(separator: "@").first else { return }
        guard let checkout = try? TestPaths.temporaryDirectory("fluxci-controller") else { return }
        defer { try? FileManager.default.removeItem(at: checkout) }
        guard (try? await git(["clone", "--quiet", "--branch", String(branch), url, checkout.path], environment: credentials)) != nil else { return }
        let root = checkout.appendingPathComponent(path)
        var objects: [Built] = []
        if Self.hasKustomization(root) {
            objects = await Self.build(root)
        } else {
            // The generated kustomization has no transformer: its build is its resources' builds
            // together (a file's objects, a folder's own build), so each is built alone, and a
            // folder's build is kept for the run (the flux-system folder's 12,000 lines are the
            // same in every test).
            for resource in Self.generatedResources(root, relative: "") {
                let url = root.appendingPathComponent(resource)
                if Self.hasKustomization(url) {
                    objects += await Self.cachedBuild(url)
                } else if let text = try? String(contentsOf: url, encoding: .utf8) {
                    objects += ((try? Manifest.objects(text)) ?? []).map(Built.init)
                }
            }
        }
        let kinds = server.api.store.kinds
        func stored(_ object: Built) -> JSONValue? {
            guard let kind = kinds.first(where: { $0.apiVersion == object.apiVersion && $0.kind == object.kind }) else { return nil }
            return server.object(group: kind.group, plural: kind.plural, namespace: kind.namespaced ? (object.namespace ?? "default") : nil, name: object.name)
        }
        func excluded(_ object: Built) -> Bool {
            let live = stored(object)
            return [object.full()?.json, live].contains { json in
                json?["metadata", "annotations", "kustomize.toolkit.fluxcd.io/reconcile"]?.string == "disabled"
                    || json?["metadata", "labels", "kustomize.toolkit.fluxcd.io/reconcile"]?.string == "disabled"
            }
        }
        for object in objects where object.kind == "Namespace" && !excluded(object) { if let full = object.full() { server.applyAsController(full) } }
        for object in objects where (object.apiVersion.contains("toolkit.fluxcd.io/") || Self.workloadKinds.contains(object.kind)) && !excluded(object) {
            if let full = object.full() { server.applyAsController(full) }
        }
        let entries: [JSONValue] = objects.map { object in
            let parts = object.apiVersion.split(separator: "/").map(String.init)
            let (group, version) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
            let namespaced = kinds.first { $0.group == group && $0.kind == object.kind }?.namespaced ?? !Self.clusterScoped.contains(object.kind)
            let namespace = namespaced ? (object.namespace ?? "default") : ""
            let name = object.name.replacingOccurrences(of: ":", with: "__")
            return .object([("id", .string("\(namespace)_\(name)_\(group)_\(object.kind)")), ("v", .string(version))])
        }
        lock.withLock { inventories[key] = entries }
    }

    /// A folder's build. Only each document's head is read (kubectl kustomize writes `apiVersion`,
    /// `kind`, then `metadata` with two-space indented `name` and `namespace`); a document is
    /// parsed whole only when applied: gotk-components' CRDs are 12,000 lines the fake never needs.
    static func build(_ folder: URL) async -> [Built] {
        guard let built = try? await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", folder.path]), built.status == 0 else { return [] }
        return built.standardOutput.components(separatedBy: "\n---\n").compactMap(Built.init(text:))
    }

    private static let builds = BuildCache()

    /// A folder's build, kept by the content of its files when its kustomization reaches nothing
    /// outside it.
    static func cachedBuild(_ folder: URL) async -> [Built] {
        var key = ""
        if let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) {
            var parts: [String] = []
            for case let file as URL in walker {
                guard let data = FileManager.default.contents(atPath: file.path) else { continue }
                if ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains(file.lastPathComponent), String(decoding: data, as: UTF8.self).contains("..") { return await build(folder) }
                parts.append("\(file.path.dropFirst(folder.path.count))|\(data.count)|\(digest(String(decoding: data, as: UTF8.self)))")
            }
            key = parts.sorted().joined(separator: "\n")
        }
        if let cached = builds.get(key) { return cached }
        let objects = await build(folder)
        if !objects.isEmpty { builds.set(key, objects) }
        return objects
    }

    static func hasKustomization(_ folder: URL) -> Bool {
        ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
    }

    /// The resources of the kustomization kustomize-controller generates for a folder without
    /// one (fluxcd/pkg kustomize generator): its `.yaml`/`.yml` files and, recursively, those of
    /// its subfolders, a subfolder with a kustomization of its own as one entry.
    static func generatedResources(_ folder: URL, relative: String) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()  // filepath.Walk: lexical, dotfiles too
        var resources: [String] = []
        for name in names {
            let url = folder.appendingPathComponent(name), path = relative.isEmpty ? name : "\(relative)/\(name)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                resources += hasKustomization(url) ? [path] : generatedResources(url, relative: path)
            } else if ["yaml", "yml"].contains(url.pathExtension) {
                resources.append(path)
            }
        }
        return resources
    }
}

/// Builds kept for the test run, by the content of the folder built.
final class BuildCache: @unchecked Sendable {
    private let lock = NSLock()
    private var builds: [String: [Built]] = [:]
    func get(_ key: String) -> [Built]? { lock.withLock { builds[key] } }
    func set(_ key: String, _ objects: [Built]) { lock.withLock { builds[key] = objects } }
}

/// An object of a build: its head, and its text (parsed when needed) or the parsed object.
struct Built: Sendable {
    var apiVersion: String
    var kind: String
    var name: String
    var namespace: String?
    private var text: String?
    private var object: KubeObject?

    init(_ object: KubeObject) {
        apiVersion = object.apiVersion
        kind = object.kind
        name = object.name
        namespace = object.namespace
        self.object = object
    }

    /// The head of one document of kubectl kustomize's output; nil for an empty one.
    init?(text: String) {
        var apiVersion = "", kind = "", name = "", namespace: String?
        var inMetadata = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if !line.hasPrefix(" ") {
                inMetadata = line == "metadata:"
                if line.hasPrefix("apiVersion: ") { apiVersion = String(line.dropFirst("apiVersion: ".count)) }
                if line.hasPrefix("kind: ") { kind = String(line.dropFirst("kind: ".count)) }
            } else if inMetadata, line.hasPrefix("  name: ") {
                name = String(line.dropFirst("  name: ".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            } else if inMetadata, line.hasPrefix("  namespace: ") {
                namespace = String(line.dropFirst("  namespace: ".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            }
        }
        guard !kind.isEmpty else { return nil }
        (self.apiVersion, self.kind, self.name, self.namespace, self.text) = (apiVersion, kind, name, namespace, text)
    }

    func full() -> KubeObject? { object ?? text.flatMap { try? Manifest.objects($0).first } }
}
