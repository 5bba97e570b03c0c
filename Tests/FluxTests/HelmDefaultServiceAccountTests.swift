import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t14 F18: with helm-controller's `--default-service-account` (the multi-tenancy
/// lockdown), a HelmRelease without serviceAccountName installs as that account of its
/// namespace; with no binding for it every Helm action is forbidden. As kustomize-controller's
/// flag already counted for Kustomizations. Without the flag, nothing is claimed.
@Suite struct HelmDefaultServiceAccountTests {

    @Test(arguments: [true, false]) func aReleaseWithoutAccountInstallsAsTheDefault(_ locked: Bool) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": FleetManifests.sync(),
            "clusters/c/flux-system/helm-controller.yaml": controllerDeployment("helm-controller", argument: locked ? "--default-service-account=default" : "--log-level=info"),
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(["gotk-sync.yaml", "helm-controller.yaml"]),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
            "apps/release.yaml": """
                apiVersion: source.toolkit.fluxcd.io/v1
                kind: HelmRepository
                metadata: {name: charts, namespace: web}
                spec: {url: "https://charts.example.invalid"}
                ---
                apiVersion: helm.toolkit.fluxcd.io/v2
                kind: HelmRelease
                metadata: {name: web, namespace: web}
                spec:
                  interval: 10m
                  chart:
                    spec:
                      chart: web
                      sourceRef: {kind: HelmRepository, name: charts}

                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("HelmRelease account has no permissions")
        #expect((problem != nil) == locked, "\(tree.problems)")
        if locked {
            #expect(problem?.message.contains("ServiceAccount web/default (helm-controller's --default-service-account") == true, "\(problem?.message ?? "")")
            #expect(problem?.message.contains("no object of this cluster defines") == false, "the API server makes the default account")
        }
    }
}
