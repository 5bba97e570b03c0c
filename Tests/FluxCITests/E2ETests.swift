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
        var api: FakeAPIServer
        var controller: FakeFluxController
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
            controller.stop()
            fleet.server.stop()
            await api.shutdown()
        }
    }

    static func setup() async throws -> Setup {
        let fleet = try await ExampleFleet.make()
        let api = try await FakeAPIServer.start()
        let kubeconfig = fleet.checkout.deletingLastPathComponent().appendingPathComponent("fake.kubeconfig")
        try api.writeKubeconfig(to: kubeconfig)
        let controller = FakeFluxController(server: api)
        controller.start()
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        return Setup(fleet: fleet, api: api, controller: controller, kind: try StandInKind.install(kubeconfig: kubeconfig), tmp: tmp)
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

    @Test func theWholeRunSucceedsAndCleansUp() async throws {
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

    @Test func eachFailureClassHasItsExitCodeAndCleansUp() async throws {
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

    @Test func sigtermRunsTheCleanup() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("infrastructure", .never)
        let kind = setup.kind
        // Once the cluster is created and the run waits for the Kustomizations, interrupt it.
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local", "--timeout", "120s"], environment: setup.environment,
            workingDirectory: setup.fleet.checkout, signal: .terminate, when: { kind.calls.contains { $0.hasPrefix("create cluster") } }, within: .seconds(90),
            settle: .seconds(2))
        let result = run.result
        #expect(!run.endedBySignal && result.status == 143, "fluxci exits 143 after its cleanup: \(result.status)")
        #expect(result.standardError.contains("Interrupted by signal"))
        #expect(setup.kind.calls.last == "delete cluster --name fluxci")
        #expect(setup.keyrings.isEmpty)
    }
}
