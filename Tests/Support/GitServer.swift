import Foundation
import Subprocess
import SystemPackage

/// A real git server on 127.0.0.1: `git http-backend` behind Python's CGI HTTP server (smart
/// HTTP, which Flux's GitRepository needs: its CRD only accepts http(s) and ssh URLs). With a
/// token, requests without `x-access-token:<token>` basic auth get 401.
public final class GitServer: @unchecked Sendable {
    public let root: URL
    public let port: Int
    public let token: String?
    private let process: Task<Void, Error>
    private let pidFile: URL

    public func url(_ repository: String) -> String { "http://127.0.0.1:\(port)/git/http/\(repository)" }

    /// The server program, shared with scripts/demo and scripts/bench.
    static var script: URL { TestPaths.packageRoot.appendingPathComponent("scripts/git-http-server.py") }

    /// Starts a server for the bare repositories under `root/repos`.
    public static func start(token: String? = nil) async throws -> GitServer {
        let root = try TestPaths.temporaryDirectory("fluxci-git")
        removeAtExit(root)
        return try await launch(root: root, token: token, port: 0)
    }

    /// The same repositories served again on the same port, after `stop()`: a server that comes
    /// back (or comes up late, as one a fresh cluster starts).
    public func restart() async throws -> GitServer {
        try await Self.launch(root: root, token: token, port: port)
    }

    private static func launch(root: URL, token: String?, port: Int) async throws -> GitServer {
        let repos = root.appendingPathComponent("repos"), cgi = root.appendingPathComponent("git")
        try FileManager.default.createDirectory(at: repos, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: cgi, withIntermediateDirectories: true)
        let handler = cgi.appendingPathComponent("http")
        try """
            #!/bin/sh
            export GIT_PROJECT_ROOT='\(repos.path)'
            export GIT_HTTP_EXPORT_ALL=1
            exec git http-backend
            """.write(to: handler, atomically: true, encoding: .utf8)
        chmod(handler.path, 0o755)
        let scriptFile = script
        var environment: [Environment.Key: String?] = [:]
        if let token { environment["GIT_SERVER_TOKEN"] = token }
        if port != 0 { environment["GIT_SERVER_PORT"] = String(port) }
        try? FileManager.default.removeItem(at: root.appendingPathComponent("port"))
        let python = try which("python3")
        let process = Task {
            _ = try await Subprocess.run(
                .path(FilePath(python.path)), arguments: [scriptFile.path, root.path], environment: .inherit.updating(environment),
                output: .discarded, error: .discarded)
        }
        let portFile = root.appendingPathComponent("port")
        for _ in 0..<200 {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) {
                return GitServer(root: root, port: port, token: token, process: process, pidFile: root.appendingPathComponent("pid"))
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.cancel()
        throw ToolMissing(name: "python3 git server (did not start)")
    }

    init(root: URL, port: Int, token: String?, process: Task<Void, Error>, pidFile: URL) {
        self.root = root
        self.port = port
        self.token = token
        self.process = process
        self.pidFile = pidFile
    }

    /// A bare repository served as `name`, receiving pushes over HTTP.
    public func createRepository(_ name: String) async throws -> URL {
        let url = root.appendingPathComponent("repos").appendingPathComponent(name)
        _ = try await git(["init", "--bare", "--initial-branch=main", url.path])
        _ = try await git(["-C", url.path, "config", "http.receivepack", "true"])
        return url
    }

    public func stop() {
        if let text = try? String(contentsOf: pidFile, encoding: .utf8), let pid = Int32(text) { kill(pid, SIGTERM) }
        process.cancel()
    }

    deinit { stop() }
}

/// Runs the git CLI, failing with its message.
@discardableResult
public func git(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) async throws -> String {
    var variables = environment
    variables["GIT_AUTHOR_NAME"] = variables["GIT_AUTHOR_NAME"] ?? "fluxci test"
    variables["GIT_AUTHOR_EMAIL"] = variables["GIT_AUTHOR_EMAIL"] ?? "test@fluxci.invalid"
    variables["GIT_COMMITTER_NAME"] = "fluxci test"
    variables["GIT_COMMITTER_EMAIL"] = "test@fluxci.invalid"
    variables["GIT_CONFIG_GLOBAL"] = "/dev/null"
    let result = try await runTool("git", arguments, environment: variables, workingDirectory: directory)
    guard result.status == 0 else { throw GitFailed(arguments: arguments, output: result.standardError) }
    return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
}

public struct GitFailed: Error, CustomStringConvertible {
    public var arguments: [String]
    public var output: String
    public var description: String { "git \(arguments.joined(separator: " ")) failed: \(output)" }
}
