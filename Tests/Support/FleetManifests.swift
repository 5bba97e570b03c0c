/// The Flux manifests test fleets are written with, once for every test target (the tree
/// reader's tests and the command tests): flux bootstrap's sync pair, a Flux Kustomization, a
/// ConfigMap.
public enum FleetManifests {
    /// gotk-sync.yaml as flux bootstrap writes it for the cluster `path`: the GitRepository
    /// flux-system and the Kustomization flux-system taking its source from `sourceKind`
    /// flux-system (another kind than GitRepository leaves the GitRepository without its pair).
    public static func sync(path: String = "./clusters/c", sourceKind: String = "GitRepository") -> String {
        """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 1m
          url: https://example.com/fleet.git
          ref: {branch: main}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 10m
          path: \(path)
          prune: true
          sourceRef: {kind: \(sourceKind), name: flux-system}

        """
    }

    /// flux-system's kustomization.yaml listing `resources`.
    public static func fluxSystemKustomization(_ resources: [String] = ["gotk-sync.yaml"]) -> String {
        "resources: [\(resources.joined(separator: ", "))]\n"
    }
}

/// A Flux controller's Deployment in flux-system (`name`, e.g. helm-controller) running with
/// `argument`: what ControllerFlags reads from the components.
public func controllerDeployment(_ name: String, argument: String) -> String {
    """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: \(name)
      namespace: flux-system
    spec:
      selector: {matchLabels: {app: \(name)}}
      template:
        metadata: {labels: {app: \(name)}}
        spec:
          containers:
            - name: manager
              image: ghcr.io/fluxcd/\(name):v1.3.0
              args: [\(argument)]

    """
}

/// A Flux Kustomization manifest (its `metadata.name` on line 4, `spec.sourceRef` on line 10
/// when it has a namespace).
public func kustomization(_ name: String, namespace: String? = "flux-system", path: String, extra: String = "") -> String {
    """
    apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata:
      name: \(name)
    \(namespace.map { "  namespace: \($0)" } ?? "")
    spec:
      interval: 10m
      path: \(path)
      prune: true
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
    \(extra)
    """
}

/// A ConfigMap manifest (`metadata.name` on line 4, `data` from line 7).
public func configMap(_ name: String, namespace: String? = nil, data: String = "a: b") -> String {
    """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: \(name)
    \(namespace.map { "  namespace: \($0)" } ?? "")
    data:
      \(data)
    """
}
