import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Where tree problems are annotated (issue 13 items 7 and 24; tester t3 F3, F5, F14, F17): at
/// the file and line of the repository that holds what fails, never at a line that is fine.
/// Each fleet is a real git repository built with the real `kubectl kustomize`.
@Suite struct ProblemSiteTests {
    static let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")

    /// F3: envsubst's parse error is annotated at the unescaped `${…}` it fails on, in the
    /// object's file or in a kustomization of the build (a patch), and quoted; the escaped
    /// `$${…}` on an earlier line is text to Flux and is not the site.
    @Test(arguments: ["object", "patch"])
    func aSubstitutionParseErrorIsAtItsExpression(_ place: String) async throws {
        let bad = "${spring.datasource.url}"
        var files = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {CLUSTER: prod}\n"),
            "apps/kustomization.yaml": "resources: [cm.yaml]\n",
            "apps/cm.yaml": configMap("app", namespace: "default", data: "escaped: $\(bad)\n  url: \(place == "object" ? bad : "x")"),
        ]
        if place == "patch" {
            files["apps/kustomization.yaml"] = """
                resources: [cm.yaml]
                patches:
                  - target: {kind: ConfigMap, name: app}
                    patch: |
                      - op: add
                        path: /data/fromPatch
                        value: "\(bad)"

                """
        }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let failed = try #require(tree.problem("Substitution failed"))
        let site = place == "object" ? SourceLocation(file: "apps/cm.yaml", line: 8) : SourceLocation(file: "apps/kustomization.yaml", line: 7)
        #expect(failed.location == site, "\(failed)")
        #expect(failed.message.contains("fails on ConfigMap/app at `\(bad)` (\(site)): variable substitution failed: missing closing brace."), "\(failed.message)")
        #expect((failed.fix ?? "").contains("Write $\(bad) to keep it as text"), "\(failed.fix ?? "")")
        #expect(tree.builds[Self.apps] == .notBuilt("substitution failed"))
    }

    /// The neighbours of the parse error: other envsubst errors are at their expression too.
    @Test(arguments: [("${NAME/x}", "bad substitution"), ("${}", "unable to parse variable name"), ("${NAME^x}", "bad substitution")])
    func otherEnvsubstErrorsAreAtTheirExpression(_ expression: String, _ error: String) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {CLUSTER: prod}\n"),
            "apps/cm.yaml": configMap("app", namespace: "default", data: "ok: ${CLUSTER}\n  bad: \"\(expression)\""),
        ])
        defer { fleet.remove() }
        let failed = try #require(try fleet.read().problem("Substitution failed"))
        #expect(failed.location == SourceLocation(file: "apps/cm.yaml", line: 8), "\(failed)")
        #expect(failed.message.contains(error), "\(failed.message)")
    }

    /// F3 (f06): an invalid variable name is annotated at the key that defines it: a
    /// substituteFrom ConfigMap's data key, or the spec.postBuild.substitute entry.
    @Test(arguments: ["substituteFrom", "substitute"])
    func anInvalidVariableNameIsAtItsKey(_ from: String) async throws {
        let postBuild = from == "substituteFrom"
            ? "  dependsOn: [{name: vars}]\n  postBuild:\n    substituteFrom:\n      - {kind: ConfigMap, name: cluster-vars}\n"
            : "  postBuild:\n    substitute:\n      CLUSTER: prod\n      cluster-name: prod\n"
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: postBuild),
            "clusters/c/vars.yaml": kustomization("vars", path: "./vars"),
            "vars/cm.yaml": configMap("cluster-vars", namespace: "flux-system", data: "CLUSTER: prod\n  cluster-name: prod"),
            "apps/cm.yaml": configMap("app", namespace: "default", data: "a: ${CLUSTER}"),
        ])
        defer { fleet.remove() }
        let failed = try #require(try fleet.read().problem("Invalid variable name"))
        let site = from == "substituteFrom" ? SourceLocation(file: "vars/cm.yaml", line: 8) : SourceLocation(file: "clusters/c/apps.yaml", line: 17)
        #expect(failed.location == site, "\(failed)")
        #expect(failed.message.contains("'cluster-name' var name is invalid"), "\(failed.message)")
        #expect((failed.fix ?? "").contains("\(site)"), "\(failed.fix ?? "")")
    }

    /// F5: errors kustomize gives for a file are annotated at that file (at the line libyaml
    /// finds a YAML error at), followed through `accumulating resources from` to a base; a
    /// folder resource without a kustomization at the entry naming it; helmCharts at its key.
    /// The expected sites are checked against the real `kubectl kustomize` message too.
    @Test(arguments: ["kustomization-yaml", "base-resource-yaml", "folder-without-kustomization", "helmCharts", "generated-values"])
    func aKustomizeErrorIsAtTheFileItIsIn(_ fault: String) async throws {
        var files = ["clusters/c/apps.yaml": kustomization("apps", path: "./apps/prod"), "apps/base/cm.yaml": configMap("app", namespace: "default")]
        let site: Actions.SourceLocation
        let words: [String]
        switch fault {
        case "kustomization-yaml":
            files["apps/prod/kustomization.yaml"] = "resources: [../base]\nreplacements:\n- source: {kind: ConfigMap, name: app, fieldPath: metadata.name}\n  targets:\n  - select: {kind: ConfigMap, name: app}\n    fieldPaths: [data.[x=y].z]\n"
            site = SourceLocation(file: "apps/prod/kustomization.yaml", line: 6)
            words = ["apps/prod/kustomization.yaml is not valid YAML", "did not find expected ',' or ']'"]
        case "base-resource-yaml":
            files["apps/prod/kustomization.yaml"] = "resources: [../base]\n"
            files["apps/base/kustomization.yaml"] = "resources: [cm.yaml, bad.yaml]\n"
            files["apps/base/bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  k: a: b\n"
            site = SourceLocation(file: "apps/base/bad.yaml", line: 6)
            words = ["apps/base/bad.yaml is not valid YAML", "mapping values are not allowed"]
        case "folder-without-kustomization":
            files["apps/prod/kustomization.yaml"] = "resources:\n  - ../base/cm.yaml\n  - ./web\n"
            files["apps/prod/web/cm.yaml"] = configMap("web", namespace: "default")
            site = SourceLocation(file: "apps/prod/kustomization.yaml", line: 3)
            words = ["names ./web in resources, a folder without a kustomization file"]
        case "helmCharts":
            files["apps/prod/kustomization.yaml"] = "resources: [../base/cm.yaml]\nhelmCharts:\n- name: podinfo\n  repo: https://stefanprodan.github.io/podinfo\n  version: 6.5.0\n"
            site = SourceLocation(file: "apps/prod/kustomization.yaml", line: 2)
            words = ["inflates a Helm chart (helmCharts)", "must specify --enable-helm"]
        default:
            files["apps/prod/cm.yaml"] = configMap("app", namespace: "default")
            files["apps/prod/podinfo/values.yaml"] = "replicaCount: 1\nimage:\n  tag: x\n"
            site = SourceLocation(file: "apps/prod/podinfo/values.yaml", line: 1)
            words = ["kustomize-controller fails with \"failed to decode Kubernetes YAML from apps/prod/podinfo/values.yaml: missing Resource metadata\""]
        }
        let fleet = try await Fleet.make(files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let failed = try #require(tree.problem("Kustomize build failed"))
        #expect(failed.location == site, "\(failed)")
        for word in words { #expect(failed.message.contains(word), "\(failed.message)") }
        #expect(tree.builds[Self.apps] == .notBuilt("kustomize build failed"))
        #expect(tree.errors.count == 1, "\(tree.errors)")
        // The command is shown exactly when it reproduces the error on the folder as written.
        let kubectl = try await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", fleet.directory.appendingPathComponent("apps/prod").path])
        #expect(kubectl.status != 0)
        let shown = failed.message.contains("(kubectl kustomize --load-restrictor LoadRestrictionsNone apps/prod)")
        #expect(shown == (fault != "generated-values"), "\(failed.message)")
        if fault == "generated-values" { #expect(kubectl.allOutput.contains("unable to find one of 'kustomization.yaml'")) }
    }

    /// F14: a Kustomization inside a `kind: List` is placed at its item, and a problem about its
    /// field at the field's line inside the item, not at another object's line.
    @Test func aKustomizationInAListIsAtItsItem() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": """
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata: {name: apps, namespace: flux-system}
                spec:
                  interval: 10m
                  path: ./apps
                  prune: true
                  sourceRef: {kind: GitRepository, name: flux-system}
                ---
                apiVersion: v1
                kind: List
                items:
                - apiVersion: kustomize.toolkit.fluxcd.io/v1
                  kind: Kustomization
                  metadata: {name: listed, namespace: flux-system}
                  spec:
                    interval: 10m
                    path: ./apps/missing
                    prune: true
                    sourceRef: {kind: GitRepository, name: flux-system}

                """,
            "apps/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let listed = try #require(tree.kustomization("flux-system/listed"))
        #expect(listed.object.file == "clusters/c/apps.yaml" && listed.object.line == 13, "\(String(describing: listed.object.line))")
        let missing = try #require(tree.problem("Kustomization path not found"))
        #expect(missing.location == SourceLocation(file: "clusters/c/apps.yaml", line: 18), "\(missing)")
        #expect(missing.message.contains("flux-system/listed"))
    }

    /// F17: an error that comes from a field kustomize-controller writes into the kustomization
    /// (spec.components naming a Kustomization, not a Component) is annotated at that entry and
    /// names the field; the kubectl command is not offered, since on the folder as written it
    /// succeeds (checked with kubectl).
    @Test func anErrorFromAFluxFieldIsAtThatFieldWithoutTheCommand() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/prod", extra: "  components:\n    - ../../components/ok\n    - ../../components/notcomp\n"),
            "apps/prod/kustomization.yaml": "resources: [cm.yaml]\n",
            "apps/prod/cm.yaml": configMap("app", namespace: "default"),
            "components/ok/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels: {a: b}\n",
            "components/notcomp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let failed = try #require(tree.problem("Kustomize build failed"))
        #expect(failed.location == SourceLocation(file: "clusters/c/apps.yaml", line: 16), "\(failed)")
        #expect(failed.message.contains("kustomize-controller builds apps/prod with spec.components written into it"), "\(failed.message)")
        #expect(!failed.message.contains("(kubectl kustomize --load-restrictor LoadRestrictionsNone apps/prod)"), "\(failed.message)")
        #expect((failed.fix ?? "").contains("Correct spec.components of flux-system/apps"), "\(failed.fix ?? "")")
        let kubectl = try await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", fleet.directory.appendingPathComponent("apps/prod").path])
        #expect(kubectl.status == 0, "the folder as written builds: \(kubectl.allOutput)")
    }

    /// F5 (f27): a field the child's file does not write, injected by its parent's spec.patches,
    /// is annotated at the patch's line that writes it, not at the child's `spec:`.
    @Test func aFieldInjectedByAParentsPatchIsAtThePatch() async throws {
        let patches = """
              patches:
                - patch: |
                    apiVersion: kustomize.toolkit.fluxcd.io/v1
                    kind: Kustomization
                    metadata:
                      name: any
                    spec:
                      decryption:
                        provider: sops
                        secretRef:
                          name: sops-keys
                  target:
                    kind: Kustomization

            """
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: patches),
            "apps/child.yaml": kustomization("child", path: "./web"),
            "web/cm.yaml": configMap("web", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let mismatch = try #require(tree.problem("Decryption Secret mismatch"))
        #expect(mismatch.message.contains("flux-system/child decrypts with the Secret flux-system/sops-keys"), "\(mismatch.message)")
        #expect(mismatch.location == SourceLocation(file: "clusters/c/apps.yaml", line: 24), "\(mismatch)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }
}
