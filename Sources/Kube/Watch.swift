import AsyncHTTPClient
import Foundation
import NIOCore

public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR" }
    public var kind: Kind
    public var object: JSONValue

    public init(kind: Kind, object: JSONValue) {
        self.kind = kind
        self.object = object
    }
}

extension APIResource {
    /// A list item with its apiVersion and kind: the API server's lists of built-in kinds
    /// (Deployments, Jobs, …) leave them out of each item (only custom resources' items carry
    /// them), while watch events carry them always.
    public func typed(_ item: JSONValue) -> JSONValue {
        var item = item
        if item["kind"] == nil { item.set("kind", .string(kind)) }
        if item["apiVersion"] == nil { item.set("apiVersion", .string(apiVersion)) }
        return item
    }
}

extension KubeClient {
    /// Lists a collection, then watches it, handing every object state to `decide` (the listed
    /// items first, as ADDED) until it returns a value. Follows resource versions and bookmarks,
    /// reconnects when the stream drops, lists again on 410 Gone, and gives up at `timeout`.
    /// `decide` may throw to end the wait with an error (a failed reconciliation).
    public func observe<T: Sendable>(
        _ resource: APIResource, namespace: String?, fieldSelector: String? = nil, timeout: Duration,
        _ decide: @escaping @Sendable (WatchEvent) throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        let what = "\(resource.plural)\(fieldSelector.map { " (\($0))" } ?? "")"
        // The watch against the deadline; the one that ends first answers, the other is cancelled
        // without being waited for (`race`), so a decision returns at once.
        let first: T? = try await race([
            { @Sendable in try await self.listAndWatch(resource, namespace: namespace, fieldSelector: fieldSelector, deadline: deadline, decide) },
            {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            },
        ])
        guard let value = first else { throw KubeError.timeout("Waited \(timeout) for \(what) without the expected state.") }
        return value
    }

    private func listAndWatch<T>(
        _ resource: APIResource, namespace: String?, fieldSelector: String?, deadline: ContinuousClock.Instant,
        _ decide: @Sendable (WatchEvent) throws -> T?
    ) async throws -> T? {
        let path = resource.path(namespace: namespace)
        let selector: [(String, String)] = fieldSelector.map { [("fieldSelector", $0)] } ?? []
        relist: while true {
            let list = try await send(.GET, path, query: selector).json
            for listed in list["items"]?.array ?? [] {
                if let value = try decide(WatchEvent(kind: .added, object: resource.typed(listed))) { return value }
            }
            var version = list["metadata", "resourceVersion"]?.string ?? ""
            var failures = 0
            while ContinuousClock.now < deadline {
                try Task.checkCancellation()
                let remaining = deadline - ContinuousClock.now
                let seconds = max(1, min(300, Int(remaining.components.seconds) + 1))
                let query = selector + [("watch", "1"), ("resourceVersion", version), ("allowWatchBookmarks", "true"), ("timeoutSeconds", String(seconds))]
                let request = try await makeRequest(.GET, path, query: query, body: nil, contentType: nil)
                let response: HTTPClientResponse
                do {
                    response = try await Self.http.execute(request, timeout: .seconds(Int64(seconds) + 30))
                } catch {
                    // A dropped or refused connection while watching: reconnect from the last version.
                    failures += 1
                    guard failures < 20, Self.isRetryable(error) || error is HTTPClientError else { throw Self.transportError(error, server: connection.server.absoluteString) }
                    try await Task.sleep(for: .milliseconds(min(2000, 100 * (1 << min(failures, 5)))))
                    continue
                }
                guard response.status.code == 200 else {
                    let body = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
                    let status = KubeError.status(from: body, code: Int(response.status.code), retryAfterHeader: nil)
                    if status.code == 410 { continue relist }
                    throw KubeError.api(status, request: "watch \(path)")
                }
                failures = 0
                var pending = Data()
                do {
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let newline = pending.firstIndex(of: 0x0A) {
                            let line = pending[pending.startIndex..<newline]
                            pending = Data(pending[(newline + 1)...])
                            guard !line.isEmpty else { continue }
                            let json: JSONValue
                            do { json = try JSONValue.parse(Data(line)) } catch { throw KubeError.malformedResponse("a watch event is not JSON") }
                            guard let kindText = json["type"]?.string, let kind = WatchEvent.Kind(rawValue: kindText), let object = json["object"] else {
                                throw KubeError.malformedResponse("a watch event has no type or object")
                            }
                            switch kind {
                            case .error:
                                let status = KubeError.status(from: object.jsonData, code: object["code"]?.int ?? 500, retryAfterHeader: nil)
                                if status.code == 410 { continue relist }
                                throw KubeError.api(status, request: "watch \(path)")
                            case .bookmark:
                                version = object["metadata", "resourceVersion"]?.string ?? version
                            default:
                                version = object["metadata", "resourceVersion"]?.string ?? version
                                do {
                                    if let value = try decide(WatchEvent(kind: kind, object: object)) { return value }
                                } catch {
                                    throw Decided(error: error)
                                }
                            }
                        }
                    }
                } catch let error as KubeError {
                    throw error
                } catch let decided as Decided {
                    throw decided.error
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // The stream broke mid-way: reconnect from the last version seen.
                    try Task.checkCancellation()
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            // The deadline: nil, so that `observe` gives the one timeout error whichever of its
            // two tasks sees the deadline first (a race the loaded CI machine lost).
            return nil
        }
    }
}

/// An error `decide` threw while a stream was read: it ends the wait, unlike a broken stream.
private struct Decided: Error {
    let error: Error
}
