import Actions
import Kube

/// A Flux Kustomization (kustomize.toolkit.fluxcd.io v1 or v1beta2) as the repository defines it.
public struct FluxKustomization: Sendable, Equatable {
    public struct Reference: Sendable, Hashable, CustomStringConvertible {
        public var namespace: String
        public var name: String
        public var description: String { "\(namespace)/\(name)" }
    }

    public var id: Reference
    /// Repository-relative, normalised (`kubernetes/apps`); "" for the root.
    public var path: String
    /// As written (`./kubernetes/apps`), for messages.
    public var writtenPath: String
    public var dependsOn: [Reference]
    public var decryptionSecret: String?
    public var sourceKind: String
    public var sourceName: String
    public var object: KubeObject

    public var location: SourceLocation? {
        object.file.map { SourceLocation(file: $0, line: object.line) }
    }

    public static let apiVersions: Set<String> = ["kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io/v1beta2"]

    init?(_ object: KubeObject) {
        guard object.kind == "Kustomization", Self.apiVersions.contains(object.apiVersion) else { return nil }
        let namespace = object.namespace ?? "flux-system"
        id = Reference(namespace: namespace, name: object.name)
        writtenPath = object.json["spec", "path"]?.string ?? "./"
        path = FluxKustomization.normalize(writtenPath)
        dependsOn = (object.json["spec", "dependsOn"]?.array ?? []).compactMap { item in
            item["name"]?.string.map { Reference(namespace: item["namespace"]?.string ?? namespace, name: $0) }
        }
        decryptionSecret = object.json["spec", "decryption", "secretRef", "name"]?.string
        sourceKind = object.json["spec", "sourceRef", "kind"]?.string ?? "GitRepository"
        sourceName = object.json["spec", "sourceRef", "name"]?.string ?? ""
        self.object = object
    }

    /// `./a/b/` → `a/b`; a path leaving the repository keeps its `..` so it can be reported.
    static func normalize(_ path: String) -> String {
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
