import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// What Flux accepts where `kubectl kustomize` on the files as written would not (or builds
/// differently): each is a false problem a gate must not report, with a warning at the line
/// that Flux reads differently from how it is written.
@Suite struct FluxLeniencyTests {
    /// kustomize-controller's generator reads the kustomization at spec.path leniently and writes
    /// it back: an unknown top-level field is dropped (a typo of `commonLabels` builds without the
    /// labels). Field names match ignoring case, as Go's JSON decoder matches them.
    @Test func anUnknownKustomizationFieldIsDroppedAsFluxDropsIt() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/prod"),
            "apps/prod/kustomization.yaml": "Resources:\n- cm.yaml\ncommonLabel:\n  team: a\nnamespace: prod\n",
            "apps/prod/cm.yaml": configMap("app"),
            "clusters/c/prod.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n",  // a fresh cluster has no prod
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        #expect(tree.builds[apps] == .built, "\(tree.problems)")
        let cm = try #require(tree.objects[apps]?.first { $0.kind == "ConfigMap" })
        #expect(cm.namespace == "prod", "the fields around the dropped one still apply")
        #expect(cm.json["metadata", "labels", "team"] == nil)
        let warning = try #require(tree.problem("Unknown kustomization field"))
        #expect(warning.level == .warning)
        #expect(warning.location == SourceLocation(file: "apps/prod/kustomization.yaml", line: 3))
        #expect(warning.message.contains("commonLabel"))
        #expect(tree.errors.isEmpty, "\(tree.errors)")

