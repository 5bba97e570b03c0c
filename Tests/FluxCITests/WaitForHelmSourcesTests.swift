import Actions
import Flux
import Foundation
import Kube
import Testing
import TestSupport

/// The wait's cases of issue 15 beyond the first ones: a HelmRelease on a cluster that serves
/// only older helm.toolkit.fluxcd.io versions, HelmCharts and Buckets, a chart version the Helm
/// repository does not have, the events the artifacts hold, the flux-system controllers with
/// `--wait-for all`, and the count of problems. Against the fake API server with the fake Flux
/// controller: each case needs a stand-in (a cluster serving other CRD versions, made-up Helm
/// and bucket sources, fault injection, the request log) and says so against a real cluster.
@Suite(.serialized) struct WaitForHelmSourcesTests {
    static let helmFile = WaitForFluxObjectsTests.helmFile
    static let github = WaitForFluxObjectsTests.github

    /// A HelmChart and a Bucket next to the HelmRepository and HelmReleases of the apps overlay.
    static let sourcesYAML = """
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmChart
        metadata:
          name: podinfo-chart
          namespace: flux-system
        spec:
          interval: 10m
          chart: podinfo
          version: 6.5.0
          sourceRef:
            kind: HelmRepository
            name: podinfo
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: Bucket
        metadata:
          name: fleet-charts
          namespace: flux-system
        spec:
          interval: 10m
          bucketName: fleet-charts
          endpoint: minio.example.com

        """

