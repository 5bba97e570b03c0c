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
    /// every CRD is Established, so its kinds are served) the rest, several at a time.
    public func applyAll(
        _ objects: [KubeObject], force: Bool = true, concurrency: Int = 8, crdTimeout: Duration = .seconds(60),
        onApplied: @escaping @Sendable (ApplyResult) -> Void = { _ in }
    ) async throws -> [ApplyResult] {
        let isFirst: (KubeObject) -> Bool = { $0.kind == "Namespace" || $0.kind == "CustomResourceDefinition" }
        let first = objects.filter(isFirst), rest = objects.filter { !isFirst($0) }
        var results = try await applyConcurrently(first, force: force, concurrency: concurrency, onApplied: onApplied)
        for crd in first where crd.kind == "CustomResourceDefinition" {
            try await waitForEstablished(crd, timeout: crdTimeout)
        }
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

    /// Waits (watching, not polling) until a CRD reports Established=True.
    public func waitForEstablished(_ crd: KubeObject, timeout: Duration) async throws {
        let resource = try await resource(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition")
        _ = try await observe(resource, namespace: nil, fieldSelector: "metadata.name=\(crd.name)", timeout: timeout) { event -> Bool? in
            let conditions = event.object["status", "conditions"]?.array ?? []
            return conditions.contains { $0["type"]?.string == "Established" && $0["status"]?.string == "True" } ? true : nil
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
