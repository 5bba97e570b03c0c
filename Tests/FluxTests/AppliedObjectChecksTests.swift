import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// What kustomize-controller hits when it applies a Kustomization's objects on a fresh cluster
/// (the e2e's), each on a fleet built with the real `kubectl kustomize` (tester t3, F24 and F15).
@Suite struct AppliedObjectChecksTests {
    static func namespace(_ name: String) -> String { "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \(name)\n" }

    /// F24: `targetNamespace: web` and a ConfigMap in `monitoring`, neither created anywhere: one
    /// error per (Kustomization, namespace) at the first object, with the count.
    @Test func aNamespaceNothingCreatesIsAnError() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  targetNamespace: web\n"),
            "clusters/c/other.yaml": kustomization("other", path: "./other"),
            "apps/a.yaml": configMap("a") + "\n---\n" + configMap("b"),
            "other/cm.yaml": configMap("other", namespace: "monitoring"),
            "other/fine.yaml": configMap("fine", namespace: "kube-system"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let missing = tree.problems.filter { $0.title == "Namespace not created" }
        #expect(missing.count == 2, "\(missing)")
        #expect(missing.allSatisfy { $0.level == .error })
        let web = try #require(missing.first { $0.message.contains("namespace web,") })
        #expect(web.location == SourceLocation(file: "apps/a.yaml", line: 1))
        #expect(web.message.contains("ConfigMap/web/a and 1 more object"), "\(web.message)")
        #expect(web.message.contains("namespaces \"web\" not found"))
        let monitoring = try #require(missing.first { $0.message.contains("namespace monitoring,") })
        #expect(monitoring.location == SourceLocation(file: "other/cm.yaml", line: 1))
        #expect(monitoring.message.contains("flux-system/other applies ConfigMap/monitoring/other in"), "\(monitoring.message)")
    }

