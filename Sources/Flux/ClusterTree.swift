import Actions
import Foundation
import Git
import Kube
import SOPS
import Yams

/// A cluster's Flux tree at one revision, as Flux builds it: the flux-system manifests, every
/// Flux Kustomization reachable from the root one (each built with kustomize on the source
/// artifact, postBuild applied), the objects and files each build reaches, and the problems
/// found before touching a cluster.
public struct ClusterTree: Sendable {
    public enum BuildStatus: Sendable, Equatable {
        case built
        case notBuilt(String)
    }

    public var clusterPath: String
    public var fluxSystemPath: String
    public var components: [KubeObject]
    /// The other sources and Kustomizations of the flux-system build (beside the root pair),
    /// which a bootstrap applies with it, as `flux bootstrap` applies the whole folder.
    public var bootstrapSync: [KubeObject] = []
    /// The GitRepository and root Kustomization (the pair whose path is the cluster path).
    public var gitRepository: KubeObject
    public var rootKustomization: FluxKustomization
    /// Every Kustomization, the root first, then in dependency order.
    public var kustomizations: [FluxKustomization]
    /// Files each Kustomization's build reaches (objects' origins, kustomization files,
    /// generator inputs).
    public var files: [FluxKustomization.Reference: [String]]
    /// Files among them that are SOPS-encrypted.
    public var sopsFiles: [FluxKustomization.Reference: [String]]
    /// The objects each Kustomization's build gives, each with `file`/`line` set to where it is
    /// written in the repository (its origin): waits and annotations place objects with it.
    public var objects: [FluxKustomization.Reference: [KubeObject]] = [:]
    /// Whether each Kustomization was built, and why not.
    public var builds: [FluxKustomization.Reference: BuildStatus] = [:]
    /// How the builds ran (`kubectl kustomize --load-restrictor LoadRestrictionsNone`).
    public var buildTool: String = ""
    public var problems: [Annotation]
    /// How kustomize-controller's decryptor reads each SOPS file a generator or patch names
    /// (`SOPSDecryptorRead`): its format comes from the entry, not the file's name alone.
    public var decryptorReads: [FluxKustomization.Reference: [String: Set<SOPSDecryptorRead>]] = [:]
    /// Every value a postBuild `substituteFrom` Secret gave (decoded, with and without its
    /// newlines), sorted: the tree's messages hold none of them (values of 4 characters or more
    /// are redacted from them, shorter ones are never quoted), and a run on GitHub masks them
    /// with `::add-mask::` before it prints anything of the tree.
    public var secretValues: [String] = []
    /// Fields of Flux objects (HelmReleases, sources) that a patch writes, not the object's own
    /// file, by dotted path (`spec.chart.spec.version`, `spec.url`), at the patch's line (PatchedFields).
    public var patchedFields: [ObjectReference: [String: SourceLocation]] = [:]
    /// Where `spec.suspend: true` is set for each suspended Flux object (its own line, or the
    /// patch that sets it).
    public var suspendLocations: [ObjectReference: SourceLocation] = [:]
    /// For each SOPS file a Kustomization decrypts with a Secret the repository applies: what
    /// opens it in the cluster ("in the cluster: flux-system/sops-custom opens it (age.agekey)"),
    /// or why that Secret could not be checked. The preflight's line says it instead of only the
    /// run's key, which kustomize-controller does not have (tester t14 F4).
    public var decryptionSecretOpeners: [String: String] = [:]

    /// The SOPS files of Kustomizations that decrypt: what the preflight must verify.
    public var decryptedSOPSFiles: [String] {
        Array(Set(kustomizations.filter(\.decrypts).flatMap { sopsFiles[$0.id] ?? [] })).sorted()
    }

    /// How the decrypting Kustomizations' decryptors read `file`, in a stable order; empty for
    /// a file only kustomize reads (a resource), which is decrypted as an object by its name.
    public func decryptorReads(of file: String) -> [SOPSDecryptorRead] {
        Set(kustomizations.filter(\.decrypts).flatMap { decryptorReads[$0.id]?[file] ?? [] })
            .sorted { ($0.declaredIn, $0.line ?? 0, $0.description) < ($1.declaredIn, $1.line ?? 0, $1.description) }
    }

    /// The names of the decryption Secrets the Kustomizations ask for.
    public var decryptionSecretNames: Set<String> { Set(kustomizations.compactMap(\.decryptionSecret)) }

    /// The SOPS files that only Kustomizations with `spec.decryption` but no `secretRef` decrypt,
    /// each with those Kustomizations. kustomize-controller builds their decryptor from the
    /// Secret alone (`decryptor.ImportKeys` reads keys only from `secretRef`), so it opens them
    /// only with credentials it runs with (cloud KMS, Vault): that the run's keys open them
    /// proves nothing about the cluster (tester t5 K).
    public var sopsFilesWithoutDecryptionSecret: [String: [FluxKustomization.Reference]] {
        var withSecret: Set<String> = []
        var without: [String: [FluxKustomization.Reference]] = [:]
        for kustomization in kustomizations where kustomization.decrypts {
            for file in sopsFiles[kustomization.id] ?? [] {
                if kustomization.decryptionSecret == nil { without[file, default: []].append(kustomization.id) } else { withSecret.insert(file) }
            }
        }
        return without.filter { !withSecret.contains($0.key) }
    }
}

public enum ClusterTreeReader {
    /// Decrypts a repository file with the run's keys: the file's plaintext (YAML for a YAML or
    /// JSON file). Used for SOPS-encrypted `substituteFrom` Secrets.
    public typealias Decrypt = @Sendable (_ file: String) throws -> String

