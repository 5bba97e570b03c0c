import Foundation
import Processes

/// The kustomize that builds each Kustomization: `kustomize build` when `kustomize` is on PATH,
/// else `kubectl kustomize` (kubectl embeds kustomize). Both run with load restrictions off, as
/// kustomize-controller builds (fluxcd/pkg kustomize `Build`: `LoadRestrictionsNone`).
public struct KustomizeTool: Sendable {
    public let executable: String
    public let isKubectl: Bool

    /// nil when neither `kustomize` nor `kubectl` is on `environmentPath`.
    public init?(path environmentPath: String?) {
        let directories = (environmentPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for (name, kubectl) in [("kustomize", false), ("kubectl", true)] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                executable = "\(directory)/\(name)"
                isKubectl = kubectl
                return
            }
        }
        return nil
    }

    /// How the build is run, for the output (`kubectl kustomize --load-restrictor LoadRestrictionsNone`).
    public var description: String {
        (isKubectl ? "kubectl kustomize" : "kustomize build") + " --load-restrictor LoadRestrictionsNone"
    }

    /// Builds the folder; the output (a multi-document YAML stream) or kustomize's message.
    func build(_ directory: String) -> Result<String, BuildFailure> {
        let arguments = (isKubectl ? ["kustomize"] : ["build"]) + ["--load-restrictor", "LoadRestrictionsNone", directory]
        let (status, output, errors) = ProcessRunner.run(executable, arguments)
        guard status == 0 else {
            return .failure(BuildFailure(message: errors.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return .success(output)
    }

    struct BuildFailure: Error {
        var message: String
    }
}
