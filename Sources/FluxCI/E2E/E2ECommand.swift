import Actions
import ArgumentParser
import Flux
import Foundation
import GPG
import GitServe
import Yams

/// `fluxci e2e`: the whole job, in CI and on a laptop alike.
public struct E2ECommand: ContextCommand {
    public static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Keys → SOPS preflight → cluster → secrets → bootstrap and wait → summary, with cleanup always.",
        discussion: """
            Each step is a group with its time; the step summary lists every step and the \
            Kustomization table. Cleanup always runs, also on failure, SIGINT and SIGTERM: the \
            keyring and its gpg-agent are removed, and a cluster this run created is deleted \
            unless --keep-cluster. --plan runs everything that needs no cluster (keys, branch, \
            Flux tree checks, preflight) and prints what would be applied. --serve serves the \
            commit under test (with --include-worktree: the work tree on top) to the cluster from \
            fluxci itself, read-only over git's smart HTTP on the kind network's gateway, for the \
            run only: nothing needs to be pushed.

            Exit codes: 0 success; 10 keys; 11 branch or Flux tree; 12 SOPS preflight; 13 cluster; \
            14 apply; 15 reconciliation (a Kustomization, or an object one applied, failed or timed out); 64 bad arguments.

            Environment: SOPS_GPG_KEY, SOPS_GPG_PASSPHRASE, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, \
            FLUXCI_KEYRING, GITHUB_TOKEN, GITHUB_EVENT_PATH, GITHUB_HEAD_REF, GITHUB_REF, \
            GITHUB_REF_NAME, GITHUB_WORKSPACE, \(ClusterTarget.environmentHelp), GITHUB_STEP_SUMMARY, \
            FLUXCI_GIT_TIMEOUT (seconds a git remote may take to answer; default 120).
            """,
        version: fluxciVersion)

    @OptionGroup var repository: RepositoryOptions

    @OptionGroup var source: BranchOptions

    @OptionGroup var target: ClusterTarget

    @OptionGroup var serve: ServeOptions

    @Option(help: "The kind node image.")
    var nodeImage: String?

    @Option(help: "A kind config file (e.g. hack/kind/kind-config.yaml).")
    var kindConfig: String?

    @Option(help: "How long each wait may take: for the source, for the Kustomizations, for what they applied.")
    var timeout = DurationArgument(.seconds(900), text: "15m")

    @Option(help: "How long one Kustomization may take once its dependencies are ready.")
    var kustomizationTimeout = DurationArgument(.seconds(300), text: "5m")

    @OptionGroup var secretNames: SecretNamesOption

    @Option(help: "Where to put events and cluster logs on failure (default: $RUNNER_TEMP/fluxci-artifacts or ./fluxci-artifacts).")
    var artifacts: String?

    @Option(help: "The keyring of an earlier `fluxci keys import` (default: import the keys here, and remove them at the end).")
    var keyring: String?

    @Option(help: "What to wait for after the Kustomizations: kustomizations (only them), flux (every Flux object they applied: HelmReleases, sources, nested Kustomizations), all (also Deployments, StatefulSets, DaemonSets, Jobs).")
    var waitFor: WaitScope = .flux

    @Flag(help: "Keep the kind cluster after the run.")
    var keepCluster = false

    @Flag(help: "Run what needs no cluster and print the plan.")
    var plan = false

    public init() {}

    enum Step: String, CaseIterable {
        case keys = "Import SOPS keys"
        case tree = "Resolve the branch and check the Flux tree"
        case preflight = "SOPS preflight"
        case cluster = "Cluster"
        case apply = "Apply Flux and secrets"
        case reconcile = "Wait for the reconciliation"

        var exitCode: Int32 {
            switch self {
            case .keys: 10
            case .tree: 11
            case .preflight: 12
            case .cluster: 13
            case .apply: 14
            case .reconcile: 15
            }
        }
    }

    public func validate() throws {
        if serve.serve && target.provider == .existing && serve.serveAddress == nil {
            throw ValidationError("--serve with --provider existing needs --serve-address: the address of this machine that the cluster reaches.")
        }
    }

    public func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        var pipeline = BootstrapPipeline(context: context)
        // The built-in kinds are checked against the schema of the Kubernetes the run creates.
        pipeline.kubernetesVersion = nodeImage.flatMap(KubernetesSchemaTool.version(ofNodeImage:))
        let run = E2ERun(reporter: reporter, pipeline: pipeline, plan: plan)
        let cleanup = Cleanup()
        cleanup.addScratchFolders()
        // SIGINT and SIGTERM end the run through the same cleanup, with the summary of what
        // was under way.
        let scope = waitFor
        cleanup.onInterrupt { signal in
            if let step = run.current { run.record(step, result: "cancelled") }
            run.finish(error: signal, scope: scope)
        }
        let signals = SignalCleanup.install(cleanup, reporter: reporter)
        defer { signals.cancel() }
        do {
            try await steps(context, pipeline: pipeline, run: run, cleanup: cleanup)
            run.finish(error: nil, scope: waitFor)
            await cleanup.run(reporter: reporter)
        } catch {
            // The summary's verdict and graph on every path, also between steps.
            let failing = run.current
            if let failing { run.record(failing, result: "failed") }
            run.finish(error: error, scope: waitFor)
            await cleanup.run(reporter: reporter)
            guard let failing else { throw error }
            if let annotation = error as? Annotation { reporter.annotate(annotation) } else if !(error is ExitCode) { reporter.error("\(error)") }
            reporter.finish()
            throw ExitCode(failing.exitCode)
        }
    }

    private func steps(_ context: CommandContext, pipeline: BootstrapPipeline, run: E2ERun, cleanup: Cleanup) async throws {
        let reporter = context.reporter
        let root = repository.root(context)
        let keys: ImportedKeys = try await run.step(.keys) {
            if let keyring { return try ImportedKeys.open(keyring, environment: context.environment) }
            let secrets = KeySources.clusterSecrets(repository.cloudEnv, environment: context.environment, repository: root, reporter: reporter)
            // A plan without keys runs every tree check and reports the preflight not run; a
            // full run needs keys only when the cluster decrypts something (the preflight says).
            var sources = try KeySources.read(
                cluster: secrets.cloudEnv, environment: context.environment, repository: root, reporter: reporter,
                currentDirectory: context.workingDirectory, noneIsError: false)
            sources.skipped += secrets.unread
            let created: Keyring
            // Under RUNNER_TEMP (the runner empties it after the job), and named in GITHUB_ENV the
            // moment it exists: a runner that kills this process (SIGKILL on cancel or timeout)
            // skips every cleanup here, and the action's `if: always()` step then finds it there.
            let parent = [context.environment["RUNNER_TEMP"], context.environment["TMPDIR"]].compactMap { $0 }.first { !$0.isEmpty }
            var isFolder: ObjCBool = false
            if let runnerTemp = context.environment["RUNNER_TEMP"], !runnerTemp.isEmpty,
                !FileManager.default.fileExists(atPath: runnerTemp, isDirectory: &isFolder) || !isFolder.boolValue
            {
                throw Annotation.error(
                    "RUNNER_TEMP is \(runnerTemp), which is not a folder: the keyring is made there.", title: "RUNNER_TEMP is not a folder",
                    fix: "Create \(runnerTemp), or unset RUNNER_TEMP (fluxci then uses TMPDIR, else /tmp). On a GitHub runner it always exists.")
            }
            created = try KeyErrors.createKeyring(for: sources, in: parent)
            cleanup.add("Remove the keyring and stop its gpg-agent", removesSecrets: true) {
                created.destroy()
                try? reporter.exportVariable(ImportedKeys.keyringVariable, "")  // empty: later steps see none
            }
            try reporter.exportVariable(ImportedKeys.keyringVariable, created.directory.path)
            let imported = try ImportedKeys.importing(sources, into: created, reporter: reporter)
            reporter.log("Imported \(imported.pgp.count) PGP key(s) and \(imported.age.count) age identity(ies).")
            try reporter.setOutput("fingerprint", imported.pgp.first?.fingerprint ?? "")
            try reporter.setOutput("age-recipients", imported.age.map(\.recipient.description).joined(separator: ","))
            return imported
        }
        var served: ServedRepository?
        var prepared = try await run.step(.tree) {
            if serve.serve {
                let repository = try await ServeSession.make(
                    serve, repository: self.repository, source: source,
                    excluding: [BootstrapCommand.artifactsDirectory(artifacts, context: context), keys.keyring.directory], context: context)
                cleanup.add("Remove the served repository") { repository.remove() }
                served = repository
            }
            return try pipeline.prepare(
                repository: repository, branch: source.branch, url: source.url, event: source.event, keys: keys, secretNames: try secretNames.names(), served: served,
                fullRun: !plan)
        }
        if let served { ServeSession.plan(&prepared, served: served, options: serve) }
        try await run.step(.preflight) { try await pipeline.preflight(prepared, keys: keys, requireKeys: !plan) }
        // A full --serve run names the served URL once it serves (tester t6 finding 6).
        if plan || served == nil { pipeline.describe(prepared) }
        if plan {
            reporter.log("Plan only: no cluster was touched.")
            return
        }
        let handle = try await run.step(.cluster) {
            let handle = try await ClusterLifecycle.up(target, image: nodeImage, config: kindConfig, wait: .seconds(300), context: context)
            if handle.created && !keepCluster {
                let target = self.target
                cleanup.add("Delete the kind cluster \(target.name)") { try? await ClusterLifecycle.down(target, context: context) }
            }
            if let served {
                // The cluster reaches this machine through its network, which exists now.
                let address: ServeAddress
                if let explicit = serve.serveAddress { address = try ServeAddress.explicit(explicit) } else {
                    address = try await ServeAddress.kind(context, preferIPv6: kindConfigIPFamily(context) == "ipv6")
                }
                let server = try await ServeSession.start(
                    &prepared, served: served, options: serve, address: address, artifacts: BootstrapCommand.artifactsDirectory(artifacts, context: context),
                    context: context)
                // A cluster that outlives the run keeps a GitRepository pointing at the stopped server.
                let kept = !handle.created || keepCluster, repository = prepared.plan.gitRepository.reference
                cleanup.add("Stop serving the repository (\(server.url))") {
                    await server.stop()
                    if kept { reporter.log("The cluster's \(repository) still points at \(server.url), which stopped with this run: its Flux cannot fetch until the cluster is bootstrapped again.") }
                }
                pipeline.describe(prepared)
            }
            return handle
        }
        let client = try ClusterOptions.parse(["--kubeconfig", handle.kubeconfig] + (handle.context.map { ["--context", $0] } ?? [])).client(context)
        let artifactsDirectory = BootstrapCommand.artifactsDirectory(artifacts, context: context)
        run.begin(.apply)
        do {
            try await pipeline.run(
                prepared, keys: keys, client: client, timeout: timeout.duration, perKustomization: kustomizationTimeout.duration,
                artifacts: artifactsDirectory, scope: waitFor, onApplied: { run.record(.apply, result: "done"); run.begin(.reconcile) })
            run.record(.reconcile, result: "done")
        } catch {
            if target.provider == .kind, let kind = try? Kind.locate(context) {
                _ = try? await kind.run(["export", "logs", artifactsDirectory.appendingPathComponent("kind").path, "--name", target.name])
            }
            throw error
        }
    }
}

