import Actions
import Age
import Foundation
import Testing
import TestSupport

@testable import Flux

/// The decryption Secret a Kustomization names (tester t5 A): kustomize-controller reads it from
/// the API server at reconcile time, so one the repository creates (applied by a parent, or by a
/// Kustomization it depends on) satisfies it; one created by an unrelated Kustomization is a race.
@Suite struct DecryptionSecretTests {
    static let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n"
    /// An age identity, not a placeholder: kustomize-controller's ImportKeys parses every
    /// `.agekey` entry of the Secret before it builds, and "placeholder" fails that import
    /// (tester t14 F4).
    static let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: team-a\nstringData:\n  age.agekey: \(X25519Identity.generate().encoded)\n"
    static let decrypts = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"

    @Test func aSecretTheParentCreatesSatisfiesTheKustomization() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/ns.yaml": Self.namespace,
            "clusters/c/sops-age.yaml": Self.secret,
            "clusters/c/x.yaml": kustomization("x", namespace: "team-a", path: "./apps", extra: Self.decrypts),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.problems.filter { ($0.title ?? "").contains("Decryption Secret") }.isEmpty)
        #expect(tree.errors.isEmpty)
    }

    @Test func aSecretAnotherKustomizationCreatesIsARaceUnlessDependedOn() async throws {
        let racing = try await Fleet.make([
            "clusters/c/ns.yaml": Self.namespace,
            "clusters/c/keys.yaml": kustomization("keys", path: "./keys"),
            "keys/sops-age.yaml": Self.secret,
            "clusters/c/x.yaml": kustomization("x", namespace: "team-a", path: "./apps", extra: Self.decrypts),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { racing.remove() }
        let tree = try racing.read()
        #expect(tree.problem("Decryption Secret mismatch") == nil)
        let race = try #require(tree.problem("Decryption Secret created by another Kustomization"))
        #expect(race.level == .warning)
        #expect(race.location == SourceLocation(file: "clusters/c/x.yaml", line: 17))
        #expect(race.fix?.contains("dependsOn: [{name: keys, namespace: flux-system}]") == true)

        let ordered = try await Fleet.make([
            "clusters/c/ns.yaml": Self.namespace,
            "clusters/c/keys.yaml": kustomization("keys", path: "./keys"),
            "keys/sops-age.yaml": Self.secret,
            "clusters/c/x.yaml": kustomization("x", namespace: "team-a", path: "./apps", extra: Self.decrypts + "  dependsOn: [{name: keys, namespace: flux-system}]\n"),
            "apps/cm.yaml": configMap("x", namespace: "default"),
        ])
        defer { ordered.remove() }
        #expect(try ordered.read().problems.filter { ($0.title ?? "").contains("Decryption Secret") }.isEmpty)
    }

    @Test func aSecretOnlyItsOwnBuildCreatesNeverArrives() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/ns.yaml": Self.namespace,
            "clusters/c/x.yaml": kustomization("x", namespace: "team-a", path: "./apps", extra: Self.decrypts),
            "apps/sops-age.yaml": Self.secret,
        ])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Decryption Secret created by itself"))
        #expect(problem.level == .error)
        #expect(problem.location == SourceLocation(file: "clusters/c/x.yaml", line: 17))
    }
}

/// Tester t5 K: `decryption: {provider: sops}` without secretRef opens only what the controller's
/// own credentials open (KMS-like recipients): an age-only file fails, a KMS one may not.
@Suite struct DecryptionWithoutSecretTests {
    static func encrypted(_ recipients: String) -> String {
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData:\n  v: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n\(recipients)  lastmodified: \"2024-01-01T00:00:00Z\"\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  version: 3.9.0\n"
    }