        // The same file is refused by kubectl kustomize: the difference is Flux's, not kustomize's.
        let kubectl = try await runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["kubectl", "kustomize", fleet.directory.appendingPathComponent("apps/prod").path])
        #expect(kubectl.status != 0 && kubectl.allOutput.contains("unknown field"), "\(kubectl.allOutput)")
    }

    /// Kustomizations are stored as v1: a v1beta2 object's patchesStrategicMerge and
    /// patchesJson6902 are pruned by the API server, so kustomize-controller never applies them.
    @Test(arguments: ["patchesStrategicMerge", "patchesJson6902"])
    func v1beta2PatchFieldsArePrunedNotApplied(_ field: String) async throws {
        let patch = field == "patchesStrategicMerge"
            ? "  patchesStrategicMerge:\n    - apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: app}\n      data: {a: patched}\n"
            : "  patchesJson6902:\n    - target: {version: v1, kind: ConfigMap, name: app}\n      patch: [{op: replace, path: /data/a, value: patched}]\n"
        let manifest = kustomization("apps", path: "./apps/prod", extra: patch)
            .replacingOccurrences(of: "kustomize.toolkit.fluxcd.io/v1\n", with: "kustomize.toolkit.fluxcd.io/v1beta2\n")
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": manifest,
            "apps/prod/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        #expect(tree.builds[apps] == .built, "\(tree.problems)")
        let cm = try #require(tree.objects[apps]?.first { $0.kind == "ConfigMap" })
        #expect(cm.json["data", "a"]?.string == "b")
        let warning = try #require(tree.problem("Field pruned by the API server"))
        #expect(warning.location == SourceLocation(file: "clusters/c/apps.yaml", line: 14))
        #expect(warning.message.contains("spec.\(field)"))
        #expect(tree.errors.isEmpty, "\(tree.errors)")
    }

    /// kustomize-controller joins spec.path to the artifact with securejoin, which holds `..`
    /// at the root: `./../../apps/prod` builds `apps/prod`.
    @Test func aPathClimbingAboveTheRootIsHeldThere() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./../../apps/prod"),
            "apps/prod/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        #expect(tree.builds[apps] == .built, "\(tree.problems)")
        #expect(tree.objects[apps]?.contains { $0.kind == "ConfigMap" && $0.name == "app" } == true)
        let warning = try #require(tree.problem("Path above the repository's root"))
        #expect(warning.location == SourceLocation(file: "clusters/c/apps.yaml", line: 8))
        #expect(warning.message.contains("builds ./apps/prod"))
        #expect(tree.errors.isEmpty, "\(tree.errors)")
    }

    /// A remote base is fetched by kustomize-controller from the cluster: one this machine cannot
    /// reach is a warning (not checked here), not a build failure blamed on Flux.
    @Test func aRemoteBaseThisMachineCannotFetchIsNotBlamedOnFlux() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources:\n- https://127.0.0.1:1/org/repo//kustomize?ref=v1\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        let warning = try #require(tree.problem("Remote resource not fetched"), "\(tree.problems)")
        #expect(warning.location == SourceLocation(file: "clusters/c/apps.yaml", line: 8))
        #expect(tree.builds[.init(namespace: "flux-system", name: "apps")] == .notBuilt("remote resource not fetched here"))
    }

    /// kustomize-controller's apply skips an object marked `kustomize.toolkit.fluxcd.io/reconcile:
    /// disabled` (or `ssa: ignore`, any case): on a fresh cluster such a Kustomization never
    /// exists, so its own problems are Flux's no more, and what depends on it waits forever.
    @Test(arguments: ["annotations:\n    kustomize.toolkit.fluxcd.io/reconcile: disabled", "labels:\n    kustomize.toolkit.fluxcd.io/ssa: Ignore"])
    func aKustomizationItsParentNeverAppliesIsNotBuiltAndItsDependentsWaitForever(_ marker: String) async throws {
        let disabled = kustomization("b", path: "./apps/nonexistent").replacingOccurrences(of: "  name: b\n", with: "  name: b\n  \(marker)\n")
        let fleet = try await Fleet.make([
            "clusters/c/b.yaml": disabled,
            "clusters/c/c.yaml": kustomization("c", path: "./apps/c", extra: "  dependsOn:\n    - name: b\n"),
            "apps/c/cm.yaml": configMap("c", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let b = FluxKustomization.Reference(namespace: "flux-system", name: "b")
        #expect(tree.builds[b] == .notBuilt("never applied (apply disabled)"))
        #expect(tree.problem("Kustomization path not found") == nil, "b is never applied: its path is not Flux's problem")
        #expect(tree.problem("Kustomization never applied")?.location == SourceLocation(file: "clusters/c/b.yaml", line: 1))
        let stuck = try #require(tree.problem("Depends on a Kustomization never applied"), "\(tree.problems)")
        #expect(stuck.level == .error)
        #expect(stuck.location == SourceLocation(file: "clusters/c/c.yaml", line: 15))
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    /// A folder whose every file .sourceignore leaves out stays in the artifact, empty:
    /// source-controller's archive writes the folder's entry (it skips only ignored paths and what
    /// is neither file nor folder), so kustomize-controller builds nothing and is Ready, applying
    /// nothing (tester t14 F8): a warning naming the rule, not "path not found". The folder itself
    /// ignored, or a folder holding only symbolic links, is the neighbour of each.
    @Test func aFolderEmptiedBySourceIgnoreNamesTheRule() async throws {
        let fleet = try await Fleet.make([
            ".sourceignore": "apps/ign/cm.yaml\napps/gone/\n",
            "clusters/c/ign.yaml": kustomization("ign", path: "./apps/ign"),
            "clusters/c/gone.yaml": kustomization("gone", path: "./apps/gone"),
            "clusters/c/links.yaml": kustomization("links", path: "./apps/links"),
            "apps/ign/cm.yaml": configMap("ign", namespace: "default"),
            "apps/gone/cm.yaml": configMap("gone", namespace: "default"),
            "apps/shared/cm.yaml": configMap("shared", namespace: "default"),
        ], links: ["apps/links/cm.yaml": "../shared/cm.yaml"])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let empty = tree.problems.filter { $0.title == "Kustomization applies nothing" }
        #expect(empty.count == 2, "\(tree.problems)")
        let ignored = try #require(empty.first { $0.location?.file == "clusters/c/ign.yaml" })
        #expect(ignored.level == .warning && ignored.location == SourceLocation(file: "clusters/c/ign.yaml", line: 8))
        #expect(ignored.message.contains("left out of the artifact by .sourceignore:1 (`apps/ign/cm.yaml`)"), "\(ignored.message)")
        #expect(empty.contains { $0.location?.file == "clusters/c/links.yaml" && $0.message.contains("only entries are symbolic links (apps/links/cm.yaml)") }, "\(empty)")
        // The folder itself ignored: not in the artifact, path not found.
        let gone = try #require(tree.problem("Kustomization path not found"), "\(tree.problems)")
        #expect(gone.location?.file == "clusters/c/gone.yaml" && gone.message.contains(".sourceignore:2"), "\(gone.message)")
        #expect(gone.message.components(separatedBy: " at main@").count <= 2, "the revision once: \(gone.message)")
    }
}