    /// The 1-based line of the first occurrence of `text` in the apps overlay's helm.yaml.
    static func line(of text: String, in yaml: String) throws -> Int {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(text) }) + 1
    }

    /// The example fleet with WaitForFluxObjectsTests' HelmRepository, HelmReleases and OCI
    /// source, changed further by `change` (the checkout's folder).
    static func setup(_ change: @escaping (URL) throws -> Void = { _ in }) async throws -> BootstrapTests.Setup {
        try await BootstrapTests.setup { checkout in
            let apps = checkout.appendingPathComponent("kubernetes/overlays/kind/local/apps")
            try WaitForFluxObjectsTests.helmYAML.write(to: apps.appendingPathComponent("helm.yaml"), atomically: true, encoding: .utf8)
            let kustomization = apps.appendingPathComponent("kustomization.yaml")
            let resources = try String(contentsOf: kustomization, encoding: .utf8).replacingOccurrences(of: "  - ../../../../base/podinfo-chart\n", with: "")
            try (resources + "  - helm.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
            try change(checkout)
        }
    }

    /// gotk-components.yaml with the HelmRelease CRD serving only `versions` (the newest of them
    /// the storage version), as the CRDs of Flux v2.0 (v2beta1) and v2.2 (v2beta2, v2beta1) do.
    static func serveHelmReleases(only versions: Set<String>, in checkout: URL) throws {
        let file = checkout.appendingPathComponent("clusters/kind/local/flux-system/gotk-components.yaml")
        let documents = try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n---\n")
        let changed = try documents.map { document -> String in
            guard document.contains("name: helmreleases.helm.toolkit.fluxcd.io") else { return document }
            var crd = try #require(try Manifest.objects(document).first).json
            var spec = try #require(crd["spec"])
            let kept = (spec["versions"]?.array ?? []).filter { versions.contains($0["name"]?.string ?? "") }
            let storage = versions.contains("v2beta2") ? "v2beta2" : "v2beta1"
            spec.set("versions", .array(kept.map { var version = $0; version.set("storage", .bool($0["name"]?.string == storage)); return version }))
            crd.set("spec", spec)
            #expect(kept.count == versions.count, "the recorded CRD serves \(versions)")
            // JSON is YAML: kustomize and fluxci's reader take the document as it is.
            return crd.jsonText
        }
        try changed.joined(separator: "\n---\n").write(to: file, atomically: true, encoding: .utf8)
    }

    static func watches(_ requests: [String], _ plural: String) -> [String] {
        requests.filter { $0.hasSuffix("/\(plural) (watch)") }
    }

    // MARK: Served versions (1a)

    @Test(
        .standIn("a cluster whose HelmRelease CRD serves only v2beta1, or v2beta2 and v2beta1, and the fake API server's request log"),
        arguments: [(["v2beta1"], "v2beta1", "6.5.0"), (["v2beta2", "v2beta1"], "v2beta2", "podinfo@6.5.0")])
    func aHelmReleaseIsWatchedAtTheVersionTheClusterServes(served: [String], watched: String, shown: String) async throws {
        let setup = try await Self.setup { checkout in
            try Self.serveHelmReleases(only: Set(served), in: checkout)
            // Written as the fleets of those Flux versions write them.
            let helm = checkout.appendingPathComponent(Self.helmFile)
            try (try String(contentsOf: helm, encoding: .utf8)).replacingOccurrences(of: "helm.toolkit.fluxcd.io/v2\n", with: "helm.toolkit.fluxcd.io/v2beta1\n")
                .write(to: helm, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--timeout", "60s"], environment: Self.github)
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("✓ HelmRelease/apps/podinfo ready at \(shown)"), "\(log)")
        #expect(log.contains("✓ HelmRelease/apps/frontend ready at"))
        #expect(summary.contains("| HelmRelease/apps/podinfo | [\(Self.helmFile):10]"), "\(summary)")
        let requests = setup.api.requests
        // Found by discovery (the group list, then the group version's resources), as kube-apiserver answers them.
        #expect(requests.contains("GET /apis"), "\(requests.filter { $0.hasPrefix("GET /apis") })")
        let helmWatches = Self.watches(requests, "helmreleases")
        #expect(!helmWatches.isEmpty && helmWatches.allSatisfy { $0 == "GET /apis/helm.toolkit.fluxcd.io/\(watched)/helmreleases (watch)" }, "\(helmWatches)")
        #expect(!requests.contains { $0.contains("/helm.toolkit.fluxcd.io/v2/") }, "v2 is not served and never asked for")
    }

    @Test(.standIn("the fake API server's request log")) func whereV2IsServedAHelmReleaseWrittenAsV2beta2IsWatchedAsV2() async throws {
        let setup = try await Self.setup { checkout in
            let helm = checkout.appendingPathComponent(Self.helmFile)
            try (try String(contentsOf: helm, encoding: .utf8)).replacingOccurrences(of: "helm.toolkit.fluxcd.io/v2\n", with: "helm.toolkit.fluxcd.io/v2beta2\n")
                .write(to: helm, atomically: true, encoding: .utf8)
        }
        defer { Task { await setup.stop() } }
        let (result, _) = try await setup.run(["--timeout", "60s"])
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("✓ HelmRelease/apps/podinfo ready at podinfo@6.5.0"))
        let helmWatches = Self.watches(setup.api.requests, "helmreleases")
        #expect(!helmWatches.isEmpty && helmWatches.allSatisfy { $0 == "GET /apis/helm.toolkit.fluxcd.io/v2/helmreleases (watch)" }, "\(helmWatches)")
    }

    // MARK: HelmChart and Bucket (1b)

    /// The fleet with `sourcesYAML`, its HelmChart asking for `chartVersion`.
    static func sourcesSetup(chartVersion: String = "6.5.0") async throws -> BootstrapTests.Setup {
        try await Self.setup { checkout in
            let helm = checkout.appendingPathComponent(Self.helmFile)
            let sources = Self.sourcesYAML.replacingOccurrences(of: "version: 6.5.0", with: "version: \(chartVersion)")
            try (WaitForFluxObjectsTests.helmYAML + sources).write(to: helm, atomically: true, encoding: .utf8)
        }
    }

    static var helmText: String { WaitForFluxObjectsTests.helmYAML + sourcesYAML }

    @Test(.standIn("the fake controller's stand-in Helm repository and bucket (the test serves no chart index and no S3 bucket)"))
    func aHelmChartAndABucketBecomeReady() async throws {
        let setup = try await Self.sourcesSetup()
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--timeout", "60s"], environment: Self.github)
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        #expect(log.contains("✓ HelmChart/flux-system/podinfo-chart ready at 6.5.0"), "\(log)")
        #expect(log.contains("✓ Bucket/flux-system/fleet-charts ready at sha256:"), "\(log)")
        let chartLine = try Self.line(of: "kind: HelmChart", in: Self.helmText) - 1, bucketLine = try Self.line(of: "kind: Bucket", in: Self.helmText) - 1
        #expect(summary.contains("| HelmChart/flux-system/podinfo-chart | [\(Self.helmFile):\(chartLine)]"), "\(summary)")
        #expect(summary.contains("| Bucket/flux-system/fleet-charts | [\(Self.helmFile):\(bucketLine)]"), "\(summary)")
        #expect(summary.contains("| 6.5.0 | True |"), "the chart's version is its revision")
        // One watch per kind.
        #expect(Self.watches(setup.api.requests, "helmcharts").count == 1 && Self.watches(setup.api.requests, "buckets").count == 1, "\(setup.api.requests.filter { $0.hasSuffix("(watch)") })")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aHelmChartWhoseVersionTheRepositoryLacksFailsAtItsLine() async throws {
        // The repository's index has the HelmReleases' versions, not the HelmChart's.
        let setup = try await Self.sourcesSetup(chartVersion: "6.6.0")
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRepository: "podinfo", charts: ["podinfo": ["6.4.1", "6.5.0"]])
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--timeout", "60s", "--artifacts", artifacts.path], environment: Self.github)
        #expect(result.status == 1, "\(result.allOutput)")
        let chartLine = try Self.line(of: "kind: HelmChart", in: Self.helmText) - 1
        // source-controller's reason and message (internal/helm/chart BuildError, stalled).
        let message = "invalid chart reference: failed to get chart version for remote reference: no 'podinfo' chart with version matching '6.6.0' found"
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.contains {
            $0.hasPrefix("::error title=HelmChart failed%3A InvalidChartReference,file=\(Self.helmFile),line=\(chartLine)::The HelmChart flux-system/podinfo-chart (applied by flux-system/apps) failed: InvalidChartReference: \(message)")
        }, "\(errors)")
        #expect(!result.standardError.contains("title=Timed out"), "a stalled chart ends the wait")
        #expect(summary.hasPrefix("### ❌ fluxci bootstrap: Failed: HelmChart/flux-system/podinfo-chart: InvalidChartReference"), "\(summary)")
        let events = try String(contentsOf: artifacts.appendingPathComponent("helmchart-flux-system-podinfo-chart.txt"), encoding: .utf8)
        #expect(events.contains(" Warning InvalidChartReference: \(message)"), "\(events)")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func aBucketThatCannotBeFetchedFailsAtItsLineWithItsEvents() async throws {
        let setup = try await Self.sourcesSetup()
        defer { Task { await setup.stop() } }
        // source-controller's reason and message for a bucket the endpoint does not have
        // (bucket_controller.go: BucketOperationFailed, "bucket '<name>' not found").
        let message = "bucket 'fleet-charts' not found"
        setup.controller.set(source: "fleet-charts", .fetchFailed(reason: "BucketOperationFailed", message: message))
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, _) = try await setup.run(["--timeout", "60s", "--artifacts", artifacts.path])
        #expect(result.status == 1, "\(result.allOutput)")
        let bucketLine = try Self.line(of: "kind: Bucket", in: Self.helmText) - 1
        #expect(result.standardError.contains(
            "::error title=Bucket failed%3A BucketOperationFailed,file=\(Self.helmFile),line=\(bucketLine)::The Bucket flux-system/fleet-charts (applied by flux-system/apps) failed: BucketOperationFailed: \(message)"),
            "\(result.standardError)")
        let events = try String(contentsOf: artifacts.appendingPathComponent("bucket-flux-system-fleet-charts.txt"), encoding: .utf8)
        let section = try #require(events.components(separatedBy: "# status").first)
        #expect(section.hasPrefix("# events of Bucket/flux-system/fleet-charts\n"), "\(events)")
        #expect(section.contains(" Warning BucketOperationFailed: \(message)"), "source-controller's event: \(events)")
    }

    // MARK: Events of what failed and of what it owns (1c)

    @Test(.standIn("the fake Flux controller's fault injection and its stand-in pods")) func theArtifactsHoldTheEventsOfTheReleaseItsChartAndItsPods() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        let message = "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"
        setup.controller.set(helmRelease: "podinfo", .installFailed(message: message))
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, _) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "60s"])
        #expect(result.status == 1, "\(result.allOutput)")
        let text = try String(contentsOf: artifacts.appendingPathComponent("helmrelease-apps-podinfo.txt"), encoding: .utf8)
        func section(_ heading: String) -> String? {
            guard let start = text.range(of: heading + "\n") else { return nil }
            let rest = text[start.upperBound...]
            return String(rest[..<(rest.range(of: "\n# ")?.lowerBound ?? rest.endIndex)])
        }
        // helm-controller's Warning event, not just the status.
        let release = try #require(section("# events of HelmRelease/apps/podinfo"), "\(text)")
        #expect(release.split(separator: "\n").contains { $0.hasSuffix(" Warning InstallFailed: \(message)") }, "\(release)")
        // The HelmChart helm-controller made, with source-controller's event.
        let chart = try #require(section("# events of HelmChart flux-system/apps-podinfo"), "\(text)")
        #expect(chart.contains(" Normal ChartPullSucceeded: pulled 'podinfo' chart with version '6.5.0'"), "\(chart)")
        // The release's pods (app.kubernetes.io/instance=podinfo), with the kubelet's events.
        let pods = text.components(separatedBy: "\n# events of Pod apps/").dropFirst()
        #expect(pods.count == 1, "only the release's own pod: \(text)")
        let pod = try #require(pods.first)
        #expect(pod.hasPrefix("podinfo-"), "\(pod)")
        #expect(pod.contains(" Warning Failed: Failed to pull image \"ghcr.io/example/podinfo:6.5.0\""), "\(pod)")
        #expect(pod.contains(" Warning BackOff: Back-off pulling image"), "\(pod)")
        #expect(text.contains("# status\n{"), "the status follows the events")
    }

    // MARK: Chart or version not found (1d)

    @Test(.standIn("the fake controller's stand-in Helm repository index")) func aChartVersionTheRepositoryLacksFailsTheHelmReleaseAtItsLine() async throws {
        let setup = try await Self.setup()
        defer { Task { await setup.stop() } }
        // The index has podinfo 6.4.1 (frontend's) but not 6.5.0 (podinfo's).
        setup.controller.set(helmRepository: "podinfo", charts: ["podinfo": ["6.4.0", "6.4.1"]])
        let artifacts = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("artifacts")
        let (result, summary) = try await setup.run(["--artifacts", artifacts.path, "--timeout", "120s"], environment: Self.github)
        #expect(result.status == 1, "\(result.allOutput)")
        // helm-controller's reason and message (HelmChartNotReady, "HelmChart '<ns>/<name>' is not
        // ready: <the chart's Ready message>") over source-controller's stalled chart
        // (InvalidChartReference, its BuildError message): the HelmRelease fails with the chart's reason.
        let chartMessage = "invalid chart reference: failed to get chart version for remote reference: no 'podinfo' chart with version matching '6.5.0' found"
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.contains {
            $0.hasPrefix("::error title=HelmRelease failed%3A InvalidChartReference,file=\(Self.helmFile),line=10::The HelmRelease apps/podinfo (applied by flux-system/apps) failed: InvalidChartReference: HelmChart 'flux-system/apps-podinfo' is not ready: \(chartMessage)")
        }, "\(errors)")
        #expect(!result.standardError.contains("title=Timed out"), "source-controller gave up (Stalled): the wait ends at once")
        #expect(summary.hasPrefix("### ❌ fluxci bootstrap: Failed: HelmRelease/apps/podinfo: InvalidChartReference"), "\(summary)")
        let text = try String(contentsOf: artifacts.appendingPathComponent("helmrelease-apps-podinfo.txt"), encoding: .utf8)
        #expect(text.contains("# events of HelmChart flux-system/apps-podinfo\n") && text.contains(" Warning InvalidChartReference: \(chartMessage)"), "\(text)")
    }

    /// Tester t10 F8, t13 F1: an overlay's patch sets a chart version the repository lacks (or a
    /// source URL that cannot be fetched). The error is at the patch line that set the value the
    /// controller's message quotes, and names where the object itself is written; a patch of the
    /// values is named on another failure. Without the patch, the same failure
    /// stays at the HelmRelease (the test above). (The Flux Kustomization's spec.patches, which
    /// the stand-in controller does not apply, are KustomizePatchTests'.)
    @Test(.standIn("the fake controller's stand-in Helm repository index"))
    func aChartVersionAPatchSetIsAnnotatedAtThePatch() async throws {
        let via = "kustomize patch"
        let apps = "kubernetes/overlays/kind/local/apps"
        let setup = try await Self.setup { checkout in
            if via == "kustomize patch" {
                let kustomization = checkout.appendingPathComponent("\(apps)/kustomization.yaml")
                try (try String(contentsOf: kustomization, encoding: .utf8) + "patches:\n  - path: version.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
                try "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: apps\nspec:\n  chart:\n    spec:\n      version: 6.6.0\n  values:\n    replicaCount: 2\n"
                    .write(to: checkout.appendingPathComponent("\(apps)/version.yaml"), atomically: true, encoding: .utf8)
            } else {
                let file = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
                let patch = "  patches:\n    - target:\n        kind: HelmRelease\n        name: podinfo\n      patch: |\n        - op: replace\n          path: /spec/chart/spec/version\n          value: 6.6.0\n"
                try (try String(contentsOf: file, encoding: .utf8) + patch).write(to: file, atomically: true, encoding: .utf8)
            }
        }
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRepository: "podinfo", charts: ["podinfo": ["6.4.1", "6.5.0"]])
        let (result, _) = try await setup.run(["--timeout", "120s"], environment: Self.github)
        #expect(result.status == 1, "\(result.allOutput)")
        let site = via == "kustomize patch" ? "\(apps)/version.yaml:9" : "clusters/kind/local/apps.yaml:29"
        let parts = site.split(separator: ":")
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error title=HelmRelease failed") }
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("file=\(parts[0]),line=\(parts[1])::The HelmRelease apps/podinfo") == true, "\(errors)")
        #expect(errors.first?.contains("matching '6.6.0' found (its spec.chart.spec.version is set by the patch at \(site); the HelmRelease is written at \(Self.helmFile):10)") == true, "\(errors)")

        // Another failure of a release whose values a patch sets: at the HelmRelease, the patch named.
        guard via == "kustomize patch" else { return }
        let values = try await Self.setup { checkout in
            let kustomization = checkout.appendingPathComponent("\(apps)/kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8) + "patches:\n  - path: values.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
            try "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: apps\nspec:\n  values:\n    replicaCount: 2\n"
                .write(to: checkout.appendingPathComponent("\(apps)/values.yaml"), atomically: true, encoding: .utf8)
        }
        defer { Task { await values.stop() } }
        values.controller.set(helmRelease: "podinfo", .installFailed(message: "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"))
        let (failed, _) = try await values.run(["--timeout", "60s"], environment: Self.github)
        #expect(failed.status == 1)
        let error = failed.standardError.split(separator: "\n").first { $0.hasPrefix("::error title=HelmRelease failed") }
        #expect(error?.contains("file=\(Self.helmFile),line=10::") == true, "\(error ?? "")")
        #expect(error?.contains("(patched: spec.values at \(apps)/values.yaml:7)") == true, "\(error ?? "")")

        // Tester t13 F1, the same kind for a source: an overlay patches the HelmRepository's URL,
        // and source-controller's message quotes it.
        let url = try await Self.setup { checkout in
            let kustomization = checkout.appendingPathComponent("\(apps)/kustomization.yaml")
            try (try String(contentsOf: kustomization, encoding: .utf8) + "patches:\n  - path: url.yaml\n").write(to: kustomization, atomically: true, encoding: .utf8)
            try "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  url: https://charts.invalid/podinfo\n"
                .write(to: checkout.appendingPathComponent("\(apps)/url.yaml"), atomically: true, encoding: .utf8)
        }
        defer { Task { await url.stop() } }
        let fetch = "failed to fetch Helm repository index: failed to cache index to temporary file: Get \"https://charts.invalid/podinfo/index.yaml\": dial tcp: lookup charts.invalid: no such host"
        url.controller.set(source: "podinfo", .fetchFailed(reason: "FailedArtifact", message: fetch))
        // A host that does not resolve can come later (DNS on a fresh cluster): source-controller
        // retries it, so the wait holds it until the timeout (t15 F5), then names it at the patch.
        let (unfetched, _) = try await url.run(["--timeout", "20s"], environment: Self.github)
        #expect(unfetched.status == 1)
        let source = unfetched.standardError.split(separator: "\n").first { $0.hasPrefix("::error title=HelmRepository failed") }
        #expect(source?.contains("file=\(apps)/url.yaml,line=7::") == true, "\(source ?? "")")
        #expect(source?.contains("fluxci waited until --timeout 20.0 seconds ran out") == true, "\(source ?? "")")
        #expect(source?.contains("(its spec.url is set by the patch at \(apps)/url.yaml:7; the HelmRepository is written at \(Self.helmFile):") == true, "\(source ?? "")")
    }

    // MARK: The flux-system controllers with --wait-for all (tester t6 finding 5)

    @Test(.standIn("the fake API server's object store")) func waitForAllWaitsForTheFluxControllersTheRootKustomizationApplied() async throws {
        let setup = try await BootstrapTests.setup()
        defer { Task { await setup.stop() } }
        let (result, summary) = try await setup.run(["--wait-for", "all", "--timeout", "60s"], environment: Self.github)
        #expect(result.status == 0, "\(result.allOutput)")
        let log = result.standardError
        for controller in ["helm-controller", "kustomize-controller", "notification-controller", "source-controller"] {
            #expect(log.contains("✓ Deployment/flux-system/\(controller) ready"), "\(controller): \(log)")
            #expect(summary.contains("| Deployment/flux-system/\(controller) | [clusters/kind/local/flux-system/gotk-components.yaml:"), "\(controller)")
        }
        #expect(!log.contains("not reached"), "\(log)")
        #expect(!WaitForFluxObjectsTests.mermaid(summary).contains { $0.hasSuffix(" notReached") }, "\(summary)")
        #expect(!log.contains("title=Not in the inventory"))
        // The root's inventory as kustomize-controller writes it: the flux-system folder built as a
        // whole, cluster-scoped ids without a namespace, `v` the version alone, the skipped
        // (reconcile: disabled) GitRepository and Kustomization listed too.
        let root = try #require(setup.api.object(group: "kustomize.toolkit.fluxcd.io", plural: "kustomizations", namespace: "flux-system", name: "flux-system"))
        let entries = Dictionary((root["status", "inventory", "entries"]?.array ?? []).compactMap { entry in
            entry["id"]?.string.map { ($0, entry["v"]?.string ?? "") }
        }, uniquingKeysWith: { a, _ in a })
        #expect(entries["flux-system_helm-controller_apps_Deployment"] == "v1", "\(entries.keys.sorted())")
        #expect(entries["_helmreleases.helm.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition"] == "v1")
        #expect(entries["_flux-system__Namespace"] == "v1")
        #expect(entries["flux-system_flux-system_source.toolkit.fluxcd.io_GitRepository"] == "v1")
        #expect(entries["flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization"] == "v1")
        // Skipped, not applied over: the bootstrap's GitRepository keeps the branch under test, not gotk-sync.yaml's.
        let repository = try #require(setup.api.object(group: "source.toolkit.fluxcd.io", plural: "gitrepositories", namespace: "flux-system", name: "flux-system"))
        #expect(repository["spec", "url"]?.string == setup.fleet.url)
        #expect(repository["metadata", "annotations", "kustomize.toolkit.fluxcd.io/reconcile"]?.string == "disabled")
    }

    /// What the product does with a drawn object no inventory lists: nothing waits for it, so it
    /// stays not reached, and the graph and the tree say why.
    @Test func aDrawnObjectNoInventoryListsIsNotedAndNotWaitedFor() throws {
        let apps = ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: "flux-system", name: "apps")
        let listed = ObjectReference(group: "apps", kind: "Deployment", namespace: "apps", name: "podinfo")
        let unlisted = ObjectReference(group: "apps", kind: "Deployment", namespace: "apps", name: "sidecar")
        let release = ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "apps", name: "cache")
        func kustomization(ready: Bool) throws -> ReconciliationWaiter.Row {
            let live = try JSONValue.parse(Data(#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system"},"status":{"inventory":{"entries":[{"id":"apps_podinfo_apps_Deployment","v":"v1"}]}}}"#.utf8))
            return ReconciliationWaiter.Row(
                reference: apps, parent: nil, location: nil, readiness: ready ? .ready : .pending(reason: "Progressing", message: ""), revision: nil, elapsed: nil, live: live)
        }
        func drawn(_ reference: ObjectReference) -> ReconciliationWaiter.Row {
            ReconciliationWaiter.Row(
                reference: reference, parent: apps, location: SourceLocation(file: "kubernetes/apps.yaml", line: 3), readiness: .pending(reason: "", message: ""),
                revision: nil, elapsed: nil, live: nil)
        }
        var graph = ClusterGraph()
        graph.update([try kustomization(ready: true), drawn(listed), drawn(unlisted), drawn(release)])
        let found = ReconciliationWaiter.notInInventory([try kustomization(ready: true)], graph: graph, scope: .all)
        #expect(found.map(\.node.reference) == [unlisted, release], "the listed Deployment is waited for, the others are not listed")
        #expect(found.allSatisfy { $0.parent == apps })
        #expect(ReconciliationWaiter.notInInventory([try kustomization(ready: true)], graph: graph, scope: .flux).map(\.node.reference) == [release], "flux covers no Deployment")
        #expect(ReconciliationWaiter.notInInventory([try kustomization(ready: false)], graph: graph, scope: .all).isEmpty, "a Kustomization not ready yet has not applied them")
        #expect(ReconciliationWaiter.notInInventory([try kustomization(ready: true), drawn(unlisted), drawn(release)], graph: graph, scope: .all).isEmpty, "waited for: not noted")
        graph.note(unlisted, "no inventory lists it")
        #expect(graph.tree().contains("○ Deployment/apps/sidecar (not reached: no inventory lists it)"), "\(graph.tree())")
        #expect(graph.tree().contains("○ HelmRelease/apps/cache (not reached)\n"))
        #expect(graph.mermaid().contains("Deployment<br/>apps/sidecar<br/>not reached: no inventory lists it\"]"), "\(graph.mermaid())")
    }

    // MARK: Problems are counted without the summary line (3)

    @Test func theProblemsCountLeavesOutTheLineThatSumsThemUp() async throws {
        let fleet = try await ExampleFleet.make(SummaryPathsTests.typo)
        defer { fleet.server.stop() }
        let summaryFile = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--plan"],
            environment: [
                "SOPS_AGE_KEY_FILE": fleet.ageKeyFile.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summaryFile.path,
                "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
            ], workingDirectory: fleet.checkout)
        #expect(result.status == 1, "\(result.allOutput)")
        let annotations = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") || $0.hasPrefix("::warning") || $0.hasPrefix("::notice") }
        // The summary line is shown (an annotation of its own) ...
        #expect(annotations.contains { $0.hasPrefix("::error title=Flux tree checks failed::") }, "\(annotations)")
        let summary = try String(contentsOf: summaryFile, encoding: .utf8)
        let heading = try #require(summary.split(separator: "\n").first { $0.hasPrefix("### Problems (") }, "\(summary)")
        let count = try #require(Int(heading.dropFirst("### Problems (".count).prefix { $0.isNumber }))
        let problems = try #require(summary.components(separatedBy: String(heading)).last)
        let rows = problems.split(separator: "\n").filter { $0.hasPrefix("| error |") || $0.hasPrefix("| warning |") || $0.hasPrefix("| notice |") }
        // ... but it is not a problem: the count is the real ones, each a row.
        #expect(count == annotations.count - 1, "\(heading) for \(annotations)")
        #expect(rows.count == count, "\(rows)")
        #expect(rows.contains { $0.contains("Unknown dependency") })
        #expect(!problems.contains("Flux tree checks failed"), "\(problems)")
    }
}
