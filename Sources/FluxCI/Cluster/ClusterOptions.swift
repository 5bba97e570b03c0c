import Actions
import ArgumentParser
import Foundation
import Kube

/// Which cluster a command talks to: a kubeconfig and a context, as kubectl finds them.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The kubeconfig file (default: KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context (default: its current-context).")
    var context: String?

    static let environmentHelp = "KUBECONFIG, HOME"

    func connection(_ environment: [String: String], workingDirectory: URL) throws -> Connection {
        let explicit = kubeconfig.map { $0.hasPrefix("/") ? $0 : workingDirectory.appendingPathComponent($0).path }
        do {
            let config = try Kubeconfig.load(Kubeconfig.paths(explicit: explicit, environment: environment), explicit: explicit != nil)
            return try config.connection(context: context)
        } catch {
            throw KubeErrors.annotation(error)
        }
    }

    func client(_ context: CommandContext) throws -> KubeClient {
        do {
            return try KubeClient(try connection(context.environment, workingDirectory: context.workingDirectory))
        } catch let error as KubeError {
            throw KubeErrors.annotation(error)
        }
    }
}

/// Kubernetes errors as annotations: the API's message, what to do, and the object's file and
/// line when it came from a manifest.
enum KubeErrors {
    static func annotation(_ error: Error, object: KubeObject? = nil) -> Annotation {
        if let annotation = error as? Annotation { return annotation }
        if let apply = error as? ApplyError { return annotation(apply.error, object: apply.object) }
        guard let error = error as? KubeError else { return .error("\(error)") }
        let location = object.flatMap { object in object.file.map { SourceLocation(file: $0, line: object.line) } }
        let subject = object.map { "\($0.reference): " } ?? ""
        let title = error.title
        var message = subject + error.description
        if case .api(let status, _) = error, !status.causes.isEmpty {
            message += "\n" + status.causes.map { "- \($0.field.isEmpty ? $0.reason : $0.field): \($0.message)" }.joined(separator: "\n")
        }
        return .error(message, title: title, fix: error.fix, at: location)
    }
}
