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
    /// points at the default branch). `clusters/**/flux-system/` is ignored in the cluster, so the
    /// in-cluster sync does not undo the bootstrap.
    public init(tree: ClusterTree, url: String, revision: Revision, token: String?) {
        self.revision = revision
        repositoryURL = url
        components = tree.components
        var repository = tree.gitRepository
        var spec = repository.json["spec"] ?? .object([])
        spec.set("url", .string(url))
        spec.set("ref", .object([("branch", .string(revision.branch))]))
        let ignore = spec["ignore"]?.string.map { $0.hasSuffix("\n") ? $0 : $0 + "\n" } ?? ""
        if !ignore.contains("clusters/**/flux-system/") { spec.set("ignore", .string(ignore + "clusters/**/flux-system/\n")) }
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

    /// In order: components, then the credentials, the GitRepository and the root Kustomization.
    public var objects: [KubeObject] { components + [credentials, gitRepository, rootKustomization].compactMap { $0 } }
}
