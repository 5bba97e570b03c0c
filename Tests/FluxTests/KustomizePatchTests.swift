import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Kustomize patches that fail or select nothing, reported at the patch entry (tester t9 F8,
/// F8b), every case built with the real kubectl kustomize: a strategic-merge patch whose object
/// was renamed (and its neighbours: another namespace, a JSON 6902 operation on a missing path,
/// an unreadable patch, a JSON patch without target, a failing patch in a base reached through
/// an overlay, one in the Flux Kustomization's spec.patches) is an error at the entry that lists
/// it; a targeted patch that selects nothing (by name, anchored regex, labelSelector, in a base,
/// in spec.patches) a warning at its target line, naming the nearest object. Each selecting
/// neighbour proves the probe sees what kustomize selects, and the fixture fleets get no warning.
@Suite struct KustomizePatchTests {
    /// `clusters/c/apps.yaml` builds `apps/overlay` (an overlay of `apps/base`); `extra` goes into
    /// its spec (line 14 on).
    static func fleet(overlay: String, base: String = "resources: [settings.yaml, release.yaml]\n", extra: String = "", more: [String: String] = [:]) async throws -> Fleet {
        var files: [String: String] = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay", extra: extra),
            "apps/overlay/kustomization.yaml": overlay,
            "apps/base/kustomization.yaml": base,
            "apps/base/settings.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: settings
                  namespace: apps
                  labels: {app: web}
                data: {mode: base}
                """,
            "apps/base/release.yaml": """
                apiVersion: helm.toolkit.fluxcd.io/v2
                kind: HelmRelease
                metadata:
                  name: podinfo-v2
                  namespace: apps
                spec:
                  interval: 10m
                  chart:
                    spec:
                      chart: podinfo
                      sourceRef: {kind: HelmRepository, name: podinfo}
                """,
            "apps/base/repository.yaml": """
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: HelmRepository
                metadata:
                  name: podinfo
                  namespace: apps
                spec:
                  url: https://stefanprodan.github.io/podinfo
                """,
        ]
        for (path, text) in more { files[path] = text }
        return try await Fleet.make(files)
    }

    static let values = """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
          namespace: apps
        spec:
          values: {replicaCount: 2}
        """

    static func patchProblems(_ tree: ClusterTree) -> [Annotation] {
        tree.problems.filter { $0.title == "Kustomize build failed" || $0.title == "Patch selects nothing" }
    }

    static func site(_ problem: Annotation?) -> String {
        problem?.location.map { "\($0.file):\($0.line ?? 0)" } ?? "none"
    }

    static func read(_ fleet: Fleet) throws -> ClusterTree {
        defer { fleet.remove() }
        return try fleet.read()
    }

    // MARK: Build errors at the patch

    @Test func aStrategicMergePatchWhoseObjectWasRenamedIsAnErrorAtItsEntry() async throws {
        let tree = try Self.read(try await Self.fleet(
            overlay: "resources:\n  - ../base\npatches:\n  - path: values.yaml\n", more: ["apps/overlay/values.yaml": Self.values]))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.level == .error)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("names HelmRelease apps/podinfo, but no such object is in what apps/overlay/kustomization.yaml builds"), "\(problem.message)")
        #expect(problem.message.contains("the nearest is HelmRelease apps/podinfo-v2 (apps/base/release.yaml:4)"), "\(problem.message)")
        #expect(problem.fix?.contains("Rename the patch's metadata.name to podinfo-v2 (apps/overlay/values.yaml:4)") == true, "\(problem.fix ?? "")")
        #expect(tree.builds[tree.kustomization("flux-system/apps")!.id] == .notBuilt("a patch does not apply"))
    }

    @Test func aStrategicMergePatchInAnotherNamespaceSaysWhichNamespace() async throws {
        let patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: web\ndata: {mode: overlay}\n"
        let tree = try Self.read(try await Self.fleet(
            overlay: "resources:\n  - ../base\npatches:\n  - path: settings.yaml\n", more: ["apps/overlay/settings.yaml": patch]))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("names ConfigMap web/settings"), "\(problem.message)")
        // At the line the namespace is written on (tester t11 F4), not the name's.
        #expect(problem.fix?.contains("Set the patch's metadata.namespace to apps (apps/overlay/settings.yaml:5)") == true, "\(problem.fix ?? "")")
    }

    /// tester t11 F4: name and namespace both differ from the nearest object; a fix naming one
    /// field would still match nothing. Applying the fix it gives makes the build pass.
    @Test func aStrategicMergePatchWrongInNameAndNamespaceNamesBothFields() async throws {
        let patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setting\n  namespace: web\ndata: {mode: overlay}\n"
        let overlay = "resources:\n  - ../base\npatches:\n  - path: settings.yaml\n"
        let problem = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: overlay, more: ["apps/overlay/settings.yaml": patch]))).first)
        #expect(problem.level == .error)
        #expect(problem.fix?.contains("Set the patch's metadata.name to settings (apps/overlay/settings.yaml:4) and its metadata.namespace to apps (apps/overlay/settings.yaml:5)") == true, "\(problem.fix ?? "")")
        // The fix, applied: no patch problem is left.
        let fixed = patch.replacingOccurrences(of: "name: setting\n", with: "name: settings\n").replacingOccurrences(of: "namespace: web", with: "namespace: apps")
        #expect(Self.patchProblems(try Self.read(try await Self.fleet(overlay: overlay, more: ["apps/overlay/settings.yaml": fixed]))).isEmpty)
        // Without metadata.namespace in the patch, the fix says where to add it: by the name.
        let unnamespaced = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setting\ndata: {mode: overlay}\n"
        let other = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: overlay, more: ["apps/overlay/settings.yaml": unnamespaced]))).first)
        #expect(other.fix?.contains("Set the patch's metadata.name to settings (apps/overlay/settings.yaml:4) and its metadata.namespace to apps (apps/overlay/settings.yaml:4)") == true, "\(other.fix ?? "")")
    }

    /// Tester t10 F8: where a patch, not the HelmRelease's own file, sets its chart version or
    /// values, for the wait's annotation of a version helm-controller cannot find. The patch
    /// applied last wins: the Flux Kustomization's spec.patches over the overlay's.
    @Test func aHelmReleaseFieldAPatchWritesIsRecordedAtThePatchAppliedLast() async throws {
        let version = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo-v2\n  namespace: apps\nspec:\n  chart:\n    spec:\n      version: 6.6.0\n"
        let overlay = "resources:\n  - ../base\npatches:\n  - path: version.yaml\n"
        let release = ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "apps", name: "podinfo-v2")
        let patched = try Self.read(try await Self.fleet(overlay: overlay, more: ["apps/overlay/version.yaml": version]))
        #expect(patched.patchedFields[release]?["spec.chart.spec.version"] == SourceLocation(file: "apps/overlay/version.yaml", line: 9), "\(patched.patchedFields)")
        #expect(patched.patchedFields[release]?["spec.values"] == nil)
        let specPatch = "  patches:\n    - target: {kind: HelmRelease}\n      patch: |\n        - op: replace\n          path: /spec/chart/spec/version\n          value: 6.7.0\n"
        let both = try Self.read(try await Self.fleet(overlay: overlay, extra: specPatch, more: ["apps/overlay/version.yaml": version]))
        #expect(both.patchedFields[release]?["spec.chart.spec.version"] == SourceLocation(file: "clusters/c/apps.yaml", line: 19), "\(both.patchedFields)")
        // A spec.patches target that selects another HelmRelease writes nothing of this one.
        let other = specPatch.replacingOccurrences(of: "{kind: HelmRelease}", with: "{kind: HelmRelease, name: frontend}")
        let elsewhere = try Self.read(try await Self.fleet(overlay: overlay, extra: other, more: ["apps/overlay/version.yaml": version]))
        #expect(elsewhere.patchedFields[release]?["spec.chart.spec.version"] == SourceLocation(file: "apps/overlay/version.yaml", line: 9))
        let unpatched = try Self.read(try await Self.fleet(overlay: "resources:\n  - ../base\n"))
        #expect(unpatched.patchedFields.isEmpty, "\(unpatched.patchedFields)")
        // Two patches of one list setting the version (tester t15 F13): the later one's value is
        // what the cluster gets, whichever file comes first.
        let second = version.replacingOccurrences(of: "6.6.0", with: "6.7.0")
        for (first, last) in [("version.yaml", "later.yaml"), ("later.yaml", "version.yaml")] {
            let both = "resources:\n  - ../base\npatches:\n  - path: \(first)\n  - path: \(last)\n"
            let tree = try Self.read(try await Self.fleet(overlay: both, more: ["apps/overlay/version.yaml": version, "apps/overlay/later.yaml": second]))
            #expect(tree.patchedFields[release]?["spec.chart.spec.version"] == SourceLocation(file: "apps/overlay/\(last)", line: 9), "\(first) then \(last): \(tree.patchedFields)")
        }
    }

    @Test func aJSON6902OperationOnAMissingPathIsAnErrorAtItsEntry() async throws {
        let overlay = """
            resources:
              - ../base
            patches:
              - target: {kind: ConfigMap, name: settings}
                patch: |
                  - op: replace
                    path: /data/missing/deeper
                    value: x

            """
        let tree = try Self.read(try await Self.fleet(overlay: overlay))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(problem.level == .error)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("`replace /data/missing/deeper`"), "\(problem.message)")
        #expect(problem.message.contains("(kind ConfigMap, name settings)"), "\(problem.message)")
        // The parent /data/missing is missing too: op add would fail the same (tester t11 F2).
        #expect(problem.message.contains("ConfigMap apps/settings (apps/base/settings.yaml:4) has no /data/missing, and replace creates only the last key"), "\(problem.message)")
        #expect(problem.fix?.contains("use op add") == false, "\(problem.fix ?? "")")
        #expect(problem.fix?.hasPrefix("Add the parent object first (op: add, path: /data/missing,") == true, "\(problem.fix ?? "")")
    }

    /// kustomize (evanphx/json-patch) fails an `add` whose parent is missing with
    /// `add operation does not apply: doc is missing path: "/data/missing/deeper": missing value`
    /// (the path quoted, unlike replace's): at the entry, naming the missing ancestor, in
    /// `patches` and `patchesJson6902` alike (tester t11 F1).
    @Test func aJSON6902AddUnderAMissingParentIsAnErrorAtItsEntryNamingTheAncestor() async throws {
        let overlay = """
            resources:
              - ../base
            patches:
              - target: {kind: ConfigMap, name: settings}
                patch: |
                  - op: add
                    path: /data/missing/deeper
                    value: x

            """
        let problem = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: overlay))).first)
        #expect(problem.level == .error)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("`add /data/missing/deeper`"), "\(problem.message)")
        #expect(problem.message.contains("ConfigMap apps/settings (apps/base/settings.yaml:4) has no /data/missing, and add creates only the last key"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Add the parent object first (op: add, path: /data/missing,") == true, "\(problem.fix ?? "")")
        #expect(problem.fix?.contains("use op add") == false, "\(problem.fix ?? "")")

        let deprecated = """
            resources:
              - ../base
            patchesJson6902:
              - target: {group: helm.toolkit.fluxcd.io, version: v2, kind: HelmRelease, name: podinfo-v2}
                patch: |
                  - op: add
                    path: /spec/values/nodeSelector/zone
                    value: a

            """
        let other = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: deprecated))).first)
        #expect(Self.site(other) == "apps/overlay/kustomization.yaml:4")
        #expect(other.message.contains("has no /spec/values, an ancestor of /spec/values/nodeSelector/zone"), "\(other.message)")
        #expect(other.fix?.hasPrefix("Add the parent object first (op: add, path: /spec/values,") == true, "\(other.fix ?? "")")
    }

    /// An inline JSON 6902 patch without a target: kustomize quotes it with Go's %q (`[patch:
    /// "- op: replace\n  path: …"]`, klog quoting it once more); at the entry, in the overlay and
    /// in spec.patches, without kustomize's escapes (tester t11 F3).
    @Test func anInlineJSONPatchWithoutTargetIsAnErrorAtItsEntry() async throws {
        let overlay = "resources:\n  - ../base\npatches:\n  - path: values.yaml\n  - patch: |-\n      - op: replace\n        path: /data/mode\n        value: x\n"
        let problem = try #require(Self.patchProblems(try Self.read(try await Self.fleet(
            overlay: overlay, more: ["apps/overlay/values.yaml": Self.values.replacingOccurrences(of: "name: podinfo\n", with: "name: podinfo-v2\n")]))).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:5")
        #expect(problem.message.contains("the inline patch (the patches entry at apps/overlay/kustomization.yaml:5) is a JSON 6902 patch"), "\(problem.message)")
        #expect(!problem.message.contains("\\"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Give the entry a target") == true, "\(problem.fix ?? "")")

        let extra = """
              patches:
                - patch: |-
                    - op: replace
                      path: /data/mode
                      value: x
            """
        let spec = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: "resources:\n  - ../base\n", extra: extra))).first)
        #expect(Self.site(spec) == "clusters/c/apps.yaml:15")
        #expect(spec.message.contains("spec.patches[0]"), "\(spec.message)")
        #expect(!spec.message.contains("\\"), "\(spec.message)")
        #expect(spec.fix?.hasPrefix("Give the entry a target") == true, "\(spec.fix ?? "")")
    }

    /// A target kustomize cannot read: a set-based labelSelector without parentheses (`unable to
    /// parse requirement: found 'web' expected: '('`), a name that is no regular expression once
    /// anchored (`error parsing regexp: missing closing ]: `[)$``): at the target's own line, with
    /// the cause, never kustomize's rewritten expression (tester t11 F21).
    @Test func anInvalidTargetIsAnErrorAtItsSelectorLine() async throws {
        let selector = "resources:\n  - ../base\npatches:\n  - target:\n      kind: ConfigMap\n      labelSelector: app in web\n    patch: |-\n      - op: add\n        path: /data/x\n        value: y\n"
        let problem = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: selector))).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:6")
        #expect(problem.message.contains("needs its values in parentheses"), "\(problem.message)")
        #expect(problem.fix == "Write the labelSelector as `app in (web)`.", "\(problem.fix ?? "")")

        let name = "resources:\n  - ../base\npatches:\n  - target:\n      kind: ConfigMap\n      name: settings[\n    patch: |-\n      - op: add\n        path: /data/x\n        value: y\n"
        let other = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: name))).first)
        #expect(Self.site(other) == "apps/overlay/kustomization.yaml:6")
        #expect(other.message.contains("kustomize matches a target's name as an anchored regular expression"), "\(other.message)")
        #expect(!other.message.contains("[)$"), "\(other.message)")
        #expect(other.fix?.contains("escape `[` as `\\[`") == true, "\(other.fix ?? "")")
    }

    /// An entry with both path and patch (kustomize: `patch and path can't be set at the same
    /// time`) says so, not that the file is unreadable (tester t11 F26); a patch path that leaves
    /// the repository says so, without fluxci's copy of the artifact (tester t11 F27).
    @Test func anEntryWithPathAndPatchOrAPathOutsideTheRepositorySaysSo() async throws {
        let both = "resources:\n  - ../base\npatches:\n  - path: values.yaml\n    patch: |-\n      - op: add\n        path: /data/x\n        value: y\n    target: {kind: ConfigMap}\n"
        let problem = try #require(Self.patchProblems(try Self.read(try await Self.fleet(
            overlay: both, more: ["apps/overlay/values.yaml": Self.values.replacingOccurrences(of: "name: podinfo\n", with: "name: podinfo-v2\n")]))).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("sets both path (apps/overlay/values.yaml) and patch"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Keep one of path and patch") == true, "\(problem.fix ?? "")")

        let outside = "resources:\n  - ../base\npatches:\n  - path: ../../../outside/values.yaml\n"
        let other = try #require(Self.patchProblems(try Self.read(try await Self.fleet(overlay: outside))).first)
        #expect(Self.site(other) == "apps/overlay/kustomization.yaml:4")
        #expect(other.message.contains("is outside the repository"), "\(other.message)")
        #expect(!other.message.contains("/tmp") && !other.message.contains("no such file"), "\(other.message)")
        #expect(other.fix?.hasPrefix("Move the patch file into the repository") == true, "\(other.fix ?? "")")
    }

    /// A `patchesJson6902` entry (the deprecated field) whose target selects nothing gets the
    /// warning the `patches` form gets, at its target (tester t11 F17); its selecting neighbour none.
    @Test func aPatchesJson6902EntryThatSelectsNothingIsAWarningAtItsTarget() async throws {
        let overlay = """
            resources:
              - ../base
            patchesJson6902:
              - target: {version: v1, kind: ConfigMap, name: settings}
                patch: |-
                  - op: add
                    path: /data/x
                    value: y
              - target:
                  version: v1
                  kind: ConfigMap
                  name: settings-old
                patch: |-
                  - op: add
                    path: /data/x
                    value: y

            """
        let tree = try Self.read(try await Self.fleet(overlay: overlay))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.title == "Patch selects nothing")
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:9")
        #expect(problem.message.contains("the patchesJson6902 entry at apps/overlay/kustomization.yaml:9"), "\(problem.message)")
        #expect(problem.message.contains("the nearest is ConfigMap apps/settings"), "\(problem.message)")
    }

    @Test func anUnreadablePatchFileIsAnErrorAtItsEntryWithTheYAMLLine() async throws {
        let tree = try Self.read(try await Self.fleet(
            overlay: "resources:\n  - ../base\npatches:\n  - path: values.yaml\n  - path: broken.yaml\n",
            more: ["apps/overlay/values.yaml": Self.values.replacingOccurrences(of: "name: podinfo\n", with: "name: podinfo-v2\n"), "apps/overlay/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n data: [\n"]))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:5")
        #expect(problem.message.contains("apps/overlay/broken.yaml"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Correct the YAML of apps/overlay/broken.yaml at line") == true, "\(problem.fix ?? "")")
    }

    @Test func aJSONPatchFileWithoutTargetIsAnErrorAtItsEntry() async throws {
        let tree = try Self.read(try await Self.fleet(
            overlay: "resources:\n  - ../base\npatches:\n  - path: ops.yaml\n", more: ["apps/overlay/ops.yaml": "- op: add\n  path: /data/x\n  value: y\n"]))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:4")
        #expect(problem.message.contains("is a JSON 6902 patch"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Give the entry a target") == true)
    }

    @Test func aFailingPatchInABaseIsReportedInTheBasesKustomization() async throws {
        let base = "resources: [settings.yaml, release.yaml]\npatches:\n  - path: fix.yaml\n"
        let fix = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setting\n  namespace: apps\ndata: {mode: fixed}\n"
        let tree = try Self.read(try await Self.fleet(
            overlay: "resources:\n  - ../base\npatches:\n  - path: values.yaml\n",
            base: base, more: ["apps/base/fix.yaml": fix, "apps/overlay/values.yaml": Self.values.replacingOccurrences(of: "name: podinfo\n", with: "name: podinfo-v2\n")]))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(Self.site(problem) == "apps/base/kustomization.yaml:3")
        #expect(problem.message.contains("the nearest is ConfigMap apps/settings (apps/base/settings.yaml:4)"), "\(problem.message)")
        #expect(problem.fix?.contains("Rename the patch's metadata.name to settings (apps/base/fix.yaml:4)") == true, "\(problem.fix ?? "")")
    }

    @Test func aFailingSpecPatchIsReportedAtItsEntry() async throws {
        let extra = """
              patches:
                - patch: |
                    apiVersion: v1
                    kind: ConfigMap
                    metadata:
                      name: settingz
                      namespace: apps
                    data: {mode: spec}
            """
        let tree = try Self.read(try await Self.fleet(overlay: "resources:\n  - ../base\n", extra: extra))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(problem.level == .error)
        #expect(Self.site(problem) == "clusters/c/apps.yaml:15")
        #expect(problem.message.contains("spec.patches[0]"), "\(problem.message)")
        #expect(problem.fix?.contains("Rename the patch's metadata.name to settings (clusters/c/apps.yaml:19)") == true, "\(problem.fix ?? "")")
    }

    // MARK: Targeted patches that select nothing

    @Test func aTargetedPatchWhoseObjectWasRenamedIsAWarningAtItsTarget() async throws {
        let overlay = "resources:\n  - ../base\npatches:\n  - path: values.yaml\n    target:\n      kind: HelmRelease\n      name: podinfo\n"
        let tree = try Self.read(try await Self.fleet(overlay: overlay, more: ["apps/overlay/values.yaml": Self.values]))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.level == .warning)
        #expect(problem.title == "Patch selects nothing")
        #expect(Self.site(problem) == "apps/overlay/kustomization.yaml:5")
        #expect(problem.message.contains("(kind HelmRelease, name podinfo) that selects no object"), "\(problem.message)")
        #expect(problem.message.contains("the nearest is HelmRelease apps/podinfo-v2 (apps/base/release.yaml:4)"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Set the target's name to podinfo-v2") == true, "\(problem.fix ?? "")")
        #expect(tree.builds[tree.kustomization("flux-system/apps")!.id] == .built)
    }

    /// kustomize matches names as anchored regular expressions: `settings|other` selects
    /// `settings`, `setting` does not (it is no prefix match); a labelSelector as a Kubernetes
    /// selector. Each entry adds nothing an earlier one needs.
    @Test(arguments: [
        ("{kind: ConfigMap, name: setting}", true), ("{kind: ConfigMap, name: settings|other}", false), ("{kind: ConfigMap, name: \"set.*\"}", false),
        ("{kind: ConfigMap, labelSelector: app=api}", true), ("{kind: ConfigMap, labelSelector: app=web}", false),
        ("{kind: ConfigMap, labelSelector: \"app in (web, api)\"}", false), ("{kind: ConfigMap, annotationSelector: team=a}", true),
        ("{kind: ConfigMap, namespace: other}", true), ("{kind: ConfigMap, namespace: apps}", false), ("{group: apps, kind: ConfigMap}", true),
        ("{version: v1, kind: ConfigMap}", false), ("{kind: Secret}", true),
    ])
    func aTargetSelectsAsKustomizeSelects(_ target: String, _ warned: Bool) async throws {
        let overlay = """
            resources:
              - ../base
            patches:
              - target: \(target)
                patch: |
                  - op: add
                    path: /data/overlay
                    value: "yes"

            """
        let tree = try Self.read(try await Self.fleet(overlay: overlay))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == (warned ? 1 : 0), "\(target): \(problems)")
        if warned {
            #expect(Self.site(problems.first) == "apps/overlay/kustomization.yaml:4")
            #expect(problems.first?.level == .warning)
        }
    }

    @Test func aTargetedPatchInABaseThatSelectsNothingIsAWarningInTheBase() async throws {
        let base = "resources: [settings.yaml, release.yaml]\npatches:\n  - patch: '[{\"op\": \"add\", \"path\": \"/data/x\", \"value\": \"y\"}]'\n    target: {kind: ConfigMap, name: settings-old}\n"
        let tree = try Self.read(try await Self.fleet(overlay: "resources:\n  - ../base\n", base: base))
        let problem = try #require(Self.patchProblems(tree).first)
        #expect(problem.level == .warning)
        #expect(Self.site(problem) == "apps/base/kustomization.yaml:4")
        #expect(problem.message.contains("the nearest is ConfigMap apps/settings (apps/base/settings.yaml:4)"), "\(problem.message)")
    }

    @Test func aSpecPatchWhoseTargetSelectsNothingIsAWarningAtItsTarget() async throws {
        let extra = """
              patches:
                - patch: |
                    - op: replace
                      path: /data/mode
                      value: production
                  target:
                    kind: ConfigMap
                    name: settings-old
            """
        let tree = try Self.read(try await Self.fleet(overlay: "resources:\n  - ../base\n", extra: extra))
        let problems = Self.patchProblems(tree)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.level == .warning)
        #expect(Self.site(problem) == "clusters/c/apps.yaml:19")
        #expect(problem.message.contains("spec.patches[0] of the Kustomization flux-system/apps"), "\(problem.message)")
        #expect(problem.fix?.hasPrefix("Set the target's name to settings") == true, "\(problem.fix ?? "")")
    }

    /// The probe's markers survive an entry that replaces the annotations it selects (the marker
    /// after it), and an entry that renames what it selects (the marker before it).
    @Test func patchesThatRewriteAnnotationsOrNamesStillSelect() async throws {
        let overlay = """
            resources:
              - ../base
            patches:
              - target: {kind: ConfigMap, name: settings}
                patch: |
                  - op: replace
                    path: /metadata/annotations
                    value: {owner: overlay}
              - target: {kind: HelmRelease, name: podinfo-v2}
                patch: |
                  - op: replace
                    path: /metadata/name
                    value: podinfo

            """
        let tree = try Self.read(try await Self.fleet(overlay: overlay))
        #expect(Self.patchProblems(tree).isEmpty, "\(Self.patchProblems(tree))")
        let objects = tree.objects[tree.kustomization("flux-system/apps")!.id] ?? []
        #expect(objects.contains { $0.kind == "HelmRelease" && $0.name == "podinfo" })
        #expect(!objects.contains { $0.json["metadata", "annotations"]?.jsonText.contains("fluxci.probe") == true })
    }

    // MARK: Valid fleets

    /// Every fixture fleet (several with targeted patches: kustomize-helm's HelmRelease values,
    /// cloud-env's overlays, home-lab's spec.patches and flux-system patches, multi-tenancy's
    /// tenant patch) gets no patch problem; the same kustomize-helm fleet with its HelmRelease
    /// renamed under a target that names it gets exactly the warning.
    @Test(arguments: ["cloud-env", "home-lab", "kustomize-helm", "multi-tenancy", "nested-flux-system"])
    func aFixtureFleetGetsNoPatchProblem(_ fixture: String) async throws {
        let directory = try KustomizationBatchTests.checkout(fixture: fixture, variant: nil)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: KustomizationBatchTests.fixtures.appendingPathComponent("\(fixture)/expected.json"))) as? [String: Any]
        let cluster = try #require(expected?["cluster"] as? String)
        func read() async throws -> ClusterTree {
            let source = try await KustomizationBatchTests.source(directory)
            return try ClusterTreeReader.read(
                source, clusterPath: cluster, decryptionSecrets: ["sops-age", "sops-gpg"], tools: KustomizeTool(path: ProcessInfo.processInfo.environment["PATH"]), decrypt: nil)
        }
        let tree = try await read()
        #expect(Self.patchProblems(tree).isEmpty, "\(fixture): \(Self.patchProblems(tree))")
        guard fixture == "kustomize-helm" else { return }
        // The same fleet, its staging patch targeting the HelmRelease by a name it no longer has.
        let staging = directory.appendingPathComponent("apps/staging/kustomization.yaml")
        try (String(contentsOf: staging, encoding: .utf8) + "      name: podinfo\n").write(to: staging, atomically: true, encoding: .utf8)
        let release = directory.appendingPathComponent("apps/base/podinfo/release.yaml")
        try String(contentsOf: release, encoding: .utf8).replacingOccurrences(of: "\n  name: podinfo\n", with: "\n  name: podinfo-web\n").write(to: release, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: directory.appendingPathComponent(".git"))
        let renamed = try await read()
        let problems = Self.patchProblems(renamed)
        #expect(problems.map(Self.site) == ["apps/staging/kustomization.yaml:8"], "\(problems)")
        #expect(problems.first?.message.contains("the nearest is HelmRelease podinfo-web (apps/base/podinfo/release.yaml:4)") == true, "\(problems)")
    }
}
