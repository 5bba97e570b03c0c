import Foundation
import Kube

/// A stand-in for Flux's source-, kustomize- and helm-controller, setting statuses on the fake
/// API server the way the recorded watch stream shows (Ready conditions, observedGeneration,
/// lastAttempted/lastAppliedRevision, DependencyNotReady). It fetches the branch from the real
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

    private func condition(_ status: String, _ reason: String, _ message: String) -> JSONValue {
        .object([
            ("type", .string("Ready")), ("status", .string(status)), ("reason", .string(reason)), ("message", .string(message)),
            ("lastTransitionTime", .string(FakeAPI.now())),
        ])
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
            let listing = (try? await git(["ls-remote", url, "refs/heads/\(branch)"], environment: credentials(repository))) ?? ""
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
                status = .object([
                    ("conditions", .array([condition("False", "GitOperationFailed", "failed to checkout and determine revision: unable to clone '\(url)'")])),
                    ("observedGeneration", .integer(Int64(generation))),
                ])
            }
            server.setStatus(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: namespace, name: name, status)
        }

        reconcileArtifactSources(into: &revisions)
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
                    status = .object([
                        ("conditions", .array([condition("False", reason, message)])),
                        ("lastAttemptedRevision", .string(revision)), ("observedGeneration", .integer(Int64(generation))),
                    ])
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
                    status = .object([
                        ("conditions", .array([condition("True", "ReconciliationSucceeded", "Applied revision: \(revision)")])),
                        ("inventory", .object([("entries", .array(entries))])),
                        ("lastAppliedRevision", .string(revision)), ("lastAttemptedRevision", .string(revision)),
                        ("observedGeneration", .integer(Int64(generation))),
                    ])
                }
            }
            if kustomization["status"].map({ Self.sameStatus($0, status) }) != true {
                server.setStatus(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: namespace, name: name, status)
            }
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
                    status = .object([
                        ("conditions", .array([condition("False", reason, message), .object([
                            ("type", .string("FetchFailed")), ("status", .string("True")), ("reason", .string(reason)), ("message", .string(message)),
                            ("lastTransitionTime", .string(FakeAPI.now())),
                        ])])),
                        ("observedGeneration", .integer(Int64(generation))),
                    ])
                }
                if source["status"].map({ Self.sameStatus($0, status) }) != true {
                    server.setStatus(group: "source.toolkit.fluxcd.io", plural: plural, namespace: namespace, name: name, status)
                }
            }
        }
    }

    /// What helm-controller does: wait for the dependsOn HelmReleases (DependencyNotReady) and
    /// for the chart's source (HelmChartNotReady, with helm-controller's message), then install
    /// `spec.chart.spec.version` (InstallSucceeded, a release snapshot in `status.history`) or
    /// fail (InstallFailed with the message).
    private func reconcileHelmReleases() {
        func ready(_ object: JSONValue?) -> Bool {
            guard let object else { return false }
            return (object["status", "conditions"]?.array ?? []).contains { $0["type"]?.string == "Ready" && $0["status"]?.string == "True" }
                && object["status", "observedGeneration"]?.int == object["metadata", "generation"]?.int
        }
        for release in server.objects(group: "helm.toolkit.fluxcd.io", plural: "helmreleases") {
            let name = release["metadata", "name"]?.string ?? "", namespace = release["metadata", "namespace"]?.string ?? ""
            let generation = Int64(release["metadata", "generation"]?.int ?? 1)
            let behaviour = lock.withLock { helmBehaviours[name] } ?? .install
            if case .never = behaviour { continue }
            let chart = release["spec", "chart", "spec", "chart"]?.string ?? name
            let version = release["spec", "chart", "spec", "version"]?.string ?? "0.1.0"
            let sourceRef = release["spec", "chart", "spec", "sourceRef"]
            let sourceNamespace = sourceRef?["namespace"]?.string ?? namespace
            let source = sourceRef.flatMap { ref -> JSONValue? in
                let plural = ["HelmRepository": "helmrepositories", "GitRepository": "gitrepositories", "Bucket": "buckets"][ref["kind"]?.string ?? ""] ?? "helmrepositories"
                return server.object(group: "source.toolkit.fluxcd.io", plural: plural, namespace: sourceNamespace, name: ref["name"]?.string ?? "")
            }
            let sourceReady = ready(source) || source?["spec", "type"]?.string == "oci"
            let dependencies = (release["spec", "dependsOn"]?.array ?? []).compactMap { dependency in
                dependency["name"]?.string.map { (dependency["namespace"]?.string ?? namespace, $0) }
            }
            var conditions: [JSONValue]
            var extra: [(String, JSONValue)] = []
            if let blocked = dependencies.first(where: { !ready(server.object(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: $0.0, name: $0.1)) }) {
                conditions = [condition("False", "DependencyNotReady", "dependency '\(blocked.0)/\(blocked.1)' is not ready")]
            } else if !sourceReady {
                conditions = [condition("False", "HelmChartNotReady", "HelmChart '\(sourceNamespace)/\(namespace)-\(name)' is not ready")]
            } else {
                switch behaviour {
                case .installFailed(let message):
                    conditions = [condition("False", "InstallFailed", message)]
                    extra = [("lastAttemptedRevision", .string(version)), ("installFailures", .integer(1))]
                default:
                    conditions = [condition("True", "InstallSucceeded", "Helm install succeeded for release \(namespace)/\(name).v1 with chart \(chart)@\(version)")]
                    extra = [
                        ("history", .array([.object([
                            ("name", .string(name)), ("namespace", .string(namespace)), ("version", .integer(1)), ("status", .string("deployed")),
                            ("chartName", .string(chart)), ("chartVersion", .string(version)),
                        ])])),
                        ("lastAttemptedRevision", .string(version)),
                    ]
                }
            }
            let status = JSONValue.object([("conditions", .array(conditions))] + extra + [("observedGeneration", .integer(generation))])
            if release["status"].map({ Self.sameStatus($0, status) }) != true {
                server.setStatus(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: namespace, name: name, status)
            }
        }
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
    /// revision (the root's flux-system ignored, as the bootstrap's GitRepository says), apply
    /// the Namespaces and Flux objects, and record every object of the build as an inventory
    /// entry (`<namespace>_<name>_<group>_<kind>`, `v` the version).
    private func applyChildren(path: String, url: String, credentials: [String: String], revision: String, key: String) async {
        guard lock.withLock({ inventories[key] == nil }) else { return }
        guard let branch = revision.split(separator: "@").first else { return }
        guard let checkout = try? TestPaths.temporaryDirectory("fluxci-controller") else { return }
        defer { try? FileManager.default.removeItem(at: checkout) }
        guard (try? await git(["clone", "--quiet", "--branch", String(branch), url, checkout.path], environment: credentials)) != nil else { return }
        let root = checkout.appendingPathComponent(path)
        var objects: [KubeObject] = []
        if ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains(where: { FileManager.default.fileExists(atPath: root.appendingPathComponent($0).path) }) {
            if let built = try? await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", root.path]), built.status == 0 {
                objects = (try? Manifest.objects(built.standardOutput)) ?? []
            }
        } else if let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) {
            for case let file as URL in walker {
                if file.path.contains("/flux-system/") { continue }
                guard ["yaml", "yml"].contains(file.pathExtension), let text = try? String(contentsOf: file, encoding: .utf8),
                    let found = try? Manifest.objects(text)
                else { continue }
                objects += found
            }
        }
        for object in objects where object.kind == "Namespace" { server.applyAsController(object) }
        for object in objects where object.apiVersion.contains("toolkit.fluxcd.io/") || Self.workloadKinds.contains(object.kind) {
            server.applyAsController(object)
        }
        let entries: [JSONValue] = objects.map { object in
            let parts = object.apiVersion.split(separator: "/").map(String.init)
            let (group, version) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
            let namespace = Self.clusterScoped.contains(object.kind) ? "" : (object.namespace ?? "default")
            return .object([("id", .string("\(namespace)_\(object.name)_\(group)_\(object.kind)")), ("v", .string(version))])
        }
        lock.withLock { inventories[key] = entries }
    }
}
