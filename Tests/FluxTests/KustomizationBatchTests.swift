import Actions
import Foundation
import Git
import Kube
import Testing
import TestSupport

@testable import Flux

/// Several Kustomizations built in one kustomize run (KustomizationBatch) give each exactly what
/// its own `kubectl kustomize --load-restrictor LoadRestrictionsNone` run gives: the objects in
/// order, each at the same origin file:line, the same generator and kustomization files; and
/// where that cannot be proven, the batch is refused and each is built alone.
@Suite struct KustomizationBatchTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/Fleets")

    /// Every fixture fleet of Tests/Fixtures/Fleets (the good one and each broken variant): the
    /// whole tree read with batches equals the tree read with one build per Kustomization
    /// (Kustomizations, build results, objects with file:line in order, files, SOPS files, problems).
    @Test(arguments: Self.fixtureCases())
    func aFixtureTreeIsTheSameWithBatches(_ fixtureCase: String) async throws {
        let parts = fixtureCase.split(separator: "/").map(String.init)
        let directory = try Self.checkout(fixture: parts[0], variant: parts.count > 1 ? parts[1] : nil)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("\(parts[0])/expected.json"))) as? [String: Any]
        let cluster = try #require(expected?["cluster"] as? String)
        try await Self.compareTrees(directory, cluster: cluster, fixtureCase, objectsExpected: parts.count == 1)
        guard parts.count == 1 else { return }
        // Every Kustomization the good fleet builds from its root source, in one batch where the
        // guards allow it, against its own build.
        let (builder, artifact, scratch) = try await Self.builder(directory)
        defer { KustomizationBuild.removeTree(scratch.path); artifact.remove() }
        let tree = try ClusterTreeReader.read(try await Self.source(directory), clusterPath: cluster, decryptionSecrets: ["sops-age", "sops-gpg"], tools: builder.tool)
        let files = artifact.files(ignore: tree.gitRepository.json["spec", "ignore"]?.string)
        let requests = tree.kustomizations.filter { tree.builds[$0.id] == .built && $0.source.name == tree.gitRepository.name && $0.id != tree.rootKustomization.id }
            .map { KustomizationBuild.Request(kustomization: $0, files: files) }
        let batched = builder.runBatch(requests)
        // home-lab and multi-tenancy are refused by the guards and built one by one.
        #expect((batched != nil) == ["cloud-env", "kustomize-helm", "nested-flux-system"].contains(fixtureCase), "\(fixtureCase)")
        for (request, result) in zip(requests, batched ?? []) {
            Self.expectEqual(result, builder.run(request, index: 0), "\(fixtureCase) \(request.kustomization.path)", origins: Origins(root: artifact.root))
        }
    }

    /// The plan benchmark's fleet (scripts/make-bench-fleet: 59 apps, half of them overlays
    /// patching a base with `namespace:`): its apps are built in one batch, each equal to its own
    /// build; the whole tree equals the tree built one by one.
    @Test func theBenchFleetIsBuiltInOneBatchAndEqualsOneBuildPerKustomization() async throws {
        let parent = try TestPaths.temporaryDirectory("fluxci-bench-fleet")
        defer { try? FileManager.default.removeItem(at: parent) }
        let directory = parent.appendingPathComponent("fleet")
        let made = try await runProcess(TestPaths.packageRoot.appendingPathComponent("scripts/make-bench-fleet"), [directory.path])
        #expect(made.status == 0, "\(made.standardError)")
        let (builder, artifact, scratch) = try await Self.builder(directory)
        defer { KustomizationBuild.removeTree(scratch.path); artifact.remove() }
        let files = artifact.files(ignore: nil)
        var requests: [KustomizationBuild.Request] = []
        for file in files.sorted() where file.hasPrefix("clusters/bench/local/app-") {
            let text = try String(contentsOf: artifact.root.appendingPathComponent(file), encoding: .utf8)
            for object in try Manifest.objects(text) { if let kustomization = FluxKustomization(object) { requests.append(.init(kustomization: kustomization, files: files)) } }
        }
        #expect(requests.count == 59)
        let batched = try #require(builder.runBatch(requests), "the bench fleet's apps are not built in one batch")
        for (request, result) in zip(requests, batched) {
            Self.expectEqual(result, builder.run(request, index: 0), request.kustomization.path, origins: Origins(root: artifact.root))
        }
        try await Self.compareTrees(directory, cluster: "clusters/bench/local", "bench", objectsExpected: true)
    }

    /// A batch is refused wherever kustomize's top-level steps could mix the Kustomizations, and
    /// each is then built alone: a name reference one Kustomization's generator would rename in
    /// another (same namespace), an object both produce, vars, a base another Kustomization
    /// rewrites, a repository that asks for origin annotations itself. Disjoint Kustomizations
    /// are batched.
    @Test func aBatchIsRefusedWhereKustomizationsCouldMix() async throws {
        func app(_ name: String, namespace: String, extra: String = "", reference: String? = nil) -> [String: String] {
            [
                "apps/\(name)/kustomization.yaml": "namespace: \(namespace)\nresources: [deployment.yaml]\n\(extra)",
                "apps/\(name)/deployment.yaml": """
                    apiVersion: apps/v1
                    kind: Deployment
                    metadata: {name: \(name)}
                    spec:
                      template:
                        spec:
                          containers:
                            - name: app
                              image: nginx
                              envFrom: [{configMapRef: {name: \(reference ?? name + "-settings")}}]
                    """,
            ]
        }
        let generator = "configMapGenerator:\n  - name: shared\n    literals: [A=1]\n"
        let cases: [(name: String, files: [String: String], batched: Bool)] = [
            ("disjoint", app("a", namespace: "a").merging(app("b", namespace: "b")) { $1 }, true),
            ("generator renamed for the other", app("a", namespace: "same", extra: generator).merging(app("b", namespace: "same", reference: "shared")) { $1 }, false),
            ("generator in another namespace", app("a", namespace: "a", extra: generator).merging(app("b", namespace: "b", reference: "shared")) { $1 }, true),
            ("same object twice", app("a", namespace: "same").merging(["apps/b/kustomization.yaml": "namespace: same\nresources: [../a/deployment.yaml]\n"]) { $1 }, false),
            ("vars", app("a", namespace: "a", extra: "vars:\n  - name: X\n    objref: {kind: Deployment, name: a, apiVersion: apps/v1}\n").merging(app("b", namespace: "b")) { $1 }, false),
            ("origin annotations asked for", app("a", namespace: "a", extra: "buildMetadata: [originAnnotations]\n").merging(app("b", namespace: "b")) { $1 }, false),
        ]
        for testCase in cases {
            let fleet = try await Fleet.make(testCase.files)
            defer { fleet.remove() }
            let (builder, artifact, scratch) = try await Self.builder(fleet.directory)
            defer { KustomizationBuild.removeTree(scratch.path); artifact.remove() }
            let files = artifact.files(ignore: nil)
            let requests = ["a", "b"].map { name in
                KustomizationBuild.Request(
                    kustomization: FluxKustomization(try! Manifest.objects(kustomization(name, path: "./apps/\(name)"))[0])!, files: files)
            }
            let batched = builder.runBatch(requests)
            #expect((batched != nil) == testCase.batched, "\(testCase.name)")
            for (request, result) in zip(requests, batched ?? []) {
                Self.expectEqual(result, builder.run(request, index: 0), "\(testCase.name): \(request.kustomization.path)", origins: Origins(root: artifact.root))
            }
        }
        // A Kustomization reading a folder another one writes its Flux fields into: the base built
        // with targetNamespace, the overlay over the base as the repository has it.
        let fleet = try await Fleet.make(app("base", namespace: "base").merging(["apps/overlay/kustomization.yaml": "resources: [../base]\nnamePrefix: o-\n"]) { $1 })
        defer { fleet.remove() }
        let (builder, artifact, scratch) = try await Self.builder(fleet.directory)
        defer { KustomizationBuild.removeTree(scratch.path); artifact.remove() }
        let files = artifact.files(ignore: nil)
        let base = FluxKustomization(try Manifest.objects(kustomization("base", path: "./apps/base", extra: "  targetNamespace: elsewhere"))[0])!
        let overlay = FluxKustomization(try Manifest.objects(kustomization("overlay", path: "./apps/overlay"))[0])!
        #expect(builder.runBatch([base, overlay].map { .init(kustomization: $0, files: files) }) == nil)
    }

    // MARK: Helpers

    static func fixtureCases() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path).sorted()) ?? []
        return names.flatMap { name -> [String] in
            let variants = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent("\(name)/variants").path).sorted()) ?? []
            return [name] + variants.map { "\(name)/\($0)" }
        }
    }

    /// The fixture's fleet copied with the real Flux components where its expected.json says, and
    /// the variant's files over it.
    static func checkout(fixture: String, variant: String?) throws -> URL {
        let parent = try TestPaths.temporaryDirectory("fluxci-batch-fixture")
        let checkout = parent.appendingPathComponent("fleet")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("\(fixture)/fleet"), to: checkout)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("\(fixture)/expected.json"))) as? [String: Any]
        for path in expected?["components"] as? [String] ?? [] {
            try FileManager.default.copyItem(at: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), to: checkout.appendingPathComponent(path))
        }
        if let variant {
            let files = fixtures.appendingPathComponent("\(fixture)/variants/\(variant)")
            for case let relative as String in FileManager.default.enumerator(atPath: files.path)! {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: files.appendingPathComponent(relative).path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                let target = checkout.appendingPathComponent(relative)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: files.appendingPathComponent(relative), to: target)
            }
        }
        return checkout
    }

    static func source(_ directory: URL) async throws -> GitTreeSource {
        if !FileManager.default.fileExists(atPath: directory.appendingPathComponent(".git").path) {
            try await git(["init", "--quiet", "--initial-branch=main", directory.path])
            try await git(["add", "-A"], in: directory)
            try await git(["-c", "user.name=batch", "-c", "user.email=batch@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: directory)
        }
        let repository = try Repository.open(containing: directory.path)
        return GitTreeSource(repository: repository, commit: try repository.head().commit, branch: "main")
    }

    static func builder(_ directory: URL) async throws -> (KustomizationBuild, SourceArtifact, URL) {
        let artifact = try SourceArtifact(try await source(directory))
        let scratch = try TestPaths.temporaryDirectory("fluxci-batch-builds")
        let tool = try #require(KustomizeTool(path: ProcessInfo.processInfo.environment["PATH"]))
        return (KustomizationBuild(artifact: artifact, tool: tool, scratch: scratch), artifact, scratch)
    }

    /// The tree of `cluster` read twice from one artifact: with batches and one build per Kustomization.
    static func compareTrees(_ directory: URL, cluster: String, _ label: String, objectsExpected: Bool) async throws {
        let source = try await source(directory)
        let artifact = try SourceArtifact(source)
        defer { artifact.remove() }
        let fluxSystem = try ClusterTreeReader.findFluxSystem(source, cluster: cluster)
        let tool = try #require(KustomizeTool(path: ProcessInfo.processInfo.environment["PATH"]))
        func read(batches: Bool) -> Result<ClusterTree, Annotation> {
            var reader = Reader(artifact: artifact, tool: tool, decrypt: nil)
            reader.batches = batches
            defer { reader.finish() }
            return Result { () throws(Annotation) in try reader.read(cluster: cluster, fluxSystem: fluxSystem, decryptionSecrets: ["sops-age", "sops-gpg"]) }
        }
        switch (read(batches: true), read(batches: false)) {
        case (.failure(let batched), .failure(let alone)):
            #expect(batched == alone, "\(label)")
        case (.success(let batched), .success(let alone)):
            #expect(batched.kustomizations.map(\.id) == alone.kustomizations.map(\.id), "\(label)")
            #expect(batched.builds == alone.builds, "\(label)")
            #expect(batched.problems == alone.problems, "\(label): \(batched.problems) vs \(alone.problems)")
            #expect(batched.files == alone.files, "\(label)")
            #expect(batched.sopsFiles == alone.sopsFiles, "\(label)")
            var compared = 0
            for id in alone.kustomizations.map(\.id) {
                let mine = batched.objects[id] ?? [], theirs = alone.objects[id] ?? []
                #expect(mine.count == theirs.count, "\(label) \(id)")
                for (a, b) in zip(mine, theirs) {
                    #expect(a == b && a.json.jsonText == b.json.jsonText, "\(label) \(id): \(a.file ?? ""):\(a.line ?? 0) vs \(b.file ?? ""):\(b.line ?? 0)\n\(a.json.jsonText)\n\(b.json.jsonText)")
                    compared += 1
                }
            }
            #expect(compared > 0 || !objectsExpected, "\(label): no object compared")
        default:
            Issue.record("\(label): one read failed and the other did not")
        }
    }

    /// One batch result against the Kustomization's own build: the same documents in the same
    /// order (the objects without the origin annotation, the origin's file:line), the same
    /// generator and kustomization files.
    static func expectEqual(
        _ batched: Result<KustomizationBuild.Output, KustomizationBuild.Failure>, _ alone: Result<KustomizationBuild.Output, KustomizationBuild.Failure>,
        _ label: String, origins: Origins
    ) {
        guard case .success(let mine) = batched, case .success(let theirs) = alone else {
            Issue.record("\(label): a build failed: \(batched) / \(alone)")
            return
        }
        func stripped(_ json: JSONValue) -> String {
            var json = json
            if case .object(var metadata)? = json["metadata"], case .object(var annotations)? = json["metadata", "annotations"] {
                annotations.removeAll { $0.key == Origins.annotation }
                metadata = metadata.map { $0.key == "annotations" ? ($0.key, .object(annotations)) : $0 }
                json.set("metadata", .object(metadata))
            }
            return json.jsonText
        }
        #expect(mine.documents.count == theirs.documents.count, "\(label)")
        let directory = theirs.written.file.contains("/") ? RepositoryPath.parent(theirs.written.file) : ""
        for (a, b) in zip(mine.documents, theirs.documents) {
            #expect(stripped(a.object) == stripped(b.object), "\(label)\n\(stripped(a.object))\n\(stripped(b.object))")
            let whereA = origins.locate(a.object, origin: a.origin ?? "", directory: directory, kustomizationFile: mine.written.file)
            let whereB = origins.locate(b.object, origin: b.origin ?? "", directory: directory, kustomizationFile: theirs.written.file)
            #expect(whereA.file == whereB.file && whereA.line == whereB.line && whereB.line != nil, "\(label): \(whereA.file):\(whereA.line ?? 0) vs \(whereB.file):\(whereB.line ?? 0)")
            // The text substituted by postBuild: the same but for the origin annotation's path.
            let text = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("      path: ") && !$0.hasPrefix("      configuredIn: ") } }
            #expect(text(a.text) == text(b.text), "\(label)")
        }
        #expect(mine.generatorFiles.map { "\($0.file) \($0.decrypted) \($0.declaredIn) \($0.line ?? 0)" } == theirs.generatorFiles.map { "\($0.file) \($0.decrypted) \($0.declaredIn) \($0.line ?? 0)" }, "\(label)")
        #expect(mine.kustomizationFiles == theirs.kustomizationFiles, "\(label)")
        #expect(mine.written.file == theirs.written.file && mine.written.generated == theirs.written.generated, "\(label)")
    }
}
