import Actions
import Foundation
import Yams

/// Targeted patches that select no object (tester t9 F8b). kustomize applies a `patches` entry
/// with a `target` to every object the target selects and, when it selects none, to nothing,
/// without an error (api/internal/builtins PatchTransformer: `m.Select(*p.Target)`, then a loop
/// over what it found); kustomize-controller then applies the build without the patch, which a
/// renamed object silently turns into production running with the base's values.
///
/// Which objects a target selects is asked of kustomize itself, not re-implemented (its
/// `types.Selector` matching: group/version/kind/name/namespace as anchored regular
/// expressions, `labelSelector` and `annotationSelector` as Kubernetes selectors, each target
/// matched against the objects as the patches before it left them): the build is run once more
/// with, around every targeted entry, two marker entries of the same target, each a JSON 6902
/// `add` of an annotation of its own. An entry selects something when either of its markers is on
/// an object of the output: the one before sees exactly what the entry sees; the one after
/// survives an entry that replaces the annotations. An entry that deletes what it selects
/// (`$patch: delete`) is not asked about. A later patch that drops annotations could hide a
/// marker (never seen in a fleet; a false warning, not a missed error).
enum PatchSelection {
    /// The annotation the markers add: `fluxci.probe/<file>-<entry>-<b|a>`.
    static let marker = "fluxci.probe/"

    /// The targeted entries (`patches` with a `target`, at every level of the build, and
    /// spec.patches) that select no object of the build of `kustomization`; [] when there are
    /// none or the probe build does not succeed.
    static func unselected(_ kustomization: FluxKustomization, files: Set<String>, builder: KustomizationBuild) -> [KustomizePatches.Entry] {
        let root = builder.artifact.root
        let patches = KustomizePatches(
            building: kustomization.path, specPatches: kustomization.object.json["spec", "patches"]?.array ?? [], files: files, root: root)
        let probed = patches.entries.filter { entry in
            guard entry.field == "patches" || entry.field == "patchesJson6902", entry.target != nil, let text = entry.text(root: root) else { return false }
            return !text.contains("$patch: delete") && !text.contains("$patch: \"delete\"")
        }
        guard !probed.isEmpty else { return [] }
        let (workspace, fresh) = builder.workspaces.take(files, in: builder.scratch)
        var changed: [String] = []
        var reusable = false
        defer {
            // Each changed file back to the artifact's link (a generated one removed).
            for file in changed {
                let target = workspace.path + "/" + file
                unlink(target)
                if files.contains(file), Foundation.link(root.path + "/" + file, target) != 0 { reusable = false }
            }
            if reusable { builder.workspaces.give(workspace, files: files) } else { KustomizationBuild.removeTree(workspace.path) }
        }
        guard (try? fresh ? builder.link(files, into: workspace) : ()) != nil else { return [] }
        reusable = true
        guard let written = try? KustomizationGenerator.write(kustomization, workspace: workspace, files: files) else { return [] }
        changed.append(written.file)
        // Where each probed entry is in the `patches` of the file kustomize reads: the Flux
        // Kustomization's entries follow the top kustomization's own (the generator appends them).
        var ownCount = 0
        if !written.generated, let data = FileManager.default.contents(atPath: root.appendingPathComponent(written.file).path),
            let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        {
            ownCount = node["patches"]?.sequence?.count ?? 0
        }
        // Keyed by file, then field: a `patchesJson6902` entry (tester t11 F17) gets its markers in
        // its own field, as marker entries of the same shape (target and inline operations).
        var byFile: [String: [(field: String, index: Int, entry: Int)]] = [:]
        for (number, entry) in probed.enumerated() {
            let file = entry.file ?? written.file
            byFile[file, default: []].append((entry.field, entry.file == nil ? ownCount + entry.index : entry.index, number))
        }
        for (file, entries) in byFile {
            let path = workspace.appendingPathComponent(file).path
            guard let data = FileManager.default.contents(atPath: path), let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self)),
                case .mapping(let mapping) = node
            else { return [] }
            var lists: [String: Node] = [:]
            for field in Set(entries.map(\.field)) {
                guard let list = node[field]?.sequence else { return [] }
                var items: [Node] = []
                for (index, item) in list.enumerated() {
                    guard let number = entries.first(where: { $0.field == field && $0.index == index })?.entry, let target = item["target"] else {
                        items.append(item)
                        continue
                    }
                    items.append(markerEntry(target: target, key: "\(number)-b"))
                    items.append(item)
                    items.append(markerEntry(target: target, key: "\(number)-a"))
                }
                lists[field] = Node.sequence(.init(items))
            }
            let pairs = Array(mapping).map { pair in (pair.key, pair.key.string.flatMap { lists[$0] } ?? pair.value) }
            guard let text = try? Yams.serialize(node: Node.mapping(.init(pairs))) else { return [] }
            if !changed.contains(file) { changed.append(file) }
            unlink(path)
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { return [] }
        }
        let directory = kustomization.path.isEmpty ? workspace.path : workspace.appendingPathComponent(kustomization.path).path
        guard case .success(let output) = builder.tool.build(directory) else { return [] }
        var seen: Set<Int> = []
        for match in output.matches(of: #/fluxci\.probe/(\d+)-[ab]/#) { if let number = Int(match.1) { seen.insert(number) } }
        return probed.enumerated().filter { !seen.contains($0.offset) }.map(\.element)
    }

    /// A `patches` entry of `target` that adds the annotation `fluxci.probe/<key>` to every
    /// object it selects (JSON 6902 `add` creates a missing `annotations`).
    static func markerEntry(target: Node, key: String) -> Node {
        let operation = #"[{"op": "add", "path": "/metadata/annotations/fluxci.probe~1\#(key)", "value": "1"}]"#
        return Node.mapping(.init([(Node("target"), target), (Node("patch"), Node(operation, .implicit, .singleQuoted))]))
    }
}

