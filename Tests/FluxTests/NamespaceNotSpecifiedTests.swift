import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t5 C: a namespaced object the build leaves without a namespace fails the Kustomization
/// ("ConfigMap/x namespace not specified"); a cluster-scoped one, one a CRD of the tree makes
/// cluster-scoped, and one whose namespace the kustomization.yaml sets are quiet.
@Suite struct NamespaceNotSpecifiedTests {
    static let clusterCRD = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.example.com
        spec:
          group: example.com
          scope: Cluster
          names: {kind: Widget, plural: widgets}
          versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]

        """

    @Test func aNamespacedObjectWithoutANamespaceIsReportedAtItsName() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/settings.yaml": configMap("settings"),
            "apps/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  ports: [{port: 80}]\n",
            "apps/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n",
            "apps/crd.yaml": Self.clusterCRD,
            "apps/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
            "apps/issuer.yaml": "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: letsencrypt\n",
            // A kind only a chart defines (no CRD in the tree): its scope is unknown (t12 F17).
            "apps/local-issuer.yaml": "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: local\n---\napiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: other\n",
            "apps/gatewayclass.yaml": "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: cilium\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problems = tree.problems.filter { $0.title == "Namespace not specified" }
        #expect(problems.count == 1)
        // One warning for the Issuers, none for ClusterIssuer (its name) or GatewayClass (known).
        let maybe = tree.problems.filter { $0.title == "Namespace maybe needed" }
        #expect(maybe.count == 1 && maybe.first?.level == .warning && maybe.first?.location == SourceLocation(file: "apps/local-issuer.yaml", line: 4), "\(maybe)")
        let problem = try #require(problems.first)
        #expect(problem.level == .error)
        #expect(problem.message.contains("\"ConfigMap/settings namespace not specified\""))
        #expect(problem.location == SourceLocation(file: "apps/settings.yaml", line: 4))

        let namespaced = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/kustomization.yaml": "namespace: default\nresources: [settings.yaml]\n",
            "apps/settings.yaml": configMap("settings"),
        ])
        defer { namespaced.remove() }
        #expect(try namespaced.read().problem("Namespace not specified") == nil)
    }
}
