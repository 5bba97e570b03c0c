import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t15 F3: what needs a suspended object never becomes Ready on a fresh cluster, and the
/// full run fails at once; the plan says so. A Kustomization whose source is suspended, a
/// HelmRelease whose chart source is, or that depends on a suspended release: an error at the
/// reference. The neighbours (nothing suspended, the needer suspended too) are quiet.
@Suite struct SuspendedNeedsTests {
    static let repository = """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata:
          name: other
          namespace: flux-system
        spec:
          suspend: SUSPEND
          interval: 10m
          url: https://git.example.invalid/other.git
          ref: {branch: main}

        """
    static let releases = """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata:
          name: charts
          namespace: apps
        spec:
          suspend: SUSPEND
          url: https://charts.example.invalid
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: db
          namespace: apps
        spec:
          suspend: SUSPEND
          interval: 10m
          chart:
            spec:
              chart: db
              sourceRef: {kind: HelmRepository, name: charts}
        ---
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: web
          namespace: apps
        spec:
          interval: 10m
          dependsOn:
            - name: db
          chart:
            spec:
              chart: web
              sourceRef: {kind: HelmRepository, name: charts}

        """

    static func tree(suspended: Bool) async throws -> ClusterTree {
        let flag = suspended ? "true" : "false"
        let other = Self.repository.replacingOccurrences(of: "SUSPEND", with: flag) + "---\n"
            + kustomization("other-apps", path: "./deploy").replacingOccurrences(of: "    name: flux-system\n    namespace: flux-system", with: "    name: other\n    namespace: flux-system")
        let fleet = try await Fleet.make([
            "clusters/c/other.yaml": other,
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
            "apps/releases.yaml": Self.releases.replacingOccurrences(of: "SUSPEND", with: flag),
        ])
        defer { fleet.remove() }
        return try fleet.read()
    }

    @Test func whatNeedsASuspendedObjectIsAnError() async throws {
        let tree = try await Self.tree(suspended: true)
        let source = tree.problems.filter { $0.title == "Source suspended" }
        #expect(source.count == 2, "\(tree.problems)")
        #expect(source.contains { $0.message.contains("Kustomization flux-system/other-apps takes its source from GitRepository/flux-system/other") && $0.location?.file == "clusters/c/other.yaml" }, "\(source)")
        // web only: db is suspended itself.
        #expect(source.contains { $0.message.contains("HelmRelease/apps/web takes its chart from HelmRepository/apps/charts") }, "\(source)")
        let dependency = try #require(tree.problems.first { $0.title == "Depends on a suspended HelmRelease" }, "\(tree.problems)")
        #expect(dependency.level == .error && dependency.location?.file == "apps/releases.yaml" && dependency.message.contains("depends on HelmRelease/apps/db"), "\(dependency)")

        let quiet = try await Self.tree(suspended: false)
        #expect(!quiet.problems.contains { $0.title == "Source suspended" || $0.title == "Depends on a suspended HelmRelease" }, "\(quiet.problems)")
    }
}
