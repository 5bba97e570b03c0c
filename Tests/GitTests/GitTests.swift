import Foundation
import Testing
import TestSupport

@testable import Git

/// libgit2 against real repositories and a real git server (smart HTTP on 127.0.0.1).
@Suite(.serialized) struct GitTests {
    /// A work repository with two branches, pushed to a served bare repository.
    static func served(token: String? = nil) async throws -> (server: GitServer, work: URL, main: String, feature: String) {
        let server = try await GitServer.start(token: token)
        let bare = try await server.createRepository("fleet.git")
        let work = try TestPaths.temporaryDirectory("fluxci-work")
        removeAtExit(work)
        try await git(["init", "--initial-branch=main", work.path])
        try FileManager.default.createDirectory(at: work.appendingPathComponent("clusters/kind/local"), withIntermediateDirectories: true)
        try "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n".write(to: work.appendingPathComponent("clusters/kind/local/ns.yaml"), atomically: true, encoding: .utf8)
        try await git(["add", "."], in: work)
        try await git(["commit", "-m", "first"], in: work)
        try await git(["checkout", "-b", "feature"], in: work)
        try "data".write(to: work.appendingPathComponent("clusters/kind/local/feature.txt"), atomically: true, encoding: .utf8)
        try await git(["add", "."], in: work)
        try await git(["commit", "-m", "feature"], in: work)
        try await git(["remote", "add", "origin", bare.path], in: work)
        try await git(["push", "origin", "main", "feature"], in: work)
        return (server, work, try await git(["rev-parse", "main"], in: work), try await git(["rev-parse", "feature"], in: work))
    }

    @Test func resolvesBranchesLocallyAndOnTheServer() async throws {
        let (server, work, main, feature) = try await Self.served()
        defer { server.stop() }
        let repository = try Repository.open(containing: work.appendingPathComponent("clusters").path)
        #expect(try repository.head() == ("feature", feature))
        #expect(repository.resolveBranch("main") == main)
        let remote = try Repository.listRemote(server.url("fleet.git"))
        #expect(remote["refs/heads/main"] == main && remote["refs/heads/feature"] == feature)
    }

    @Test func fetchesABranchAndReadsItsTreeWithoutCheckout() async throws {
        let (server, _, _, feature) = try await Self.served()
        defer { server.stop() }
        let scratch = try TestPaths.temporaryDirectory("fluxci-fetch")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let repository = try Repository.initBare(at: scratch.path)
        #expect(try repository.fetch(server.url("fleet.git"), branch: "feature") == feature)
        #expect(try repository.readFile(commit: feature, path: "./clusters/kind/local/feature.txt") == Data("data".utf8))
        #expect(try repository.readFile(commit: feature, path: "clusters/missing.yaml") == nil)
        #expect(try repository.entryKind(commit: feature, path: "clusters/kind") == .directory)
        #expect(try repository.listFiles(commit: feature, under: "clusters").map(\.path) == ["clusters/kind/local/feature.txt", "clusters/kind/local/ns.yaml"])
        let out = scratch.appendingPathComponent("out")
        try repository.checkout(commit: feature, path: "clusters/kind", to: out)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("clusters/kind/local/ns.yaml").path))
        #expect {
            try repository.fetch(server.url("fleet.git"), branch: "no-such-branch")
        } throws: { error in "\(error)".contains("no-such-branch") }
    }

    @Test func privateRepositoriesNeedTheToken() async throws {
        let (server, _, main, _) = try await Self.served(token: "s3cr3t-token")
        defer { server.stop() }
        #expect(try Repository.listRemote(server.url("fleet.git"), credentials: GitCredentials(token: "s3cr3t-token"))["refs/heads/main"] == main)
        #expect { try Repository.listRemote(server.url("fleet.git")) } throws: { error in
            if case .authentication(_, let detail) = error as? GitError { detail.contains("none were given") } else { false }
        }
        #expect { try Repository.listRemote(server.url("fleet.git"), credentials: GitCredentials(token: "wrong")) } throws: { error in
            if case .authentication(_, let detail) = error as? GitError { detail.contains("refused") } else { false }
        }
    }

    @Test func aServerThatIsNotThereFailsClearly() throws {
        #expect { try Repository.listRemote("http://127.0.0.1:1/git/http/none.git") } throws: { error in
            "\(error)".contains("127.0.0.1:1")
        }
    }
}

