import Foundation
import Testing
import TestSupport

/// The step summary of `bootstrap`, `bootstrap --plan`, `e2e` and `e2e --plan` on every path
/// (issue 15, tester t5 G): the verdict first (passed, or which object failed, at which revision,
/// in how long), then the graph, then the tables, one heading level, every file:line a link to
/// that line at the tested commit. Against the fake API server with the fake Flux controller
/// (stand-ins), the example fleet served by a real git server; the failing variants are branches.
@Suite(.serialized) struct SummaryPathsTests {
    static let github = ["GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "acme/fleet"]
    static let graphHeading = "### What a run waits for (not reached)"

    /// A dependsOn typo at clusters/kind/local/apps.yaml:9 (a tree check fails).
    static func typo(_ checkout: URL) throws {
        let apps = checkout.appendingPathComponent("clusters/kind/local/apps.yaml")
        try (try String(contentsOf: apps, encoding: .utf8)).replacingOccurrences(of: "- name: infrastructure", with: "- name: infra")
            .write(to: apps, atomically: true, encoding: .utf8)
    }

    static let tamperedFile = "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"

    /// One encrypted value's ciphertext changed: the preflight fails at that file, which only
    /// flux-system/apps reaches.
    static func tampered(_ checkout: URL) throws {
        let file = checkout.appendingPathComponent(tamperedFile)
        let text = try String(contentsOf: file, encoding: .utf8)
        let changed = text.replacing(/username: ENC\[AES256_GCM,data:(.)/) { match in
            "username: ENC[AES256_GCM,data:" + (match.output.1 == "A" ? "B" : "A")
        }
        #expect(changed != text)
        try changed.write(to: file, atomically: true, encoding: .utf8)
    }

    /// The shape every summary has: the verdict heading first, then the graph (a Mermaid block
    /// under its heading), then the tables; every heading at level 3; no table cell holding a
    /// file:line that is not a link to that line at `commit`. Returns the headings.
    @discardableResult
    static func checkShape(_ summary: String, verdict: String, graphHeading: String = graphHeading, commit: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        let lines = summary.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let headings = lines.filter { $0.hasPrefix("#") }
        #expect(headings.first?.hasPrefix(verdict) == true, "verdict first: \(headings)", sourceLocation: sourceLocation)
        #expect(headings.dropFirst().first == graphHeading, "then the graph: \(headings)", sourceLocation: sourceLocation)
        #expect(headings.allSatisfy { $0.hasPrefix("### ") }, "one heading level: \(headings)", sourceLocation: sourceLocation)
        if let graph = lines.firstIndex(of: graphHeading) {
            #expect(lines[(graph + 1)...].first { !$0.isEmpty } == "```mermaid", "the graph's heading holds the Mermaid block", sourceLocation: sourceLocation)
        }
        let firstTable = lines.firstIndex { $0.hasPrefix("| ") }
        let mermaid = lines.firstIndex(of: "```mermaid")
        #expect(mermaid != nil && firstTable != nil && mermaid! < firstTable!, "the tables after the graph", sourceLocation: sourceLocation)
        // A cell that is only file:line is unlinked; a link points at that line at the commit.
        let cells = lines.filter { $0.hasPrefix("| ") }.flatMap { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        let unlinked = cells.filter { $0.wholeMatch(of: /[A-Za-z0-9_.\/-]+\.ya?ml:\d+/) != nil }
        #expect(unlinked.isEmpty, "every file:line links: \(unlinked)", sourceLocation: sourceLocation)
        for link in summary.matches(of: /\[([A-Za-z0-9_.\/-]+):(\d+)\]\(([^)]*)\)/) {
            #expect(
                link.output.3 == "https://github.example/acme/fleet/blob/\(commit)/\(link.output.1)#L\(link.output.2)", "\(link.output.0)",
                sourceLocation: sourceLocation)
        }
        return headings
    }

    /// An output as GITHUB_OUTPUT holds it (`name<<delimiter`, the value, the delimiter).
    static func output(_ name: String, in file: URL) -> String? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.lastIndex(where: { $0.hasPrefix("\(name)<<") }), start + 1 < lines.count else { return nil }
        return String(lines[start + 1])
    }

