import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Issue 13 item 4 (tester t8 F1): a YAML alias bomb that a kustomize build reads ends the plan
/// with one problem at its file:line, every other Kustomization still built and reported. Each
/// bomb here expands to about 3.9e8 nodes: `kubectl kustomize` does not finish it within a
/// minute, so each test ends only because fluxci does not hand it to kustomize (a build that ran
/// would be stopped by the build timeout and reported as "Kustomize build timed out" instead,
/// which the assertions refuse). Times are printed, not asserted.
@Suite struct AliasBombTests {
    /// A ConfigMap whose `x` holds anchors a…i, each aliasing the previous one nine times
    /// (tester t8's repro): `a` is on line `first`, `g` (the first value that alone expands to
    /// more than 1,000,000 nodes) on `first + 6`.
    static func bomb(name: String = "l", namespace: String = "default") -> (text: String, line: Int) {
        var lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: \(name), namespace: \(namespace)}", "x:", "  a: &a [" + Array(repeating: "\"lol\"", count: 9).joined(separator: ",") + "]"]
        var previous = "a"
        for level in "bcdefghi" {
            lines.append("  \(level): &\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]")
            previous = String(level)
        }
        return (lines.joined(separator: "\n") + "\n", 11)
    }

    /// The same bomb as a strategic-merge patch of a ConfigMap.
    static func bombPatch(name: String) -> String {
        bomb(name: name).text
    }

    static func elapsed(_ label: String, _ start: ContinuousClock.Instant) {
        print("AliasBombTests \(label): \(ContinuousClock.now - start)")
    }

    /// t8's shape: the bomb in a base that an overlay (with a patch) reaches, and a second overlay
    /// reaching the same base. One problem, at the bomb's line; both overlays not built, naming
    /// the file; the fleet's other Kustomizations built; batches and one-by-one builds agree.
    @Test func aBombInABaseIsOneProblemAtItsLineAndTheRestIsBuilt() async throws {
        let (text, line) = Self.bomb()
        let fleet = try await Fleet.make([
            "clusters/c/prod.yaml": kustomization("prod", path: "./kubernetes/overlays/prod"),
            "clusters/c/staging.yaml": kustomization("staging", path: "./kubernetes/overlays/staging"),
            "clusters/c/other.yaml": kustomization("other", path: "./kubernetes/other"),
            "kubernetes/base/web/kustomization.yaml": "resources:\n- cm.yaml\n- web.yaml\n",
            "kubernetes/base/web/cm.yaml": text,
            "kubernetes/base/web/web.yaml": configMap("web", namespace: "default"),
            "kubernetes/overlays/prod/kustomization.yaml": "resources:\n- ../../base/web\npatches:\n- path: patch.yaml\n",
            "kubernetes/overlays/prod/patch.yaml": configMap("web", namespace: "default", data: "a: prod"),
            "kubernetes/overlays/staging/kustomization.yaml": "resources:\n- ../../base/web\n",
            "kubernetes/other/cm.yaml": configMap("other", namespace: "default"),
        ])
        defer { fleet.remove() }
        let start = ContinuousClock.now
        let tree = try fleet.read()
        Self.elapsed("base reached by two overlays", start)
        #expect(tree.problems.count == 1, "\(tree.problems)")
        let problem = try #require(tree.problem("YAML alias bomb"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "kubernetes/base/web/cm.yaml", line: line))
        #expect(problem.message.contains("kubernetes/base/web/cm.yaml:\(line) expands through YAML aliases to "), "\(problem.message)")
        #expect(problem.message.contains("flux-system/prod") && problem.message.contains("stops the builds of flux-system/staging too"), "\(problem.message)")
        #expect(problem.fix?.contains("1,000,000") == true)
        for name in ["prod", "staging"] {
            #expect(tree.builds[.init(namespace: "flux-system", name: name)] == .notBuilt("kubernetes/base/web/cm.yaml:\(line) is a YAML alias bomb"))
        }
        #expect(tree.builds[.init(namespace: "flux-system", name: "other")] == .built)
        #expect(tree.objects[.init(namespace: "flux-system", name: "other")]?.map(\.name) == ["other"])
        #expect(tree.builds[tree.rootKustomization.id] == .built)

        // The batch (prod, staging and other found together) falls back to one-by-one builds.
        let batchStart = ContinuousClock.now
        try await KustomizationBatchTests.compareTrees(fleet.directory, cluster: "clusters/c", "alias bomb", objectsExpected: true)
        Self.elapsed("batches against one by one", batchStart)
    }

    /// The count and the line, from the parser: the document's count is every value node
    /// (aliases counted at each use), the line that of the first value that alone is too big.
    @Test func theExpansionIsMeasuredFromTheParser() throws {
        let (text, line) = Self.bomb()
        let found = try #require(AliasExpansion.bomb(in: Data(text.utf8)))
        // root, apiVersion, kind, metadata {name, namespace}, x, and a…i: a is 1 + 9 scalars,
        // each next one 1 + 9 × the previous.
        var sizes = [10]
        for _ in 1..<9 { sizes.append(1 + 9 * sizes.last!) }
        #expect(found.nodes == 1 + 1 + 1 + 3 + 1 + sizes.reduce(0, +))
        #expect(found.line == line)
        // An alias written as a mapping value is placed on its own key's line.
        let aliasAtKey = text + "y: *i\n"
        #expect(AliasExpansion.bomb(in: Data(aliasAtKey.utf8))?.line == line)
        let onlyTheUse = "a: &a [" + Array(repeating: "x", count: 1000).joined(separator: ",") + "]\nb:\n  c: [" + Array(repeating: "*a", count: 1000).joined(separator: ",") + "]\n"
        #expect(AliasExpansion.bomb(in: Data(onlyTheUse.utf8))?.line == 3)
        // `R &D` and `*` in text are no anchors or aliases; a few aliases are fine.
        #expect(AliasExpansion.bomb(in: Data("a: R &D\nb: '*x'\nc: \"*\"\n".utf8)) == nil)
        #expect(AliasExpansion.bomb(in: Data("a: &v [1, 2]\nb: *v\nc: *v\n".utf8)) == nil)
        // The limit counts: just over it is a bomb, just under it is not.
        let small = "a: &a [1, 2, 3]\nb: [*a, *a]\n"  // root 1 + a 4 + b (1 + 2 × 4) = 14
        #expect(AliasExpansion.bomb(in: Data(small.utf8), limit: 13)?.nodes == 14)
        #expect(AliasExpansion.bomb(in: Data(small.utf8), limit: 14) == nil)
        // What may be an alias is parsed; a `*` inside a word or alone is no alias's shape.
        #expect(AliasExpansion.mayHoldAlias(Data("a: [*x]".utf8)) && AliasExpansion.mayHoldAlias(Data("*x: 1".utf8)) && AliasExpansion.mayHoldAlias(Data("a: {b: 1,c: *x}".utf8)))
        #expect(!AliasExpansion.mayHoldAlias(Data("verbs: ['*']\nhosts: [\"*\"]\nx: a*b\ny: *\nz: (*)\n".utf8)))
        let components = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        #expect(!AliasExpansion.mayHoldAlias(Data(components.utf8)))
        #expect(AliasExpansion.count(387_420_489) == "387,420,489" && AliasExpansion.count(999) == "999" && AliasExpansion.count(1000) == "1,000")
    }

    /// The neighbours: a bomb in a patch file, in a folder without kustomization.yaml (Flux's
    /// generated kustomization), in a kustomization.yaml itself; each one problem at its line,
    /// and the Kustomization beside it built.
    @Test func bombsInPatchesPlainFoldersAndKustomizationFiles() async throws {
        let (text, line) = Self.bomb(name: "web")
        // resources (2 lines) in place of the ConfigMap's 3: `g` moves up to line 10.
        let kustomizationBomb = Self.bomb().text.replacingOccurrences(of: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l, namespace: default}\n", with: "resources:\n- cm.yaml\n")
        let fleet = try await Fleet.make([
            "clusters/c/patched.yaml": kustomization("patched", path: "./patched"),
            "clusters/c/plain.yaml": kustomization("plain", path: "./plain"),
            "clusters/c/kbomb.yaml": kustomization("kbomb", path: "./kbomb"),
            "clusters/c/fine.yaml": kustomization("fine", path: "./fine"),
            "patched/kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: patch.yaml\n",
            "patched/cm.yaml": configMap("web", namespace: "default"),
            "patched/patch.yaml": text,
            "plain/a.yaml": configMap("a", namespace: "default"),
            "plain/sub/bomb.yaml": text,
            "kbomb/kustomization.yaml": kustomizationBomb,
            "kbomb/cm.yaml": configMap("k", namespace: "default"),
            "fine/cm.yaml": configMap("fine", namespace: "default"),
        ])
        defer { fleet.remove() }
        let start = ContinuousClock.now
        let tree = try fleet.read()
        Self.elapsed("patch, plain folder, kustomization file", start)
        let bombs = tree.problems.filter { $0.title == "YAML alias bomb" }
        #expect(Set(bombs.compactMap(\.location)) == [
            SourceLocation(file: "patched/patch.yaml", line: line), SourceLocation(file: "plain/sub/bomb.yaml", line: line),
            SourceLocation(file: "kbomb/kustomization.yaml", line: 10),
        ], "\(tree.problems)")
        #expect(bombs.count == 3 && tree.problems.count == 3, "\(tree.problems)")
        #expect(tree.builds[.init(namespace: "flux-system", name: "patched")] == .notBuilt("patched/patch.yaml:\(line) is a YAML alias bomb"))
        #expect(tree.builds[.init(namespace: "flux-system", name: "plain")] == .notBuilt("plain/sub/bomb.yaml:\(line) is a YAML alias bomb"))
        #expect(tree.builds[.init(namespace: "flux-system", name: "kbomb")] == .notBuilt("kbomb/kustomization.yaml:10 is a YAML alias bomb"))
        #expect(tree.builds[.init(namespace: "flux-system", name: "fine")] == .built)
    }

    /// What is not a bomb to Flux is not reported: a file .sourceignore leaves out of the
    /// artifact (source-controller never hands it to kustomize-controller), and a generator's
    /// `files:` source (kustomize reads it as bytes, not YAML: `kubectl kustomize` ends on it at
    /// once, and so does fluxci). Many legitimate anchors (HelmRelease values) pass.
    @Test func ignoredFilesGeneratorSourcesAndLegitimateAnchorsPass() async throws {
        let (text, _) = Self.bomb()
        let release = """
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata:
              name: app
              namespace: default
            spec:
              interval: 1h
              chart:
                spec:
                  chart: app
                  sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}
              values:
                resources: &resources
                  requests: {cpu: 10m, memory: 64Mi}
                  limits: &limits {memory: 128Mi}
                probes: &probes
                  liveness: &probe {httpGet: {path: /healthz, port: &port 8080}}
                  readiness: *probe
                  startup: *probe
                sidecar:
                  resources: *resources
                  probes: *probes
                  port: *port
                worker:
                  <<: *probes
                  limits: *limits

            """
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "clusters/c/generated.yaml": kustomization("generated", path: "./generated"),
            "apps/.sourceignore": "drafts/\n",
            "apps/drafts/bomb.yaml": text,
            "apps/release.yaml": release,
            "apps/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec: {interval: 1h, url: https://charts.example.com}\n",
            "generated/kustomization.yaml": "configMapGenerator:\n- name: data\n  namespace: default\n  files:\n  - bomb.yaml\n",
            "generated/bomb.yaml": text,
        ])
        defer { fleet.remove() }
        let start = ContinuousClock.now
        let tree = try fleet.read()
        Self.elapsed("ignored file, generator source, anchors", start)
        #expect(tree.problems.filter { $0.level == .error }.isEmpty, "\(tree.problems)")
        #expect(tree.problem("YAML alias bomb") == nil && tree.problem("Kustomize build timed out") == nil)
        let apps = try #require(tree.objects[.init(namespace: "flux-system", name: "apps")])
        #expect(Set(apps.map(\.name)) == ["app", "charts"])
        let values = try #require(apps.first { $0.kind == "HelmRelease" }?.json["spec", "values"])
        #expect(values["sidecar", "probes", "startup", "httpGet", "port"]?.int == 8080)
        #expect(values["worker", "readiness", "httpGet", "path"]?.string == "/healthz")
        #expect(values["worker", "limits", "memory"]?.string == "128Mi")
        let generated = try #require(tree.objects[.init(namespace: "flux-system", name: "generated")]?.first)
        #expect(generated.json["data", "bomb.yaml"]?.string == text)

        // The real kustomize on the same folder: the generator source is data, the build ends.
        var tool = try #require(KustomizeTool(path: ProcessInfo.processInfo.environment["PATH"]))
        tool.buildTimeout = 60
        switch tool.build(fleet.directory.appendingPathComponent("generated").path) {
        case .success(let output): #expect(output.contains("bomb.yaml: |"), "\(output.prefix(300))")
        case .failure(let failure): Issue.record("\(tool.description) failed: \(failure.message)")
        }
    }

    /// The safety net: a kustomize that never ends is killed at `buildTimeout`, its Kustomization
    /// reported at spec.path with the timeout, and the rest of the tree built. (A stand-in
    /// `kustomize` sleeps for the folder holding never-ends.yaml and runs kubectl's for every other.)
    @Test func aBuildThatDoesNotEndIsStoppedAndReported() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/slow.yaml": kustomization("slow", path: "./slow"),
            "clusters/c/fast.yaml": kustomization("fast", path: "./fast"),
            "slow/never-ends.yaml": configMap("slow", namespace: "default"),
            "fast/cm.yaml": configMap("fast", namespace: "default"),
        ])
        defer { fleet.remove() }
        let bin = try TestPaths.temporaryDirectory("fluxci-slow-kustomize")
        defer { try? FileManager.default.removeItem(at: bin) }
        let script = bin.appendingPathComponent("kustomize")
        // `exec`, so that the process killed is the one sleeping (no child keeps the pipes open).
        try Data("#!/bin/sh\nif [ -f \"$4/never-ends.yaml\" ]; then exec sleep 120; fi\nshift\nexec kubectl kustomize \"$@\"\n".utf8).write(to: script)
        chmod(script.path, 0o755)
        var tool = try #require(KustomizeTool(path: bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")))
        #expect(!tool.isKubectl)
        // Long enough for the real kubectl kustomize of `fast` on a loaded CI machine (2 s was
        // not, at load 23); the slow build sleeps 120 s.
        tool.buildTimeout = 60  // a fast build must end within it even at load 30 (it took over 15 s once)
        let source = try await KustomizationBatchTests.source(fleet.directory)
        let artifact = try SourceArtifact(source)
        defer { artifact.remove() }
        // One build per Kustomization, so that the slow folder is built on its own.
        var reader = Reader(artifact: artifact, tool: tool, decrypt: nil)
        reader.batches = false
        defer { reader.finish() }
        let start = ContinuousClock.now
        let tree = try reader.read(cluster: "clusters/c", fluxSystem: "clusters/c/flux-system", decryptionSecrets: ["sops-age"])
        Self.elapsed("build timeout", start)
        #expect(tree.problems.count == 1, "\(tree.problems)")
        let problem = try #require(tree.problem("Kustomize build timed out"))
        #expect(problem.location == SourceLocation(file: "clusters/c/slow.yaml", line: 8))
        #expect(problem.message.contains("kustomize build --load-restrictor LoadRestrictionsNone ran longer than 60 s and was stopped"), "\(problem.message)")
        #expect(tree.builds[.init(namespace: "flux-system", name: "slow")] == .notBuilt("kustomize build timed out"))
        #expect(tree.builds[.init(namespace: "flux-system", name: "fast")] == .built)
    }
}
