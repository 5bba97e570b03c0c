import Actions
import Foundation
import Git
import Kube
import Processes
import Yams

/// Follows what a kustomize build (as Flux runs it) reads: a folder's kustomization.yaml
/// `resources` and `components`, or, where there is none, every manifest in the folder and its
/// subfolders (Flux generates that kustomization). Problems are collected, not thrown, so that
/// one run reports all of them.
struct Walker {
    let source: TreeSource
    let tools: KustomizeTool?
    var problems: [Annotation] = []
    /// Files found to be SOPS-encrypted while reading them (each file is read once).
    var encrypted: Set<String> = []
    /// More files than a real cluster tree has: a guard against a hostile repository.
    static let maximumFiles = 20_000

    init(source: TreeSource, tools: KustomizeTool?) {
        self.source = source
        self.tools = tools
    }

    mutating func objects(in directory: String) throws(Annotation) -> [KubeObject] {
        var reached: [String] = []
        return try objects(in: directory, excluding: nil, reached: &reached)
    }

    mutating func objects(in directory: String, excluding: String?, reached: inout [String]) throws(Annotation) -> [KubeObject] {
        var visited: Set<String> = []
        var files: [String] = []
        try collect(directory, excluding: excluding, files: &files, visited: &visited, fromKustomization: nil)
        if let kustomization = kustomizationFile(directory), needsBuild(kustomization) {
            return try build(directory, kustomization: kustomization, reached: &reached, files: files)
        }
        reached += files
        var objects: [KubeObject] = []
        for file in files {
            guard let data = try? source.read(file), let text = String(data: data, encoding: .utf8) else { continue }
            if text.contains("sops:") && text.contains("ENC[AES256_GCM,") { encrypted.insert(file) }
            do {
                if let line = Manifest.anchorLine(text) {
                    problems.append(.error("\(file) uses YAML anchors; fluxci refuses them (aliases can expand without bound).", title: "YAML anchors", fix: "Write the values out.", at: SourceLocation(file: file, line: line)))
                    continue
                }
                objects += try Manifest.objects(text, file: file)
            } catch {
                problems.append(.error("\(file) is not a valid manifest: \(error).", title: "Invalid manifest", fix: "Fix the YAML; Flux's kustomize build would fail on it.", at: SourceLocation(file: file)))
            }
        }
        return objects
    }

    func kustomizationFile(_ directory: String) -> String? {
        ClusterTreeReader.kustomizationFiles.map { directory.isEmpty ? $0 : "\(directory)/\($0)" }.first { (try? source.kind($0)) == .file }
    }

    func parseKustomization(_ file: String) -> Node? {
        guard let data = try? source.read(file), let text = String(data: data, encoding: .utf8) else { return nil }
        return try? Yams.compose(yaml: text)
    }

    private func needsBuild(_ file: String) -> Bool {
        guard let node = parseKustomization(file) else { return false }
        return ["patches", "patchesStrategicMerge", "patchesJson6902", "images", "replacements", "namePrefix", "nameSuffix"].contains { node[$0] != nil }
    }

