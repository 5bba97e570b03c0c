import Foundation
import Subprocess
import SystemPackage
import Testing
import TestSupport

/// `fluxci e2e` on the example repository: plan only, and the whole run with a stand-in kind, the
/// fake API server and the fake Flux controller; each failure class ends with its exit code and
/// cleanup done.
@Suite(.serialized) struct E2ETests {
    struct Setup {
        var fleet: ExampleFleet
        /// FLUXCI_TEST_KUBECONFIG's cluster, or the fake API server and Flux controller; the
        /// stand-in kind hands out its kubeconfig.
        var flux: FluxTestCluster
        var api: FakeAPIServer { flux.api }
        var controller: FakeFluxController { flux.controller }
        var kind: StandInKind
        var tmp: URL

        var environment: [String: String] {
            ["PATH": kind.path, "GITHUB_ACTIONS": "true", "TMPDIR": tmp.path, "RUNNER_TEMP": tmp.path]
        }

        var keyrings: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("fluxci.") } }

        func run(_ arguments: [String]) async throws -> ProcessResult {
            try await runProcess(
                TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local"] + arguments, environment: environment, workingDirectory: fleet.checkout)
        }

        func stop() async {
            fleet.server.stop()
            await flux.stop()
        }
    }

    static func setup(_ change: (URL) throws -> Void = { _ in }) async throws -> Setup {
        let fleet = try await ExampleFleet.make(change)
        let flux = try await FluxTestCluster.start()
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        return Setup(fleet: fleet, flux: flux, kind: try StandInKind.install(kubeconfig: flux.kubeconfig), tmp: tmp)
    }

    @Test func planChecksEverythingWithoutACluster() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let result = try await setup.run(["--plan"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All 2 SOPS files the cluster decrypts decrypt with the imported keys."))
        #expect(result.standardError.contains("Plan only: no cluster was touched."))
        #expect(setup.kind.calls.isEmpty)
        #expect(setup.keyrings.isEmpty, "the keyring is removed")
    }

    @Test(.standIn("the fake API server's object store and request log")) func theWholeRunSucceedsAndCleansUp() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let commit = try await setup.fleet.head()
        let result = try await setup.run([])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All Kustomizations applied main@sha1:\(commit)."))
        #expect(setup.kind.calls.contains { $0.hasPrefix("create cluster --name fluxci --kubeconfig ") })
        #expect(setup.kind.calls.contains("delete cluster --name fluxci"), "a cluster the run created is deleted")
        #expect(setup.kind.clusters.isEmpty)
        #expect(setup.keyrings.isEmpty)
        let secrets = setup.api.objects(group: "", plural: "secrets", namespace: "flux-system").compactMap { $0["metadata", "name"]?.string }
        #expect(Set(secrets).isSuperset(of: ["sops-age", "sops-gpg"]))
        let identity = try String(contentsOf: setup.fleet.ageKeyFile, encoding: .utf8)
        let armor = try String(contentsOf: setup.fleet.pgpKeyFile, encoding: .utf8)
        #expect(leakedSecrets(in: result.allOutput, secrets: [identity, armor]).isEmpty)
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func eachFailureClassHasItsExitCodeAndCleansUp() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("apps", .fail(reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"))
        let failed = try await setup.run(["--timeout", "30s"])
        #expect(failed.status == 15, "\(failed.allOutput)")
        #expect(failed.standardError.contains("file=clusters/kind/local/apps.yaml,line=1::The Kustomization flux-system/apps"))
        #expect(setup.kind.calls.contains { $0.hasPrefix("export logs ") }, "kind's logs are collected")
        #expect(setup.kind.calls.last == "delete cluster --name fluxci")
        #expect(setup.keyrings.isEmpty)

        try setup.kind.failCreate()
        let noCluster = try await setup.run([])
        #expect(noCluster.status == 13, "\(noCluster.allOutput)")
        #expect(noCluster.standardError.contains("::error title=kind create failed::"))
        #expect(setup.keyrings.isEmpty)

        let badKeys = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local", "--plan"],
            environment: setup.environment.merging(["SOPS_AGE_KEY": "AGE-SECRET-KEY-1INVALID"]) { $1 }, workingDirectory: setup.fleet.checkout)
        #expect(badKeys.status == 10)
    }

    /// Keys are needed only by a cluster that decrypts: the example without its SOPS files runs
    /// to the end with no key at all (no decryption Secret is made); the example as it is, without
    /// its .secrets/ and no key in the environment, fails at the preflight before any cluster.
    @Test(.standIn("the fake API server's object store and request log")) func aRunNeedsKeysOnlyWhenTheClusterDecrypts() async throws {
        let plain = try await Self.setup { checkout in
            let files = FileManager.default
            try files.removeItem(at: checkout.appendingPathComponent(".secrets"))
            for overlay in ["apps/podinfo-auth.sops.yaml", "infrastructure/registry-credentials.sops.yaml"] {
                let file = checkout.appendingPathComponent("kubernetes/overlays/kind/local/\(overlay)")
                try files.removeItem(at: file)
                let kustomization = file.deletingLastPathComponent().appendingPathComponent("kustomization.yaml")
                let text = try String(contentsOf: kustomization, encoding: .utf8)
                try text.replacingOccurrences(of: "  - \(file.lastPathComponent)\n", with: "").write(to: kustomization, atomically: true, encoding: .utf8)
            }
            for name in ["apps.yaml", "infrastructure.yaml"] {
                let file = checkout.appendingPathComponent("clusters/kind/local/\(name)")
                let text = try String(contentsOf: file, encoding: .utf8)
                let kept = text.components(separatedBy: "  decryption:\n")[0]
                #expect(kept != text, "\(name) had a decryption block")
                try kept.write(to: file, atomically: true, encoding: .utf8)
            }
        }
        defer { Task { await plain.stop() } }
        let passed = try await plain.run([])
        #expect(passed.status == 0, "\(passed.allOutput)")
        #expect(passed.standardError.contains("No SOPS key was given, and none is needed"))
        let secrets = plain.api.objects(group: "", plural: "secrets", namespace: "flux-system").compactMap { $0["metadata", "name"]?.string }
        #expect(!secrets.contains("sops-age") && !secrets.contains("sops-gpg"), "\(secrets)")

        let encrypted = try await Self.setup { checkout in try FileManager.default.removeItem(at: checkout.appendingPathComponent(".secrets")) }
        defer { Task { await encrypted.stop() } }
        let failed = try await encrypted.run([])
        #expect(failed.status == 12, "\(failed.allOutput)")
        #expect(failed.standardError.contains("::error title=No SOPS keys::No SOPS key was given, but the cluster decrypts 2 SOPS files"), "\(failed.allOutput)")
        #expect(encrypted.kind.calls.isEmpty, "no cluster was created")
        #expect(encrypted.keyrings.isEmpty)
    }

    /// With a second SIGTERM during the cleanup (tester t15 F9: it ended the process half-way,
    /// leaving the keyring with age.agekey), the cleanup still runs to its end.
    @Test(.standIn("the fake Flux controller's fault injection"), arguments: [false, true]) func sigtermRunsTheCleanup(twice: Bool) async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("infrastructure", .never)
        let kind = setup.kind
        if twice { try kind.slowDelete() }
        // Once the cluster is created and the run waits for the Kustomizations, interrupt it.
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local", "--timeout", "120s"], environment: setup.environment,
            workingDirectory: setup.fleet.checkout, signal: .terminate, when: { kind.calls.contains { $0.hasPrefix("create cluster") } }, within: .seconds(90),
            settle: .seconds(2), again: twice ? .milliseconds(400) : nil)
        let result = run.result
        #expect(!run.endedBySignal && result.status == 143, "fluxci exits 143 after its cleanup: \(result.status)")
        #expect(result.standardError.contains("Interrupted by signal"))
        #expect(setup.kind.calls.last == "delete cluster --name fluxci")
        #expect(setup.keyrings.isEmpty)
        // The whole cleanup ran: the cluster deleted before fluxci exited.
        #expect(result.standardError.contains("✓ Delete the kind cluster fluxci") && setup.kind.clusters.isEmpty, "\(result.standardError.suffix(800))")
    }
}