extension Reader {
    /// The warnings for targeted patches that select nothing, for every Kustomization built
    /// (each probe a kustomize run on `queue`), once per patch entry however many
    /// Kustomizations build it, at the entry's `target:` line.
    func unselectedPatches(_ built: [FluxKustomization], files: Set<String>, builder: KustomizationBuild, queue: BuildQueue) -> [Annotation] {
        let tickets = built.map { kustomization in (kustomization, queue.submit { PatchSelection.unselected(kustomization, files: files, builder: builder) }) }
        var warnings: [Annotation] = []
        var reported: Set<String> = []
        for (kustomization, ticket) in tickets {
            let id = kustomization.id
            for entry in ticket.wait() {
                let site = entry.file.map { SourceLocation(file: $0, line: entry.targetLine ?? entry.line) }
                    ?? location(kustomization, ["spec", "patches", .index(entry.index), "target"])
                guard reported.insert(entry.file.map { "\($0):\(entry.index)" } ?? "\(id):\(entry.index)").inserted else { continue }
                let target = entry.target
                let nearest = KustomizePatches.nearest(
                    kind: target?["kind"]?.string, name: target?["name"]?.string, namespace: target?["namespace"]?.string,
                    in: KustomizePatches.objects(reachedBy: entry, origins: origins))
                let level = entry.file ?? "the Kustomization \(id)"
                let patch = entry.patchFile.map { "patch \($0)" } ?? "inline patch"
                let nameFix = nearest.map { nearest in
                    target?["name"]?.string != nil && target?["name"]?.string != nearest.name
                        ? "set the target's name to \(nearest.name) to patch \(nearest.description)" : "correct the target to select \(nearest.description)"
                } ?? "correct the target to select an object that \(level) builds"
                warnings.append(.warning(
                    "The \(patch) (\(entry.file == nil ? "\(entry.written) of the Kustomization \(id)" : entry.written)) has a target (\(entry.targetWords)) that selects no object of what \(entry.file.map { "\($0) builds (in the Kustomization \(id))" } ?? "the Kustomization \(id) builds (spec.path \(kustomization.writtenPath))")\(nearest.map { "; the nearest is \($0.description)" } ?? ""). kustomize applies a targeted patch to every object it selects and to none without an error, so kustomize-controller applies the build without this patch.",
                    title: "Patch selects nothing",
                    fix: "\(nameFix.prefix(1).uppercased() + nameFix.dropFirst()), or remove the entry if the patch is no longer needed.",
                    at: site))
            }
        }
        return warnings
    }
}
