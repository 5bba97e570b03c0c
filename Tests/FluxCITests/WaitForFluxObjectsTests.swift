import Foundation
import Kube
import Subprocess
import Testing
import TestSupport

/// The wait after the Kustomizations (issue 15): HelmReleases and their sources, a Kustomization
/// sourced from an OCIRepository, and the graph and summary drawn from it. Against the fake API
/// server with the fake Flux controller (stand-ins: they only run against the fake; a real
/// cluster would need a Helm repository and an OCI registry the test serves, which it does not).
@Suite(.serialized) struct WaitForFluxObjectsTests {
    /// The example fleet plus what the tests wait for: in the apps overlay a HelmRepository and
    /// two HelmReleases (frontend depends on podinfo); at the cluster path an OCIRepository and a
    /// Kustomization it sources.
    static let helmYAML = """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata:
          name: podinfo
          namespace: flux-system
        spec:
          interval: 10m
          url: https://stefanprodan.github.io/podinfo
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
          namespace: apps
        spec:
          interval: 10m
          chart:
            spec:
              chart: podinfo
              version: 6.5.0
              sourceRef:
                kind: HelmRepository
                name: podinfo
                namespace: flux-system
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: frontend
          namespace: apps
        spec:
          interval: 10m
          dependsOn:
            - name: podinfo
          chart:
            spec:
              chart: podinfo
              version: 6.4.1
              sourceRef:
                kind: HelmRepository
                name: podinfo
                namespace: flux-system

        """

    static let ociYAML = """
        apiVersion: source.toolkit.fluxcd.io/v1beta2
        kind: OCIRepository
        metadata:
          name: manifests
          namespace: flux-system
        spec:
          interval: 10m
          url: oci://ghcr.io/example/manifests
          ref:
            tag: v1.2.3
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: oci-apps
          namespace: flux-system
        spec:
          interval: 10m
          path: ./
          prune: true
          sourceRef:
            kind: OCIRepository
            name: manifests

        """

