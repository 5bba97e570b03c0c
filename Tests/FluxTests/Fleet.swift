import Actions
import Foundation
import Testing
import Git
import Kube
import TestSupport

@testable import Flux

/// A fleet committed to a real git repository, read through libgit2 as fluxci reads it.
struct Fleet {
    var directory: URL
    var repository: Repository
    var commit: String

    var source: GitTreeSource { GitTreeSource(repository: repository, commit: commit, branch: "main") }

    static let sync = FleetManifests.sync()

    /// `files` (path → text) plus a flux-system for `clusters/c`, unless `files` brings its own.
    static func make(_ files: [String: String], links: [String: String] = [:], bytes: [String: Data] = [:], commit: Bool = true) async throws -> Fleet {
        let directory = try TestPaths.temporaryDirectory("fluxci-fleet")
        var all = files
        if !files.keys.contains(where: { $0.contains("flux-system/") }) {
            all["clusters/c/flux-system/gotk-sync.yaml"] = sync
            all["clusters/c/flux-system/kustomization.yaml"] = FleetManifests.fluxSystemKustomization()
        }
        for (path, text) in all { try write(Data(text.utf8), to: directory.appendingPathComponent(path)) }
        for (path, data) in bytes { try write(data, to: directory.appendingPathComponent(path)) }
        for (path, target) in links {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(path).path, withDestinationPath: target)
        }
        try await git(["init", "--quiet", "--initial-branch=main", directory.path])
        try await git(["add", "-A"], in: directory)
        try await git(["commit", "--quiet", "-m", "fleet"], in: directory)
        let repository = try Repository.open(containing: directory.path)
        return Fleet(directory: directory, repository: repository, commit: try repository.head().commit)
    }

    static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// `schemas`: also check the built-in kinds with kubernetes-validate (scripts/test-tools installs it).
    func read(cluster: String = "clusters/c", secrets: Set<String> = ["sops-age"], decrypt: ClusterTreeReader.Decrypt? = nil, keys: DecryptionKeys? = nil, schemas: Bool = false) throws -> ClusterTree {
        let path = ProcessInfo.processInfo.environment["PATH"]
        return try ClusterTreeReader.read(
            source, clusterPath: cluster, decryptionSecrets: secrets, tools: KustomizeTool(path: path), decrypt: decrypt, keys: keys,
            schemas: schemas ? try #require(KubernetesSchemaTool(path: path), "kubernetes-validate is not on PATH (scripts/test-tools installs it)") : nil)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

// The manifests (`kustomization(…)`, `configMap(…)`, the sync pair) are TestSupport's FleetManifests.

extension ClusterTree {
    func problem(_ title: String) -> Annotation? { problems.first { $0.title == title } }
    func kustomization(_ id: String) -> FluxKustomization? { kustomizations.first { $0.id.description == id } }
    var errors: [Annotation] { problems.filter { $0.level == .error } }
}
