import Foundation
import Kube
import Yams

/// Several Kustomizations built by one kustomize run, where that provably gives each of them what
/// its own run gives: kubectl's start-up (about 0.1 s of CPU) is most of a small build's cost, and
/// a plan runs one build per Kustomization.
///
/// How kustomize builds it (kubernetes-sigs/kustomize api/internal/target `kusttarget.go`): a
/// batch kustomization lists one intermediate kustomization per Kustomization, each listing that
/// Kustomization's folder in the shared workspace and marking its objects with an annotation
/// (the builtin AnnotationsTransformer, on `metadata/annotations` only), by which the output is
/// split again. kustomize builds every listed folder as a target of its own
/// (`accumulateDirectory`: its generators, transformers and validators see only its objects),
/// merges the results (a resource id two Kustomizations both produce is an error), and only at the
/// top adds the generators' name hashes (a ConfigMap's or Secret's hash covers its kind, name and
/// data, never annotations), fixes name references across all objects (`FixBackReferences`),
/// resolves vars, drops local-config objects and sorts in the legacy order (by kind, then by id:
/// a total order, so each Kustomization's objects keep the order of its own build). A batch is
/// used only where those top-level steps cannot mix the Kustomizations:
///
/// - no kustomization file of the artifact has `vars`, `configurations` or `crds` (they would
///   act on every Kustomization's objects), `openapi` (one global schema), `sortOptions` or
///   `buildMetadata` (read from the top kustomization only), or a `resources`/`components`/`bases`
///   entry that is not a file or folder of the artifact (a remote base);
/// - no Kustomization reads the kustomization file another one writes;
/// - after the build, no string in one Kustomization's objects is the name of another's object:
///   a name reference fixed across Kustomizations would have written exactly such a name;
/// - every object carries its marker once and a local origin (`path`/`configuredIn` inside the
///   workspace), which is rewritten to be relative to its own Kustomization's folder.
///
/// When any of that fails, or kustomize fails, the batch gives nil and each Kustomization is built
/// alone, so each error is still reported at its own Kustomization.
extension KustomizationBuild {
    /// The annotation that says which Kustomization of a batch an object belongs to.
    static let batchMarker = "batch.fluxci.invalid/member"

