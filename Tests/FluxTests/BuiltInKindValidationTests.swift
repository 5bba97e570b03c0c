import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t9 F6b: what the API server's validation of built-in kinds refuses, on fleets built with
/// the real `kubectl kustomize` and postBuild substitution: Secret/ConfigMap byte values that are
/// not base64, names that are not DNS-1123 subdomains (labels for a Namespace, DNS-1035 labels for
/// a Service), workload selectors that do not match their template labels. Each broken case at
/// its field's line, each valid neighbour quiet, and no value in any message.
@Suite struct BuiltInKindValidationTests {
    static let titles: Set<String> = ["Value not base64", "Invalid object name", "Selector does not match template labels", "Selector missing", "Selector empty"]

    static func deployment(_ name: String, selector: String, labels: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: \(name)
          namespace: default
        spec:
          selector:
            \(selector)
          template:
            metadata:
              labels: \(labels)
            spec: {containers: [{name: app, image: nginx}]}

        """
    }

    @Test func secretDataMustBeBase64() async throws {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: default\ndata:\n  ok: c2VjcmV0\n  token: not-base64-SECRETVALUE-7373!\n"
        // Valid neighbours: padded, wrapped over lines as `base64` writes it (a YAML block keeps
        // the newlines, which the API server skips), empty, stringData of anything, and a
        // ConfigMap's data (strings).
        let valid = """
            apiVersion: v1
            kind: Secret
            metadata: {name: fine, namespace: default}
            data:
              padded: YWI=
              twice: YQ==
              empty: ""
              wrapped: |
                QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
                QUFBQUFBQUFBQUFBQUFBQQ==
            stringData: {plain: not-base64-at-all!}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: default}
            data: {text: not base64!}
            binaryData: {blob: AAEC}

