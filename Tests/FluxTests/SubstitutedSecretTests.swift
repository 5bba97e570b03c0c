import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// postBuild values that come from a Secret never reach a message (tester t9 F5), and field
/// problems sit at the field's line (t9 F10). The Secret here is plain (stringData): fluxci
/// treats the values of every substituteFrom Secret alike, decrypted or not; the SOPS-encrypted
/// one, on GitHub and in a terminal, is FluxCITests' SubstitutedSecretPlanTests.
@Suite struct SubstitutedSecretTests {
    static let secrets = "apiVersion: v1\nkind: Secret\nmetadata: {name: cluster-secrets, namespace: flux-system}\nstringData:\n  SECRET_API_KEY: 'XYZZY-apikey: [unterminated'\n  SECRET_PIN: '987654'\n  SECRET_ONE: '1'\n  SECRET_NAME: hiddenname\n"
    static let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-settings, namespace: flux-system}\ndata:\n  PLAIN_LIST: '[open'\n  PLAIN_LEN: '6'\n"

    /// A fleet whose app Kustomization substitutes from both, with `app` as its files.
    func fleet(_ app: [String: String]) async throws -> Fleet {
        var files = [
            "clusters/c/secrets.yaml": Self.secrets,
            "clusters/c/settings.yaml": Self.settings,
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: """
                  postBuild:
                    substituteFrom:
                      - {kind: ConfigMap, name: cluster-settings}
                      - {kind: Secret, name: cluster-secrets}
                """),
        ]
        for (name, text) in app { files["apps/\(name)"] = text }
        return try await Fleet.make(files)
    }

    static let values = ["XYZZY", "987654", "hiddenname"]

    func leaks(_ tree: ClusterTree) -> [String] {
        let text = tree.problems.map { "\($0.title ?? "")|\($0.message)|\($0.fix ?? "")" }.joined(separator: "\n")
            + tree.builds.values.map { "\($0)" }.joined(separator: "\n")
        return Self.values.filter { text.contains($0) }
    }

    @Test func aSecretThatBreaksTheYAMLIsNamedNotQuoted() async throws {
        let fleet = try await fleet([
            "deploy.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: whoami, namespace: default}
                spec:
                  template:
                    spec:
                      containers:
                        - name: app
                          env:
                            - name: API_KEY
                              value: ${SECRET_API_KEY}

                """
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Substitution failed"), "\(tree.problems)")
        #expect(leaks(tree).isEmpty, "\(problem)")
        #expect(problem.message.contains("at `value: ${SECRET_API_KEY}` (apps/deploy.yaml:11)"), "\(problem.message)")
        #expect(problem.message.contains("${SECRET_API_KEY} from the data of Secret flux-system/cluster-secrets, clusters/c/secrets.yaml:5"), "\(problem.message)")
        #expect(problem.message.contains("mapping values are not allowed"))
        #expect(problem.message.contains("is not shown"))
        #expect(problem.location == SourceLocation(file: "apps/deploy.yaml", line: 11))
        // The safety net has the values to mask and redact.
        #expect(tree.secretValues.contains("XYZZY-apikey: [unterminated") && tree.secretValues.contains("1"))
    }

    @Test func aConfigMapValueThatBreaksTheYAMLIsQuoted() async throws {
        let fleet = try await fleet(["cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata:\n  list: ${PLAIN_LIST}\n"])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Substitution failed"))
        #expect(problem.message.contains("After substitution it reads `list: [open`"), "\(problem.message)")
        #expect(problem.location == SourceLocation(file: "apps/cm.yaml", line: 5))
    }

    @Test func aNonStringSecretIsNamedAtTheFieldsLine() async throws {
        let fleet = try await fleet([
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alarm, namespace: default}\ndata:\n  name: alarm\n  pin: ${SECRET_PIN}\n  one: ${SECRET_ONE}\n",
            "env.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          env:\n            - {name: PIN, value: '${SECRET_PIN}'}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problems = tree.problems.filter { $0.title == "Non-string value in a string field" }
        #expect(problems.count == 2, "\(tree.problems)")
        #expect(leaks(tree).isEmpty)
        let configMap = try #require(problems.first { $0.location?.file == "apps/cm.yaml" })
        // At the first field's line (`one:`, line 7, as the build orders the keys), not the
        // object's first line; `one` ("1", too short for the net) is named by its variable too.
        #expect(configMap.location?.line == 7)
        #expect(configMap.message.contains("data.pin is a number after postBuild substitution of `${SECRET_PIN}`"), "\(configMap.message)")
        #expect(configMap.message.contains("data.one is a number after postBuild substitution of `${SECRET_ONE}`"), "\(configMap.message)")
        #expect(!configMap.message.contains("is 1") && !(configMap.fix ?? "").contains("\"1\""))
        let deployment = try #require(problems.first { $0.location?.file == "apps/env.yaml" })
        #expect(deployment.location?.line == 10, "\(deployment)")
    }

    @Test func aPlainValueIsStillQuotedAtTheFieldsLine() async throws {
        // tester t9 F10: `len: "${PLAIN_LEN}"` was reported at the ConfigMap's first line.
        let fleet = try await fleet(["cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: forms\n  namespace: default\ndata:\n  title: x\n  len: \"${PLAIN_LEN}\"\n"])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Non-string value in a string field"))
        #expect(problem.location == SourceLocation(file: "apps/cm.yaml", line: 8))
        #expect(problem.message.contains("data.len is a number after postBuild substitution of `${PLAIN_LEN}`"), "\(problem.message)")
    }

    @Test func aSecretInAnObjectNameIsRedacted() async throws {
        // A Flux Kustomization without a namespace is reported by its name, which a Secret gave.
        let fleet = try await fleet(["ks.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app-${SECRET_NAME}\nspec: {interval: 1m, path: ./x, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}\n"])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Namespace not specified"), "\(tree.problems)")
        #expect(leaks(tree).isEmpty)
        #expect(problem.message.contains("app-\(SubstitutedValues.redaction)"), "\(problem.message)")
    }

    @Test func redactionSkipsShortValuesAndTakesTheLongestFirst() {
        let values = SubstitutedValues.searched(["1", "abc", "secret", "secret-longer"])
        #expect(values == ["secret-longer", "secret"])
        #expect(SubstitutedValues.redact("a secret-longer and a secret, 1 abc", values) == "a [redacted] and a [redacted], 1 abc")
    }
}
