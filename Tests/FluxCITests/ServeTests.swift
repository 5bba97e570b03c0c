import Foundation
import Git
import GitServe
import Testing
import TestSupport

/// `--serve`'s git server: one commit in a private repository, answered by the real
/// `git http-backend` behind the NIO front, fetched by the real git and by libgit2.
@Suite(.serialized) struct ServeTests {
    /// A repository with `main` (committed), `secret-branch` (another commit), an uncommitted
    /// change, an untracked file and an ignored one.
    static func repository() async throws -> (URL, main: String, other: String) {
        let directory = try TestPaths.temporaryDirectory("fluxci-serve-src")
        removeAtExit(directory)
        try await git(["init", "--quiet", "--initial-branch=main", directory.path])
        try "ignored.txt\n".write(to: directory.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("fleet/apps"), withIntermediateDirectories: true)
        try "one\n".write(to: directory.appendingPathComponent("fleet/apps/a.yaml"), atomically: true, encoding: .utf8)
        try "top\n".write(to: directory.appendingPathComponent("top.txt"), atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: directory)
        try await git(["commit", "--quiet", "-m", "main"], in: directory)
        let main = try await git(["rev-parse", "HEAD"], in: directory)
        try await git(["checkout", "--quiet", "-b", "secret-branch"], in: directory)
        try "secret\n".write(to: directory.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: directory)
        try await git(["commit", "--quiet", "-m", "secret"], in: directory)
        let other = try await git(["rev-parse", "HEAD"], in: directory)
        try await git(["checkout", "--quiet", "main"], in: directory)
        return (directory, main, other)
    }

    static func served(_ directory: URL, commit: String, workTree: Bool = false) async throws -> ServedRepository {
        let repository = try await ServedRepository.make(
            .init(gitDirectory: directory.appendingPathComponent(".git"), workTree: directory, commit: commit, includeWorkTree: workTree),
            branch: "main", environment: ProcessInfo.processInfo.environment)
        removeAtExit(repository.root)
        return repository
    }

    static func auth(_ token: String) -> [String: String] {
        ["GIT_CONFIG_PARAMETERS": "'http.extraHeader=Authorization: Basic \(Data("x-access-token:\(token)".utf8).base64EncodedString())'", "GIT_TERMINAL_PROMPT": "0"]
    }

    @Test func gitAndLibgit2FetchOnlyTheServedBranch() async throws {
        let (source, main, other) = try await Self.repository()
        let repository = try await Self.served(source, commit: main)
        #expect(repository.commit == main, "the branch's commit is served as it is")
        let log = source.deletingLastPathComponent().appendingPathComponent("access-\(UUID().uuidString.prefix(6)).log")
        let token = "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let server = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: token, accessLog: log, environment: ProcessInfo.processInfo.environment)
        defer { Task { await server.stop() } }

        // The real git: ls-remote advertises the one branch (and HEAD), nothing else.
        let listing = try await git(["ls-remote", server.url], environment: Self.auth(token))
        let refs = listing.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(refs.map { $0[1] }.sorted() == ["HEAD", "refs/heads/main"], "\(listing)")
        #expect(refs.allSatisfy { $0[0] == main })
        #expect(!listing.contains(other))

        // A clone has the commit and its files, and no other branch.
        let clone = source.deletingLastPathComponent().appendingPathComponent("clone-\(UUID().uuidString.prefix(6))")
        removeAtExit(clone)
        try await git(["clone", "--quiet", server.url, clone.path], environment: Self.auth(token))
        #expect(try await git(["rev-parse", "HEAD"], in: clone) == main)
        #expect(try String(contentsOf: clone.appendingPathComponent("fleet/apps/a.yaml"), encoding: .utf8) == "one\n")
        #expect(try await git(["branch", "-r"], in: clone).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("origin/HEAD") } == ["origin/main"])
        // The other commit cannot be fetched by its id either (upload-pack wants advertised tips).
        await #expect(throws: GitFailed.self) {
            try await git(["fetch", "--quiet", server.url, other], in: clone, environment: Self.auth(token))
        }
        // Protocol v0 (no Git-Protocol header) as older clients speak it.
        let v0 = try await git(["-c", "protocol.version=0", "ls-remote", server.url], environment: Self.auth(token))
        #expect(v0.contains("refs/heads/main") && !v0.contains("secret-branch"))

