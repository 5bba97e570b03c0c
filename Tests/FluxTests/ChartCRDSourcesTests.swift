import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t9 F4: a custom resource whose CRD only a Helm chart can bring, on the e2e's fresh
/// cluster, built with the real `kubectl kustomize`. kustomize-controller dry-runs every non-CRD,
/// non-Namespace object of a Kustomization before it applies any (fluxcd/pkg ssa
/// `ApplyAllStaged`), so the chart's HelmRelease beside the resource is never applied (error);
/// one in a dependency that is not waited for races with helm-controller (warning); with
/// `wait: true` or a health check of the release it is in time (nothing); a CRD in the same
/// build is applied first (nothing).
@Suite struct ChartCRDSourcesTests {
    static func release(_ name: String, namespace: String = "flux-system") -> String {
        """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          interval: 10m
          chart: {spec: {chart: \(name), sourceRef: {kind: HelmRepository, name: \(name)}}}

        """
    }

    static let issuer = "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: letsencrypt}\nspec: {acme: {}}\n"

    static func kinds(_ tree: ClusterTree) -> [Annotation] {
        tree.problems.filter { ["Kind not installed", "Kind not installed before its Kustomization's dry-run", "CRD installed by a dependent"].contains($0.title) }
    }

    /// t9 33 (a): the ClusterIssuer beside the cert-manager HelmRelease.
    @Test func aResourceBesideTheReleaseOfItsChartIsAnError() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/controllers.yaml": kustomization("controllers", path: "./controllers", extra: "  wait: true\n"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: controllers}]\n"),
            "controllers/cert-manager.yaml": Self.release("cert-manager"),
            "controllers/issuer.yaml": Self.issuer,
            // A release of a dependent cannot help: it runs only once controllers is Ready.
            "apps/podinfo.yaml": Self.release("podinfo"),
        ])
        defer { fleet.remove() }
        let problems = Self.kinds(try fleet.read())
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.level == .error && problem.title == "Kind not installed before its Kustomization's dry-run")
        #expect(problem.location == SourceLocation(file: "controllers/issuer.yaml", line: 1))
        #expect(problem.message.contains("HelmRelease/flux-system/cert-manager") && problem.message.contains("ApplyAllStaged"), "\(problem.message)")
        #expect(problem.fix?.contains("dependsOn: [{name: controllers}]") == true, "\(problem)")
        // controllers has `wait: true`: the fix does not ask for it (tester t15 F11); without it, it does.
        #expect(problem.fix?.contains("wait: true") == false, "\(problem)")
        let unwaited = try await Fleet.make([
            "clusters/c/controllers.yaml": kustomization("controllers", path: "./controllers"),
            "controllers/cert-manager.yaml": Self.release("cert-manager"),
            "controllers/issuer.yaml": Self.issuer,
        ])
        defer { unwaited.remove() }
        let asked = try #require(Self.kinds(try unwaited.read()).first)
        #expect(asked.fix?.contains("and give flux-system/controllers `wait: true`") == true, "\(asked)")
    }

    /// t9 33 (c): no CRD and no chart anywhere (only a dependent's release) is an error; the
    /// neighbours: after a dependsOn on a Kustomization that waits for its release, or one whose
    /// health check names the release, nothing; without the wait, a warning.
    @Test func aReleaseInADependencyMustBeWaitedFor() async throws {
        let nothing = try await Fleet.make([
            "clusters/c/configs.yaml": kustomization("configs", path: "./configs"),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  dependsOn: [{name: configs}]\n"),
            "configs/issuer.yaml": Self.issuer,
            "apps/podinfo.yaml": Self.release("podinfo"),
        ])
        defer { nothing.remove() }
        let missing = Self.kinds(try nothing.read())
        #expect(missing.count == 1 && missing.first?.level == .error, "\(missing)")
        #expect(missing.first?.message.hasPrefix("No CRD for cert-manager.io/ClusterIssuer is applied before it: the Kustomization flux-system/configs") == true, "\(missing)")

        let fleet = try await Fleet.make([
            "clusters/c/waits.yaml": kustomization("waits", path: "./waits", extra: "  wait: true\n"),
            "clusters/c/checks.yaml": kustomization("checks", path: "./checks", extra: "  healthChecks:\n  - {apiVersion: helm.toolkit.fluxcd.io/v2, kind: HelmRelease, name: trust, namespace: flux-system}\n"),
            "clusters/c/loose.yaml": kustomization("loose", path: "./loose"),
            "clusters/c/after-wait.yaml": kustomization("after-wait", path: "./configs", extra: "  dependsOn: [{name: waits}]\n"),
            "clusters/c/after-check.yaml": kustomization("after-check", path: "./bundles", extra: "  dependsOn: [{name: checks}]\n"),
            "clusters/c/after-loose.yaml": kustomization("after-loose", path: "./policies", extra: "  dependsOn: [{name: loose}]\n"),
            "waits/cert-manager.yaml": Self.release("cert-manager"),
            "checks/trust.yaml": Self.release("trust"),
            "loose/kyverno.yaml": Self.release("kyverno"),
            "configs/issuer.yaml": Self.issuer,
            "bundles/bundle.yaml": "apiVersion: trust.cert-manager.io/v1alpha1\nkind: Bundle\nmetadata: {name: ca}\nspec: {sources: []}\n",
            "policies/policy.yaml": "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec: {rules: []}\n",
        ])
        defer { fleet.remove() }
        let problems = Self.kinds(try fleet.read())
        #expect(problems.count == 1, "\(problems)")
        let race = try #require(problems.first)
        #expect(race.level == .warning && race.location == SourceLocation(file: "policies/policy.yaml", line: 1), "\(race)")
        #expect(race.message.contains("HelmRelease/flux-system/kyverno (applied by flux-system/loose, which flux-system/after-loose depends on, but which does not wait for it"), "\(race.message)")
    }

    /// The neighbours that must stay quiet: a CRD and its resource in one Kustomization (CRDs are
    /// the first stage), a CRD in a dependency, and a CRD whose only Kustomization waits for the
    /// resource's one (a deadlock: error).
    @Test func aCRDInTheSameBuildIsInTime() async throws {
        let crd = KustomizationReferencesTests.crd("Widget")
        let fleet = try await Fleet.make([
            "clusters/c/own.yaml": kustomization("own", path: "./own"),
            "clusters/c/crds.yaml": kustomization("crds", path: "./crds"),
            "clusters/c/after.yaml": kustomization("after", path: "./after", extra: "  dependsOn: [{name: crds}]\n"),
            "clusters/c/early.yaml": kustomization("early", path: "./early"),
            "clusters/c/late.yaml": kustomization("late", path: "./late", extra: "  dependsOn: [{name: early}]\n"),
            "own/all.yaml": crd + "\n---\n" + KustomizationReferencesTests.custom("Widget", "w"),
            "crds/gadget.yaml": KustomizationReferencesTests.crd("Gadget"),
            "after/g.yaml": KustomizationReferencesTests.custom("Gadget", "g"),
            "late/sprocket.yaml": KustomizationReferencesTests.crd("Sprocket"),
            "early/s.yaml": KustomizationReferencesTests.custom("Sprocket", "s"),
        ])
        defer { fleet.remove() }
        let problems = Self.kinds(try fleet.read())
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.title == "CRD installed by a dependent" && problems.first?.level == .error, "\(problems)")
        #expect(problems.first?.location == SourceLocation(file: "early/s.yaml", line: 1), "\(problems)")
    }

    /// Flux's own kinds come from gotk-components, which every Kustomization follows: with the
    /// real Flux v2.6.4 components, HelmReleases, HelmRepositories and Kustomizations anywhere
    /// give no problem.
    @Test func fluxKindsAreServed() async throws {
        let gotk = try String(contentsOf: TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml"), encoding: .utf8)
        let fleet = try await Fleet.make([
            "clusters/c/flux-system/gotk-components.yaml": gotk,
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/kustomization.yaml": FleetManifests.fluxSystemKustomization(["gotk-components.yaml", "gotk-sync.yaml"]),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/podinfo.yaml": Self.release("podinfo")
                + "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: podinfo, namespace: flux-system}\nspec: {url: https://stefanprodan.github.io/podinfo}\n",
        ])
        defer { fleet.remove() }
        let problems = Self.kinds(try fleet.read())
        #expect(problems.isEmpty, "\(problems)")
    }
}