extension E2ECommand {
    /// `networking.ipFamily` of the kind config (ipv4, ipv6, dual), when one is given.
    func kindConfigIPFamily(_ context: CommandContext) -> String? {
        guard let kindConfig, let text = try? String(contentsOf: context.url(for: kindConfig), encoding: .utf8) else { return nil }
        return (try? Yams.compose(yaml: text))?["networking"]?["ipFamily"]?.string
    }
}

/// The steps of one run, timed, for the log and the step summary.
final class E2ERun: @unchecked Sendable {
    let reporter: Reporter
    let pipeline: BootstrapPipeline
    private let lock = NSLock()
    private let start = ContinuousClock.now
    private var rows: [(step: E2ECommand.Step, result: String, time: Duration?)] = []
    private var started: [E2ECommand.Step: ContinuousClock.Instant] = [:]
    private(set) var current: E2ECommand.Step?
    /// --plan: the verdict says the plan passed, not the e2e (no cluster was made; tester t3 F26).
    var planOnly: Bool

    init(reporter: Reporter, pipeline: BootstrapPipeline, plan: Bool) {
        self.reporter = reporter
        self.pipeline = pipeline
        self.planOnly = plan
    }

    func begin(_ step: E2ECommand.Step) {
        lock.withLock {
            current = step
            started[step] = .now
        }
    }

