import Foundation
import Kube

/// flux-system's objects read from the build of the cluster's folder, where that build reads
/// flux-system exactly as its own build would: flux bootstrap's layout, a cluster folder without
/// kustomization.yaml (Flux generates one that lists flux-system, which has its own, as one
/// resource). kustomize builds a listed folder as a target of its own (api/internal/target
/// `accumulateDirectory`: its generators, transformers and patches see only its objects) and
/// adds it to the parent's, and a generated kustomization adds nothing over its resources; the
/// steps kustomize runs only at the top (name hashes of generated objects, name references fixed
/// across all objects, vars, the legacy sort, buildMetadata) give the same flux-system objects
/// in the same order unless a kustomization file of flux-system has a field that acts at the top
/// (`KustomizationBuild.allowsBatches`) or reaches outside flux-system, or a flux-system object
/// names an object another folder's generator made (a name the top would have given a hash).
/// So gotk-components.yaml is read by one kustomize run per plan, not two.
enum FluxSystemInRoot {
    /// Whether the build of `cluster` (with Flux's generated kustomization) reads `fluxSystem` as
    /// one resource, with nothing in it that acts beyond its own build.
    static func applies(cluster: String, fluxSystem: String, files: Set<String>, root: URL) -> Bool {
        guard KustomizationGenerator.kustomizationFile(in: cluster, files: files) == nil,
            KustomizationGenerator.kustomizationFile(in: fluxSystem, files: files) != nil,
            cluster.isEmpty || fluxSystem.hasPrefix(cluster + "/")
        else { return false }
        let relative = cluster.isEmpty ? fluxSystem : String(fluxSystem.dropFirst(cluster.count + 1))
        guard KustomizationGenerator.generatedResources(cluster, files: files).contains("./" + relative) else { return false }
        let inside = files.filter { $0.hasPrefix(fluxSystem + "/") }
        let folders = Set(inside.flatMap { file in
            let parts = file.split(separator: "/").dropLast()
            return parts.indices.map { parts[...$0].joined(separator: "/") }
        })
        return KustomizationBuild.allowsBatches(inside, root: root, folders: folders)
    }

    /// flux-system's objects among the root build's `placed` objects (each with its origin
    /// annotation), in the build's order; nil when an object has no origin (its folder is then
    /// unknown) or a flux-system object names an object a generator of another folder made.
    static func objects(_ placed: [(origin: String?, object: KubeObject)], fluxSystem: String) -> [KubeObject]? {
        guard placed.allSatisfy({ $0.origin != nil && $0.object.file != nil }) else { return nil }
        let isInside = { (object: KubeObject) in object.file!.hasPrefix(fluxSystem + "/") }
        let inside = placed.filter { isInside($0.object) }.map(\.object)
        let generated = Set(placed.filter { !isInside($0.object) && $0.origin!.contains("configuredIn:") }.map(\.object.name))
        guard !inside.isEmpty else { return nil }
        if !generated.isEmpty {
            var strings: [String] = []
            func collect(_ value: JSONValue) {
                switch value {
                case .string(let text): strings.append(text)
                case .array(let items): items.forEach(collect)
                case .object(let pairs): pairs.forEach { collect($0.value) }
                default: break
                }
            }
            inside.forEach { collect($0.json) }
            if strings.contains(where: generated.contains) { return nil }
        }
        return inside
    }
}
