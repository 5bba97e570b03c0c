import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t19 F4: kustomize-controller runs envsubst only when postBuild gives at least one
/// variable (fluxcd/pkg kustomize `SubstituteVariables`: `if len(vars) > 0`), so with no
/// postBuild, or with only an optional substituteFrom that does not exist, a
/// `${HR_INTERVAL:=5m}` is applied as written and refused. The problem says so and the fix asks
/// for a variable, not to "correct" the valid default; with a variable defined the default
/// applies and nothing is said.
@Suite struct LiteralPlaceholderTests {
    static func release(_ interval: String) -> String {
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web, namespace: default}\nspec:\n  interval: \(interval)\n  chart:\n    spec:\n      chart: web\n      sourceRef: {kind: HelmRepository, name: charts}\n"
    }

    @Test(arguments: [
        ("", "flux-system/apps has no spec.postBuild"),
        ("  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: overrides, optional: true}]\n", "postBuild gives no variable"),
        ("  postBuild:\n    substitute: {other: x}\n", nil as String?),
    ])
    func aDefaultIsAppliedOnlyWhenSubstitutionRuns(postBuild: String, why: String?) async throws {
        let fleet = try await SchemaChecksTests.fleet([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: postBuild),
            "apps/repository.yaml": SchemaChecksTests.repository,
            "apps/release.yaml": Self.release("${HR_INTERVAL:=5m}"),
        ])
        defer { fleet.remove() }
        let rejected = try fleet.read().problems.filter { $0.title == "Rejected by the CRD schema" }
        guard let why else {
            #expect(rejected.isEmpty, "\(rejected)")
            return
        }
        #expect(rejected.count == 1 && rejected.first?.location == SourceLocation(file: "apps/release.yaml", line: 5), "\(rejected)")
        #expect(rejected.first?.message.contains("placeholder as written") == true && rejected.first?.message.contains(why) == true, "\(rejected)")
        #expect(rejected.first?.fix?.contains("spec.postBuild.substitute") == true, "\(rejected)")
    }

    /// Tester t20 F3: a name or label value holding `${…}` is what the API server receives when
    /// no substitution runs: judged as written (an invalid name, an invalid label value), each
    /// with the note; with postBuild variables the substituted text is judged instead.
    @Test func namesAndLabelsHoldingAPlaceholderAreJudgedAsWrittenWithoutSubstitution() async throws {
        let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-${CLUSTER:=dev}\n  namespace: default\n  labels:\n    region: ${REGION:=eu-west-1}\ndata: {a: b}\n"
        let literal = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/settings.yaml": settings,
        ])
        defer { literal.remove() }
        let problems = try literal.read().problems.filter { $0.level == .error }
        let name = problems.first { $0.title == "Invalid object name" }
        let label = problems.first { $0.title == "Invalid label" }
        #expect(name?.location == SourceLocation(file: "apps/settings.yaml", line: 4) && name?.message.contains("placeholder as written") == true, "\(problems)")
        #expect(label?.location == SourceLocation(file: "apps/settings.yaml", line: 7) && label?.message.contains("placeholder as written") == true, "\(problems)")

        let substituted = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {CLUSTER: staging}\n"),
            "apps/settings.yaml": settings,
        ])
        defer { substituted.remove() }
        #expect(try substituted.read().problems.filter { $0.level == .error }.isEmpty)
    }
}
