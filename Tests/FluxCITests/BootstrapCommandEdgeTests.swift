import Foundation
import Subprocess
import SystemPackage
import Testing
import TestSupport

/// Issue 13, items 12–15 and 23, through the real `fluxci` executable: git-crypt-locked key
/// files, a plan without keys, `--cluster-path` alone (and `.`), `matrix` on other layouts,
/// signals during `bootstrap`, and `sops verify`'s group verdict.
@Suite(.serialized) struct BootstrapCommandEdgeTests {
    static let exampleKey = TestPaths.packageRoot.appendingPathComponent("Examples/fleet/.secrets/kind/local/age/age.agekey")

    // MARK: 12 — git-crypt-locked key files

    /// A checkout whose `.secrets/kind/local/age/age.agekey` git-crypt holds locked: the 10-byte
    /// header, then ciphertext (random bytes: what git-crypt writes is opaque to fluxci).
    static func lockedCheckout() throws -> URL {
        let folder = try TestPaths.temporaryDirectory("fluxci-gitcrypt")
        removeAtExit(folder)
        let key = folder.appendingPathComponent(".secrets/kind/local/age/age.agekey")
        try FileManager.default.createDirectory(at: key.deletingLastPathComponent(), withIntermediateDirectories: true)
        var bytes = Data("\0GITCRYPT\0".utf8)
        bytes.append(contentsOf: (0..<80).map { _ in UInt8.random(in: 0...255) })
        try bytes.write(to: key)
        return folder
    }

