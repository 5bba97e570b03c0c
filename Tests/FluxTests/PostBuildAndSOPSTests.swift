import Actions
import Foundation
import Kube
import Testing
import TestSupport
import Age
import SOPS

@testable import Flux

@Suite struct PostBuildAndSOPSTests {
    /// postBuild: variables from a ConfigMap built by the parent resolve a child's path; `$$`
    /// escapes; the disabled annotation leaves an object alone; substitute wins over substituteFrom.
    @Test func substitutionResolvesChildPaths() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/settings.yaml": configMap("cluster-settings", namespace: "flux-system", data: "CLUSTER: prod\n  REPLICAS: \"3\""),
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps/base", extra: """
                  postBuild:
                    substitute: {GREETING: hello}
                    substituteFrom:
                      - kind: ConfigMap
                        name: cluster-settings
                      - kind: Secret
                        name: optional-one
                        optional: true
                """),
            "apps/base/child.yaml": kustomization("child", path: "./apps/${CLUSTER}"),
            "apps/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars, namespace: default}\ndata:\n  greeting: ${GREETING}\n  escaped: $${GREETING}\n  fallback: ${MISSING:=dflt}\n  upper: ${CLUSTER^^}\n",
            "apps/base/raw.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: raw, namespace: default, annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}}\ndata: {x: '${GREETING}'}\n",
            "apps/base/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec: {replicas: '${REPLICAS}'}\n",
            "apps/prod/cm.yaml": configMap("prod", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        let child = try #require(tree.kustomization("flux-system/child"))
        #expect(child.path == "apps/prod")
        #expect(tree.builds[child.id] == .built)
        let objects = tree.objects[.init(namespace: "flux-system", name: "apps")] ?? []
        let vars = try #require(objects.first { $0.name == "vars" })
        #expect(vars.json["data", "greeting"]?.string == "hello")
        #expect(vars.json["data", "escaped"]?.string == "${GREETING}")
        #expect(vars.json["data", "fallback"]?.string == "dflt")
        #expect(vars.json["data", "upper"]?.string == "PROD")
        #expect(objects.first { $0.name == "raw" }?.json["data", "x"]?.string == "${GREETING}")
        // Substituted text (kustomize prints the string plain) is read as YAML again: a number.
        #expect(objects.first { $0.kind == "Deployment" }?.json["spec", "replicas"]?.int == 3)
        var unresolved: Set<String> = []
        #expect(try PostBuild.substitute("a: ${X}\nb: $$$y\nc: ${Y:-z}", variables: ["Q": "1"], unresolved: &unresolved) == "a: \nb: $$y\nc: z")
        #expect(unresolved == ["X"])
    }

    /// An unset variable's warning names where it is read: its first use (the object's own
    /// file first), and how many more there are, a patch in the kustomization.yaml included;
    /// `$${NAME}` (an escape) and `${NAME_2}` (another name) are no use of NAME.
    @Test func anUnsetVariableIsNamedAtItsFirstUse() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {SET: x}\n"),
            "apps/kustomization.yaml": """
                resources: [cm.yaml, deploy.yaml]
                patches:
                  - target: {kind: Deployment}
                    patch: |
                      - op: add
                        path: /metadata/labels
                        value: {domain: "${DOMAIN}"}
                """,
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata:\n  escaped: $${DOMAIN}\n  other: ${DOMAIN_2:=x}\n  host: www.${DOMAIN}\n  length: '${#DOMAIN}'\n  set: ${SET}\n",
            "apps/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec: {replicas: 1}\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let unset = try #require(tree.problem("Variables not set"), "\(tree.problems)")
        #expect(unset.message.contains("uses the variable DOMAIN (read at apps/cm.yaml:7 and 2 more places), which"), "\(unset.message)")
        #expect(unset.location == SourceLocation(file: "apps/cm.yaml", line: 7), "the first read, the line a typo is on (tester t21 F5)")
        #expect(PostBuild.uses(of: "A", in: "x: ${A}\ny: $${A}\nz: $$${A}\nw: ${AB} ${A_}\nv: ${#A} ${A:=1} ${A/b/c}\n") == [1, 3, 5, 5, 5])
    }

    /// A missing substituteFrom source is Flux's build failure, at the reference's line.
    @Test func missingSubstituteFromIsReported() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-setings\n"),
            "clusters/c/settings.yaml": configMap("cluster-settings", namespace: "flux-system"),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Unknown substituteFrom"))
        #expect(problem.location == SourceLocation(file: "clusters/c/apps.yaml", line: 17))
        #expect(problem.message.contains("Did you mean cluster-settings?"))
    }

    /// Item 2: SOPS files reached through generators (every format sops writes) and through
    /// encrypted Secrets in the output are counted; a SOPS-encrypted substituteFrom Secret is
    /// decrypted with the run's keys, and without keys its variables are named.
    @Test func sopsFilesReachedThroughGeneratorsAndSubstitution() async throws {
        let age = try await AgeKeyPair.generate()
        let scratch = try TestPaths.temporaryDirectory("fluxci-sops-inputs")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func encrypt(_ name: String, _ text: String, type: String? = nil, regex: String? = nil) async throws -> String {
            let file = scratch.appendingPathComponent(name)
            try text.write(to: file, atomically: true, encoding: .utf8)
            var arguments = ["--encrypt", "--age", age.recipient]
            if let type { arguments += ["--input-type", type, "--output-type", type] }
            if let regex { arguments += ["--encrypted-regex", regex] }
            return try await SopsTool.run(arguments + [file.path])
        }
        let dotenv = try await encrypt("db.env", "PASSWORD=secret\n")
        let ini = try await encrypt("app.ini", "[db]\npassword = secret\n")
        let json = try await encrypt("creds.json", "{\"token\": \"secret\"}")
        let binary = try await encrypt("key.bin", "raw secret bytes", type: "binary")
        let settings = try await encrypt("secrets.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: cluster-secrets\n    namespace: flux-system\nstringData:\n    DB_HOST: db.internal\n", regex: "^(data|stringData)$")
        let fleet = try await Fleet.make([
            "clusters/c/secrets.sops.yaml": settings,
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: """
                  decryption: {provider: sops, secretRef: {name: sops-age}}
                  postBuild:
                    substituteFrom: [{kind: Secret, name: cluster-secrets}]
                """),
            "apps/kustomization.yaml": """
                resources: [cm.yaml]
                secretGenerator:
                  - name: db
                    namespace: default
                    envs: [db.env]
                    files: [app.ini, token=creds.json, key.bin]
                """,
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: host, namespace: default}\ndata: {host: '${DB_HOST}'}\n",
            "apps/db.env": dotenv, "apps/app.ini": ini, "apps/creds.json": json, "apps/key.bin": binary,
        ])
        defer { fleet.remove() }
        let withoutKeys = try fleet.read(secrets: [])
        let apps = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        #expect(withoutKeys.sopsFiles[apps] == ["apps/app.ini", "apps/creds.json", "apps/db.env", "apps/key.bin"])
        #expect(withoutKeys.sopsFiles[.init(namespace: "flux-system", name: "flux-system")] == ["clusters/c/secrets.sops.yaml"])
        #expect(withoutKeys.problem("Variables not resolved")?.message.contains("DB_HOST") == true)
        #expect(withoutKeys.problem("No decryption") != nil, "the root reaches an encrypted Secret without decryption")
        // The generated Secret is placed at its generator entry.
        let generated = try #require(withoutKeys.objects[apps]?.first { $0.kind == "Secret" })
        #expect(generated.file == "apps/kustomization.yaml" && generated.line == 3)
        let chain = KeyChain(ageIdentities: [try X25519Identity(parsing: age.identity)], keyring: nil)
        let directory = fleet.directory
        let decrypt: ClusterTreeReader.Decrypt = { file in
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return try TreeEmitter.yaml(try SOPSDecryptor.decrypt(try SOPSFile(text: text, path: file), with: chain).map(\.tree))
        }
        let withKeys = try fleet.read(secrets: ["sops-age"], decrypt: decrypt)
        #expect(withKeys.problem("Variables not resolved") == nil)
        #expect(withKeys.objects[apps]?.first { $0.name == "host" }?.json["data", "host"]?.string == "db.internal")
    }
}

