import Foundation
import Kube
import Yams

/// What the fake API server answers, request by request, in the shapes recorded from a real
/// kube-apiserver (../shared/testdata/kube-apiserver): discovery, Status errors, server-side
/// apply with field managers and conflicts, validation of names and of CRD schemas, watches.
final class FakeAPI: @unchecked Sendable {
    struct Request {
        var method: String
        var path: String
        var query: [String: String]
        var headers: [String: String]
        var body: Data
        var hasClientCertificate: Bool
    }

    enum Reply {
        case json(Int, JSONValue, headers: [(String, String)] = [])
        case text(Int, String)
        case watch(initial: [JSONValue], subscribe: Bool, group: String, plural: String, namespace: String?, fieldSelector: String?, timeoutSeconds: Int, bookmarks: Bool)
        case drop
    }

    let store = FakeStore()
    let token: String
    let recorded: URL
    /// Every request seen, for assertions ("GET /api/v1").
    private(set) var log: [String] = []
    private var faults: [(matches: (Request) -> Bool, reply: Reply, remaining: Int)] = []
    private let lock = NSLock()

    init(token: String, recorded: URL) {
        self.token = token
        self.recorded = recorded
    }

    /// The next `times` requests matching `path` (a substring; nil for any) get `status`.
    func fail(_ status: Int, times: Int, pathContains path: String? = nil, method: String? = nil, retryAfter: Int? = nil) {
        let body = Self.status(status, reason: HTTPPhrase.reason(status), message: status == 429 ? "Too many requests, please try again later." : "Internal error occurred: injected by the test", details: nil)
        lock.withLock {
            faults.append((
                { request in (path.map { request.path.contains($0) } ?? true) && (method.map { $0 == request.method } ?? true) },
                .json(status, body, headers: retryAfter.map { [("Retry-After", String($0))] } ?? []), times))
        }
    }

    /// The next `times` matching requests get their connection closed without an answer.
    func drop(times: Int, pathContains path: String? = nil) {
        lock.withLock { faults.append(({ request in path.map { request.path.contains($0) } ?? true }, .drop, times)) }
    }

    var requests: [String] { lock.withLock { log } }

    func handle(_ request: Request) -> Reply {
        // Watches are marked, so tests can count them apart from lists of the same path.
        let watching = request.query["watch"] == "1" || request.query["watch"] == "true"
        lock.withLock { log.append("\(request.method) \(request.path)\(watching ? " (watch)" : "")") }
        if let fault = lock.withLock({ () -> Reply? in
            guard let index = faults.firstIndex(where: { $0.remaining > 0 && $0.matches(request) }) else { return nil }
            faults[index].remaining -= 1
            return faults[index].reply
        }) { return fault }

        // Authentication: a bearer token must be right; without one, a client certificate
        // (verified by TLS) authenticates; with neither, the user is system:anonymous.
        if let authorization = request.headers["authorization"] {
            guard authorization == "Bearer \(token)" else { return .json(401, Self.status(401, reason: "Unauthorized", message: "Unauthorized", details: nil)) }
        } else if !request.hasClientCertificate {
            return anonymous(request)
        }
        do {
            return try route(request)
        } catch let reply as ReplyError {
            return reply.reply
        } catch {
            return .json(500, Self.status(500, reason: "InternalError", message: "\(error)", details: nil))
        }
    }

    struct ReplyError: Error { var reply: Reply }

    // MARK: Routing

