import Foundation
import Kube
import Subprocess
import SystemPackage
import Testing
import TestSupport

/// `fluxci e2e --serve` and `fluxci bootstrap --serve` on the example repository: a stand-in
/// kind whose stand-in docker prints the `kind` network (its gateway 127.0.0.1 or ::1, so the
/// listener binds there), the fake API server, and the fake Flux controller fetching the served
/// repository over the listener with the token from the GitRepository's secretRef.
@Suite(.serialized) struct ServeE2ETests {
    typealias Setup = E2ETests.Setup

    static func setup() async throws -> Setup {
        let setup = try await E2ETests.setup()
        try setup.kind.setNetwork(StandInKind.network(ipv4: "127.0.0.1", ipv6: nil))
        return setup
    }

    /// A commit that is not on the remote, and an uncommitted change on top.
    static func unpushedChange(_ setup: Setup) async throws -> (committed: String, remote: String) {
        let remote = try await setup.fleet.head()
        let deployment = setup.fleet.checkout.appendingPathComponent("kubernetes/base/podinfo/deployment.yaml")
        try (try String(contentsOf: deployment, encoding: .utf8)).replacingOccurrences(of: "fleet example", with: "served from a laptop")
            .write(to: deployment, atomically: true, encoding: .utf8)
        try await git(["commit", "--quiet", "-am", "not pushed"], in: setup.fleet.checkout)
        return (try await setup.fleet.head(), remote)
    }

    static func servedURL(_ setup: Setup) -> String? {
        setup.api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system")?["spec", "url"]?.string
    }

    static func port(_ url: String) -> Int? {
        URLComponents(string: url)?.port
    }

