import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t16 F7: a GitRepository of the tree that fetches the repository under test at another
/// ref. Its Kustomizations are built from the commit under test (a change to them is what merging
/// the branch deploys), and a warning at its `ref` says that the cluster applies that ref's
/// manifests instead. A GitRepository of another repository stays not built. Real git fleets,
/// the real `kubectl kustomize`.
@Suite struct SameRepositorySourceTests {
    static func source(_ name: String, url: String) -> String {
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: \(name)\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: \(url)\n  ref:\n    branch: main\n"
    }

    static func sourced(_ name: String, path: String, source: String) -> String {
        kustomization(name, path: path).replacingOccurrences(of: "    name: flux-system\n", with: "    name: \(source)\n")
    }

    @Test(arguments: ["https://example.com/fleet.git", "https://EXAMPLE.com/fleet/", "ssh://git@example.com/fleet.git", "git@example.com:fleet"])
    func aKustomizationOfTheSameRepositoryAtAnotherRefIsBuiltFromTheCommitUnderTest(url: String) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/self.yaml": Self.source("self2", url: url) + "---\n" + Self.sourced("self2-apps", path: "./self2", source: "self2"),
            "clusters/c/other.yaml": Self.source("other", url: "https://example.com/other.git") + "---\n" + Self.sourced("other-apps", path: "./elsewhere", source: "other"),
            "self2/kustomization.yaml": "resources: [missing.yaml]\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        // Built: the branch's broken kustomization.yaml is found, as kustomize-controller would find it after the merge.
        let failed = try #require(tree.problems.first { $0.level == .error && $0.message.contains("flux-system/self2-apps") }, "\(tree.problems)")
        #expect(failed.location?.file == "self2/kustomization.yaml", "\(failed)")
        let warning = try #require(tree.problem("Same repository at another ref"), "\(tree.problems)")
        #expect(warning.level == .warning && warning.location == SourceLocation(file: "clusters/c/self.yaml", line: 9), "\(warning)")
        #expect(warning.message.contains("GitRepository flux-system/self2 fetches this same repository at branch main") && warning.message.contains("flux-system/self2-apps"), "\(warning.message)")
        // Another repository: not built, no warning about it.
        #expect(tree.builds[.init(namespace: "flux-system", name: "other-apps")] == .notBuilt("sourced from GitRepository/flux-system/other"))
        #expect(!tree.problems.contains { $0.message.contains("GitRepository flux-system/other ") })
    }

    @Test(arguments: [
        ("https://github.com/acme/fleet", "https://github.com/acme/fleet.git", true),
        ("https://github.com/acme/fleet", "ssh://git@github.com:22/acme/fleet", true),
        ("https://github.com/acme/fleet", "git@github.com:acme/fleet.git", true),
        ("https://github.com/acme/fleet", "https://github.com/acme/fleet-infra", false),
        ("https://github.com/acme/fleet", "https://gitlab.com/acme/fleet", false),
        ("https://github.com/acme/Fleet", "https://github.com/acme/fleet", false),  // paths keep their case
    ])
    func sameRepositoryURLs(a: String, b: String, same: Bool) {
        #expect(ClusterTreeReader.sameRepository(a, b) == same, "\(a) \(b)")
    }
}
