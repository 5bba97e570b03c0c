import Actions
import Foundation
import Git
import Kube

/// A cluster's Flux tree at one revision: the flux-system manifests, every Flux Kustomization
/// reachable from the root one with where it is defined, the files each Kustomization reaches,
/// and the problems found before touching a cluster.
public struct ClusterTree: Sendable {
    public var clusterPath: String
    public var fluxSystemPath: String
    public var components: [KubeObject]
    /// The GitRepository and root Kustomization of gotk-sync.yaml.
    public var gitRepository: KubeObject
    public var rootKustomization: FluxKustomization
    /// Every Kustomization, the root first, then in dependency order.
    public var kustomizations: [FluxKustomization]
    /// Files each Kustomization's build reaches.
    public var files: [FluxKustomization.Reference: [String]]
    /// Files among them that are SOPS-encrypted.
    public var sopsFiles: [FluxKustomization.Reference: [String]]
    /// The objects each Kustomization's build gives, each with `file`/`line` set to where it is
    /// written in the repository (its origin): waits and annotations place objects with it.
    public var objects: [FluxKustomization.Reference: [KubeObject]] = [:]
    public var problems: [Annotation]

    /// The SOPS files of Kustomizations that decrypt: what the preflight must verify.
    public var decryptedSOPSFiles: [String] {
        Array(Set(kustomizations.filter { $0.decryptionSecret != nil }.flatMap { sopsFiles[$0.id] ?? [] })).sorted()
    }

    /// The names of the decryption Secrets the Kustomizations ask for.
    public var decryptionSecretNames: Set<String> { Set(kustomizations.compactMap(\.decryptionSecret)) }
}

public enum ClusterTreeReader {
    static let kustomizationFiles = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    /// Reads the tree of `clusterPath` (e.g. `clusters/kind/local`). `decryptionSecrets` are the
    /// Secret names the pipeline will create: a Kustomization asking for another is a problem.
    public static func read(
        _ source: TreeSource, clusterPath: String, decryptionSecrets: Set<String>, tools: KustomizeTool? = nil
    ) throws(Annotation) -> ClusterTree {
        let cluster = FluxKustomization.normalize(clusterPath)
        guard (try? source.kind(cluster)) == .directory else {
            throw .error(
                "The cluster path \(cluster) does not exist at \(source.revisionDescription).", title: "Cluster path not found",
                fix: "Check --cloud and --env (the layout is clusters/<cloud>/<env>), and that the branch holds that folder.")
        }
        let fluxSystem = try findFluxSystem(source, cluster: cluster)
        var reader = Walker(source: source, tools: tools)
        let systemObjects = try reader.objects(in: fluxSystem)
        let components = systemObjects.filter { !isSync($0) }
        guard let repository = systemObjects.first(where: { $0.kind == "GitRepository" && $0.apiVersion.hasPrefix("source.toolkit.fluxcd.io/") }),
            let rootObject = systemObjects.first(where: { FluxKustomization($0) != nil && $0.name == repository.name }),
            let root = FluxKustomization(rootObject)
        else {
            throw .error(
                "\(fluxSystem) has no GitRepository and Kustomization pair (the gotk-sync.yaml that flux bootstrap writes).",
                title: "No Flux sync manifests", fix: "Run `flux bootstrap` once, or add gotk-sync.yaml to \(fluxSystem).",
                at: SourceLocation(file: fluxSystem))
        }
        var kustomizations: [FluxKustomization] = [root]
        var files: [FluxKustomization.Reference: [String]] = [:]
        var objectsByKustomization: [FluxKustomization.Reference: [KubeObject]] = [:]
        var problems = reader.problems
        var queue = [root]
        var walked: Set<String> = []
        while !queue.isEmpty {
            let current = queue.removeFirst()
            guard current.sourceKind == "GitRepository", current.sourceName == repository.name else { continue }
            if current.path.hasPrefix("..") {
                problems.append(.error(
                    "The Kustomization \(current.id) has spec.path \(current.writtenPath), which leaves the repository.",
                    title: "Path outside the repository", fix: "Use a path inside the repository, relative to its root.", at: current.location))
                continue
            }
            guard (try? source.kind(current.path)) == .directory else {
                problems.append(.error(
                    "The Kustomization \(current.id) has spec.path \(current.writtenPath), which does not exist at \(source.revisionDescription).",
                    title: "Kustomization path not found", fix: "Create the folder, or correct spec.path (relative to the repository root).",
                    at: current.location))
                continue
            }
            var reached: [String] = []
            let objects = try reader.objects(in: current.path, excluding: current.id == root.id ? fluxSystem : nil, reached: &reached)
            files[current.id] = reached
            objectsByKustomization[current.id] = objects
            guard walked.insert(current.path + "|" + current.id.description).inserted else { continue }
            for object in objects {
                guard let child = FluxKustomization(object), !kustomizations.contains(where: { $0.id == child.id }) else { continue }
                kustomizations.append(child)
                queue.append(child)
            }
            problems += reader.problems
            reader.problems = []
        }
        var sopsFiles: [FluxKustomization.Reference: [String]] = [:]
        for (id, reached) in files {
            sopsFiles[id] = reached.filter(reader.encrypted.contains)
        }
        problems += check(kustomizations, decryptionSecrets: decryptionSecrets, sopsFiles: sopsFiles)
        return ClusterTree(
            clusterPath: cluster, fluxSystemPath: fluxSystem, components: components, gitRepository: repository, rootKustomization: root,
            kustomizations: dependencyOrder(kustomizations), files: files, sopsFiles: sopsFiles, objects: objectsByKustomization, problems: problems)
    }

