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

    private var groups: Task<[String: [String]], Error>?

    /// `GET /apis`: every group's served versions, the preferred one first (as the API server
    /// lists them: `preferredVersion`, then `versions` in its own order of priority).
    func groupVersions(client: KubeClient, refresh: Bool) async throws(KubeError) -> [String: [String]] {
        if refresh || groups == nil {
            groups = Task {
                let list = try await client.get("/apis")
                var result: [String: [String]] = [:]
                for group in list["groups"]?.array ?? [] {
                    guard let name = group["name"]?.string else { continue }
                    var versions: [String] = group["preferredVersion", "version"]?.string.map { [$0] } ?? []
                    for version in group["versions"]?.array ?? [] {
                        if let version = version["version"]?.string, !versions.contains(version) { versions.append(version) }
                    }
                    result[name] = versions
                }
                return result
            }
        }
        do {
            return try await groups!.value
        } catch {
            groups = nil
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
    /// The resource serving `kind` of `group` at the version the API server prefers among those
    /// that serve it, found by discovery (`GET /apis`, then the group version's resource list):
    /// a HelmRelease is watched as helm.toolkit.fluxcd.io/v2 where v2 is served, as v2beta2 or
    /// v2beta1 on a cluster whose CRD serves only those, whatever version its manifest says.
    /// The core group is `v1`. Asks again once when nothing serves it (a CRD just established).
    public func preferredResource(group: String, kind: String) async throws(KubeError) -> APIResource {
        if group.isEmpty { return try await resource(apiVersion: "v1", kind: kind) }
        for refresh in [false, true] {
            let versions = try await discovery.groupVersions(client: self, refresh: refresh)[group] ?? []
            for version in versions {
                if let found = try await discovery.resources("\(group)/\(version)", client: self, refresh: refresh).first(where: { $0.kind == kind }) {
                    return found
                }
            }
        }
        throw .api(
            KubeError.Status(
                code: 404, reason: "NotFound", message: "the server serves no version of \(kind) in \(group)", kind: nil, name: nil, causes: [],
                retryAfter: nil),
            request: "discovery of \(group)")
    }

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
