import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Tester t19 F1: the built-in kinds are checked against the Kubernetes schema with the real
/// kubernetes-validate `--strict`, as kustomize-controller's server-side dry-run refuses what
/// their types do not declare or type: a misspelled container field, a metadata typo on a
/// Namespace, `replicas: two`, each at its line (a patch's line when a patch writes it). Valid
/// neighbours (int-or-string ports, quantities as numbers, `creationTimestamp: null`), Secrets
/// (never handed to another process) and custom resources are not judged by it.
@Suite struct KubernetesSchemaTests {
    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: default}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata:
              labels: {app: web}
              creationTimestamp: null
            spec:
              containers:
                - name: web
                  image: nginx
                  imagePullPolcy: Always
                  resurces: {}
                  ports: [{containerPort: 8080, name: http}]
                  resources: {limits: {cpu: 1, memory: 1Gi}}
                  readinessProbe: {httpGet: {port: http, path: /}}

        """

    @Test func undeclaredFieldsAndWrongTypesAreRejectedAtTheirLines() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/base/kustomization.yaml": "resources: [deployment.yaml, namespace.yaml, secret.yaml, service.yaml]\n",
            "apps/base/deployment.yaml": Self.deployment,
            "apps/base/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n  labelz: {a: b}\n",
            "apps/base/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData:\n  token: abc\nunknownField: 1\n",
            "apps/base/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n  ports: [{port: 80, targetPort: http}]\n  selector: {app: web}\n",
            "apps/overlay/kustomization.yaml": """
                resources: [../base]
                patches:
                  - target: {kind: Service, name: web}
                    patch: |-
                      - op: add
                        path: /spec/sessionAffinity
                        value: 5

                """,
        ])
        defer { fleet.remove() }
        let rejected = try fleet.read(schemas: true).problems.filter { $0.title == "Rejected by the Kubernetes schema" }
        #expect(Set(rejected.compactMap(\.location)) == [
            SourceLocation(file: "apps/base/deployment.yaml", line: 15),  // imagePullPolcy
            SourceLocation(file: "apps/base/deployment.yaml", line: 16),  // resurces: every error of the object (t20 F6)
            SourceLocation(file: "apps/base/namespace.yaml", line: 5),  // labelz
            SourceLocation(file: "apps/overlay/kustomization.yaml", line: 7),  // the patch's value
        ], "\(rejected)")
        #expect(rejected.allSatisfy { $0.level == .error && $0.message.contains("which the Kustomization flux-system/apps applies") }, "\(rejected)")
        let typo = try #require(rejected.first { $0.message.contains("Deployment/default/web") && $0.location?.line == 15 })
        #expect(typo.message.contains("spec.template.spec.containers[0].imagePullPolcy: field not declared in schema"), "\(typo.message)")
        let patched = try #require(rejected.first { $0.message.contains("Service/default/web") })
        #expect(patched.message.contains("spec.sessionAffinity") && patched.message.contains("is not of type"), "\(patched.message)")
        // The Secret is not handed to the tool: its unknown field is not reported by it.
        #expect(!rejected.contains { $0.message.contains("Secret/") }, "\(rejected)")

        // Without the tool nothing of it is said (the pipeline says the schemas were not checked).
        #expect(try fleet.read().problems.filter { $0.title == "Rejected by the Kubernetes schema" }.isEmpty)
    }

    @Test func theToolsLinesAreRead() throws {
        let line = "ERROR /tmp/x/3.json did not validate for resource deployment/web against version 1.37: spec.template.spec.containers.0: Additional properties are not allowed ('imagePullPolcy' was unexpected)"
        let parsed = try #require(KubernetesSchemaTool.parse(Substring(line)))
        #expect(parsed.file == "/tmp/x/3.json" && parsed.rejection.version == "1.37")
        #expect(Origins.dotted(parsed.rejection.field) == "spec.template.spec.containers[0].imagePullPolcy" && parsed.rejection.message == "field not declared in schema")
        let root = try #require(KubernetesSchemaTool.parse("ERROR /t/0.json did not validate for resource namespace/x against version 1.37: : Additional properties are not allowed ('spec2' was unexpected)"))
        #expect(Origins.dotted(root.rejection.field) == "spec2")
        #expect(KubernetesSchemaTool.parse("WARN /t/0.json Couldn't find schema for kind Widget") == nil)
    }

    /// Tester t20 F5: the schema is that of the Kubernetes the run creates (`--node-image`): a
    /// Service's `trafficDistribution` (1.30) is refused by a 1.29 API server, accepted by 1.37's.
    @Test func theVersionIsTheNodeImages() throws {
        #expect(KubernetesSchemaTool.version(ofNodeImage: "kindest/node:v1.29.2@sha256:0123abcd") == "1.29.2")
        #expect(KubernetesSchemaTool.version(ofNodeImage: "registry.local:5000/kindest/node:v1.31.0") == "1.31.0")
        #expect(KubernetesSchemaTool.version(ofNodeImage: "kindest/node:latest") == nil)
        var tool = try #require(KubernetesSchemaTool(path: ProcessInfo.processInfo.environment["PATH"]), "kubernetes-validate is not on PATH (scripts/test-tools installs it)")
        let service = KubeObject(try JSONValue.parse(Data(#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"ports":[{"port":80}],"trafficDistribution":"PreferClose"}}"#.utf8)))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        tool.version = "1.29.2"
        let old = try tool.rejections([service], scratch: scratch).get()
        #expect(old[0]?.map { Origins.dotted($0.field) } == ["spec.trafficDistribution"] && old[0]?.first?.version == "1.29", "\(old)")
        tool.version = nil
        #expect(try tool.rejections([service], scratch: scratch).get().isEmpty)
    }

    /// Tester t20 F7: kubernetes-validate joins a path with `.`, so a key holding a dot arrives
    /// split; it is read back as the object's key, and the value a component's patch writes is
    /// annotated at that patch.
    @Test func aKeyWithADotIsTheObjectsKeyAndAComponentsPatchIsThePlace() async throws {
        #expect(KubernetesSchemaTool.resolved(
            [.key("spec"), .key("template"), .key("metadata"), .key("annotations"), .key("prometheus"), .key("io/port")],
            in: try JSONValue.parse(Data(#"{"spec":{"template":{"metadata":{"annotations":{"prometheus.io/port":1}}}}}"#.utf8))
        ).map { Origins.dotted([$0]) } == ["spec", "template", "metadata", "annotations", "prometheus.io/port"])
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/base/kustomization.yaml": "resources: [deployment.yaml]\n",
            "apps/base/deployment.yaml": Self.deployment.replacingOccurrences(of: "imagePullPolcy: Always", with: "imagePullPolicy: Always")
                .replacingOccurrences(of: "resurces: {}", with: ""),
            "apps/overlay/kustomization.yaml": "resources: [../base]\ncomponents: [../../components/monitoring]\n",
            "components/monitoring/kustomization.yaml": """
                apiVersion: kustomize.config.k8s.io/v1alpha1
                kind: Component
                patches:
                  - target: {kind: Deployment}
                    patch: |-
                      - op: add
                        path: /spec/template/metadata/annotations
                        value:
                          prometheus.io/port: 9898

                """,
        ])
        defer { fleet.remove() }
        let all = try fleet.read(schemas: true).problems
        let rejected = all.filter { $0.title == "Rejected by the Kubernetes schema" }
        #expect(rejected.map(\.location) == [SourceLocation(file: "components/monitoring/kustomization.yaml", line: 9)], "\(all)")
        #expect(rejected.first?.message.contains("spec.template.metadata.annotations.prometheus.io/port") == true, "\(rejected)")
    }
}
