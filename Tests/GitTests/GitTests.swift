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
