import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Objects checked against the CRDs the fleet installs, as the API server checks them on
/// kustomize-controller's dry-run (tester t3 F4): Flux's CRDs from a real gotk-components.yaml
/// (v2.6.4) and a CRD of the fleet's own, on fleets built with the real `kubectl kustomize`.
@Suite struct SchemaChecksTests {
    static func fleet(_ files: [String: String]) async throws -> Fleet {
        let components = try String(contentsOf: try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        var all = files
        all["clusters/c/flux-system/gotk-components.yaml"] = components
        all["clusters/c/flux-system/gotk-sync.yaml"] = FleetManifests.sync()
        all["clusters/c/flux-system/kustomization.yaml"] = FleetManifests.fluxSystemKustomization(["gotk-components.yaml", "gotk-sync.yaml"])
        return try await Fleet.make(all)
    }

    /// A numeric `newTag` fails the parent's dry-run (the Kustomization CRD types it string): an
    /// error at the field's line, the child is not built (its kustomize error is not reported);
    /// the quoted neighbour builds.
    @Test func aNumericNewTagIsRejectedInTheParent() async throws {
        let fleet = try await Self.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  images:\n    - name: nginx\n      newTag: 1.27\n"),
            "clusters/c/quoted.yaml": kustomization("quoted", path: "./apps", extra: "  images:\n    - name: nginx\n      newTag: \"1.27\"\n"),
            "apps/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let rejected = tree.problems.filter { $0.title == "Rejected by the CRD schema" }
        #expect(rejected.count == 1, "\(rejected)")
        let problem = try #require(rejected.first)
        #expect(problem.level == .error && problem.location == SourceLocation(file: "clusters/c/apps.yaml", line: 16), "\(problem)")
        #expect(problem.message.contains("which the Kustomization flux-system/flux-system applies"), "\(problem.message)")
        #expect(problem.message.contains("spec.images[0].newTag in body must be of type string"), "\(problem.message)")
        #expect(problem.fix?.contains("`newTag: \"1.27\"`") == true, "\(problem.fix ?? "")")
        #expect(!tree.problems.contains { $0.title == "Kustomize build failed" }, "\(tree.problems)")
        #expect(tree.kustomization("flux-system/apps") == nil)
        #expect(tree.kustomization("flux-system/quoted") != nil)
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    /// A CRD of the fleet's own: a string where it types an integer, and a value outside its
    /// enum, are errors at their lines in the object's file; valid neighbours pass.
    /// The HelmRelease default/web of chart web from HelmRepository default/charts (`repository`),
    /// with `extra` (lines of its spec) after its interval.
    static func release(_ extra: String) -> String {
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: default\nspec:\n  interval: 10m\n"
            + extra + "  chart:\n    spec:\n      chart: web\n      sourceRef: {kind: HelmRepository, name: charts}\n"
    }

    /// A namespaced CRD of example.com serving v1, the schema of its objects' `spec` given as
    /// YAML lines (`type: object`, `properties:` …).
    static func crd(_ kind: String, spec: [String]) -> String {
        let plural = kind.lowercased() + "s"
        return """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: \(plural).example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {kind: \(kind), plural: \(plural)}
              versions:
                - name: v1
                  served: true
                  storage: true
                  schema:
                    openAPIV3Schema:
                      type: object
                      properties:
                        spec:

            """ + spec.map { String(repeating: " ", count: 14) + $0 + "\n" }.joined()
    }

    static let repository = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: default\nspec:\n  url: https://charts.example.invalid\n"

    /// Tester t12 F14: server-side apply refuses a field the CRD does not declare ("field not
    /// declared in schema"): a `dependOn` typo in a Flux Kustomization, a v2beta1-only field in a
    /// v2 HelmRelease. An error at the field, naming the declared field it is nearest to; free-form
    /// fields (a HelmRelease's `values`, preserve-unknown-fields) take anything.
    @Test func aFieldTheCRDDoesNotDeclareIsRejected() async throws {
        let release = Self.release("  forceUpgrade: true\n") + "  values:\n    anything: {goes: [here]}\n"
        let fleet = try await Self.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependOn:\n    - name: infra\n"),
            "clusters/c/releases.yaml": kustomization("releases", path: "./releases"),
            "apps/cm.yaml": configMap("app", namespace: "default"),
            "releases/release.yaml": release,
            "releases/repository.yaml": Self.repository,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let rejected = tree.problems.filter { $0.title == "Rejected by the CRD schema" }
        #expect(rejected.count == 2, "\(rejected)")
        let typo = try #require(rejected.first { $0.message.contains("Kustomization/flux-system/apps") })
        #expect(typo.location == SourceLocation(file: "clusters/c/apps.yaml", line: 14) && typo.message.contains("spec.dependOn: field not declared in schema"), "\(typo)")
        #expect(typo.fix?.contains("(did you mean dependsOn?)") == true, "\(typo.fix ?? "")")
        let old = try #require(rejected.first { $0.message.contains("HelmRelease/default/web") })
        #expect(old.location == SourceLocation(file: "releases/release.yaml", line: 8) && old.message.contains("spec.forceUpgrade: field not declared in schema"), "\(old)")
        #expect(!old.message.contains("values"), "values take anything: \(old.message)")
    }

    /// Tester t14 F11, F22: what the API server never sees is not rejected. A null in a field
    /// that is not nullable is pruned before validation (`timeout: ~`, `dependsOn: null`); a
    /// SOPS-encrypted value (ENC[…] in a bool field, encrypted labels, each its own ciphertext)
    /// is decrypted by Flux before the apply.
    @Test func nullsAndCiphertextAreNotRejected() async throws {
        let age = try await AgeKeyPair.generate()
        let release = try await NoDecryptionTests.sops("release.yaml", Self.release("  suspend: false\n"), for: age, regex: "^suspend$")
        let deployment = try await NoDecryptionTests.sops("deployment.yaml", """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              namespace: default
            spec:
              selector:
                matchLabels: {app: web}
              template:
                metadata:
                  labels: {app: web}
                spec:
                  containers: [{name: web, image: nginx}]

            """, for: age, regex: "^(matchLabels|labels)$")
        let decryption = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
        let fleet = try await Self.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  timeout: ~\n  dependsOn: null\n" + decryption),
            "apps/release.sops.yaml": release,
            "apps/deployment.sops.yaml": deployment,
            "apps/repository.yaml": Self.repository,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(!tree.problems.contains { $0.title == "Rejected by the CRD schema" || $0.title == "Selector does not match template labels" }, "\(tree.problems)")
        #expect(tree.kustomization("flux-system/apps") != nil)
    }

    /// Tester t14 F12, t18 F4: the CRDs' CEL rules (`x-kubernetes-validations`) refuse what the
    /// API server refuses: a HelmRelease with both `chart` and `chartRef` or neither (Flux's rule
    /// "either chart or chartRef must be set"), a Gadget whose min exceeds its max or whose tags
    /// break a macro rule (`all`); each at the line of the node the rule is on. The valid
    /// neighbours are quiet; a rule fluxci cannot evaluate (a Kubernetes library function) is a
    /// notice once, naming the objects it applies to; a transition rule (not run on create) is not.
    @Test func theCRDsCELRulesRefuseWhatTheAPIServerRefuses() async throws {
        let both = Self.release("").replacingOccurrences(of: "name: web\n", with: "name: both\n") + "  chartRef: {kind: OCIRepository, name: web}\n"
        let neither = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: neither\n  namespace: default\nspec:\n  interval: 10m\n"
        let crd = Self.crd("Gadget", spec: ["type: object", "x-kubernetes-validations:", "  - {rule: self.min <= self.max, message: min must not exceed max}", "  - {rule: \"self.tags.all(t, size(t) < 5)\", message: short tags}", "  - {rule: \"isURL(self.home)\", message: a URL}", "  - {rule: self.min == oldSelf.min, message: fixed}", "properties:", "  min: {type: integer}", "  max: {type: integer}", "  tags: {type: array, items: {type: string}}"])
        let fleet = try await Self.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/repository.yaml": Self.repository,
            "apps/fine.yaml": Self.release(""),
            "apps/both.yaml": both,
            "apps/neither.yaml": neither,
            "apps/crd.yaml": crd,
            "apps/gadgets.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: bad, namespace: default}\nspec:\n  min: 5\n  max: 1\n  tags: [ok]\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: good, namespace: default}\nspec: {min: 1, max: 5, tags: [ok, fine]}\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: long, namespace: default}\nspec:\n  min: 1\n  max: 5\n  tags: [ok, much-too-long]\n",
        ])
        defer { fleet.remove() }
        let all = try fleet.read().problems
        let problems = all.filter { $0.title == "Rejected by the CRD schema" }
        #expect(Set(problems.compactMap(\.location)) == [
            SourceLocation(file: "apps/both.yaml", line: 6), SourceLocation(file: "apps/neither.yaml", line: 6), SourceLocation(file: "apps/gadgets.yaml", line: 4),
            SourceLocation(file: "apps/gadgets.yaml", line: 17),
        ], "\(problems)")
        #expect(problems.filter { $0.message.contains(#"spec: Invalid value: "object": either chart or chartRef must be set"#) }.count == 2, "\(problems)")
        #expect(problems.contains { $0.message.contains("Gadget/default/bad") && $0.message.contains("min must not exceed max") && !$0.message.contains("short tags") }, "\(problems)")
        #expect(problems.contains { $0.message.contains("Gadget/default/long") && $0.message.contains("short tags") && !$0.message.contains("min must not") }, "\(problems)")
        // The rule fluxci cannot evaluate: one notice for the three Gadgets; the transition rule: none.
        let notices = all.filter { $0.title == "CEL rule not evaluated" }
        #expect(notices.count == 1 && notices.first?.level == .notice, "\(all)")
        #expect(notices.first?.message.contains("`isURL(self.home)`") == true && notices.first?.message.contains("and 2 other objects") == true, "\(notices)")
        #expect(!all.contains { $0.message.contains("oldSelf") }, "\(all)")
    }

    /// Tester t18 F3: the common layout — the CRD in an infrastructure Kustomization, its custom
    /// resources in apps — is checked too (against the CRD the API server has when apps applies).
    @Test func aCustomResourceIsCheckedAgainstACRDAnotherKustomizationInstalls() async throws {
        let crd = Self.crd("Widget", spec: ["type: object", "properties:", "  replicas: {type: integer}"])
        let fleet = try await Self.fleet([
            "clusters/c/infra.yaml": kustomization("infra", path: "./infra"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: infra}]\n"),
            "infra/crd.yaml": crd,
            "apps/bad.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad, namespace: default}\nspec:\n  replicas: three\n",
            "apps/good.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: good, namespace: default}\nspec:\n  replicas: 3\n",
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.title == "Rejected by the CRD schema" }
        #expect(problems.map(\.location) == [SourceLocation(file: "apps/bad.yaml", line: 5)], "\(problems)")
        #expect(problems.first?.message.contains("which the Kustomization flux-system/apps applies") == true, "\(problems)")
    }

    @Test func customResourcesAreCheckedAgainstTheFleetsCRDs() async throws {
        let crd = Self.crd("Widget", spec: ["type: object", "properties:", "  replicas: {type: integer}", "  size: {type: string, enum: [small, large]}", "  labels: {type: object, additionalProperties: {type: string}}"])
        let fleet = try await Self.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/crd.yaml": crd,
            "apps/bad.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad, namespace: default}\nspec:\n  replicas: three\n  size: medium\n",
            "apps/map.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: map, namespace: default}\nspec:\n  labels:\n    tier: 2\n",
            "apps/good.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: good, namespace: default}\nspec:\n  replicas: 3\n  size: small\n  labels: {tier: \"2\"}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let rejected = tree.problems.filter { $0.title == "Rejected by the CRD schema" }
        // Each refused value at its own line: two annotations for bad.yaml.
        #expect(rejected.count == 3, "\(rejected)")
        let bad = try #require(rejected.first { $0.location == SourceLocation(file: "apps/bad.yaml", line: 5) })
        #expect(bad.message.contains("spec.replicas in body must be of type integer") && !bad.message.contains("spec.size"), "\(bad)")
        let size = try #require(rejected.first { $0.location == SourceLocation(file: "apps/bad.yaml", line: 6) })
        #expect(size.message.contains("spec.size: Unsupported value: \"medium\""), "\(size)")
        let map = try #require(rejected.first { $0.location?.file == "apps/map.yaml" })
        #expect(map.location?.line == 6 && map.message.contains("spec.labels.tier"), "\(map)")
        #expect(!rejected.contains { $0.location?.file == "apps/good.yaml" })
    }
}
