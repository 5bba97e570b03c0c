import Actions
import Flux
import Foundation
import Git
import GitServe
import Kube
import SOPS

/// The bootstrap as steps the e2e pipeline composes: what needs no cluster (the branch, the
/// tree and its checks, the SOPS preflight, the plan), and what does (apply, then wait).
struct BootstrapPipeline {
    struct Prepared {
        var branch: BranchUnderTest
        var tree: ClusterTree
        var source: TreeSource
        var plan: BootstrapPlan
        var secrets: DecryptionSecrets
        var which: Set<DecryptionSecrets.Which>
        /// The commit is served by fluxci (`--serve`), not fetched from a remote.
        var served = false
    }

    let context: CommandContext
    var reporter: Reporter { context.reporter }

    /// Resolves the branch on the remote, reads the cluster's tree at that commit, and reports
    /// every problem of it as an annotation at its file and line; fails on errors.
    /// With `served`, the branch and commit are the served repository's (no remote is asked)
    /// and the URL is set once the listener runs. A URL Flux cannot use is an error in a
    /// `fullRun` (before any cluster exists), a warning in a plan.
    func prepare(
        repository options: RepositoryOptions, branch: String?, url: String?, event: String?, keys: ImportedKeys, secretNames: DecryptionSecrets.Names,
        served: ServedRepository? = nil, fullRun: Bool = false
    ) throws -> Prepared {
        var (repository, prefix) = try options.gitRepository(context)
        let token = context.environment["GITHUB_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let token { reporter.mask(token) }
        var credentials = GitCredentials.none
        var resolved: BranchUnderTest
        if let served {
            resolved = BranchUnderTest(
                branch: served.branch, url: "http://<this machine, as the cluster reaches it>/\(served.name)",
                revision: Revision(branch: served.branch, commit: served.commit))
            do { repository = try Repository.open(containing: served.gitDirectory.path) } catch {
                throw Annotation.error("Cannot open the served repository: \(error).", title: "Serve failed")
            }
            prefix = ""
        } else { do {
            resolved = try BranchUnderTest.resolve(
                branch: branch, url: url, event: event, environment: context.environment, repository: repository, credentials: .none, reporter: reporter)
        } catch let annotation as Annotation where token != nil && annotation.message.contains("authentication") {
            credentials = GitCredentials(token: token)
            resolved = try BranchUnderTest.resolve(
                branch: branch, url: url, event: event, environment: context.environment, repository: repository, credentials: credentials, reporter: reporter)
        } }
        reporter.log("Testing \(resolved.revision) of \(served == nil ? resolved.url : "the served repository")")
        if served == nil, !["http://", "https://", "ssh://"].contains(where: resolved.url.hasPrefix) {
            let message = "Flux's GitRepository accepts only http(s):// and ssh:// URLs; \(resolved.url) would be refused by the API server."
            let fix = "Pass --url with the repository's https URL, or let fluxci serve the branch to the cluster with --serve."
            if fullRun { throw Annotation.error(message, title: "URL Flux cannot use", fix: fix) }
            reporter.warning(message, title: "URL Flux cannot use", fix: fix)
        }
        let source = try treeSource(repository, prefix: prefix, branch: resolved, credentials: credentials)
        var which: Set<DecryptionSecrets.Which> = []
        if !keys.pgp.isEmpty { which.insert(.gpg) }
        if !keys.age.isEmpty { which.insert(.age) }
        let created = Set(which.map { $0 == .gpg ? secretNames.gpg : secretNames.age })
        let tree = try ClusterTreeReader.read(
            source, clusterPath: options.path, decryptionSecrets: created, tools: KustomizeTool(path: context.environment["PATH"]))
        for problem in tree.problems { reporter.annotate(problem) }
        let errors = tree.problems.filter { $0.level == .error }
        if !errors.isEmpty {
            throw Annotation.error(
                "The Flux tree of \(options.path) at \(source.revisionDescription) has \(errors.count) problem\(errors.count == 1 ? "" : "s") (annotated above).",
                title: "Flux tree checks failed", fix: "Fix them before any cluster is created.")
        }
        var table = StepSummary()
        table.heading("Kustomizations of \(tree.clusterPath)", level: 3)
        table.table(
            header: ["Kustomization", "Path", "Depends on", "Decryption", "Defined in", "SOPS files"],
            rows: tree.kustomizations.map { k in
                [k.id.description, k.writtenPath, k.dependsOn.map(\.description).joined(separator: ", "), k.decryptionSecret ?? "",
                 k.location?.description ?? "", String(tree.sopsFiles[k.id]?.count ?? 0)]
            })
        reporter.publish(table)
        let plan = BootstrapPlan(tree: tree, url: resolved.url, revision: resolved.revision, token: credentials.token)
        let secrets = DecryptionSecrets(namespace: tree.gitRepository.namespace ?? "flux-system", names: secretNames)
        return Prepared(branch: resolved, tree: tree, source: source, plan: plan, secrets: secrets, which: which, served: served != nil)
    }

    /// The commit's tree: from the checkout when it holds the commit, else fetched into a
    /// temporary repository.
    private func treeSource(_ repository: Repository, prefix: String, branch: BranchUnderTest, credentials: GitCredentials) throws -> TreeSource {
        if (try? repository.entryKind(commit: branch.revision.commit, path: "")) != nil {
            return GitTreeSource(repository: repository, commit: branch.revision.commit, branch: branch.branch, prefix: prefix)
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fluxci-fetch-\(UUID().uuidString.prefix(8))")
        do {
            let fetched = try Repository.initBare(at: scratch.path)
            try GitDeadline.run(GitDeadline.seconds(context.environment), "Fetching \(branch.branch) from \(branch.url)") {
                _ = try fetched.fetch(branch.url, branch: branch.branch, credentials: credentials)
            }
            return GitTreeSource(repository: fetched, commit: branch.revision.commit, branch: branch.branch, prefix: prefix)
        } catch let annotation as Annotation {
            throw annotation
        } catch {
            throw Annotation.error("Cannot fetch \(branch.branch) from \(branch.url): \(error).", title: "Fetch failed", fix: "Check the URL and credentials (GITHUB_TOKEN).")
        }
    }

    /// Every SOPS file the cluster will decrypt must decrypt with the run's keys, MAC checked.
    func preflight(_ prepared: Prepared, keys: ImportedKeys) async throws {
        let files = prepared.tree.decryptedSOPSFiles
        let source = prepared.source
        let verdicts = await SOPSVerifyCommand.verify(
            files.map { name in (name, { () throws -> String in String(decoding: try source.read(name) ?? Data(), as: UTF8.self) }) }, keys: keys)
        let verifier = try SOPSVerifyCommand.parse([])
        for verdict in verdicts { verifier.report(verdict, imported: keys, reporter: reporter) }
        let failed = try SOPSVerifyCommand.summarize(verdicts, allowForeign: false, reporter: reporter)
        guard failed == 0 else {
            throw Annotation.error(
                "\(failed) of the \(verdicts.count) SOPS files the cluster decrypts would fail in the cluster (annotated above).", title: "SOPS preflight failed",
                fix: "Fix them before any cluster is created.")
        }
        reporter.log("All \(verdicts.count) SOPS files the cluster decrypts decrypt with the imported keys.")
    }

    /// The plan, as a table of what would be applied.
    func describe(_ prepared: Prepared) {
        var summary = StepSummary()
        summary.heading("Objects to apply for \(prepared.plan.revision)", level: 3)
        let objects = prepared.plan.components + [prepared.plan.credentials, prepared.plan.gitRepository, prepared.plan.rootKustomization].compactMap { $0 }
        var counts: [String: Int] = [:]
        for object in prepared.plan.components { counts[object.kind, default: 0] += 1 }
        var rows = counts.sorted { $0.key < $1.key }.map { ["\($0.value) × \($0.key)", "Flux components (\(prepared.tree.fluxSystemPath))"] }
        rows += prepared.which.sorted { $0.rawValue < $1.rawValue }.map {
            ["Secret \(prepared.secrets.namespace)/\($0 == .gpg ? prepared.secrets.names.gpg : prepared.secrets.names.age)", $0 == .gpg ? "sops.asc from the keyring" : "age.agekey from the keyring"]
        }
        if let credentials = prepared.plan.credentials { rows.append(["\(credentials.reference)", prepared.served ? "the served repository's token" : "git credentials (GITHUB_TOKEN)"]) }
        rows.append(["\(prepared.plan.gitRepository.reference)", "\(prepared.plan.repositoryURL) at \(prepared.plan.revision.branch)"])
        rows.append(["\(prepared.plan.rootKustomization.reference)", prepared.tree.rootKustomization.writtenPath])
        summary.table(header: ["Object", "What"], rows: rows)
        reporter.publish(summary)
        reporter.log("\(objects.count + prepared.which.count) objects would be applied.")
    }

    /// Applies the plan and the decryption Secrets, then waits for the source and every
    /// Kustomization.
    func run(
        _ prepared: Prepared, keys: ImportedKeys, client: KubeClient, timeout: Duration, perKustomization: Duration, artifacts: URL?,
        onApplied: () -> Void = {}
    ) async throws {
        let objects = try prepared.secrets.manifests(from: keys, which: prepared.which, reporter: reporter)
        try await reporter.group("Apply Flux and the decryption Secrets") {
            do {
                let results = try await client.applyAll(prepared.plan.components)
                reporter.log("Flux components: \(results.count) objects (\(results.filter(\.created).count) created).")
                // The GitRepository and Kustomization kinds are served once their CRDs are Established:
                // ask discovery until it serves them (a minute at most).
                for object in [prepared.plan.gitRepository, prepared.plan.rootKustomization] {
                    var attempt = 0
                    while true {
                        do {
                            _ = try await client.resource(apiVersion: object.apiVersion, kind: object.kind)
                            break
                        } catch where attempt < 120 {
                            attempt += 1
                            try await Task.sleep(for: .milliseconds(500))
                        }
                    }
                }
                _ = try await prepared.secrets.apply(objects, client: client, reporter: reporter)
                for object in [prepared.plan.credentials, prepared.plan.gitRepository, prepared.plan.rootKustomization].compactMap({ $0 }) {
                    let result = try await client.apply(object)
                    reporter.log("\(object.reference): \(result.created ? "created" : "configured")")
                }
            } catch {
                throw KubeErrors.annotation(error)
            }
        }
        onApplied()
        let waiter = ReconciliationWaiter(client: client, revision: prepared.plan.revision, timeout: timeout, perKustomizationTimeout: perKustomization, reporter: reporter)
        try await reporter.group("Wait for \(prepared.plan.gitRepository.reference) to fetch \(prepared.plan.revision.short)") {
            try await waiter.waitForSource(prepared.plan.gitRepository)
        }
        do {
            let rows = try await reporter.group("Wait for \(prepared.tree.kustomizations.count) Kustomizations to apply \(prepared.plan.revision.short)") {
                try await waiter.waitForKustomizations(prepared.tree.kustomizations)
            }
            summarize(rows, revision: prepared.plan.revision)
            reporter.log("All Kustomizations applied \(prepared.plan.revision).")
            try reporter.setOutput("revision", prepared.plan.revision.description)
        } catch let failure as ReconciliationWaiter.Failure {
            summarize(failure.rows, revision: prepared.plan.revision)
            if let artifacts { await collectEvents(failure.failed, client: client, into: artifacts) }
            throw failure.annotation
        }
    }

    func summarize(_ rows: [ReconciliationWaiter.Row], revision: Revision) {
        var summary = StepSummary()
        summary.heading("Kustomizations at \(revision)", level: 3)
        summary.table(header: ["Name", "Path", "Revision", "Ready", "Time", "Message"], rows: rows.map { row in
            let (ready, message): (String, String) = switch row.readiness {
            case .ready: ("True", "")
            case .pending(let reason, let message): ("False", [reason, message].filter { !$0.isEmpty }.joined(separator: ": "))
            case .failed(let reason, let message): ("False", "\(reason): \(message)")
            }
            return [row.kustomization.id.description, row.kustomization.writtenPath, row.revision ?? "", ready, row.elapsed.map(Reporter.format) ?? "", message]
        })
        reporter.publish(summary)
    }

    /// The events of failed objects, for the artifacts a workflow uploads.
    func collectEvents(_ failed: [FluxKustomization], client: KubeClient, into directory: URL) async {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for kustomization in failed {
            let path = "/api/v1/namespaces/\(kustomization.id.namespace)/events"
            let events = (try? await client.send(.GET, path, query: [("fieldSelector", "involvedObject.name=\(kustomization.id.name)")]).json)?["items"]?.array ?? []
            let lines = events.map { event in
                "\(event["lastTimestamp"]?.string ?? event["eventTime"]?.string ?? "") \(event["type"]?.string ?? "") \(event["reason"]?.string ?? ""): \(event["message"]?.string ?? "")"
            }
            var object: JSONValue?
            if let resource = try? await client.resource(apiVersion: kustomization.object.apiVersion, kind: "Kustomization") {
                object = try? await client.fetch(resource, namespace: kustomization.id.namespace, name: kustomization.id.name)
            }
            let text = "# events of Kustomization \(kustomization.id)\n" + lines.joined(separator: "\n") + "\n\n# status\n" + (object?["status"]?.jsonText ?? "none") + "\n"
            try? text.write(to: directory.appendingPathComponent("kustomization-\(kustomization.id.namespace)-\(kustomization.id.name).txt"), atomically: true, encoding: .utf8)
        }
        reporter.log("Events of the failed objects are in \(directory.path).")
    }
}
