import Foundation
import NIOHTTP1

/// A failed apply, with the object it was for (and where that object is defined).
public struct ApplyError: Error, Sendable, CustomStringConvertible {
    public var object: KubeObject
    public var error: KubeError
    public var description: String { "\(object.reference): \(error)" }
}

public struct ApplyResult: Sendable {
    public var object: KubeObject
    /// 201: the object did not exist.
    public var created: Bool
    public var live: JSONValue
}

extension KubeClient {
    /// Server-side apply: `PATCH …?fieldManager=fluxci&force=…` with the object as
    /// `application/apply-patch+yaml` (JSON is YAML).
    public func apply(_ object: KubeObject, force: Bool = true, fieldManager: String = "fluxci") async throws(ApplyError) -> ApplyResult {
        do {
            let resource = try await resource(apiVersion: object.apiVersion, kind: object.kind)
            let namespace = resource.namespaced ? (object.namespace ?? connection.namespace) : nil
            var json = object.json
            if let namespace, object.namespace == nil, case .object = json["metadata"] {
                var metadata = json["metadata"]!
                metadata.set("namespace", .string(namespace))
                json.set("metadata", metadata)
            }
            let response = try await send(
                .PATCH, resource.path(namespace: namespace, name: object.name),
                query: [("fieldManager", fieldManager), ("force", force ? "true" : "false")],
                body: json.jsonData, contentType: "application/apply-patch+yaml")
            return ApplyResult(object: object, created: response.status == 201, live: try response.json)
        } catch {
            throw ApplyError(object: object, error: error)
        }
    }

    /// Applies many objects in the order a cluster needs: Namespaces and CRDs first, then (once
    /// the CRDs whose kinds are among the objects are Established, so those kinds are served) the
    /// rest, several at a time.
    public func applyAll(
        _ objects: [KubeObject], force: Bool = true, concurrency: Int = 8, crdTimeout: Duration = .seconds(60),
        onApplied: @escaping @Sendable (ApplyResult) -> Void = { _ in }
    ) async throws -> [ApplyResult] {
        let isFirst: (KubeObject) -> Bool = { $0.kind == "Namespace" || $0.kind == "CustomResourceDefinition" }
        let first = objects.filter(isFirst), rest = objects.filter { !isFirst($0) }
        var results = try await applyConcurrently(first, force: force, concurrency: concurrency, onApplied: onApplied)
        let needed = first.filter { crd in
            guard crd.kind == "CustomResourceDefinition", let group = crd.json["spec", "group"]?.string,
                let kind = crd.json["spec", "names", "kind"]?.string
            else { return false }
            return rest.contains { $0.kind == kind && $0.apiVersion.hasPrefix(group + "/") }
        }
        if !needed.isEmpty { try await waitForEstablished(needed, timeout: crdTimeout) }
        results += try await applyConcurrently(rest, force: force, concurrency: concurrency, onApplied: onApplied)
        return results
    }

    private func applyConcurrently(
        _ objects: [KubeObject], force: Bool, concurrency: Int, onApplied: @escaping @Sendable (ApplyResult) -> Void
    ) async throws -> [ApplyResult] {
        try await withThrowingTaskGroup(of: (Int, ApplyResult).self) { group in
            var results = [ApplyResult?](repeating: nil, count: objects.count)
            var next = 0
            func start() {
                guard next < objects.count else { return }
                let index = next, object = objects[index]
                next += 1
                group.addTask {
                    let result = try await self.apply(object, force: force)
                    onApplied(result)
                    return (index, result)
                }
            }
            for _ in 0..<max(1, concurrency) { start() }
            while let (index, result) = try await group.next() {
                results[index] = result
                start()
            }
            return results.compactMap { $0 }
        }
    }

    /// Waits (one watch, not polling) until every CRD reports Established=True.
    public func waitForEstablished(_ crds: [KubeObject], timeout: Duration) async throws {
        let resource = try await resource(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition")
        let wanted = Set(crds.map(\.name))
        let established = Established()
        let selector = crds.count == 1 ? "metadata.name=\(crds[0].name)" : nil
        _ = try await observe(resource, namespace: nil, fieldSelector: selector, timeout: timeout) { event -> Bool? in
            guard let name = event.object["metadata", "name"]?.string, wanted.contains(name) else { return nil }
            let conditions = event.object["status", "conditions"]?.array ?? []
            guard conditions.contains(where: { $0["type"]?.string == "Established" && $0["status"]?.string == "True" }) else { return nil }
            return established.insert(name, completing: wanted) ? true : nil
        }
    }

    /// Deletes an object; a missing one is not an error (returns false).
    @discardableResult
    public func delete(_ resource: APIResource, namespace: String?, name: String) async throws(KubeError) -> Bool {
        do {
            try await send(.DELETE, resource.path(namespace: namespace, name: name))
            return true
        } catch where error.isNotFound {
            return false
        }
    }

    /// An object, or nil when it does not exist.
    public func fetch(_ resource: APIResource, namespace: String?, name: String) async throws(KubeError) -> JSONValue? {
        do {
            return try await get(resource.path(namespace: namespace, name: name))
        } catch where error.isNotFound {
            return nil
        }
    }
}

/// The CRDs seen Established so far, across watch events.
private final class Established: @unchecked Sendable {
    private let lock = NSLock()
    private var names: Set<String> = []

    /// Adds a name; true once every wanted name is in.
    func insert(_ name: String, completing wanted: Set<String>) -> Bool {
        lock.withLock {
            names.insert(name)
            return names.isSuperset(of: wanted)
        }
    }
}