    /// One result per request, in order; nil when these requests must be built one by one.
    func runBatch(_ requests: [Request]) -> [Result<Output, Failure>]? {
        guard requests.count > 1, let files = requests.first?.files, requests.allSatisfy({ $0.files.count == files.count && $0.files == files }) else { return nil }
        // A path that is no folder of the artifact fails before any build: run() says how.
        for request in requests {
            let path = request.kustomization.path
            guard path.isEmpty || folderSets.folders(of: files).contains(path) else { return nil }
        }
        // Each Kustomization writes its own kustomization file into the shared workspace.
        let targets = requests.map { request in
            KustomizationGenerator.kustomizationFile(in: request.kustomization.path, files: files)
                ?? (request.kustomization.path.isEmpty ? "kustomization.yaml" : request.kustomization.path + "/kustomization.yaml")
        }
        guard Set(targets).count == targets.count, Self.allowsBatches(files, root: artifact.root, folders: folderSets.folders(of: files)) else { return nil }
        // A build that reads an alias bomb is not run at all: run() reports it, one by one.
        guard !targets.contains(where: { files.contains($0) && expansions.bomb($0, root: artifact.root) != nil }) else { return nil }

        let (workspace, fresh) = workspaces.take(files, in: scratch)
        var written: [KustomizationGenerator.Written] = []
        let batch = URL(fileURLWithPath: workspace.path + "-batch", isDirectory: true)
        var reusable = false
        defer {
            for file in written.map(\.file) {
                let target = workspace.path + "/" + file
                unlink(target)
                if files.contains(file), Foundation.link(artifact.root.path + "/" + file, target) != 0 { reusable = false }
            }
            if reusable { workspaces.give(workspace, files: files) } else { Self.removeTree(workspace.path) }
            Self.removeTree(batch.path)
        }
        do {
            if fresh { try link(files, into: workspace) }
            reusable = true
            for request in requests {
                let file = try KustomizationGenerator.write(request.kustomization, workspace: workspace, files: files)
                written.append(file)
                // The repository asked for origin annotations itself: its objects keep the
                // annotation, whose text a batch changes.
                if file.keepsOrigins { return nil }
            }
        } catch {
            return nil
        }
        let writtenFiles = Set(written.map(\.file))
        let folders = folderSets.folders(of: files)
        var reached: [(generatorFiles: [(file: String, decrypted: Bool, declaredIn: String, line: Int?, read: SOPSDecryptorRead?)], kustomizationFiles: [String])] = []
        for (index, request) in requests.enumerated() {
            // Seen with every written file: a Kustomization reaching another one's kustomization
            // would read the other's Flux fields here, and not in its own build.
            var visible = folders
            for file in writtenFiles {
                var above = RepositoryPath.parent(file)
                while !above.isEmpty, visible.insert(above).inserted { above = RepositoryPath.parent(above) }
            }
            let visit = decryptorVisit(workspace: workspace, directory: request.kustomization.path, files: files.union(writtenFiles), folders: visible)
            guard visit.missing.isEmpty, visit.bombs.isEmpty else { return nil }
            let others = writtenFiles.subtracting([written[index].file])
            guard others.isDisjoint(with: visit.kustomizationFiles),
                !Self.names(others, in: visit.kustomizationFiles, workspace: workspace)
            else { return nil }
            reached.append((visit.generatorFiles, visit.kustomizationFiles))
        }

        // The batch folder is beside the workspace, not in it: a Kustomization at the root would
        // otherwise contain it (kustomize refuses a cycle).
        let workspaceName = workspace.lastPathComponent
        do {
            mkdir(batch.path, 0o700)
            var members: [JSONValue] = []
            for (index, request) in requests.enumerated() {
                let member = "m\(index)"
                mkdir(batch.path + "/" + member, 0o700)
                let path = request.kustomization.path
                let transformer = "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata:\n  name: fluxci-batch-member\nannotations:\n  \(Self.batchMarker): \"\(index)\"\nfieldSpecs:\n- path: metadata/annotations\n  create: true\n"
                try Self.writeKustomization(
                    [
                        ("resources", .array([.string("../../" + workspaceName + (path.isEmpty ? "" : "/" + path))])),
                        ("transformers", .array([.string(transformer)])),
                    ], to: batch.appendingPathComponent(member))
                members.append(.string(member))
            }
            try Self.writeKustomization([("resources", .array(members))], to: batch)
        } catch {
            return nil
        }
        guard case .success(let output) = tool.build(batch.path), let documents = try? Self.documents(output) else { return nil }

        // Split by marker; origins made relative to each Kustomization's own folder.
        var split: [[Document]] = Array(repeating: [], count: requests.count)
        let markerLine = #/\n {4}batch\.fluxci\.invalid/member: "(\d+)"\n/#
        for var document in documents {
            guard case .object(var metadata)? = document.object["metadata"], case .object(var annotations)? = document.object["metadata", "annotations"],
                let value = annotations.first(where: { $0.key == Self.batchMarker })?.value.string, let index = Int(value), split.indices.contains(index),
                document.text.components(separatedBy: Self.batchMarker).count == 2,
                let line = ("\n" + document.text).firstMatch(of: markerLine), line.1 == value,
                let origin = document.origin,
                let rewritten = Self.origin(origin, workspace: workspaceName, directory: requests[index].kustomization.path)
            else { return nil }
            annotations.removeAll { $0.key == Self.batchMarker }
            annotations = annotations.map { $0.key == Origins.annotation ? ($0.key, .string(rewritten)) : $0 }
            metadata = metadata.map { $0.key == "annotations" ? ($0.key, .object(annotations)) : $0 }
            document.object.set("metadata", .object(metadata))
            var text = "\n" + document.text
            text.replaceSubrange(line.range, with: "\n")
            document.text = String(text.dropFirst())
            document.origin = rewritten
            split[index].append(document)
        }
        guard Self.keepsApart(split) else { return nil }
        return requests.indices.map { index in
            .success(Output(documents: split[index], written: written[index], generatorFiles: reached[index].generatorFiles, kustomizationFiles: reached[index].kustomizationFiles))
        }
    }

