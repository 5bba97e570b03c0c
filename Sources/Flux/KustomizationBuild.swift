import Foundation
import Kube
import SOPS
import Yams

/// One Kustomization built as kustomize-controller builds it, on a private copy of the source
/// artifact (hard links; the kustomization written for the build replaces its link, so parallel
/// builds never see each other's): generate and write the kustomization
/// (`KustomizationGenerator`), run kustomize on the whole artifact with load restrictions off,
/// and find the SOPS files the build reaches as kustomize-controller's decryptor does.
struct KustomizationBuild {
    struct Request {
        var kustomization: FluxKustomization
        /// The artifact files this build sees (the source's ignore rules applied).
        var files: Set<String>

        /// Whether `other` builds exactly what this one does: the same path, the same spec fields
        /// the generated kustomization is made from (compared as bytes: Swift's `String ==` takes
        /// canonically equivalent names for equal, the file system does not), the same files.
        func buildsAlike(_ other: Request) -> Bool {
            Array(kustomization.path.utf8) == Array(other.kustomization.path.utf8)
                && Array(KustomizationGenerator.buildSpec(of: kustomization).jsonText.utf8) == Array(KustomizationGenerator.buildSpec(of: other.kustomization).jsonText.utf8)
                && files == other.files
        }
    }

    struct Document {
        /// The object's YAML as kustomize printed it (origin annotation still on).
        var text: String
        var object: JSONValue
        var origin: String?
    }

    struct Output {
        var documents: [Document]
        var written: KustomizationGenerator.Written
        /// Files the decryptor would decrypt before the build (secretGenerator `files:`/`envs:`,
        /// patches with a path), and the other generator inputs (configMapGenerator): every file
        /// a generator reads, repository-relative.
        var generatorFiles: [(file: String, decrypted: Bool, declaredIn: String, line: Int?, read: SOPSDecryptorRead?)]
        /// Kustomization files of the build (the written one and those it reaches).
        var kustomizationFiles: [String]
    }

    enum Failure: Error {
        case notADirectory, missing(ignored: Bool), symbolicLink
        case build(String)
        case missingReference(MissingReference)
        /// A file the build reads expands beyond fluxci's bound through YAML aliases; kustomize
        /// was not run (`AliasExpansion`).
        case aliasBomb(AliasExpansion.Bomb)
        /// kustomize ran longer than `KustomizeTool.buildTimeout` and was stopped.
        case timedOut(String)
    }

    let artifact: SourceArtifact
    let tool: KustomizeTool
    let scratch: URL
    let workspaces = Workspaces()
    let expansions = AliasExpansion.Files()
    let folderSets = FolderSets()

    /// The folders above the files of each file set the builds see (every build of a plan sees
    /// the same few sets): made once per set, not once per build.
    final class FolderSets: @unchecked Sendable {
        private let lock = NSLock()
        private var made: [(files: Set<String>, folders: Set<String>)] = []

        func folders(of files: Set<String>) -> Set<String> {
            if let found = lock.withLock({ made.first { $0.files.count == files.count && $0.files == files }?.folders }) { return found }
            let folders = Set(files.flatMap { file in
                let parts = file.split(separator: "/").dropLast()
                return parts.indices.map { parts[...$0].joined(separator: "/") }
            })
            lock.withLock { made.append((files, folders)) }
            return folders
        }
    }

    /// Link farms free for the next build, each with the file set it holds.
    final class Workspaces: @unchecked Sendable {
        private let lock = NSLock()
        private var free: [(files: Set<String>, url: URL)] = []
        private var made = 0

        /// A free workspace holding `files`, or a new empty folder's URL (`fresh`).
        func take(_ files: Set<String>, in scratch: URL) -> (URL, fresh: Bool) {
            lock.withLock {
                if let index = free.firstIndex(where: { $0.files.count == files.count && $0.files == files }) {
                    return (free.remove(at: index).url, false)
                }
                made += 1
                return (scratch.appendingPathComponent("build-\(made)"), true)
            }
        }

        func give(_ url: URL, files: Set<String>) { lock.withLock { free.append((files, url)) } }
    }

