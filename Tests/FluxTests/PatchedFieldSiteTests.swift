import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// A field of a Kustomization that a kustomize patch writes (flux-system/kustomization.yaml
/// patching postBuild.substituteFrom into the root, as home-lab fleets do) is reported at the
/// patch line that writes it, every failing reference on its own line (tester t5 F, fleet 25).
/// Built with the real kubectl kustomize.
@Suite struct PatchedFieldSiteTests {
    static func strategicMerge(optional: Bool) -> String {
        let entries = optional
            ? "            - {kind: ConfigMap, name: vars, optional: true}\n            - {kind: Secret, name: secret-vars, optional: true}\n"
            : "            - kind: ConfigMap\n              name: vars\n            - kind: Secret\n              name: secret-vars\n"
        return """
            resources: [gotk-sync.yaml]
            patches:
              - patch: |
                  apiVersion: kustomize.toolkit.fluxcd.io/v1
                  kind: Kustomization
                  metadata:
                    name: flux-system
                  spec:
                    postBuild:
                      substituteFrom:

            """ + entries + """
                target:
                  kind: Kustomization
                  name: flux-system

            """
    }

    static let json6902 = """
        resources: [gotk-sync.yaml]
        patches:
          - target: {kind: Kustomization, name: flux-system}
            patch: |
              - op: add
                path: /spec/postBuild
                value:
                  substituteFrom:
                    - {kind: ConfigMap, name: vars}
                    - {kind: Secret, name: secret-vars}

        """

    static let vars = configMap("vars", namespace: "flux-system", data: "domain: example.com") + "\n---\n"
        + "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-vars\n  namespace: flux-system\nstringData:\n  token: not-a-secret\n"

    static func fleet(_ fluxSystem: String) async throws -> Fleet {
        try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": FleetManifests.sync(),
            "clusters/c/flux-system/kustomization.yaml": fluxSystem,
            "clusters/c/vars.yaml": vars,
        ])
    }

    @Test func everySelfCreatedSourceIsReportedAtItsPatchLine() async throws {
        for (fluxSystem, lines) in [(Self.strategicMerge(optional: false), [12, 14]), (Self.json6902, [9, 10])] {
            let fleet = try await Self.fleet(fluxSystem)
            defer { fleet.remove() }
            let tree = try fleet.read()
            let selfMade = tree.problems.filter { $0.title == "substituteFrom created by itself" }
            #expect(tree.problems.count == 2 && selfMade.count == 2, "\(tree.problems)")
            #expect(selfMade.map(\.location) == lines.map { SourceLocation(file: "clusters/c/flux-system/kustomization.yaml", line: $0) }, "\(selfMade.map(\.location))")
            #expect(selfMade.first?.message.contains("ConfigMap flux-system/vars") == true)
            #expect(selfMade.last?.message.contains("Secret flux-system/secret-vars") == true)
        }
    }

    @Test func optionalSelfCreatedSourcesAreValid() async throws {
        let fleet = try await Self.fleet(Self.strategicMerge(optional: true))
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.isEmpty, "\(tree.problems)")
    }

    /// The neighbour through Flux's own spec.patches (home-lab's labelSelector patch, tester t5
    /// fleet 20): each missing reference at its own line in the parent's patch, the index counted.
    @Test func fluxPatchesPlaceEachReferenceAtItsOwnLine() async throws {
        let parent = kustomization("apps", path: "./apps", extra: """
              patches:
                - patch: |-
                    apiVersion: kustomize.toolkit.fluxcd.io/v1
                    kind: Kustomization
                    metadata:
                      name: not-used
                    spec:
                      postBuild:
                        substituteFrom:
                          - kind: ConfigMap
                            name: missing-settings
                          - kind: Secret
                            name: missing-secrets
                  target:
                    kind: Kustomization

            """)
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": parent,
            "apps/child.yaml": kustomization("child", path: "./child"),
            "child/settings.yaml": configMap("settings", namespace: "flux-system"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let unknown = tree.problems.filter { $0.title == "Unknown substituteFrom" }
        #expect(unknown.count == 2, "\(tree.problems)")
        #expect(unknown.map(\.location) == [SourceLocation(file: "clusters/c/apps.yaml", line: 24), SourceLocation(file: "clusters/c/apps.yaml", line: 26)], "\(unknown.map(\.location))")
    }
}