    static func link(_ file: String, _ line: Int, commit: String) -> String {
        "[\(file):\(line)](https://github.example/acme/fleet/blob/\(commit)/\(file)#L\(line))"
    }

    static func mermaidLines(_ summary: String) -> [String] { WaitForFluxObjectsTests.mermaid(summary) }

    static func failedClass(_ summary: String) -> String? { mermaidLines(summary).first { $0.hasPrefix("class ") && $0.hasSuffix(" failed") } }

    static let apps = WaitForFluxObjectsTests.id("Kustomization", "flux-system", "apps")

    /// The example fleet with two more branches: `typo` (a tree check fails), `tampered` (the
    /// preflight fails); the checkout is left on main.
    static func branches(_ fleet: ExampleFleet) async throws -> (main: String, typo: String, tampered: String) {
        let main = try await fleet.head()
        let typo = try await fleet.branch("typo", Self.typo)
        try await git(["checkout", "--quiet", "main"], in: fleet.checkout)
        let tampered = try await fleet.branch("tampered", Self.tampered)
        try await git(["checkout", "--quiet", "main"], in: fleet.checkout)
        return (main, typo, tampered)
    }

    /// The checks of a run stopped by the dependsOn typo: the verdict names the Kustomization and
    /// the line, the graph marks it failed and links that line, the Kustomization table and the
    /// problems follow.
    static func checkTreeFailure(_ summary: String, command: String, commit: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let headings = checkShape(
            summary,
            verdict: "### ❌ \(command)Kustomization/flux-system/apps: Unknown dependency (\(link("clusters/kind/local/apps.yaml", 9, commit: commit))) at typo@sha1:\(commit.prefix(12)), after ",
            commit: commit, sourceLocation: sourceLocation)
        #expect(headings.contains("### Kustomizations of clusters/kind/local"), "\(headings)", sourceLocation: sourceLocation)
        #expect(headings.contains { $0.hasPrefix("### Problems (") }, sourceLocation: sourceLocation)
        #expect(failedClass(summary) == "class \(apps) failed", "\(mermaidLines(summary))", sourceLocation: sourceLocation)
        #expect(
            mermaidLines(summary).contains(
                "click \(apps) href \"https://github.example/acme/fleet/blob/\(commit)/clusters/kind/local/apps.yaml#L9\" \"clusters/kind/local/apps.yaml:9\" _blank"),
            sourceLocation: sourceLocation)
    }

    /// The preflight failure: the verdict names the Kustomization that reaches the file, and the file.
    static func checkPreflightFailure(_ summary: String, command: String, commit: String, sourceLocation: SourceLocation = #_sourceLocation) {
        checkShape(summary, verdict: "### ❌ \(command)Kustomization/flux-system/apps: ", commit: commit, sourceLocation: sourceLocation)
        let verdict = summary.split(separator: "\n").first.map(String.init) ?? ""
        #expect(verdict.contains("[\(tamperedFile):") && verdict.contains("at tampered@sha1:\(commit.prefix(12)), after "), "\(verdict)", sourceLocation: sourceLocation)
        #expect(failedClass(summary) == "class \(apps) failed", "\(mermaidLines(summary))", sourceLocation: sourceLocation)
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func bootstrapOnEveryPath() async throws {
        let setup = try await BootstrapTests.setup()
        defer { Task { await setup.stop() } }
        let (main, typo, tampered) = try await Self.branches(setup.fleet)
        let outputs = setup.fleet.checkout.deletingLastPathComponent().appendingPathComponent("outputs")
        func run(_ arguments: [String]) async throws -> (ProcessResult, String) {
            try? FileManager.default.removeItem(at: outputs)
            return try await setup.run(arguments, environment: Self.github.merging(["GITHUB_OUTPUT": outputs.path]) { $1 })
        }
        /// The `revision` output, written on every path once the branch is resolved.
        func revision() -> String? { Self.output("revision", in: outputs) }

        // The plan passes: Plan OK at the revision, the graph of what a run waits for.
        let (plan, planSummary) = try await run(["--plan", "--branch", "main"])
        #expect(plan.status == 0, "\(plan.allOutput)")
        let headings = Self.checkShape(planSummary, verdict: "### ✅ fluxci bootstrap --plan: Plan OK at main@sha1:\(main.prefix(12)) in ", commit: main)
        #expect(headings.contains("### Kustomizations of clusters/kind/local") && headings.contains { $0.hasPrefix("### SOPS preflight") }, "\(headings)")
        #expect(Self.failedClass(planSummary) == nil)
        #expect(planSummary.contains("(no cluster was touched)"))

        // A tree check fails, in a plan and in a run.
        for (arguments, command) in [(["--plan"], "fluxci bootstrap --plan: Failed: "), ([], "fluxci bootstrap: Failed: ")] {
            let (failed, summary) = try await run(arguments + ["--branch", "typo"])
            #expect(failed.status == 1, "\(failed.allOutput)")
            Self.checkTreeFailure(summary, command: command, commit: typo)
            #expect(revision() == "typo@sha1:\(typo)")
        }
        // The preflight fails.
        let (preflight, preflightSummary) = try await run(["--branch", "tampered"])
        #expect(preflight.status == 1, "\(preflight.allOutput)")
        #expect(revision() == "tampered@sha1:\(tampered)")
        Self.checkPreflightFailure(preflightSummary, command: "fluxci bootstrap: Failed: ", commit: tampered)
        #expect(!setup.api.requests.contains { $0.hasPrefix("PATCH") }, "nothing was applied")

        // The wait times out, then fails (the fake API server keeps what an earlier run made
        // ready: the timeout comes first): the wait's graph, the object that failed.
        setup.controller.set("infrastructure", .never)
        let (timedOut, timeoutSummary) = try await run(["--branch", "main", "--timeout", "15s"])
        #expect(timedOut.status == 1, "\(timedOut.allOutput)")
        #expect(revision() == "main@sha1:\(main)")
        let timeoutHeadings = Self.checkShape(
            timeoutSummary, verdict: "### ❌ fluxci bootstrap: Failed: Kustomization/flux-system/infrastructure", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)
        #expect(timeoutHeadings.first?.contains("at main@sha1:\(main.prefix(12)), after ") == true, "\(timeoutHeadings)")

        setup.controller.set("infrastructure", .succeed)
        setup.controller.set("apps", .fail(reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"))
        let (waitFailed, waitSummary) = try await run(["--branch", "main", "--timeout", "30s"])
        #expect(waitFailed.status == 1, "\(waitFailed.allOutput)")
        Self.checkShape(
            waitSummary, verdict: "### ❌ fluxci bootstrap: Failed: Kustomization/flux-system/apps: HealthCheckFailed: timeout waiting for", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)
        #expect(Self.failedClass(waitSummary) == "class \(Self.apps) failed")
        // It passes.
        setup.controller.set("apps", .succeed)
        let (passed, passedSummary) = try await run(["--branch", "main"])
        #expect(passed.status == 0, "\(passed.allOutput)")
        // Written once (tester t13 F11: it was written again, unchanged, before the apply).
        #expect(((try? String(contentsOf: outputs, encoding: .utf8)) ?? "").components(separatedBy: "revision<<").count - 1 == 1)
        Self.checkShape(
            passedSummary, verdict: "### ✅ fluxci bootstrap: Passed: main@sha1:\(main.prefix(12)) reconciled, ", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)
    }

    @Test(.standIn("the fake Flux controller's fault injection")) func e2eOnEveryPath() async throws {
        let setup = try await E2ETests.setup()
        defer { Task { await setup.stop() } }
        let (main, typo, tampered) = try await Self.branches(setup.fleet)
        let outputs = setup.tmp.appendingPathComponent("outputs")
        func run(_ arguments: [String]) async throws -> (ProcessResult, String) {
            let summary = setup.tmp.appendingPathComponent("summary-\(UUID().uuidString.prefix(6))")
            try? FileManager.default.removeItem(at: outputs)
            let result = try await runProcess(
                TestPaths.executable("fluxci"), ["e2e", "--cloud", "kind", "--env", "local"] + arguments,
                environment: setup.environment.merging(Self.github) { $1 }.merging(["GITHUB_STEP_SUMMARY": summary.path, "GITHUB_OUTPUT": outputs.path]) { $1 },
                workingDirectory: setup.fleet.checkout)
            return (result, (try? String(contentsOf: summary, encoding: .utf8)) ?? "")
        }
        func revision() -> String? { Self.output("revision", in: outputs) }

        let (plan, planSummary) = try await run(["--plan", "--branch", "main"])
        #expect(plan.status == 0, "\(plan.allOutput)")
        Self.checkShape(planSummary, verdict: "### ✅ fluxci e2e --plan: Plan OK at main@sha1:\(main.prefix(12)) in ", commit: main)

        for (arguments, command) in [(["--plan"], "fluxci e2e --plan"), ([], "fluxci e2e")] {
            let (failed, summary) = try await run(arguments + ["--branch", "typo"])
            #expect(failed.status == 11, "\(failed.allOutput)")
            Self.checkTreeFailure(summary, command: "\(command): Failed at Resolve the branch and check the Flux tree (exit 11): ", commit: typo)
            #expect(revision() == "typo@sha1:\(typo)")
        }
        let (preflight, preflightSummary) = try await run(["--branch", "tampered"])
        #expect(preflight.status == 12, "\(preflight.allOutput)")
        #expect(revision() == "tampered@sha1:\(tampered)")
        Self.checkPreflightFailure(preflightSummary, command: "fluxci e2e: Failed at SOPS preflight (exit 12): ", commit: tampered)
        #expect(setup.kind.calls.isEmpty, "no cluster was made")

        setup.controller.set("infrastructure", .never)
        let (timedOut, timeoutSummary) = try await run(["--branch", "main", "--timeout", "15s"])
        #expect(timedOut.status == 15, "\(timedOut.allOutput)")
        Self.checkShape(
            timeoutSummary, verdict: "### ❌ fluxci e2e: Failed: Kustomization/flux-system/infrastructure", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)

        setup.controller.set("infrastructure", .succeed)
        setup.controller.set("apps", .fail(reason: "HealthCheckFailed", message: "timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"))
        let (waitFailed, waitSummary) = try await run(["--branch", "main", "--timeout", "30s"])
        #expect(waitFailed.status == 15, "\(waitFailed.allOutput)")
        let headings = Self.checkShape(
            waitSummary, verdict: "### ❌ fluxci e2e: Failed: Kustomization/flux-system/apps: HealthCheckFailed: timeout waiting for", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)
        #expect(headings.first?.hasSuffix(" (exit 15)") == true, "\(headings)")
        // The preflight's counts are its own outputs, not the run's: no `failed=0` on a run that
        // failed at the reconciliation (tester t15 F10).
        #expect(Self.output("failed", in: outputs) == nil && Self.output("files", in: outputs) == nil)
        #expect(Self.output("sops-failed", in: outputs) == "0" && Self.output("sops-files", in: outputs).flatMap(Int.init).map { $0 > 0 } == true)
        setup.controller.set("apps", .succeed)
        let (passed, passedSummary) = try await run(["--branch", "main"])
        #expect(passed.status == 0, "\(passed.allOutput)")
        let passedHeadings = Self.checkShape(
            passedSummary, verdict: "### ✅ fluxci e2e: Passed: main@sha1:\(main.prefix(12)) reconciled, ", graphHeading: "### Reconciliation of main@sha1:\(main.prefix(12))",
            commit: main)
        #expect(passedHeadings.contains("### Steps"), "\(passedHeadings)")
    }
}
