import Foundation
import Kube
import Testing
import TestSupport

/// `fluxci bootstrap` on the example repository, served by a real git server, against the fake
/// API server with a fake Flux controller (both stand-ins; the controller reads the real branch).
@Suite(.serialized) struct BootstrapTests {
    struct Setup {
        var fleet: ExampleFleet
        /// FLUXCI_TEST_KUBECONFIG's cluster, or the fake API server and Flux controller.
        var flux: FluxTestCluster
        var api: FakeAPIServer { flux.api }
        var controller: FakeFluxController { flux.controller }
        var kubeconfig: URL { flux.kubeconfig }

        func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (ProcessResult, summary: String) {
            let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary-\(UUID().uuidString.prefix(6))")
            var variables = [
                "SOPS_AGE_KEY_FILE": fleet.ageKeyFile.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
            ]
            variables.merge(environment) { $1 }
            let result = try await runProcess(
                TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", kubeconfig.path] + arguments,
                environment: variables, workingDirectory: fleet.checkout)
            return (result, (try? String(contentsOf: summary, encoding: .utf8)) ?? "")
        }

        func stop() async {
            fleet.server.stop()
            await flux.stop()
        }
    }

    static func setup(_ change: (URL) throws -> Void = { _ in }) async throws -> Setup {
        Setup(fleet: try await ExampleFleet.make(change), flux: try await FluxTestCluster.start())
    }

