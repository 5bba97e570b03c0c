import Actions
import ArgumentParser
import Flux
import Foundation
import Git

/// The repository under test and the cluster in it: `clusters/<cloud>/<env>`, or any layout's
/// cluster path (`--cluster-path kubernetes/flux`, which needs no cloud or environment).
struct RepositoryOptions: ParsableArguments {
    @Option(help: "The cloud of clusters/<cloud>/<env> (and of .secrets/<cloud>/<env>/).")
    var cloud: String?

    @Option(help: "The environment of clusters/<cloud>/<env> (and of .secrets/<cloud>/<env>/).")
    var env: String?

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    @Option(help: "The cluster path, when it is not clusters/<cloud>/<env>.")
    var clusterPath: String?

    func validate() throws {
        for value in [cloud, env].compactMap({ $0 }) where value.isEmpty || value.contains("/") || value.hasPrefix(".") {
            throw ValidationError("'\(value)' is not a cloud or environment name (no slashes, not starting with '.').")
        }
        if (cloud == nil) != (env == nil) { throw ValidationError("--cloud and --env go together.") }
        if cloud == nil && clusterPath == nil {
            throw ValidationError("Name the cluster: --cloud and --env (clusters/<cloud>/<env>), or --cluster-path.")
        }
        if let clusterPath, clusterPath.isEmpty { throw ValidationError("--cluster-path is empty; use . for the repository root.") }
    }

    /// The cluster path as given (`.` for the root), or `clusters/<cloud>/<env>`.
    var path: String { clusterPath ?? "clusters/\(cloud ?? "")/\(env ?? "")" }

    /// The cloud and environment, when given, or read from a `--cluster-path` of the form
    /// `clusters/<cloud>/<env>`: they also name `.secrets/<cloud>/<env>/`, the one keys folder
    /// a run on that cluster may read (tester t14 F3: never every cluster's).
    var cloudEnv: (cloud: String, env: String)? {
        if let cloud, let env { return (cloud, env) }
        let parts = (clusterPath ?? "").split(separator: "/").filter { $0 != "." }.map(String.init)
        guard parts.count == 3, parts[0] == "clusters", !parts[1].hasPrefix("."), !parts[2].hasPrefix(".") else { return nil }
        return (parts[1], parts[2])
    }

    func root(_ context: CommandContext) -> URL {
        context.repositoryRoot(repository)
    }

    /// The git repository holding the root, and the root's path inside it (an example
    /// repository may sit in a folder of another one).
    func gitRepository(_ context: CommandContext) throws -> (Repository, prefix: String) {
        let root = root(context).standardizedFileURL
        do {
            let repository = try Repository.open(containing: root.path)
            let top = URL(fileURLWithPath: repository.workTree ?? root.path).standardizedFileURL.resolvingSymlinksInPath().path
            let here = root.resolvingSymlinksInPath().path
            let prefix = here.hasPrefix(top) ? String(here.dropFirst(top.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/")) : ""
            return (repository, prefix)
        } catch {
            throw Annotation.error("\(root.path) is not in a git repository: \(error).", title: "Not a git repository", fix: "Run fluxci in the checkout of the repository under test.")
        }
    }
}