    func record(_ step: E2ECommand.Step, result: String) {
        lock.withLock {
            let time = started[step].map { ContinuousClock.now - $0 }
            rows.removeAll { $0.step == step }
            rows.append((step, result, time))
            if current == step && result == "done" { current = nil }
        }
    }

    func step<T>(_ step: E2ECommand.Step, _ body: () async throws -> T) async throws -> T {
        begin(step)
        let value = try await reporter.group(step.rawValue) { try await body() }
        record(step, result: "done")
        return value
    }

    /// The verdict (the wait's own when it got that far, else the step that failed and what its
    /// errors point at), the graph when the wait drew none, and the steps table.
    func finish(error: Error?, scope: WaitScope) {
        // Once: a signal's summary and the run's own end may both come.
        guard pipeline.summary.claimFinish() else { return }
        let cause = pipeline.drawGraphIfMissing(scope: scope)
        let all = lock.withLock { rows }
        let failedStep = all.first { $0.result == "failed" }?.step
        let elapsed = ContinuousClock.now - start
        let command = planOnly ? "fluxci e2e --plan" : "fluxci e2e"
        let wait = pipeline.summary.verdict
        var head = StepSummary()
        if let failedStep, failedStep != .reconcile || wait == nil {
            head.heading(
                "❌ \(command): Failed at \(failedStep.rawValue) (exit \(failedStep.exitCode)): \(pipeline.failureText(error: error, cause: cause, elapsed: elapsed))",
                level: StepSummary.sectionLevel)
        } else {
            let (passed, text) = pipeline.verdictText(plan: planOnly, error: error, cause: cause, elapsed: elapsed)
            let exit = wait.map { !$0.passed } == true ? " (exit \(E2ECommand.Step.reconcile.exitCode))" : ""
            head.heading("\(passed ? "✅" : "❌") \(command): \(text)\(exit)", level: StepSummary.sectionLevel)
        }
        reporter.summary(.verdict) { $0.append(head) }
        var summary = StepSummary()
        summary.heading("Steps", level: StepSummary.sectionLevel)
        summary.table(header: ["Step", "Result", "Time"], rows: E2ECommand.Step.allCases.map { step in
            let row = all.first { $0.step == step }
            return [step.rawValue, row?.result ?? "not run", row?.time.map(Reporter.format) ?? ""]
        })
        reporter.publish(summary)
    }
}

