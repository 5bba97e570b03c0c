import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Subprocess
import SystemPackage

/// A read-only git server for one `ServedRepository`: git's smart HTTP protocol answered by the
/// real `git http-backend` (as a CGI program, the way git's own documentation sets it up behind a
/// web server), with a small SwiftNIO front that passes on only what upload-pack needs —
/// `GET /<name>/info/refs?service=git-upload-pack` and `POST /<name>/git-upload-pack` — refuses
/// receive-pack (no push) and everything else (no dumb-HTTP file access), and, with a token,
/// wants HTTP basic auth `x-access-token:<token>` (the username Flux's GitRepository Secret
/// gives, as for GitHub). Bound to one address, never the wildcard; the port is the kernel's
/// choice. Each request is a line in the access log (never the Authorization header).
public final class SmartHTTPServer: Sendable {
    public let repository: ServedRepository
    /// The address bound and the port the kernel chose.
    public let host: String
    public let port: Int
    /// The host the cluster uses in the URL (the bound address, or a name that reaches it).
    public let advertisedHost: String
    public static let username = "x-access-token"

    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: Channel
    private let connections: ConnectionSet
    private let accept: Task<Void, Never>
    private let log: AccessLog?

    /// `http://<host>:<port>/<name>`, IPv6 addresses in brackets.
    public var url: String {
        let host = advertisedHost.contains(":") ? "[\(advertisedHost)]" : advertisedHost
        return "http://\(host):\(port)/\(repository.name)"
    }

    public enum StartError: Error, CustomStringConvertible {
        case wildcard(String)
        case bind(String, String)
        case noGit

        public var description: String {
            switch self {
            case .wildcard(let host): "\(host) is every interface of the machine; fluxci binds the served repository to one address only"
            case .bind(let host, let reason): "cannot listen on \(host): \(reason)"
            case .noGit: "git is not on PATH (the served repository is answered by `git http-backend`)"
            }
        }
    }

    /// Starts listening on `host` (an IP address or a name resolving to one) at a free port.
    public static func start(
        _ repository: ServedRepository, host: String, advertisedHost: String? = nil, token: String?, accessLog: URL?, environment: [String: String]
    ) async throws -> SmartHTTPServer {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", "*", ""].contains(bare) { throw StartError.wildcard(host) }
        guard let git = GitTool.path(environment) else { throw StartError.noGit }
        let log = try accessLog.map { try AccessLog($0) }
        let backend = Backend(git: git, repository: repository, token: token, environment: environment, log: log)
        let connections = ConnectionSet()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: bare, port: 0) { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        // The deinit-based teardown on purpose (tester t16 F1): a connection accepted
                        // after the accept stream ended (stopped, or ended by an accept error such as
                        // EMFILE under load) is never taken from the stream; wrapped this way it is
                        // closed when dropped, where `wrappingChannelSynchronously` traps the whole
                        // process ("Deinited NIOAsyncWriter without calling finish()").
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(synchronouslyWrapping: child)
                    }
                }
        } catch {
            try? await group.shutdownGracefully()
            throw StartError.bind(host, "\(error)")
        }
        let port = server.channel.localAddress?.port ?? 0
        let accept = Task<Void, Never> {
            _ = try? await server.executeThenClose { inbound in
                await withDiscardingTaskGroup { tasks in
                    do {
                        for try await connection in inbound {
                            connections.insert(connection.channel)
                            tasks.addTask {
                                await backend.serve(connection)
                                connections.remove(connection.channel)
                            }
                        }
                    } catch {}
                }
            }
        }
        return SmartHTTPServer(
            repository: repository, host: bare, port: port, advertisedHost: advertisedHost ?? bare, group: group, serverChannel: server.channel,
            connections: connections, accept: accept, log: log)
    }

    private init(
        repository: ServedRepository, host: String, port: Int, advertisedHost: String, group: MultiThreadedEventLoopGroup, serverChannel: Channel,
        connections: ConnectionSet, accept: Task<Void, Never>, log: AccessLog?
    ) {
        self.repository = repository
        self.host = host
        self.port = port
        self.advertisedHost = advertisedHost
        self.group = group
        self.serverChannel = serverChannel
        self.connections = connections
        self.accept = accept
        self.log = log
    }

    /// Stops listening (the port is free when this returns), drops open connections and ends
    /// the event loop. Idempotent.
    ///
    /// The accept loop is not cancelled but let run out: once the listening channel is closed its
    /// inbound stream ends after the connections already accepted, and each of those is closed
    /// through `executeThenClose`. A connection accepted and never taken from the stream (as a
    /// cancelled loop leaves one that arrives while the server stops) traps in NIO's
    /// `NIOAsyncWriter` deinit ("Deinited NIOAsyncWriter without calling finish()": tester t16
    /// F1, a cluster's source-controller polling while a failed run tears down).
    public func stop() async {
        try? await serverChannel.close()
        for channel in connections.stopping() { try? await channel.close() }
        let accept = self.accept
        // Bounded: a connection whose serving does not end is given up after a while.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await accept.value }
            group.addTask { try? await Task.sleep(for: .seconds(10)) }
            await group.next()
            group.cancelAll()
        }
        try? await group.shutdownGracefully()
        log?.close()
    }
}