    /// Whether no kustomization file among `files` has a field that acts beyond its own build
    /// (see the type's comment), or a resource that is not local.
    static func allowsBatches(_ files: Set<String>, root: URL, folders: Set<String>) -> Bool {
        let global: Set<String> = ["vars", "configurations", "crds", "openapi", "sortoptions", "buildmetadata"]
        for file in files where KustomizationGenerator.fileNames.contains(String(file.split(separator: "/").last ?? "")) {
            guard let data = FileManager.default.contents(atPath: root.path + "/" + file),
                let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self)), case .mapping(let pairs) = node
            else { return false }
            let folder = RepositoryPath.parent(file)
            for pair in pairs {
                // sigs.k8s.io/yaml matches field names ignoring ASCII case.
                guard let key = pair.key.string?.lowercased() else { return false }
                if global.contains(key) { return false }
                guard ["resources", "components", "bases"].contains(key) else { continue }
                for entry in pair.value.sequence ?? [] {
                    guard let text = entry.string, !text.contains("://") else { return false }
                    let path = FluxKustomization.normalize(folder.isEmpty ? text : folder + "/" + text)
                    guard !path.hasPrefix(".."), files.contains(path) || folders.contains(path) || path.isEmpty else { return false }
                }
            }
        }
        return true
    }

    /// Whether a scalar of the kustomization files names one of `written` (a file entry, not a
    /// folder: such a Kustomization reads the file another one rewrites).
    static func names(_ written: Set<String>, in kustomizationFiles: [String], workspace: URL) -> Bool {
        guard !written.isEmpty else { return false }
        for file in kustomizationFiles {
            guard let data = FileManager.default.contents(atPath: workspace.path + "/" + file),
                let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
            else { return true }
            let folder = RepositoryPath.parent(file)
            var found = false
            func walk(_ node: Node) {
                switch node {
                case .scalar(let scalar):
                    for part in scalar.string.split(separator: "=") where written.contains(FluxKustomization.normalize(folder.isEmpty ? String(part) : folder + "/" + part)) {
                        found = true
                    }
                case .sequence(let items): items.forEach(walk)
                case .mapping(let pairs): pairs.forEach { walk($0.value) }
                default: break
                }
            }
            walk(node)
            if found { return true }
        }
        return false
    }

    /// Whether no string in one member's objects is the name of another member's object (the
    /// value a name reference fixed across members would have written).
    static func keepsApart(_ split: [[Document]]) -> Bool {
        var owners: [String: Set<Int>] = [:]
        for (index, documents) in split.enumerated() {
            for document in documents {
                if let name = document.object["metadata", "name"]?.string { owners[name, default: []].insert(index) }
            }
        }
        for (index, documents) in split.enumerated() {
            for document in documents {
                var strings: [String] = []
                func collect(_ value: JSONValue, origin: Bool) {
                    switch value {
                    case .string(let text): if !origin { strings.append(text) }
                    case .array(let items): items.forEach { collect($0, origin: false) }
                    case .object(let pairs): pairs.forEach { collect($0.value, origin: $0.key == Origins.annotation) }
                    default: break
                    }
                }
                collect(document.object, origin: false)
                for text in strings where owners[text].map({ !$0.subtracting([index]).isEmpty }) ?? false { return false }
            }
        }
        return true
    }

    /// The origin annotation of a batch object, relative to `directory` (the Kustomization's own
    /// folder) instead of the batch folder: nil unless it is a local path in the workspace.
    static func origin(_ origin: String, workspace: String, directory: String) -> String? {
        guard !origin.contains("$") else { return nil }
        let inside = "../" + workspace + "/"
        let up = String(repeating: "../", count: directory.split(separator: "/").count)
        var lines: [String] = []
        var local = false
        for line in origin.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("repo:") || line.hasPrefix("ref:") { return nil }
            guard let key = ["path: ", "configuredIn: "].first(where: { line.hasPrefix($0) }) else {
                lines.append(String(line))
                continue
            }
            let value = line.dropFirst(key.count)
            guard value.hasPrefix(inside) else { return nil }
            local = true
            lines.append(key + up + value.dropFirst(inside.count))
        }
        return local ? lines.joined(separator: "\n") : nil
    }

    /// A kustomization file (as JSON, which is YAML) with these fields and origin annotations on.
    static func writeKustomization(_ fields: [(key: String, value: JSONValue)], to folder: URL) throws {
        let object = JSONValue.object(
            [("apiVersion", .string("kustomize.config.k8s.io/v1beta1")), ("kind", .string("Kustomization"))] + fields
                + [("buildMetadata", .array([.string("originAnnotations")]))])
        guard FileManager.default.createFile(atPath: folder.path + "/kustomization.yaml", contents: Data(object.jsonText.utf8)) else {
            throw SourceArtifact.ArtifactError(message: "cannot write the batch kustomization into \(folder.path)")
        }
    }
}
