import Actions
import ArgumentParser
import Flux
import Foundation
import GitServe

/// `fluxci bootstrap` (and `fluxci-bootstrap`): make a cluster reconcile a branch and wait
/// until every Kustomization has applied its head commit.
public struct BootstrapCommand: ContextCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("bootstrap"),
        abstract: "Bootstrap Flux against the branch under test and wait until every Kustomization applied its head commit.",
        discussion: """
            Resolves the branch on the remote Flux will fetch (a pull request's head branch, not the \
            merge commit), reads clusters/<cloud>/<env> at that commit through libgit2, checks it \
            (paths exist, dependsOn names defined Kustomizations without cycles, decryption Secrets \
            are the ones created) and runs the SOPS preflight over the files the cluster decrypts. \
            Then applies the Flux components, the decryption Secrets, the GitRepository (the branch \
            under test, with the repository's own ignore, include and recurseSubmodules) and the root Kustomization, and watches: the \
            GitRepository until its artifact is <branch>@sha1:<commit>, each Kustomization until \
            Ready with that lastAppliedRevision, then what they applied (--wait-for: the Flux \
            objects, or also the workloads). With --serve fluxci serves the commit itself instead \
            of a remote (a kind-* context, or --serve-address). --plan stops before the cluster.

            Environment: GITHUB_TOKEN (private repositories), GITHUB_EVENT_PATH, GITHUB_HEAD_REF, \
            GITHUB_REF, GITHUB_REF_NAME, GITHUB_WORKSPACE, \(KeyOptions.environmentHelp), \
            \(ClusterOptions.environmentHelp), RUNNER_TEMP (artifacts), GITHUB_ACTIONS, \
            GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, FLUXCI_GIT_TIMEOUT (seconds a git remote may take to \
            answer; default 120).
            """,
        version: fluxciVersion)

    @OptionGroup var repository: RepositoryOptions

    @OptionGroup var source: BranchOptions

    @Option(help: "How long each wait may take: for the source, for the Kustomizations, for what they applied.")
    var timeout = DurationArgument(.seconds(600), text: "10m")

    @Option(help: "How long one Kustomization may take once its dependencies are ready.")
    var kustomizationTimeout = DurationArgument(.seconds(300), text: "5m")

    @Option(help: "Where to put the failed objects' events (default: $RUNNER_TEMP/fluxci-artifacts or ./fluxci-artifacts).")
    var artifacts: String?

    @Flag(help: "Check everything that needs no cluster and print what would be applied.")
    var plan = false

    @Flag(help: "Commit the flux-system sync manifests for the branch and push them first, as `flux bootstrap git` does (nothing is pushed when nothing changes).")
    var push = false

    @Option(help: "The author of the --push commit.")
    var authorName = "fluxci"

    @Option(help: "The author's email.")
    var authorEmail = "fluxci@users.noreply.github.com"

    @Option(help: "The keyring of an earlier `fluxci keys import` (default: FLUXCI_KEYRING; without one the keys are read as keys import reads them: SOPS_GPG_KEY, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, and .secrets/<cloud>/<env>/ only when none of those is set).")
    var keyring: String?

    @Option(help: "What to wait for after the Kustomizations: kustomizations (only them), flux (every Flux object they applied: HelmReleases, sources, nested Kustomizations), all (also Deployments, StatefulSets, DaemonSets, Jobs).")
    var waitFor: WaitScope = .flux

    @OptionGroup var cluster: ClusterOptions

    @OptionGroup var serve: ServeOptions

    @OptionGroup var secretNames: SecretNamesOption

    public init() {}

    public func validate() throws {
        if serve.serve && push { throw ValidationError("--serve serves the commit to the cluster; --push pushes it to the remote: choose one.") }
    }

    public func execute(in context: CommandContext) async throws {
        let pipeline = BootstrapPipeline(context: context)
        let root = repository.root(context)
        // SIGINT and SIGTERM remove the temporary keyring (age.agekey is in it), as e2e does.
        let cleanup = Cleanup()
        let command = plan ? "fluxci bootstrap --plan" : "fluxci bootstrap"
        let (plan, waitFor) = (plan, waitFor)
        cleanup.onInterrupt { signal in pipeline.finishSummary(command, plan: plan, scope: waitFor, error: signal) }
        let signals = SignalCleanup.install(cleanup, reporter: context.reporter)
        defer { signals.cancel() }
        // With --serve the run owns a listener and a private repository: gone at the end, also
        // on SIGINT and SIGTERM (the signal's cleanup runs this one too).
        let served = Cleanup()
        served.addScratchFolders()
        cleanup.add(served)
        // The summary's verdict and graph on every path: a plan, a failed check, a failed wait.
        do {
            try await bootstrap(context, pipeline: pipeline, root: root, cleanup: cleanup, served: served)
        } catch {
            pipeline.finishSummary(command, plan: plan, scope: waitFor, error: error)
            await served.run(reporter: context.reporter)
            throw error
        }
        pipeline.finishSummary(command, plan: plan, scope: waitFor, error: nil)
        await served.run(reporter: context.reporter)
    }

    static func serveAddressUnknown(_ contextName: String) -> Annotation {
        Annotation.error(
            "--serve needs the address this machine has for the cluster; the context \(contextName) is not a kind cluster's.",
            title: "Serve address unknown", fix: "Pass --serve-address with an address of this machine that the cluster's pods reach.")
    }

    private func bootstrap(_ context: CommandContext, pipeline: BootstrapPipeline, root: URL, cleanup: Cleanup, served serveCleanup: Cleanup) async throws {
        // Known from the kubeconfig before anything runs: fail before the tree checks (tester t6, finding 10).
        if serve.serve, !plan, serve.serveAddress == nil, let name = try? cluster.connection(context.environment, workingDirectory: context.workingDirectory).contextName, !name.hasPrefix("kind-") {
            throw Self.serveAddressUnknown(name)
        }
        let secrets = KeySources.clusterSecrets(repository.cloudEnv, environment: context.environment, repository: root, reporter: context.reporter)
        try await KeyOptions.withKeys(context, keyring: keyring, repository: root, cloudEnv: secrets.cloudEnv, unread: secrets.unread, cleanup: cleanup, allowNone: true) { imported in
            var served: ServedRepository?
            if serve.serve {
                let repository = try await ServeSession.make(
                    serve, repository: self.repository, source: source,
                    excluding: [Self.artifactsDirectory(artifacts, context: context), imported.keyring.directory], context: context)
                serveCleanup.add("Remove the served repository") { repository.remove() }
                served = repository
            }
            var prepared = try context.reporter.group("Read \(repository.path) at the branch under test") {
                try pipeline.prepare(
                    repository: repository, branch: source.branch, url: source.url, event: source.event, keys: imported, secretNames: try secretNames.names(), served: served,
                    fullRun: !plan)
            }
            if let served { ServeSession.plan(&prepared, served: served, options: serve) }
            if push && !plan {
                let commit: String
                do {
                    commit = try SyncManifests.push(
                        prepared, author: .init(name: authorName, email: authorEmail), token: context.environment["GITHUB_TOKEN"])
                } catch {
                    throw Annotation.error("Cannot push the sync manifests to \(prepared.branch.url): \(error).", title: "Push failed", fix: "Check that the token may push to \(prepared.branch.branch) (contents: write).")
                }
                if commit != prepared.plan.revision.commit {
                    context.reporter.log("Pushed the sync manifests for \(prepared.branch.branch): \(commit.prefix(7)).")
                    prepared.branch.revision.commit = commit
                    prepared.plan.revision.commit = commit
                    pipeline.summary.record(revision: prepared.plan.revision)
                } else {
                    context.reporter.log("The sync manifests of \(prepared.branch.branch) are up to date: nothing pushed.")
                }
            }
            try await context.reporter.group("SOPS preflight") { try await pipeline.preflight(prepared, keys: imported, requireKeys: !plan) }
            // A full --serve run names the served URL once it serves (tester t6 finding 6).
            if plan || served == nil { pipeline.describe(prepared) }
            if plan { return }
            let client = try cluster.client(context)
            if let served {
                let address: ServeAddress
                if let explicit = serve.serveAddress {
                    address = try ServeAddress.explicit(explicit)
                } else if client.connection.contextName.hasPrefix("kind-") {
                    address = try await ServeAddress.kind(context)
                } else {
                    throw Self.serveAddressUnknown(client.connection.contextName)
                }
                let server = try await ServeSession.start(
                    &prepared, served: served, options: serve, address: address, artifacts: Self.artifactsDirectory(artifacts, context: context), context: context)
                let repository = prepared.plan.gitRepository.reference
                serveCleanup.add("Stop serving the repository (\(server.url))") {
                    await server.stop()
                    // The cluster outlives the run, its GitRepository pointing at the stopped server.
                    context.reporter.log("The cluster's \(repository) still points at \(server.url), which stopped with this run: its Flux cannot fetch until the cluster is bootstrapped again.")
                }
                pipeline.describe(prepared)
            }
            try await pipeline.run(
                prepared, keys: imported, client: client, timeout: timeout.duration, perKustomization: kustomizationTimeout.duration,
                artifacts: Self.artifactsDirectory(artifacts, context: context), scope: waitFor)
        }
    }

    static func artifactsDirectory(_ explicit: String?, context: CommandContext) -> URL {
        if let explicit { return context.url(for: explicit) }
        if let temp = context.environment["RUNNER_TEMP"], !temp.isEmpty { return URL(fileURLWithPath: temp).appendingPathComponent("fluxci-artifacts") }
        return context.workingDirectory.appendingPathComponent("fluxci-artifacts")
    }
}
