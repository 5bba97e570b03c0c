import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// A problem about a field that a kustomize patch writes is annotated at the patch line that
/// writes it, not at the base every overlay shares (issue 13 item 24; tester t14 F1, F14), and
/// names where the object itself is written; a field no patch touches stays at its own line.
/// kustomize applies a kustomization's patches in order and kustomize-controller applies the Flux
/// Kustomization's spec.patches last: the last writer is the place. Built with the real kubectl
/// kustomize.
@Suite struct FieldSitesTests {
    /// Two child Kustomizations of apps/base/ks.yaml: `child` (spec.path on line 8, valid) and
    /// `neighbour` (spec.path on line 19, a folder that does not exist, which no patch touches).
    static let base = """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: child
          namespace: flux-system
        spec:
          interval: 10m
          path: ./child
          prune: true
          sourceRef: {kind: GitRepository, name: flux-system}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: neighbour
          namespace: flux-system
        spec:
          interval: 10m
          path: ./neighbour-nope
          prune: true
          sourceRef: {kind: GitRepository, name: flux-system}

        """

    /// A strategic-merge patch file setting the child's spec.path (line 7).
    static func strategicMerge(_ path: String) -> String {
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: child\n  namespace: flux-system\nspec:\n  path: \(path)\n"
    }

    /// An inline JSON 6902 patch entry replacing the child's spec.path (its value on the entry's
    /// fourth line).
    static func json6902(_ path: String) -> String {
        "  - target: {kind: Kustomization, name: child}\n    patch: |-\n      - op: replace\n        path: /spec/path\n        value: \(path)\n"
    }

