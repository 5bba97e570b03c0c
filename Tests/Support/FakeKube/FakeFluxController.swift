import Foundation
import Kube

/// A stand-in for Flux's source- and kustomize-controller, setting statuses on the fake API
/// server the way the recorded watch stream shows (Ready conditions, observedGeneration,
/// lastAttempted/lastAppliedRevision, DependencyNotReady). It fetches the branch from the real
/// git server (`git ls-remote`, `git clone`) and applies the root Kustomization's child
/// Kustomizations from the repository, so the revision and the objects are the real ones.
public final class FakeFluxController: @unchecked Sendable {
    public enum Behaviour: Sendable {
        case succeed
        case fail(reason: String, message: String)
        /// Ready, but at another revision: must not count.
        case staleRevision
        /// Never reconciles.
        case never
    }

    let server: FakeAPIServer
    private let lock = NSLock()
    private var behaviours: [String: Behaviour] = [:]
    private var subscription: UUID?
    private var appliedChildren: Set<String> = []
    private let work = AsyncStream<Void>.makeStream()
    private var loop: Task<Void, Never>?
    private var ticker: Task<Void, Never>?

    public init(server: FakeAPIServer) { self.server = server }

    /// How the Kustomization `name` reconciles (default: it succeeds).
    public func set(_ name: String, _ behaviour: Behaviour) {
        lock.withLock { behaviours[name] = behaviour }
        work.continuation.yield()
    }

    public func start() {
        subscription = server.api.store.subscribe { [weak self] event in
            guard event.group == "source.toolkit.fluxcd.io" || event.group == "kustomize.toolkit.fluxcd.io" else { return }
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
        var revisions: [String: String] = [:]
        for repository in server.objects(group: "source.toolkit.fluxcd.io", plural: "gitrepositories") {
            let name = repository["metadata", "name"]?.string ?? "", namespace = repository["metadata", "namespace"]?.string ?? ""
            let generation = repository["metadata", "generation"]?.int ?? 1
            guard let url = repository["spec", "url"]?.string, let branch = repository["spec", "ref", "branch"]?.string else { continue }
            if repository["status", "observedGeneration"]?.int == generation, let revision = repository["status", "artifact", "revision"]?.string {
                revisions["\(namespace)/\(name)"] = revision
                continue
            }
            let listing = (try? await git(["ls-remote", url, "refs/heads/\(branch)"], environment: credentials(repository))) ?? ""
            let status: JSONValue
            if let commit = listing.split(separator: "\t").first, !commit.isEmpty {
                let revision = "\(branch)@sha1:\(commit)"
                revisions["\(namespace)/\(name)"] = revision
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
            guard let revision = revisions["\(namespace)/\(sourceName)"] else { continue }
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
                    if let path = kustomization["spec", "path"]?.string, let source = server.objects(group: "source.toolkit.fluxcd.io", plural: "gitrepositories")
                        .first(where: { $0["metadata", "name"]?.string == sourceName }), let url = source["spec", "url"]?.string
                    {
                        await applyChildren(path: path, url: url, credentials: credentials(source), revision: revision, key: "\(namespace)/\(name)@\(revision)")
                    }
                    status = .object([
                        ("conditions", .array([condition("True", "ReconciliationSucceeded", "Applied revision: \(revision)")])),
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

    /// What kustomize-controller does for the root: apply the Flux Kustomizations found under
    /// its path at the revision (flux-system ignored, as the bootstrap's GitRepository says).
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

    private func applyChildren(path: String, url: String, credentials: [String: String], revision: String, key: String) async {
        guard lock.withLock({ appliedChildren.insert(key).inserted }) else { return }
        guard let branch = revision.split(separator: "@").first else { return }
        guard let checkout = try? TestPaths.temporaryDirectory("fluxci-controller") else { return }
        defer { try? FileManager.default.removeItem(at: checkout) }
        guard (try? await git(["clone", "--quiet", "--branch", String(branch), url, checkout.path], environment: credentials)) != nil else { return }
        let root = checkout.appendingPathComponent(path)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return }
        for case let file as URL in walker {
            if file.path.contains("/flux-system/") { continue }
            guard ["yaml", "yml"].contains(file.pathExtension), let text = try? String(contentsOf: file, encoding: .utf8),
                let objects = try? Manifest.objects(text)
            else { continue }
            for object in objects where object.kind == "Kustomization" && object.apiVersion.hasPrefix("kustomize.toolkit.fluxcd.io/") {
                server.applyAsController(object)
            }
        }
    }
}