    private mutating func collect(
        _ directory: String, excluding: String?, files: inout [String], visited: inout Set<String>, fromKustomization: String?
    ) throws(Annotation) {
        guard visited.insert(directory).inserted else { return }
        guard files.count < Self.maximumFiles else {
            throw .error("The tree under \(directory) has more than \(Self.maximumFiles) manifests.", title: "Too many files", fix: "Point the Kustomization at a smaller folder.")
        }
        if let kustomization = kustomizationFile(directory) {
            guard let node = parseKustomization(kustomization) else {
                problems.append(.error("\(kustomization) is not valid YAML.", title: "Invalid kustomization", fix: "Fix the YAML.", at: SourceLocation(file: kustomization)))
                return
            }
            let entries = ((node["resources"]?.sequence.map(Array.init) ?? []) + (node["components"]?.sequence.map(Array.init) ?? [])).compactMap(\.string)
            for entry in entries {
                if entry.contains("://") || entry.hasPrefix("github.com/") { continue }  // remote bases: not in this repository
                let path = FluxKustomization.normalize(directory.isEmpty ? entry : "\(directory)/\(entry)")
                let line = lineOf(entry, in: kustomization)
                if path.hasPrefix("..") {
                    problems.append(.error(
                        "\(kustomization) lists \(entry), which leaves the repository.", title: "Path outside the repository",
                        fix: "Reference files inside the repository only.", at: SourceLocation(file: kustomization, line: line)))
                    continue
                }
                switch try? source.kind(path) {
                case .file: files.append(path)
                case .directory: try collect(path, excluding: excluding, files: &files, visited: &visited, fromKustomization: kustomization)
                case .symlink:
                    problems.append(.warning("\(path) is a symbolic link; fluxci does not follow links.", title: "Symbolic link", at: SourceLocation(file: kustomization, line: line)))
                default:
                    problems.append(.error(
                        "\(kustomization) lists \(entry), which does not exist at \(source.revisionDescription).", title: "Missing resource",
                        fix: "Create it or remove it from resources.", at: SourceLocation(file: kustomization, line: line)))
                }
            }
            return
        }
        // No kustomization.yaml: Flux includes every manifest below, and folders with their own
        // kustomization.yaml as a whole.
        let entries = (try? source.list(directory)) ?? []
        var nested: Set<String> = []
        for (path, kind) in entries where ClusterTreeReader.kustomizationFiles.contains(where: { path.hasSuffix("/" + $0) }) && kind == .file {
            let folder = String(path[..<path.lastIndex(of: "/")!])
            if folder != directory { nested.insert(folder) }
        }
        for (path, kind) in entries {
            if let excluding, path == excluding || path.hasPrefix(excluding + "/") { continue }
            if nested.contains(where: { path.hasPrefix($0 + "/") }) { continue }
            let lower = path.lowercased()
            guard lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") || lower.hasSuffix(".json") else { continue }
            if kind == .symlink {
                problems.append(.warning("\(path) is a symbolic link; fluxci does not follow links.", title: "Symbolic link", at: SourceLocation(file: path)))
                continue
            }
            if kind == .file { files.append(path) }
        }
        for folder in nested.sorted() where !(excluding.map { folder == $0 || folder.hasPrefix($0 + "/") } ?? false) {
            try collect(folder, excluding: excluding, files: &files, visited: &visited, fromKustomization: nil)
        }
    }

    private func lineOf(_ entry: String, in file: String) -> Int? {
        guard let data = try? source.read(file), let text = String(data: data, encoding: .utf8) else { return nil }
        return text.components(separatedBy: "\n").firstIndex { $0.contains(entry) }.map { $0 + 1 }
    }

    /// A kustomization with patches: built with `kubectl kustomize` from the files written out.
    private mutating func build(_ directory: String, kustomization: String, reached: inout [String], files: [String]) throws(Annotation) -> [KubeObject] {
        guard let tools else {
            throw .error(
                "\(kustomization) has patches, and building it needs `kubectl kustomize`, which is not on PATH.", title: "kubectl not found",
                fix: "Install kubectl, or move the patches out of \(kustomization).", at: SourceLocation(file: kustomization))
        }
        reached += files
        let output = try tools.build(directory, source: source)
        do {
            return try Manifest.objects(output, file: kustomization)
        } catch {
            throw .error("`kubectl kustomize \(directory)` printed something that is not a manifest: \(error).", title: "Kustomize build failed", at: SourceLocation(file: kustomization))
        }
    }
}

/// `kubectl kustomize`, for kustomizations that need a real build (patches, images…).
public struct KustomizeTool: Sendable {
    public let kubectl: String

    public init?(path environmentPath: String?) {
        for directory in (environmentPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/kubectl"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                kubectl = candidate
                return
            }
        }
        return nil
    }

    func build(_ directory: String, source: TreeSource) throws(Annotation) -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fluxci-kustomize-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do {
            for (path, kind) in try source.list(directory) where kind == .file {
                let target = scratch.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try source.read(path)?.write(to: target)
            }
        } catch {
            throw .error("Cannot write \(directory) out for kubectl kustomize: \(error).", title: "Kustomize build failed")
        }
        let (status, output, errors) = ProcessRunner.run(kubectl, ["kustomize", scratch.appendingPathComponent(directory).path])
        guard status == 0 else {
            throw .error("`kubectl kustomize \(directory)` failed: \(errors.trimmingCharacters(in: .whitespacesAndNewlines))", title: "Kustomize build failed", at: SourceLocation(file: directory))
        }
        return output
    }
}