            """
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/secret.yaml": secret,
            "apps/valid.yaml": valid,
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bin, namespace: default}\nbinaryData:\n  blob: AAE\n",
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { Self.titles.contains($0.title ?? "") }
        #expect(problems.count == 2, "\(problems)")
        let token = try #require(problems.first { $0.location?.file == "apps/secret.yaml" })
        #expect(token.level == .error && token.location?.line == 8, "\(token)")
        #expect(token.message.contains("data.token is not base64 (illegal base64 data at input byte 3)"), "\(token.message)")
        #expect(token.fix?.contains("Did you mean stringData?") == true)
        let blob = try #require(problems.first { $0.location?.file == "apps/cm.yaml" })
        #expect(blob.message.contains("binaryData.blob") && blob.message.contains("padding missing"), "\(blob.message)")
        // No value reaches a message.
        for problem in problems { #expect(!"\(problem.message) \(problem.fix ?? "")".contains("SECRETVALUE")) }
    }

    /// Go's `base64.StdEncoding.Decode` (what encoding/json uses for `[]byte`), case by case.
    @Test(arguments: [
        ("", nil), ("YQ==", nil), ("YWI=", nil), ("YWJj", nil), ("YW\nJj", nil), ("YWJj\r\n", nil), ("YR==", nil),
        ("YQ", 2), ("YQ=", 3), ("Y===", 1), ("YQ=a", 2), ("YQ==YQ==", 4), ("YWJj ", 4), ("a-b_", 1), ("YQ==\n", nil),
    ] as [(String, Int?)])
    func base64AsGoDecodesIt(_ input: String, _ offset: Int?) {
        #expect(Base64Std.illegalByte(Array(input.utf8)) == offset, "\(input.debugDescription)")
    }

    @Test func namesMustBeWhatTheAPIServerAccepts() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {ENV: production}\n"),
            "apps/named.yaml": configMap("Whoami_Settings", namespace: "default"),
            // An empty (unset) variable leaves `-production`.
            "apps/cert.yaml": configMap("${SECRET_DOMAIN_TYPO/./-}-${ENV}", namespace: "default"),
            "apps/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n",
            "apps/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\n  namespace: default\nspec: {ports: [{port: 80}]}\n",
            // Valid neighbours: dots in a subdomain kind, digits first in a subdomain kind, RBAC
            // names (path segments), and a custom kind.
            "apps/valid.yaml": configMap("app.settings.v2", namespace: "default") + "\n---\n" + configMap("1st", namespace: "default")
                + "\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:Reader\"}\nrules: []\n",
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.title == "Invalid object name" }
        #expect(problems.count == 4, "\(problems)")
        let at = Set(problems.compactMap(\.location))
        #expect(at == [
            SourceLocation(file: "apps/named.yaml", line: 4), SourceLocation(file: "apps/cert.yaml", line: 4),
            SourceLocation(file: "apps/ns.yaml", line: 4), SourceLocation(file: "apps/svc.yaml", line: 4),
        ], "\(problems)")
        #expect(problems.allSatisfy { $0.level == .error })
        let named = try #require(problems.first { $0.location?.file == "apps/named.yaml" })
        #expect(named.message.contains("uppercase") && named.fix?.contains("name: whoami-settings") == true, "\(named)")
        let cert = try #require(problems.first { $0.location?.file == "apps/cert.yaml" })
        #expect(cert.message.contains("\"-production\"") && cert.message.contains("variable"), "\(cert)")
        let ns = try #require(problems.first { $0.location?.file == "apps/ns.yaml" })
        #expect(ns.message.contains("DNS-1123 label") && ns.fix?.contains("name: team-a") == true, "\(ns)")
        let svc = try #require(problems.first { $0.location?.file == "apps/svc.yaml" })
        #expect(svc.message.contains("DNS-1035 label"), "\(svc)")
    }

    @Test func selectorsMustMatchTemplateLabels() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/broken.yaml": Self.deployment("whoami", selector: "matchLabels: {app: who-am-i}", labels: "{app: whoami}"),
            "apps/expr.yaml": Self.deployment("expr", selector: "matchExpressions: [{key: tier, operator: In, values: [web]}]", labels: "{app: expr, tier: db}"),
            // Valid neighbours: a subset, an expression that holds, NotIn of an absent label.
            "apps/valid.yaml": Self.deployment("fine", selector: "matchLabels: {app: fine}", labels: "{app: fine, tier: web}") + "---\n"
                + Self.deployment("exprs", selector: "matchExpressions: [{key: tier, operator: In, values: [web, db]}, {key: canary, operator: NotIn, values: [\"yes\"]}]", labels: "{app: exprs, tier: db}"),
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { Self.titles.contains($0.title ?? "") }
        #expect(problems.count == 2, "\(problems)")
        #expect(Set(problems.compactMap(\.location)) == [SourceLocation(file: "apps/broken.yaml", line: 11), SourceLocation(file: "apps/expr.yaml", line: 11)], "\(problems)")
        #expect(problems.allSatisfy { $0.level == .error && $0.message.contains("selector does not match template labels") })
    }

    /// Tester t14 F13: labels the API server refuses (ValidateLabels): a value with a space, a
    /// key with two slashes; the valid neighbours (a prefixed key, dots and dashes, an empty
    /// value) are quiet.
    @Test func labelsMustBeWhatTheAPIServerAccepts() async throws {
        func labelled(_ name: String, _ labels: String) -> String {
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \(name)\n  namespace: default\n  labels:\n\(labels)data: {a: b}\n"
        }
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/space.yaml": labelled("space", "    team: platform team\n"),
            "apps/key.yaml": labelled("key", "    a/b/c: x\n"),
            "apps/fine.yaml": labelled("fine", "    app.kubernetes.io/name: web.app-1\n    empty: \"\"\n    tier: db_2\n"),
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.title == "Invalid label" }
        #expect(problems.count == 2, "\(problems)")
        #expect(Set(problems.compactMap(\.location)) == [SourceLocation(file: "apps/space.yaml", line: 7), SourceLocation(file: "apps/key.yaml", line: 7)], "\(problems)")
        #expect(problems.allSatisfy { $0.level == .error })
        // No suggestion made from the value: it may be a substituted or decrypted secret, and a
        // changed copy (`platform-team`) escapes every mask (tester t18 F1).
        #expect(!problems.contains { ($0.fix ?? "").contains("platform") || $0.message.contains("platform") }, "\(problems)")
    }

    /// Tester t14 F13: ports and annotation keys as pkg/apis/core/validation and apimachinery
    /// judge them, each at its field's line; the valid neighbours (a named targetPort, port
    /// 65535, hostPort 0, one unnamed port, a prefixed annotation key) are quiet.
    @Test func portsAndAnnotationKeysMustBeWhatTheAPIServerAccepts() async throws {
        let service = """
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              namespace: default
              annotations:
                bad key: x
            spec:
              ports:
                - name: http
                  port: 70000
                  targetPort: Http_Port
                - name: http
                  port: 443
                  protocol: tcp
                - port: 8443
                - name: Admin_Port
                  port: 9443
                - name: again
                  port: 9443
                  nodePort: 30443

            """
        let fine = """
            apiVersion: v1
            kind: Service
            metadata:
              name: fine
              namespace: default
              annotations: {service.beta.kubernetes.io/aws-load-balancer-type: nlb}
            spec:
              ports:
                - port: 65535
                  targetPort: http

