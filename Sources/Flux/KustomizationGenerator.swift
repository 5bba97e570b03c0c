import Foundation
import Kube
import Yams

/// The kustomization.yaml kustomize-controller builds a Kustomization from, as fluxcd/pkg
/// kustomize's `Generator.WriteFile` writes it into the artifact before the build:
///
/// - where `spec.path` holds no kustomization file (`kustomization.yaml`, `kustomization.yml`,
///   `Kustomization`), one is generated listing, in the order of Go's `filepath.Walk`, every
///   `.yaml`/`.yml` file below (any other extension, `.json` included, is left out) and every
///   subfolder holding its own kustomization file as a whole (not descended into);
/// - then the Kustomization's own fields, as the v1 API stores them, are written into it:
///   `spec.targetNamespace` as `namespace`, `spec.namePrefix`/`spec.nameSuffix`, `spec.patches`
///   appended, `spec.images` replacing the entry of the same name or appended,
///   `spec.components` appended.
///
/// fluxci adds `buildMetadata: [originAnnotations]`, so that kustomize records where each object
/// comes from; the annotation is taken off the objects afterwards (unless the repository asked
/// for it itself).
enum KustomizationGenerator {
    static let fileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    /// Whether the repository-relative `path` names a kustomization file (by its last component).
    static func isKustomizationFile(_ path: String) -> Bool { fileNames.contains((path as NSString).lastPathComponent) }

    struct Written {
        /// The kustomization file (repository-relative) that was written, and whether it was
        /// generated.
        var file: String
        var generated: Bool
        /// Whether the repository's kustomization already asked for origin annotations.
        var keepsOrigins: Bool
        /// The resources a generated kustomization lists (repository-relative).
        var generatedResources: [String] = []
        /// Top-level fields of the repository's kustomization that kustomize's Kustomization
        /// type does not have, with their lines: Flux drops them (see `knownFields`).
        var droppedFields: [(name: String, line: Int)] = []
    }

    /// The JSON names of kustomize's `types.Kustomization` (api/types/kustomization.go, with
    /// its inline TypeMeta). kustomize-controller's generator reads the repository's
    /// kustomization with sigs.k8s.io/yaml's `Unmarshal`, which is not strict, and writes it back
    /// (`Generator.WriteFile`): a field the type lacks (`commonLabel:`, a typo) is dropped, where
    /// `kubectl kustomize` on the file as written fails ("json: unknown field"). Go's decoder
    /// matches names ignoring ASCII case. Unknown fields deeper down are not dropped here, so
    /// kubectl still fails on those where Flux would drop them.
    static let knownFields: Set<String> = Set([
        "apiVersion", "kind", "metadata", "openapi", "namePrefix", "nameSuffix", "namespace", "commonLabels", "labels",
        "commonAnnotations", "patchesStrategicMerge", "patchesJson6902", "patches", "images", "imageTags", "replacements",
        "replicas", "vars", "sortOptions", "resources", "components", "crds", "bases", "configMapGenerator", "secretGenerator",
        "helmGlobals", "helmCharts", "helmChartInflationGenerator", "generatorOptions", "configurations", "generators",
        "transformers", "validators", "buildMetadata",
    ].map { $0.lowercased() })

    /// The kustomization file of a folder among `files`, if any.
    static func kustomizationFile(in directory: String, files: Set<String>) -> String? {
        fileNames.map { directory.isEmpty ? $0 : "\(directory)/\($0)" }.first(where: files.contains)
    }

