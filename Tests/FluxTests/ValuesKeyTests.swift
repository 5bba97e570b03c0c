import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t12 F3: a HelmRelease `valuesFrom` entry whose `valuesKey` (default `values.yaml`) is
/// not a key of the ConfigMap's `data` or the Secret's `data`/`stringData` fails helm-controller's
/// `ChartValuesFromReferences` ("… with key '…': key not found"); `optional: true` skips it.
/// Built with the real kubectl kustomize.
@Suite struct ValuesKeyTests {
    /// The release's `valuesFrom` holds `entry` (written at 4 spaces): its first line is line 15.
    static func release(_ entry: String) -> String {
        HelmReleaseReferencesTests.release("podinfo", valuesFrom: "  valuesFrom:\n" + entry.split(separator: "\n").map { "    " + $0 + "\n" }.joined())
    }

    static func fleet(entry: String, objects: String, kustomization extra: String = "", files: [String: String] = [:]) async throws -> Fleet {
        var all = [
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: extra),
            "apps/repository.yaml": HelmReleaseReferencesTests.repository,
            "apps/release.yaml": release(entry),
            "apps/values.yaml": objects,
        ]
        all.merge(files) { $1 }
        return try await Fleet.make(all)
    }

    static func object(_ kind: String, _ body: String) -> String {
        "apiVersion: v1\nkind: \(kind)\nmetadata: {name: values, namespace: flux-system}\n\(body)\n"
    }

    @Test(arguments: [
        // The default key, a near one in the data: at the entry's line.
        (entry: "- kind: ConfigMap\n  name: values", object: object("ConfigMap", "data: {values.yml: \"replicas: 2\"}"), line: 15, says: "Did you mean values.yml?"),
        // A written key: at its line, the Secret's keys named (stringData counts).
        (entry: "- kind: Secret\n  name: values\n  valuesKey: replicaCount", object: object("Secret", "stringData: {replicas: \"2\"}"), line: 17, says: "the data keys replicas"),
        // A ConfigMap's binaryData is not read.
        (entry: "- kind: ConfigMap\n  name: values", object: object("ConfigMap", "binaryData: {values.yaml: cmVwbGljYXM6IDI=}"), line: 15, says: "in its binaryData"),
        // An entry with a targetPath still reads its key.
        (entry: "- kind: ConfigMap\n  name: values\n  valuesKey: tag\n  targetPath: image.tag", object: object("ConfigMap", "data: {version: \"1\"}"), line: 17, says: "the data keys version"),
    ])
    func aMissingKeyIsAnErrorAtTheEntry(entry: String, object: String, line: Int, says: String) async throws {
        let fleet = try await Self.fleet(entry: entry, objects: object)
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Values key not found"), "\(tree.problems)")
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "apps/release.yaml", line: line), "\(problem.location as Any)")
        #expect(problem.message.contains(says), "\(problem.message)")
        #expect(problem.message.contains("key not found"), "\(problem.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")
    }

    @Test(arguments: [
        (entry: "- kind: ConfigMap\n  name: values", object: object("ConfigMap", "data: {values.yaml: \"replicas: 2\"}")),
        (entry: "- kind: Secret\n  name: values\n  valuesKey: values", object: object("Secret", "data: {values: cmVwbGljYXM6IDI=}")),
        (entry: "- kind: Secret\n  name: values", object: object("Secret", "stringData: {values.yaml: \"replicas: 2\"}")),
        // Optional: helm-controller logs the missing key and goes on.
        (entry: "- kind: ConfigMap\n  name: values\n  valuesKey: absent\n  optional: true", object: object("ConfigMap", "data: {values.yaml: \"replicas: 2\"}")),
    ])
    func aPresentOrOptionalKeyIsQuiet(entry: String, object: String) async throws {
        let fleet = try await Self.fleet(entry: entry, objects: object)
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.isEmpty, "\(tree.problems)")
    }

    /// The values object is named as the release: the release's own chart cannot make it (it
    /// installs only once the values resolve), so its keys are judged; another release of that
    /// name (its chart may write the object) or a custom resource (an ExternalSecret) leaves
    /// them unjudged.
    @Test(arguments: ["itself", "another release", "a custom resource"])
    func anObjectAnotherKindMayMakeIsNotJudged(maker: String) async throws {
        let entry = "- kind: ConfigMap\n  name: podinfo"
        let object = Self.object("ConfigMap", "data: {other: x}").replacingOccurrences(of: "name: values", with: "name: podinfo")
        var files: [String: String] = [:]
        switch maker {
        case "another release":
            // podinfo reads ConfigMap podinfo of the release podinfo in another file: rename the reader.
            files["apps/release.yaml"] = Self.release(entry).replacingOccurrences(of: "name: podinfo\n  namespace", with: "name: reader\n  namespace")
            files["apps/other.yaml"] = HelmReleaseReferencesTests.release("podinfo")
        case "a custom resource":
            files["apps/maker.yaml"] = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: podinfo, namespace: flux-system}\nspec: {encryptedData: {}}\n"
        default: break
        }
        let fleet = try await Self.fleet(entry: entry, objects: object, files: files)
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect((tree.problem("Values key not found") != nil) == (maker == "itself"), "\(maker): \(tree.problems)")
    }

    /// A generator's `files:` entry is keyed by the file's name, as kustomize writes it.
    @Test func aGeneratedConfigMapIsKeyedByItsFile() async throws {
        for (file, quiet) in [("values.yaml", true), ("podinfo.yaml", false)] {
            let fleet = try await Self.fleet(entry: "- kind: ConfigMap\n  name: values", objects: "replicas: 2\n", files: [
                "apps/kustomization.yaml": "resources: [repository.yaml, release.yaml]\nconfigMapGenerator:\n  - {name: values, namespace: flux-system, files: [\(file)=values.yaml], options: {disableNameSuffixHash: true}}\n",
            ])
            defer { fleet.remove() }
            let tree = try fleet.read()
            #expect((tree.problem("Values key not found") == nil) == quiet, "\(file): \(tree.problems)")
        }
    }

    /// A SOPS-encrypted Secret's key names are plaintext in its file: checked too.
    @Test(arguments: [true, false])
    func aSOPSEncryptedSecretsKeysAreChecked(present: Bool) async throws {
        let key = present ? "values.yaml" : "values.yml"
        let secret = Self.object("Secret", "stringData:\n  \(key): ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  version: 3.9.0")
        let fleet = try await Self.fleet(entry: "- kind: Secret\n  name: values", objects: secret, kustomization: "  decryption: {provider: sops, secretRef: {name: sops-age}}\n")
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = tree.problem("Values key not found")
        if present {
            #expect(problem == nil, "\(tree.problems)")
        } else {
            let found = try #require(problem, "\(tree.problems)")
            #expect(found.message.contains("Did you mean values.yml?"), "\(found.message)")
        }
    }

    /// An object only a Kustomization fluxci did not build may create is not judged by its keys
    /// (they are unknown): the existing warning names that Kustomization.
    @Test func anObjectOnlyAnUnbuiltKustomizationMayCreateIsNotJudged() async throws {
        let fleet = try await Self.fleet(
            entry: "- kind: ConfigMap\n  name: elsewhere", objects: Self.object("ConfigMap", "data: {a: b}"),
            files: ["clusters/c/tenant.yaml": UnbuiltSourceReferenceTests.sourcedElsewhere("tenant", source: "tenant")])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problem("Values key not found") == nil, "\(tree.problems)")
        #expect(tree.errors.isEmpty, "\(tree.errors)")
        #expect(tree.problem("Unknown values source")?.level == .warning, "\(tree.problems)")
    }
}
