import Actions
import Foundation
import Git
import Kube
import Testing
import TestSupport

@testable import Flux

/// What the cluster's GitRepository puts into its artifact beyond the commit's files (tester t3
/// F23): submodules with `spec.recurseSubmodules`, and `spec.include`. Real git repositories
/// with a real gitlink, built with the real `kubectl kustomize`.
@Suite struct SourceContentTests {
    /// The sync pair with `extra` lines added to the GitRepository's spec (after `ref:`, line 9).
    static func sync(_ extra: String) -> String {
        FleetManifests.sync().replacingOccurrences(of: "  ref: {branch: main}\n", with: "  ref: {branch: main}\n" + extra)
    }

    /// A fleet whose commit has a submodule (a gitlink) at vendor/platform.
    static func fleet(_ files: [String: String]) async throws -> Fleet {
        let fleet = try await Fleet.make(files)
        _ = try await git(["update-index", "--add", "--cacheinfo", "160000,\(fleet.commit),vendor/platform"], in: fleet.directory)
        _ = try await git(["commit", "--quiet", "-m", "submodule"], in: fleet.directory)
        let repository = try Repository.open(containing: fleet.directory.path)
        return Fleet(directory: fleet.directory, repository: repository, commit: try repository.head().commit)
    }

    static let include = "  include:\n    - repository: {name: shared}\n      fromPath: deploy\n      toPath: shared\n"
    static let shared = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: shared, namespace: flux-system}\nspec: {interval: 1m, url: https://example.com/shared.git, ref: {branch: main}}\n"

    /// With recurseSubmodules and an include, the paths in them are in Flux's artifact: listed as
    /// not built with a warning each, not as missing paths. The include is defined in the
    /// flux-system folder, whose whole build a bootstrap applies first (`flux bootstrap`'s
    /// "applying sync manifests"; tester t12 F13): no error, and fluxci's bootstrap applies it
    /// before the root Kustomization.
    @Test func pathsInSubmodulesAndIncludesAreNotBuiltHere() async throws {
        let fleet = try await Self.fleet([
            "clusters/c/flux-system/gotk-sync.yaml": Self.sync("  recurseSubmodules: true\n" + Self.include),
            "clusters/c/flux-system/shared.yaml": Self.shared,
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(["gotk-sync.yaml", "shared.yaml"]),
            "clusters/c/platform.yaml": kustomization("platform", path: "./vendor/platform/deploy"),
            "clusters/c/fromshared.yaml": kustomization("fromshared", path: "./shared/apps"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        let plan = BootstrapPlan(tree: tree, url: "https://example.com/fleet.git", revision: Revision(branch: "main", commit: fleet.commit), token: nil)
        let order = plan.objects.map(\.reference.description)
        let shared = try #require(order.firstIndex(of: "GitRepository/flux-system/shared"), "\(order)")
        #expect(shared < (order.firstIndex(of: "Kustomization/flux-system/flux-system") ?? -1), "\(order)")
        #expect(plan.otherSync.map(\.name) == ["shared"])
        let submodule = try #require(tree.problem("Path in a submodule"))
        #expect(submodule.level == .warning && submodule.location == SourceLocation(file: "clusters/c/platform.yaml", line: 8))
        let included = try #require(tree.problem("Path in an included repository"))
        #expect(included.location == SourceLocation(file: "clusters/c/fromshared.yaml", line: 8))
        #expect(included.message.contains("included GitRepository shared"), "\(included.message)")
        #expect(tree.builds[FluxKustomization.Reference(namespace: "flux-system", name: "platform")] == .notBuilt("in the submodule vendor/platform"))
    }

    /// Without recurseSubmodules the submodule's path is not in the artifact (an error that says
    /// to set it); an include nothing defines, or one only a Kustomization applies (which needs
    /// this artifact first), keeps the source from ever having an artifact (an error at the entry).
    @Test func aSubmoduleWithoutRecursionAndUnresolvableIncludesAreErrors() async throws {
        let fleet = try await Self.fleet([
            "clusters/c/flux-system/gotk-sync.yaml": Self.sync(Self.include.replacingOccurrences(of: "name: shared", with: "name: sharde")),
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(),
            "clusters/c/platform.yaml": kustomization("platform", path: "./vendor/platform/deploy"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let path = try #require(tree.problem("Kustomization path not found"))
        #expect(path.location == SourceLocation(file: "clusters/c/platform.yaml", line: 8))
        #expect(path.message.contains("git submodule vendor/platform") && path.fix?.contains("recurseSubmodules: true") == true, "\(path)")
        let unknown = try #require(tree.problem("Unknown include"))
        #expect(unknown.level == .error && unknown.location == SourceLocation(file: "clusters/c/flux-system/gotk-sync.yaml", line: 11), "\(unknown)")
        #expect(unknown.message.contains("could not get resource for include 'sharde'"))

        let deadlocked = try await Self.fleet([
            "clusters/c/flux-system/gotk-sync.yaml": Self.sync(Self.include),
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(),
            "clusters/c/shared.yaml": Self.shared,
        ])
        defer { deadlocked.remove() }
        let second = try deadlocked.read()
        let deadlock = try #require(second.problem("Include deadlock"))
        #expect(deadlock.location == SourceLocation(file: "clusters/c/flux-system/gotk-sync.yaml", line: 11))
        #expect(deadlock.message.contains("which the Kustomization flux-system/flux-system applies"), "\(deadlock.message)")
        #expect(second.problem("Unknown include") == nil)
    }
}
