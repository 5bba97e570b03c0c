import Actions
import Age
import Foundation
import GPG
import Kube
import SOPS

/// The keys kustomize-controller takes from a decryption Secret the repository applies (tester
/// t14 F4). The controller's decryptor (fluxcd/kustomize-controller
/// `internal/decryptor/decryptor.go`, `ImportKeys`) gets only the Secret that
/// `spec.decryption.secretRef.name` names, in the Kustomization's own namespace, and walks its
/// `data` by `filepath.Ext(name)`: `.asc` is imported into a fresh GnuPG home (armored PGP
/// keys), `.agekey` is parsed as age identities (one per line, as age's `ParseIdentities`);
/// the exact names `sops.vault-token`, `sops.aws-kms`, `sops.azure-kv` and `sops.gcp-kms` are
/// credentials for Vault and the cloud KMSs (the constants `DecryptionVaultTokenFileName`,
/// `DecryptionAWSKmsFile`, `DecryptionAzureAuthFile`, `DecryptionGCPCredsFile` of the version
/// followed here); any other entry is skipped without a word. An entry that fails to import
/// fails the decryption ("failed to import '<name>' data from sops decryption Secret …").
/// The SOPS files of the Kustomization are then tried with exactly those keys, in memory: the
/// Secret's content (decrypted, when it is a SOPS-encrypted Secret the run's keys open) is never
/// written and never put into a message.
struct RepositoryDecryptionSecret {
    /// The credential entries the controller reads by their exact name.
    static let credentialNames: Set<String> = ["sops.vault-token", "sops.aws-kms", "sops.azure-kv", "sops.gcp-kms"]

    /// What was imported, each entry with what it gave (public keys only: `age1…`, fingerprints).
    var imported: [(entry: String, gave: String)] = []
    /// Entries the controller does not import (their names only).
    var ignored: [String] = []
    /// Entries that fail to import: the entry and why (no content).
    var failures: [(entry: String, why: String)] = []
    var chain = KeyChain(ageIdentities: [], keyring: nil)
    /// The GnuPG home the `.asc` entries were imported into, removed by `discard()`.
    var keyring: Keyring?

    /// The decryptor's import of `entries` (data key → decoded value).
    static func importing(_ entries: [(name: String, value: Data)]) -> RepositoryDecryptionSecret {
        var result = RepositoryDecryptionSecret()
        var identities: [X25519Identity] = []
        for (name, value) in entries.sorted(by: { $0.name < $1.name }) {
            switch extensionOf(name) {
            case ".agekey":
                do {
                    let parsed = try AgeIdentityFile.parse(String(decoding: value, as: UTF8.self))
                    identities += parsed.map(\.identity)
                    let recipients = parsed.map(\.identity.name)
                    result.imported.append((name, recipients.isEmpty ? "no age identity" : "\(recipients.count == 1 ? "the age identity of" : "\(recipients.count) age identities, of") \(recipients.joined(separator: ", "))"))
                } catch {
                    // The line only: the reason may quote the text, and the text is a key.
                    result.failures.append((name, "its line \(error.line) is not an age identity age accepts"))
                }
            case ".asc":
                do {
                    let ring = try result.keyring ?? Keyring.create()
                    result.keyring = ring
                    ScratchFolders.record(ring.directory)
                    let imported = try ring.importKeys(value)
                    let secret = (try? ring.secretKeys()) ?? []
                    if imported.considered == 0 {
                        result.failures.append((name, "it holds no OpenPGP key (gpg: no valid OpenPGP data found)"))
                    } else if secret.isEmpty {
                        result.imported.append((name, "no PGP private key (only public keys)"))
                    } else {
                        result.imported.append((name, "the PGP key\(secret.count == 1 ? "" : "s") \(secret.map { $0.fingerprint.uppercased() }.joined(separator: ", "))"))
                    }
                } catch {
                    result.failures.append((name, "gpg cannot import it"))
                }
            default:
                if credentialNames.contains(name) {
                    result.imported.append((name, "credentials for \(name.dropFirst("sops.".count))"))
                } else {
                    result.ignored.append(name)
                }
            }
        }
        result.chain = KeyChain(ageIdentities: identities, keyring: result.keyring)
        return result
    }

