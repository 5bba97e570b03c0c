import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Tokens from an exec credential plugin (`client.authentication.k8s.io/v1`, as the EKS and GKE
/// CLIs write), run once and again when the token expires.
actor ExecCredentials {
    let config: Kubeconfig.ExecConfig
    let connection: Connection
    private var cached: (token: String, expires: Date?)?

    init(_ config: Kubeconfig.ExecConfig, connection: Connection) {
        self.config = config
        self.connection = connection
    }

    func token() async throws(KubeError) -> String {
        if let cached, cached.expires.map({ $0.timeIntervalSinceNow > 30 }) ?? true { return cached.token }
        let fresh = try await run()
        cached = fresh
        return fresh.token
    }

    private func run() async throws(KubeError) -> (token: String, expires: Date?) {
        let hint = config.installHint.map { " \($0)" } ?? ""
        let info = #"{"apiVersion":"\#(config.apiVersion)","kind":"ExecCredential","spec":{"interactive":false}}"#
        var environment: [Environment.Key: String?] = ["KUBERNETES_EXEC_INFO": info]
        for (name, value) in config.environment { environment[Environment.Key(stringLiteral: name)] = value }
        let output: String
        do {
            let result = try await Subprocess.run(
                config.command.contains("/") ? .path(FilePath(config.command)) : .name(config.command), arguments: Arguments(config.arguments), environment: .inherit.updating(environment),
                output: .string(limit: 1 << 20), error: .string(limit: 1 << 16))
            guard case .exited(0) = result.terminationStatus else {
                let stderr = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                throw KubeError.credentialPlugin(
                    "The credential plugin '\(config.command)' of context '\(connection.contextName)' failed (\(result.terminationStatus)): \(stderr.prefix(500))",
                    fix: "Run it yourself to see why (log in to the cloud CLI first).\(hint)")
            }
            output = result.standardOutput
        } catch let error as KubeError {
            throw error
        } catch {
            throw .credentialPlugin(
                "The credential plugin '\(config.command)' of context '\(connection.contextName)' could not be started: \(error).",
                fix: "Install it and put it on PATH.\(hint)")
        }
        guard let json = try? JSONValue.parse(Data(output.utf8)), json["kind"]?.string == "ExecCredential" else {
            throw .credentialPlugin(
                "The credential plugin '\(config.command)' printed something that is not an ExecCredential.",
                fix: "Check the plugin's version and arguments (apiVersion \(config.apiVersion)).")
        }
        guard let token = json["status", "token"]?.string, !token.isEmpty else {
            throw .credentialPlugin(
                "The credential plugin '\(config.command)' returned no token (client certificates from plugins are not supported by fluxci).",
                fix: "Use a plugin mode that returns a token.")
        }
        let expires = json["status", "expirationTimestamp"]?.string.flatMap { ISO8601DateFormatter().date(from: $0) }
        return (token, expires)
    }
}
