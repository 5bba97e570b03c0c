import Actions
import Foundation
import Subprocess
import SystemPackage

/// kind, driven as a program: fluxci checks what it needs first and reports kind's own output
/// as untrusted text.
struct Kind {
    let executable: String
    let environment: [String: String]
    let reporter: Reporter

    /// kind from PATH, once a container runtime is there too.
    static func locate(_ context: CommandContext) throws -> Kind {
        let environment = context.environment
        func lookup(_ name: String) -> String? {
            for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            return nil
        }
        guard let kind = lookup("kind") else {
            throw Annotation.error(
                "kind is not on PATH.", title: "kind not found",
                fix: "Install kind (https://kind.sigs.k8s.io: `go install sigs.k8s.io/kind@latest`, or the helm/kind-action step), or use --provider existing with a kubeconfig.")
        }
        guard lookup("docker") != nil || lookup("podman") != nil else {
            throw Annotation.error(
                "Neither docker nor podman is on PATH; kind runs its nodes as containers.", title: "Container runtime not found",
                fix: "Install Docker (GitHub's ubuntu runners have it), or use --provider existing with a kubeconfig.")
        }
        return Kind(executable: kind, environment: environment, reporter: context.reporter)
    }

    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs kind, its output (stdout and stderr) collected and shown as untrusted text.
    func run(_ arguments: [String]) async throws -> Result {
        var custom: [Environment.Key: String] = [:]
        for (key, value) in environment { custom[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(custom),
            output: .string(limit: 4 << 20), error: .string(limit: 4 << 20))
        let status: Int32 = switch result.terminationStatus {
        case .exited(let code): Int32(code)
        case .signaled(let signal): 128 + Int32(signal)
        }
        let output = (result.standardOutput + result.standardError).trimmingCharacters(in: .whitespacesAndNewlines)
        return Result(status: status, output: output)
    }

    func clusters() async throws -> [String] {
        let result = try await run(["get", "clusters"])
        guard result.status == 0 else {
            throw Annotation.error("`kind get clusters` failed: \(result.output)", title: "kind failed", fix: "Check that the container runtime is running (`docker info`).")
        }
        return result.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("No kind clusters") }
    }
}
