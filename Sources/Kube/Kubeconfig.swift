import Foundation
import Yams

/// Kubeconfig files as kubectl reads them: `KUBECONFIG` lists several files, merged so that the
/// first file to define a name (or the current context) wins; file references are relative to
/// the file that makes them.
public struct Kubeconfig: Sendable {
    public struct Cluster: Sendable {
        public var server: String
        public var certificateAuthority: Source?
        public var insecureSkipTLSVerify: Bool
        public var tlsServerName: String?
        public var definedIn: String
    }

    public struct ExecConfig: Sendable, Equatable {
        public var command: String
        public var arguments: [String]
        public var environment: [(name: String, value: String)]
        public var apiVersion: String
        public var installHint: String?

        public static func == (lhs: ExecConfig, rhs: ExecConfig) -> Bool {
            lhs.command == rhs.command && lhs.arguments == rhs.arguments && lhs.apiVersion == rhs.apiVersion
        }
    }

    public struct User: Sendable {
        public var clientCertificate: Source?
        public var clientKey: Source?
        public var token: String?
        public var tokenFile: String?
        public var exec: ExecConfig?
        public var definedIn: String
    }

    public struct Context: Sendable {
        public var cluster: String
        public var user: String
        public var namespace: String?
        public var definedIn: String
    }

    /// Inline (`…-data`, base64) or a file path (already made absolute).
    public enum Source: Sendable, Equatable {
        case data(Data)
        case file(String)
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: User] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext: String?
    public var files: [String] = []

    public init() {}

    /// The files kubectl would read: `--kubeconfig`, else every entry of `KUBECONFIG`, else
    /// `~/.kube/config`.
    public static func paths(explicit: String?, environment: [String: String]) -> [String] {
        if let explicit { return [explicit] }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            return list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        return [(environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"]
    }

    /// Loads and merges files. A file named explicitly must exist; missing entries of
    /// `KUBECONFIG` are skipped, as kubectl does.
    public static func load(_ paths: [String], explicit: Bool) throws(KubeError) -> Kubeconfig {
        var config = Kubeconfig()
        for path in paths {
            guard FileManager.default.fileExists(atPath: path) else {
                if explicit || paths.count == 1 {
                    throw .configuration("The kubeconfig \(path) does not exist.", fix: "Create the cluster first (`fluxci cluster up`), or point --kubeconfig / KUBECONFIG at an existing file.")
                }
                continue
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .configuration("The kubeconfig \(path) cannot be read.", fix: "Check its permissions.")
            }
            try config.merge(text, path: path)
            config.files.append(path)
        }
        return config
    }

    mutating func merge(_ text: String, path: String) throws(KubeError) {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw .configuration("The kubeconfig \(path) is not valid YAML: \(error).", fix: "Repair or regenerate it.")
        }
        guard let root, case .mapping = root else { return }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func absolute(_ file: String) -> String {
            file.hasPrefix("/") ? file : base.appendingPathComponent(file).standardizedFileURL.path
        }
        func string(_ node: Node?, _ key: String) -> String? { node?[key]?.string }
        func list(_ node: Node?, _ key: String) -> [Node] { node?[key]?.sequence.map(Array.init) ?? [] }
        func source(_ node: Node?, data dataKey: String, file fileKey: String) throws(KubeError) -> Source? {
            if let encoded = string(node, dataKey) {
                guard let data = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else {
                    throw .configuration("\(dataKey) in \(path) is not base64.", fix: "Regenerate the kubeconfig.")
                }
                return .data(data)
            }
            return string(node, fileKey).map { .file(absolute($0)) }
        }
        if currentContext == nil, let current = string(root, "current-context"), !current.isEmpty { currentContext = current }
        for entry in list(root, "clusters") {
            guard let name = string(entry, "name"), clusters[name] == nil, let cluster = entry["cluster"] else { continue }
            guard let server = string(cluster, "server") else {
                throw .configuration("The cluster '\(name)' in \(path) has no server.", fix: "Add its server URL.")
            }
            clusters[name] = Cluster(
                server: server,
                certificateAuthority: try source(cluster, data: "certificate-authority-data", file: "certificate-authority"),
                insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"]?.bool ?? false,
                tlsServerName: string(cluster, "tls-server-name"), definedIn: path)
        }
        for entry in list(root, "users") {
            guard let name = string(entry, "name"), users[name] == nil else { continue }
            let user = entry["user"]
            var exec: ExecConfig?
            if let node = user?["exec"] {
                guard let command = string(node, "command") else {
                    throw .configuration("The exec plugin of user '\(name)' in \(path) has no command.", fix: "Add the command, as the cloud's CLI writes it.")
                }
                exec = ExecConfig(
                    command: command, arguments: list(node, "args").compactMap(\.string),
                    environment: list(node, "env").compactMap { item in
                        guard let name = string(item, "name") else { return nil }
                        return (name, string(item, "value") ?? "")
                    },
                    apiVersion: string(node, "apiVersion") ?? "client.authentication.k8s.io/v1",
                    installHint: string(node, "installHint"))
            }
            users[name] = User(
                clientCertificate: try source(user, data: "client-certificate-data", file: "client-certificate"),
                clientKey: try source(user, data: "client-key-data", file: "client-key"),
                token: string(user, "token"), tokenFile: string(user, "tokenFile").map(absolute), exec: exec, definedIn: path)
        }
        for entry in list(root, "contexts") {
            guard let name = string(entry, "name"), contexts[name] == nil, let context = entry["context"] else { continue }
            contexts[name] = Context(
                cluster: string(context, "cluster") ?? "", user: string(context, "user") ?? "",
                namespace: string(context, "namespace"), definedIn: path)
        }
    }

    /// The connection a context describes (the current one when `context` is nil).
    public func connection(context requested: String?) throws(KubeError) -> Connection {
        let where_ = files.joined(separator: ", ")
        let available = contexts.keys.sorted().joined(separator: ", ")
        guard let name = requested ?? currentContext else {
            throw .configuration(
                "The kubeconfig \(where_) sets no current-context.",
                fix: contexts.isEmpty ? "It defines no context: create the cluster, or use another kubeconfig." : "Pass --context (one of: \(available)).")
        }
        guard let context = contexts[name] else {
            throw .configuration(
                "The context '\(name)' is not in the kubeconfig \(where_).",
                fix: contexts.isEmpty ? "The kubeconfig defines no context." : "Use one of: \(available).")
        }
        guard let cluster = clusters[context.cluster] else {
            throw .configuration("The context '\(name)' names the cluster '\(context.cluster)', which \(where_) does not define.", fix: "Repair the kubeconfig.")
        }
        let user = users[context.user]
        if !context.user.isEmpty && user == nil {
            throw .configuration("The context '\(name)' names the user '\(context.user)', which \(where_) does not define.", fix: "Repair the kubeconfig.")
        }
        guard let url = URL(string: cluster.server), url.scheme == "https" || url.scheme == "http" else {
            throw .configuration("The server '\(cluster.server)' of the cluster '\(context.cluster)' is not an http(s) URL.", fix: "Repair the kubeconfig.")
        }
        func read(_ source: Source?, _ what: String) throws(KubeError) -> Data? {
            switch source {
            case nil: return nil
            case .data(let data): return data
            case .file(let file):
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw .configuration(
                        "The \(what) file \(file) (of context '\(name)', in \(cluster.definedIn)) does not exist or cannot be read.",
                        fix: "Check the path, or embed the data with `kubectl config view --raw --flatten`.")
                }
                return data
            }
        }
        var token = user?.token
        if token == nil, let file = user?.tokenFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .configuration("The tokenFile \(file) of user '\(context.user)' cannot be read.", fix: "Check the path.")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return Connection(
            server: url, contextName: name, namespace: context.namespace ?? "default",
            certificateAuthorityPEM: try read(cluster.certificateAuthority, "certificate-authority"),
            insecureSkipTLSVerify: cluster.insecureSkipTLSVerify, tlsServerName: cluster.tlsServerName,
            clientCertificatePEM: try read(user?.clientCertificate, "client-certificate"),
            clientKeyPEM: try read(user?.clientKey, "client-key"), token: token, exec: user?.exec,
            kubeconfig: context.definedIn)
    }
}