    static func isSync(_ object: KubeObject) -> Bool {
        (object.kind == "GitRepository" && object.apiVersion.hasPrefix("source.toolkit.fluxcd.io/")) || FluxKustomization(object) != nil
    }

    /// `<cluster>/flux-system`, or nested (`<cluster>/flux/flux-system`).
    static func findFluxSystem(_ source: TreeSource, cluster: String) throws(Annotation) -> String {
        let direct = cluster + "/flux-system"
        if (try? source.kind(direct)) == .directory { return direct }
        let nested = ((try? source.list(cluster)) ?? []).map(\.path).compactMap { path -> String? in
            guard let range = path.range(of: "/flux-system/") else { return nil }
            return String(path[..<range.lowerBound]) + "/flux-system"
        }
        if let found = Set(nested).sorted().first { return found }
        throw .error(
            "No flux-system folder under \(cluster) at \(source.revisionDescription).", title: "flux-system not found",
            fix: "flux bootstrap writes \(cluster)/flux-system/{gotk-components.yaml,gotk-sync.yaml,kustomization.yaml}; bootstrap the cluster once, or commit those files.",
            at: SourceLocation(file: cluster))
    }

    // MARK: Checks

    static func check(_ kustomizations: [FluxKustomization], decryptionSecrets: Set<String>, sopsFiles: [FluxKustomization.Reference: [String]]) -> [Annotation] {
        var problems: [Annotation] = []
        let known = Set(kustomizations.map(\.id))
        for kustomization in kustomizations {
            for dependency in kustomization.dependsOn where !known.contains(dependency) {
                problems.append(.error(
                    "The Kustomization \(kustomization.id) depends on \(dependency), which no Kustomization of this cluster defines.",
                    title: "Unknown dependency", fix: "Correct spec.dependsOn, or define \(dependency.name).", at: kustomization.location))
            }
            if let secret = kustomization.decryptionSecret, !decryptionSecrets.contains(secret) {
                problems.append(.error(
                    "The Kustomization \(kustomization.id) decrypts with the Secret \(secret), but the pipeline creates \(decryptionSecrets.isEmpty ? "no decryption Secret" : decryptionSecrets.sorted().joined(separator: " and ")).",
                    title: "Decryption Secret mismatch",
                    fix: secret.contains("age")
                        ? "Import an age key (SOPS_AGE_KEY) so that \(secret) is created, or set spec.decryption.secretRef.name to one of: \(decryptionSecrets.sorted().joined(separator: ", "))."
                        : "Import a PGP key (SOPS_GPG_KEY) so that \(secret) is created, or set spec.decryption.secretRef.name to one of: \(decryptionSecrets.sorted().joined(separator: ", ")).",
                    at: kustomization.location))
            }
            if kustomization.decryptionSecret == nil, let encrypted = sopsFiles[kustomization.id], !encrypted.isEmpty {
                problems.append(.warning(
                    "The Kustomization \(kustomization.id) reaches SOPS-encrypted files (\(encrypted.prefix(3).joined(separator: ", "))) but has no spec.decryption: Flux would apply them encrypted.",
                    title: "No decryption", fix: "Add spec.decryption (provider: sops, secretRef.name: sops-age or sops-gpg).", at: kustomization.location))
            }
        }
        if let cycle = findCycle(kustomizations) {
            let first = kustomizations.first { $0.id == cycle[0] }
            problems.append(.error(
                "The Kustomizations depend on each other in a cycle: \(cycle.map(\.description).joined(separator: " → ")) → \(cycle[0]).",
                title: "Dependency cycle", fix: "Remove one of the dependsOn entries; Flux would wait forever.", at: first?.location))
        }
        return problems
    }

    static func findCycle(_ kustomizations: [FluxKustomization]) -> [FluxKustomization.Reference]? {
        let edges = Dictionary(uniqueKeysWithValues: kustomizations.map { ($0.id, $0.dependsOn) })
        var state: [FluxKustomization.Reference: Int] = [:]  // 1 visiting, 2 done
        var stack: [FluxKustomization.Reference] = []
        func visit(_ node: FluxKustomization.Reference) -> [FluxKustomization.Reference]? {
            if state[node] == 2 { return nil }
            if state[node] == 1, let start = stack.firstIndex(of: node) { return Array(stack[start...]) }
            state[node] = 1
            stack.append(node)
            for next in edges[node] ?? [] where edges[next] != nil {
                if let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            state[node] = 2
            return nil
        }
        for kustomization in kustomizations {
            if let cycle = visit(kustomization.id) { return cycle }
        }
        return nil
    }

    /// Dependencies before dependents (stable; cycles keep their written order).
    static func dependencyOrder(_ kustomizations: [FluxKustomization]) -> [FluxKustomization] {
        var ordered: [FluxKustomization] = []
        var placed: Set<FluxKustomization.Reference> = []
        var remaining = kustomizations
        while !remaining.isEmpty {
            let ready = remaining.filter { $0.dependsOn.allSatisfy { placed.contains($0) || !kustomizations.map(\.id).contains($0) } }
            let next = ready.isEmpty ? [remaining[0]] : ready
            for item in next {
                ordered.append(item)
                placed.insert(item.id)
            }
            remaining.removeAll { item in next.contains { $0.id == item.id } }
        }
        return ordered
    }
}
