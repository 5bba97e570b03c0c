import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// flux-system read once (issue 13, tester t8): in bootstrap's layout the cluster folder's build
/// reads flux-system as one resource, so flux-system's objects are taken from it and
/// gotk-components.yaml (13,000 lines, about 0.7 s of kustomize's CPU) is not built a second
/// time; the objects are those of flux-system's own build. A stand-in `kustomize` logs the folder
/// of every run and runs kubectl's.
@Suite struct FluxSystemInRootTests {
    /// The folders kustomize was run on (relative to each build's workspace), and the tree.
    static func read(_ fleet: Fleet) throws -> (runs: [String], tree: ClusterTree) {
        let bin = try TestPaths.temporaryDirectory("fluxci-logging-kustomize")
        defer { try? FileManager.default.removeItem(at: bin) }
        let log = bin.appendingPathComponent("runs.log")
        try Data("#!/bin/sh\necho \"$4\" >> '\(log.path)'\nshift\nexec kubectl kustomize \"$@\"\n".utf8).write(to: bin.appendingPathComponent("kustomize"))
        chmod(bin.appendingPathComponent("kustomize").path, 0o755)
        let tool = try #require(KustomizeTool(path: bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")))
        let tree = try ClusterTreeReader.read(fleet.source, clusterPath: "clusters/c", decryptionSecrets: ["sops-age"], tools: tool)
        let runs = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).split(separator: "\n").map { line in
            // `…/fluxci-builds-XXXX/build-1/clusters/c` → `clusters/c`
            line.firstMatch(of: /\/build-\d+(?:-batch)?(?:\/(.*))?$/).map { String($0.1 ?? "") } ?? String(line)
        }
        return (runs, tree)
    }

    static func files(clusterKustomization: String? = nil) throws -> [String: String] {
        let components = try String(contentsOf: TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        var files = [
            "clusters/c/flux-system/gotk-components.yaml": components,
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(["gotk-components.yaml", "gotk-sync.yaml"]),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/cm.yaml": configMap("app", namespace: "default"),
        ]
        if let clusterKustomization { files["clusters/c/kustomization.yaml"] = clusterKustomization }
        return files
    }

    @Test func gotkComponentsAreBuiltOnceWithTheObjectsOfTheirOwnBuild() async throws {
        let fleet = try await Fleet.make(try Self.files())
        defer { fleet.remove() }
        let (runs, tree) = try Self.read(fleet)
        #expect(tree.problems.filter { $0.level == .error }.isEmpty, "\(tree.problems)")
        // The cluster folder once (it reads flux-system), apps once; flux-system never alone.
        #expect(runs.sorted() == ["apps", "clusters/c"], "\(runs)")
        #expect(tree.components.count > 20)
        #expect(tree.gitRepository.file == "clusters/c/flux-system/gotk-sync.yaml")

        // flux-system's own build gives the same objects, files and lines, in the same order.
        let (builder, artifact, scratch) = try await KustomizationBatchTests.builder(fleet.directory)
        defer { artifact.remove(); try? FileManager.default.removeItem(at: scratch) }
        let written = try #require(try Manifest.objects(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: flux-system, namespace: flux-system}\nspec: {path: ./clusters/c/flux-system}\n").first)
        let system = try #require(FluxKustomization(written))
        guard case .success(let output) = builder.run(.init(kustomization: system, files: artifact.files(ignore: nil)), index: 0) else {
            Issue.record("flux-system does not build alone")
            return
        }
        let reader = Reader(artifact: artifact, tool: builder.tool, decrypt: nil)
        defer { reader.finish() }
        let alone = output.documents.map { reader.place($0.object, origin: $0.origin, keepsOrigins: output.written.keepsOrigins, directory: "clusters/c/flux-system", written: output.written).object }
        #expect(tree.components == alone.filter { !ClusterTreeReader.isSync($0) })
        #expect(alone.contains(tree.gitRepository))
    }

    /// A cluster folder with its own kustomization.yaml may transform flux-system's objects (a
    /// namespace, labels, patches): flux-system is then built alone, as before.
    @Test func aClusterKustomizationBuildsFluxSystemAlone() async throws {
        let fleet = try await Fleet.make(try Self.files(clusterKustomization: "resources: [flux-system, apps.yaml]\ncommonLabels: {team: a}\n"))
        defer { fleet.remove() }
        let (runs, tree) = try Self.read(fleet)
        #expect(tree.problems.filter { $0.level == .error }.isEmpty, "\(tree.problems)")
        #expect(runs.sorted() == ["apps", "clusters/c", "clusters/c/flux-system"], "\(runs)")
        // flux-system's objects as bootstrap applies them: without the cluster's label.
        #expect(tree.components.allSatisfy { $0.json["metadata", "labels", "team"] == nil })
    }
}
