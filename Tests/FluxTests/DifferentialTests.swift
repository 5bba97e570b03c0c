import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// The objects fluxci builds for each Kustomization equal what `kubectl kustomize
/// --load-restrictor LoadRestrictionsNone` prints for the same path of a checkout of the same
/// commit (objects compared parsed, the origin annotation fluxci asks for taken off again).
@Suite struct DifferentialTests {
    @Test func objectsEqualKubectlKustomizeOnACheckout() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": [
                kustomization("overlay", path: "./kubernetes/overlays/prod"),
                kustomization("base", path: "./kubernetes/base/app"),
                kustomization("generators", path: "./kubernetes/generators"),
                kustomization("anchors", path: "./kubernetes/anchors"),
            ].joined(separator: "\n---\n"),
            "kubernetes/base/app/kustomization.yaml": "resources:\n  - deployment.yaml\n  - extra.yaml\ncommonLabels: {app: web}\nnamespace: default\n",
            "kubernetes/base/app/deployment.yaml": """
                # a comment
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web
                  annotations: {}
                spec:
                  replicas: 1
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      containers:
                        - name: web
                          image: nginx:1.0
                          args: ["--port", "0080", yes, 1e3, "on"]
                """,
            "kubernetes/base/app/extra.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: multi}\ndata: {a: '1', b: \"two\\nlines\"}\n",
            "kubernetes/overlays/prod/kustomization.yaml": """
                namespace: prod
                namePrefix: prod-
                resources: [../../base/app]
                patches:
                  - path: ../../patches/replicas.yaml
                  - target: {kind: Service}
                    patch: |-
                      - op: replace
                        path: /spec/ports/0/port
                        value: 8080
                images: [{name: nginx, newTag: "1.25"}]
                """,
            "kubernetes/patches/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
            "kubernetes/generators/kustomization.yaml": """
                namespace: gen
                configMapGenerator:
                  - name: settings
                    literals: [A=1]
                    envs: [settings.env]
                secretGenerator:
                  - name: creds
                    files: [token=token.txt]
                generatorOptions: {labels: {generated: "yes"}}
                """,
            "kubernetes/generators/settings.env": "B=2\n",
            "kubernetes/generators/token.txt": "abc",
            "kubernetes/anchors/kustomization.yaml": "resources: [release.yaml]\n",
            "clusters/c/apps-namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: gen}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n",  // a fresh cluster has none of them
            "kubernetes/anchors/release.yaml": """
                apiVersion: helm.toolkit.fluxcd.io/v2
                kind: HelmRelease
                metadata: {name: app, namespace: apps}
                spec:
                  values:
                    defaults: &defaults {cpu: 100m, memory: 128Mi}
                    web: *defaults
                    worker:
                      <<: *defaults
                      memory: 256Mi
                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        let checkout = try TestPaths.temporaryDirectory("fluxci-checkout")
        defer { try? FileManager.default.removeItem(at: checkout) }
        try await git(["clone", "--quiet", fleet.directory.path, checkout.appendingPathComponent("repo").path])
        var compared = 0
        for name in ["overlay", "base", "generators", "anchors"] {
            let id = FluxKustomization.Reference(namespace: "flux-system", name: name)
            let path = try #require(tree.kustomization(id.description)?.path)
            let result = try await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", checkout.appendingPathComponent("repo/\(path)").path])
            #expect(result.status == 0, "\(result.standardError)")
            let expected = try Manifest.objects(result.standardOutput).map(\.json)
            let built = (tree.objects[id] ?? []).map(\.json)
            func key(_ object: JSONValue) -> String { "\(object["kind"]?.string ?? "")/\(object["metadata", "namespace"]?.string ?? "")/\(object["metadata", "name"]?.string ?? "")" }
            #expect(built.count == expected.count, "\(name)")
            for object in expected {
                let mine = built.first { key($0) == key(object) }
                #expect(mine == object, "\(name): \(key(object))\nfluxci: \(mine?.jsonText ?? "missing")\nkubectl: \(object.jsonText)")
                compared += 1
            }
        }
        #expect(compared >= 9)
    }
}