    /// Go's `filepath.Ext`: from the last dot of the name's last element, "" without one.
    static func extensionOf(_ name: String) -> String {
        let last = name.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? name
        guard let dot = last.lastIndex(of: ".") else { return "" }
        return String(last[dot...])
    }

    func discard() {
        if let keyring {
            keyring.destroy()
            ScratchFolders.remove(keyring.directory)
        }
    }

    /// "age.agekey (the age identity of age1…), sops.asc (the PGP key 0123…)".
    var importedText: String {
        imported.isEmpty ? "nothing" : imported.map { "\($0.entry) (\($0.gave))" }.joined(separator: ", ")
    }

    /// The sentence naming entries the controller skips, "" when none.
    var ignoredText: String {
        guard !ignored.isEmpty else { return "" }
        return " Not imported by kustomize-controller: \(ignored.joined(separator: ", ")) (its name must end in .agekey for age identities or .asc for armored PGP keys; it imports entries by that ending only)."
    }
}

extension Reader {
    /// The data entries of a Secret as the API server stores them (`stringData` over `data`),
    /// nil when one cannot be known (SOPS ciphertext kustomize left in a generated value, a
    /// `data` value that is not base64).
    static func secretEntries(_ json: JSONValue) -> [(name: String, value: Data)]? {
        var entries: [String: Data] = [:]
        if case .object(let pairs)? = json["data"] {
            for (key, value) in pairs {
                guard let text = value.string, !Self.isCiphertext(text), let data = Data(base64Encoded: text) else { return nil }
                entries[key] = data
            }
        }
        if case .object(let pairs)? = json["stringData"] {
            for (key, value) in pairs {
                guard let text = value.string, !Self.isCiphertext(text) else { return nil }
                entries[key] = Data(text.utf8)
            }
        }
        return entries.map { ($0.key, $0.value) }
    }

    /// The Secret's content as the cluster gets it, or why it cannot be known here.
    mutating func decryptionSecretContent(_ object: KubeObject) -> Result<[(name: String, value: Data)], DecryptFailure> {
        let where_ = object.file.map { " (\($0)\(object.line.map { ":\($0)" } ?? ""))" } ?? ""
        guard object.json["sops"] != nil else {
            guard let entries = Self.secretEntries(object.json) else {
                return .failure(DecryptFailure(
                    reason: "its data\(where_) holds values fluxci cannot read before the cluster does (SOPS ciphertext a generator reads, or a value that is not base64)",
                    fix: "Create the Secret from a SOPS-encrypted manifest (kind: Secret with sops metadata), whose keys fluxci can then check."))
            }
            return .success(entries)
        }
        guard decrypt != nil else {
            return .failure(DecryptFailure(reason: "it is SOPS-encrypted\(where_) and no key was given", fix: "Pass the keys it is encrypted for (SOPS_AGE_KEY or SOPS_GPG_KEY)."))
        }
        guard let file = object.file, let texts = decryptedDocuments(file) else {
            return .failure(DecryptFailure(
                reason: "it is SOPS-encrypted\(where_) and the keys given do not open it",
                fix: "Pass a key it is encrypted for (SOPS_AGE_KEY or SOPS_GPG_KEY)."))
        }
        // Its document in the decrypted file (in memory only).
        let opened = texts.lazy.compactMap { try? Manifest.objects($0).first }.first { $0.kind == object.kind && $0.name == object.name }
        guard let opened, let entries = Self.secretEntries(opened.json) else {
            return .failure(DecryptFailure(reason: "it is SOPS-encrypted\(where_) and its decrypted data cannot be read", fix: "Check it with `sops -d \(file)`."))
        }
        return .success(entries)
    }

