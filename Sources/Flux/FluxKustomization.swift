import Actions
import Kube

/// A Flux Kustomization (kustomize.toolkit.fluxcd.io v1beta1, v1beta2 or v1) as the build of its
/// parent gives it: every transformer and postBuild substitution applied, `file`/`line` at the
/// document that defines it in the repository.
public struct FluxKustomization: Sendable, Equatable {
    public struct Reference: Sendable, Hashable, CustomStringConvertible, Comparable {
        public var namespace: String
        public var name: String
        public init(namespace: String, name: String) {
            self.namespace = namespace
            self.name = name
        }
        public var description: String { "\(namespace)/\(name)" }
        public static func < (lhs: Reference, rhs: Reference) -> Bool { lhs.description < rhs.description }
    }

    /// A source (`spec.sourceRef`): `Kind/namespace/name`.
    public struct SourceReference: Sendable, Hashable, CustomStringConvertible {
        public var kind: String
        public var namespace: String
        public var name: String
        public var description: String { "\(kind)/\(namespace)/\(name)" }
    }

    public var id: Reference
    /// Relative to the source's root, normalised (`kubernetes/apps`); "" for the root folder.
    /// A `..` that climbs above the root stays at the root, as kustomize-controller's
    /// `securejoin.SecureJoin(artifactDir, spec.path)` keeps it (`./../../apps` builds `apps`).
    public var path: String
    /// Whether `spec.path` climbs above the source's root (and was held there).
    public var climbsAboveRoot: Bool
    /// As written (`./kubernetes/apps`), for messages.
    public var writtenPath: String
    /// `spec.dependsOn`; a missing namespace is the Kustomization's own (kustomize-controller).
    public var dependsOn: [Reference]
    /// `spec.decryption.secretRef.name`.
    public var decryptionSecret: String?
    /// Whether `spec.decryption` is set (provider sops), with or without a Secret.
    public var decrypts: Bool
    /// `spec.sourceRef`; its namespace defaults to the Kustomization's own.
    public var source: SourceReference
    public var suspended: Bool
    /// Whether it carries kustomize-controller's apply exclusion (`kustomize.toolkit.fluxcd.io/
    /// reconcile: disabled` or `kustomize.toolkit.fluxcd.io/ssa: ignore`, as a label or an
    /// annotation): its parent's apply skips it (fluxcd/pkg ssa `shouldSkipApply` on the desired
    /// object), so on a fresh cluster it is never created.
    public var applyDisabled: Bool
    /// Whether `metadata.namespace` was set (after the parent's transformers): kustomize-controller
    /// refuses a namespaced object without one ("namespace not specified").
    public var hasNamespace: Bool
    public var object: KubeObject

    public var sourceKind: String { source.kind }
    public var sourceName: String { source.name }

    public var location: SourceLocation? {
        object.file.map { SourceLocation(file: $0, line: object.line) }
    }

    /// The API group of the Kustomization kind; every version of it found in fleets is read.
    public static let group = "kustomize.toolkit.fluxcd.io"
    public static let apiVersions: Set<String> = ["\(group)/v1", "\(group)/v1beta2", "\(group)/v1beta1"]
    public static let sourceGroup = "source.toolkit.fluxcd.io"

    /// nil when the object is not a Flux Kustomization. `defaultNamespace` is used for an object
    /// without `metadata.namespace` (the flux-system manifests bootstrap applies).
    public init?(_ object: KubeObject, defaultNamespace: String = "flux-system") {
        guard object.kind == "Kustomization", Self.apiVersions.contains(object.apiVersion) else { return nil }
        let namespace = object.namespace ?? defaultNamespace
        hasNamespace = object.namespace != nil
        id = Reference(namespace: namespace, name: object.name)
        writtenPath = object.json["spec", "path"]?.string ?? "./"
        let normalized = FluxKustomization.normalize(writtenPath)
        climbsAboveRoot = normalized == ".." || normalized.hasPrefix("../")
        path = FluxKustomization.heldAtRoot(normalized)
        dependsOn = (object.json["spec", "dependsOn"]?.array ?? []).compactMap { item in
            item["name"]?.string.map { Reference(namespace: item["namespace"]?.string ?? namespace, name: $0) }
        }
        decryptionSecret = object.json["spec", "decryption", "secretRef", "name"]?.string
        decrypts = object.json["spec", "decryption"].map { $0 != .null } ?? false
        source = SourceReference(
            kind: object.json["spec", "sourceRef", "kind"]?.string ?? "GitRepository",
            namespace: object.json["spec", "sourceRef", "namespace"]?.string ?? namespace,
            name: object.json["spec", "sourceRef", "name"]?.string ?? "")
        suspended = object.json["spec", "suspend"]?.bool ?? false
        applyDisabled = ["annotations", "labels"].contains { place in
            [("kustomize.toolkit.fluxcd.io/reconcile", "disabled"), ("kustomize.toolkit.fluxcd.io/ssa", "ignore")].contains { key, value in
                object.json["metadata", place, key]?.string?.lowercased() == value
            }
        }
        self.object = object
    }

    /// A normalised path with the `..` that climb above the root dropped, as kustomize-controller's
    /// securejoin holds them there (`../../apps` → `apps`).
    static func heldAtRoot(_ normalized: String) -> String {
        normalized.split(separator: "/").drop { $0 == ".." }.joined(separator: "/")
    }

    /// `./a/b/` → `a/b`; a path leaving the repository keeps its `..` so it can be reported.
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    public static func == (lhs: FluxKustomization, rhs: FluxKustomization) -> Bool { lhs.id == rhs.id && lhs.object == rhs.object }
}
