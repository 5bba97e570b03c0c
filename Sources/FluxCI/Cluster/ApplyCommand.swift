import Actions
import ArgumentParser
import Foundation
import Kube

/// `fluxci apply FILE…`: server-side apply of manifests in the order a cluster needs.
struct ApplyCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Server-side apply manifests: Namespaces and CRDs first, then (once the CRDs are Established) the rest, several at a time.",
        discussion: """
            Field manager fluxci, forced (as flux bootstrap does). A failure is an annotation at \
            the object's file and line with the API server's reason.

            Environment: \(ClusterOptions.environmentHelp), GITHUB_ACTIONS.
            """)

    @Argument(help: "Manifest files (multi-document YAML or JSON).")
    var files: [String]

    @OptionGroup var cluster: ClusterOptions

    init() {}

    func execute(in context: CommandContext) async throws {
        var objects: [KubeObject] = []
        for file in files {
            guard let text = try? String(contentsOf: context.url(for: file), encoding: .utf8) else {
                throw Annotation.error("\(file) cannot be read.", title: "File not found", fix: "Check the path.")
            }
            do { objects += try Manifest.objects(text, file: file) } catch { throw KubeErrors.annotation(error) }
        }
        let client = try cluster.client(context)
        let results: [ApplyResult]
        do {
            results = try await context.reporter.group("Apply \(objects.count) objects") {
                try await client.applyAll(objects)
            }
        } catch {
            throw KubeErrors.annotation(error)
        }
        let created = results.filter(\.created).count
        context.reporter.log("Applied \(results.count) objects (\(created) created, \(results.count - created) configured).")
    }
}
