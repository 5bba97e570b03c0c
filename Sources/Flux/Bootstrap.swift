import Foundation
import Kube

/// What a bootstrap applies, from the cluster's tree at the branch: the Flux components, the
/// GitRepository pointed at the branch under test, and the root Kustomization.
public struct BootstrapPlan: Sendable {
    public var revision: Revision
    public var repositoryURL: String
    public var components: [KubeObject]
    public var gitRepository: KubeObject
    public var rootKustomization: KubeObject
    /// A Secret with git credentials, when the repository is private.
    public var credentials: KubeObject?

    /// The source Flux must fetch: what this run tests, not what `gotk-sync.yaml` says (that
    /// points at the default branch). The flux-system folder found is ignored in the cluster, so
    /// the in-cluster sync does not re-apply the repository's own gotk-sync.yaml.
    public init(tree: ClusterTree, url: String, revision: Revision, token: String?) {
        self.revision = revision
        repositoryURL = url
        components = tree.components
        var repository = tree.gitRepository
        var spec = repository.json["spec"] ?? .object([])
        spec.set("url", .string(url))
        spec.set("ref", .object([("branch", .string(revision.branch))]))
        spec.set("ignore", .string(Self.ignore(spec["ignore"]?.string, fluxSystemPath: tree.fluxSystemPath)))
        let secretName = spec["secretRef", "name"]?.string ?? "flux-system"
        if token == nil { spec.remove("secretRef") } else { spec.set("secretRef", .object([("name", .string(secretName))])) }
        repository.json.set("spec", spec)
        gitRepository = repository
        rootKustomization = tree.rootKustomization.object
        credentials = token.map { token in
            KubeObject(.object([
                ("apiVersion", .string("v1")), ("kind", .string("Secret")),
                ("metadata", .object([("name", .string(secretName)), ("namespace", .string(repository.namespace ?? "flux-system"))])),
                ("type", .string("Opaque")),
                ("data", .object([
                    ("username", .string(Data("x-access-token".utf8).base64EncodedString())), ("password", .string(Data(token.utf8).base64EncodedString())),
                ])),
            ]))
        }
    }

    /// The GitRepository's `spec.ignore` with the flux-system folder added, anchored at the
    /// root (`/clusters/kind/local/flux-system/`, a gitignore line as source-controller reads it).
    public static func ignore(_ existing: String?, fluxSystemPath: String) -> String {
        let line = "/\(fluxSystemPath)/"
        let ignore = existing.map { $0.isEmpty || $0.hasSuffix("\n") ? $0 : $0 + "\n" } ?? ""
        if ignore.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == line }) { return ignore }
        return ignore + line + "\n"
    }

    /// In order: components, then the credentials, the GitRepository and the root Kustomization.
    public var objects: [KubeObject] { components + [credentials, gitRepository, rootKustomization].compactMap { $0 } }
}