    func leftovers(_ setup: Setup) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: setup.tmp.path)) ?? []).filter { $0.hasPrefix("fluxci-serve.") || $0.hasPrefix("fluxci.") }
    }

    @Test func planServesNothingAndLeavesNothing() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let result = try await setup.run(["--serve", "--plan"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("Serving main ("))
        #expect(result.standardError.contains("All 2 SOPS files the cluster decrypts decrypt with the imported keys."))
        #expect(result.standardError.contains("Plan only: no cluster was touched."))
        #expect(setup.kind.calls.isEmpty)
        #expect(leftovers(setup).isEmpty, "\(leftovers(setup))")
    }

    /// Issue 17 items 5 and 6: a plan names the credentials Secret the run would create (never a
    /// value) and the URL with the address given; the work tree commit leaves out the artifacts
    /// folder an earlier run left in the checkout.
    @Test func aPlanShowsTheTokenSecretAndTheURLAndLeavesOutTheArtifacts() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let artifacts = setup.fleet.checkout.appendingPathComponent("fluxci-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try "10.1.2.3 - GET /fleet.git/info/refs 200\n".write(to: artifacts.appendingPathComponent("git-serve-access.log"), atomically: true, encoding: .utf8)
        let result = try await setup.run(["--serve", "--include-worktree", "--plan", "--serve-address", "10.1.2.3", "--artifacts", "fluxci-artifacts"])
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("the work tree on top of \(try await setup.fleet.head().prefix(7)), leaving out fluxci's own fluxci-artifacts/"), "\(log)")
        func row(_ text: String, _ object: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(object + " ") }.map { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().joined(separator: " ") }
        }
        #expect(row(log, "Secret/flux-system/flux-system") == "the served repository's token", "\(log)")
        #expect(row(log, "GitRepository/flux-system/flux-system") == "http://10.1.2.3:<a free port, chosen when serving>/fleet.git at main", "\(log)")
        #expect(!log.contains("Secret Secret") && !log.contains("<this machine"))
        // Without an address: the kind network's gateway, read once the cluster exists.
        let kind = try await setup.run(["--serve", "--plan"])
        #expect(row(kind.standardError, "GitRepository/flux-system/flux-system") == "http://<the kind network's gateway>:<a free port, chosen when serving>/fleet.git at main", "\(kind.standardError)")
        // --no-serve-token: no Secret.
        let open = try await setup.run(["--serve", "--plan", "--no-serve-token"])
        #expect(open.status == 0 && row(open.standardError, "Secret/flux-system/flux-system") == nil, "\(open.standardError)")
        #expect(row(open.standardError, "Secret/flux-system/sops-age") == "age.agekey from the keyring", "one way of naming objects")
        #expect(setup.kind.calls.isEmpty)
    }

    /// The step summary's file:line cells link to the tested lines with --serve too: at the
    /// commit the served one is made from (the served commit is fluxci's own, not on GitHub);
    /// with --include-worktree the files the work tree changed stay plain text, since their lines
    /// at that commit are not the tested ones.
    @Test func theSummaryLinksToTheCommitTheServedOneIsMadeFrom() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let head = try await setup.fleet.head()
        let summary = setup.tmp.appendingPathComponent("summary.md")
        func plan(_ arguments: [String]) async throws -> String {
            try? FileManager.default.removeItem(at: summary)
            var environment = setup.environment
            environment["GITHUB_SERVER_URL"] = "https://github.example"
            environment["GITHUB_REPOSITORY"] = "acme/fleet"
            environment["GITHUB_STEP_SUMMARY"] = summary.path
            let result = try await runProcess(
                TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local", "--serve", "--plan"] + arguments, environment: environment,
                workingDirectory: setup.fleet.checkout)
            #expect(result.status == 0, "\(result.allOutput)")
            return (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        }
        let base = "https://github.example/acme/fleet/blob/\(head)/"
        func commits(_ text: String) -> Set<String> { Set(text.matches(of: /\/blob\/([0-9a-f]{40})\//).map { String($0.1) }) }
        let served = try await plan([])
        #expect(served.contains("| [clusters/kind/local/apps.yaml:1](\(base)clusters/kind/local/apps.yaml#L1) |"), "\(served)")
        #expect(commits(served) == [head])
        let apps = setup.fleet.checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
        try ("# changed in the work tree\n" + String(contentsOf: apps, encoding: .utf8)).write(to: apps, atomically: true, encoding: .utf8)
        let worktree = try await plan(["--include-worktree"])
        #expect(worktree.contains("| clusters/kind/local/apps.yaml:2 |"), "\(worktree)")
        #expect(worktree.contains("| [clusters/kind/local/infrastructure.yaml:1](\(base)clusters/kind/local/infrastructure.yaml#L1) |"), "\(worktree)")
        #expect(commits(worktree) == [head])
    }

    @Test(.standIn("the fake API server's object store and request log")) func theWholeRunServesTheWorkTreeAndStopsServing() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let (committed, remote) = try await Self.unpushedChange(setup)
        // Uncommitted: a changed file, a new one; an ignored one that must not be served.
        try "*.local\n".write(to: setup.fleet.checkout.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        try "do not serve\n".write(to: setup.fleet.checkout.appendingPathComponent("notes.local"), atomically: true, encoding: .utf8)
        let apps = setup.fleet.checkout.appendingPathComponent("kubernetes/overlays/kind/local/apps/kustomization.yaml")
        try (try String(contentsOf: apps, encoding: .utf8) + "commonLabels:\n  served: work-tree\n").write(to: apps, atomically: true, encoding: .utf8)

        // Without --serve the run refuses to test the remote commit instead of the local one.
        let refused = try await setup.run([])
        #expect(refused.status == 11, "\(refused.allOutput)")
        #expect(refused.standardError.contains("::error title=Branch not pushed::The local main (\(committed.prefix(7))) is 1 commit ahead of"))
        #expect(refused.standardError.contains("--serve"))
        #expect(refused.standardError.contains("(\(remote.prefix(7)))"))
        #expect(setup.kind.calls.isEmpty, "no cluster before the error")

        let result = try await setup.run(["--serve", "--include-worktree"])
        #expect(result.status == 0, "\(result.allOutput)")
        let url = try #require(Self.servedURL(setup))
        #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/fleet.git"), "\(url)")
        // Tester t6 finding 6: the objects table of a full run names the served URL, not the plan's placeholder.
        #expect(result.allOutput.contains("\(url) at main"), "\(result.allOutput)")
        #expect(!result.allOutput.contains("chosen when serving"), "\(result.allOutput)")
        // The served commit is the work tree on top of the local commit; Flux reports it as the revision.
        let line = try #require(result.standardError.split(separator: "\n").first { $0.contains("All Kustomizations applied main@sha1:") })
        let served = String(line.split(separator: ":").last ?? "").trimmingCharacters(in: CharacterSet(charactersIn: ". "))
        #expect(served.count == 40 && served != committed)
        let repository = try #require(setup.api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system"))
        #expect(repository["status", "artifact", "revision"]?.string == "main@sha1:\(served)")
        // The token reached Flux as the secretRef's Secret, and nowhere else.
        let secretName = try #require(repository["spec", "secretRef", "name"]?.string)
        let secret = try #require(setup.api.object(group: "", plural: "secrets", namespace: "flux-system", name: secretName))
        let token = String(decoding: Data(base64Encoded: secret["data", "password"]?.string ?? "") ?? Data(), as: UTF8.self)
        #expect(token.count == 64)
        #expect(String(decoding: Data(base64Encoded: secret["data", "username"]?.string ?? "") ?? Data(), as: UTF8.self) == "x-access-token")
        let log = try String(contentsOf: setup.tmp.appendingPathComponent("fluxci-artifacts/git-serve-access.log"), encoding: .utf8)
        #expect(log.contains("\"GET /fleet.git/info/refs?service=git-upload-pack\" 200"), "the fake controller fetched over the listener: \(log)")
        #expect(log.contains("\"POST /fleet.git/git-upload-pack\" 200"))
        #expect(leakedSecrets(in: result.allOutput + log, secrets: [token]).isEmpty)
        // Gone with the run: the port is free, the private repository removed, the cluster deleted.
        #expect(PortProbe.canBind(try #require(Self.port(url))))
        #expect(leftovers(setup).isEmpty, "\(leftovers(setup))")
        #expect(setup.kind.calls.last == "delete cluster --name fluxci")
        #expect(result.standardError.contains("✓ Stop serving the repository"))
        // The cluster was deleted with the run: nothing is left to point at the stopped server.
        #expect(!result.allOutput.contains("still points at"), "\(result.allOutput)")
    }

    /// Issue 17: a cluster that outlives a `--serve` run (kept with --keep-cluster, or one the run
    /// did not create) is told that its GitRepository points at the server that stopped.
    @Test(.standIn("the fake API server's object store and request log")) func aClusterThatOutlivesTheRunIsToldItsSourceStopped() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let result = try await setup.run(["--serve", "--keep-cluster"])
        #expect(result.status == 0, "\(result.allOutput)")
        let url = try #require(Self.servedURL(setup))
        #expect(
            result.standardError.contains("The cluster's GitRepository/flux-system/flux-system still points at \(url), which stopped with this run"),
            "\(result.allOutput)")
        #expect(!setup.kind.calls.contains { $0.hasPrefix("delete cluster") }, "--keep-cluster: \(setup.kind.calls)")
        #expect(PortProbe.canBind(try #require(Self.port(url))), "the server stopped all the same")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aFailedRunStopsServing() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("apps", .fail(reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"))
        let result = try await setup.run(["--serve", "--timeout", "30s"])
        #expect(result.status == 15, "\(result.allOutput)")
        let url = try #require(Self.servedURL(setup))
        #expect(PortProbe.canBind(try #require(Self.port(url))))
        #expect(leftovers(setup).isEmpty)
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func sigtermStopsServing() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("infrastructure", .never)
        let api = setup.api
        // Once the GitRepository points at the listener and the source is fetched, interrupt.
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local", "--serve", "--timeout", "120s"], environment: setup.environment,
            workingDirectory: setup.fleet.checkout, signal: .terminate,
            when: { api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system")?["status", "artifact"] != nil },
            within: .seconds(90), settle: .seconds(1))
        #expect(!run.endedBySignal && run.result.status == 143, "fluxci exits 143 after its cleanup: \(run.result.status)")
        let url = try #require(Self.servedURL(setup))
        #expect(PortProbe.canBind(try #require(Self.port(url))), "the port is free after SIGTERM")
        #expect(leftovers(setup).isEmpty, "\(leftovers(setup))")
    }

    @Test func theKindNetworkGatewayIsReadFromDocker() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        // Dual stack: IPv4 is chosen...
        try setup.kind.setNetwork(StandInKind.network(ipv4: "127.0.0.1", ipv6: "::1"))
        let dual = try await setup.run(["--serve"])
        #expect(dual.status == 0, "\(dual.allOutput)")
        #expect(Self.servedURL(setup)?.hasPrefix("http://127.0.0.1:") == true)
        // ...unless the kind config makes the cluster IPv6.
        let config = setup.tmp.appendingPathComponent("kind-ipv6.yaml")
        try "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  ipFamily: ipv6\n".write(to: config, atomically: true, encoding: .utf8)
        let ipv6 = try await setup.run(["--serve", "--kind-config", config.path])
        #expect(ipv6.status == 0, "\(ipv6.allOutput)")
        #expect(Self.servedURL(setup)?.hasPrefix("http://[::1]:") == true, "\(Self.servedURL(setup) ?? "")")
        // No kind network: a clear error, and the cluster this run created is deleted.
        try setup.kind.setNetwork(nil)
        let none = try await setup.run(["--serve"])
        #expect(none.status == 13, "\(none.allOutput)")
        #expect(none.standardError.contains("::error title=No kind network::The kind network's gateway is unknown: `docker network inspect kind` failed: Error response from daemon: network kind not found."))
        #expect(setup.kind.calls.last == "delete cluster --name fluxci")
        #expect(leftovers(setup).isEmpty)
        // The wildcard is refused before anything runs.
        let wide = try await setup.run(["--serve", "--provider", "existing", "--serve-address", "0.0.0.0"])
        #expect(wide.status == 64)
        #expect(wide.standardError.contains("--serve-address 0.0.0.0 is every interface of this machine"), "\(wide.allOutput)")
        #expect(setup.kind.calls.last == "delete cluster --name fluxci", "nothing ran")
        let missing = try await setup.run(["--serve", "--provider", "existing"])
        #expect(missing.status == 64)
        #expect(missing.standardError.contains("--serve-address"))
    }

    /// Tester t6 finding 1: the remote moved since this checkout's last fetch, so its commit is
    /// not here; a local commit the remote lacks must still be an error, not a warning and a run
    /// of the remote commit. The remote's objects are fetched to compare; no ref moves.
    @Test func aLocalCommitIsAnErrorWhenTheRemoteMovedSinceTheLastFetch() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let bare = setup.fleet.server.root.appendingPathComponent("repos/fleet.git")
        let teammate = setup.tmp.appendingPathComponent("teammate")
        try await git(["clone", "--quiet", bare.path, teammate.path])
        func teammatePushes(_ message: String) async throws -> String {
            try await git(["commit", "--quiet", "--allow-empty", "-m", message], in: teammate)
            try await git(["push", "--quiet", "origin", "main"], in: teammate)
            return try await git(["rev-parse", "HEAD"], in: teammate)
        }
        func refs() async throws -> String { try await git(["for-each-ref"], in: setup.fleet.checkout) }
        let remote = try await teammatePushes("teammate 1")
        let (committed, _) = try await Self.unpushedChange(setup)
        let known = try await refs()
        let apart = try await setup.run(["--plan"])
        #expect(apart.status == 11, "\(apart.allOutput)")
        #expect(apart.standardError.contains(
            "::error title=Branch not pushed::The local main (\(committed.prefix(7))) is apart from (1 ahead, 1 behind) \(setup.fleet.url) (\(remote.prefix(7)))"),
            "\(apart.allOutput)")
        #expect(apart.standardError.contains("git push origin main") && apart.standardError.contains("--serve"))
        #expect(try await refs() == known, "no ref moved")
        // Behind a remote that moved again: a warning, and the remote commit is what is tested.
        try await git(["reset", "--quiet", "--hard", "origin/main"], in: setup.fleet.checkout)
        let afterReset = try await refs()
        let moved = try await teammatePushes("teammate 2")
        let behind = try await setup.run(["--plan"])
        #expect(behind.status == 0, "\(behind.allOutput)")
        #expect(behind.standardError.contains("::warning title=Local branch behind::The local main"), "\(behind.allOutput)")
        #expect(behind.standardError.contains("main@sha1:\(moved)"), "\(behind.allOutput)")
        #expect(try await refs() == afterReset, "no ref moved")
    }

    @Test func aLocalPathIsAnErrorBeforeAnyClusterAndBranchNotPushedMentionsServe() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let bare = setup.fleet.server.root.appendingPathComponent("repos/fleet.git").path
        let local = try await setup.run(["--url", bare])
        #expect(local.status == 11, "\(local.allOutput)")
        #expect(local.standardError.contains("::error title=URL Flux cannot use::"))
        #expect(local.standardError.contains("--serve"))
        #expect(setup.kind.calls.isEmpty)
        // In a plan it stays a warning.
        let plan = try await setup.run(["--url", bare, "--plan"])
        #expect(plan.status == 0, "\(plan.allOutput)")
        #expect(plan.standardError.contains("::warning title=URL Flux cannot use::"))

        try await git(["checkout", "--quiet", "-b", "feature/local-only"], in: setup.fleet.checkout)
        let notPushed = try await setup.run(["--plan"])
        #expect(notPushed.status == 11)
        #expect(notPushed.standardError.contains("::error title=Branch not pushed::The branch feature/local-only is not on"))
        #expect(notPushed.standardError.contains("--serve"))
        let served = try await setup.run(["--plan", "--serve"])
        #expect(served.status == 0, "\(served.allOutput)")
    }

    @Test(.standIn("the fake API server's object store and request log")) func bootstrapServesToo() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let (committed, _) = try await Self.unpushedChange(setup)
        let kubeconfig = setup.flux.kubeconfig
        let result = try await runProcess(
            TestPaths.executable("fluxci"),
            ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", kubeconfig.path, "--serve", "--serve-address", "127.0.0.1", "--no-serve-token"],
            environment: setup.environment, workingDirectory: setup.fleet.checkout)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All Kustomizations applied main@sha1:\(committed)."), "the branch's own commit is served as it is")
        let repository = try #require(setup.api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system"))
        #expect(repository["spec", "secretRef"] == nil, "--no-serve-token: no Secret")
        let url = try #require(repository["spec", "url"]?.string)
        #expect(PortProbe.canBind(try #require(Self.port(url))))
        #expect(leftovers(setup).isEmpty)
        // bootstrap never deletes the cluster: it is told its source stopped.
        #expect(result.standardError.contains("still points at \(url), which stopped with this run"), "\(result.allOutput)")
    }
}