    struct Target {
        var kind: FakeStore.Kind
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    private func route(_ request: Request) throws -> Reply {
        let parts = request.path.split(separator: "/").map(String.init)
        switch parts {
        case ["version"]: return .json(200, try recordedJSON("version.json"))
        case ["readyz"], ["livez"], ["healthz"]: return .text(200, "ok")
        case ["api"]: return .json(200, try recordedJSON("discovery-api.json"))
        case ["api", "v1"] where request.query["watch"] == nil: return .json(200, try recordedJSON("discovery-api-v1.json"))
        case ["apis"]: return .json(200, groupList())
        default: break
        }
        if parts.count == 3, parts[0] == "apis" {
            guard let list = resourceList(group: parts[1], version: parts[2]) else { throw notFoundPage(request.path) }
            return .json(200, list)
        }
        let target = try resolve(parts, path: request.path)
        switch (request.method, target.name) {
        case ("GET", nil) where request.query["watch"] == "1" || request.query["watch"] == "true":
            return try watch(target, request)
        case ("GET", nil): return list(target, request)
        case ("GET", .some(let name)): return try get(target, name)
        case ("PATCH", .some(let name)) where request.headers["content-type"]?.hasPrefix("application/apply-patch+yaml") == true:
            return try apply(target, name, request)
        case ("POST", nil): return try create(target, request)
        case ("DELETE", .some(let name)): return try delete(target, name)
        default:
            return .json(405, Self.status(405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource", details: nil))
        }
    }

    private func resolve(_ parts: [String], path: String) throws -> Target {
        var rest: ArraySlice<String>
        var group = "", version: String
        if parts.first == "api", parts.count >= 3 {
            version = parts[1]
            rest = parts[2...]
        } else if parts.first == "apis", parts.count >= 4 {
            group = parts[1]
            version = parts[2]
            rest = parts[3...]
        } else {
            throw notFoundPage(path)
        }
        var namespace: String?
        if rest.first == "namespaces", rest.count >= 3 {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let plural = rest.first, let kind = store.kind(group: group, version: version, plural: plural) else { throw notFoundPage(path) }
        if namespace != nil && !kind.namespaced { throw notFoundPage(path) }
        let name = rest.dropFirst().first
        let subresource = rest.dropFirst(2).first
        return Target(kind: kind, namespace: kind.namespaced ? namespace : nil, name: name, subresource: subresource)
    }

    // MARK: Verbs

    private func list(_ target: Target, _ request: Request) -> Reply {
        let (items, version) = store.list(group: target.kind.group, plural: target.kind.plural, namespace: target.namespace)
        var selected = items.filter { Self.matches($0, fieldSelector: request.query["fieldSelector"]) && Self.matches($0, labelSelector: request.query["labelSelector"]) }
        // As kube-apiserver: a built-in kind's list items have no apiVersion and kind (a custom
        // resource's list is unstructured and keeps them).
        if FakeStore.builtins.contains(target.kind) {
            selected = selected.map { var item = $0; item.remove("apiVersion"); item.remove("kind"); return item }
        }
        return .json(200, .object([
            ("kind", .string(target.kind.kind + "List")), ("apiVersion", .string(target.kind.apiVersion)),
            ("metadata", .object([("resourceVersion", .string(String(version)))])), ("items", .array(selected)),
        ]))
    }

    private func get(_ target: Target, _ name: String) throws -> Reply {
        guard let object = store.get(key(target, name)) else { throw notFound(target, name) }
        return .json(200, object)
    }

    private func watch(_ target: Target, _ request: Request) throws -> Reply {
        let since = Int(request.query["resourceVersion"] ?? "") ?? store.version
        let timeout = Int(request.query["timeoutSeconds"] ?? "") ?? 1800
        guard let events = store.events(after: since, group: target.kind.group, plural: target.kind.plural, namespace: target.namespace) else {
            let gone = Self.status(410, reason: "Expired", message: "too old resource version: \(since) (\(store.version))", details: nil)
            return .watch(initial: [.object([("type", .string("ERROR")), ("object", gone)])], subscribe: false, group: "", plural: "", namespace: nil, fieldSelector: nil, timeoutSeconds: 0, bookmarks: false)
        }
        let selector = request.query["fieldSelector"]
        let initial = events.filter { Self.matches($0.object, fieldSelector: selector) }.map(Self.eventJSON)
        return .watch(
            initial: initial, subscribe: true, group: target.kind.group, plural: target.kind.plural, namespace: target.namespace, fieldSelector: selector,
            timeoutSeconds: timeout, bookmarks: request.query["allowWatchBookmarks"] == "true")
    }

    static func eventJSON(_ event: FakeStore.Event) -> JSONValue {
        .object([("type", .string(event.type)), ("object", event.object)])
    }

    static func matches(_ object: JSONValue, fieldSelector: String?) -> Bool {
        guard let fieldSelector, !fieldSelector.isEmpty else { return true }
        for clause in fieldSelector.split(separator: ",") {
            let pair = clause.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { return false }
            let path = pair[0].split(separator: ".").map(String.init)
            var value: JSONValue? = object
            for part in path { value = value?[part] }
            if value?.string != pair[1] { return false }
        }
        return true
    }

    /// Equality-based label selectors as kube-apiserver reads them: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
    /// joined by commas (set-based `in`/`notin` are not needed by fluxci).
    static func matches(_ object: JSONValue, labelSelector: String?) -> Bool {
        guard let labelSelector, !labelSelector.isEmpty else { return true }
        let labels = object["metadata", "labels"]
        for clause in labelSelector.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let range = clause.range(of: "!=") {
                if labels?[String(clause[..<range.lowerBound])]?.string == String(clause[range.upperBound...]) { return false }
            } else if let range = clause.range(of: "==") ?? clause.range(of: "=") {
                if labels?[String(clause[..<range.lowerBound])]?.string != String(clause[range.upperBound...]) { return false }
            } else if clause.hasPrefix("!") {
                if labels?[String(clause.dropFirst())] != nil { return false }
            } else if labels?[clause] == nil {
                return false
            }
        }
        return true
    }

    private func create(_ target: Target, _ request: Request) throws -> Reply {
        var object = try parseBody(request.body)
        guard let name = object["metadata", "name"]?.string else {
            throw ReplyError(reply: .json(422, invalid(target.kind, "", [("FieldValueRequired", "Required value: name or generateName is required", "metadata.name")])))
        }
        try validate(target.kind, name: name, object: object)
        if let namespace = target.namespace, !store.namespaceExists(namespace) { throw namespaceNotFound(namespace) }
        let key = key(target, name)
        if store.get(key) != nil {
            throw ReplyError(reply: .json(409, Self.status(409, reason: "AlreadyExists", message: "\(target.kind.plural) \"\(name)\" already exists", details: .object([("name", .string(name)), ("kind", .string(target.kind.plural))]))))
        }
        object = stamp(object, target: target, name: name, existing: nil, manager: request.query["fieldManager"] ?? "unknown", operation: "Update")
        return .json(201, store.put(key, object, type: "ADDED"))
    }

    private func delete(_ target: Target, _ name: String) throws -> Reply {
        let key = key(target, name)
        guard let existing = store.get(key) else { throw notFound(target, name) }
        store.put(key, existing, type: "DELETED")
        if target.kind.plural == "namespaces" {
            for kind in store.kinds where kind.namespaced {
                for item in store.list(group: kind.group, plural: kind.plural, namespace: name).items {
                    store.put(FakeStore.Key(group: kind.group, plural: kind.plural, namespace: name, name: item["metadata", "name"]?.string ?? ""), item, type: "DELETED")
                }
            }
        }
        return .json(200, .object([
            ("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])), ("status", .string("Success")),
            ("details", .object([("name", .string(name)), ("kind", .string(target.kind.plural)), ("uid", existing["metadata", "uid"] ?? .null)])),
        ]))
    }

    /// Server-side apply: creates or merges, owning the applied fields for the field manager;
    /// fields another manager owns with a different value conflict unless forced.
    private func apply(_ target: Target, _ name: String, _ request: Request) throws -> Reply {
        let patch = try parseBody(request.body)
        guard let manager = request.query["fieldManager"], !manager.isEmpty else {
            throw ReplyError(reply: .json(400, Self.status(400, reason: "BadRequest", message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch", details: nil)))
        }
        if let bodyName = patch["metadata", "name"]?.string, bodyName != name {
            throw ReplyError(reply: .json(400, Self.status(400, reason: "BadRequest", message: "the name of the object (\(bodyName)) does not match the name on the URL (\(name))", details: nil)))
        }
        try validate(target.kind, name: name, object: patch)
        if let namespace = target.namespace, !store.namespaceExists(namespace) { throw namespaceNotFound(namespace) }
        let key = key(target, name)
        let existing = store.get(key)
        var owners = store.owners(key)
        let applied = Self.leafPaths(Self.content(patch))
        if let existing, request.query["force"] != "true" {
            let conflicts = applied.filter { path, value in
                guard let owner = owners[path], owner != manager else { return false }
                return Self.value(at: path, in: Self.content(existing)) != value
            }.keys.sorted()
            if !conflicts.isEmpty {
                let causes = conflicts.map { ("FieldManagerConflict", "conflict with \"\(owners[$0]!)\"", Self.display($0)) }
                let summary = conflicts.map { "conflict with \"\(owners[$0]!)\": \(Self.display($0))" }.joined(separator: "\n")
                let count = conflicts.count == 1 ? "1 conflict" : "\(conflicts.count) conflicts"
                throw ReplyError(reply: .json(409, Self.status(409, reason: "Conflict", message: "Apply failed with \(count): \(summary)", details: .object([("causes", .array(causes.map(Self.cause)))]))))
            }
        }
        for path in applied.keys { owners[path] = manager }
        var merged = existing.map { Self.merge($0, patch) } ?? patch
        merged = stamp(merged, target: target, name: name, existing: existing, manager: manager, operation: "Apply", owners: owners)
        if let existing, Self.content(existing) == Self.content(merged), existing["metadata", "labels"] == merged["metadata", "labels"] {
            store.setOwners(key, owners)
            return .json(200, existing)
        }
        store.setOwners(key, owners)
        let stored = store.put(key, merged, type: existing == nil ? "ADDED" : "MODIFIED")
        if target.kind.kind == "CustomResourceDefinition" { establish(stored) }
        return .json(existing == nil ? 201 : 200, stored)
    }

    // MARK: Objects

    private func key(_ target: Target, _ name: String) -> FakeStore.Key {
        FakeStore.Key(group: target.kind.group, plural: target.kind.plural, namespace: target.namespace, name: name)
    }

    /// Everything but metadata and status: what apply compares and owns.
    static func content(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy.remove("metadata")
        copy.remove("status")
        return copy
    }

    /// Field paths join their keys with a unit separator (keys may hold dots, as `age.agekey`);
    /// `display` writes them as the API server does, `.stringData.age.agekey`.
    static let separator: Character = "\u{1F}"

    static func display(_ path: String) -> String { "." + path.split(separator: separator).joined(separator: ".") }

    static func leafPaths(_ value: JSONValue, prefix: String = "") -> [String: JSONValue] {
        guard case .object(let pairs) = value, !pairs.isEmpty else { return prefix.isEmpty ? [:] : [prefix: value] }
        var result: [String: JSONValue] = [:]
        for (key, child) in pairs { result.merge(leafPaths(child, prefix: prefix.isEmpty ? key : prefix + String(separator) + key)) { $1 } }
        return result
    }

    static func value(at path: String, in object: JSONValue) -> JSONValue? {
        var current: JSONValue? = object
        for part in path.split(separator: separator) { current = current?[String(part)] }
        return current
    }

    static func merge(_ base: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(var pairs) = base, case .object(let patchPairs) = patch else { return patch }
        for (key, value) in patchPairs {
            if let index = pairs.firstIndex(where: { $0.key == key }) { pairs[index].value = merge(pairs[index].value, value) } else { pairs.append((key, value)) }
        }
        return .object(pairs)
    }

    /// Server-managed metadata, and Secret stringData folded into data as the real server does.
    private func stamp(
        _ object: JSONValue, target: Target, name: String, existing: JSONValue?, manager: String, operation: String, owners: [String: String] = [:]
    ) -> JSONValue {
        var object = object
        object.set("apiVersion", .string(target.kind.apiVersion))
        object.set("kind", .string(target.kind.kind))
        if target.kind.kind == "Secret", let stringData = object["stringData"]?.object {
            var data = object["data"] ?? .object([])
            for (key, value) in stringData { data.set(key, .string(Data((value.string ?? "").utf8).base64EncodedString())) }
            object.set("data", data)
            object.remove("stringData")
            if object["type"] == nil { object.set("type", .string("Opaque")) }
        }
        var metadata = object["metadata"] ?? .object([])
        metadata.set("name", .string(name))
        if let namespace = target.namespace { metadata.set("namespace", .string(namespace)) }
        metadata.set("uid", existing?["metadata", "uid"] ?? .string(UUID().uuidString.lowercased()))
        metadata.set("creationTimestamp", existing?["metadata", "creationTimestamp"] ?? .string(Self.now()))
        var generation = existing?["metadata", "generation"]?.int ?? 0
        if existing == nil || existing?["spec"] != object["spec"] { generation += 1 }
        if target.kind.group != "" || object["spec"] != nil { metadata.set("generation", .integer(Int64(max(generation, 1)))) }
        var byManager: [String: [String]] = [:]
        for (path, owner) in owners { byManager[owner, default: []].append(path) }
        if byManager.isEmpty { byManager[manager] = Self.leafPaths(Self.content(object)).keys.sorted() }
        metadata.set("managedFields", .array(byManager.keys.sorted().map { owner in
            .object([
                ("manager", .string(owner)), ("operation", .string(operation)), ("apiVersion", .string(target.kind.apiVersion)),
                ("time", .string(Self.now())), ("fieldsType", .string("FieldsV1")), ("fieldsV1", Self.fieldsV1(byManager[owner]!)),
            ])
        }))
        object.set("metadata", metadata)
        return object
    }

    static func fieldsV1(_ paths: [String]) -> JSONValue {
        var root = JSONValue.object([])
        for path in paths.sorted() {
            let parts = path.split(separator: separator).map { "f:" + $0 }
            func insert(_ node: inout JSONValue, _ rest: ArraySlice<String>) {
                guard let first = rest.first else { return }
                var child = node[first] ?? .object([])
                insert(&child, rest.dropFirst())
                node.set(first, child)
            }
            insert(&root, parts[...])
        }
        return root
    }

    /// A new CRD's kinds are served once it is Established, a moment after it is created.
    private func establish(_ crd: JSONValue) {
        guard let group = crd["spec", "group"]?.string, let names = crd["spec", "names"], let kind = names["kind"]?.string,
            let plural = names["plural"]?.string
        else { return }
        let namespaced = crd["spec", "scope"]?.string != "Cluster"
        let versions = (crd["spec", "versions"]?.array ?? []).filter { $0["served"]?.bool ?? true }
        let name = crd["metadata", "name"]?.string ?? "\(plural).\(group)"
        let delay = store.establishDelay
        let nanoseconds = Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000)
        // On a dispatch queue, not a Task: under a loaded test run the cooperative pool can be busy
        // with other suites' synchronous work for a long time.
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
            self.store.addCRDKinds(versions.compactMap { version in
                version["name"]?.string.map {
                    FakeStore.Kind(group: group, version: $0, kind: kind, plural: plural, namespaced: namespaced, schema: version["schema", "openAPIV3Schema"])
                }
            })
            let key = FakeStore.Key(group: "apiextensions.k8s.io", plural: "customresourcedefinitions", namespace: nil, name: name)
            guard var current = self.store.get(key) else { return }
            let condition: (String) -> JSONValue = { type in
                .object([("type", .string(type)), ("status", .string("True")), ("reason", .string(type == "Established" ? "InitialNamesAccepted" : "NoConflicts")), ("lastTransitionTime", .string(Self.now()))])
            }
            current.set("status", .object([("conditions", .array([condition("NamesAccepted"), condition("Established")]))]))
            self.store.put(key, current, type: "MODIFIED")
        }
    }

    // MARK: Validation

    nonisolated(unsafe) static let subdomain = /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/

    private func validate(_ kind: FakeStore.Kind, name: String, object: JSONValue) throws {
        var causes: [(String, String, String)] = []
        if name.wholeMatch(of: Self.subdomain) == nil || name.count > 253 {
            causes.append(("FieldValueInvalid", "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", "metadata.name"))
        }
        if let schema = kind.schema { causes += StructuralSchema.validate(object, against: schema).map { ($0.reason, $0.message, $0.field) } }
        if !causes.isEmpty { throw ReplyError(reply: .json(422, invalid(kind, name, causes))) }
    }

    // MARK: Errors, in the recorded shapes

    static func status(_ code: Int, reason: String, message: String, details: JSONValue?) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [
            ("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])), ("status", .string("Failure")),
            ("message", .string(message)), ("reason", .string(reason)),
        ]
        if let details { pairs.append(("details", details)) }
        pairs.append(("code", .integer(Int64(code))))
        return .object(pairs)
    }

    static func cause(_ cause: (String, String, String)) -> JSONValue {
        .object([("reason", .string(cause.0)), ("message", .string(cause.1)), ("field", .string(cause.2))])
    }

    private func invalid(_ kind: FakeStore.Kind, _ name: String, _ causes: [(String, String, String)]) -> JSONValue {
        let summary = causes.map { "\($0.2): \($0.1)" }.joined(separator: ", ")
        return Self.status(
            422, reason: "Invalid", message: "\(kind.qualifiedKind) \"\(name)\" is invalid: \(summary)",
            details: .object([("name", .string(name)), ("kind", .string(kind.kind)), ("causes", .array(causes.map(Self.cause)))]))
    }

    private func notFound(_ target: Target, _ name: String) -> ReplyError {
        ReplyError(reply: .json(404, Self.status(404, reason: "NotFound", message: "\(target.kind.plural) \"\(name)\" not found", details: .object([("name", .string(name)), ("kind", .string(target.kind.plural))]))))
    }

    private func namespaceNotFound(_ namespace: String) -> ReplyError {
        ReplyError(reply: .json(404, Self.status(404, reason: "NotFound", message: "namespaces \"\(namespace)\" not found", details: .object([("name", .string(namespace)), ("kind", .string("namespaces"))]))))
    }

    private func notFoundPage(_ path: String) -> ReplyError {
        ReplyError(reply: .json(404, Self.status(404, reason: "NotFound", message: "the server could not find the requested resource", details: nil)))
    }

    private func anonymous(_ request: Request) -> Reply {
        let parts = request.path.split(separator: "/").map(String.init)
        let target = try? resolve(parts, path: request.path)
        let verb: String = switch request.method {
        case "GET": target?.name == nil ? (request.query["watch"] != nil ? "watch" : "list") : "get"
        case "PATCH": "patch"
        case "POST": "create"
        case "DELETE": "delete"
        default: request.method.lowercased()
        }
        let resource = target?.kind.plural ?? parts.last ?? ""
        let group = target?.kind.group ?? ""
        let scope = target?.namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        return .json(403, Self.status(
            403, reason: "Forbidden",
            message: "\(resource) is forbidden: User \"system:anonymous\" cannot \(verb) resource \"\(resource)\" in API group \"\(group)\" \(scope)",
            details: .object([("kind", .string(resource))])))
    }

    // MARK: Discovery

    private func recordedJSON(_ name: String) throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: recorded.appendingPathComponent(name)))
    }

    /// The recorded group list, less the Flux groups until their CRDs exist, plus CRD groups. A
    /// CRD group lists the versions its CRDs serve, as kube-apiserver orders them (the
    /// kube-aware version priority: GA before beta before alpha, higher numbers first), the
    /// first preferred: a cluster whose HelmRelease CRD serves only v2beta1 says so, as the
    /// recorded list says v2, v2beta2, v2beta1 for Flux v2.6.4's.
    private func groupList() -> JSONValue {
        let served = store.groups()
        let crdGroups = Set(store.kinds.filter { $0.schema != nil || $0.group.hasSuffix("toolkit.fluxcd.io") }.map(\.group))
        func entry(_ name: String, _ versions: [String]) -> JSONValue {
            let entries: [JSONValue] = versions.sorted(by: Self.kubeAwareFirst).map { .object([("groupVersion", .string("\(name)/\($0)")), ("version", .string($0))]) }
            return .object([("name", .string(name)), ("versions", .array(entries)), ("preferredVersion", entries[0])])
        }
        var groups = ((try? recordedJSON("discovery-apis.json"))?["groups"]?.array ?? []).compactMap { group -> JSONValue? in
            guard let name = group["name"]?.string else { return nil }
            if name.hasSuffix("toolkit.fluxcd.io") || crdGroups.contains(name) { return served[name].map { entry(name, $0) } }
            return group
        }
        for (name, versions) in served.sorted(by: { $0.key < $1.key }) where !groups.contains(where: { $0["name"]?.string == name }) {
            groups.append(entry(name, versions))
        }
        return .object([("kind", .string("APIGroupList")), ("apiVersion", .string("v1")), ("groups", .array(groups))])
    }

    /// apimachinery's `CompareKubeAwareVersionStrings`: `v2` > `v2beta2` > `v2beta1` > `v1` >
    /// `v1beta1` > `v1alpha1`; GA before beta before alpha, then higher numbers.
    static func kubeAwareFirst(_ a: String, _ b: String) -> Bool {
        func parts(_ version: String) -> (major: Int, stage: Int, minor: Int)? {
            guard let match = version.wholeMatch(of: /v(\d+)(?:(alpha|beta)(\d+))?/) else { return nil }
            let stage = match.2.map { $0 == "beta" ? 1 : 0 } ?? 2
            return (Int(match.1) ?? 0, stage, match.3.flatMap { Int($0) } ?? 0)
        }
        switch (parts(a), parts(b)) {
        case let (x?, y?):
            if x.stage != y.stage { return x.stage > y.stage }
            if x.major != y.major { return x.major > y.major }
            return x.minor > y.minor
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a < b
        }
    }

    private func resourceList(group: String, version: String) -> JSONValue? {
        let kinds = store.kinds.filter { $0.group == group && $0.version == version }
        guard !kinds.isEmpty else { return nil }
        var resources: [JSONValue] = []
        for kind in kinds {
            resources.append(.object([
                ("name", .string(kind.plural)), ("singularName", .string(kind.kind.lowercased())), ("namespaced", .bool(kind.namespaced)),
                ("kind", .string(kind.kind)),
                ("verbs", .array(["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"].map { .string($0) })),
            ]))
            if kind.schema != nil || group.hasSuffix("fluxcd.io") {
                resources.append(.object([
                    ("name", .string(kind.plural + "/status")), ("singularName", .string("")), ("namespaced", .bool(kind.namespaced)),
                    ("kind", .string(kind.kind)), ("verbs", .array(["get", "patch", "update"].map { .string($0) })),
                ]))
            }
        }
        return .object([
            ("kind", .string("APIResourceList")), ("apiVersion", .string("v1")), ("groupVersion", .string("\(group)/\(version)")),
            ("resources", .array(resources)),
        ])
    }

    private func parseBody(_ body: Data) throws -> JSONValue {
        if let json = try? JSONValue.parse(body) { return json }
        guard let text = String(data: body, encoding: .utf8), let object = try? Manifest.objects(text).first?.json else {
            throw ReplyError(reply: .json(400, Self.status(400, reason: "BadRequest", message: "the body of the request was in an unknown format", details: nil)))
        }
        return object
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}

enum HTTPPhrase {
    static func reason(_ code: Int) -> String {
        switch code {
        case 429: "TooManyRequests"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "Failure"
        }
    }
}