/// What must be undone at the end, in reverse order, once.
final class Cleanup: @unchecked Sendable {
    private enum Entry {
        case action(String, secrets: Bool, @Sendable () async -> Void)
        /// Another cleanup's actions, run in this one's group (bootstrap's served repository).
        case nested(Cleanup)
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    private var scratchFolders = false

    /// `removesSecrets`: the action removes key material (the keyring with age.agekey): it runs
    /// first, before anything that may wait on a cluster or a network, so that a cleanup cut short
    /// (a SIGKILL after a stop that hangs) leaves no key behind (tester t15 F9).
    func add(_ name: String, removesSecrets: Bool = false, _ action: @escaping @Sendable () async -> Void) {
        lock.withLock { entries.append(.action(name, secrets: removesSecrets, action)) }
    }

    private var interruptHooks: [@Sendable (Interrupted) -> Void] = []

    /// Runs `hook` when a signal interrupts the run, before the cleanup: the step summary of a
    /// cancelled run (tester t13 F9).
    func onInterrupt(_ hook: @escaping @Sendable (Interrupted) -> Void) { lock.withLock { interruptHooks.append(hook) } }

    func interrupted(_ signal: Interrupted) {
        let hooks = lock.withLock { () -> [@Sendable (Interrupted) -> Void] in
            defer { interruptHooks = [] }
            return interruptHooks
        }
        for hook in hooks { hook(signal) }
    }

