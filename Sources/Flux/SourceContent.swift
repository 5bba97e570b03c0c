import Actions
import Kube

/// What a GitRepository's artifact holds beyond the commit's own files, as source-controller
/// makes it (fluxcd/source-controller `internal/controller/gitrepository_controller.go`):
/// the content of submodules when `spec.recurseSubmodules` is true (cloned with the
/// repository), and each `spec.include` — the artifact of another GitRepository of the same
/// namespace, its `fromPath` copied to `toPath` (default: the included repository's name).
/// fluxci reads neither, so a Kustomization whose path lies there is listed as not built, not
/// reported as a missing path.
struct SourceContent {
    struct Include {
        var name: String
        var toPath: String
        var position: Int
    }

    var recurseSubmodules: Bool
    var submodules: Set<String>
    var includes: [Include]

    init(repository: KubeObject?, artifact: SourceArtifact?) {
        recurseSubmodules = repository?.json["spec", "recurseSubmodules"]?.bool ?? false
        submodules = artifact?.submodules ?? []
        includes = (repository?.json["spec", "include"]?.array ?? []).enumerated().compactMap { position, entry in
            guard let name = entry["repository", "name"]?.string else { return nil }
            let toPath = FluxKustomization.normalize(entry["toPath"]?.string ?? name)
            return Include(name: name, toPath: toPath, position: position)
        }
    }

    static func contains(_ folder: String, _ path: String) -> Bool {
        folder.isEmpty || path == folder || path.hasPrefix(folder + "/")
    }

    /// Why `path` (normalised, relative to the root) is not in the files fluxci read, when
    /// source-controller would put content there; nil otherwise.
    func problem(for kustomization: FluxKustomization, at location: SourceLocation?) -> (Annotation, reason: String)? {
        let path = kustomization.path
        let id = kustomization.id
        if let include = includes.last(where: { Self.contains($0.toPath, path) }) {
            return (.warning(
                "The Kustomization \(id) has spec.path \(kustomization.writtenPath), which lies in \(include.toPath), where source-controller copies the artifact of the included GitRepository \(include.name) (spec.include): fluxci does not fetch included repositories, so \(id) is not built or checked here.",
                title: "Path in an included repository", fix: "Test the included repository's manifests in its own fleet, or vendor them into this repository.", at: location),
                "in the include \(include.name)")
        }
        guard let submodule = submodules.sorted().first(where: { Self.contains($0, path) }) else { return nil }
        if recurseSubmodules {
            return (.warning(
                "The Kustomization \(id) has spec.path \(kustomization.writtenPath), which lies in the submodule \(submodule): source-controller clones it into the artifact (spec.recurseSubmodules: true), but fluxci does not fetch submodules, so \(id) is not built or checked here.",
                title: "Path in a submodule", fix: "Vendor the submodule's manifests into the repository to have them checked, or accept that this Kustomization is not.", at: location),
                "in the submodule \(submodule)")
        }
        return (.error(
            "The Kustomization \(id) has spec.path \(kustomization.writtenPath), which lies in the git submodule \(submodule): source-controller leaves submodules out of the artifact unless the GitRepository sets spec.recurseSubmodules: true, so kustomize-controller fails with \"kustomization path not found\".",
            title: "Kustomization path not found", fix: "Set `recurseSubmodules: true` on the cluster's GitRepository (gotk-sync.yaml), or vendor the manifests into the repository.", at: location),
            "in the submodule \(submodule), not fetched")
    }

    /// source-controller resolves each include in the including GitRepository's namespace and
    /// waits for its artifact ("could not get resource for include", "no artifact available
    /// for include"): until then it stores no artifact, so nothing of the cluster reconciles.
    /// Bootstrap (flux's, and fluxci's run) applies the flux-system build (`bootstrapped`: its
    /// sources and Kustomizations beside the sync pair), so an included GitRepository written
    /// there exists from the start (tester t12 F13). One written elsewhere is either undefined
    /// or applied by a Kustomization, which itself waits for this artifact (a deadlock on a fresh
    /// cluster): an error either way.
    func includeProblems(repository: KubeObject, applied: AppliedObjects, bootstrapped: [KubeObject], at locate: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        let namespace = repository.namespace ?? "flux-system"
        let shown = "GitRepository \(namespace)/\(repository.name)"
        var problems: [Annotation] = []
        for include in includes {
            let at = locate(["spec", "include", .index(include.position), "repository", "name"])
            let isSource = { (object: KubeObject) in object.kind == "GitRepository" && object.apiVersion.hasPrefix(FluxKustomization.sourceGroup + "/") }
            if bootstrapped.contains(where: { isSource($0) && $0.name == include.name && ($0.namespace ?? "flux-system") == namespace }) { continue }
            let inTree = applied.find("GitRepository", group: FluxKustomization.sourceGroup, namespace: namespace, name: include.name)
            if let first = inTree.first {
                problems.append(.error(
                    "The \(shown) includes the GitRepository \(include.name), which the Kustomization \(first.owner) applies: that Kustomization needs this repository's artifact, and source-controller stores none until the include has one, so on a fresh cluster neither ever comes (nothing of the cluster reconciles).",
                    title: "Include deadlock", fix: "Write the GitRepository \(include.name) in the flux-system folder (flux bootstrap and fluxci apply that folder's build first), or drop the include and give the shared manifests a GitRepository and Kustomization of their own.", at: at))
            } else {
                let names = applied.all("GitRepository").map(\.object).filter(isSource).map(\.name)
                let hint = ClusterTreeReader.nearest(include.name, in: names).map { " Did you mean \($0)?" } ?? ""
                problems.append(.error(
                    "The \(shown) includes the GitRepository \(namespace)/\(include.name), which nothing of this cluster defines: source-controller waits (\"could not get resource for include '\(include.name)'\") and stores no artifact, so nothing of the cluster reconciles.\(hint)",
                    title: "Unknown include", fix: "Correct the name, or drop the include (an included GitRepository must exist before this one can have an artifact).", at: at))
            }
        }
        return problems
    }
}