    /// What a generated kustomization lists for `directory`, relative to it (`./apps/x.yaml`).
    static func generatedResources(_ directory: String, files: Set<String>) -> [String] {
        let prefix = directory.isEmpty ? "" : directory + "/"
        let below = files.filter { $0.hasPrefix(prefix) }.map { $0.dropFirst(prefix.count).split(separator: "/").map(String.init) }
        // filepath.Walk visits a folder's entries in byte order, each folder depth first.
        let sorted = below.sorted { a, b in
            for (x, y) in zip(a, b) where x != y { return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)) }
            return a.count < b.count
        }
        var resources: [String] = []
        var wholeFolders: Set<String> = []
        outer: for components in sorted {
            for depth in 1..<max(components.count, 1) {
                let folder = components.prefix(depth).joined(separator: "/")
                if wholeFolders.contains(folder) { continue outer }
                if kustomizationFile(in: prefix + folder, files: files) != nil {
                    wholeFolders.insert(folder)
                    resources.append("./" + folder)
                    continue outer
                }
            }
            let name = components.last ?? ""
            let ext = name.lastIndex(of: ".").map { String(name[$0...]) } ?? ""
            if ext == ".yaml" || ext == ".yml" { resources.append("./" + components.joined(separator: "/")) }
        }
        return resources
    }

    /// Writes the kustomization for `kustomization` into `workspace` (a private copy of the
    /// artifact: a new file replaces the link, so other builds do not see it).
    static func write(_ kustomization: FluxKustomization, workspace: URL, files: Set<String>) throws -> Written {
        let directory = kustomization.path
        var node: Node
        var file: String
        var generated = false
        var resources: [String] = []
        if let existing = kustomizationFile(in: directory, files: files) {
            file = existing
            let text = String(decoding: try Data(contentsOf: workspace.appendingPathComponent(existing)), as: UTF8.self)
            guard let composed = try? Yams.compose(yaml: text), case .mapping = composed else {
                // Leave it as it is: kustomize says what is wrong with it.
                return Written(file: existing, generated: false, keepsOrigins: true, generatedResources: [])
            }
            node = composed
        } else {
            generated = true
            file = directory.isEmpty ? "kustomization.yaml" : "\(directory)/kustomization.yaml"
            resources = generatedResources(directory, files: files)
            node = Node.mapping(.init([
                (Node("apiVersion"), Node("kustomize.config.k8s.io/v1beta1")), (Node("kind"), Node("Kustomization")),
                (Node("resources"), Node.sequence(.init(resources.map { Node($0, .implicit, .doubleQuoted) }))),
            ]))
        }
        guard case .mapping(let mapping) = node else { throw SourceArtifact.ArtifactError(message: "unreachable") }
        var pairs = Array(mapping).map { ($0.key, $0.value) }
        var dropped: [(name: String, line: Int)] = []
        if !generated {
            pairs.removeAll { pair in
                guard let name = pair.0.string, !knownFields.contains(name.lowercased()) else { return false }
                dropped.append((name, (pair.0.mark?.line ?? 0)))
                return true
            }
        }
        func set(_ key: String, _ value: Node) {
            if let index = pairs.firstIndex(where: { $0.0.string == key }) { pairs[index].1 = value } else { pairs.append((Node(key), value)) }
        }
        func append(_ key: String, _ values: [Node]) {
            guard !values.isEmpty else { return }
            if let index = pairs.firstIndex(where: { $0.0.string == key }), case .sequence(let existing) = pairs[index].1 {
                pairs[index].1 = Node.sequence(.init(Array(existing) + values))
            } else {
                set(key, Node.sequence(.init(values)))
            }
        }
        let spec = buildSpec(of: kustomization)
        if let namespace = spec["targetNamespace"]?.string { set("namespace", Node(namespace, .implicit, .doubleQuoted)) }
        if let prefix = spec["namePrefix"]?.string { set("namePrefix", Node(prefix, .implicit, .doubleQuoted)) }
        if let suffix = spec["nameSuffix"]?.string { set("nameSuffix", Node(suffix, .implicit, .doubleQuoted)) }
        append("patches", (spec["patches"]?.array ?? []).compactMap(Self.node(from:)))
        // Not `patchesStrategicMerge`/`patchesJson6902` of a v1beta1/v1beta2 object: the API server
        // stores Kustomizations as v1 (conversion strategy None), and its schema-coercing converter
        // prunes the fields the v1 schema lacks, so kustomize-controller never sees them
        // (`ClusterTreeReader.check` warns where they are written).
        if let images = spec["images"]?.array, !images.isEmpty {
            var list: [Node] = []
            if let index = pairs.firstIndex(where: { $0.0.string == "images" }), case .sequence(let existing) = pairs[index].1 { list = Array(existing) }
            for image in images {
                guard let name = image["name"]?.string, let imageNode = Self.node(from: image) else { continue }
                if let at = list.firstIndex(where: { $0["name"]?.string == name }) { list[at] = imageNode } else { list.append(imageNode) }
            }
            set("images", Node.sequence(.init(list)))
        }
        append("components", (spec["components"]?.array ?? []).compactMap { $0.string.map { Node($0, .implicit, .doubleQuoted) } })
        let metadataIndex = pairs.firstIndex { $0.0.string == "buildMetadata" }
        let existingMetadata: [Node] = metadataIndex.flatMap { pairs[$0].1.sequence.map(Array.init) } ?? []
        let keepsOrigins = existingMetadata.contains { $0.string == "originAnnotations" }
        if !keepsOrigins { append("buildMetadata", [Node("originAnnotations")]) }
        let text = try Yams.serialize(node: Node.mapping(.init(pairs)))
        let target = workspace.appendingPathComponent(file)
        try? FileManager.default.removeItem(at: target)
        guard FileManager.default.createFile(atPath: target.path, contents: Data(text.utf8)) else {
            throw SourceArtifact.ArtifactError(message: "cannot write \(file) into the build folder")
        }
        return Written(
            file: file, generated: generated, keepsOrigins: keepsOrigins,
            generatedResources: resources.map { FluxKustomization.normalize(directory + "/" + $0) }, droppedFields: dropped)
    }

    /// The fields of `spec` the generated kustomization is made from (the rest, postBuild
    /// included, does not change what kustomize builds): with `spec.path` and the artifact's
    /// files, everything a build depends on, so two Kustomizations equal in them build alike.
    static func buildSpec(of kustomization: FluxKustomization) -> JSONValue {
        let fields = ["targetNamespace", "namePrefix", "nameSuffix", "patches", "patchesStrategicMerge", "patchesJson6902", "images", "components"]
        return .object((kustomization.object.json["spec"]?.object ?? []).filter { fields.contains($0.key) })
    }

    /// A JSON value as a YAML node (JSON is YAML: strings stay strings).
    static func node(from value: JSONValue) -> Node? {
        try? Yams.compose(yaml: value.jsonText)
    }
}