            """
        let workload = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              namespace: default
            spec:
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                    - name: app
                      image: nginx
                      ports:
                        - containerPort: 0
                          name: a-very-long-port-name
                        - containerPort: 8080
                          hostPort: 0
                          name: http

            """
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/service.yaml": service, "apps/fine.yaml": fine, "apps/workload.yaml": workload,
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { ["Invalid port", "Invalid annotation"].contains($0.title) }
        let sites = problems.compactMap { $0.location.map { "\($0.file):\($0.line ?? 0)" } }.sorted()
        #expect(sites == [
            "apps/service.yaml:11", "apps/service.yaml:12", "apps/service.yaml:13", "apps/service.yaml:15", "apps/service.yaml:16", "apps/service.yaml:17",
            "apps/service.yaml:19", "apps/service.yaml:21", "apps/service.yaml:7",
            "apps/workload.yaml:15", "apps/workload.yaml:16",
        ], "\(problems.map { "\($0.location!.line!): \($0.message)" })")
        #expect(problems.allSatisfy { $0.level == .error })
        #expect(problems.contains { $0.message.contains("spec.ports[0].port is 70000") }, "\(problems)")
        #expect(problems.contains { $0.message.contains("spec.ports[2] has no name") }, "\(problems)")
    }

    /// Data keys the API server refuses (`IsConfigMapKey` in ValidateSecret/ValidateConfigMap):
    /// characters outside `[-._a-zA-Z0-9]`, `.`/`..` and a `..` prefix, in a Secret's data and
    /// stringData and a ConfigMap's data; the valid neighbours (dots, dashes, underscores, a
    /// leading single dot as in `.dockerconfigjson`) are quiet.
    @Test func dataKeysMustBeConfigKeys() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\n  namespace: default\nstringData:\n  \"api key\": not-secret-KEYVALUE-1\n  ok.key_1-x: fine\n  .dockerconfigjson: fine\n",
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\n  namespace: default\ndata:\n  \"..\": a\n  ..hidden: b\n  \"path/file\": c\n  fine.txt: d\n",
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.title == "Invalid data key" }
        #expect(Set(problems.compactMap(\.location)) == [
            SourceLocation(file: "apps/secret.yaml", line: 7), SourceLocation(file: "apps/cm.yaml", line: 7),
            SourceLocation(file: "apps/cm.yaml", line: 8), SourceLocation(file: "apps/cm.yaml", line: 9),
        ], "\(problems)")
        #expect(problems.allSatisfy { $0.level == .error })
        let space = try #require(problems.first { $0.location?.file == "apps/secret.yaml" })
        #expect(space.message.contains("the key \"api key\" of stringData is not a valid config key"), "\(space.message)")
        #expect(problems.first { $0.location?.line == 8 }?.message.contains("must not start with '..'") == true)
        for problem in problems { #expect(!"\(problem.message) \(problem.fix ?? "")".contains("KEYVALUE")) }
    }

    /// Tester t11 F9, F10 (k8s.io/kubernetes ValidateSecret, ValidateConfigMap): a typed Secret
    /// without the keys its type requires is an error at `type:`, stringData counting as data; a
    /// ConfigMap key in both data and binaryData is an error at the binaryData key. Valid
    /// neighbours are quiet.
    @Test func typedSecretsNeedTheirKeysAndAConfigMapKeyIsWrittenOnce() async throws {
        func secret(_ name: String, type: String, _ data: String) -> String {
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(name)\n  namespace: default\ntype: \(type)\n\(data)"
        }
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/tls.yaml": secret("tls", type: "kubernetes.io/tls", "data:\n  tls.crt: YQ==\n"),
            "apps/ssh.yaml": secret("ssh", type: "kubernetes.io/ssh-auth", "stringData:\n  known_hosts: x\n"),
            "apps/basic.yaml": secret("basic", type: "kubernetes.io/basic-auth", "stringData:\n  host: x\n"),
            "apps/docker.yaml": secret("docker", type: "kubernetes.io/dockerconfigjson", "data: {}\n"),
            "apps/tls-ok.yaml": secret("tls-ok", type: "kubernetes.io/tls", "data:\n  tls.crt: YQ==\nstringData:\n  tls.key: x\n"),
            "apps/basic-ok.yaml": secret("basic-ok", type: "kubernetes.io/basic-auth", "stringData:\n  password: x\n"),
            "apps/opaque.yaml": secret("opaque", type: "Opaque", "stringData:\n  any: x\n"),
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: both\n  namespace: default\ndata:\n  both: x\n  text: y\nbinaryData:\n  both: AAEC\n  bytes: AAEC\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let typed = tree.problems.filter { $0.title == "Secret type needs a key" }
        #expect(Set(typed.compactMap(\.location)) == Set(["tls", "ssh", "basic", "docker"].map { SourceLocation(file: "apps/\($0).yaml", line: 6) }), "\(typed)")
        #expect(typed.allSatisfy { $0.level == .error })
        #expect(typed.first { $0.location?.file == "apps/tls.yaml" }?.message.contains("needs the data key tls.key, which it does not have") == true, "\(typed)")
        #expect(typed.first { $0.location?.file == "apps/basic.yaml" }?.message.contains("username or password") == true, "\(typed)")
        let duplicate = tree.problems.filter { $0.title == "Duplicate data key" }
        #expect(duplicate.map(\.location) == [SourceLocation(file: "apps/cm.yaml", line: 10)], "\(duplicate)")
        #expect(duplicate.first?.message.contains("\"both\" is in both data and binaryData") == true)
    }
}
