import Foundation
import Testing
import TestSupport

/// The composite action's `fluxci e2e` step, run by bash as the runner runs it (its `run:` block
/// read from action.yml, `FLUXCI` a stand-in that records its arguments): each input reaches the
/// command as its flag, and only when given.
@Suite struct ActionInputsTests {
    /// The `run: |` block of the step named `name`, unindented.
    static func runBlock(step name: String) throws -> String {
        let text = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("action.yml"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "- name: \(name)" }, "the step \(name)")
        let run = try #require(lines[start...].firstIndex { $0.trimmingCharacters(in: .whitespaces) == "run: |" }, "its run block")
        let indent = lines[run + 1].prefix { $0 == " " }.count
        var block: [String] = []
        for line in lines[(run + 1)...] {
            if !line.trimmingCharacters(in: .whitespaces).isEmpty && line.prefix { $0 == " " }.count < indent { break }
            block.append(String(line.dropFirst(min(indent, line.count))))
        }
        return block.joined(separator: "\n")
    }

    static func arguments(_ inputs: [String: String]) async throws -> [String] {
        let folder = try TestPaths.temporaryDirectory("fluxci-action")
        removeAtExit(folder)
        let recorder = folder.appendingPathComponent("fluxci")
        let record = folder.appendingPathComponent("arguments")
        try "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"\(record.path)\"\n".write(to: recorder, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: recorder.path)
        let script = folder.appendingPathComponent("step.sh")
        // GitHub runs a bash step as `bash --noprofile --norc -eo pipefail {0}`.
        try Self.runBlock(step: "fluxci e2e").write(to: script, atomically: true, encoding: .utf8)
        var environment = [
            "FLUXCI": recorder.path, "INPUT_CLOUD": "kind", "INPUT_ENV": "local", "INPUT_CLUSTER_NAME": "fluxci", "INPUT_TIMEOUT": "15m",
            "INPUT_SECRET_NAMES": "gpg=sops-gpg,age=sops-age", "INPUT_PATH": ".", "INPUT_PLAN_ONLY": "false", "INPUT_KEEP_CLUSTER": "false",
            "INPUT_SERVE": "false", "INPUT_INCLUDE_WORKTREE": "false",
        ]
        environment.merge(inputs) { $1 }
        let result = try await runTool("bash", ["--noprofile", "--norc", "-eo", "pipefail", script.path], environment: environment)
        #expect(result.status == 0, "\(result.allOutput)")
        return try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func serveAndIncludeWorktreeReachE2E() async throws {
        let plain = try await Self.arguments([:])
        #expect(plain.first == "e2e" && plain.contains("--cloud") && plain.contains("kind"), "\(plain)")
        #expect(!plain.contains("--serve") && !plain.contains("--include-worktree"), "\(plain)")
        let served = try await Self.arguments(["INPUT_SERVE": "true", "INPUT_INCLUDE_WORKTREE": "true", "INPUT_PLAN_ONLY": "true"])
        #expect(served.contains("--serve") && served.contains("--include-worktree") && served.contains("--plan"), "\(served)")
        let serveOnly = try await Self.arguments(["INPUT_SERVE": "true"])
        #expect(serveOnly.contains("--serve") && !serveOnly.contains("--include-worktree"), "\(serveOnly)")
    }
}
