import Foundation
import Testing
import TestSupport

/// The README's example step summary is the output of a real run, not retyped: this test runs
/// the failed-install case (WaitForFluxObjectsTests' fleet, podinfo's install failing) as on
/// GitHub and compares the summary it writes with the README's block, with what changes from
/// run to run (commits, digests, times, the git server's port, temporary paths) masked on both
/// sides. `FLUXCI_UPDATE_README=1 swift test --filter ReadmeSummaryTests` writes the block anew.
@Suite(.serialized) struct ReadmeSummaryTests {
    static let begin = "<!-- step-summary-example: the output of ReadmeSummaryTests (FLUXCI_UPDATE_README=1 rewrites it) -->"
    static let end = "<!-- end of step-summary-example -->"

    /// Run-to-run values, masked.
    static func masked(_ text: String) -> String {
        text.replacing(/[0-9a-f]{40}/, with: "<commit>")
            .replacing(/(sha1|sha256):[0-9a-f]{12,64}/) { "\($0.output.1):<hex>" }
            .replacing(/[0-9a-f]{7}…/, with: "<short>…")
            .replacing(/(\d+m)?\d+(\.\d+)?(s|ms)\b/, with: "<time>")  // Reporter.format: 1.23s, 12.3s, 1m05s
            .replacing(/127\.0\.0\.1:\d+/, with: "127.0.0.1:<port>")
            .replacing(/\/[^\s|)`"]*fluxci-[^\s|)`"]*/, with: "<path>")
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func theReadmesStepSummaryIsTheOutputOfARun() async throws {
        let setup = try await WaitForFluxObjectsTests.setup()
        defer { Task { await setup.stop() } }
        setup.controller.set(helmRelease: "podinfo", .installFailed(message: "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"))
        let (result, summary) = try await setup.run(
            ["--timeout", "300s"], environment: ["GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/fleet"])
        #expect(result.status == 1, "\(result.allOutput)")
        #expect(summary.hasPrefix("### ❌ fluxci bootstrap: Failed: HelmRelease/apps/podinfo"), "\(summary)")

        let readmeURL = TestPaths.packageRoot.appendingPathComponent("README.md")
        let readme = try String(contentsOf: readmeURL, encoding: .utf8)
        let start = try #require(readme.range(of: Self.begin + "\n"), "the README marks its example")
        let stop = try #require(readme.range(of: Self.end, range: start.upperBound..<readme.endIndex))
        let block = "````markdown\n" + summary.trimmingCharacters(in: .newlines) + "\n````\n"
        if ProcessInfo.processInfo.environment["FLUXCI_UPDATE_README"] == "1" {
            try (readme[..<start.upperBound] + block + readme[stop.lowerBound...]).write(to: readmeURL, atomically: true, encoding: .utf8)
            return
        }
        let written = Self.masked(String(readme[start.upperBound..<stop.lowerBound])).split(separator: "\n", omittingEmptySubsequences: false)
        let generated = Self.masked(block).split(separator: "\n", omittingEmptySubsequences: false)
        let differing = zip(written, generated).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(
            written == generated,
            """
            the README's example is not this run's summary (FLUXCI_UPDATE_README=1 swift test --filter ReadmeSummaryTests rewrites it); \
            first difference at line \(differing.map { "\($0.offset + 1):\nREADME: \($0.element.0)\nrun:    \($0.element.1)" } ?? "the end: \(written.count) against \(generated.count) lines")
            """)
    }
}
