import Foundation

/// The example repository (Examples/fleet) as a repository of its own: copied to a temporary
/// checkout, with the real Flux components from ../shared put where flux bootstrap commits them,
/// committed, and pushed to a real git server on 127.0.0.1 that is its origin.
public struct ExampleFleet: Sendable {
    public var server: GitServer
    public var checkout: URL
    public var url: String

    public static let source = TestPaths.packageRoot.appendingPathComponent("Examples/fleet")
    public var ageKeyFile: URL { checkout.appendingPathComponent(".secrets/kind/local/age/age.agekey") }
    public var pgpKeyFile: URL { checkout.appendingPathComponent(".secrets/kind/local/gpg/sops.asc") }

    public static func make(token: String? = nil, _ change: (URL) throws -> Void = { _ in }) async throws -> ExampleFleet {
        let server = try await GitServer.start(token: token)
        let bare = try await server.createRepository("fleet.git")
        let parent = try TestPaths.temporaryDirectory("fluxci-fleet")
        removeAtExit(parent)
        let checkout = parent.appendingPathComponent("fleet")
        try FileManager.default.copyItem(at: source, to: checkout)
        try FileManager.default.copyItem(
            at: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"),
            to: checkout.appendingPathComponent("clusters/kind/local/flux-system/gotk-components.yaml"))
        try change(checkout)
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["commit", "--quiet", "-m", "fleet"], in: checkout)
        try await git(["push", "--quiet", bare.path, "main"], in: checkout)
        let url = server.url("fleet.git")
        try await git(["remote", "add", "origin", url], in: checkout)
        try await git(["fetch", "--quiet", "origin"], in: checkout, environment: token.map { ["GIT_CONFIG_PARAMETERS": "'http.extraHeader=Authorization: Basic \(Data("x-access-token:\($0)".utf8).base64EncodedString())'"] } ?? [:])
        return ExampleFleet(server: server, checkout: checkout, url: url)
    }

    /// Commits a change on a new branch and pushes it; returns the commit.
    public func branch(_ name: String, _ change: (URL) throws -> Void) async throws -> String {
        try await git(["checkout", "--quiet", "-b", name], in: checkout)
        try change(checkout)
        try await git(["add", "-A"], in: checkout)
        try await git(["commit", "--quiet", "-m", "change on \(name)"], in: checkout)
        try await git(["push", "--quiet", server.root.appendingPathComponent("repos/fleet.git").path, name], in: checkout)
        return try await git(["rev-parse", "HEAD"], in: checkout)
    }

    public func head() async throws -> String { try await git(["rev-parse", "HEAD"], in: checkout) }
}