    static func setup(_ change: @escaping (URL) throws -> Void = { _ in }) async throws -> BootstrapTests.Setup {
        try await BootstrapTests.setup { checkout in
            let apps = checkout.appendingPathComponent("kubernetes/overlays/kind/local/apps")
            try helmYAML.write(to: apps.appendingPathComponent("helm.yaml"), atomically: true, encoding: .utf8)
            let kustomization = apps.appendingPathComponent("kustomization.yaml")
            // The test's own HelmReleases are the subject: the example's podinfo chart is left out
            // so that every node and edge below is the test's.
            let resources = try String(contentsOf: kustomization, encoding: .utf8).replacingOccurrences(of: "  - ../../../../base/podinfo-chart\n", with: "")
            try (resources + "  - helm.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
            try ociYAML.write(to: checkout.appendingPathComponent("clusters/kind/local/oci.yaml"), atomically: true, encoding: .utf8)
            try change(checkout)
        }
    }

    static let helmFile = "kubernetes/overlays/kind/local/apps/helm.yaml"
    static let github = ["GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "acme/fleet"]

    static func id(_ kind: String, _ namespace: String, _ name: String) -> String {
        // As ClusterGraph.mermaidID escapes: every byte outside [A-Za-z0-9] as _XX.
        "\(kind)/\(namespace)/\(name)".utf8.map { byte -> String in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                ? String(UnicodeScalar(byte)) : "_" + String(format: "%02X", byte)
        }.joined()
    }

    static func mermaid(_ summary: String) -> [String] {
        guard let start = summary.range(of: "```mermaid\n"), let end = summary[start.upperBound...].range(of: "```") else { return [] }
        return summary[start.upperBound..<end.lowerBound].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test(.standIn("the fake controllers' stand-in HelmRepository and OCIRepository (the test serves no chart and no OCI artifact)")) func helmReleasesAndTheOCISourcedKustomizationBecomeReady() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let commit = try await setup.fleet.head()
        let (result, summary) = try await setup.run([], environment: Self.github)
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("✓ HelmRelease/apps/podinfo ready at podinfo@6.5.0"), "\(log)")
        #expect(log.contains("✓ HelmRelease/apps/frontend ready at podinfo@6.4.1"))
        #expect(log.contains("✓ HelmRepository/flux-system/podinfo ready at sha256:"))
        // The OCI-sourced Kustomization applied its own source's revision, not the branch's.
        #expect(log.contains("✓ flux-system/oci-apps applied v1.2.3@sha256:"), "\(log)")
        #expect(!log.contains("StaleRevision"))
        // The terminal tree, like flux tree: the HelmRelease under the Kustomization that applied it.
        #expect(log.contains("│   ├── ✓ HelmRelease/apps/podinfo podinfo@6.5.0") || log.contains("│   └── ✓ HelmRelease/apps/podinfo podinfo@6.5.0")
            || log.contains("    ├── ✓ HelmRelease/apps/podinfo podinfo@6.5.0") || log.contains("    └── ✓ HelmRelease/apps/podinfo podinfo@6.5.0"), "\(log)")

        // The summary reads verdict, graph, tables.
        let verdict = try #require(summary.range(of: "### ✅ fluxci bootstrap: Passed: main@sha1:\(commit.prefix(12)) reconciled"))
        let graph = try #require(summary.range(of: "```mermaid"))
        let table = try #require(summary.range(of: "### Objects waited for"))
        let kustomizations = try #require(summary.range(of: "### Kustomizations of clusters/kind/local"))
        #expect(verdict.lowerBound < graph.lowerBound && graph.lowerBound < table.lowerBound && graph.lowerBound < kustomizations.lowerBound)
        #expect(!summary.contains("\n## ") && !summary.contains("\n#### "), "one heading level")
        // Tester t13 F12: SOPS files link to the file at the tested commit, in the Kustomizations'
        // table and in the preflight's.
        let sopsFile = "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"
        let sopsLink = "[\(sopsFile)](https://github.example/acme/fleet/blob/\(commit)/\(sopsFile))"
        #expect(summary.components(separatedBy: sopsLink).count - 1 == 2, "\(summary)")
        #expect(summary.contains("| HelmRelease/apps/podinfo | [\(Self.helmFile):"), "\(summary)")
        #expect(summary.contains("](https://github.example/acme/fleet/blob/\(commit)/\(Self.helmFile)#L"))
        #expect(summary.contains("| podinfo@6.5.0 | True |"))
        #expect(summary.contains("| main@sha1:\(commit.prefix(12)) | True |"))
        #expect(!summary.contains("sha1:\(commit)"), "revisions are shortened in the summary")

        // The graph, node by node and edge by edge.
        let lines = Self.mermaid(summary)
        let git = Self.id("GitRepository", "flux-system", "flux-system"), oci = Self.id("OCIRepository", "flux-system", "manifests")
        let root = Self.id("Kustomization", "flux-system", "flux-system"), infrastructure = Self.id("Kustomization", "flux-system", "infrastructure")
        let apps = Self.id("Kustomization", "flux-system", "apps"), ociApps = Self.id("Kustomization", "flux-system", "oci-apps")
        let repository = Self.id("HelmRepository", "flux-system", "podinfo")
        let podinfo = Self.id("HelmRelease", "apps", "podinfo"), frontend = Self.id("HelmRelease", "apps", "frontend")
        #expect(lines.first == "flowchart LR")
        #expect(git == "GitRepository_2Fflux_2Dsystem_2Fflux_2Dsystem", "ids escape - and /")
        for node in [git, oci, root, infrastructure, apps, ociApps, repository, podinfo, frontend] {
            #expect(lines.filter { $0.hasPrefix(node + "[\"") }.count == 1, "node \(node)")
        }
        #expect(lines.contains { $0.hasPrefix(podinfo + "[\"HelmRelease<br/>apps/podinfo<br/>podinfo@6.5.0 · ready in ") })
        #expect(lines.contains { $0.hasPrefix(ociApps + "[\"Kustomization<br/>flux-system/oci-apps<br/>v1.2.3@sha256:") })
        let edges = Set(lines.filter { $0.contains("-->") || $0.contains("-.") })
        let expected: Set<String> = [
            "\(git) --> \(root)", "\(git) --> \(infrastructure)", "\(git) --> \(apps)", "\(oci) --> \(ociApps)",
            "\(infrastructure) -. needed by .-> \(apps)",
            "\(root) --> \(oci)", "\(root) --> \(infrastructure)", "\(root) --> \(apps)", "\(root) --> \(ociApps)",
            "\(apps) --> \(repository)", "\(repository) --> \(podinfo)", "\(apps) --> \(podinfo)", "\(repository) --> \(frontend)",
            "\(apps) --> \(frontend)", "\(podinfo) -. needed by .-> \(frontend)",
        ]
        #expect(edges == expected, "extra: \(edges.subtracting(expected)), missing: \(expected.subtracting(edges))")
        let readyClass = try #require(lines.first { $0.hasPrefix("class ") && $0.hasSuffix(" ready") })
        for node in [git, oci, root, infrastructure, apps, ociApps, repository, podinfo, frontend] { #expect(readyClass.contains(node)) }
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aHelmReleaseThatFailsToInstallIsAnnotatedWhereItIsWritten() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let message = "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"
        setup.controller.set(helmRelease: "podinfo", .installFailed(message: message))
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "60s"], environment: Self.github)
        #expect(result.status == 1)
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.contains { $0.hasPrefix("::error title=HelmRelease failed%3A InstallFailed,file=\(Self.helmFile),line=10::The HelmRelease apps/podinfo (applied by flux-system/apps) failed at 6.5.0: InstallFailed: \(message)") }, "\(errors)")
        // The stand-in stalls as helm-controller does (RetriesExceeded after the first retry): Helm's
        // error leads, Stalled's generic text follows (tester t10 F3).
        #expect(errors.contains { $0.contains("\(message) (RetriesExceeded: Failed to install after 1 attempt(s))") }, "\(errors)")
        #expect(summary.contains("### ❌ fluxci bootstrap: Failed: HelmRelease/apps/podinfo: InstallFailed: Helm install failed"), "\(summary)")
        // Tester t13 F10: GitHub does not follow a Mermaid node's link, so the verdict links the
        // failing line, and the linked problems come right after the graph, before the tables.
        let commitForLinks = try await setup.fleet.head()
        #expect(summary.split(separator: "\n").first?.contains("([\(Self.helmFile):10](https://github.example/acme/fleet/blob/\(commitForLinks)/\(Self.helmFile)#L10))") == true, "\(summary.prefix(600))")
        let problemsAt = try #require(summary.range(of: "### Problems ("))
        let graphAt = try #require(summary.range(of: "```mermaid"))
        let tablesAt = try #require(summary.range(of: "### Kustomizations of clusters/kind/local"))
        #expect(graphAt.lowerBound < problemsAt.lowerBound && problemsAt.lowerBound < tablesAt.lowerBound)
        let lines = Self.mermaid(summary)
        let podinfo = Self.id("HelmRelease", "apps", "podinfo")
        #expect(lines.contains { $0.hasPrefix("class ") && $0.hasSuffix(" failed") && $0.contains(podinfo) })
        let commit = try await setup.fleet.head()
        #expect(lines.contains("click \(podinfo) href \"https://github.example/acme/fleet/blob/\(commit)/\(Self.helmFile)#L10\" \"\(Self.helmFile):10\" _blank"), "\(lines)")
        // frontend depends on podinfo: it was waiting, not failed.
        #expect(lines.contains { $0.hasPrefix("class ") && $0.hasSuffix(" waiting") && $0.contains(Self.id("HelmRelease", "apps", "frontend")) })
        let events = try String(contentsOf: artifacts.appendingPathComponent("helmrelease-apps-podinfo.txt"), encoding: .utf8)
        #expect(events.contains("# events of HelmRelease/apps/podinfo") && events.contains("InstallFailed"))
    }

    /// Tester t10 F2: the apps Kustomization has `spec.wait: true`, so kustomize-controller fails
    /// its health check ("failed early due to stalled resources: [HelmRelease/apps/podinfo
    /// status: 'Failed']") while the HelmRelease it applied is what failed. The failure is the
    /// release's: its file and line, helm-controller's message, the release failed in the graph
    /// (not "not reached"), its dependent waiting.
    @Test(.standIn("the fake Flux controller's fault injection")) func aKustomizationThatWaitsBlamesTheHelmReleaseThatFailed() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let message = "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"
        setup.controller.set("apps", .checkHealth)
        setup.controller.set(helmRelease: "podinfo", .installFailed(message: message))
        let (result, summary) = try await setup.run(["--timeout", "60s"], environment: Self.github)
        #expect(result.status == 1)
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.contains { $0.hasPrefix("::error title=HelmRelease failed%3A InstallFailed,file=\(Self.helmFile),line=10::The HelmRelease apps/podinfo (applied by flux-system/apps, which waits for it) failed at 6.5.0: InstallFailed: \(message)") }, "\(errors)")
        #expect(!errors.contains { $0.contains("file=clusters/kind/local/apps.yaml") }, "not blamed on the Kustomization: \(errors)")
        #expect(summary.contains("### ❌ fluxci bootstrap: Failed: HelmRelease/apps/podinfo: InstallFailed: Helm install failed"), "\(summary)")
        let lines = Self.mermaid(summary)
        #expect(lines.contains { $0.hasPrefix("class ") && $0.hasSuffix(" failed") && $0.contains(Self.id("HelmRelease", "apps", "podinfo")) }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("class ") && $0.hasSuffix(" waiting") && $0.contains(Self.id("HelmRelease", "apps", "frontend")) }, "\(lines)")
    }

    /// Tester t10 F5: a suspended HelmRelease is not shown Ready and not waited for until the
    /// timeout; frontend depends on it, so the wait fails at once naming both.
    @Test(.standIn("the fake Flux controller's fault injection")) func aSuspendedHelmReleaseThatAnotherNeedsFailsAtOnce() async throws {
        let setup = try await Self.setup { checkout in
            let file = checkout.appendingPathComponent(Self.helmFile)
            let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
                of: "  name: podinfo\n  namespace: apps\nspec:\n", with: "  name: podinfo\n  namespace: apps\nspec:\n  suspend: true\n")
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, _) = try await setup.run(["--timeout", "40s"], environment: Self.github)
        #expect(result.status == 1)
        let log = result.standardError
        #expect(!log.contains("Timed out"), "\(log)")
        // Since tester t15 F3 the plan sees it, before any cluster: frontend's dependsOn entry.
        let text = try String(contentsOf: setup.fleet.checkout.appendingPathComponent(Self.helmFile), encoding: .utf8)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasSuffix("- name: podinfo") }) + 1
        #expect(log.contains("::error title=Depends on a suspended HelmRelease,file=\(Self.helmFile),line=\(line)::HelmRelease/apps/frontend depends on HelmRelease/apps/podinfo, which is suspended"), "\(log)")
        #expect(!setup.api.requests.contains { $0.hasPrefix("PATCH") }, "nothing was applied")
    }

    /// Tester t13 F9: GitHub's "Cancel workflow" and a step's timeout-minutes send SIGINT, then
    /// SIGTERM, while the wait is under way. The open group is ended before the cleanup, and the
    /// step summary still leads with the verdict (cancelled, while waiting for what), then the
    /// graph and the table of what the wait saw so far.
    @Test(.standIn("the fake Flux controller's fault injection"), arguments: [(SIGINT, Signal.interrupt), (SIGTERM, Signal.terminate)])
    func aRunCancelledDuringTheWaitStillSummarizesIt(_ number: Int32, _ signal: Signal) async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRelease: "podinfo", .never)
        let summary = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary-cancel-\(number)")
        let api = setup.api
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", setup.kubeconfig.path, "--timeout", "120s"],
            environment: [
                "SOPS_AGE_KEY_FILE": setup.fleet.ageKeyFile.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": setup.fleet.checkout.deletingLastPathComponent().path,
            ],
            workingDirectory: setup.fleet.checkout, signal: signal,
            when: { api.object(group: "helm.toolkit.fluxcd.io", plural: "helmreleases", namespace: "apps", name: "frontend")?["status", "conditions"] != nil },
            within: .seconds(90), settle: .seconds(1))
        #expect(run.result.status == 128 + number, "\(run.result.allOutput)")
        let log = run.result.standardError
        // Every group is ended before the cleanup's, which is a group of its own.
        let lines = log.split(separator: "\n")
        var open = 0
        for line in lines {
            if line.hasPrefix("::group::") { #expect(open == 0, "nested group at \(line)"); open += 1 }
            if line == "::endgroup::" { open -= 1 }
        }
        #expect(lines.contains { $0 == "::group::Clean up" }, "\(log)")
        let text = try String(contentsOf: summary, encoding: .utf8)
        let verdict = try #require(text.split(separator: "\n").first)
        #expect(verdict.hasPrefix("### ❌ fluxci bootstrap: Cancelled by signal \(number) (\(number == SIGINT ? "SIGINT" : "SIGTERM")) while waiting for ") && verdict.contains("Flux objects the Kustomizations applied at main@sha1:"), "\(verdict)")
        let graph = Self.mermaid(text)
        #expect(graph.contains { $0.hasPrefix("class ") && $0.hasSuffix(" ready") && $0.contains(Self.id("Kustomization", "flux-system", "apps")) }, "\(graph)")
        #expect(text.contains("### Objects waited for") && text.contains("| Kustomization/flux-system/apps |"), "\(text)")
    }

    /// Tester t15 F7, F1: cancelled during the Kustomizations' phase, the summary keeps what that
    /// phase saw: the root applied (ready), infrastructure waiting (seen, not reached), and what
    /// comes after not reached.
    @Test(.standIn("the fake Flux controller's fault injection")) func aRunCancelledDuringTheKustomizationsKeepsWhatItSaw() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set("infrastructure", .never)
        let summary = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary-cancel-kustomizations")
        let api = setup.api
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", setup.kubeconfig.path, "--timeout", "120s"],
            environment: [
                "SOPS_AGE_KEY_FILE": setup.fleet.ageKeyFile.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": setup.fleet.checkout.deletingLastPathComponent().path,
            ],
            workingDirectory: setup.fleet.checkout, signal: .interrupt,
            when: { api.object(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: "flux-system", name: "oci-apps")?["status", "conditions"] != nil },
            within: .seconds(90), settle: .seconds(1))
        #expect(run.result.status == 130, "\(run.result.allOutput)")
        let text = try String(contentsOf: summary, encoding: .utf8)
        #expect(text.split(separator: "\n").first?.contains("while waiting for ") == true && text.split(separator: "\n").first?.contains("Kustomizations to apply") == true, "\(text.prefix(400))")
        let graph = Self.mermaid(text)
        func state(_ id: String) -> String? { graph.first { $0.hasPrefix("class ") && $0.contains(id) }?.split(separator: " ").last.map(String.init) }
        #expect(state(Self.id("Kustomization", "flux-system", "flux-system")) == "ready", "\(graph)")
        #expect(state(Self.id("Kustomization", "flux-system", "infrastructure")) == "waiting", "\(graph)")
        #expect(state(Self.id("HelmRelease", "apps", "podinfo")) == "notReached", "\(graph)")
    }

    /// Tester t13 F14: a suspended HelmRepository is never fetched on a new cluster, so the
    /// HelmReleases whose chart comes from it can never become ready: the run fails at once
    /// (since t15 F3 in the plan, at each release's sourceRef), never a warning and a pass, nor a timeout.
    @Test(.standIn("the fake Flux controller's fault injection")) func aSuspendedSourceThatReleasesNeedFailsAtOnce() async throws {
        let setup = try await Self.setup { checkout in
            let file = checkout.appendingPathComponent(Self.helmFile)
            let text = try String(contentsOf: file, encoding: .utf8)
            guard let range = text.range(of: "spec:\n  interval: 10m\n  url:") else { throw CocoaError(.fileReadCorruptFile) }
            try text.replacingCharacters(in: range, with: "spec:\n  suspend: true\n  interval: 10m\n  url:").write(to: file, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, _) = try await setup.run(["--timeout", "60s"], environment: Self.github)
        #expect(result.status == 1, "\(result.allOutput)")
        let log = result.standardError
        #expect(!log.contains("Timed out"), "\(log)")
        // Since tester t15 F3 the plan sees it, before any cluster: each release at its sourceRef.
        let errors = log.split(separator: "\n").filter { $0.hasPrefix("::error title=Source suspended,file=\(Self.helmFile),") }
        #expect(errors.count == 2 && errors.allSatisfy { $0.contains("takes its chart from HelmRepository/flux-system/podinfo, which is suspended") }, "\(log)")
        #expect(!setup.api.requests.contains { $0.hasPrefix("PATCH") }, "nothing was applied")
    }

    /// Tester t13 F6: a suspended HelmRelease that nothing needs passes, with a warning at its
    /// spec.suspend line, and the verdict does not count it ready.
    @Test(.standIn("the fake Flux controller's fault injection")) func aSuspendedHelmReleaseIsNotCountedReady() async throws {
        let setup = try await Self.setup { checkout in
            let file = checkout.appendingPathComponent(Self.helmFile)
            let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
                of: "  name: frontend\n  namespace: apps\nspec:\n", with: "  name: frontend\n  namespace: apps\nspec:\n  suspend: true\n")
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--timeout", "60s"], environment: Self.github)
        #expect(result.status == 0, "\(result.allOutput)")
        let text = try String(contentsOf: setup.fleet.checkout.appendingPathComponent(Self.helmFile), encoding: .utf8)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex(of: "  suspend: true")) + 1
        #expect(result.standardError.contains("::warning title=HelmRelease suspended,file=\(Self.helmFile),line=\(line)::"), "\(result.standardError)")
        let verdict = try #require(summary.split(separator: "\n").first)
        #expect(verdict.contains(" objects ready, 1 suspended in "), "\(verdict)")
        // The same run without the suspension counts one more ready.
        let ready = Int(try #require(verdict.firstMatch(of: #/reconciled, (\d+) objects ready/#)).1) ?? 0
        let plain = try await Self.setup()
        defer { Task { await plain.stop() } }
        let (_, all) = try await plain.run(["--timeout", "60s"], environment: Self.github)
        #expect(all.split(separator: "\n").first?.contains("reconciled, \(ready + 1) objects ready in ") == true, "\(all.prefix(200))")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aHelmRepositoryThatCannotBeFetchedFailsAtItsOwnLine() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let message = "failed to fetch Helm repository index: failed to cache index to temporary file: failed to fetch https://stefanprodan.github.io/podinfo/index.yaml : 404 Not Found"
        setup.controller.set(source: "podinfo", .fetchFailed(reason: "Failed", message: message))
        let (result, _) = try await setup.run(["--timeout", "60s"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("::error title=HelmRepository failed%3A Failed,file=\(Self.helmFile),line=1::The HelmRepository flux-system/podinfo (applied by flux-system/apps) failed: Failed: \(message)"), "\(result.standardError)")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aHelmReleaseWaitingOnItsDependencyTimesOutNamingBoth() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRelease: "podinfo", .never)
        // Long enough for the Kustomizations on a loaded machine: the timeout must fall on the HelmReleases.
        let (result, _) = try await setup.run(["--timeout", "20s"])
        #expect(result.status == 1)
        let log = result.standardError
        #expect(log.contains("::error title=Timed out,file=\(Self.helmFile),line=10::Not every Flux object became ready within 20.0 seconds"), "\(log)")
        #expect(log.contains("HelmRelease/apps/frontend: DependencyNotReady dependency 'apps/podinfo' is not ready"))
        #expect(log.contains("HelmRelease/apps/podinfo: pending not reconciled yet"))
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func waitForKustomizationsOnlyDoesNotWatchHelmReleases() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRelease: "podinfo", .installFailed(message: "would fail"))
        let (result, _) = try await setup.run(["--wait-for", "kustomizations"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(!setup.api.requests.contains { $0.contains("helmreleases") && $0.hasSuffix("(watch)") })
    }

    @Test(.standIn("the fake API server's object store and request log")) func planDrawsEveryNodeNotReached() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--plan"])
        #expect(result.status == 0, "\(result.allOutput)")
        let lines = Self.mermaid(summary)
        let nodes = lines.filter { $0.contains("[\"") }
        #expect(nodes.count == 9, "\(nodes)")
        #expect(nodes.allSatisfy { $0.hasSuffix("not reached\"]") })
        let notReached = try #require(lines.first { $0.hasSuffix(" notReached") && $0.hasPrefix("class ") })
        #expect(notReached.split(separator: ",").count == 9)
        #expect(result.standardError.contains("○ HelmRelease/apps/podinfo (not reached)"))
        #expect(!setup.api.requests.contains { $0.hasPrefix("PATCH") })
    }
}