/// Commit and push with libgit2 to the real server: a change, no change, a rejected push, and a
/// race with another pusher (non-fast-forward, retried once after fetching again).
@Suite(.serialized) struct GitPushTests {
    static let author = Repository.Author(name: "fluxci", email: "fluxci@example.invalid")

    @Test func pushesAChangeAndNothingWhenNothingChanged() async throws {
        let (server, work, main, _) = try await GitTests.served()
        defer { server.stop() }
        let scratch = try TestPaths.temporaryDirectory("fluxci-push")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let repository = try Repository.initBare(at: scratch.path)
        let files = ["clusters/kind/local/flux-system/gotk-sync.yaml": Data("branch: main\n".utf8)]
        let outcome = try repository.commitAndPush(url: server.url("fleet.git"), branch: "main", files: files, message: "Update sync manifests", author: Self.author)
        guard case .pushed(let commit) = outcome else { Issue.record("expected a push, got \(outcome)"); return }
        let bare = server.root.appendingPathComponent("repos/fleet.git")
        #expect(try await git(["--git-dir", bare.path, "rev-parse", "main"]) == commit)
        #expect(try await git(["--git-dir", bare.path, "rev-parse", "main^"]) == main)
        #expect(try await git(["--git-dir", bare.path, "show", "main:clusters/kind/local/flux-system/gotk-sync.yaml"]) == "branch: main")
        #expect(try await git(["--git-dir", bare.path, "show", "main:clusters/kind/local/ns.yaml"]).contains("name: apps"), "other files are kept")
        let again = try repository.commitAndPush(url: server.url("fleet.git"), branch: "main", files: files, message: "Update sync manifests", author: Self.author)
        #expect(again == .unchanged(commit: commit))
        _ = work
    }

    @Test func aRejectedPushIsAnError() async throws {
        let (server, _, _, _) = try await GitTests.served()
        defer { server.stop() }
        let hook = server.root.appendingPathComponent("repos/fleet.git/hooks/pre-receive")
        try "#!/bin/sh\necho 'protected branch: pushes are not allowed' >&2\nexit 1\n".write(to: hook, atomically: true, encoding: .utf8)
        chmod(hook.path, 0o755)
        let scratch = try TestPaths.temporaryDirectory("fluxci-push")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let repository = try Repository.initBare(at: scratch.path)
        #expect {
            try repository.commitAndPush(url: server.url("fleet.git"), branch: "main", files: ["x.yaml": Data("x".utf8)], message: "m", author: Self.author)
        } throws: { error in
            if case .pushRejected(let reference, let reason) = error as? GitError { reference == "refs/heads/main" && reason.contains("hook declined") } else { false }
        }
    }

    @Test func aRaceWithAnotherPusherIsRetriedOnce() async throws {
        let (server, work, _, _) = try await GitTests.served()
        defer { server.stop() }
        let scratch = try TestPaths.temporaryDirectory("fluxci-push")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let repository = try Repository.initBare(at: scratch.path)
        let bare = server.root.appendingPathComponent("repos/fleet.git").path
        // Someone else pushes to main between fluxci's fetch and its first push.
        let raced = LockedFlag()
        let outcome = try repository.commitAndPush(
            url: server.url("fleet.git"), branch: "main", files: ["sync.yaml": Data("mine".utf8)], message: "m", author: Self.author,
            beforePush: {
                guard raced.setOnce() else { return }
                let script = "cd '\(work.path)' && git checkout -q main && echo theirs > theirs.txt && git add theirs.txt && git -c user.name=o -c user.email=o@o commit -qm theirs && git push -q '\(bare)' main"
                _ = ProcessRunnerForTests.shell(script)
            })
        guard case .pushed(let commit) = outcome else { Issue.record("expected a push"); return }
        #expect(try await git(["--git-dir", bare, "rev-parse", "main"]) == commit)
        #expect(try await git(["--git-dir", bare, "show", "main:theirs.txt"]) == "theirs", "their commit is kept under ours")
        #expect(try await git(["--git-dir", bare, "show", "main:sync.yaml"]) == "mine")
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    func setOnce() -> Bool { lock.withLock { defer { set = true }; return !set } }
}

/// A synchronous shell for a test callback that libgit2 calls on its own thread.
enum ProcessRunnerForTests {
    static func shell(_ script: String) -> Int32 {
        var pid = pid_t()
        let words: [String] = ["/bin/sh", "-c", script]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }
}