    @Test(.standIn("the fake API server's object store and request log")) func reconcilesTheBranchAndWaitsForEveryKustomization() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let commit = try await setup.fleet.head()
        // CRDs slow to become Established: the GitRepository must wait for its kind to be served.
        setup.api.setCRDEstablishDelay(.milliseconds(800))
        let (result, summary) = try await setup.run([])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All Kustomizations applied main@sha1:\(commit)."))
        #expect(result.standardError.contains("✓ flux-system/apps applied main@\(commit.prefix(7))"))
        for name in ["flux-system", "infrastructure", "apps"] {
            #expect(summary.contains("| flux-system/\(name) |"), "\(name) in the summary")
        }
        let repository = try #require(setup.api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system"))
        #expect(repository["spec", "url"]?.string == setup.fleet.url)
        #expect(repository["spec", "ref", "branch"]?.string == "main")
        #expect(repository["spec", "ignore"] == nil, "the repository's own spec.ignore only (it has none)")
        #expect(repository["metadata", "annotations", "kustomize.toolkit.fluxcd.io/reconcile"]?.string == "disabled")
        #expect(repository["spec", "secretRef"] == nil, "a public repository needs no credentials")
        #expect(setup.api.object(group: "", plural: "secrets", namespace: "flux-system", name: "sops-age") != nil)
        // The age key never shows.
        let identity = try String(contentsOf: setup.fleet.ageKeyFile, encoding: .utf8)
        #expect(leakedSecrets(in: result.allOutput + summary, secrets: [identity]).isEmpty)
    }

    @Test func testsTheBranchOfAPullRequestEvent() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let feature = try await setup.fleet.branch("feature/podinfo-message") { checkout in
            let deployment = checkout.appendingPathComponent("kubernetes/base/podinfo/deployment.yaml")
            try (try String(contentsOf: deployment, encoding: .utf8)).replacingOccurrences(of: "fleet example", with: "changed").write(to: deployment, atomically: true, encoding: .utf8)
        }
        // The runner checks out a merge commit (detached); the event names the head branch.
        try await git(["checkout", "--quiet", "--detach", "main"], in: setup.fleet.checkout)
        let event = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("event.json")
        try #"{"pull_request":{"head":{"ref":"feature/podinfo-message","sha":"\#(feature)","repo":{"clone_url":"\#(setup.fleet.url)"}}}}"#.write(to: event, atomically: true, encoding: .utf8)
        let (result, _) = try await setup.run(["--event", event.path])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All Kustomizations applied feature/podinfo-message@sha1:\(feature)."))
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aBuildFailureIsAnnotatedWhereTheKustomizationIsDefined() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("apps", .fail(reason: "BuildFailed", message: "kustomize build failed: accumulating resources: missing podinfo-auth.sops.yaml"))
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "60s"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=Kustomization failed%3A BuildFailed,file=clusters/kind/local/apps.yaml,line=1::The Kustomization flux-system/apps"))
        #expect(result.standardError.contains("kustomize build failed"))
        // The table of objects waited for: infrastructure was ready, apps failed with the controller's message.
        #expect(summary.contains("| Kustomization/flux-system/infrastructure | clusters/kind/local/infrastructure.yaml:"), "\(summary)")
        #expect(summary.contains("| False | | BuildFailed: kustomize build failed") || summary.contains("|  | BuildFailed: kustomize build failed"), "\(summary)")
        #expect(summary.hasPrefix("### ❌ fluxci bootstrap: Failed: Kustomization/flux-system/apps: BuildFailed"))
        #expect(FileManager.default.fileExists(atPath: artifacts.appendingPathComponent("kustomization-flux-system-apps.txt").path))
        // Tester t13 F5: a failure in the Kustomizations' phase keeps the branch's GitRepository
        // (ready) in the table, and lists what the wait did not reach, as the graph draws it.
        let table = try #require(summary.components(separatedBy: "### Objects waited for").dropFirst().first)
        #expect(table.contains("| GitRepository/flux-system/flux-system |") && table.contains("| True |"), "\(table)")
        #expect(table.contains("| HelmRelease/apps/podinfo-chart |") && table.contains("not reached"), "\(table)")
    }

    /// Tester t10 F1: with the real controllers' bookkeeping (the stand-in leaves
    /// `status.observedGeneration` behind on a failure and retries it, `ProgressingWithRetry`), a
    /// failure of the Kustomization's current generation at the revision under test is reported
    /// with its reason and message once it repeats, not left to the timeout.
    @Test(.standIn("the fake Flux controller's fault injection")) func aRetriedFailureIsReportedWithItsMessageBeforeTheTimeout() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let message = "Deployment/apps/podinfo dry-run failed: spec.replicas: Invalid value: -1"
        setup.controller.set("apps", .fail(reason: "ReconciliationFailed", message: message))
        let (result, _) = try await setup.run(["--timeout", "45s"])
        #expect(result.status != 0)
        let log = result.standardError
        #expect(!log.contains("::error title=Timed out"), "\(log)")
        #expect(log.contains("::error title=Kustomization failed%3A ReconciliationFailed,file=clusters/kind/local/apps.yaml,line=1::The Kustomization flux-system/apps"), "\(log)")
        #expect(log.contains(message) && log.contains("the same failure on 2 attempts"), "\(log)")
        // The stand-in kept the real books: no observedGeneration for the failed generation, the
        // Ready condition's own one current, Reconciling ProgressingWithRetry.
        let apps = try #require(setup.api.object(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: "flux-system", name: "apps"))
        #expect(apps["status", "observedGeneration"] == nil, "\(apps["status"] ?? .null)")
        let conditions = apps["status", "conditions"]?.array ?? []
        #expect(conditions.contains { $0["type"]?.string == "Ready" && $0["status"]?.string == "False" && $0["observedGeneration"]?.int == apps["metadata", "generation"]?.int })
        #expect(conditions.contains { $0["type"]?.string == "Reconciling" && $0["reason"]?.string == "ProgressingWithRetry" })
    }

    /// Tester t10 F5: a suspended Kustomization is never reconciled (the stand-in skips it as
    /// kustomize-controller does), so it is not waited for until the timeout. apps, which nothing
    /// needs, is suspended: the tree check warns, and the wait reports it at once too and goes
    /// on; apps is shown suspended, not ready. (One that others need fails the tree checks
    /// before any cluster is touched; the wait's own error for that case is
    /// WaitForFluxObjectsTests.aSuspendedHelmReleaseThatAnotherNeedsFailsAtOnce.)
    @Test(.standIn("the fake Flux controller's fault injection")) func aSuspendedKustomizationIsReportedAtOnceNotWaitedFor() async throws {
        let setup = try await Self.setup { checkout in
            let file = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
            let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "spec:\n  interval: 10m\n", with: "spec:\n  suspend: true\n  interval: 10m\n")
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--timeout", "40s"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(!result.standardError.contains("Timed out"), "\(result.standardError)")
        #expect(result.standardError.contains("::warning title=Kustomization suspended,file=clusters/kind/local/apps.yaml,line=1::The Kustomization flux-system/apps (path ./kubernetes/overlays/kind/local/apps) is suspended (spec.suspend: true)"), "\(result.standardError)")
        #expect(!result.standardError.contains("✓ flux-system/apps applied"))
        #expect(summary.contains("| Kustomization/flux-system/apps |") && summary.contains("Suspended: spec.suspend is true"), "\(summary)")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aStuckDependencyAndAStaleRevisionTimeOut() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("infrastructure", .never)
        let (stuck, _) = try await setup.run(["--timeout", "20s"])
        #expect(stuck.status != 0)
        #expect(stuck.standardError.contains("::error title=Timed out"))
        #expect(stuck.standardError.contains("flux-system/apps: DependencyNotReady dependency 'flux-system/infrastructure' is not ready"))

        setup.controller.set("infrastructure", .succeed)
        setup.controller.set("apps", .staleRevision)
        let (stale, _) = try await setup.run(["--timeout", "20s"])
        #expect(stale.status != 0)
        #expect(stale.standardError.contains("flux-system/apps: StaleRevision last applied main@sha1:0000000000000000000000000000000000000000"))
    }

    @Test(.standIn("the fake API server's object store and request log")) func treeProblemsFailBeforeAnyClusterIsTouched() async throws {
        let setup = try await Self.setup { checkout in
            let apps = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
            var text = try String(contentsOf: apps, encoding: .utf8)
            text = text.replacingOccurrences(of: "- name: infrastructure", with: "- name: infra")
            try text.write(to: apps, atomically: true, encoding: .utf8)
            let infrastructure = checkout.appendingPathComponent("clusters/kind/local/infrastructure.yaml")
            try (try String(contentsOf: infrastructure, encoding: .utf8)).replacingOccurrences(of: "./kubernetes/overlays/kind/local/infrastructure", with: "./kubernetes/overlays/kind/local/missing")
                .write(to: infrastructure, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        // Only the PGP key: the pipeline creates sops-gpg while the Kustomizations ask for sops-age
        // (the mistake of the workflow fluxci replaces).
        try FileManager.default.removeItem(at: setup.fleet.checkout.appendingPathComponent(".secrets/kind/local/age"))
        let (result, _) = try await setup.run([], environment: ["SOPS_AGE_KEY_FILE": ""])
        #expect(result.status != 0)
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.contains { $0.hasPrefix("::error title=Decryption Secret mismatch,file=clusters/kind/local/apps.yaml,line=21::") && $0.contains("decrypts with the Secret flux-system/sops-age") && $0.contains("the pipeline creates flux-system/sops-gpg") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("::error title=Unknown dependency,file=clusters/kind/local/apps.yaml,line=9::") && $0.contains("flux-system/infra") })
        #expect(errors.contains { $0.hasPrefix("::error title=Kustomization path not found,file=clusters/kind/local/infrastructure.yaml,line=8::") })
        #expect(!setup.api.requests.contains { $0.hasPrefix("PATCH") }, "nothing was applied")
    }

    @Test func pushModeCommitsTheSyncManifestsAndWaitsForThatCommit() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let before = try await setup.fleet.head()
        let (result, _) = try await setup.run(["--push"])
        #expect(result.status == 0, "\(result.allOutput)")
        let bare = setup.fleet.server.root.appendingPathComponent("repos/fleet.git").path
        let pushed = try await git(["--git-dir", bare, "rev-parse", "main"])
        #expect(pushed != before)
        #expect(try await git(["--git-dir", bare, "rev-parse", "main^"]) == before)
        let sync = try await git(["--git-dir", bare, "show", "main:clusters/kind/local/flux-system/gotk-sync.yaml"])
        #expect(sync.contains("url: \(setup.fleet.url)") && sync.contains("branch: main"))
        #expect(result.standardError.contains("All Kustomizations applied main@sha1:\(pushed)."))
        // Nothing changed since: nothing is pushed.
        let (again, _) = try await setup.run(["--push"])
        #expect(again.status == 0)
        #expect(again.standardError.contains("nothing pushed"))
        #expect(try await git(["--git-dir", bare, "rev-parse", "main"]) == pushed)
    }
}
