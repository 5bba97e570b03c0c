import Actions
import Foundation
import Kube
import Yams

/// What kustomize-controller does with a SOPS-encrypted object of a build, which fluxci sees only
/// as ciphertext unless it decrypts it too (tester t12 F9, F15). The controller's `build()`
/// (fluxcd/kustomize-controller internal/controller/kustomization_controller.go) walks the
/// built resources and, for each, calls `DecryptResource(res)` and then
/// `SubstituteVariables(…, res)`: the object is decrypted first, its identity (apiVersion,
/// kind, metadata) is then what the apply sees, and envsubst runs on the YAML of the
/// *decrypted* object. fluxci does the same in memory with the run's keys (`decrypt`); nothing
/// decrypted is written anywhere, and no decrypted value is ever put into a message: problems
/// sit at the key's line in the SOPS file (sops leaves keys in plain text) and name the field.
extension Reader {
    /// A built object as kustomize-controller's decryptor gives it.
    struct Opened {
        /// The built object with every ENC[…] leaf replaced by its plaintext.
        var json: JSONValue
        /// The decrypted document's YAML, as `sops -d` prints it (the text envsubst runs on).
        var text: String
        /// The fields that were encrypted, with their plaintext, in document order.
        var values: [(path: [Origins.FieldKey], value: String)]
        /// The object's SOPS file and its document there (for the keys' lines).
        var file: String
        var document: Node?
    }

    /// The identity fields the apply reads. They are decrypted into the object the tree's
    /// checks see (namespace, kind installed, duplicate ids) when sops encrypted them; they are
    /// not secret once Flux applies the object: the API server, the Kustomization's
    /// `status.inventory` (`<namespace>_<name>_<group>_<kind>`) and its events show them.
    static let identityFields: [[String]] = [["apiVersion"], ["kind"], ["metadata", "name"], ["metadata", "namespace"]]

    /// Whether sops encrypted one of the object's identity fields (no `encrypted_regex` such as
    /// `^(data|stringData)$`): only the decrypted object says what is applied, and where.
    static func identityEncrypted(_ object: JSONValue) -> Bool {
        identityFields.contains { path in value(object, at: path)?.string.map(isCiphertext) ?? false }
    }

    static func value(_ object: JSONValue, at path: [String]) -> JSONValue? {
        path.reduce(Optional(object)) { $0?[$1] }
    }

    static func isCiphertext(_ text: String) -> Bool { text.hasPrefix("ENC[AES256_GCM,") && text.hasSuffix("]") }

    /// The built object `document` decrypted, when the Kustomization decrypts, the object has
    /// sops metadata and the run's keys open its file; nil otherwise. The plaintext comes from
    /// the object's file (its document there): kustomize cannot change an encrypted value
    /// without the decryption failing on it (`StrayCiphertext.plainProblem`), so each ENC[…]
    /// leaf of the built object is the file's; plain fields kustomize set stay as built.
    mutating func opened(_ document: KustomizationBuild.Document, file: String?, node: Node?, kustomization: FluxKustomization) -> Opened? {
        guard decrypt != nil, kustomization.decrypts, document.object["sops", "mac"] != nil, let file,
            let texts = decryptedDocuments(file)
        else { return nil }
        let written = origins.documents(file)
        let index: Int? = node.flatMap { node in written.firstIndex { $0.node.mark?.line == node.mark?.line } } ?? (written.count == 1 ? 0 : nil)
        guard let index, written.count == texts.count, let plain = (try? Manifest.objects(texts[index]))?.first?.json else { return nil }
        var values: [(path: [Origins.FieldKey], value: String)] = []
        func overlay(_ built: JSONValue, _ plain: JSONValue?, _ path: [Origins.FieldKey]) -> JSONValue {
            switch built {
            case .object(let pairs):
                return .object(pairs.map { key, value in
                    (path.isEmpty && key == "sops") ? (key, value) : (key, overlay(value, plain?[key], path + [.key(key)]))
                })
            case .array(let items):
                return .array(items.enumerated().map { index, item in overlay(item, plain?.array.flatMap { index < $0.count ? $0[index] : nil }, path + [.index(index)]) })
            case .string(let text) where Self.isCiphertext(text):
                guard let plain else { return built }
                if let value = plain.string ?? plain.scalarText { values.append((path, value)) }
                return plain
            default:
                return built
            }
        }
        let json = overlay(document.object, plain, [])
        return Opened(json: json, text: texts[index], values: values, file: file, document: node ?? written[index].node)
    }