/// Open connections, closed when the server stops (git clients keep them alive); one that
/// arrives while it stops is closed at once.
final class ConnectionSet: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]
    private var closing = false
    func insert(_ channel: Channel) {
        let refused = lock.withLock { () -> Bool in
            if closing { return true }
            channels[ObjectIdentifier(channel)] = channel
            return false
        }
        if refused { channel.close(promise: nil) }
    }
    func remove(_ channel: Channel) { _ = lock.withLock { channels.removeValue(forKey: ObjectIdentifier(channel)) } }
    /// The open connections, and from now on every new one is closed as it comes.
    func stopping() -> [Channel] {
        lock.withLock {
            closing = true
            return Array(channels.values)
        }
    }
}

/// One line a request: time, client, method, path, status, bytes sent, user agent.
final class AccessLog: @unchecked Sendable {
    private let lock = NSLock()
    private var handle: FileHandle?

    init(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        handle = try FileHandle(forWritingTo: url)
        handle?.seekToEndOfFile()
    }

    func write(client: String, method: String, path: String, status: Int, bytes: Int, agent: String) {
        let time = ISO8601DateFormatter().string(from: Date())
        // Client-supplied text is quoted with its quotes and control characters escaped.
        func quoted(_ text: String) -> String {
            "\"" + text.unicodeScalars.map { $0 == "\"" || $0 == "\\" ? "\\\($0)" : $0.value < 0x20 || $0.value == 0x7f ? String(format: "\\x%02x", $0.value) : String($0) }.joined() + "\""
        }
        let line = "\(time) \(client) \(quoted("\(method) \(path)")) \(status) \(bytes) \(quoted(agent))\n"
        lock.withLock { handle?.write(Data(line.utf8)) }
    }

    func close() {
        lock.withLock {
            try? handle?.close()
            handle = nil
        }
    }
}

/// Answers requests: routes, authentication, and `git http-backend` as CGI.
struct Backend: Sendable {
    let git: String
    let repository: ServedRepository
    let token: String?
    let environment: [String: String]
    let log: AccessLog?

