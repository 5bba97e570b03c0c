import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t16 F7: a GitRepository of the tree that fetches the repository under test at another
/// ref. The cluster applies that ref's manifests, so a change this branch makes there is not
/// tested: a warning at its `ref` says so. Its Kustomizations are not built from the commit under
/// test (that ref's content can differ: tester t18 F5, F6, F8), and a GitRepository of another
/// repository gets no warning. Real git fleets, the real `kubectl kustomize`.
@Suite struct SameRepositorySourceTests {
    static func source(_ name: String, url: String) -> String {
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: \(name)\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: \(url)\n  ref:\n    branch: main\n"
    }

    static func sourced(_ name: String, path: String, source: String) -> String {
        kustomization(name, path: path).replacingOccurrences(of: "    name: flux-system\n", with: "    name: \(source)\n")
    }

    @Test(arguments: ["https://example.com/fleet.git", "https://EXAMPLE.com/fleet/", "ssh://git@example.com/fleet.git", "git@example.com:fleet"])
    func aGitRepositoryOfTheSameRepositoryAtAnotherRefIsAWarning(url: String) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/self.yaml": Self.source("self2", url: url) + "---\n" + Self.sourced("self2-apps", path: "./only-on-main", source: "self2"),
            "clusters/c/other.yaml": Self.source("other", url: "https://example.com/other.git") + "---\n" + Self.sourced("other-apps", path: "./elsewhere", source: "other"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        // Not built from this commit: a path only that ref has is no error.
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        #expect(tree.builds[.init(namespace: "flux-system", name: "self2-apps")] == .notBuilt("sourced from GitRepository/flux-system/self2"))
        let warning = try #require(tree.problem("Same repository at another ref"), "\(tree.problems)")
        #expect(warning.level == .warning && warning.location == SourceLocation(file: "clusters/c/self.yaml", line: 9), "\(warning)")
        #expect(warning.message.contains("GitRepository flux-system/self2 fetches this same repository at branch main") && warning.message.contains("flux-system/self2-apps applies that ref"), "\(warning.message)")
        // Another repository: no warning about it.
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
