import Actions
import Foundation
import GPG
import Kube

/// The Secrets Flux's kustomize-controller reads keys from (`spec.decryption.secretRef`): every
/// data key ending in `.asc` is imported as a PGP key, every one ending in `.agekey` holds age
/// identities.
struct DecryptionSecrets {
    struct Names: Equatable {
        var gpg = "sops-gpg"
        var age = "sops-age"
    }

    enum Which: String, CaseIterable {
        case gpg, age
    }

    var namespace = "flux-system"
    var names = Names()

    /// The manifests, built in memory from the keyring: the armored secret keys as `sops.asc`,
    /// the age identities as `age.agekey`. Key material never touches the disk or a command line.
    func manifests(from keys: ImportedKeys, which: Set<Which>, reporter: Reporter) throws -> [KubeObject] {
        var objects: [KubeObject] = []
        if which.contains(.gpg) {
            guard !keys.pgp.isEmpty else {
                throw Annotation.error(
                    "No PGP key was imported, so there is nothing for \(names.gpg).", title: "No PGP key",
                    fix: "Set SOPS_GPG_KEY, or create only the age Secret (--only age).")
            }
            let armor: String
            do {
                // Flux cannot give a passphrase: a protected key goes to it as a copy without one,
                // made in a scratch keyring (the run's keyring keeps it protected).
                armor = String(decoding: try keys.keyring.exportSecretKeysWithoutPassphrase(keys.pgp.map(\.fingerprint)), as: UTF8.self)
            } catch {
                throw KeyErrors.annotation(for: error, source: "the keyring")
            }
            reporter.mask(armor)
            objects.append(secret(names.gpg, key: "sops.asc", value: armor))
        }
        if which.contains(.age) {
            guard !keys.age.isEmpty else {
                throw Annotation.error(
                    "No age identity was imported, so there is nothing for \(names.age).", title: "No age identity",
                    fix: "Set SOPS_AGE_KEY or SOPS_AGE_KEY_FILE, or create only the PGP Secret (--only gpg).")
            }
            let identities = keys.age.map { $0.encoded + "\n" }.joined()
            reporter.mask(identities)
            objects.append(secret(names.age, key: "age.agekey", value: identities))
        }
        return objects
    }

    func namespaceObject() -> KubeObject {
        KubeObject(.object([("apiVersion", .string("v1")), ("kind", .string("Namespace")), ("metadata", .object([("name", .string(namespace))]))]))
    }

    private func secret(_ name: String, key: String, value: String) -> KubeObject {
        KubeObject(.object([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .object([("name", .string(name)), ("namespace", .string(namespace)), ("labels", .object([("app.kubernetes.io/managed-by", .string("fluxci"))]))])),
            ("type", .string("Opaque")),
            ("data", .object([(key, .string(Data(value.utf8).base64EncodedString()))])),
        ]))
    }

    /// Applies the namespace and the Secrets; says for each whether it was created, updated or
    /// already as wanted (comparing resource versions, so a re-run says "unchanged").
    func apply(_ objects: [KubeObject], client: KubeClient, reporter: Reporter) async throws -> [(String, String)] {
        do {
            _ = try await client.apply(namespaceObject())
            let secrets = try await client.resource(apiVersion: "v1", kind: "Secret")
            var results: [(String, String)] = []
            for object in objects {
                let before = try await client.fetch(secrets, namespace: namespace, name: object.name)?["metadata", "resourceVersion"]
                let result = try await client.apply(object)
                let verdict = result.created ? "created" : before == result.live["metadata", "resourceVersion"] ? "unchanged" : "updated"
                reporter.log("Secret \(namespace)/\(object.name): \(verdict)")
                results.append((object.name, verdict))
            }
            return results
        } catch {
            throw KubeErrors.annotation(error)
        }
    }

    /// The manifests as YAML with every data value replaced by its size: what --dry-run prints.
    static func redactedYAML(_ objects: [KubeObject]) -> String {
        objects.map { object in
            let data = (object.json["data"]?.object ?? []).map { "    \($0.key): <redacted, \(Data(base64Encoded: $0.value.string ?? "")?.count ?? 0) bytes>" }
            return """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: \(object.name)
                  namespace: \(object.namespace ?? "")
                type: Opaque
                data:
                \(data.joined(separator: "\n"))
                """
        }.joined(separator: "\n---\n") + "\n"
    }
}