    /// The decrypted documents of a SOPS file (YAML, one text each), read once per run; nil
    /// when the keys do not open it (the preflight says why).
    mutating func decryptedDocuments(_ file: String) -> [String]? {
        if let cached = decryptedFiles[file] { return cached }
        var texts: [String]?
        if let decrypt, let text = try? decrypt(file) {
            // `TreeEmitter.yaml` separates documents by a `---` line of its own.
            var documents: [String] = [""]
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line == "---" { documents.append("") } else { documents[documents.count - 1] += line + "\n" }
            }
            texts = documents
        }
        decryptedFiles[file] = .some(texts)
        return texts
    }

    /// `json` with the identity fields sops encrypted replaced by their plaintext from `opened`.
    static func withDecryptedIdentity(_ json: JSONValue, from opened: JSONValue) -> JSONValue {
        var json = json
        for path in identityFields where value(json, at: path)?.string.map(isCiphertext) ?? false {
            guard let plain = value(opened, at: path) else { continue }
            if path.count == 1 {
                json.set(path[0], plain)
            } else if case .object(var metadata)? = json["metadata"] {
                metadata = metadata.map { $0.key == path[1] ? ($0.key, plain) : $0 }
                json.set("metadata", .object(metadata))
            }
        }
        return json
    }

    /// envsubst on the decrypted object, as kustomize-controller runs it after `DecryptResource`
    /// (tester t12 F15): an expression it cannot parse fails the build (an error); a variable
    /// nothing defines is replaced by the empty string, silently changing the secret (a
    /// warning; an error in strict mode). A variable that is defined is what the user asked
    /// for: nothing is said. `plainFound`: the variables the encrypted text already read (said
    /// by the plain-manifest checks). Returns the problems, whether the build fails, and the
    /// substituted text with the variables it read that nothing set (for
    /// `decryptedSubstitutedProblems`).
    func decryptedSubstitutionProblems(
        _ opened: Opened, kustomization: FluxKustomization, variables: Variables, plainFound: Set<String>
    ) -> (problems: [Annotation], fails: Bool, substituted: Substituted?) {
        let id = kustomization.id
        let subject = "\(opened.json["kind"]?.string ?? "")/\(opened.json["metadata", "name"]?.string ?? "")"
        func site(_ path: [Origins.FieldKey]?) -> SourceLocation {
            SourceLocation(file: opened.file, line: path.flatMap { Origins.line(of: $0, in: opened.document) } ?? opened.document?.mark?.line)
        }
        let keep = "Write $${…} for a literal ${…} in the value (`sops edit \(opened.file)`; Flux's envsubst reads $${ as ${), or annotate the object kustomize.toolkit.fluxcd.io/substitute: disabled."
        var found: Set<String> = []
        let text: String
        do {
            text = try PostBuild.substitute(opened.text, variables: variables.values, unresolved: &found)
        } catch {
            // Located at the first decrypted value that fails alone (its `${…}` is the one
            // envsubst stops at); the failure's expression is part of the value: never quoted.
            let failing = opened.values.first { value in
                var ignored: Set<String> = []
                return (try? PostBuild.substitute(value.value, variables: variables.values, unresolved: &ignored)) == nil
            }
            let field = failing.map { " at \(Origins.dotted($0.path))" } ?? ""
            return ([.error(
                "The postBuild substitution of \(id) fails on the decrypted \(subject): its SOPS-encrypted value\(field) holds a ${ that Flux's envsubst cannot parse (\(error.description)). kustomize-controller decrypts each object before it substitutes it, so the build fails and \(id) never becomes Ready. The value is not shown.",
                title: "Substitution failed", fix: keep, at: site(failing?.path))], true, nil)
        }
        let substituted = Substituted(text: text, unresolved: found)
        let names = found.subtracting(plainFound).subtracting(variables.locked).sorted()
        guard !names.isEmpty, variables.openSources.isEmpty else { return ([], false, substituted) }
        func uses(_ name: String) -> [Origins.FieldKey]? { opened.values.first { !PostBuild.uses(of: name, in: $0.value).isEmpty }?.path }
        if strictSubstitution {
            let path = uses(names[0])
            return ([.error(
                "The postBuild substitution of \(id) fails on the decrypted \(subject): its SOPS-encrypted value\(path.map { " at \(Origins.dotted($0))" } ?? "") reads a variable that neither postBuild.substitute nor substituteFrom defines, and kustomize-controller runs with --feature-gates=\(PostBuild.strictFeatureGate)=true (\"variable substitution failed: variable not set (strict mode)\"). The value, and the variable's name in it, are not shown.",
                title: "Substitution failed", fix: "Define the variable in spec.postBuild, or: " + keep, at: site(path))], true, nil)
        }
        // One warning per value; the names are not shown: a `${…}` in a secret value may be part
        // of the secret (a password holding `${Zq}`; tester t20 F9).
        var byValue: [String: (path: [Origins.FieldKey]?, count: Int)] = [:]
        var order: [String] = []
        for name in names {
            let path = uses(name)
            let key = path.map(Origins.dotted) ?? ""
            if byValue[key] == nil { order.append(key) }
            byValue[key, default: (path, 0)].count += 1
        }
        return (order.map { key in
            let (path, count) = byValue[key]!
            return .warning(
                "The SOPS-encrypted value\(path.map { " at \(Origins.dotted($0))" } ?? "") of \(subject), which \(id) applies, reads \(count == 1 ? "a variable" : "\(count) variables") that neither postBuild.substitute nor substituteFrom defines: kustomize-controller substitutes the decrypted object, so each such ${…} in it becomes an empty string and the value applied is not the one encrypted. The value, and the variable names in it, are not shown.",
                title: "Variables not set", fix: keep, at: site(path))
        }, false, substituted)
    }

    /// A decrypted object's text after postBuild substitution, and the variables it read that
    /// nothing set.
    struct Substituted {
        var text: String
        var unresolved: Set<String>
    }

    /// The API server's checks of a decrypted value that holds `${`, judged on what is applied
    /// (tester t18 F9): the preflight judges decrypted values alone, and leaves those to the
    /// substitution. kustomize-controller's `build()` decrypts the object, then (when postBuild
    /// gives variables and the object does not disable it) runs envsubst on its YAML and parses
    /// it again (fluxcd/pkg kustomize `SubstituteVariables`), so the API server receives the
    /// substituted value, or the literal `${…}` without substitution. A value that reads a
    /// variable whose value fluxci cannot know (a Secret it could not decrypt, a source only an
    /// unbuilt Kustomization creates) is not judged. No value is ever shown.
    /// `substituted`: what `decryptedSubstitutionProblems` made of the object; nil when no
    /// substitution runs on it.
    func decryptedSubstitutedProblems(_ opened: Opened, kustomization: FluxKustomization, variables: Variables, substituted: Substituted?) -> [Annotation] {
        let placeholders = opened.values.filter { $0.value.contains("${") }
        guard !placeholders.isEmpty else { return [] }
        let substitutes = substituted != nil
        var applied = opened.json
        var unknown: Set<String> = []
        if let substituted {
            guard let json = (try? Manifest.objects(substituted.text))?.first?.json else { return [] }
            applied = json
            let found = substituted.unresolved
            if !variables.openSources.isEmpty { unknown = found }
            unknown.formUnion(found.intersection(variables.locked))
        }
        // Only the data fields whose decrypted value held `${`: the others were judged by the
        // preflight, and the plain fields by the plain manifest's checks.
        var judged = JSONValue.object([])
        for field in ["apiVersion", "kind", "type"] { if let value = applied[field] { judged.set(field, value) } }
        judged.set("metadata", .object([("name", applied["metadata", "name"] ?? .null), ("namespace", applied["metadata", "namespace"] ?? .null)]))
        for field in ["data", "binaryData", "stringData"] {
            guard case .object(let entries)? = applied[field] else { continue }
            judged.set(field, .object(entries.filter { key, _ in
                placeholders.contains { placeholder in
                    Origins.dotted(placeholder.path) == Origins.dotted([.key(field), .key(key)])
                        && !unknown.contains { !PostBuild.uses(of: $0, in: placeholder.value).isEmpty }
                }
            }))
        }
        let object = KubeObject(judged, file: opened.file, line: opened.document?.mark?.line)
        let key = "\(AppliedObjects.Owned.group(of: object.apiVersion))|\(object.kind)"
        let how = substitutes ? "after postBuild substitution" : "where the ${…} is applied as written: \(kustomization.id) has no postBuild variables"
        let refused = "kustomize-controller decrypts it, its server-side dry-run fails and \(kustomization.id) applies nothing (it never becomes Ready)"
        func at(_ field: [Origins.FieldKey]) -> SourceLocation {
            SourceLocation(file: opened.file, line: Origins.line(of: field, in: opened.document) ?? opened.document?.mark?.line)
        }
        return BuiltInKindValidation.byteProblems(object, key: key, encrypted: true, subject: "\(object.reference) (decrypted from \(opened.file), \(how))", refused: refused, at: at)
            + (substitutes ? AppliedObjectChecks.decryptedStringFieldProblems(object, file: opened.file, refused: refused, substituted: true, at: at) : [])
    }

    /// Without keys, an object whose identity sops encrypted cannot be checked at all (tester
    /// t12 F9): what kind it is, its name and namespace are known only once decrypted.
    static func identityUnchecked(_ object: KubeObject, appliedBy id: FluxKustomization.Reference) -> Annotation {
        .warning(
            "\(object.file ?? "An object") holds an object whose apiVersion, kind and metadata are SOPS-encrypted, which \(id) decrypts and applies: without keys fluxci cannot check it (its namespace, whether its kind is installed, duplicates), as kustomize-controller sees it only once decrypted.",
            title: "Encrypted object not checked",
            fix: "Pass the keys (SOPS_AGE_KEY or SOPS_GPG_KEY) to check it, or encrypt only its values: `sops --encrypt --encrypted-regex '^(data|stringData)$'` (encrypted_regex in .sops.yaml's creation rule, as Flux's SOPS guide does).",
            at: object.file.map { SourceLocation(file: $0, line: object.line) })
    }
}

extension JSONValue {
    /// The text of a number or bool leaf (a value sops restored to its type).
    fileprivate var scalarText: String? {
        switch self {
        case .string(let text): text
        case .number, .integer, .bool: jsonText
        default: nil
        }
    }
}