    @Test(arguments: [
        ("  age:\n    - recipient: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n      enc: x\n", Annotation.Level.error),
        ("  kms:\n    - arn: arn:aws:kms:eu-west-1:111122223333:key/x\n      enc: x\n", Annotation.Level.warning),
    ])
    func onlyControllerCredentialsDecrypt(recipients: String, level: Annotation.Level) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/ks.yaml": kustomization("apps", path: "./secret", extra: "  decryption: {provider: sops}\n"),
            "secret/s.yaml": Self.encrypted(recipients),
        ])
        defer { fleet.remove() }
        let problem = try #require(try fleet.read().problem("Decryption without a Secret"))
        #expect(problem.level == level)
        #expect(problem.location == SourceLocation(file: "clusters/c/ks.yaml", line: 14))
    }

    /// The preflight's claim (tester t5 K remainder): a file only Kustomizations without a
    /// secretRef decrypt is listed, one that a Kustomization with a Secret also decrypts is not.
    @Test func filesDecryptedOnlyWithoutASecretAreListed() async throws {
        let kms = "  kms:\n    - arn: arn:aws:kms:eu-west-1:111122223333:key/x\n      enc: x\n"
        let fleet = try await Fleet.make([
            "clusters/c/keyless.yaml": kustomization("keyless", path: "./keyless", extra: "  decryption: {provider: sops}\n"),
            "clusters/c/keyed.yaml": kustomization("keyed", path: "./keyed", extra: "  decryption:\n    provider: sops\n    secretRef: {name: sops-age}\n"),
            "keyless/kustomization.yaml": "resources: [s.yaml, ../shared/s.yaml]\n",
            "keyless/s.yaml": Self.encrypted(kms),
            "keyed/kustomization.yaml": "resources: [../shared/s.yaml]\n",
            "shared/s.yaml": Self.encrypted(kms).replacingOccurrences(of: "name: s,", with: "name: shared,"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(tree.sopsFilesWithoutDecryptionSecret.mapValues { $0.map(\.description) } == ["keyless/s.yaml": ["flux-system/keyless"]])
        #expect(tree.decryptedSOPSFiles == ["keyless/s.yaml", "shared/s.yaml"])
    }
}

/// Tester t11 F18: kustomize-controller decrypts a Kustomization's SOPS files only with the keys
/// of the Secret its `spec.decryption.secretRef` names. A file the run's keys open, but not the
/// keys the pipeline puts in that Secret (a PGP-only file under `sops-age`), fails in the cluster:
/// an error at the secretRef, whose fix names the Secret whose keys open it.
@Suite struct DecryptionSecretKeysTests {
    static let fingerprint = "ABCDEF0123456789ABCDEF0123456789ABCDEF01"
    static let ageRecipient = "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    static let held = DecryptionKeys(held: ["sops-age": [ageRecipient], "sops-gpg": [fingerprint]])
    static let pgp = "  pgp:\n    - fp: \(fingerprint)\n      enc: x\n"
    static let pgpKeyID = "  pgp:\n    - fp: \(fingerprint.suffix(16))\n      enc: x\n"
    static let age = "  age:\n    - recipient: \(ageRecipient)\n      enc: x\n"
    static let kms = "  kms:\n    - arn: arn:aws:kms:eu-west-1:111122223333:key/x\n      enc: x\n"

    @Test(arguments: [
        (secret: "sops-age", recipients: pgp, fix: "sops-gpg" as String?),
        (secret: "sops-gpg", recipients: age, fix: "sops-age"),
        (secret: "sops-age", recipients: age, fix: nil),
        (secret: "sops-gpg", recipients: pgp, fix: nil),
        (secret: "sops-gpg", recipients: pgpKeyID, fix: nil),
        (secret: "sops-age", recipients: pgp + kms, fix: nil),
        // No key of the run opens it: the preflight says so ("Not encrypted for the imported keys").
        (secret: "sops-age", recipients: age.replacingOccurrences(of: "age1qqq", with: "age1zzz"), fix: nil),
    ])
    func aFileTheSecretsKeysDoNotOpenIsAnErrorAtTheSecretRef(secret: String, recipients: String, fix: String?) async throws {
        let fleet = try await Fleet.make([
            "clusters/c/ks.yaml": kustomization("apps", path: "./secret", extra: "  decryption:\n    provider: sops\n    secretRef:\n      name: \(secret)\n"),
            "secret/s.yaml": DecryptionWithoutSecretTests.encrypted(recipients),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read(secrets: ["sops-age", "sops-gpg"], keys: Self.held)
        let problem = tree.problem("Not encrypted for the decryption Secret")
        guard let fix else {
            #expect(problem == nil, "\(tree.problems)")
            return
        }
        let found = try #require(problem, "\(tree.problems)")
        #expect(found.level == .error)
        #expect(found.location == SourceLocation(file: "clusters/c/ks.yaml", line: 17))
        #expect(found.message.contains("secret/s.yaml"), "\(found.message)")
        #expect(found.fix?.contains("Set spec.decryption.secretRef.name to \(fix)") == true, "\(found.fix ?? "")")
        // Without keys (a plan with none given) nothing is claimed.
        #expect(try fleet.read(secrets: ["sops-age", "sops-gpg"]).problem("Not encrypted for the decryption Secret") == nil)
    }

    /// Tester t14 F7: a file split over key groups (Shamir) needs a key of `shamir_threshold`
    /// groups (all of them when unset); `sops-age` alone opens one group of two. The run's keys
    /// together open it, so the preflight passes: only this check sees it. A threshold of 1 opens.
    @Test(arguments: [("threshold: 2", true), ("unset", true), ("threshold: 1", false)])
    func aFileSplitOverKeyGroupsNeedsAKeyOfEachGroup(_ threshold: String, _ refused: Bool) async throws {
        let groups = "  key_groups:\n    - age:\n        - recipient: \(Self.ageRecipient)\n          enc: x\n    - pgp:\n        - fp: \(Self.fingerprint)\n          enc: x\n"
            + (threshold == "unset" ? "" : "  shamir_\(threshold.replacingOccurrences(of: ": ", with: ": "))\n")
        let fleet = try await Fleet.make([
            "clusters/c/ks.yaml": kustomization("apps", path: "./secret", extra: "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"),
            "secret/s.yaml": DecryptionWithoutSecretTests.encrypted(groups),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read(secrets: ["sops-age", "sops-gpg"], keys: Self.held)
        let problem = tree.problem("Not encrypted for the decryption Secret")
        #expect((problem != nil) == refused, "\(tree.problems)")
        if refused { #expect(problem?.message.contains("split over 2 key groups, 2 of which must be opened") == true, "\(problem?.message ?? "")") }
    }

    /// Tester t11 F19: the mismatch names the Secrets the pipeline creates, and without keys says
    /// that it creates them only when given keys.
    @Test func theMismatchSaysWhetherThePipelineCreatesItsSecrets() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/ks.yaml": kustomization("apps", path: "./secret", extra: "  decryption:\n    provider: sops\n    secretRef:\n      name: other\n"),
            "secret/s.yaml": DecryptionWithoutSecretTests.encrypted(Self.age),
        ])
        defer { fleet.remove() }
        let without = try #require(try fleet.read(secrets: ["sops-age", "sops-gpg"]).problem("Decryption Secret mismatch"))
        #expect(without.message.contains("the pipeline creates flux-system/sops-age and flux-system/sops-gpg when given keys (a plan without keys creates none)"), "\(without.message)")
        let with = try #require(try fleet.read(secrets: ["sops-age"], keys: DecryptionKeys(held: ["sops-age": [Self.ageRecipient]])).problem("Decryption Secret mismatch"))
        #expect(with.message.contains("the pipeline creates flux-system/sops-age, and"), "\(with.message)")
    }
}
