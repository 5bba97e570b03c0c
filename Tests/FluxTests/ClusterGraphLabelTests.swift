import Testing

@testable import Flux

/// Tester t16 F9: a folded node's label names its kind in the plural as English writes it.
@Suite struct ClusterGraphLabelTests {
    @Test(arguments: [
        ("GitRepository", "GitRepositories"), ("HelmRepository", "HelmRepositories"), ("HelmRelease", "HelmReleases"),
        ("Kustomization", "Kustomizations"), ("Ingress", "Ingresses"), ("Gateway", "Gateways"), ("Bucket", "Buckets"),
    ])
    func kindsInThePlural(kind: String, plural: String) {
        #expect(ClusterGraph.plural(kind) == plural)
    }
}
