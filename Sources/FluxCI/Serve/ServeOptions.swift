import Actions
import ArgumentParser
import Flux
import Foundation
import Git
import GitServe
import Processes

/// `--serve` and its companions: fluxci serves the commit under test to the cluster itself.
struct ServeOptions: ParsableArguments {
    @Flag(help: "Serve the commit under test to the cluster from fluxci (git smart HTTP, read-only, for the run only) instead of a remote: nothing needs to be pushed.")
    var serve = false

    @Flag(help: "With --serve: serve a commit of the work tree (tracked files as they are, untracked files unless ignored) on top of the branch.")
    var includeWorktree = false

    @Option(help: "With --serve: the address the cluster reaches this machine at, bound as given (default for kind: the kind network's gateway; host.docker.internal on Docker Desktop). Needed for a cluster that is not kind's.")
    var serveAddress: String?

    @Flag(inversion: .prefixedNo, help: "With --serve: require a random token (HTTP basic auth, given to Flux as the GitRepository's secretRef), so other containers on the network cannot read the repository.")
    var serveToken = true

    func validate() throws {
        if !serve && (includeWorktree || serveAddress != nil) {
            throw ValidationError("--include-worktree and --serve-address go with --serve.")
        }
        if let serveAddress, ServeAddress.isWildcard(serveAddress) {
            throw ValidationError(
                "--serve-address \(serveAddress) is every interface of this machine: anyone who reaches it could read the repository. Pass the one address the cluster reaches this machine at.")
        }
    }
}

/// The served repository's life: made when the branch is read, listening once the cluster's
/// address is known, stopped with the run.
enum ServeSession {
    /// The commit under test in a private repository (the branch's local commit, or HEAD in a
    /// detached CI checkout; with the work tree on top when asked, less fluxci's own outputs:
    /// `excluding` names the run's artifacts folder and keyring, wherever they are). Always the
    /// whole git repository, also when the fleet is a folder of it (`--repository deploy/flux`,
    /// or run from there): Flux fetches the whole repository and reads every spec.path from its
    /// top, so serving the folder as a root would test another tree than the cluster gets.
    static func make(
        _ options: ServeOptions, repository: RepositoryOptions, source: BranchOptions, excluding: [URL], context: CommandContext
    ) async throws -> ServedRepository {
        let (git, _) = try repository.gitRepository(context)
        let local = try BranchUnderTest.local(
            branch: source.branch, event: source.event, environment: context.environment, repository: git, includeWorkTree: options.includeWorktree)
        let top = git.workTree.map { URL(fileURLWithPath: $0) } ?? repository.root(context)
        let name = (top.standardizedFileURL.lastPathComponent.filter { $0.isLetter || $0.isNumber || "-_.".contains($0) })
        do {
            let served = try await ServedRepository.make(
                .init(
                    gitDirectory: URL(fileURLWithPath: git.path), workTree: git.workTree.map { URL(fileURLWithPath: $0) }, commit: local.commit,
                    includeWorkTree: options.includeWorktree, excluding: excluding),
                branch: local.branch, name: (name.isEmpty || name.hasPrefix(".") ? "repository" : name) + ".git", environment: context.environment,
                temporaryDirectory: context.environment["TMPDIR"])
            let left = served.excluded.isEmpty ? "" : ", leaving out fluxci's own \(served.excluded.map { $0 + "/" }.joined(separator: ", "))"
            let what = options.includeWorktree ? "the work tree on top of \(local.commit.prefix(7))\(left)" : "\(local.commit.prefix(7))"
            context.reporter.log("Serving \(local.branch) (\(what)) as \(served.commit).")
            if !options.includeWorktree, let workTree = git.workTree { noticeUncommitted(workTree: workTree, commit: String(local.commit.prefix(7)), context: context) }
            return served
        } catch {
            throw Annotation.error(
                "Cannot make the repository to serve: \(error)", title: "Serve failed",
                fix: "Check that git is installed and the checkout is readable.")
        }
    }

    /// --serve without --include-worktree serves the commit only: uncommitted changes of the
    /// repository (tracked or untracked, not ignored: `git status --porcelain`) are named in a
    /// notice, so a run does not silently test something else than the work tree.
    static func noticeUncommitted(workTree: String, commit: String, context: CommandContext) {
        let git = (context.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map { "\($0)/git" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let git else { return }
        let status = ProcessRunner.run(git, ["-C", workTree, "status", "--porcelain"])
        let changed = status.output.split(separator: "\n").filter { !$0.isEmpty }
        guard status.status == 0, !changed.isEmpty else { return }
        context.reporter.notice(
            "The work tree has \(changed.count) uncommitted change\(changed.count == 1 ? "" : "s"); --serve serves the commit \(commit) without \(changed.count == 1 ? "it" : "them"). Add --include-worktree to serve the work tree as it is.",
            title: "Uncommitted changes not served")
    }

    /// What a plan shows of the served source, as far as it is known before the listener runs:
    /// the URL (the host of `--serve-address`, else the kind network's gateway, read when the
    /// cluster exists; the port is chosen when serving) and, with the token, the credentials
    /// Secret the run creates, by name (its value exists only once the run serves).
    static func plan(_ prepared: inout BootstrapPipeline.Prepared, served: ServedRepository, options: ServeOptions) {
        var host: String
        if let given = options.serveAddress, let address = try? ServeAddress.explicit(given) {
            host = address.advertised
        } else {
            #if os(macOS) || os(Windows)
            host = "host.docker.internal"
            #else
            host = "<the kind network's gateway>"
            #endif
        }
        if host.contains(":") && !host.hasPrefix("<") { host = "[\(host)]" }
        let url = "http://\(host):<a free port, chosen when serving>/\(served.name)"
        prepared.branch.url = url
        prepared.plan = BootstrapPlan(
            tree: prepared.tree, url: url, revision: prepared.plan.revision, token: options.serveToken ? "<made when serving>" : nil)
    }

    /// Starts the listener at `address` and points the plan's GitRepository at it (with the
    /// token's Secret as its secretRef). The token is masked before anything is printed.
    static func start(
        _ prepared: inout BootstrapPipeline.Prepared, served: ServedRepository, options: ServeOptions, address: ServeAddress, artifacts: URL,
        context: CommandContext
    ) async throws -> SmartHTTPServer {
        var token: String?
        if options.serveToken {
            var generator = SystemRandomNumberGenerator()
            let value = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            context.reporter.mask(value)
            context.reporter.mask(Data(value.utf8).base64EncodedString())
            context.reporter.mask(Data("\(SmartHTTPServer.username):\(value)".utf8).base64EncodedString())
            token = value
        }
        let log = artifacts.appendingPathComponent("git-serve-access.log")
        let server: SmartHTTPServer
        do {
            server = try await SmartHTTPServer.start(
                served, host: address.bind, advertisedHost: address.advertised, token: token, accessLog: log, environment: context.environment)
        } catch {
            throw Annotation.error(
                "Cannot serve the repository on \(address.bind): \(error).", title: "Serve failed",
                fix: "Pass --serve-address with an address of this machine that the cluster reaches.")
        }
        prepared.branch.url = server.url
        prepared.plan = BootstrapPlan(tree: prepared.tree, url: server.url, revision: prepared.plan.revision, token: token)
        context.reporter.log(
            "Serving \(prepared.plan.revision) read-only at \(server.url)\(token == nil ? "" : " (basic auth, token in \(prepared.plan.credentials?.reference ?? "a Secret"))"); access log: \(log.path).")
        return server
    }
}
