import Flux
import Foundation
import Kube
import Testing
import TestSupport

/// Tester t15 F5 and F14: a source that cannot be reached for the first seconds of a run (a git
/// server, a DNS record or a webhook a fresh cluster brings up a little later) is retried by
/// source-controller with back-off until it heals, so the wait holds its failure until
/// `--timeout` instead of failing it after two attempts a second apart; when the timeout does
/// run out, the verdict names the source, not the Kustomization that waits for it. A failure
/// that heals only by a change to the repository (a repository that is not there) still ends
/// the wait after two attempts.
///
/// The second git server is real (git http-backend on 127.0.0.1), down at first: the stand-in
/// controller's `git ls-remote` meets a real refused connection.
@Suite(.serialized) struct LateSourceTests {
    static let otherFile = "clusters/kind/local/other.yaml"

    /// The example fleet plus a GitRepository `other` on a second server and a Kustomization
    /// `other-apps` sourced from it; the second server is stopped before the run.
    static func setup(branch: String = "main") async throws -> (BootstrapTests.Setup, other: GitServer) {
        let other = try await GitServer.start()
        let bare = try await other.createRepository("other.git")
        let work = try TestPaths.temporaryDirectory("fluxci-other")
        removeAtExit(work)
        try "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\ndata:\n  a: b\n"
            .write(to: work.appendingPathComponent("configmap.yaml"), atomically: true, encoding: .utf8)
        try await git(["init", "--quiet", "--initial-branch=main", work.path])
        try await git(["add", "-A"], in: work)
        try await git(["commit", "--quiet", "-m", "other"], in: work)
        try await git(["push", "--quiet", bare.path, "main"], in: work)
        let url = other.url("other.git")
        other.stop()
        let setup = try await BootstrapTests.setup { checkout in
            try """
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: GitRepository
                metadata:
                  name: other
                  namespace: flux-system
                spec:
                  interval: 1m
                  url: \(url)
                  ref:
                    branch: \(branch)
                ---
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata:
                  name: other-apps
                  namespace: flux-system
                spec:
                  interval: 10m
                  prune: true
                  path: ./
                  sourceRef:
                    kind: GitRepository
                    name: other

                """.write(to: checkout.appendingPathComponent(otherFile), atomically: true, encoding: .utf8)
        }
        return (setup, other)
    }

    /// The failed attempts source-controller's stand-in recorded on `other` (Warning events).
    static func failedAttempts(_ setup: BootstrapTests.Setup, reason: String) -> Int {
        setup.api.objects(group: "", plural: "events").filter {
            $0["involvedObject", "name"]?.string == "other" && $0["reason"]?.string == reason
        }.reduce(0) { $0 + ($1["count"]?.int ?? 1) }
    }

