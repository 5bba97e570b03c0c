import Actions
import ArgumentParser
import Foundation
import Git
import Yams

/// `fluxci matrix`: the repository's clusters as a GitHub Actions matrix.
struct MatrixCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix",
        abstract: "Print the repository's cluster paths (each flux-system folder with sync manifests) as a JSON matrix (output: matrix).",
        discussion: """
            A cluster is a flux-system folder (at any depth: <cluster>/flux-system, \
            <cluster>/flux/flux-system) holding the sync manifests flux bootstrap writes: a \
            GitRepository and a Kustomization sourced from it whose spec.path holds that folder. \
            Its path is that spec.path, whatever the layout; clusters/<cloud>/<env> paths also get \
            cloud and env. A flux-system folder without sync manifests is no cluster (bootstrap \
            would fail on it). --under limits the search to a folder. \
            In a folder of a git repository (--repository deploy/flux, or run from there) spec.path \
            is read as Flux reads it, from the repository's top, and each path is printed \
            relative to that folder (clusters/staging for ./deploy/flux/clusters/staging), as \
            `fluxci bootstrap --cluster-path` takes it with the same `--repository`.

            Environment: GITHUB_WORKSPACE, GITHUB_ACTIONS, GITHUB_OUTPUT.
            """)

    @Option(help: "The repository root (default: GITHUB_WORKSPACE, else the current directory).")
    var repository: String?

    @Option(help: "Search only below this folder of the repository (e.g. clusters, kubernetes).")
    var under: String?

    init() {}

    func execute(in context: CommandContext) async throws {
        let root = context.repositoryRoot(repository).standardizedFileURL
        let start = under.map { Self.normalize($0) } ?? ""
        let folder = Self.folderInRepository(root)
        var paths: Set<String> = []
        for fluxSystem in Self.fluxSystemFolders(root: root, under: start) {
            switch Self.clusterPath(fluxSystem: fluxSystem, root: root, folder: folder) {
            case .cluster(let path): paths.insert(path)
            case .elsewhere(let file, let line, let path):
                // Tester t12 F12: sync manifests copied from another cluster. A cluster
                // bootstrapped from here reconciles that path, not its own: listed under its own
                // path, so that its job fails on it instead of CI never testing it.
                let own = (fluxSystem as NSString).deletingLastPathComponent
                context.reporter.warning(
                    "\(fluxSystem) holds sync manifests whose Kustomization syncs ./\(path), which does not hold this folder: a cluster bootstrapped from \(own) would reconcile ./\(path) instead (a copy of another cluster's gotk-sync.yaml?). It is listed as the cluster \(own), whose run fails on it.",
                    title: "Sync path of another cluster", fix: "Set spec.path to ./\(folder.isEmpty ? own : "\(folder)/\(own)") (or bootstrap the cluster again so flux writes its own gotk-sync.yaml).",
                    at: SourceLocation(file: file, line: line))
                paths.insert(own)
            case .none: break
            }
        }
        guard !paths.isEmpty else {
            throw Annotation.error(
                "No flux-system folder with sync manifests (a GitRepository and the Kustomization of the cluster path) under \(root.appendingPathComponent(start).path).",
                title: "No clusters", fix: "Run it at the repository root (or pass --repository), and bootstrap each cluster once so its flux-system holds gotk-sync.yaml.")
        }
        let include: [[String: String]] = paths.sorted().map { path in
            let parts = path.split(separator: "/").map(String.init)
            if parts.count == 3 && parts[0] == "clusters" { return ["cloud": parts[1], "env": parts[2], "path": path] }
            return ["path": path.isEmpty ? "." : path]
        }
        let data = try JSONSerialization.data(withJSONObject: ["include": include], options: [.sortedKeys, .withoutEscapingSlashes])
        let json = String(decoding: data, as: UTF8.self)
        try context.reporter.setOutput("matrix", json)
        context.standardOutput.write(json + "\n")
    }

    /// Every folder named flux-system below `under`, as repository-relative paths (hidden folders
    /// and symbolic links are not followed).
    static func fluxSystemFolders(root: URL, under: String) -> [String] {
        var found: [String] = []
        func walk(_ relative: String, depth: Int) {
            guard depth < 12 else { return }
            let url = relative.isEmpty ? root : root.appendingPathComponent(relative)
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() where !name.hasPrefix(".") {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                let values = try? root.appendingPathComponent(path).resourceValues(forKeys: [.isDirectoryKey, .isSymbolicLinkKey])
                guard values?.isDirectory == true, values?.isSymbolicLink != true else { continue }
                if name == "flux-system" { found.append(path) } else { walk(path, depth: depth + 1) }
            }
        }
        walk(under, depth: 0)
        return found
    }

    /// Where `root` is in its git repository, relative to the top ("" at the top, or outside any
    /// repository): Flux's spec.path is relative to the top, since a GitRepository's artifact
    /// is the whole repository (issue 13 item 10).
    static func folderInRepository(_ root: URL) -> String {
        guard let top = (try? Repository.open(containing: root.path))?.workTree else { return "" }
        let topPath = URL(fileURLWithPath: top).standardizedFileURL.resolvingSymlinksInPath().path
        let here = root.resolvingSymlinksInPath().path
        guard here.hasPrefix(topPath + "/") else { return "" }
        return normalize(String(here.dropFirst(topPath.count)))
    }

    /// The cluster path a flux-system folder syncs: the spec.path of a Kustomization there whose
    /// sourceRef is a GitRepository defined there and whose path holds the folder (the longest,
    /// when several do); nil when the folder has no such pair. `fluxSystem` is relative to
    /// `root`, which is `folder` of its git repository; the result is relative to `root` when it
    /// is inside it, else to the repository's top.
    enum Found: Equatable {
        /// The cluster path it syncs.
        case cluster(String)
        /// Sync manifests whose path does not hold the folder: the file and line of that
        /// spec.path, and the path (relative to the repository's top).
        case elsewhere(file: String, line: Int?, path: String)
        /// No sync manifests.
        case none
    }

    static func clusterPath(fluxSystem: String, root: URL, folder: String = "") -> Found {
        let inRepository = folder.isEmpty ? fluxSystem : "\(folder)/\(fluxSystem)"
        var repositories: Set<String> = []
        var kustomizations: [(source: String, path: String, file: String)] = []
        let directory = root.appendingPathComponent(fluxSystem)
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
        where file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8),
                text.contains("toolkit.fluxcd.io"), let documents = try? Yams.load_all(yaml: text)
            else { continue }
            for case let object as [String: Any] in documents {
                let apiVersion = object["apiVersion"] as? String ?? "", kind = object["kind"] as? String ?? ""
                let metadata = object["metadata"] as? [String: Any], spec = object["spec"] as? [String: Any]
                guard let name = metadata?["name"] as? String else { continue }
                if kind == "GitRepository" && apiVersion.hasPrefix("source.toolkit.fluxcd.io/") { repositories.insert(name) }
                if kind == "Kustomization" && apiVersion.hasPrefix("kustomize.toolkit.fluxcd.io/"),
                    let sourceRef = spec?["sourceRef"] as? [String: Any], (sourceRef["kind"] as? String) == "GitRepository",
                    let source = sourceRef["name"] as? String {
                    kustomizations.append((source, normalize(spec?["path"] as? String ?? "./"), "\(fluxSystem)/\(file)"))
                }
            }
        }
        let pairs = kustomizations.filter { repositories.contains($0.source) }
        guard let path = pairs.filter({ $0.path.isEmpty || inRepository.hasPrefix($0.path + "/") }).map(\.path).max(by: { $0.count < $1.count }) else {
            guard let other = pairs.first else { return .none }
            // The line of its `path:`, found in the file's text (the parser above keeps none).
            let text = (try? String(contentsOf: root.appendingPathComponent(other.file), encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix("path:") && normalize(String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))) == other.path
            }
            return .elsewhere(file: other.file, line: line.map { $0 + 1 }, path: other.path)
        }
        guard !folder.isEmpty else { return .cluster(path) }
        return .cluster(path == folder ? "" : path.hasPrefix(folder + "/") ? String(path.dropFirst(folder.count + 1)) : path)
    }

    /// `./a/b/` → `a/b`; `.` → "".
    static func normalize(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
    }
}