    static func fleet(overlay: String, patchFile: String? = nil, appsExtra: String = "") async throws -> Fleet {
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay", extra: appsExtra),
            "apps/base/kustomization.yaml": "resources: [ks.yaml]\n",
            "apps/base/ks.yaml": Self.base,
            "apps/overlay/kustomization.yaml": overlay,
            "child/cm.yaml": configMap("child", namespace: "default"),
        ]
        if let patchFile { files["apps/overlay/child-patch.yaml"] = patchFile }
        return try await Fleet.make(files)
    }

    static func pathProblems(_ tree: ClusterTree) -> (child: Annotation?, neighbour: Annotation?) {
        let missing = tree.problems.filter { $0.title == "Kustomization path not found" }
        return (missing.first { $0.message.contains("flux-system/child ") }, missing.first { $0.message.contains("flux-system/neighbour ") })
    }

    /// Tester t14 F1: a patched spec.path that does not exist, at the patch's line in each patch
    /// form, the last writer of two; the untouched neighbour at its own line in the base.
    @Test func aPatchedPathIsAnnotatedAtTheLastPatchThatWritesIt() async throws {
        struct Case {
            var name: String, overlay: String, patchFile: String?, appsExtra = "", value: String, file: String, line: Int
        }
        let overlay = "resources: [../base]\npatches:\n"
        let file = "  - path: child-patch.yaml\n"
        let flux = "  patches:\n    - target: {kind: Kustomization, name: child}\n      patch: |\n        - op: replace\n          path: /spec/path\n          value: ./child-flux\n"
        let cases = [
            Case(name: "strategic merge file", overlay: overlay + file, patchFile: Self.strategicMerge("./child-nope"),
                value: "./child-nope", file: "apps/overlay/child-patch.yaml", line: 7),
            Case(name: "inline JSON 6902", overlay: overlay + Self.json6902("./child-nope"), patchFile: nil,
                value: "./child-nope", file: "apps/overlay/kustomization.yaml", line: 7),
            Case(name: "file, then inline", overlay: overlay + file + Self.json6902("./child-later"), patchFile: Self.strategicMerge("./child-nope"),
                value: "./child-later", file: "apps/overlay/kustomization.yaml", line: 8),
            Case(name: "inline, then file", overlay: overlay + Self.json6902("./child-nope") + file, patchFile: Self.strategicMerge("./child-later"),
                value: "./child-later", file: "apps/overlay/child-patch.yaml", line: 7),
            // kustomize-controller applies spec.patches to the build's output: after the overlay's.
            Case(name: "Flux spec.patches after the overlay's", overlay: overlay + file, patchFile: Self.strategicMerge("./child-nope"), appsExtra: flux,
                value: "./child-flux", file: "clusters/c/apps.yaml", line: 19),
        ]
        for entry in cases {
            let fleet = try await Self.fleet(overlay: entry.overlay, patchFile: entry.patchFile, appsExtra: entry.appsExtra)
            defer { fleet.remove() }
            let tree = try fleet.read()
            let (child, neighbour) = Self.pathProblems(tree)
            let problem = try #require(child, "\(entry.name): \(tree.problems)")
            #expect(problem.message.contains("spec.path \(entry.value),"), "\(entry.name): \(problem.message)")
            #expect(problem.location == Actions.SourceLocation(file: entry.file, line: entry.line), "\(entry.name): \(problem)")
            #expect(
                problem.message.contains("its spec.path is set by the patch at \(entry.file):\(entry.line); the Kustomization is written at apps/base/ks.yaml:1"),
                "\(entry.name): \(problem.message)")
            #expect(neighbour?.location == SourceLocation(file: "apps/base/ks.yaml", line: 19), "\(entry.name): \(String(describing: neighbour))")
            #expect(neighbour?.message.contains("is set by the patch") == false, "\(entry.name): \(String(describing: neighbour))")
        }
    }

    /// A JSON 6902 operation on a part of the field a problem is about (`/spec/dependsOn/0/name`
    /// for the entry `dependsOn[0]`) writes it, as a strategic-merge patch holding that part
    /// does: the entry's problem is at the operation's value, not at the base's entry.
    @Test func anOperationOnAPartOfTheFieldPlacesIt() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/base/kustomization.yaml": "resources: [ks.yaml]\n",
            "apps/base/ks.yaml": Self.base.components(separatedBy: "---\n")[0] + "  dependsOn:\n    - name: neighbour-nope\n",
            "apps/overlay/kustomization.yaml": "resources: [../base]\npatches:\n  - target: {kind: Kustomization, name: child}\n    patch: |-\n      - op: replace\n        path: /spec/dependsOn/0/name\n        value: typo\n",
            "child/cm.yaml": configMap("child", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Unknown dependency"), "\(tree.problems)")
        #expect(problem.message.contains("depends on flux-system/typo"), "\(problem.message)")
        #expect(problem.location == SourceLocation(file: "apps/overlay/kustomization.yaml", line: 7), "\(problem)")
        #expect(problem.message.contains("its spec.dependsOn[0] is set by the patch at apps/overlay/kustomization.yaml:7; the Kustomization is written at apps/base/ks.yaml:1"), "\(problem.message)")
    }

    /// Tester t14 F14: values a patch writes into valid base objects, each at the patch line
    /// that writes it: a Secret's data value a strategic-merge file sets (base64), and a
    /// HelmRelease's timeout (CRD schema) and valuesFrom entry (a whole list one JSON 6902
    /// operation adds) an inline patch sets; the base's own bad data value stays at its line.
    @Test func patchedValuesAreAnnotatedAtThePatch() async throws {
        let fleet = try await SchemaChecksTests.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/base/kustomization.yaml": "resources: [secret.yaml, hr.yaml]\n",
            "apps/base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\ndata:\n  password: c2VjcmV0\n  other: bad!!\n",
            "apps/base/hr.yaml": """
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: HelmRepository
                metadata: {name: charts, namespace: default}
                spec: {interval: 1h, url: "https://charts.example.invalid"}
                ---
                apiVersion: helm.toolkit.fluxcd.io/v2
                kind: HelmRelease
                metadata: {name: web, namespace: default}
                spec:
                  interval: 10m
                  chart:
                    spec:
                      chart: web
                      sourceRef: {kind: HelmRepository, name: charts}

                """,
            "apps/overlay/kustomization.yaml": """
                resources: [../base]
                patches:
                  - path: secret-patch.yaml
                  - target: {kind: HelmRelease, name: web}
                    patch: |-
                      - op: add
                        path: /spec/timeout
                        value: 5
                      - op: add
                        path: /spec/valuesFrom
                        value:
                          - kind: ConfigMap
                            name: cfg-typo
                      - op: replace
                        path: /spec/interval
                        value: 30

                """,
            "apps/overlay/secret-patch.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\ndata:\n  password: not-base64!!\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let base64 = tree.problems.filter { $0.title == "Value not base64" }
        let patched = try #require(base64.first { $0.message.contains("data.password") }, "\(tree.problems)")
        #expect(patched.location == SourceLocation(file: "apps/overlay/secret-patch.yaml", line: 5), "\(patched)")
        #expect(patched.message.contains("its data.password is set by the patch at apps/overlay/secret-patch.yaml:5; the Secret is written at apps/base/secret.yaml:1"), "\(patched.message)")
        let own = try #require(base64.first { $0.message.contains("data.other") }, "\(tree.problems)")
        #expect(own.location == SourceLocation(file: "apps/base/secret.yaml", line: 6) && !own.message.contains("is set by the patch"), "\(own)")
        // Two operations of one patch refused by the schema: each at its own line (t18 F12).
        let rejections = tree.problems.filter { $0.title == "Rejected by the CRD schema" }
        #expect(rejections.count == 2, "\(rejections)")
        let interval = try #require(rejections.first { $0.message.contains("spec.interval") }, "\(rejections)")
        #expect(interval.location == SourceLocation(file: "apps/overlay/kustomization.yaml", line: 16) && !interval.message.contains("spec.timeout"), "\(interval)")
        let schema = try #require(rejections.first { $0.message.contains("spec.timeout") }, "\(tree.problems)")
        #expect(schema.location == SourceLocation(file: "apps/overlay/kustomization.yaml", line: 8), "\(schema)")
        #expect(schema.message.contains("the HelmRelease is written at apps/base/hr.yaml:6"), "\(schema.message)")
        let source = try #require(tree.problem("Unknown values source"), "\(tree.problems)")
        #expect(source.location == SourceLocation(file: "apps/overlay/kustomization.yaml", line: 13), "\(source)")
        #expect(source.message.contains("its spec.valuesFrom[0].name is set by the patch at apps/overlay/kustomization.yaml:13; the HelmRelease is written at apps/base/hr.yaml:6"), "\(source.message)")
    }

    /// Tester t18 F10: kustomize selects a patch's object by its written id as well as its built
    /// one, so under a `namePrefix` (and a `namespace:`) a patch naming `creds` in `default`
    /// writes the built `kind-creds` in `team`: the value is annotated at that patch, in the
    /// overlay's kustomization.yaml and in the Flux Kustomization's spec.patches (which
    /// kustomize-controller builds together with its spec.namePrefix), never at the base line
    /// that holds the old, valid value.
    @Test func aPatchNamingTheWrittenObjectIsFoundUnderANamePrefix() async throws {
        let base = [
            "apps/base/kustomization.yaml": "resources: [secret.yaml]\n",
            "apps/base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\ndata:\n  password: c2VjcmV0\n  other: c2VjcmV0\n",
        ]
        let overlay = try await SchemaChecksTests.fleet(base.merging([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/overlay/kustomization.yaml": """
                resources: [../base]
                namePrefix: kind-
                namespace: team
                patches:
                  - path: secret-patch.yaml
                  - target: {kind: Secret, name: creds}
                    patch: |-
                      - op: replace
                        path: /data/other
                        value: also-bad!!

                """,
            "apps/overlay/secret-patch.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\ndata:\n  password: not-base64!!\n",
        ]) { a, _ in a })
        let fleet = overlay
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.title == "Value not base64" }
        #expect(problems.allSatisfy { $0.message.contains("Secret/team/kind-creds") }, "\(problems)")
        #expect(problems.first { $0.message.contains("data.password") }?.location == SourceLocation(file: "apps/overlay/secret-patch.yaml", line: 5), "\(problems)")
        #expect(problems.first { $0.message.contains("data.other") }?.location == SourceLocation(file: "apps/overlay/kustomization.yaml", line: 10), "\(problems)")

        let flux = try await SchemaChecksTests.fleet(base.merging([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/base", extra: """
                  namePrefix: kind-
                  patches:
                    - target: {kind: Secret, name: creds}
                      patch: |-
                        - op: replace
                          path: /data/other
                          value: also-bad!!
                """),
        ]) { a, _ in a })
        defer { flux.remove() }
        let fluxProblems = try flux.read().problems.filter { $0.title == "Value not base64" }
        #expect(fluxProblems.count == 1 && fluxProblems.first?.message.contains("Secret/default/kind-creds") == true, "\(fluxProblems)")
        #expect(fluxProblems.first?.location == SourceLocation(file: "clusters/c/apps.yaml", line: 20), "\(fluxProblems)")
    }
}
