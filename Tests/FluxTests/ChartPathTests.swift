import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// A HelmRelease whose chart comes from a path of the branch's own GitRepository: the path must
/// be in the artifact, as source-controller's local chart builder loads `Chart.yaml` there
/// (tester t5 E, fleets 23e, 23a, 28b). Built with the real kubectl kustomize.
@Suite struct ChartPathTests {
    /// `chartSpec` (lines at 6 spaces) follows the sourceRef, from line 14.
    static func release(path: String, source: String = "flux-system", kind: String = "GitRepository", chartSpec: String = "") -> String {
        """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: local
          namespace: flux-system
        spec:
          interval: 10m
          chart:
            spec:
              chart: \(path)
              sourceRef:
                kind: \(kind)
                name: \(source)
        \(chartSpec)
        """
    }

    static func fleet(path: String, extra: [String: String] = [:], chart: [String: String] = ["charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n"]) async throws -> Fleet {
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/release.yaml": release(path: path),
        ]
        files.merge(chart) { $1 }
        files.merge(extra) { $1 }
        return try await Fleet.make(files)
    }

    @Test func aChartFolderInTheArtifactIsQuiet() async throws {
        for path in ["./charts/app", "charts/app/", "/charts/app"] {
            let fleet = try await Self.fleet(path: path)
            defer { fleet.remove() }
            let tree = try fleet.read()
            #expect(tree.problems.isEmpty, "\(path): \(tree.problems)")
        }
        // A packaged chart file is copied as it is.
        let packaged = try await Self.fleet(path: "./charts/app-1.0.0.tgz", chart: ["charts/app-1.0.0.tgz": "not read here"])
        defer { packaged.remove() }
        #expect(try packaged.read().problems.isEmpty)
    }

    @Test func aMistypedChartPathIsAnErrorAtTheChartLine() async throws {
        let fleet = try await Self.fleet(path: "./charts/ap")
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.count == 1, "\(tree.problems)")
        let problem = try #require(tree.problem("Chart path not in the artifact"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "apps/release.yaml", line: 10))
        #expect(problem.message.contains("charts/ap does not exist at"), "\(problem.message)")
        #expect(problem.message.contains("InvalidChartReference"))
    }

    @Test func aChartLeftOutByTheSourceIgnoreNamesTheIgnoreLine() async throws {
        let fleet = try await Self.fleet(path: "./charts/app", extra: [".sourceignore": "# charts are published elsewhere\ncharts/\n"])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.count == 1, "\(tree.problems)")
        let problem = try #require(tree.problem("Chart path not in the artifact"))
        #expect(problem.location == SourceLocation(file: "apps/release.yaml", line: 10))
        #expect(problem.message.contains(".sourceignore:2"), "\(problem.message)")
    }

    @Test func aFolderWithoutChartYamlIsAnError() async throws {
        let fleet = try await Self.fleet(path: "./charts/app", chart: ["charts/app/values.yaml": "replicas: 1\n"])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Chart path not in the artifact"), "\(tree.problems)")
        #expect(problem.message.contains("charts/app has no Chart.yaml"), "\(problem.message)")
        #expect(tree.errors.count == 1)
    }

    @Test func anotherGitRepositoryIsNotedAsNotChecked() async throws {
        let other = """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata:
              name: charts
              namespace: flux-system
            spec:
              interval: 1h
              url: https://example.com/charts.git
              ref: {branch: main}
            """
        let fleet = try await Self.fleet(path: "./not/here", extra: [
            "apps/release.yaml": Self.release(path: "./not/here", source: "charts"), "apps/charts.yaml": other,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        let notice = try #require(tree.problem("Chart path not checked"), "\(tree.problems)")
        #expect(notice.level == .notice)
        #expect(notice.location == SourceLocation(file: "apps/release.yaml", line: 10))
    }
}
