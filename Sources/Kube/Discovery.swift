import Foundation

/// One kind the API server serves.
public struct APIResource: Sendable, Equatable {
    public var group: String
    public var version: String
    public var kind: String
    public var plural: String
    public var namespaced: Bool

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The collection's path (`/api/v1/namespaces/ns/secrets`, `/apis/g/v/kinds`).
    public func path(namespace: String?, name: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(plural)"
        if let name { path += "/\(name)" }
        return path
    }
}

/// Discovery, cached for the run; a group version is fetched again when a kind is missing (a
/// CRD that was just established).
actor DiscoveryCache {
    private var resources: [String: Task<[APIResource], Error>] = [:]

    /// Concurrent callers for one group version share a single request.
    func resources(_ apiVersion: String, client: KubeClient, refresh: Bool) async throws(KubeError) -> [APIResource] {
        if refresh || resources[apiVersion] == nil {
            resources[apiVersion] = Task { try await Self.fetch(apiVersion, client: client) }
        }
        do {
            return try await resources[apiVersion]!.value
        } catch {
            resources[apiVersion] = nil
            throw error as? KubeError ?? .malformedResponse("\(error)")
        }
    }

    private static func fetch(_ apiVersion: String, client: KubeClient) async throws(KubeError) -> [APIResource] {
        let parts = apiVersion.split(separator: "/").map(String.init)
        let (group, version) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
        let path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        let list: JSONValue
        do {
            list = try await client.get(path)
        } catch let error where error.isNotFound {
            return []
        }
        return (list["resources"]?.array ?? []).compactMap { item -> APIResource? in
            guard let name = item["name"]?.string, !name.contains("/"), let kind = item["kind"]?.string else { return nil }
            return APIResource(group: group, version: version, kind: kind, plural: name, namespaced: item["namespaced"]?.bool ?? false)
        }
    }
}

extension KubeClient {
    /// The resource serving `kind` in `apiVersion`.
    public func resource(apiVersion: String, kind: String) async throws(KubeError) -> APIResource {
        for refresh in [false, true] {
            if let resource = try await discovery.resources(apiVersion, client: self, refresh: refresh).first(where: { $0.kind == kind }) {
                return resource
            }
        }
        throw .api(
            KubeError.Status(
                code: 404, reason: "NotFound", message: "the server does not serve \(kind) in \(apiVersion)", kind: nil, name: nil, causes: [],
                retryAfter: nil),
            request: "discovery of \(apiVersion)")
    }
}
