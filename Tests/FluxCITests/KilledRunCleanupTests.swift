import Foundation
import Testing
import TestSupport

/// A runner that kills `fluxci e2e` (SIGKILL on a cancel or a step timeout: none of fluxci's own
/// cleanup runs) leaves the keyring where the action's `if: always()` step finds it: under
/// RUNNER_TEMP, named in GITHUB_ENV from the moment it exists.
@Suite(.serialized) struct KilledRunCleanupTests {
    @Test func theActionsCleanupRemovesTheKeyringOfAKilledRun() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-killed")
        defer { try? FileManager.default.removeItem(at: directory) }
        let runner = directory.appendingPathComponent("runner"), tmp = directory.appendingPathComponent("tmp")
        for folder in [runner, tmp] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }

        // A git server that accepts and never answers: e2e has made its keyring (the first step)
        // and waits on the branch lookup (the second) when the server records a connection.
        let script = """
            import socket, sys, os
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            open(sys.argv[1] + "/pid", "w").write(str(os.getpid()))
            open(sys.argv[1] + "/port.tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
            held = []
            while True:
                held.append(s.accept()[0]); open(sys.argv[1] + "/accepted", "w").close()
            """
        let server = Task { try await runTool("python3", ["-c", script, directory.path]) }
        defer { if let pid = Self.pid(directory.appendingPathComponent("pid")) { kill(pid, SIGKILL) }; server.cancel() }
        let port = try await Self.waitFor(directory.appendingPathComponent("port"))

        let checkout = directory.appendingPathComponent("checkout")
        _ = try await runTool("git", ["init", "--quiet", checkout.path])
        let gpg = try await GPGFixtures.shared()
        let age = try await AgeKeyPair.generate()
        let githubEnv = runner.appendingPathComponent("GITHUB_ENV")
        let pidFile = directory.appendingPathComponent("fluxci.pid")
        let environment = [
            "GITHUB_ACTIONS": "true", "RUNNER_TEMP": runner.path, "TMPDIR": tmp.path, "GITHUB_ENV": githubEnv.path,
            "SOPS_GPG_KEY": gpg.ed25519.secretArmor, "SOPS_AGE_KEY": age.identity, "FLUXCI_GIT_TIMEOUT": "600",
        ]
        // sh records its pid and execs fluxci in its place: the pid is fluxci's.
        let run = Task {
            try await runProcess(
                URL(fileURLWithPath: "/bin/sh"),
                ["-c", "echo $$ > \"$0\"; exec \"$@\"", pidFile.path, TestPaths.executable("fluxci").path,
                 "e2e", "--cloud", "kind", "--env", "local", "--plan", "--branch", "main", "--url", "http://127.0.0.1:\(port)/fleet.git"],
                environment: environment, workingDirectory: checkout)
        }
        // Until the server saw e2e's connection; a run that ended before that failed the test.
        for _ in 0..<2400 where !FileManager.default.fileExists(atPath: directory.appendingPathComponent("accepted").path) {
            try await Task.sleep(for: .milliseconds(50))
            if let pid = Self.pid(pidFile), kill(pid, 0) != 0 {
                let ended = try await run.value
                Issue.record("e2e ended before it reached the git server: \(ended.allOutput)")
                return
            }
        }
        let fluxci = try #require(Self.pid(pidFile))
        #expect(kill(fluxci, SIGKILL) == 0)
        let killed = try await run.value
        #expect(killed.status == 128 + SIGKILL, "\(killed.allOutput)")

        // What the runner hands the next step: GITHUB_ENV's variables.
        let exported = parseFileCommands((try? String(contentsOf: githubEnv, encoding: .utf8)) ?? "")
        let keyring = try #require(exported["FLUXCI_KEYRING"], "GITHUB_ENV: \(exported)")
        #expect(keyring.hasPrefix(runner.path + "/fluxci."), "the keyring is under RUNNER_TEMP: \(keyring)")
        #expect(FileManager.default.fileExists(atPath: keyring + "/age.agekey"), "the kill left the age identities behind")
        #expect(!Self.processes(mentioning: keyring).isEmpty, "the kill left the keyring's gpg-agent running")

        // The action's cleanup step, as action.yml runs it.
        let cleanup = try await runProcess(
            TestPaths.executable("fluxci"), ["keys", "cleanup"],
            environment: ["GITHUB_ACTIONS": "true", "FLUXCI_KEYRING": keyring, "RUNNER_TEMP": runner.path])
        #expect(cleanup.status == 0, "\(cleanup.allOutput)")
        #expect(!FileManager.default.fileExists(atPath: keyring), "the keyring is removed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: runner.path).filter { $0.hasPrefix("fluxci.") }.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty)
        // gpgconf --kill returns before the agent has exited.
        for _ in 0..<100 where !Self.processes(mentioning: keyring).isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.processes(mentioning: keyring).isEmpty, "no process of the keyring remains")
    }

    static func pid(_ file: URL) -> Int32? {
        (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func waitFor(_ file: URL, seconds: Int = 10) async throws -> String {
        for _ in 0..<(seconds * 20) {
            if let text = try? String(contentsOf: file, encoding: .utf8) { return text }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: file.path])
    }

    /// The pids whose command line names `path` (gpg-agent runs with --homedir <keyring>).
    static func processes(mentioning path: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.allSatisfy(\.isNumber) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(path)
        }
    }
}
