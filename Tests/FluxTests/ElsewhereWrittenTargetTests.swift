import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Tester t13 F8: an object that a Kustomization sourced from another repository applied is
/// written in neither this repository nor its tree. Its failure is placed at the Kustomization
/// that applied it (an annotation without a file does not show on the pull request), and named
/// as coming from that source; an object this repository writes keeps its own line.
@Suite struct ElsewhereWrittenTargetTests {
    @Test func anObjectFromAnotherRepositoryIsPlacedAtTheKustomizationThatAppliedIt() async throws {
        let other = """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata:
              name: other
              namespace: flux-system
            spec:
              interval: 10m
              url: https://git.example.invalid/other.git
              ref: {branch: main}
            ---

            """ + kustomization("other-apps", path: "./deploy").replacingOccurrences(of: "    name: flux-system\n    namespace: flux-system", with: "    name: other\n    namespace: flux-system")
        let fleet = try await Fleet.make([
            "clusters/c/other.yaml": other,
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "resources: [repository.yaml]\n",
            "apps/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: flux-system\nspec:\n  url: https://charts.example.invalid\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let otherApps = try #require(tree.kustomization("flux-system/other-apps"))
        let apps = try #require(tree.kustomization("flux-system/apps"))
        func inventory(_ id: String) throws -> JSONValue {
            try JSONValue.parse(Data(#"{"status":{"inventory":{"entries":[{"id":"\#(id)","v":"v1"}]}}}"#.utf8))
        }
        func row(_ kustomization: FluxKustomization, _ live: JSONValue) -> ReconciliationWaiter.Row {
            ReconciliationWaiter.Row(reference: ObjectReference(kustomization), parent: nil, location: kustomization.location, readiness: .ready, revision: nil, elapsed: nil, live: live)
        }
        let targets = ReconciliationWaiter.appliedTargets(
            [row(otherApps, try inventory("flux-system_nested-bad_source.toolkit.fluxcd.io_GitRepository")),
             row(apps, try inventory("flux-system_charts_source.toolkit.fluxcd.io_HelmRepository"))],
            tree: tree, scope: .flux)
        let nested = try #require(targets.first { $0.reference.name == "nested-bad" })
        #expect(nested.location == otherApps.location && nested.location?.file == "clusters/c/other.yaml", "\(String(describing: nested.location))")
        #expect(nested.writtenIn == ObjectReference(group: "source.toolkit.fluxcd.io", kind: "GitRepository", namespace: "flux-system", name: "other"))
        let charts = try #require(targets.first { $0.reference.name == "charts" })
        #expect(charts.location == SourceLocation(file: "apps/repository.yaml", line: 1) && charts.writtenIn == nil, "\(charts)")
    }
}
