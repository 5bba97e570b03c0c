import Foundation
import Kube

/// The state of the fake API server: objects, resource versions, the event history watches
/// replay, and the kinds it serves (built-in ones and those CRDs add).
final class FakeStore: @unchecked Sendable {
    struct Kind: Sendable, Equatable {
        var group: String
        var version: String
        var kind: String
        var plural: String
        var namespaced: Bool
        /// The CRD's openAPIV3Schema, for validation.
        var schema: JSONValue?
        var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
        /// How error messages name the kind: `Secret`, `GitRepository.source.toolkit.fluxcd.io`.
        var qualifiedKind: String { group.isEmpty || !group.contains(".") || Self.builtinGroups.contains(group) ? kind : "\(kind).\(group)" }
        static let builtinGroups: Set<String> = ["apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "apiextensions.k8s.io"]
    }

    struct Key: Hashable {
        var group: String
        var plural: String
        var namespace: String?
        var name: String
    }

    struct Event {
        var version: Int
        var group: String
        var plural: String
        var namespace: String?
        var type: String
        var object: JSONValue
    }

    static let builtins: [Kind] = [
        Kind(group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false),
        Kind(group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true),
        Kind(group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true),
        Kind(group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true),
        Kind(group: "", version: "v1", kind: "Service", plural: "services", namespaced: true),
        Kind(group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true),
        Kind(group: "", version: "v1", kind: "Event", plural: "events", namespaced: true),
        Kind(group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false),
        Kind(group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true),
        Kind(group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true),
        Kind(group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true),
        Kind(group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", namespaced: true),
        Kind(group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true),
        Kind(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", namespaced: false),
        Kind(group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", namespaced: false),
        Kind(group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true),
        Kind(group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true),
        Kind(group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true),
        Kind(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition", plural: "customresourcedefinitions", namespaced: false),
    ]

    private let lock = NSLock()
    private var objects: [Key: JSONValue] = [:]
    private var owners: [Key: [String: String]] = [:]  // field path -> manager
    private(set) var version = 100
    private var events: [Event] = []
    private var oldestRetained = 0
    private var crdKinds: [Kind] = []
    private var subscribers: [UUID: @Sendable (Event) -> Void] = [:]
    /// How long a new CRD takes to become Established.
    var establishDelay: Duration = .milliseconds(30)

    init() {
        objects[Key(group: "", plural: "namespaces", namespace: nil, name: "default")] = .object([
            ("apiVersion", .string("v1")), ("kind", .string("Namespace")),
            ("metadata", .object([("name", .string("default")), ("uid", .string(UUID().uuidString.lowercased())), ("resourceVersion", .string("1"))])),
        ])
        // One Ready node, as a new kind cluster has.
        objects[Key(group: "", plural: "nodes", namespace: nil, name: "fluxci-control-plane")] = .object([
            ("apiVersion", .string("v1")), ("kind", .string("Node")),
            ("metadata", .object([("name", .string("fluxci-control-plane")), ("uid", .string(UUID().uuidString.lowercased())), ("resourceVersion", .string("2"))])),
            ("status", .object([("conditions", .array([.object([("type", .string("Ready")), ("status", .string("True")), ("reason", .string("KubeletReady"))])]))])),
        ])
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var kinds: [Kind] { withLock { Self.builtins + crdKinds } }

    func kind(group: String, version: String, plural: String) -> Kind? {
        kinds.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    func groups() -> [String: [String]] {
        var result: [String: [String]] = [:]
        for kind in kinds where !kind.group.isEmpty {
            if !(result[kind.group]?.contains(kind.version) ?? false) { result[kind.group, default: []].append(kind.version) }
        }
        return result
    }

    func get(_ key: Key) -> JSONValue? { withLock { objects[key] } }

    func list(group: String, plural: String, namespace: String?) -> (items: [JSONValue], version: Int) {
        withLock {
            let items = objects.filter { $0.key.group == group && $0.key.plural == plural && (namespace == nil || $0.key.namespace == namespace) }
                .sorted { ($0.key.namespace ?? "", $0.key.name) < ($1.key.namespace ?? "", $1.key.name) }.map(\.value)
            return (items, version)
        }
    }

    func namespaceExists(_ name: String) -> Bool { get(Key(group: "", plural: "namespaces", namespace: nil, name: name)) != nil }

    /// Stores an object (bumping its resource version) and tells the watchers.
    @discardableResult
    func put(_ key: Key, _ object: JSONValue, type: String) -> JSONValue {
        let (stored, event, listeners): (JSONValue, Event, [@Sendable (Event) -> Void]) = withLock {
            version += 1
            var object = object
            var metadata = object["metadata"] ?? .object([])
            metadata.set("resourceVersion", .string(String(version)))
            object.set("metadata", metadata)
            if type == "DELETED" { objects[key] = nil; owners[key] = nil } else { objects[key] = object }
            let event = Event(version: version, group: key.group, plural: key.plural, namespace: key.namespace, type: type, object: object)
            events.append(event)
            if events.count > 10_000 { events.removeFirst(events.count - 10_000); oldestRetained = events.first?.version ?? version }
            return (object, event, Array(subscribers.values))
        }
        for listener in listeners { listener(event) }
        return stored
    }

    func owners(_ key: Key) -> [String: String] { withLock { owners[key] ?? [:] } }
    func setOwners(_ key: Key, _ value: [String: String]) { withLock { owners[key] = value } }

    func addCRDKinds(_ new: [Kind]) {
        withLock { crdKinds.removeAll { kind in new.contains { $0.group == kind.group && $0.plural == kind.plural } }; crdKinds += new }
    }

    /// Events after `version` for a collection; nil when `version` is older than the history kept.
    func events(after version: Int, group: String, plural: String, namespace: String?) -> [Event]? {
        withLock {
            guard version >= oldestRetained else { return nil }
            return events.filter { $0.version > version && $0.group == group && $0.plural == plural && (namespace == nil || $0.namespace == namespace) }
        }
    }

    /// Forgets the event history, so watches from an older version get 410 Gone.
    func compact() { withLock { events.removeAll(); oldestRetained = version } }

    func subscribe(_ listener: @escaping @Sendable (Event) -> Void) -> UUID {
        withLock {
            let id = UUID()
            subscribers[id] = listener
            return id
        }
    }

    func unsubscribe(_ id: UUID) { _ = withLock { subscribers.removeValue(forKey: id) } }
}
