import Actions
import ArgumentParser
import Foundation
import Kube
import Yams

/// `fluxci cluster` (and `fluxci-cluster`): the e2e cluster.
public struct ClusterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("cluster"),
        abstract: "Create, check, delete and collect the logs of the e2e cluster (kind, or an existing kubeconfig).",
        version: fluxciVersion,
        subcommands: [ClusterUpCommand.self, ClusterDownCommand.self, ClusterStatusCommand.self, ClusterLogsCommand.self])

    public init() {}
}

enum ClusterProvider: String, ExpressibleByArgument, CaseIterable {
    case kind, existing
}

/// Options every cluster command shares.
struct ClusterTarget: ParsableArguments {
    @Option(help: "kind (create a cluster) or existing (use a kubeconfig and context as they are).")
    var provider: ClusterProvider = .kind

    @Option(help: "The kind cluster's name.")
    var name = "fluxci"

    @Option(help: "Where the kind cluster's kubeconfig is written (default: $RUNNER_TEMP or /tmp, fluxci-<name>.kubeconfig).")
    var kubeconfigOut: String?

    @Option(help: "With --provider existing: the kubeconfig (default: KUBECONFIG, ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "With --provider existing: the context that must be current; any other is refused.")
    var context: String?

    func kubeconfigPath(_ context: CommandContext) -> String {
        if let kubeconfigOut { return context.url(for: kubeconfigOut).path }
        let base = context.environment["RUNNER_TEMP"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(base)/fluxci-\(name).kubeconfig"
    }

    static let environmentHelp = "PATH (kind, docker), KUBECONFIG, RUNNER_TEMP, GITHUB_ACTIONS, GITHUB_OUTPUT"
}

/// What `cluster up` hands the next steps.
struct ClusterHandle {
    var kubeconfig: String
    var context: String?
    var created: Bool
}

enum ClusterLifecycle {
    /// Creates (or reuses) the cluster and waits for its API server and nodes.
    static func up(_ target: ClusterTarget, image: String?, config: String?, wait: Duration, context: CommandContext) async throws -> ClusterHandle {
        let reporter = context.reporter
        if target.provider == .existing {
            let options = try ClusterOptions.parse((target.kubeconfig.map { ["--kubeconfig", $0] } ?? []))
            let connection = try options.connection(context.environment, workingDirectory: context.workingDirectory)
            if let wanted = target.context, connection.contextName != wanted {
                throw Annotation.error(
                    "The current context is '\(connection.contextName)', not '\(wanted)'; fluxci refuses to touch another cluster.",
                    title: "Wrong context", fix: "Switch with `kubectl config use-context \(wanted)`, or pass the kubeconfig of the e2e cluster.")
            }
            try await waitReady(try KubeClient(connection), configDisablesCNI: false, wait: wait, reporter: reporter)
            return ClusterHandle(kubeconfig: connection.kubeconfig, context: connection.contextName, created: false)
        }
        let kind = try Kind.locate(context)
        let kubeconfig = target.kubeconfigPath(context)
        var disablesCNI = false
        if let config {
            let url = context.url(for: config)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw Annotation.error("The kind config \(config) cannot be read.", title: "kind config not found", fix: "Check the path (e.g. hack/kind/kind-config.yaml).")
            }
            disablesCNI = (try? Yams.compose(yaml: text))?["networking"]?["disableDefaultCNI"]?.bool ?? false
        }
        var created = false
        if try await kind.clusters().contains(target.name) {
            reporter.log("The kind cluster \(target.name) exists: reusing it.")
            let result = try await kind.run(["export", "kubeconfig", "--name", target.name, "--kubeconfig", kubeconfig])
            guard result.status == 0 else { throw Annotation.error("`kind export kubeconfig` failed: \(result.output)", title: "kind failed") }
        } else {
            var arguments = ["create", "cluster", "--name", target.name, "--kubeconfig", kubeconfig]
            if let image { arguments += ["--image", image] }
            if let config { arguments += ["--config", context.url(for: config).path] }
            reporter.log("kind \(arguments.joined(separator: " "))")
            let result = try await kind.run(arguments)
            if !result.output.isEmpty { reporter.untrusted(result.output) }
            guard result.status == 0 else {
                throw Annotation.error(
                    "kind could not create the cluster \(target.name) (exit \(result.status)).", title: "kind create failed",
                    fix: "See kind's output above; check that Docker runs and that the node image exists.")
            }
            created = true
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: kubeconfig)
        let config = try Kubeconfig.load([kubeconfig], explicit: true)
        try await waitReady(try KubeClient(try config.connection(context: nil), retryDeadline: wait), configDisablesCNI: disablesCNI, wait: wait, reporter: reporter)
        try reporter.setOutput("kubeconfig", kubeconfig)
        return ClusterHandle(kubeconfig: kubeconfig, context: config.currentContext, created: created)
    }

    static func waitReady(_ client: KubeClient, configDisablesCNI: Bool, wait: Duration, reporter: Reporter) async throws {
        do {
            _ = try await client.send(.GET, "/readyz")
            reporter.log("The API server is ready (\(try await client.version())).")
            if configDisablesCNI {
                reporter.warning(
                    "The kind config disables the default CNI: nodes stay NotReady until one is installed, so fluxci does not wait for them.",
                    title: "No default CNI")
                return
            }
            let nodes = try await client.resource(apiVersion: "v1", kind: "Node")
            _ = try await client.observe(nodes, namespace: nil, timeout: wait) { event -> Bool? in
                let ready = (event.object["status", "conditions"]?.array ?? []).contains { $0["type"]?.string == "Ready" && $0["status"]?.string == "True" }
                return ready ? true : nil
            }
            reporter.log("A node is Ready.")
        } catch {
            throw KubeErrors.annotation(error)
        }
    }

    static func down(_ target: ClusterTarget, context: CommandContext) async throws {
        guard target.provider == .kind else {
            context.reporter.log("--provider existing: the cluster is not fluxci's to delete.")
            return
        }
        let kind = try Kind.locate(context)
        guard try await kind.clusters().contains(target.name) else {
            context.reporter.log("The kind cluster \(target.name) does not exist: nothing to delete.")
            return
        }
        let result = try await kind.run(["delete", "cluster", "--name", target.name])
        guard result.status == 0 else { throw Annotation.error("`kind delete cluster` failed: \(result.output)", title: "kind failed") }
        try? FileManager.default.removeItem(atPath: target.kubeconfigPath(context))
        context.reporter.log("Deleted the kind cluster \(target.name).")
    }
}

struct ClusterUpCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Create the kind cluster (or reuse it), wait for /readyz and a Ready node, and output the kubeconfig.",
        discussion: "Environment: \(ClusterTarget.environmentHelp).")

    @OptionGroup var target: ClusterTarget

    @Option(help: "The kind node image (e.g. kindest/node:v1.33.1).")
    var image: String?

    @Option(help: "A kind config file (e.g. hack/kind/kind-config.yaml).")
    var config: String?

    @Option(help: "How long to wait for the API server and nodes.")
    var wait = DurationArgument(.seconds(300), text: "5m")

    init() {}

    func execute(in context: CommandContext) async throws {
        let handle = try await ClusterLifecycle.up(target, image: image, config: config, wait: wait.duration, context: context)
        context.reporter.log("kubeconfig: \(handle.kubeconfig)")
    }
}

