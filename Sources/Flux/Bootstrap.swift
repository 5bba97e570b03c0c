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
    /// The flux-system build's other sources, then its other Kustomizations, as written: `flux
    /// bootstrap` applies the whole folder (tester t12 F13), so they exist before the root
    /// Kustomization runs (a GitRepository another one `spec.include`s, for one).
    public var otherSync: [KubeObject]

    /// The source Flux must fetch: what this run tests, not what `gotk-sync.yaml` says (that
    /// points at the default branch). The repository's own `spec.ignore` is kept, so the cluster
    /// builds exactly what the plan built. The root Kustomization applies the flux-system folder,
    /// gotk-sync.yaml included: the GitRepository and root Kustomization fluxci applies carry
    /// `kustomize.toolkit.fluxcd.io/reconcile: disabled`, which kustomize-controller reads on
    /// the in-cluster object (fluxcd/pkg ssa `shouldSkipApply`: an object whose in-cluster
    /// metadata matches the exclusion selector is skipped), so the sync never re-applies the
    /// repository's own branch and URL over the branch under test.
    public init(tree: ClusterTree, url: String, revision: Revision, token: String?) {
        self.revision = revision
        repositoryURL = url
        components = tree.components
        var repository = Self.disablingReconcile(tree.gitRepository)
        var spec = repository.json["spec"] ?? .object([])
        spec.set("url", .string(url))
        spec.set("ref", .object([("branch", .string(revision.branch))]))
        let secretName = spec["secretRef", "name"]?.string ?? "flux-system"
        if token == nil { spec.remove("secretRef") } else { spec.set("secretRef", .object([("name", .string(secretName))])) }
        repository.json.set("spec", spec)
        gitRepository = repository
        rootKustomization = Self.disablingReconcile(tree.rootKustomization.object)
        otherSync = tree.bootstrapSync.filter { FluxKustomization($0) == nil } + tree.bootstrapSync.filter { FluxKustomization($0) != nil }
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

    /// kustomize-controller's annotation that makes it skip an object in the cluster.
    public static let reconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"

    /// The object with `kustomize.toolkit.fluxcd.io/reconcile: disabled` added to its annotations.
    static func disablingReconcile(_ object: KubeObject) -> KubeObject {
        var object = object
        var metadata = object.json["metadata"]?.object ?? []
        var annotations = object.json["metadata", "annotations"]?.object ?? []
        annotations.removeAll { $0.key == reconcileAnnotation }
        annotations.append((reconcileAnnotation, .string("disabled")))
        if let index = metadata.firstIndex(where: { $0.key == "annotations" }) {
            metadata[index] = ("annotations", .object(annotations))
        } else {
            metadata.append(("annotations", .object(annotations)))
        }
        object.json.set("metadata", .object(metadata))
        return object
    }

    /// In order: components, then the credentials, the GitRepository, the flux-system build's
    /// other sources and Kustomizations, and the root Kustomization.
    public var objects: [KubeObject] { components + [credentials, gitRepository].compactMap { $0 } + otherSync + [rootKustomization] }
}