    func run(_ request: Request, index: Int) -> Result<Output, Failure> {
        let path = request.kustomization.path
        let files = request.files
        if !path.isEmpty, !files.contains(where: { $0.hasPrefix(path + "/") }) {
            if files.contains(path) { return .failure(.notADirectory) }
            if artifact.symbolicLinks.contains(path) { return .failure(.symbolicLink) }
            return .failure(.missing(ignored: artifact.written.contains { $0.hasPrefix(path + "/") || $0 == path }))
        }
        // The folder's own kustomization is read (and rewritten) before anything else.
        if let own = KustomizationGenerator.kustomizationFile(in: path, files: files), let bomb = expansions.bomb(own, root: artifact.root) {
            return .failure(.aliasBomb(bomb))
        }
        // A workspace (a link farm of the artifact) is reused by the next build that sees the same
        // files: only the kustomization a build writes differs, and it is put back afterwards.
        // Linking and removing hundreds of entries per build cost more than kustomize itself.
        let (workspace, fresh) = workspaces.take(files, in: scratch)
        var writtenFile: String?
        var reusable = false
        defer {
            if let writtenFile {
                let target = workspace.path + "/" + writtenFile
                unlink(target)
                if files.contains(writtenFile), Foundation.link(artifact.root.path + "/" + writtenFile, target) != 0 { reusable = false }
            }
            if reusable { workspaces.give(workspace, files: files) } else { Self.removeTree(workspace.path) }
        }
        do {
            if fresh { try link(files, into: workspace) }
            reusable = true
            let written = try KustomizationGenerator.write(request.kustomization, workspace: workspace, files: files)
            writtenFile = written.file
            var folders = folderSets.folders(of: files)
            var above = RepositoryPath.parent(written.file)
            while !above.isEmpty, folders.insert(above).inserted { above = RepositoryPath.parent(above) }
            let reached = decryptorVisit(workspace: workspace, directory: path, files: files.union([written.file]), folders: folders)
            if let bomb = reached.bombs.first { return .failure(.aliasBomb(bomb)) }
            let directory = path.isEmpty ? workspace.path : workspace.appendingPathComponent(path).path
            switch tool.build(directory) {
            case .failure(let failure) where failure.timedOut:
                return .failure(.timedOut(failure.message))
            case .failure(let failure):
                // A named file that is not in the artifact is the cause kustomize stops on: say
                // which entry names it rather than kustomize's wording of it.
                if let first = reached.missing.first { return .failure(.missingReference(first)) }
                // Paths in kustomize's message are the workspace's: make them repository-relative.
                let message = failure.message.replacingOccurrences(of: workspace.path + "/", with: "").replacingOccurrences(of: workspace.path, with: ".")
                return .failure(.build(message))
            case .success(let output):
                return .success(Output(
                    documents: try Self.documents(output), written: written, generatorFiles: reached.generatorFiles,
                    kustomizationFiles: reached.kustomizationFiles))
            }
        } catch {
            return .failure(.build("\(error)"))
        }
    }

    /// Hard links of the artifact's files (a copy where linking is refused). Plain POSIX calls:
    /// a plan makes one such folder per build, hundreds of entries each.
    func link(_ files: Set<String>, into workspace: URL) throws {
        var made: Set<String> = []
        func folder(_ path: String) {
            guard !path.isEmpty, !made.contains(path) else { return }
            folder(RepositoryPath.parent(path))
            mkdir(workspace.path + "/" + path, 0o700)
            made.insert(path)
        }
        mkdir(workspace.path, 0o700)
        let root = artifact.root.path
        for file in files {
            folder(RepositoryPath.parent(file))
            let source = root + "/" + file, target = workspace.path + "/" + file
            if Foundation.link(source, target) != 0 { try FileManager.default.copyItem(atPath: source, toPath: target) }
        }
    }