struct ClusterDownCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Delete the kind cluster; nothing to do when it does not exist.",
        discussion: "Environment: \(ClusterTarget.environmentHelp).")

    @OptionGroup var target: ClusterTarget
    init() {}

    func execute(in context: CommandContext) async throws { try await ClusterLifecycle.down(target, context: context) }
}

struct ClusterStatusCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Say whether the cluster exists and its API server answers.",
        discussion: "Environment: \(ClusterTarget.environmentHelp).")

    @OptionGroup var target: ClusterTarget
    init() {}

    func execute(in context: CommandContext) async throws {
        if target.provider == .kind {
            let kind = try Kind.locate(context)
            guard try await kind.clusters().contains(target.name) else {
                throw Annotation.error("The kind cluster \(target.name) does not exist.", title: "No cluster", fix: "Create it with `fluxci cluster up --name \(target.name)`.")
            }
        }
        let path = target.provider == .kind ? target.kubeconfigPath(context) : target.kubeconfig
        let options = try ClusterOptions.parse((path.map { ["--kubeconfig", $0] } ?? []) + (target.context.map { ["--context", $0] } ?? []))
        let client = try options.client(context)
        do {
            context.reporter.log("\(client.connection.contextName): API server \(try await client.version()) at \(client.connection.server.absoluteString)")
        } catch {
            throw KubeErrors.annotation(error)
        }
    }
}

struct ClusterLogsCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Export the kind cluster's logs (`kind export logs`) into the artifacts directory.",
        discussion: "Environment: \(ClusterTarget.environmentHelp), RUNNER_TEMP.")

    @OptionGroup var target: ClusterTarget

    @Option(help: "Where to put them (default: $RUNNER_TEMP/fluxci-artifacts/kind or ./fluxci-artifacts/kind).")
    var artifacts: String?

    init() {}

    func execute(in context: CommandContext) async throws {
        let kind = try Kind.locate(context)
        let directory = BootstrapCommand.artifactsDirectory(artifacts, context: context).appendingPathComponent(artifacts == nil ? "kind" : "")
        let result = try await kind.run(["export", "logs", directory.path, "--name", target.name])
        guard result.status == 0 else { throw Annotation.error("`kind export logs` failed: \(result.output)", title: "kind failed") }
        context.reporter.log("The cluster's logs are in \(directory.path).")
        try context.reporter.setOutput("logs", directory.path)
    }
}
