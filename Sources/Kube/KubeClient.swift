import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small Kubernetes REST client over AsyncHTTPClient: TLS with the kubeconfig's CA and client
/// certificate, bearer tokens (static, from a file, or from an exec plugin), retries while the
/// API server warms up, and Status errors turned into `KubeError`s.
public final class KubeClient: Sendable {
    public let connection: Connection
    let tls: TLSConfiguration
    let discovery = DiscoveryCache()
    let credentials: ExecCredentials?
    /// How long requests are retried on 429, 5xx and refused connections.
    public let retryDeadline: Duration

    public init(_ connection: Connection, retryDeadline: Duration = .seconds(30)) throws(KubeError) {
        self.connection = connection
        self.retryDeadline = retryDeadline
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = connection.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca)))
            }
            if let certificate = connection.clientCertificatePEM {
                guard let key = connection.clientKeyPEM else {
                    throw KubeError.configuration(
                        "The user of context '\(connection.contextName)' (in \(connection.kubeconfig)) has a client certificate but no client key.",
                        fix: "Add client-key or client-key-data.")
                }
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificate)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key), format: .pem))
            }
        } catch let error as KubeError {
            throw error
        } catch {
            throw .configuration(
                "The certificates of context '\(connection.contextName)' (in \(connection.kubeconfig)) cannot be read: \(error).",
                fix: "Check that certificate-authority, client-certificate and client-key hold PEM data (RSA or EC keys).")
        }
        if connection.insecureSkipTLSVerify { tls.certificateVerification = .none }
        self.tls = tls
        credentials = connection.exec.map { ExecCredentials($0, connection: connection) }
    }

    // MARK: Requests

    /// One HTTP client for the process. Failed connections are not retried inside the pool:
    /// this client retries itself, within `retryDeadline`, so a server that is down is reported
    /// in that time instead of the request's.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        public var json: JSONValue {
            get throws(KubeError) {
                do { return try JSONValue.parse(body) } catch { throw .malformedResponse("\(error)") }
            }
        }
    }

    func makeRequest(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: Data?, contentType: String?) async throws(KubeError) -> HTTPClientRequest {
        var components = URLComponents()
        components.path = path
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        let base = connection.server.absoluteString.hasSuffix("/") ? String(connection.server.absoluteString.dropLast()) : connection.server.absoluteString
        var request = HTTPClientRequest(url: base + (components.percentEncodedPath) + (components.percentEncodedQuery.map { "?" + $0 } ?? ""))
        request.method = method
        request.tlsConfiguration = tls
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "fluxci")
        if let token = try await bearerToken() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    private func bearerToken() async throws(KubeError) -> String? {
        if let credentials { return try await credentials.token() }
        return connection.token
    }

    /// Sends a request and returns a 2xx answer; retries 429, 5xx and refused connections until
    /// `retryDeadline`, then throws what the server said.
    @discardableResult
    public func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil, contentType: String? = nil,
        timeout: TimeAmount = .seconds(30)
    ) async throws(KubeError) -> Response {
        let deadline = ContinuousClock.now + retryDeadline
        var delay = Duration.milliseconds(100)
        let label = "\(method.rawValue) \(path)"
        while true {
            let request = try await makeRequest(method, path, query: query, body: body, contentType: contentType)
            var retryAfter: Duration?
            var failure: KubeError
            do {
                let response = try await Self.http.execute(request, timeout: timeout)
                let bytes = try await response.body.collect(upTo: 256 << 20)
                let data = Data(bytes.readableBytesView)
                let code = Int(response.status.code)
                if (200..<300).contains(code) { return Response(status: code, body: data) }
                let status = KubeError.status(from: data, code: code, retryAfterHeader: response.headers.first(name: "Retry-After"))
                failure = .api(status, request: label)
                guard [429, 500, 502, 503, 504].contains(code) else { throw failure }
                retryAfter = status.retryAfter.map { .seconds($0) }
            } catch let error as KubeError {
                throw error
            } catch {
                failure = Self.transportError(error, server: connection.server.absoluteString)
                guard Self.isRetryable(error) else { throw failure }
            }
            let wait = min(retryAfter ?? delay, Duration.seconds(5))
            guard ContinuousClock.now + wait < deadline else { throw failure }
            try? await Task.sleep(for: wait)
            if Task.isCancelled { throw failure }
            delay = min(delay * 2, .seconds(2))
        }
    }

    /// One request, whatever the answer (no retries, no error for non-2xx): for tests and probes.
    func sendRaw(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil, contentType: String? = nil) async throws -> Response {
        let request = try await makeRequest(method, path, query: query, body: body, contentType: contentType)
        let response = try await Self.http.execute(request, timeout: .seconds(30))
        return Response(status: Int(response.status.code), body: Data(try await response.body.collect(upTo: 64 << 20).readableBytesView))
    }

    static func transportError(_ error: Error, server: String) -> KubeError {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return .unreachable(server: server, detail: "connection refused")
        }
        // A server going away (stopped, restarting) may accept a connection and close it.
        if text.contains("Connection reset") || text.contains("connectionReset") {
            return .unreachable(server: server, detail: "connection reset by the server")
        }
        if let ssl = error as? NIOSSLError { return .unreachable(server: server, detail: "TLS failed: \(ssl)") }
        if text.contains("handshakeFailed") || text.contains("certificate") {
            return .unreachable(server: server, detail: "TLS failed (\(text)); the server's certificate is not trusted by the kubeconfig's certificate-authority")
        }
        if let clientError = error as? HTTPClientError, clientError == .deadlineExceeded || clientError == .readTimeout {
            return .unreachable(server: server, detail: "the request timed out")
        }
        return .unreachable(server: server, detail: text)
    }

    /// Errors of a connection that went away (refused, reset, closed, or closed before the TLS
    /// handshake finished: an API server restarting or a proxy dropping the connection), which a
    /// new connection may not meet. A certificate the kubeconfig does not trust is not one.
    static func isRetryable(_ error: Error) -> Bool {
        switch error as? NIOSSLError {
        case .uncleanShutdown?: return true
        case .handshakeFailed(.sslError(let messages))?: return messages.contains(.eofDuringHandshake)
        case .some: return false
        case nil: break
        }
        let text = String(describing: error)
        return text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("connectTimeout")
            || text.contains("remoteConnectionClosed") || text.contains("ioOnClosedChannel") || text.contains("closed channel")
            || text.contains("Connection reset") || text.contains("connectionReset")
    }

    // MARK: Conveniences

    public func get(_ path: String) async throws(KubeError) -> JSONValue {
        try await send(.GET, path).json
    }

    /// The server's version (`GET /version`): also a cheap readiness probe.
    public func version() async throws(KubeError) -> String {
        try await get("/version")["gitVersion"]?.string ?? "unknown"
    }
}