    @Test(.standIn("the fake Flux controller, which fetches GitRepositories with the real git CLI"))
    func aSourceUnreachableForItsFirstSecondsIsWaitedFor() async throws {
        let (setup, other) = try await Self.setup()
        defer { Task { await setup.stop() } }
        let run = Task { try await setup.run(["--timeout", "90s"]) }
        // Back once the run met the refused connection on two attempts (the stand-in retries
        // every second), which the rule before t15 F5 failed the run at.
        for _ in 0..<600 where Self.failedAttempts(setup, reason: "GitOperationFailed") < 3 { try await Task.sleep(for: .milliseconds(100)) }
        let back = try await other.restart()
        defer { back.stop() }
        let (result, _) = try await run.value
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("✓ flux-system/other-apps applied main@sha1:"), "\(result.standardError)")
        #expect(!result.standardError.contains("the same failure on"))
        #expect(Self.failedAttempts(setup, reason: "GitOperationFailed") >= 3, "the run met the refused connection more than twice")
    }

    @Test(.standIn("the fake Flux controller, which fetches GitRepositories with the real git CLI"))
    func aSourceThatNeverComesIsNamedWhenTheTimeoutRunsOut() async throws {
        let (setup, _) = try await Self.setup()
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--timeout", "15s"], environment: WaitForFluxObjectsTests.github)
        #expect(result.status == 1, "\(result.allOutput)")
        let error = try #require(result.standardError.split(separator: "\n").first { $0.hasPrefix("::error ") }, "\(result.standardError)")
        // At the GitRepository's own line, with source-controller's message, not at other-apps.
        #expect(error.hasPrefix("::error title=GitRepository failed%3A GitOperationFailed,file=\(Self.otherFile),line=1::"), "\(error)")
        #expect(error.contains("connect: connection refused"), "\(error)")
        #expect(error.contains("fluxci waited until --timeout 15.0 seconds ran out"), "\(error)")
        // What waits for it follows, as blocked on its source.
        #expect(error.contains("Also not ready:%0AKustomization/flux-system/other-apps: SourceNotReady"), "\(error)")
        let verdict = try #require(summary.split(separator: "\n").first)
        #expect(verdict.contains("GitRepository/flux-system/other"), "\(verdict)")
        // Drawn as the verdict says: failed and linked, not waiting (tester t16 F2).
        let id = WaitForFluxObjectsTests.id("GitRepository", "flux-system", "other")
        let graph = WaitForFluxObjectsTests.mermaid(summary)
        #expect(graph.contains { $0.hasPrefix("class ") && $0.hasSuffix(" failed") && $0.contains(id) }, "\(graph)")
        #expect(graph.contains { $0.hasPrefix("click \(id) ") }, "\(graph)")
        #expect(result.standardError.contains("✗ GitRepository/flux-system/other — GitOperationFailed"), "\(result.standardError)")
        #expect(!verdict.contains("other-apps"), "\(verdict)")
    }

    @Test(.standIn("the fake Flux controller, which fetches GitRepositories with the real git CLI"))
    func aBranchThatIsNotThereStillFailsAfterTwoAttempts() async throws {
        // The server answers, but the branch is a typo: only a change to the fleet heals that.
        let (setup, other) = try await Self.setup(branch: "mian")
        defer { Task { await setup.stop() } }
        let back = try await other.restart()
        defer { back.stop() }
        let (result, _) = try await setup.run(["--timeout", "90s"])
        #expect(result.status == 1, "\(result.allOutput)")
        let error = try #require(result.standardError.split(separator: "\n").first { $0.hasPrefix("::error ") }, "\(result.standardError)")
        #expect(error.hasPrefix("::error title=GitRepository failed%3A GitOperationFailed,file=\(Self.otherFile),line=1::"), "\(error)")
        #expect(error.contains("couldn't find remote ref \"refs/heads/mian\" (the same failure on 2 attempts)"), "\(error)")
    }

    /// Tester t15 F12: a run that fails in the Kustomization phase says what failed inside that
    /// phase's log group, and draws what a ready Kustomization applied as the cluster has it (a
    /// HelmRelease already Ready is not "not reached").
    @Test(.standIn("the fake Flux controller's fault injection"))
    func aFailureInTheKustomizationPhaseIsInItsGroupAndReadyObjectsAreDrawnReady() async throws {
        let setup = try await BootstrapTests.setup { checkout in
            try FileManager.default.createDirectory(at: checkout.appendingPathComponent("kubernetes/late"), withIntermediateDirectories: true)
            try "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: default\n"
                .write(to: checkout.appendingPathComponent("kubernetes/late/cm.yaml"), atomically: true, encoding: .utf8)
            try """
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata:
                  name: late
                  namespace: flux-system
                spec:
                  interval: 10m
                  prune: true
                  path: ./kubernetes/late
                  dependsOn:
                    - name: apps
                  sourceRef:
                    kind: GitRepository
                    name: flux-system

                """.write(to: checkout.appendingPathComponent("clusters/kind/local/late.yaml"), atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        setup.controller.set("late", .fail(reason: "BuildFailed", message: "kustomize build failed: accumulating resources"))
        let (result, _) = try await setup.run(["--timeout", "60s"])
        #expect(result.status == 1, "\(result.allOutput)")
        let log = result.standardError
        let group = try #require(log.components(separatedBy: "::group::").first { $0.hasPrefix("Wait for ") && $0.contains("Kustomizations to apply") })
        let inside = group.components(separatedBy: "::endgroup::")[0]
        #expect(inside.contains("✗ Kustomization/flux-system/late: Kustomization failed: BuildFailed"), "\(inside)")
        let release = try #require(log.split(separator: "\n").first { $0.contains("HelmRelease/apps/podinfo-chart") && !$0.hasPrefix("::") }, "\(log)")
        #expect(release.contains("✓ HelmRelease/apps/podinfo-chart") && !release.contains("not reached"), "\(release)")
    }

    /// Tester t16 F8: the API server goes away during the Kustomization wait. The run still ends,
    /// and the summary keeps what the wait saw: a Kustomization it saw applied is drawn
    /// and listed as applied, not "not reached".
    @Test(.standIn("the fake API server, stopped during the wait"))
    func anAPIServerThatGoesAwayKeepsWhatTheWaitSaw() async throws {
        let setup = try await BootstrapTests.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("apps", .never)
        let run = Task { try await setup.run(["--timeout", "120s"]) }
        func ready(_ name: String) -> Bool {
            FakeFluxController.ready(setup.api.object(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: "flux-system", name: name))
        }
        for _ in 0..<600 where !ready("infrastructure") { try await Task.sleep(for: .milliseconds(100)) }
        #expect(ready("infrastructure"))
        // The waiter's watch sees it too before the server goes.
        try await Task.sleep(for: .seconds(1))
        await setup.flux.stop()
        let (result, summary) = try await run.value
        // bootstrap's failure (e2e would exit 15, the reconciliation step).
        #expect(result.status == 1, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("title=API server unreachable"), "\(log)")
        let tree = try #require(log.split(separator: "\n").first { $0.contains("Kustomization/flux-system/infrastructure") && !$0.hasPrefix("::") }, "\(log)")
        #expect(tree.contains("✓ Kustomization/flux-system/infrastructure"), "\(tree)")
        let row = try #require(summary.split(separator: "\n").first { $0.hasPrefix("| flux-system/infrastructure |") || $0.hasPrefix("| Kustomization/flux-system/infrastructure |") }, "\(summary)")
        #expect(!row.contains("not reached"), "\(row)")
    }

    /// Tester t17 F1: the API server goes away while a source's failure is held; the timeout that
    /// follows is the API server's, not the source's: no object of the repository is blamed.
    @Test(.standIn("the fake API server, stopped during the wait"))
    func aTimeoutAfterTheAPIServerWentAwayBlamesNoObject() async throws {
        let (setup, _) = try await Self.setup()
        defer { Task { await setup.stop() } }
        let run = Task { try await setup.run(["--timeout", "20s"]) }
        for _ in 0..<600 where Self.failedAttempts(setup, reason: "GitOperationFailed") < 1 { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(1))
        await setup.flux.stop()
        let (result, _) = try await run.value
        #expect(result.status != 0, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("::error title=API server unreachable::"), "\(log)")
        #expect(!log.contains("title=GitRepository failed"), "\(log)")
    }
}