    /// Removes a folder and everything in it (no symbolic link is followed).
    static func removeTree(_ path: String) {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                guard name != ".", name != ".." else { continue }
                let child = path + "/" + name
                var isDirectory = Int32(entry.pointee.d_type) == Int32(DT_DIR)
                if Int32(entry.pointee.d_type) == Int32(DT_UNKNOWN) {
                    var info = stat()
                    isDirectory = lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
                }
                if isDirectory { removeTree(child) } else { unlink(child) }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    /// kustomize's output split into objects.
    static func documents(_ output: String) throws -> [Document] {
        var chunks: [String] = []
        var current: [Substring] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "---" {
                chunks.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        chunks.append(current.joined(separator: "\n"))
        var documents: [Document] = []
        for chunk in chunks where !chunk.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            for object in try Manifest.objects(chunk + "\n") {
                documents.append(Document(text: chunk + "\n", object: object.json, origin: object.json["metadata", "annotations", Origins.annotation]?.string))
            }
        }
        return documents
    }

    /// A local file or folder a kustomization names that is not in the artifact: kustomize's
    /// build fails on it, and the problem belongs at the entry that names it.
    struct MissingReference: Equatable {
        /// The kustomization file naming it, the entry's line, the field (`patches`,
        /// `resources`, `secretGenerator`…), the entry as written and the path it resolves to.
        var declaredIn: String
        var line: Int?
        var field: String
        var reference: String
        var path: String
        /// The entry is not in the repository's file: Flux added it from the Kustomization's spec.
        var fromSpec: Bool
    }

    /// kustomize-controller's `DecryptSources` walk (internal/decryptor `recurseKustomizationFiles`
    /// and `decryptKustomizationSources`): from the built folder's kustomization through every
    /// local `resources` and `components` folder holding a kustomization, the files of each
    /// `secretGenerator` (`files:` as `key=path` or `path`, `envs:`) and each patch `path`.
    /// configMapGenerator inputs are listed too (not decrypted by Flux). Local entries that name
    /// nothing in the artifact are collected as missing, each at its entry's line. Every file
    /// kustomize parses as YAML on the way (kustomization files, resources, patch and
    /// replacement files, crds, configurations, transformer/generator/validator files) is
    /// measured for alias bombs (`AliasExpansion`); a generator's `files:`/`envs:` are read as
    /// bytes, not YAML, and are not. A kustomization file that is a bomb is not read further.
    /// `folders`: the folders above the files (the written kustomization's folder among them).
    func decryptorVisit(workspace: URL, directory: String, files: Set<String>, folders: Set<String>)
        -> (generatorFiles: [(file: String, decrypted: Bool, declaredIn: String, line: Int?, read: SOPSDecryptorRead?)], kustomizationFiles: [String], missing: [MissingReference],
            bombs: [AliasExpansion.Bomb])
    {
        var visited: Set<String> = []
        var generatorFiles: [(file: String, decrypted: Bool, declaredIn: String, line: Int?, read: SOPSDecryptorRead?)] = []
        var kustomizationFiles: [String] = []
        var missing: [MissingReference] = []
        var bombs: [AliasExpansion.Bomb] = []
        func exists(_ path: String) -> Bool { files.contains(path) || folders.contains(path) || path.isEmpty }
        /// Measures a file kustomize parses as YAML (once per build).
        func measure(_ path: String) {
            guard files.contains(path), !bombs.contains(where: { $0.file == path }), let bomb = expansions.bomb(path, root: artifact.root) else { return }
            bombs.append(bomb)
        }
        func visit(_ folder: String) {
            guard visited.insert(folder).inserted, visited.count < 10_000,
                let file = KustomizationGenerator.kustomizationFile(in: folder, files: files)
            else { return }
            // The repository's own file (a generated one is not in the artifact, and a bomb-free
            // file rewritten stays bomb-free): never walked below when it is a bomb.
            measure(file)
            guard !bombs.contains(where: { $0.file == file }),
                let data = FileManager.default.contents(atPath: workspace.appendingPathComponent(file).path),
                let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
            else { return }
            kustomizationFiles.append(file)
            // Lines come from the repository's own file: the one in the workspace was rewritten
            // (Flux's fields and buildMetadata added). An entry only the rewrite has came from the
            // Flux Kustomization's spec.
            var originalLines: [String: [String: Int]] = [:]
            if let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path),
                let original = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
            {
                func collect(_ node: Node, into lines: inout [String: Int]) {
                    switch node {
                    case .scalar(let scalar): if lines[scalar.string] == nil, let line = node.mark?.line { lines[scalar.string] = line }
                    case .sequence(let items): for item in items { collect(item, into: &lines) }
                    case .mapping(let pairs): for pair in pairs { collect(pair.value, into: &lines) }
                    default: break
                    }
                }
                if case .mapping(let pairs) = original {
                    for pair in pairs {
                        guard let key = pair.key.string else { continue }
                        collect(pair.value, into: &originalLines[key, default: [:]])
                    }
                }
            }
            func line(_ field: String, _ entry: Node) -> Int? { entry.string.flatMap { originalLines[field]?[$0] } }
            func resolve(_ reference: String) -> String? {
                guard !reference.contains("://") else { return nil }
                let path = FluxKustomization.normalize(folder.isEmpty ? reference : "\(folder)/\(reference)")
                return path.hasPrefix("..") ? nil : path
            }
            func check(_ field: String, _ entry: Node, _ reference: String, _ path: String) {
                guard !exists(path) else { return }
                let at = line(field, entry)
                missing.append(MissingReference(declaredIn: file, line: at, field: field, reference: reference, path: path, fromSpec: at == nil))
            }
            /// `read`: how the decryptor reads the file (nil: it does not decrypt it).
            func add(_ field: String, _ entry: Node, _ reference: String, read: ((String, Int?) -> SOPSDecryptorRead)?) {
                guard let path = resolve(reference) else { return }
                let at = line(field, entry)
                generatorFiles.append((path, read != nil, file, at, read?(file, at)))
                check(field, entry, reference, path)
            }
            // Builtin generators configured in a file under `generators:` read files too, which
            // kustomize-controller's decryptor never visits (it walks secretGenerator and patches
            // of the kustomization only; tester t14 F20): listed as read without decryption, at
            // their line in that file.
            for entry in node["generators"]?.sequence ?? [] {
                guard let text = entry.string, !text.contains("\n"), let config = resolve(text),
                    let data = FileManager.default.contents(atPath: workspace.appendingPathComponent(config).path),
                    var documents = try? Yams.compose_all(yaml: String(decoding: data, as: UTF8.self))
                else { continue }
                while let document = documents.next() {
                    guard ["SecretGenerator", "ConfigMapGenerator"].contains(document["kind"]?.string ?? "") else { continue }
                    let sources = (document["files"]?.sequence.map(Array.init) ?? []) + (document["envs"]?.sequence.map(Array.init) ?? [])
                    for source in sources {
                        guard let text = source.string else { continue }
                        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                        guard let path = resolve(parts.count > 1 ? parts[1] : parts[0]) else { continue }
                        generatorFiles.append((path, false, config, source.mark?.line, nil))
                    }
                }
            }
            for (key, decrypted) in [("secretGenerator", true), ("configMapGenerator", false)] {
                for generator in node[key]?.sequence ?? [] {
                    for source in generator["files"]?.sequence ?? [] {
                        guard let text = source.string else { continue }
                        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                        add(key, source, parts.count > 1 ? parts[1] : parts[0], read: decrypted ? { SOPSDecryptorRead.secretGeneratorFile(text, declaredIn: $0, line: $1) } : nil)
                    }
                    for env in (generator["envs"]?.sequence.map(Array.init) ?? []) + [generator["env"]].compactMap({ $0 }) {
                        if let text = env.string { add(key, env, text, read: decrypted ? { SOPSDecryptorRead.envSource(text, declaredIn: $0, line: $1) } : nil) }
                    }
                }
            }
            for patch in node["patches"]?.sequence ?? [] {
                if let entry = patch["path"], let path = entry.string {
                    add("patches", entry, path, read: { SOPSDecryptorRead.patch(path, declaredIn: $0, line: $1) })
                    resolve(path).map(measure)
                }
            }
            for patch in node["patchesStrategicMerge"]?.sequence ?? [] {
                // An entry is a file path or an inline patch; only a one-line entry is a path.
                if let text = patch.string, !text.contains("\n"), let path = resolve(text) {
                    // Listed, and not decrypted: decryptKustomizationSources walks `patches:`
                    // paths only (the kustomization is read without kustomize's fix-up that
                    // would turn these into `patches`; tester t14 F21).
                    add("patchesStrategicMerge", patch, text, read: nil)
                    measure(path)
                }
            }
            // Other files kustomize reads as YAML: `path:` entries, and file entries of lists.
            for key in ["patchesJson6902", "replacements"] {
                for entry in node[key]?.sequence ?? [] { if let path = entry["path"]?.string.flatMap(resolve) { measure(path) } }
            }
            for key in ["crds", "configurations", "transformers", "generators", "validators"] {
                for entry in node[key]?.sequence ?? [] { if let path = entry.string.flatMap(resolve) { measure(path) } }
            }
            for key in ["resources", "components", "bases"] {
                for entry in node[key]?.sequence ?? [] {
                    guard let text = entry.string, let path = resolve(text) else { continue }
                    check(key, entry, text, path)
                    if files.contains(path) { measure(path) } else { visit(path) }
                }
            }
        }
        visit(directory)
        return (generatorFiles, kustomizationFiles, missing, bombs)
    }
}