    /// Runs `other`'s pending actions here, at this point of the order.
    func add(_ other: Cleanup) { lock.withLock { entries.append(.nested(other)) } }

    /// Also removes the run's scratch folders (ScratchFolders: copies of the tree, build
    /// folders, a fetched repository) that are still there when the cleanup runs: they are made
    /// deep in the tree check, and a signal there must not leave them in TMPDIR.
    func addScratchFolders() { lock.withLock { scratchFolders = true } }

    private func drain() -> [(String, @Sendable () async -> Void)] {
        let all = drainAll()
        return all.filter(\.secrets).map { ($0.name, $0.action) } + all.filter { !$0.secrets }.map { ($0.name, $0.action) }
    }

    private func drainAll() -> [(name: String, secrets: Bool, action: @Sendable () async -> Void)] {
        let (all, scratch) = lock.withLock {
            defer { entries = [] }
            return (entries, scratchFolders)
        }
        var pending: [(name: String, secrets: Bool, action: @Sendable () async -> Void)] = []
        if scratch, !ScratchFolders.recorded.isEmpty { pending.append(("Remove the scratch copies of the tree", false, { ScratchFolders.removeAll() })) }
        for entry in all {
            switch entry {
            case .action(let name, let secrets, let action): pending.append((name, secrets, action))
            case .nested(let other): pending += other.drainAll().reversed()
            }
        }
        return pending.reversed()
    }

    func run(reporter: Reporter) async {
        let pending = drain()
        guard !pending.isEmpty else { return }
        await reporter.group("Clean up") {
            for (name, action) in pending {
                await action()
                reporter.log("✓ \(name)")
            }
        }
    }
}

/// A run ended by SIGINT or SIGTERM (GitHub's "Cancel workflow" and a step's timeout-minutes).
struct Interrupted: Error, CustomStringConvertible {
    var signal: Int32
    var description: String { "Cancelled by signal \(signal) (\(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal"))" }
}

/// SIGINT and SIGTERM: run the cleanup, then exit with 128 + the signal.
enum SignalCleanup {
    final class Handle: @unchecked Sendable {
        var sources: [DispatchSourceSignal] = []
        func cancel() { for source in sources { source.cancel() } }
        private let lock = NSLock()
        private var signalled = false
        /// True for the first signal only.
        func first() -> Bool {
            lock.withLock {
                defer { signalled = true }
                return !signalled
            }
        }
    }

    static func install(_ cleanup: Cleanup, reporter: Reporter) -> Handle {
        let handle = Handle()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                // A second signal (timeout(1), a runner sending SIGINT then SIGTERM) must not
                // end the process while the first one's cleanup still removes the keyring
                // (tester t15 F9: age.agekey left behind): it is noted and the cleanup goes on.
                guard handle.first() else {
                    reporter.log("Signal \(signalNumber) during the cleanup: it goes on, then fluxci exits.")
                    return
                }
                // The group under way ends here: the cleanup is not folded into it.
                reporter.closeOpenGroups()
                reporter.warning("Interrupted by signal \(signalNumber): cleaning up.", title: "Interrupted")
                cleanup.interrupted(Interrupted(signal: signalNumber))
                Task {
                    await cleanup.run(reporter: reporter)
                    reporter.finish()
                    exit(128 + signalNumber)
                }
            }
            source.resume()
            handle.sources.append(source)
        }
        return handle
    }
}