    /// Reads the tree of `clusterPath` (e.g. `clusters/kind/local`, relative to the source's
    /// root). `decryptionSecrets` are the Secret names the pipeline creates (in the
    /// GitRepository's namespace): a Kustomization asking for another is a problem. `tools` runs
    /// the builds; `decrypt` is nil when no key was given. `keys` says which keys each of those
    /// Secrets holds and which a skipped key source would have made: the messages then name
    /// the cause (a skipped source, keys that are not the files' recipients). `schemas` checks the
    /// built-in kinds' schemas (nil: not checked).
    public static func read(
        _ source: TreeSource, clusterPath: String, decryptionSecrets: Set<String>, tools: KustomizeTool?, decrypt: Decrypt? = nil,
        keys: DecryptionKeys? = nil, schemas: KubernetesSchemaTool? = nil
    ) throws(Annotation) -> ClusterTree {
        let cluster = FluxKustomization.normalize(clusterPath)
        guard (try? source.kind(cluster)) == .directory else {
            throw .error(
                "The cluster path \(cluster.isEmpty ? "." : cluster) does not exist at \(source.revisionDescription).", title: "Cluster path not found",
                fix: "Check --cloud and --env (the layout is clusters/<cloud>/<env>) or --cluster-path, and that the branch holds that folder.")
        }
        guard let tools else {
            throw .error(
                "Building the Kustomizations needs kustomize or kubectl (kubectl kustomize), and neither is on PATH.", title: "kubectl not found",
                fix: "Install kubectl (scripts/setup does), or put kustomize on PATH.")
        }
        let fluxSystem = try findFluxSystem(source, cluster: cluster)
        let artifact: SourceArtifact
        do {
            artifact = try SourceArtifact(source)
        } catch {
            throw .error("Cannot write the source artifact of \(source.revisionDescription): \(error).", title: "Source artifact failed", fix: "Check the free space and permissions of TMPDIR.")
        }
        defer { artifact.remove() }
        var reader = Reader(artifact: artifact, tool: tools, decrypt: decrypt)
        reader.keys = keys
        reader.schemaTool = schemas
        defer { reader.finish() }
        return try reader.read(cluster: cluster, fluxSystem: fluxSystem, decryptionSecrets: decryptionSecrets)
    }

    /// `<cluster>/flux-system`, or nested (`<cluster>/flux/flux-system`).
    static func findFluxSystem(_ source: TreeSource, cluster: String) throws(Annotation) -> String {
        let direct = cluster.isEmpty ? "flux-system" : cluster + "/flux-system"
        if (try? source.kind(direct)) == .directory { return direct }
        let nested = ((try? source.list(cluster)) ?? []).compactMap { entry -> String? in
            let components = entry.path.split(separator: "/")
            guard let index = components.dropLast().firstIndex(of: "flux-system") else { return nil }
            return components[...index].joined(separator: "/")
        }
        if let found = Set(nested).sorted(by: { $0.count < $1.count || $0.count == $1.count && $0 < $1 }).first { return found }
        throw .error(
            "No flux-system folder under \(cluster.isEmpty ? "." : cluster) at \(source.revisionDescription).", title: "flux-system not found",
            fix: "flux bootstrap writes \(direct)/{gotk-components.yaml,gotk-sync.yaml,kustomization.yaml}; bootstrap the cluster once, or commit those files.",
            at: SourceLocation(file: cluster.isEmpty ? "." : cluster))
    }

    // MARK: Checks

    /// The Levenshtein distance of two names (insertions, deletions, substitutions).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() { current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))) }
            previous = current
        }
        return previous[b.count]
    }

    /// The Levenshtein-nearest of `candidates` to `name`, when it is close enough to be a typo.
    static func nearest(_ name: String, in candidates: [String]) -> String? {
        var best: (name: String, score: Int)?
        for candidate in candidates.sorted() {
            let score = distance(Array(name), Array(candidate))
            if best == nil || score < best!.score { best = (candidate, score) }
        }
        guard let best, best.score <= max(2, name.count / 3) else { return nil }
        return best.name
    }

    static func findCycle(_ kustomizations: [FluxKustomization]) -> [FluxKustomization.Reference]? {
        findCycle(kustomizations.map(\.id), edges: Dictionary(kustomizations.map { ($0.id, $0.dependsOn) }, uniquingKeysWith: { a, _ in a }))
    }

    /// The first cycle of `edges` (each node's dependencies) met from `nodes` in their order,
    /// as the nodes on it; edges to a node that is not a key are left out (reported elsewhere).
    static func findCycle<Node: Hashable>(_ nodes: [Node], edges: [Node: [Node]]) -> [Node]? {
        var state: [Node: Int] = [:]  // 1 visiting, 2 done
        var stack: [Node] = []
        func visit(_ node: Node) -> [Node]? {
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
        for node in nodes {
            if let cycle = visit(node) { return cycle }
        }
        return nil
    }

    /// Dependencies before dependents (stable; cycles keep their written order).
    static func dependencyOrder(_ kustomizations: [FluxKustomization]) -> [FluxKustomization] {
        var ordered: [FluxKustomization] = []
        var placed: Set<FluxKustomization.Reference> = []
        let known = Set(kustomizations.map(\.id))
        var remaining = kustomizations
        while !remaining.isEmpty {
            let ready = remaining.filter { $0.dependsOn.allSatisfy { placed.contains($0) || !known.contains($0) } }
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
