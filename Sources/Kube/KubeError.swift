import Foundation

/// What went wrong talking to a cluster, with what a user can do about it. API errors come from
/// the server's Status objects.
public enum KubeError: Error, Sendable, CustomStringConvertible {
    public struct Cause: Sendable, Equatable {
        public var reason: String
        public var message: String
        public var field: String
    }

    public struct Status: Sendable {
        public var code: Int
        public var reason: String
        public var message: String
        public var kind: String?
        public var name: String?
        public var causes: [Cause]
        /// Seconds, from Retry-After or details.retryAfterSeconds.
        public var retryAfter: Int?
    }

    /// A kubeconfig or connection setting is wrong.
    case configuration(String, fix: String)
    /// The server answered with a Status (or an error without one).
    case api(Status, request: String)
    /// The server could not be reached.
    case unreachable(server: String, detail: String)
    /// The server's answer could not be read.
    case malformedResponse(String)
    /// The exec credential plugin failed.
    case credentialPlugin(String, fix: String)
    /// A wait ran out of time.
    case timeout(String)

    public var description: String {
        switch self {
        case .configuration(let message, _), .credentialPlugin(let message, _): message
        case .api(let status, let request): "\(request): \(status.message) (\(status.code) \(status.reason))"
        case .unreachable(let server, let detail): "cannot reach the API server \(server): \(detail)"
        case .malformedResponse(let detail): "the API server's answer could not be read: \(detail)"
        case .timeout(let detail): detail
        }
    }

    public var status: Status? { if case .api(let status, _) = self { status } else { nil } }
    public var isNotFound: Bool { status?.code == 404 }
    public var isConflict: Bool { status?.code == 409 && status?.reason == "Conflict" }

    /// What to do about it.
    /// A short name of the kind of failure, for an annotation's title.
    public var title: String {
        switch self {
        case .configuration: "Kubeconfig"
        case .api(let status, _): "Kubernetes API: \(status.reason)"
        case .unreachable: "API server unreachable"
        case .malformedResponse: "Kubernetes API"
        case .credentialPlugin: "Credential plugin"
        case .timeout: "Timed out"
        }
    }

    public var fix: String {
        switch self {
        case .configuration(_, let fix), .credentialPlugin(_, let fix): return fix
        case .unreachable: return "Check that the cluster is running (`fluxci cluster status`) and that the kubeconfig points at it."
        case .malformedResponse: return "Check that the server is a Kubernetes API server."
        case .timeout: return "Look at the object's status and events; raise --timeout if it is only slow."
        case .api(let status, _):
            switch (status.code, status.reason) {
            case (401, _): return "The credentials were refused: the token expired or the client certificate is not trusted. Refresh the kubeconfig."
            case (403, _): return "Grant the user the permission (a Role or ClusterRole binding), or use a context with more rights."
            case (404, _) where status.kind == "namespaces": return "Create the namespace first (fluxci creates flux-system itself)."
            case (404, _): return "Check the name and namespace; for a custom resource, that its CRD is installed."
            case (409, "AlreadyExists"): return "The object exists; fluxci applies server-side, which updates it."
            case (409, "Conflict"): return "Another field manager owns these fields (\(status.causes.map(\.field).joined(separator: ", "))); apply with force, or change them through their owner."
            case (422, _), (400, _): return "Fix the object: " + (status.causes.map { "\($0.field): \($0.message)" }.joined(separator: "; ").nonEmpty ?? status.message)
            case (429, _): return "The API server is overloaded; retry later."
            default: return "See the API server's message."
            }
        }
    }

    /// Reads a Status body; nil when the body is not one.
    static func status(from body: Data, code: Int, retryAfterHeader: String?) -> Status {
        let json = try? JSONValue.parse(body)
        let details = json?["details"]
        let causes = (details?["causes"]?.array ?? []).map {
            Cause(reason: $0["reason"]?.string ?? "", message: $0["message"]?.string ?? "", field: $0["field"]?.string ?? "")
        }
        let message = json?["message"]?.string
            ?? String(decoding: body.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Status(
            code: json?["code"]?.int ?? code, reason: json?["reason"]?.string ?? HTTPReason.phrase(code), message: message.isEmpty ? HTTPReason.phrase(code) : message,
            kind: details?["kind"]?.string, name: details?["name"]?.string, causes: causes,
            retryAfter: retryAfterHeader.flatMap { Int($0) } ?? details?["retryAfterSeconds"]?.int)
    }
}

enum HTTPReason {
    static func phrase(_ code: Int) -> String {
        switch code {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 409: "Conflict"
        case 410: "Gone"
        case 422: "Invalid"
        case 429: "TooManyRequests"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "HTTP \(code)"
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
