import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t12 F5: a HelmRelease whose chart comes from the branch's own GitRepository names
/// `spec.chart.spec.valuesFiles` that source-controller's local chart builder reads from the
/// artifact's root (`mergeFileValues`): one not in the artifact fails the HelmChart ("no values
/// file found at path"), unless `ignoreMissingValuesFiles: true`. Built with the real kubectl
/// kustomize.
@Suite struct ValuesFilesTests {
    /// The release's valuesFiles entries are on lines 15 and on.
    static func release(_ files: [String], ignoreMissing: Bool = false, sourceKind: String = "GitRepository", chart: String = "./charts/app") -> String {
        let entries = files.map { "\n        - \($0)" }.joined()
        return ChartPathTests.release(
            path: chart, kind: sourceKind, chartSpec: "      valuesFiles:\(entries)" + (ignoreMissing ? "\n      ignoreMissingValuesFiles: true" : ""))
    }

    static func fleet(_ release: String, extra: [String: String] = [:], links: [String: String] = [:]) async throws -> Fleet {
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/release.yaml": release,
            "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "charts/app/values.yaml": "replicas: 1\n",
            "charts/app/values-prod.yaml": "replicas: 3\n",
        ]
        files.merge(extra) { $1 }
        return try await Fleet.make(files, links: links)
    }

    @Test func valuesFilesInTheArtifactAreQuiet() async throws {
        let fleet = try await Self.fleet(Self.release(["charts/app/values.yaml", "./charts/app/values-prod.yaml", "/charts/app/values-prod.yaml"]))
        defer { fleet.remove() }
        #expect(try fleet.read().problems.isEmpty)
    }

    @Test(arguments: [
        // A typo.
        (files: ["charts/app/values.yaml", "charts/app/values-prd.yaml"], extra: [String: String](), links: [String: String](), line: 16, says: "charts/app/values-prd.yaml does not exist at"),
        // Relative to the chart, not to the artifact's root.
        (files: ["values-prod.yaml"], extra: [:], links: [:], line: 15, says: "values-prod.yaml does not exist at"),
        // Left out by a .sourceignore.
        (files: ["charts/app/values-secret.yaml"], extra: [".sourceignore": "# kept local\n*-secret.yaml\n", "charts/app/values-secret.yaml": "a: b\n"], links: [:], line: 15, says: ".sourceignore:2"),
        // A symbolic link, which source-controller leaves out.
        (files: ["charts/app/values-link.yaml"], extra: [:], links: ["charts/app/values-link.yaml": "values.yaml"], line: 15, says: "symbolic link"),
    ])
    func aValuesFileNotInTheArtifactIsAnErrorAtItsEntry(files: [String], extra: [String: String], links: [String: String], line: Int, says: String) async throws {
        let fleet = try await Self.fleet(Self.release(files), extra: extra, links: links)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Values file not in the artifact"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "apps/release.yaml", line: line), "\(problem.location as Any)")
        #expect(problem.message.contains(says), "\(problem.message)")
        #expect(problem.message.contains("no values file found at path"), "\(problem.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    /// `ignoreMissingValuesFiles: true` skips a file that does not exist, but not a folder
    /// (source-controller: "not a regular file").
    @Test func ignoreMissingValuesFilesSkipsOnlyWhatDoesNotExist() async throws {
        let missing = try await Self.fleet(Self.release(["charts/app/values-prd.yaml"], ignoreMissing: true))
        defer { missing.remove() }
        #expect(try missing.read().problems.isEmpty)

        let folder = try await Self.fleet(Self.release(["charts/app"], ignoreMissing: true))
        defer { folder.remove() }
        let tree = try folder.read()
        let problem = try #require(tree.problem("Values file not in the artifact"), "\(tree.problems)")
        #expect(problem.message.contains("charts/app is a folder"), "\(problem.message)")
    }

    /// A chart of a HelmRepository reads its values files from the chart, which fluxci does not
    /// fetch: not judged.
    @Test func aHelmRepositoryChartIsNotJudged() async throws {
        let repository = HelmReleaseReferencesTests.repository.replacingOccurrences(of: "name: podinfo", with: "name: flux-system")
        let fleet = try await Self.fleet(Self.release(["values-absent.yaml"], sourceKind: "HelmRepository", chart: "podinfo"), extra: ["apps/repository.yaml": repository])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problem("Values file not in the artifact") == nil, "\(tree.problems)")
    }
}
