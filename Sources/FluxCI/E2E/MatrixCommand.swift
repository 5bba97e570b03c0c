import Actions
import ArgumentParser
import Foundation

/// `fluxci matrix`: the repository's clusters as a GitHub Actions matrix.
struct MatrixCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Print the clusters/<cloud>/<env> paths that hold a flux-system as a JSON matrix (output: matrix).",
        discussion: "Environment: GITHUB_WORKSPACE, GITHUB_ACTIONS, GITHUB_OUTPUT.")

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    init() {}

    func execute(in context: CommandContext) async throws {
        let root = context.repositoryRoot(repository)
        let clusters = root.appendingPathComponent("clusters")
        var include: [[String: String]] = []
        for cloud in ((try? FileManager.default.contentsOfDirectory(atPath: clusters.path)) ?? []).sorted() where !cloud.hasPrefix(".") {
            for env in ((try? FileManager.default.contentsOfDirectory(atPath: clusters.appendingPathComponent(cloud).path)) ?? []).sorted() where !env.hasPrefix(".") {
                let path = "clusters/\(cloud)/\(env)"
                let direct = root.appendingPathComponent(path + "/flux-system").path
                let hasFluxSystem = FileManager.default.fileExists(atPath: direct)
                    || (FileManager.default.enumerator(atPath: root.appendingPathComponent(path).path)?.contains { ($0 as? String)?.hasSuffix("flux-system") == true } ?? false)
                if hasFluxSystem { include.append(["cloud": cloud, "env": env, "path": path]) }
            }
        }
        guard !include.isEmpty else {
            throw Annotation.error("No clusters/<cloud>/<env> with a flux-system folder under \(root.path).", title: "No clusters", fix: "Run it at the repository root.")
        }
        let data = try JSONSerialization.data(withJSONObject: ["include": include], options: [.sortedKeys])
        let json = String(decoding: data, as: UTF8.self)
        try context.reporter.setOutput("matrix", json)
        context.standardOutput.write(json + "\n")
    }
}