    /// For a Kustomization whose decryption Secret the repository applies (`owned`, in its
    /// namespace): the import problems of that Secret, and its SOPS files (`files`) that its keys
    /// do not open, at the `secretRef` (`at`). A Secret whose content cannot be known is a
    /// warning that says the check was not made. `openers` gets, for each file, what opens it in
    /// the cluster (or why that is not known), for the preflight's line.
    mutating func repositorySecretProblems(
        _ kustomization: FluxKustomization, secret: String, owned: AppliedObjects.Owned, files: [String], at: SourceLocation?
    ) -> [Annotation] {
        let id = kustomization.id
        let name = "\(id.namespace)/\(secret)"
        let applier = "which \(owned.owner) applies\(owned.object.file.map { " from \($0)" } ?? "")"
        let judged = files.compactMap { file in sopsMetadata(file).map { (file: file, metadata: $0) } }
        switch decryptionSecretContent(owned.object) {
        case .failure(let failure):
            for file in judged { decryptionSecretOpeners[file.file] = "not with \(name), the Secret Flux decrypts it with, which fluxci could not check: \(failure.reason)" }
            guard !judged.isEmpty else { return [] }
            let listed = judged.prefix(3).map(\.file).joined(separator: ", ") + (judged.count > 3 ? ", …" : "")
            return [.warning(
                "The Kustomization \(id) decrypts with the Secret \(name), \(applier), but fluxci could not check that Secret: \(failure.reason). Whether its keys open \(listed) is not known; the SOPS preflight opens them with the run's keys, which are not what kustomize-controller decrypts with.",
                title: "Decryption Secret not checked", fix: failure.fix, at: at)]
        case .success(let entries):
            // Its values are secrets like a substituteFrom Secret's: never in a message, masked
            // on GitHub (SubstitutedValues); comment lines (`# public key: age1…`) are not.
            for (_, value) in entries {
                let text = String(decoding: value, as: UTF8.self)
                secretValues.insert(text.trimmingCharacters(in: .whitespacesAndNewlines))
                for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
                    secretValues.insert(line.trimmingCharacters(in: .whitespaces))
                }
            }
            let keys = RepositoryDecryptionSecret.importing(entries)
            defer { keys.discard() }
            var found: [Annotation] = []
            for failure in keys.failures {
                found.append(.error(
                    "The Kustomization \(id) decrypts with the Secret \(name), \(applier), and kustomize-controller fails to import its entry \(failure.entry): \(failure.why) (\"failed to import '\(failure.entry)' data from sops decryption Secret '\(name)'\"), so \(id) never becomes Ready.",
                    title: "Decryption Secret not importable",
                    fix: "Put one age identity (AGE-SECRET-KEY-1…) per line under a data key ending in .agekey, or an armored PGP private key under one ending in .asc.", at: at))
            }
            var unopened: [(file: String, recipients: [String])] = []
            for file in judged {
                // A KMS or Vault recipient opens with credentials the controller may run with.
                if file.metadata.allKeys.contains(where: { if case .other = $0 { true } else { false } }) { continue }
                do {
                    try keys.chain.recoverDataKey(file.metadata)
                    decryptionSecretOpeners[file.file] = "in the cluster: \(name) opens it (\(keys.imported.map(\.entry).joined(separator: ", ")))"
                } catch {
                    unopened.append((file.file, file.metadata.allKeys.map(\.description)))
                }
            }
            if let first = unopened.first {
                let others = unopened.dropFirst().map(\.file)
                found.append(.error(
                    "The Kustomization \(id) decrypts with the Secret \(name), \(applier), from which kustomize-controller imports \(keys.importedText).\(keys.ignoredText) \(first.file) is encrypted for \(first.recipients.joined(separator: ", ")), and none of the imported keys opens it\(others.isEmpty ? "" : " (nor \(others.prefix(3).joined(separator: ", "))\(others.count > 3 ? ", …" : ""))"): kustomize-controller decrypts only with that Secret's keys, fails (\"failed to get the data key required to decrypt the SOPS file\"), and \(id) never becomes Ready. (The run's own keys open it, but they are not the Secret's.)",
                    title: "Not encrypted for the decryption Secret",
                    fix: keys.ignored.isEmpty
                        ? "Put the private key of one of the file's recipients in \(name) (a data key ending in .agekey for age, .asc for PGP), or add the Secret's key to the file's creation rule in .sops.yaml and run `sops updatekeys \(first.file)`."
                        : "Rename the entr\(keys.ignored.count == 1 ? "y" : "ies") \(keys.ignored.joined(separator: ", ")) to end in .agekey (age identities) or .asc (armored PGP keys), e.g. age.agekey, if \(keys.ignored.count == 1 ? "it holds" : "they hold") the key the file is encrypted for.",
                    at: at))
            }
            return found
        }
    }
}