        // libgit2, the library fluxci itself fetches with.
        let remote = try Repository.listRemote(server.url, credentials: GitCredentials(token: token))
        #expect(remote["refs/heads/main"] == main)
        #expect(remote["refs/heads/secret-branch"] == nil)
        let scratch = try TestPaths.temporaryDirectory("fluxci-serve-lg2")
        removeAtExit(scratch)
        let fetched = try Repository.initBare(at: scratch.path)
        #expect(try fetched.fetch(server.url, branch: "main", credentials: GitCredentials(token: token)) == main)
        #expect(try fetched.readFile(commit: main, path: "top.txt") == Data("top\n".utf8))

        // No push: receive-pack is refused.
        try "x\n".write(to: clone.appendingPathComponent("new.txt"), atomically: true, encoding: .utf8)
        try await git(["add", "-A"], in: clone)
        try await git(["commit", "--quiet", "-m", "push attempt"], in: clone)
        await #expect(throws: GitFailed.self) { try await git(["push", "--quiet", server.url, "HEAD:main"], in: clone, environment: Self.auth(token)) }

        // The access log has the requests, never the token.
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("\"GET /fleet.git/info/refs?service=git-upload-pack\" 200"), "\(text)")
        #expect(text.contains("\"POST /fleet.git/git-upload-pack\" 200"))
        #expect(text.contains("git-receive-pack") && text.contains(" 403 "))
        #expect(!text.contains(token) && !text.contains(Data("x-access-token:\(token)".utf8).base64EncodedString()))
    }

    @Test func aWrongOrMissingTokenIsRefused() async throws {
        let (source, main, _) = try await Self.repository()
        let repository = try await Self.served(source, commit: main)
        let token = "right-" + UUID().uuidString
        let server = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: token, accessLog: nil, environment: ProcessInfo.processInfo.environment)
        defer { Task { await server.stop() } }
        for environment in [Self.auth("wrong-" + UUID().uuidString), Self.auth(String(token.dropLast())), ["GIT_TERMINAL_PROMPT": "0"]] {
            do {
                try await git(["ls-remote", server.url], environment: environment)
                Issue.record("ls-remote succeeded with \(environment)")
            } catch let failed as GitFailed {
                #expect(failed.output.contains("401") || failed.output.contains("Authentication failed") || failed.output.contains("could not read Username"), "\(failed.output)")
            }
        }
        #expect(throws: GitError.self) { try Repository.listRemote(server.url, credentials: GitCredentials(token: "wrong")) }
        #expect(try Repository.listRemote(server.url, credentials: GitCredentials(token: token))["refs/heads/main"] == main)
        // Without a token the server asks for none.
        let open = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: nil, accessLog: nil, environment: ProcessInfo.processInfo.environment)
        defer { Task { await open.stop() } }
        #expect(try await git(["ls-remote", open.url, "refs/heads/main"]).hasPrefix(main))
    }

    @Test func stoppingFreesThePortAndTheWildcardIsRefused() async throws {
        let (source, main, _) = try await Self.repository()
        let repository = try await Self.served(source, commit: main)
        let server = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: nil, accessLog: nil, environment: ProcessInfo.processInfo.environment)
        // A kept-alive connection stays open until stop() drops it.
        _ = try await git(["ls-remote", server.url])
        #expect(!PortProbe.canBind(server.port), "the server listens")
        await server.stop()
        // The kept-alive connection's socket closes on the event loop just after stop() returns:
        // the port must be free within a moment, not at the same instant.
        var free = PortProbe.canBind(server.port)
        for _ in 0..<40 where !free {
            try await Task.sleep(for: .milliseconds(50))
            free = PortProbe.canBind(server.port)
        }
        #expect(free, "the port is free after stop")
        await #expect(throws: GitFailed.self) { try await git(["ls-remote", server.url]) }
        for wildcard in ["0.0.0.0", "::", "[::]"] {
            await #expect(throws: SmartHTTPServer.StartError.self) {
                _ = try await SmartHTTPServer.start(repository, host: wildcard, token: nil, accessLog: nil, environment: ProcessInfo.processInfo.environment)
            }
        }
    }

    /// Tester t16 F1: connections that keep arriving while the server stops (a cluster's
    /// source-controller polling while a failed run tears down) are closed, never dropped: a
    /// dropped one traps the whole process in NIO ("Deinited NIOAsyncWriter without calling
    /// finish()"). Each round stops the server under a stream of new connections, and the port is
    /// free afterwards.
    @Test func connectionsArrivingWhileItStopsAreClosed() async throws {
        let (source, main, _) = try await Self.repository()
        let repository = try await Self.served(source, commit: main)
        for _ in 0..<20 {
            let server = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: nil, accessLog: nil, environment: ProcessInfo.processInfo.environment)
            let stop = Flag()
            let port = server.port
            // Threads of their own: blocking loops on the cooperative pool (two threads on a
            // two-core machine) would starve the server and the test itself.
            let counted = Counter()
            let finished = DispatchGroup()
            for _ in 0..<16 {
                finished.enter()
                Thread.detachNewThread {
                    while !stop.value { if PortProbe.request(port) { counted.add() } }
                    finished.leave()
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            await server.stop()
            stop.set()
            while finished.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(10)) }
            let connected = counted.value
            #expect(connected > 0, "connections reached the server before it stopped")
            var free = PortProbe.canBind(port)
            for _ in 0..<40 where !free {
                try await Task.sleep(for: .milliseconds(50))
                free = PortProbe.canBind(port)
            }
            #expect(free, "the port is free after stop")
        }
    }

    @Test func aWorkTreeCommitHasTheChangeAndNotTheIgnoredFiles() async throws {
        let (source, main, _) = try await Self.repository()
        try "two\n".write(to: source.appendingPathComponent("fleet/apps/a.yaml"), atomically: true, encoding: .utf8)
        try "new\n".write(to: source.appendingPathComponent("fleet/apps/b.yaml"), atomically: true, encoding: .utf8)
        try "do not serve\n".write(to: source.appendingPathComponent("ignored.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: source.appendingPathComponent("top.txt"))
        let statusBefore = try await git(["status", "--porcelain"], in: source)
        let refsBefore = try await git(["for-each-ref"], in: source)
        let repository = try await Self.served(source, commit: main, workTree: true)
        #expect(repository.commit != main)
        let bare = ["--git-dir", repository.gitDirectory.path]
        #expect(try await git(bare + ["rev-parse", "\(repository.commit)^"]) == main, "the work tree commit sits on the branch")
        let files = try await git(bare + ["ls-tree", "-r", "--name-only", repository.commit]).split(separator: "\n").map(String.init)
        #expect(files.sorted() == [".gitignore", "fleet/apps/a.yaml", "fleet/apps/b.yaml"], "\(files)")
        #expect(try await git(bare + ["show", "\(repository.commit):fleet/apps/a.yaml"]) == "two")
        // The user's repository is untouched: same status, same references, same index.
        #expect(try await git(["status", "--porcelain"], in: source) == statusBefore)
        #expect(try await git(["for-each-ref"], in: source) == refsBefore)
        await #expect(throws: GitFailed.self) { try await git(["cat-file", "-e", repository.commit], in: source) }
    }

    /// Issue 17 item 5: what fluxci itself writes into a checkout (the default ./fluxci-artifacts
    /// with the access log, a keyring or the private repository under a TMPDIR inside it) is
    /// never part of the work tree commit; names are taken literally, not as patterns.
    @Test func aWorkTreeCommitLeavesOutFluxcisOwnOutputs() async throws {
        let (source, main, _) = try await Self.repository()
        let artifacts = source.appendingPathComponent("fluxci-artifacts")
        try FileManager.default.createDirectory(at: artifacts.appendingPathComponent("kind"), withIntermediateDirectories: true)
        try "127.0.0.1 GET /fleet.git/info/refs\n".write(to: artifacts.appendingPathComponent("git-serve-access.log"), atomically: true, encoding: .utf8)
        try "events\n".write(to: artifacts.appendingPathComponent("kind/kubelet.log"), atomically: true, encoding: .utf8)
        let temporary = source.appendingPathComponent("tmp")
        let keyring = temporary.appendingPathComponent("fluxci.Ab12Cd")
        try FileManager.default.createDirectory(at: keyring, withIntermediateDirectories: true)
        try "AGE-SECRET-KEY-1 not really\n".write(to: keyring.appendingPathComponent("age.agekey"), atomically: true, encoding: .utf8)
        // A folder whose name is a glob that also matches a sibling: only the folder itself goes.
        let odd = source.appendingPathComponent("out[12]")
        try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
        try "x\n".write(to: odd.appendingPathComponent("summary.md"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: source.appendingPathComponent("out1"), withIntermediateDirectories: true)
        try "keep\n".write(to: source.appendingPathComponent("out1/c.txt"), atomically: true, encoding: .utf8)
        try "new\n".write(to: source.appendingPathComponent("fleet/apps/b.yaml"), atomically: true, encoding: .utf8)

        let repository = try await ServedRepository.make(
            .init(
                gitDirectory: source.appendingPathComponent(".git"), workTree: source, commit: main, includeWorkTree: true,
                excluding: [artifacts, keyring, odd, URL(fileURLWithPath: "/elsewhere/fluxci-artifacts")]),
            branch: "main", environment: ProcessInfo.processInfo.environment, temporaryDirectory: temporary.path)
        removeAtExit(repository.root)
        let files = try await git(["--git-dir", repository.gitDirectory.path, "ls-tree", "-r", "--name-only", repository.commit]).split(separator: "\n").map(String.init)
        #expect(files.sorted() == [".gitignore", "fleet/apps/a.yaml", "fleet/apps/b.yaml", "out1/c.txt", "top.txt"], "\(files)")
        #expect(Array(repository.excluded.prefix(3)) == ["fluxci-artifacts", "tmp/fluxci.Ab12Cd", "out[12]"])
        #expect(repository.excluded.count == 4 && repository.excluded[3].hasPrefix("tmp/fluxci-serve."), "the private repository itself: \(repository.excluded)")
    }
}

extension ServeTests {
    /// A CI checkout is shallow (one commit): its tree is served as a root commit (the shallow
    /// boundary upload-pack would advertise is beyond libgit2 1.5), and real git and libgit2 fetch it.
    @Test func aShallowCheckoutIsServed() async throws {
        let (source, main, _) = try await Self.repository()
        try "two\n".write(to: source.appendingPathComponent("top.txt"), atomically: true, encoding: .utf8)
        try await git(["commit", "--quiet", "-am", "second"], in: source)
        let head = try await git(["rev-parse", "HEAD"], in: source)
        let shallow = source.deletingLastPathComponent().appendingPathComponent("shallow-\(UUID().uuidString.prefix(6))")
        removeAtExit(shallow)
        try await git(["clone", "--quiet", "--depth", "1", "--branch", "main", "file://\(source.path)", shallow.path])
        #expect(FileManager.default.fileExists(atPath: shallow.appendingPathComponent(".git/shallow").path))
        let repository = try await Self.served(shallow, commit: head)
        let server = try await SmartHTTPServer.start(repository, host: "127.0.0.1", token: nil, accessLog: nil, environment: ProcessInfo.processInfo.environment)
        defer { Task { await server.stop() } }
        let clone = source.deletingLastPathComponent().appendingPathComponent("clone-\(UUID().uuidString.prefix(6))")
        removeAtExit(clone)
        try await git(["clone", "--quiet", server.url, clone.path])
        #expect(repository.commit != head)
        #expect(try await git(["rev-parse", "HEAD"], in: clone) == repository.commit)
        #expect(try await git(["rev-parse", "HEAD^{tree}"], in: clone) == (try await git(["rev-parse", "HEAD^{tree}"], in: shallow)), "the same tree")
        #expect(try await git(["rev-list", "--count", "HEAD"], in: clone) == "1", "no parent: \(main.prefix(7)) is not there")
        let scratch = try TestPaths.temporaryDirectory("fluxci-serve-lg2")
        removeAtExit(scratch)
        #expect(try Repository.initBare(at: scratch.path).fetch(server.url, branch: "main") == repository.commit)
    }
}

/// A count kept from any thread.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    var value: Int { lock.withLock { stored } }
    func add() { lock.withLock { stored += 1 } }
}

/// A flag set once, read from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool { lock.withLock { stored } }
    func set() { lock.withLock { stored = true } }
}

/// Whether a TCP port on 127.0.0.1 can be bound (nothing listens there).
enum PortProbe {
    /// Connects to 127.0.0.1:`port`, sends the start of git's first request and closes: true when
    /// the connection was made.
    static func request(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return false }
        let text = "GET /info/refs?service=git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return true
    }

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return bound == 0 && listen(fd, 1) == 0
    }
}