    /// A request body larger than this is refused (a fetch's list of haves is far smaller).
    static let maximumBody = 64 << 20

    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let client = connection.channel.remoteAddress?.ipAddress ?? "-"
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                    tooLarge = false
                case .body(var chunk):
                    if body.readableBytes + chunk.readableBytes > Self.maximumBody { tooLarge = true } else { body.writeBuffer(&chunk) }
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let (status, bytes) = try await respond(request, body: tooLarge ? nil : body, outbound: outbound)
                    log?.write(
                        client: client, method: request.method.rawValue, path: request.uri, status: status, bytes: bytes,
                        agent: request.headers.first(name: "user-agent") ?? "-")
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    /// Plain-text answers of the front itself.
    private func plain(
        _ status: HTTPResponseStatus, _ text: String, _ request: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        extra: [(String, String)] = []
    ) async throws -> (Int, Int) {
        var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(text.utf8.count))] + extra)
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
        try await outbound.write(.end(nil))
        return (Int(status.code), text.utf8.count)
    }

    /// Whether the request carries the token as basic auth (compared in constant time).
    func authorized(_ request: HTTPRequestHead) -> Bool {
        guard let token else { return true }
        let expected = Array(("Basic " + Data("\(SmartHTTPServer.username):\(token)".utf8).base64EncodedString()).utf8)
        let given = Array((request.headers.first(name: "authorization") ?? "").utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<expected.count { difference |= expected[index] ^ (index < given.count ? given[index] : 0) }
        return difference == 0
    }

    func respond(
        _ request: HTTPRequestHead, body: ByteBuffer?, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> (Int, Int) {
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts.first ?? "")
        let query = parts.count > 1 ? String(parts[1]) : ""
        let service = query.split(separator: "&").first { $0.hasPrefix("service=") }.map { String($0.dropFirst("service=".count)) }
        if path.hasSuffix("/git-receive-pack") || service == "git-receive-pack" {
            return try await plain(.forbidden, "fluxci serves this repository read-only: push is refused.\n", request, outbound: outbound)
        }
        guard authorized(request) else {
            return try await plain(.unauthorized, "Authentication required.\n", request, outbound: outbound, extra: [("WWW-Authenticate", "Basic realm=\"fluxci\"")])
        }
        let base = "/\(repository.name)"
        let advertisement = request.method == .GET && path == base + "/info/refs" && service == "git-upload-pack"
        let uploadPack = request.method == .POST && path == base + "/git-upload-pack"
        guard advertisement || uploadPack else {
            return try await plain(.notFound, "Not found: fluxci serves \(base) to git's smart HTTP upload-pack only.\n", request, outbound: outbound)
        }
        guard let body else { return try await plain(.payloadTooLarge, "The request is too large.\n", request, outbound: outbound) }
        return try await cgi(request, path: path, query: query, body: body, outbound: outbound)
    }

    /// Runs `git http-backend` with the CGI variables of the request and streams its answer:
    /// the CGI header block (`Status:`, `Content-Type:`, cache headers) becomes the response
    /// head, the rest the body (chunked: its length is not known in advance).
    private func cgi(
        _ request: HTTPRequestHead, path: String, query: String, body: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> (Int, Int) {
        var variables: [String: String] = [
            "PATH": environment["PATH"] ?? "/usr/bin:/bin", "GIT_PROJECT_ROOT": repository.root.path, "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": repository.root.path,
            "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/\(request.version.major).\(request.version.minor)",
            "REQUEST_METHOD": request.method.rawValue, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_LENGTH": String(body.readableBytes),
        ]
        if let type = request.headers.first(name: "content-type") { variables["CONTENT_TYPE"] = type }
        if let encoding = request.headers.first(name: "content-encoding") { variables["HTTP_CONTENT_ENCODING"] = encoding }
        // Protocol v2 is negotiated through this header; http-backend passes it to upload-pack.
        if let version = request.headers.first(name: "git-protocol") { variables["GIT_PROTOCOL"] = version }
        if token != nil { variables["REMOTE_USER"] = SmartHTTPServer.username }
        var custom: [Environment.Key: String] = [:]
        for (key, value) in variables { custom[Environment.Key(stringLiteral: key)] = value }
        let input = Data(body.readableBytesView)
        let result = try await Subprocess.run(
            .path(FilePath(git)), arguments: ["http-backend"], environment: .custom(custom), input: .data(input), output: .sequence,
            error: .string(limit: 64 << 10)
        ) { execution -> (Int, Int) in
            var pending = [UInt8]()
            var headed = false
            var status = 500
            var sent = 0
            for try await buffer in execution.standardOutput {
                let bytes = buffer.withUnsafeBytes { Array($0) }
                if headed {
                    sent += bytes.count
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
                    continue
                }
                pending += bytes
                guard let (headers, rest, code) = Self.cgiHead(pending) else { continue }
                headed = true
                status = code
                var responseHeaders = HTTPHeaders(headers)
                if !request.isKeepAlive { responseHeaders.add(name: "Connection", value: "close") }
                try await outbound.write(.head(HTTPResponseHead(version: request.version, status: .init(statusCode: code), headers: responseHeaders)))
                if !rest.isEmpty {
                    sent += rest.count
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: rest))))
                }
            }
            if !headed {
                let text = "git http-backend gave no answer.\n"
                try await outbound.write(.head(HTTPResponseHead(version: request.version, status: .internalServerError, headers: ["Content-Length": String(text.utf8.count)])))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
                return (500, text.utf8.count)
            }
            try await outbound.write(.end(nil))
            return (status, sent)
        }
        return result.closureResult
    }

    /// The CGI header block, once complete: the headers (without `Status`), the bytes after it,
    /// and the status (200 when the program gives none).
    static func cgiHead(_ bytes: [UInt8]) -> ([(String, String)], [UInt8], Int)? {
        var end: Int?, skip = 0
        for index in bytes.indices {
            if bytes[index] == 10, index + 1 < bytes.count, bytes[index + 1] == 10 { end = index; skip = 2; break }
            if bytes[index] == 13, index + 3 < bytes.count, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { end = index; skip = 4; break }
        }
        guard let end else { return nil }
        var headers: [(String, String)] = []
        var status = 200
        for line in String(decoding: bytes[..<end], as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" { status = Int(value.prefix(3)) ?? 500 } else { headers.append((name, value)) }
        }
        return (headers, Array(bytes[(end + skip)...]), status)
    }
}