    /// F24: a Namespace in the same build, in a Kustomization depended on (transitively), in the
    /// parent that applies the Kustomization, or made by a HelmRelease with createNamespace is
    /// fine; one in an unrelated sibling is a race (warning naming the dependsOn to add).
    @Test func whoCreatesTheNamespaceDecides() async throws {
        let helmRelease = """
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {name: app, namespace: flux-system}
            spec:
              targetNamespace: charted
              install: {createNamespace: true}
              chart: {spec: {chart: app, sourceRef: {kind: HelmRepository, name: charts}}}
            """
        let fleet = try await Fleet.make([
            "clusters/c/infra.yaml": kustomization("infra", path: "./infra"),
            "clusters/c/middle.yaml": kustomization("middle", path: "./middle", extra: "  dependsOn: [{name: infra}]\n"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: middle}]\n"),
            "clusters/c/racy.yaml": kustomization("racy", path: "./racy"),
            "clusters/c/own.yaml": kustomization("own", path: "./own"),
            "clusters/c/ns.yaml": Self.namespace("parented"),
            "clusters/c/parented.yaml": kustomization("parented", path: "./parented"),
            "infra/ns.yaml": Self.namespace("shared") + "---\n" + helmRelease,
            "middle/cm.yaml": configMap("m", namespace: "default"),
            "apps/cm.yaml": configMap("app", namespace: "shared") + "\n---\n" + configMap("charted", namespace: "charted"),
            "racy/cm.yaml": configMap("racy", namespace: "shared") + "\n---\n" + configMap("racy2", namespace: "shared"),
            "own/all.yaml": configMap("own", namespace: "mine") + "\n---\n" + Self.namespace("mine"),
            "parented/cm.yaml": configMap("p", namespace: "parented"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let namespaceProblems = tree.problems.filter { $0.title?.hasPrefix("Namespace") == true }
        #expect(namespaceProblems.count == 1, "\(namespaceProblems)")
        let race = try #require(tree.problem("Namespace created by another Kustomization"))
        #expect(race.level == .warning)
        #expect(race.location == SourceLocation(file: "racy/cm.yaml", line: 1))
        #expect(race.message.contains("flux-system/racy applies ConfigMap/shared/racy and 1 more object in the namespace shared, which the Kustomization flux-system/infra creates"), "\(race.message)")
        #expect(race.fix?.contains("dependsOn: [{name: infra}]") == true, "\(race.fix ?? "")")
    }

    /// F24: cluster-scoped kinds, built in or by the scope of a CRD of the tree, are not in a
    /// namespace even when one is written; a namespaced custom kind is.
    @Test func clusterScopedKindsNeedNoNamespace() async throws {
        func crd(_ kind: String, scope: String) -> String {
            """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: \(kind.lowercased())s.example.com}
            spec:
              group: example.com
              scope: \(scope)
              names: {kind: \(kind), plural: \(kind.lowercased())s}
              versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
            """
        }
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/crds.yaml": crd("Global", scope: "Cluster") + "\n---\n" + crd("Local", scope: "Namespaced"),
            "apps/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: ghost}\nrules: []\n",
            "apps/global.yaml": "apiVersion: example.com/v1\nkind: Global\nmetadata: {name: g, namespace: ghost}\n",
            "apps/local.yaml": "apiVersion: example.com/v1\nkind: Local\nmetadata: {name: l, namespace: ghost}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let missing = tree.problems.filter { $0.title == "Namespace not created" }
        #expect(missing.count == 1, "\(missing)")
        #expect(missing.first?.location == SourceLocation(file: "apps/local.yaml", line: 1))
        #expect(missing.first?.message.contains("applies Local/ghost/l in") == true, "\(missing)")
    }

    /// F15: a ConfigMap's data written unquoted (`8080`, `1.5`) is a number for the API server;
    /// quoted values, null and `yes` (a string to kustomize's YAML 1.2 reader) pass.
    @Test func unquotedScalarsInStringFieldsAreErrors() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/bad.yaml": configMap("bad", namespace: "default", data: "PORT: 8080\n  FLAG: yes\n  RATIO: 1.5\n  NAME: web"),
            "apps/good.yaml": configMap("good", namespace: "default", data: "PORT: \"8080\"\n  FLAG: 'yes'\n  RATIO: \"1.5\"\n  EMPTY: null\n  NAME: web"),
            "apps/deploy.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web
                  namespace: default
                  labels: {tier: web, version: 2}
                spec:
                  selector: {matchLabels: {app: web}}
                  template:
                    metadata: {labels: {app: web}}
                    spec:
                      containers:
                        - name: web
                          image: nginx
                          env:
                            - {name: QUOTED, value: "true"}
                            - {name: DEBUG, value: false}
                """,
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let bad = tree.problems.filter { $0.title == "Non-string value in a string field" }
        #expect(bad.count == 2, "\(bad)")
        let data = try #require(bad.first { $0.location == SourceLocation(file: "apps/bad.yaml", line: 7) }, "\(bad)")
        #expect(data.level == .error)
        #expect(data.message.contains("data.PORT is 8080") && data.message.contains("data.RATIO is 1.5"), "\(data.message)")
        // kustomize reads `yes` as a string (YAML 1.2; kubectl kustomize prints it quoted), as Flux's build does.
        #expect(!data.message.contains("FLAG"), "\(data.message)")
        #expect(!data.message.contains("NAME"))
        #expect(data.fix?.contains("PORT: \"8080\"") == true, "\(data.fix ?? "")")
        let deployment = try #require(bad.first { $0.location == SourceLocation(file: "apps/deploy.yaml", line: 6) }, "\(bad)")
        #expect(deployment.message.contains("metadata.labels.version is 2"), "\(deployment.message)")
        #expect(deployment.message.contains("spec.template.spec.containers[0].env[name=DEBUG].value is false"), "\(deployment.message)")
        #expect(!deployment.message.contains("QUOTED"))
    }

    /// F15 (t3/f32): `ENABLED: ${ENABLED}` substituted with "true" is a bool after Flux parses the
    /// substituted text again. Quoting the placeholder does not help: kustomize writes the string
    /// `"${ENABLED}"` without its quotes (the real `kubectl kustomize` does, as kustomize-controller's
    /// build does) before the substitution; quotes inside the variable's value do.
    @Test func aSubstitutedUnquotedPlaceholderIsAnError() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {ENABLED: \"true\", PORT: \"8080\", QUOTED: '\"true\"', NAME: web}\n"),
            "apps/cm.yaml": configMap("cm", namespace: "default", data: "ENABLED: ${ENABLED}\n  PORT: ${PORT}"),
            "apps/quoted.yaml": configMap("quoted", namespace: "default", data: "ENABLED: \"${ENABLED}\""),
            "apps/fine.yaml": configMap("fine", namespace: "default", data: "ENABLED: ${QUOTED}\n  NAME: ${NAME}"),
            "apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default, annotations: {name: \"${NAME}\"}}\nstringData:\n  port: ${PORT}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let bad = tree.problems.filter { $0.title == "Non-string value in a string field" }
        #expect(bad.count == 3, "\(bad)")
        let cm = try #require(bad.first { $0.location?.file == "apps/cm.yaml" })
        // At the first such field's line; the fields are named by their text before substitution,
        // never by the substituted value (a Secret may give it; tester t9 F5, F10).
        #expect(cm.location == SourceLocation(file: "apps/cm.yaml", line: 7), "\(cm)")
        #expect(cm.message.contains("data.ENABLED is a bool after postBuild substitution of `${ENABLED}`") && cm.message.contains("data.PORT is a number after postBuild substitution of `${PORT}`"), "\(cm.message)")
        #expect(cm.fix?.contains("put the quotes in the variable's value") == true, "\(cm.fix ?? "")")
        #expect(bad.contains { $0.location?.file == "apps/quoted.yaml" && $0.message.contains("data.ENABLED is a bool after postBuild substitution") }, "\(bad)")
        let secret = try #require(bad.first { $0.location?.file == "apps/secret.yaml" })
        #expect(secret.message.contains("stringData.port is a number after postBuild substitution of `${PORT}`") && !secret.message.contains("annotations"), "\(secret.message)")
        let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        #expect(tree.objects[apps]?.first { $0.name == "quoted" }?.json["data", "ENABLED"] == .bool(true))
        #expect(tree.objects[apps]?.first { $0.name == "fine" }?.json["data", "ENABLED"] == .string("true"))
    }

    /// F13 (t3/f28): a flux-system folder holding only gotk-sync.yaml installs no Flux: error at
    /// its kustomization.yaml naming what is missing; with the real components (flux v2.6.4's
    /// gotk-components.yaml) nothing is reported.
    @Test func aFluxSystemWithoutComponentsInstallsNoFlux() async throws {
        let bare = try await Fleet.make(["clusters/c/apps.yaml": kustomization("apps", path: "./apps"), "apps/cm.yaml": configMap("a", namespace: "default")])
        defer { bare.remove() }
        let problems = AppliedObjectChecks.fluxInstallProblems(try bare.read())
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.level == .error && problem.title == "flux-system installs no Flux")
        #expect(problem.location == SourceLocation(file: "clusters/c/flux-system/kustomization.yaml"))
        #expect(problem.message.contains("gitrepositories.source.toolkit.fluxcd.io") && problem.message.contains("the Deployment kustomize-controller"), "\(problem.message)")
        #expect(problem.fix?.contains("flux install --export > clusters/c/flux-system/gotk-components.yaml") == true)

        let components = try String(contentsOf: TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        let installed = try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/gotk-components.yaml": components,
            "clusters/c/flux-system/kustomization.yaml": "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/cm.yaml": configMap("a", namespace: "default"),
        ])
        defer { installed.remove() }
        let tree = try installed.read()
        #expect(AppliedObjectChecks.fluxInstallProblems(tree).isEmpty)
        // The real components define the flux-system Namespace: nothing in it is reported.
        #expect(tree.errors.isEmpty, "\(tree.errors)")

        // Only a Namespace in gotk-components.yaml (t3/f01): still no Flux.
        let namespaceOnly = try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/gotk-components.yaml": Self.namespace("flux-system"),
            "clusters/c/flux-system/kustomization.yaml": "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
        ])
        defer { namespaceOnly.remove() }
        #expect(AppliedObjectChecks.fluxInstallProblems(try namespaceOnly.read()).count == 1)
    }
}

/// Tester t12 F10: the Namespace is written in the repository but the build loses it (an
/// overlay's `$patch: delete`, a file no kustomization lists). The fix says where it is written
/// and what removes it, instead of telling to add a second one.
@Suite struct WrittenNamespaceTests {
    static func tree(_ overlay: String) async throws -> ClusterTree {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/overlay"),
            "apps/base/kustomization.yaml": "resources: [namespace.yaml, settings.yaml]\n",
            "apps/base/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
            "apps/base/settings.yaml": configMap("settings", namespace: "web"),
            "apps/overlay/kustomization.yaml": overlay,
            "apps/unlisted/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
            "apps/overlay/other.yaml": configMap("elsewhere", namespace: "other"),
        ])
        defer { fleet.remove() }
        return try fleet.read()
    }

    @Test func aNamespaceTheBuildLosesIsNamedWhereItIsWritten() async throws {
        let deleting = try await Self.tree("""
            resources:
              - ../base
              - other.yaml
            patches:
              - patch: |
                  apiVersion: v1
                  kind: Namespace
                  metadata:
                    name: web
                  $patch: delete

            """)
        let problems = deleting.problems.filter { $0.title == "Namespace not created" }
        #expect(problems.count == 2, "\(deleting.problems)")
        let web = try #require(problems.first { $0.message.contains("namespace web") })
        #expect(web.fix?.contains("The repository writes the Namespace web (apps/base/namespace.yaml:4), but the `$patch: delete` at apps/overlay/kustomization.yaml:10 removes it") == true, "\(web.fix ?? "")")
        let other = try #require(problems.first { $0.message.contains("namespace other") })
        #expect(other.fix?.contains("The repository writes the Namespace other (apps/unlisted/namespace.yaml:4), but no build applies it") == true, "\(other.fix ?? "")")
        // Without the patch, web is created; a namespace written nowhere keeps the plain fix.
        let plain = try await Self.tree("resources:\n  - ../base\n")
        #expect(plain.problems.filter { $0.title == "Namespace not created" }.isEmpty, "\(plain.problems)")
    }
}
