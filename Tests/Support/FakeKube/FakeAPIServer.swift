import Foundation
import Kube
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An in-process kube-apiserver stand-in on 127.0.0.1 with TLS, answering as the real one does
/// (see FakeAPI). Clients go through their real HTTP and TLS path; tests can inject faults and
/// play a controller by changing objects' status.
public final class FakeAPIServer: @unchecked Sendable {
    public let token: String
    public let certificates: TestCertificates
    public private(set) var port: Int = 0
    let api: FakeAPI
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?
    private let children = ChildChannels()
    private let sslContext: NIOSSLContext

    public var url: URL { URL(string: "https://127.0.0.1:\(port)")! }

    /// Called on the server's event loop once a live watch event has been written and flushed
    /// to a client (the wait-latency benchmark's first timestamp after the controller's write).
    public nonisolated(unsafe) static var watchEventFlushed: (@Sendable (JSONValue) -> Void)?

    public static func start(token: String = "fluxci-test-token-\(UUID().uuidString.prefix(8))") async throws -> FakeAPIServer {
        let server = try FakeAPIServer(token: token, certificates: try await TestCertificates.shared())
        try await server.bind(port: 0)
        return server
    }

    init(token: String, certificates: TestCertificates) throws {
        self.token = token
        self.certificates = certificates
        api = FakeAPI(token: token, recorded: try TestPaths.shared("testdata/kube-apiserver"))
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificates.serverCertificatePEM)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificates.serverKeyPEM), format: .pem)))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificates.caPEM)))
        tls.certificateVerification = .optionalVerification
        sslContext = try NIOSSLContext(configuration: tls)
    }

    private func bind(port: Int) async throws {
        let api = self.api, sslContext = self.sslContext, children = self.children
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                children.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeHTTPHandler(api: api))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
        self.channel = channel
        self.port = channel.localAddress?.port ?? port
    }

    /// Stops listening and drops every connection (an API server going away).
    public func stop() async {
        try? await channel?.close()
        channel = nil
        await children.closeAllAndWait()
    }

    /// Listens again on the same port.
    public func restart() async throws {
        try await bind(port: port)
    }

    public func shutdown() async {
        await stop()
        try? await group.shutdownGracefully()
    }

    // MARK: Test controls

    public func fail(_ status: Int, times: Int, pathContains path: String? = nil, method: String? = nil, retryAfter: Int? = nil) {
        api.fail(status, times: times, pathContains: path, method: method, retryAfter: retryAfter)
    }

    public func dropConnections(times: Int, pathContains path: String? = nil) { api.drop(times: times, pathContains: path) }

    /// Ends every open watch stream abruptly.
    public func dropWatches() { children.closeAll() }

    /// Forgets the event history, so watches resuming from older versions get 410 Gone.
    public func compactHistory() { api.store.compact() }

    public var requests: [String] { api.requests }

    public func setCRDEstablishDelay(_ delay: Duration) { api.store.establishDelay = delay }

    /// An object as stored, or nil.
    public func object(group: String, plural: String, namespace: String?, name: String) -> JSONValue? {
        api.store.get(.init(group: group, plural: plural, namespace: namespace, name: name))
    }

    public func objects(group: String, plural: String, namespace: String? = nil) -> [JSONValue] {
        api.store.list(group: group, plural: plural, namespace: namespace).items
    }

    /// Replaces an object's status (what a controller does), as a MODIFIED event.
    public func setStatus(group: String, plural: String, namespace: String?, name: String, _ status: JSONValue) {
        let key = FakeStore.Key(group: group, plural: plural, namespace: namespace, name: name)
        guard var object = api.store.get(key) else { return }
        object.set("status", status)
        api.store.put(key, object, type: "MODIFIED")
    }

    /// Applies an object as a controller would (field manager kustomize-controller), through the
    /// same server-side apply as clients.
    public func applyAsController(_ object: KubeObject) {
        let kind = api.store.kinds.first { $0.kind == object.kind && $0.apiVersion == object.apiVersion }
        guard let kind else { return }
        let path = (kind.group.isEmpty ? "/api/\(kind.version)" : "/apis/\(kind.group)/\(kind.version)")
            + (kind.namespaced ? "/namespaces/\(object.namespace ?? "default")" : "") + "/\(kind.plural)/\(object.name)"
        _ = api.handle(FakeAPI.Request(
            method: "PATCH", path: path, query: ["fieldManager": "kustomize-controller", "force": "true"],
            headers: ["authorization": "Bearer \(token)", "content-type": "application/apply-patch+yaml"], body: object.json.jsonData,
            hasClientCertificate: false))
    }

    /// Writes a kubeconfig for this server: a bearer token, or the client certificate.
    public func writeKubeconfig(to url: URL, clientCertificate: Bool = false, context: String = "kind-fluxci", token: String? = nil) throws {
        let user = clientCertificate
            ? "    client-certificate-data: \(certificates.clientCertificatePEM.base64EncodedString())\n    client-key-data: \(certificates.clientKeyPEM.base64EncodedString())"
            : "    token: \(token ?? self.token)"
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: \(context)
              cluster:
                server: \(url.absoluteString.isEmpty ? "" : self.url.absoluteString)
                certificate-authority-data: \(certificates.caPEM.base64EncodedString())
            users:
            - name: \(context)
              user:
            \(user)
            contexts:
            - name: \(context)
              context:
                cluster: \(context)
                user: \(context)
            current-context: \(context)

            """
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}

/// Open connections, so the server can drop them all at once.
final class ChildChannels: @unchecked Sendable {
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]

    func add(_ channel: Channel) {
        lock.withLock { channels[ObjectIdentifier(channel)] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in self?.lock.withLock { _ = self?.channels.removeValue(forKey: ObjectIdentifier(channel)) } }
    }

    func closeAll() {
        let all = lock.withLock { Array(channels.values) }
        for channel in all { channel.close(promise: nil) }
    }

    /// Closes every connection and returns once they are all closed.
    func closeAllAndWait() async {
        let all = lock.withLock { Array(channels.values) }
        for channel in all {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
    }
}

/// HTTP/1.1 on top of TLS: collects a request, asks FakeAPI, writes the answer (streaming for
/// watches).
final class FakeHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let api: FakeAPI
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// The resource versions a watch has written, so the replay and the live events never repeat one.
    private var watchDelivered: Set<Int> = []
    private var watchSubscription: UUID?

    init(api: FakeAPI) { self.api = api }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            respond(context: context, head: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let watchSubscription { api.store.unsubscribe(watchSubscription) }
        context.fireChannelInactive()
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let components = URLComponents(string: head.uri)
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = value }
        let hasCertificate = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate) != nil
        let request = FakeAPI.Request(
            method: head.method.rawValue, path: components?.percentEncodedPath.removingPercentEncoding ?? head.uri, query: query, headers: headers,
            body: Data(body.readableBytesView), hasClientCertificate: hasCertificate)
        // A watch's history is read inside handle() and its subscription made after: events stored
        // in between are replayed below (a real API server serves every event after the watch's
        // resourceVersion), so a loaded machine cannot lose them.
        let replaySince = Int(query["resourceVersion"] ?? "") ?? api.store.version
        switch api.handle(request) {
        case .drop:
            context.close(promise: nil)
        case .text(let status, let text):
            let bytes = Array(text.utf8)
            let headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(bytes.count))])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .json(let status, let json, let extra):
            let bytes = Array((json.jsonText + "\n").utf8)
            var responseHeaders = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(bytes.count))])
            for (name, value) in extra { responseHeaders.add(name: name, value: value) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: responseHeaders))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .watch(let initial, let subscribe, let group, let plural, let namespace, let selector, let timeout, let bookmarks):
            let headers = HTTPHeaders([("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
            for event in initial { writeEvent(event, context: context) }
            context.flush()
            guard subscribe else {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            watchDelivered = Set(initial.compactMap { Int($0["object", "metadata", "resourceVersion"]?.string ?? "") })
            watchSubscription = api.store.subscribe { event in
                guard event.group == group, event.plural == plural, namespace == nil || event.namespace == namespace,
                    FakeAPI.matches(event.object, fieldSelector: selector)
                else { return }
                loop.execute {
                    let (handler, context) = bound.value
                    guard handler.watchDelivered.insert(event.version).inserted else { return }
                    handler.writeEvent(FakeAPI.eventJSON(event), context: context)
                    context.flush()
                    FakeAPIServer.watchEventFlushed?(event.object)
                }
            }
            for event in api.store.events(after: replaySince, group: group, plural: plural, namespace: namespace) ?? []
            where FakeAPI.matches(event.object, fieldSelector: selector) && watchDelivered.insert(event.version).inserted {
                writeEvent(FakeAPI.eventJSON(event), context: context)
            }
            context.flush()
            let subscription = watchSubscription
            if bookmarks {
                loop.scheduleRepeatedTask(initialDelay: .milliseconds(500), delay: .milliseconds(500)) { task in
                    let (handler, context) = bound.value
                    guard context.channel.isActive, handler.watchSubscription == subscription else { task.cancel(); return }
                    let bookmark: JSONValue = .object([
                        ("type", .string("BOOKMARK")),
                        ("object", .object([("kind", .string("Bookmark")), ("metadata", .object([("resourceVersion", .string(String(handler.api.store.version)))]))])),
                    ])
                    handler.writeEvent(bookmark, context: context)
                    context.flush()
                }
            }
            loop.scheduleTask(in: .seconds(Int64(timeout))) {
                let (handler, context) = bound.value
                guard handler.watchSubscription == subscription, let id = subscription else { return }
                handler.api.store.unsubscribe(id)
                handler.watchSubscription = nil
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    private func writeEvent(_ event: JSONValue, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: event.jsonText + "\n")))), promise: nil)
    }
}