/// Everything needed to talk to one API server.
public struct Connection: Sendable {
    public var server: URL
    public var contextName: String
    public var namespace: String
    public var certificateAuthorityPEM: Data?
    public var insecureSkipTLSVerify: Bool
    public var tlsServerName: String?
    public var clientCertificatePEM: Data?
    public var clientKeyPEM: Data?
    public var token: String?
    public var exec: Kubeconfig.ExecConfig?
    /// Where it came from, for messages.
    public var kubeconfig: String

    public init(
        server: URL, contextName: String, namespace: String = "default", certificateAuthorityPEM: Data? = nil,
        insecureSkipTLSVerify: Bool = false, tlsServerName: String? = nil, clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil,
        token: String? = nil, exec: Kubeconfig.ExecConfig? = nil, kubeconfig: String
    ) {
        self.server = server
        self.contextName = contextName
        self.namespace = namespace
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.tlsServerName = tlsServerName
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.token = token
        self.exec = exec
        self.kubeconfig = kubeconfig
    }

    /// The service account's connection inside a pod.
    public static func inCluster(environment: [String: String], root: String = "/var/run/secrets/kubernetes.io/serviceaccount") throws(KubeError) -> Connection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw .configuration("Not running inside a pod (KUBERNETES_SERVICE_HOST is not set).", fix: "Use a kubeconfig.")
        }
        guard let token = FileManager.default.contents(atPath: root + "/token") else {
            throw .configuration("The service account token \(root)/token cannot be read.", fix: "Mount the service account token.")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return Connection(
            server: URL(string: "https://\(hostPart):\(port)")!, contextName: "in-cluster",
            namespace: (FileManager.default.contents(atPath: root + "/namespace")).map { String(decoding: $0, as: UTF8.self) } ?? "default",
            certificateAuthorityPEM: FileManager.default.contents(atPath: root + "/ca.crt"),
            token: String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), kubeconfig: "in-cluster service account")
    }
}