    @Test func aLockedKeyFileThatIsTheOnlySourceIsAnErrorThatSaysHowToUnlock() async throws {
        let folder = try Self.lockedCheckout()
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["keys", "import", "--cloud", "kind", "--env", "local"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": folder.path], workingDirectory: folder)
        #expect(result.status != 0)
        let error = result.standardError.split(separator: "\n").first { $0.hasPrefix("::error ") }.map(String.init) ?? ""
        #expect(error.contains("title=Key file locked by git-crypt"), "\(result.allOutput)")
        #expect(error.contains("file=.secrets/kind/local/age/age.agekey"))
        #expect(error.contains("git-crypt unlock") && error.contains("SOPS_AGE_KEY"))
        #expect(!result.standardError.contains("cannot be read as text"))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("fluxci.") }
        #expect(left.isEmpty, "no keyring is left behind")
    }

    @Test func aLockedKeyFileIsSkippedWithAWarningWhenAnotherKeyIsGiven() async throws {
        let folder = try Self.lockedCheckout()
        let identity = try String(contentsOf: Self.exampleKey, encoding: .utf8)
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["keys", "import", "--cloud", "kind", "--env", "local", "--json"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": folder.path, "SOPS_AGE_KEY": identity], workingDirectory: folder)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("::warning title=Key file locked by git-crypt,file=.secrets/kind/local/age/age.agekey"))
        #expect(result.standardOutput.contains("age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"), "the given key was imported")
        #expect(leakedSecrets(in: result.allOutput, secrets: [identity]).isEmpty)
        _ = try? await runProcess(TestPaths.executable("fluxci"), ["keys", "cleanup"], environment: ["TMPDIR": folder.path], workingDirectory: folder)
    }

    // MARK: 13 — a plan without keys

    @Test func aPlanWithoutKeysRunsTheTreeChecksAndListsTheSOPSFiles() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        try FileManager.default.removeItem(at: fleet.checkout.appendingPathComponent(".secrets"))
        let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cloud", "kind", "--env", "local"],
            environment: ["GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path, "TMPDIR": fleet.checkout.deletingLastPathComponent().path],
            workingDirectory: fleet.checkout)
        let text = (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("::notice title=SOPS preflight not run::"))
        #expect(text.contains("SOPS preflight: not run (no keys were given)"))
        for file in ["kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml", "kubernetes/overlays/kind/local/infrastructure/registry-credentials.sops.yaml"] {
            let row = text.split(separator: "\n").first { $0.hasPrefix("| \(file) |") }.map(String.init) ?? ""
            #expect(row.contains("age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx") && row.contains("6FFF9699B0376D4D06F7D6B0EF57C12CF4CFE278"), "\(file) with its recipients:\n\(text)")
        }
        #expect(text.contains("| flux-system/apps |"), "the Kustomization table is there")
    }

    @Test func aPlanWithoutKeysStillFailsOnATreeProblem() async throws {
        let fleet = try await ExampleFleet.make { checkout in
            let apps = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
            try (try String(contentsOf: apps, encoding: .utf8)).replacingOccurrences(of: "- name: infrastructure", with: "- name: infra")
                .write(to: apps, atomically: true, encoding: .utf8)
        }
        defer { fleet.server.stop() }
        try FileManager.default.removeItem(at: fleet.checkout.appendingPathComponent(".secrets"))
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cloud", "kind", "--env", "local"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": fleet.checkout.deletingLastPathComponent().path], workingDirectory: fleet.checkout)
        #expect(result.status != 0)
        #expect(result.standardError.contains("title=Unknown dependency,file=clusters/kind/local/apps.yaml"), "\(result.allOutput)")
        #expect(!result.standardError.contains("No SOPS keys"))
    }

    /// A laptop with no key anywhere (no SOPS_* variables, no .secrets/, an empty HOME): a plan by
    /// --cluster-path (the default-key lookup) and an e2e plan still run every tree check.
    @Test func aPlanWithNoKeyAnywhereRunsTheTreeChecks() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        try FileManager.default.removeItem(at: fleet.checkout.appendingPathComponent(".secrets"))
        let home = fleet.checkout.deletingLastPathComponent().appendingPathComponent("empty-home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let environment = ["HOME": home.path, "TMPDIR": fleet.checkout.deletingLastPathComponent().path]
        let byPath = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cluster-path", "clusters/kind/local"],
            environment: environment, workingDirectory: fleet.checkout)
        #expect(byPath.status == 0, "\(byPath.allOutput)")
        #expect(byPath.allOutput.contains("SOPS preflight not run") && !byPath.allOutput.contains("No SOPS keys"), "\(byPath.allOutput)")
        let e2e = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--plan", "--cloud", "kind", "--env", "local"],
            environment: environment, workingDirectory: fleet.checkout)
        #expect(e2e.status == 0, "\(e2e.allOutput)")
        #expect(e2e.allOutput.contains("SOPS preflight not run"), "\(e2e.allOutput)")
    }

    /// A RUNNER_TEMP that is no folder is named as the cause (exit 10), not "GnuPG unavailable".
    @Test func aMissingRunnerTempIsNamed() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        let missing = fleet.checkout.deletingLastPathComponent().appendingPathComponent("no-such-runner-temp").path
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["e2e", "--plan", "--cloud", "kind", "--env", "local"],
            environment: ["RUNNER_TEMP": missing, "TMPDIR": fleet.checkout.deletingLastPathComponent().path], workingDirectory: fleet.checkout)
        #expect(result.status == 10, "\(result.allOutput)")
        #expect(result.allOutput.contains("RUNNER_TEMP is \(missing), which is not a folder"), "\(result.allOutput)")
        #expect(!result.allOutput.contains("GnuPG unavailable"))
    }

    /// --serve without --include-worktree on a dirty work tree says that it serves the commit only.
    @Test func servingADirtyWorkTreeWithoutIncludeWorktreeSaysSo() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        let environment = ["SOPS_AGE_KEY_FILE": Self.exampleKey.path, "TMPDIR": fleet.checkout.deletingLastPathComponent().path]
        let clean = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cluster-path", "clusters/kind/local"], environment: environment, workingDirectory: fleet.checkout)
        #expect(clean.status == 0, "\(clean.allOutput)")
        #expect(!clean.allOutput.contains("Uncommitted changes not served"), "\(clean.allOutput)")
        try "# edited\n".write(to: fleet.checkout.appendingPathComponent("clusters/kind/local/new.yaml"), atomically: true, encoding: .utf8)
        let dirty = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cluster-path", "clusters/kind/local"], environment: environment, workingDirectory: fleet.checkout)
        #expect(dirty.status == 0, "\(dirty.allOutput)")
        #expect(dirty.allOutput.contains("Uncommitted changes not served") && dirty.allOutput.contains("--include-worktree"), "\(dirty.allOutput)")
    }

    // MARK: 14 and 23 — --cluster-path alone, and the root as the cluster path

    @Test func clusterPathNeedsNoCloudOrEnv() async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cluster-path", "clusters/kind/local"],
            environment: [
                "SOPS_AGE_KEY_FILE": Self.exampleKey.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
            ], workingDirectory: fleet.checkout)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All 2 SOPS files the cluster decrypts decrypt with the imported keys."))
        #expect((try? String(contentsOf: summary, encoding: .utf8))?.contains("### Kustomizations of clusters/kind/local") == true)
        // The output says which kustomize built the Kustomizations (kubectl's on this PATH).
        #expect(result.allOutput.contains("Kustomizations with kubectl kustomize --load-restrictor LoadRestrictionsNone.") || result.allOutput.contains("Kustomizations with kustomize build --load-restrictor LoadRestrictionsNone."), "\(result.allOutput)")

        let neither = try await runProcess(TestPaths.executable("fluxci"), ["bootstrap", "--plan"], workingDirectory: fleet.checkout)
        #expect(neither.status == 64)
        #expect(neither.standardError.contains("--cluster-path"))
        let half = try await runProcess(TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cloud", "kind"], workingDirectory: fleet.checkout)
        #expect(half.status == 64)
        #expect(half.standardError.contains("--cloud and --env go together"))
    }

    /// Item 10: a fleet in a folder of its repository (`fleet/`), planned with `--repository
    /// fleet` from the top and from inside the folder: Flux reads spec.path from the source's
    /// root, the repository's top, so `./fleet/kubernetes/…` resolves and nothing is looked for
    /// at `fleet/fleet/…`.
    @Test(arguments: [true, false])
    func aFleetInASubfolderResolvesPathsFromTheRepositorysTop(_ fromInside: Bool) async throws {
        let fleet = try await ExampleFleet.make { checkout in
            let manager = FileManager.default
            let inner = checkout.appendingPathComponent("fleet")
            let entries = try manager.contentsOfDirectory(atPath: checkout.path)
            try manager.createDirectory(at: inner, withIntermediateDirectories: true)
            for name in entries { try manager.moveItem(at: checkout.appendingPathComponent(name), to: inner.appendingPathComponent(name)) }
            let clusters = inner.appendingPathComponent("clusters/kind/local")
            for file in try manager.subpathsOfDirectory(atPath: clusters.path) where file.hasSuffix(".yaml") {
                let url = clusters.appendingPathComponent(file)
                let text = try String(contentsOf: url, encoding: .utf8)
                try text.replacingOccurrences(of: "path: ./", with: "path: ./fleet/").write(to: url, atomically: true, encoding: .utf8)
            }
        }
        defer { fleet.server.stop() }
        let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cluster-path", "clusters/kind/local"] + (fromInside ? [] : ["--repository", "fleet"]),
            environment: [
                "SOPS_AGE_KEY_FILE": Self.exampleKey.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
            ], workingDirectory: fromInside ? fleet.checkout.appendingPathComponent("fleet") : fleet.checkout)
        #expect(result.status == 0, "\(result.allOutput)")
        #expect(result.standardError.contains("All 2 SOPS files the cluster decrypts decrypt with the imported keys."), "\(result.allOutput)")
        let text = (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        #expect(text.contains("### Kustomizations of fleet/clusters/kind/local"), "\(text)")
        #expect(text.contains("| ./fleet/kubernetes/overlays/kind/local/apps |"), "\(text)")
        #expect(!text.contains("no: "), "every Kustomization built: \(text)")
    }

    @Test func theRootAsClusterPathHasATableTitle() async throws {
        let fleet = try await ExampleFleet.make { checkout in
            // A single-cluster repository synced from its root: flux-system/ at the top, path "./".
            let manager = FileManager.default
            for name in ["clusters", "kubernetes", ".sops.yaml"] { try manager.removeItem(at: checkout.appendingPathComponent(name)) }
            try manager.createDirectory(at: checkout.appendingPathComponent("flux-system"), withIntermediateDirectories: true)
            try manager.createDirectory(at: checkout.appendingPathComponent("apps"), withIntermediateDirectories: true)
            try manager.copyItem(
                at: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), to: checkout.appendingPathComponent("flux-system/gotk-components.yaml"))
            try manager.copyItem(
                at: ExampleFleet.source.appendingPathComponent("clusters/kind/local/flux-system/kustomization.yaml"),
                to: checkout.appendingPathComponent("flux-system/kustomization.yaml"))
            let sync = try String(contentsOf: ExampleFleet.source.appendingPathComponent("clusters/kind/local/flux-system/gotk-sync.yaml"), encoding: .utf8)
            try sync.replacingOccurrences(of: "path: ./clusters/kind/local", with: "path: ./").write(
                to: checkout.appendingPathComponent("flux-system/gotk-sync.yaml"), atomically: true, encoding: .utf8)
            try """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: settings
                  namespace: flux-system
                data:
                  greeting: hello

                """.write(to: checkout.appendingPathComponent("apps/settings.yaml"), atomically: true, encoding: .utf8)
        }
        defer { fleet.server.stop() }
        let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cluster-path", "."],
            environment: [
                "SOPS_AGE_KEY_FILE": Self.exampleKey.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
            ], workingDirectory: fleet.checkout)
        #expect(result.status == 0, "\(result.allOutput)")
        let text = (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        #expect(text.contains("### Kustomizations of .\n"), "\(text)")
        #expect(!text.contains("### Kustomizations of \n"))
    }

    // MARK: 14 — matrix on other layouts

    @Test func matrixListsOnlyFluxSystemFoldersWithSyncManifestsInAnyLayout() async throws {
        let repository = try TestPaths.temporaryDirectory("fluxci-matrix")
        removeAtExit(repository)
        func write(_ path: String, _ text: String) throws {
            let url = repository.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let kustomization = FleetManifests.fluxSystemKustomization(["gotk-components.yaml", "gotk-sync.yaml"])
        // clusters/<cloud>/<env>, bootstrapped.
        try write("clusters/kind/local/flux-system/kustomization.yaml", kustomization)
        try write("clusters/kind/local/flux-system/gotk-sync.yaml", FleetManifests.sync(path: "./clusters/kind/local"))
        // A flux-system folder without sync manifests: not a cluster bootstrap could run on.
        try write("clusters/aws/staging/flux-system/kustomization.yaml", kustomization)
        // Another layout, nested: <cluster>/flux/flux-system.
        try write("kubernetes/home/flux/flux-system/kustomization.yaml", kustomization)
        try write("kubernetes/home/flux/flux-system/gotk-sync.yaml", FleetManifests.sync(path: "./kubernetes/home"))
        // A Kustomization whose source is not a GitRepository defined there: no pair.
        try write("kubernetes/lab/flux-system/gotk-sync.yaml", FleetManifests.sync(path: "./kubernetes/lab", sourceKind: "OCIRepository"))
        // Tester t12 F12: sync manifests copied from another cluster (their path is not this
        // cluster's): listed under its own path, with a warning at the path line, never dropped.
        let copied = FleetManifests.sync(path: "./clusters/azure/prod")
        try write("clusters/azure/qa/flux-system/gotk-sync.yaml", copied)
        let pathLine = try #require(copied.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("path: ./clusters/azure/prod") }) + 1

        let output = repository.appendingPathComponent("github-output")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["matrix"], environment: ["GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": output.path], workingDirectory: repository)
        #expect(result.status == 0, "\(result.allOutput)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: [[String: String]]])
        #expect(json["include"] == [
            ["cloud": "azure", "env": "qa", "path": "clusters/azure/qa"], ["cloud": "kind", "env": "local", "path": "clusters/kind/local"], ["path": "kubernetes/home"],
        ])
        #expect(result.standardError.contains("::warning title=Sync path of another cluster,file=clusters/azure/qa/flux-system/gotk-sync.yaml,line=\(pathLine)::"), "\(result.standardError)")
        #expect((try? String(contentsOf: output, encoding: .utf8))?.contains("matrix") == true)

        let under = try await runProcess(TestPaths.executable("fluxci"), ["matrix", "--under", "kubernetes"], workingDirectory: repository)
        // Slashes unescaped, as a reader of the log expects (tester t3 F26).
        #expect(under.standardOutput.contains(#""include":[{"path":"kubernetes/home"}]"#), "\(under.allOutput)")

        let none = try await runProcess(TestPaths.executable("fluxci"), ["matrix", "--under", "clusters/aws"], workingDirectory: repository)
        #expect(none.status != 0)
        #expect(none.standardError.contains("No flux-system folder with sync manifests"))
    }

    // MARK: 15 — signals during bootstrap

    @Test(arguments: [(SIGTERM, Signal.terminate), (SIGINT, Signal.interrupt)])
    func aSignalDuringBootstrapRemovesTheKeyring(_ number: Int32, _ signal: Signal) async throws {
        let fleet = try await ExampleFleet.make()
        let api = try await FakeAPIServer.start()
        let controller = FakeFluxController(server: api)
        controller.start()
        defer {
            controller.stop()
            fleet.server.stop()
            Task { await api.shutdown() }
        }
        controller.set("infrastructure", .never)
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let kubeconfig = tmp.appendingPathComponent("kubeconfig")
        try api.writeKubeconfig(to: kubeconfig)
        @Sendable func keyrings() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("fluxci.") } }
        // Once the keyring exists and the Kustomizations are applied (the wait is on), stop the real process.
        let run = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", kubeconfig.path, "--timeout", "120s"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": tmp.path], workingDirectory: fleet.checkout, signal: signal,
            when: { !keyrings().isEmpty && api.requests.contains { $0.hasPrefix("PATCH") && $0.contains("kustomizations") } }, within: .seconds(90),
            settle: .milliseconds(500))
        let result = run.result
        #expect(run.wasReady, "the keyring existed while bootstrap ran")
        #expect(!run.endedBySignal && result.status == 128 + number, "fluxci exits after its cleanup: \(result.status)")
        #expect(result.standardError.contains("Interrupted by signal"))
        #expect(keyrings().isEmpty, "the keyring is removed")
    }

    /// Tester t6 finding 3: a signal during the tree check left the source artifact (a full copy
    /// of the tree, `.secrets` included) and the kustomize build folders in TMPDIR. A stand-in
    /// kustomize that never returns holds the run inside the tree check; once both folders exist
    /// the run is signalled, and its cleanup must remove them, for `bootstrap --plan` (no
    /// --serve) and `e2e --plan` alike.
    @Test(arguments: [(["bootstrap", "--plan"], SIGTERM, Signal.terminate), (["e2e", "--plan"], SIGINT, Signal.interrupt)])
    func aSignalDuringTheTreeCheckRemovesItsScratchCopies(_ command: [String], _ number: Int32, _ signal: Signal) async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        let folder = fleet.checkout.deletingLastPathComponent()
        let tmp = folder.appendingPathComponent("tmp"), bin = folder.appendingPathComponent("bin")
        for made in [tmp, bin] { try FileManager.default.createDirectory(at: made, withIntermediateDirectories: true) }
        let started = folder.appendingPathComponent("kustomize.pid")
        let kustomize = bin.appendingPathComponent("kustomize")
        try "#!/bin/sh\necho $$ >> '\(started.path)'\nexec sleep 60\n".write(to: kustomize, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: kustomize.path)
        defer {
            for line in ((try? String(contentsOf: started, encoding: .utf8)) ?? "").split(separator: "\n") { if let pid = Int32(line) { kill(pid, SIGKILL) } }
        }
        @Sendable func scratch() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("fluxci-") || $0.hasPrefix("fluxci.") }
        }
        let run = try await runProcess(
            TestPaths.executable("fluxci"), command + ["--cloud", "kind", "--env", "local"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": tmp.path, "PATH": "\(bin.path):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"],
            workingDirectory: fleet.checkout, signal: signal,
            when: {
                FileManager.default.fileExists(atPath: started.path)
                    && scratch().contains { $0.hasPrefix("fluxci-artifact-") } && scratch().contains { $0.hasPrefix("fluxci-builds-") }
            }, within: .seconds(90), settle: .milliseconds(200))
        let result = run.result
        #expect(run.wasReady, "the tree check was running with its scratch folders: \(result.allOutput)")
        #expect(!run.endedBySignal && result.status == 128 + number, "fluxci exits after its cleanup: \(result.status) \(result.allOutput)")
        #expect(result.standardError.contains("Interrupted by signal"))
        #expect(result.standardError.contains("✓ Remove the scratch copies of the tree"), "\(result.allOutput)")
        #expect(!result.standardError.contains("Stop serving"), "nothing was served: \(result.allOutput)")
        #expect(scratch().isEmpty, "left in TMPDIR: \(scratch())")
    }

    /// Tester t9 F7b: output piped into `head` or `less` that closes early. A write to the closed
    /// pipe killed fluxci by SIGPIPE before its cleanup, leaving the keyring (age.agekey) and the
    /// scratch copies in TMPDIR. The run now goes on with its output dropped and cleans up.
    @Test(arguments: [["bootstrap", "--plan"], ["e2e", "--plan"]])
    func aClosedOutputPipeStillEndsWithTheCleanup(_ command: [String]) async throws {
        let fleet = try await ExampleFleet.make()
        defer { fleet.server.stop() }
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        // An age key only: importing a PGP key initialises gpgme, which itself ignores SIGPIPE
        // and so hid the fault.
        try FileManager.default.removeItem(at: fleet.checkout.appendingPathComponent(".secrets"))
        let identity = try #require(try String(contentsOf: Self.exampleKey, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("AGE-SECRET-KEY-") })
        // bash keeps fluxci's own status (PIPESTATUS): 141 is a death by SIGPIPE.
        let result = try await runProcess(
            URL(fileURLWithPath: "/bin/bash"),
            ["-c", "\"$0\" \"$@\" 2>&1 | head -n 1; exit ${PIPESTATUS[0]}", TestPaths.executable("fluxci").path] + command + ["--cloud", "kind", "--env", "local"],
            environment: ["TMPDIR": tmp.path, "SOPS_AGE_KEY": String(identity), "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
            workingDirectory: fleet.checkout)
        #expect(result.status == 0, "the plan ran to its end with its output dropped: \(result.status) \(result.allOutput)")
        #expect(result.standardOutput.split(separator: "\n").count == 1, "head printed one line: \(result.allOutput)")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? []).filter { $0.hasPrefix("fluxci") }
        #expect(left.isEmpty, "left in TMPDIR (the keyring holds age.agekey): \(left)")
    }

    /// Tester t6 finding 7: when the branch's GitRepository itself timed out, "Objects waited
    /// for" was empty; the one object waited for is its row, failed, at its file:line. Nothing
    /// reconciles here (no Flux controller stand-in), so the source times out.
    @Test func aSourceThatTimedOutIsARowOfObjectsWaitedFor() async throws {
        let fleet = try await ExampleFleet.make()
        let api = try await FakeAPIServer.start()
        defer {
            fleet.server.stop()
            Task { await api.shutdown() }
        }
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let kubeconfig = tmp.appendingPathComponent("kubeconfig"), summary = tmp.appendingPathComponent("summary.md")
        try api.writeKubeconfig(to: kubeconfig)
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", kubeconfig.path, "--timeout", "3s"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": tmp.path, "GITHUB_STEP_SUMMARY": summary.path], workingDirectory: fleet.checkout)
        #expect(result.status != 0, "\(result.allOutput)")
        #expect(result.standardError.contains("::error title=Source timed out,file=clusters/kind/local/flux-system/gotk-sync.yaml"), "\(result.allOutput)")
        let markdown = try String(contentsOf: summary, encoding: .utf8)
        let table = try #require(markdown.components(separatedBy: "### Objects waited for").last)
        #expect(table.contains("| GitRepository/flux-system/flux-system | clusters/kind/local/flux-system/gotk-sync.yaml:"), "\(markdown)")
        #expect(table.contains("| False |  | Source timed out: The GitRepository flux-system/flux-system did not get main@sha1:"), "\(markdown)")
    }

    /// Tester t6 finding 10: `bootstrap --serve` on a context that is not kind's, without
    /// --serve-address, failed only after the tree checks and the preflight; the context is in
    /// the kubeconfig from the start, so the error comes first.
    @Test func serveWithoutAnAddressOnAnotherContextFailsBeforeTheTreeChecks() async throws {
        let fleet = try await ExampleFleet.make()
        let api = try await FakeAPIServer.start()
        defer {
            fleet.server.stop()
            Task { await api.shutdown() }
        }
        let tmp = fleet.checkout.deletingLastPathComponent().appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let kubeconfig = tmp.appendingPathComponent("kubeconfig")
        try api.writeKubeconfig(to: kubeconfig, context: "prod-cluster")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--serve", "--kubeconfig", kubeconfig.path],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": tmp.path], workingDirectory: fleet.checkout)
        #expect(result.status != 0, "\(result.allOutput)")
        #expect(result.standardError.contains("::error title=Serve address unknown::--serve needs the address this machine has for the cluster; the context prod-cluster is not a kind cluster's."), "\(result.allOutput)")
        #expect(!result.allOutput.contains("SOPS preflight") && !result.allOutput.contains("Kustomizations of"), "nothing ran before: \(result.allOutput)")
    }

    // MARK: 23 — sops verify's group verdict

    @Test func sopsVerifyClosesItsGroupAsFailedWhenAFileFailed() async throws {
        let file = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/Fleets/cloud-env/variants/foreign-key/kubernetes/apps/overlays/staging/podinfo-auth.sops.yaml")
        let good = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/Fleets/cloud-env/fleet/kubernetes/apps/overlays/staging/podinfo-auth.sops.yaml")
        let folder = try TestPaths.temporaryDirectory("fluxci-verify")
        removeAtExit(folder)
        for (url, name) in [(file, "foreign.sops.yaml"), (good, "good.sops.yaml")] {
            try FileManager.default.copyItem(at: url, to: folder.appendingPathComponent(name))
        }
        let failed = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "."], environment: ["SOPS_AGE_KEY_FILE": Self.exampleKey.path, "TMPDIR": folder.path, "NO_COLOR": "1"],
            workingDirectory: folder)
        #expect(failed.status != 0)
        #expect(failed.standardError.contains("✗ Verify SOPS files"), "\(failed.allOutput)")
        #expect(!failed.standardError.contains("✓ Verify SOPS files"))
        #expect(failed.standardError.contains("✓ good.sops.yaml"))

        try FileManager.default.removeItem(at: folder.appendingPathComponent("foreign.sops.yaml"))
        let passed = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "."], environment: ["SOPS_AGE_KEY_FILE": Self.exampleKey.path, "TMPDIR": folder.path, "NO_COLOR": "1"],
            workingDirectory: folder)
        #expect(passed.status == 0, "\(passed.allOutput)")
        #expect(passed.standardError.contains("✓ Verify SOPS files"))
    }

    // MARK: t3 F22 — the preflight follows Flux's MAC rule

    /// kustomize-controller's decryptor does not check the MAC (`checkSopsMac` off): a file whose
    /// unencrypted part was edited after encryption (a label added: MAC mismatch) is applied by
    /// Flux, so the plan passes with a warning at its `sops:` line; a value whose ciphertext was
    /// edited fails to decrypt in Flux too ("error decrypting sops tree"), so it still fails.
    @Test func theSOPSPreflightWarnsOfAMACFluxDoesNotCheck() async throws {
        let auth = "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"
        let registry = "kubernetes/overlays/kind/local/infrastructure/registry-credentials.sops.yaml"
        func plan(_ change: @escaping (URL) throws -> Void) async throws -> (ProcessResult, String) {
            let fleet = try await ExampleFleet.make(change)
            defer { fleet.server.stop() }
            let summary = fleet.checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
            let result = try await runProcess(
                TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cloud", "kind", "--env", "local"],
                environment: [
                    "SOPS_AGE_KEY_FILE": fleet.ageKeyFile.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                    "TMPDIR": fleet.checkout.deletingLastPathComponent().path,
                ], workingDirectory: fleet.checkout)
            return (result, (try? String(contentsOf: summary, encoding: .utf8)) ?? "")
        }
        func edit(_ checkout: URL, _ file: String, _ from: String, _ to: String) throws {
            let url = checkout.appendingPathComponent(file)
            let text = try String(contentsOf: url, encoding: .utf8)
            #expect(text.contains(from))
            try text.replacingOccurrences(of: from, with: to).write(to: url, atomically: true, encoding: .utf8)
        }
        let (labelled, summary) = try await plan { checkout in
            try edit(checkout, auth, "    namespace: apps\ntype: Opaque", "    namespace: apps\n    labels:\n        team: web\ntype: Opaque")
        }
        #expect(labelled.status == 0, "\(labelled.allOutput)")
        #expect(labelled.standardError.contains("::warning title=MAC mismatch,file=\(auth),line=12::"), "\(labelled.standardError)")
        #expect(labelled.standardError.contains("does not check the MAC, so it applies the values as they are now"))
        #expect(!labelled.standardError.contains("::error"), "\(labelled.standardError)")
        #expect(summary.contains("| \(auth) |") && summary.contains("decrypts; MAC not valid (Flux does not check it)"), "\(summary)")
        #expect(summary.split(separator: "\n").contains { $0.hasPrefix("| \(registry) |") && $0.contains("decrypts, MAC valid") }, "\(summary)")

        let (tampered, _) = try await plan { checkout in
            try edit(checkout, registry, "tag:RyWmLP/K22tN+ucl0pi9rQ==", "tag:RyWmLP/K22tN+ucl0pi9rA==")
        }
        #expect(tampered.status != 0)
        #expect(tampered.standardError.contains("::error title=Value failed authentication,file=\(registry),line=8::"), "\(tampered.standardError)")
    }
}
