import Foundation
import Kube
import Testing
import TestSupport

/// `--wait-for all` end to end (issue 15): the fake Flux controller applies the workloads of each
/// Kustomization's build, the fake workload controllers give them the status kube-controller-manager
/// writes (rolled out after a delay, or stuck as told), and fluxci waits for them by kstatus's
/// rules (Flux's for Jobs). Stand-ins only: a real cluster would run real pods, which the test
/// does not provide.
@Suite(.serialized) struct WaitForWorkloadsTests {
    /// Beside the example's podinfo Deployment (kubernetes/base/podinfo/deployment.yaml): a
    /// StatefulSet, a DaemonSet and a Job in the apps overlay.
    static let workloadsYAML = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: cache
          namespace: apps
        spec:
          replicas: 2
          serviceName: cache
          selector:
            matchLabels:
              app: cache
          template:
            metadata:
              labels:
                app: cache
            spec:
              containers:
                - name: cache
                  image: redis:7
        ---
        apiVersion: apps/v1
        kind: DaemonSet
        metadata:
          name: node-agent
          namespace: apps
        spec:
          selector:
            matchLabels:
              app: node-agent
          template:
            metadata:
              labels:
                app: node-agent
            spec:
              containers:
                - name: agent
                  image: busybox:1.36
        ---
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: migrate
          namespace: apps
        spec:
          backoffLimit: 2
          template:
            spec:
              restartPolicy: Never
              containers:
                - name: migrate
                  image: busybox:1.36

        """

    static let workloadsFile = "kubernetes/overlays/kind/local/apps/workloads.yaml"
    static let deploymentFile = "kubernetes/base/podinfo/deployment.yaml"

    static func setup() async throws -> BootstrapTests.Setup {
        let setup = try await BootstrapTests.setup { checkout in
            let apps = checkout.appendingPathComponent("kubernetes/overlays/kind/local/apps")
            try workloadsYAML.write(to: apps.appendingPathComponent("workloads.yaml"), atomically: true, encoding: .utf8)
            let kustomization = apps.appendingPathComponent("kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8) + "  - workloads.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
        }
        // The pods take a while: a wait that did not wait would pass before they are ready.
        setup.controller.workloads.rollOutDelay = .milliseconds(1500)
        return setup
    }

    static func watched(_ requests: [String], _ plural: String) -> Bool {
        requests.contains { $0.contains("/\(plural)") && $0.hasSuffix("(watch)") }
    }

    @Test(.standIn("the fake API server's object store and request log")) func allWaitsForEveryWorkloadToRollOut() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--wait-for", "all"])
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        let applied = try #require(log.range(of: "All Kustomizations applied"), "\(log)")
        for object in ["Deployment/apps/podinfo", "StatefulSet/apps/cache", "DaemonSet/apps/node-agent", "Job/apps/migrate"] {
            let ready = try #require(log.range(of: "✓ \(object) ready ("), "\(object) waited for: \(log)")
            #expect(applied.upperBound <= ready.lowerBound, "\(object) after the Kustomizations")
            // What the fake workload controllers wrote is what fluxci read: rolled out.
            #expect(summary.contains("| \(object) | kubernetes/"), "\(object) in the table, where it is written")
        }
        #expect(summary.contains("| Deployment/apps/podinfo | \(Self.deploymentFile):1 |  | True |"), "\(summary)")
        #expect(summary.contains("| Job/apps/migrate | \(Self.workloadsFile):39 |  | True |"), "\(summary)")
        for plural in ["deployments", "statefulsets", "daemonsets", "jobs"] { #expect(Self.watched(setup.api.requests, plural), "one watch of \(plural)") }

        // Again on the same cluster: the workloads are rolled out already and change no more, so
        // they are seen only in the watches' first list, whose items (built-in kinds) carry no
        // apiVersion and kind on a real API server, as on the fake.
        let (again, _) = try await setup.run(["--wait-for", "all", "--timeout", "30s"])
        #expect(again.status == 0, "\(again.allOutput)")
        #expect(again.standardError.contains("✓ Deployment/apps/podinfo ready ("), "\(again.standardError)")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aDeploymentThatNeverBecomesAvailableFailsAllAtItsLineButNotFlux() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(workload: "podinfo", .unavailable)
        // `flux` (the default) does not wait for workloads: the stuck Deployment passes.
        let (flux, _) = try await setup.run([])
        #expect(flux.status == 0, "\(flux.allOutput)")
        #expect(!Self.watched(setup.api.requests, "deployments"))
        #expect(!flux.standardError.contains("Deployment/apps/podinfo"))

        let (result, summary) = try await setup.run(["--wait-for", "all", "--timeout", "20s"])
        #expect(result.status == 1)
        let log = result.standardError
        #expect(log.contains("::error title=Timed out,file=\(Self.deploymentFile),line=1::Not every applied object became ready within 20.0 seconds"), "\(log)")
        #expect(log.contains("Deployment/apps/podinfo: LessAvailable Available: 0/1"), "\(log)")
        #expect(log.firstMatch(of: /\b(GitRepository|Kustomization|HelmRelease|Deployment|Secret) \1\//) == nil, "a kind named twice")
        // The others rolled out.
        #expect(log.contains("✓ StatefulSet/apps/cache ready"))
        #expect(summary.contains("### ❌ fluxci bootstrap: Failed: Deployment/apps/podinfo"), "\(summary)")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aFailedJobEndsTheWaitAtOnceWhereItIsWritten() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(workload: "migrate", .failed)
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, _) = try await setup.run(["--wait-for", "all", "--timeout", "120s", "--artifacts", artifacts.path])
        #expect(result.status == 1)
        // A failure ends the wait: no timeout is reported (no wall time asserted: the machine's load varies).
        #expect(!result.standardError.contains("title=Timed out"), "a failure does not wait for the timeout")
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        let line = try Self.line(of: "name: migrate", in: Self.workloadsYAML) - 3  // the document's first line
        #expect(errors.contains {
            $0.hasPrefix("::error title=Job failed%3A JobFailed,file=\(Self.workloadsFile),line=\(line)::The Job apps/migrate (applied by flux-system/apps) failed: JobFailed: Job Failed. failed: 3/1 error: Job has reached the specified backoff limit")
        }, "\(errors)")
        let events = try String(contentsOf: artifacts.appendingPathComponent("job-apps-migrate.txt"), encoding: .utf8)
        #expect(events.contains("BackoffLimitExceeded"), "its status is in the artifacts")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aDeploymentPastItsProgressDeadlineFails() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(workload: "podinfo", .progressDeadlineExceeded)
        let (result, _) = try await setup.run(["--wait-for", "all", "--timeout", "120s"])
        #expect(result.status == 1)
        #expect(result.standardError.contains(
            "::error title=Deployment failed%3A ProgressDeadlineExceeded,file=\(Self.deploymentFile),line=1::The Deployment apps/podinfo (applied by flux-system/apps) failed: ProgressDeadlineExceeded: ReplicaSet \"podinfo-"),
            "\(result.standardError)")
    }

    static func line(of text: String, in yaml: String) throws -> Int {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(text) }) + 1
    }
}
