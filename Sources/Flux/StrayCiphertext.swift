import Actions
import Kube
import Yams

/// SOPS ciphertext in an object that carries no sops metadata (tester t12 F16): kustomize runs
/// before kustomize-controller decrypts, and its decryptor (`DecryptResource`) opens only
/// objects with a `sops` field (and Secrets whose values are whole SOPS documents), so a value
/// a `replacements` entry (or a var, a patch) copied out of an encrypted object reaches the
/// cluster as `ENC[AES256_GCM,…]`.
enum StrayCiphertext {
    /// The path of the first leaf of `value` (a string, number or bool) that `matches`, below
    /// `path`; nil when none does.
    static func firstLeaf(_ value: JSONValue, _ path: [Origins.FieldKey] = [], where matches: (JSONValue) -> Bool) -> [Origins.FieldKey]? {
        switch value {
        case .object(let pairs):
            for (key, child) in pairs { if let found = firstLeaf(child, path + [.key(key)], where: matches) { return found } }
            return nil
        case .array(let items):
            for (index, item) in items.enumerated() { if let found = firstLeaf(item, path + [.index(index)], where: matches) { return found } }
            return nil
        case .null: return nil
        default: return matches(value) ? path : nil
        }
    }

    /// The first field of `object` holding a SOPS-encrypted value, when the object has no sops
    /// metadata; nil otherwise.
    static func field(_ object: KubeObject) -> [Origins.FieldKey]? {
        guard object.json["sops"] == nil else { return nil }
        return firstLeaf(object.json) { $0.string.map { $0.hasPrefix("ENC[AES256_GCM,data:") && $0.hasSuffix("]") } ?? false }
    }

    /// `at` gives a field's location (FieldSites); `document` is the object's node in its file.
    static func problem(_ object: KubeObject, document: Node?, appliedBy id: FluxKustomization.Reference, at: ([Origins.FieldKey]) -> SourceLocation?) -> Annotation? {
        guard let field = field(object) else { return nil }
        let dotted = Origins.dotted(field)
        return .error(
            "\(object.reference), which \(id) applies, holds SOPS ciphertext at \(dotted) but carries no sops metadata: kustomize-controller decrypts only objects with sops metadata (after kustomize has built them), so the encrypted text (ENC[AES256_GCM,…]) is applied as it is. A `replacements` entry, a var or a patch copying a field of a SOPS-encrypted object gives this.",
            title: "Not decrypted by Flux",
            fix: "Copy the value from a plain source, or let the workload read the Secret at run time (secretKeyRef, a mounted Secret) instead of copying it.",
            at: site(field, of: object, document: document, at: at))
    }

    /// The patch that writes `field`, or its line in the object's own file; a field neither
    /// writes (a `replacements` entry copied it there) is placed at the object's first line,
    /// not at a parent key.
    private static func site(_ field: [Origins.FieldKey], of object: KubeObject, document: Node?, at: ([Origins.FieldKey]) -> SourceLocation?) -> SourceLocation? {
        if let site = at(field), site.file != object.file || Origins.isWritten(field, in: document) { return site }
        return object.file.map { SourceLocation(file: $0, line: object.line) }
    }

    /// A plain value where an encrypted object's own rule (`sops.encrypted_regex`, the rule of
    /// Flux's SOPS guide) says every value is encrypted (tester t14 F16): a patch or transformer
    /// merged it into the encrypted object after sops wrote it, and kustomize-controller's
    /// decryption of the built object fails on it ("Input string … does not match sops' data
    /// format"). Only that rule is judged (the others never give a false error here). The first
    /// such field, or nil.
    static func plainField(_ object: KubeObject) -> [Origins.FieldKey]? {
        guard let pattern = object.json["sops", "encrypted_regex"]?.string, !pattern.isEmpty, let regex = try? Regex(pattern) else { return nil }
        func walk(_ value: JSONValue, _ path: [Origins.FieldKey]) -> [Origins.FieldKey]? {
            switch value {
            case .object(let pairs):
                for (key, child) in pairs where !(path.isEmpty && key == "sops") {
                    if key.firstMatch(of: regex) != nil {
                        // Every value below is encrypted: a string holds ENC[…], nothing else.
                        if let found = firstLeaf(child, path + [.key(key)], where: { !($0.string?.hasPrefix("ENC[") ?? false) }) { return found }
                    } else if let found = walk(child, path + [.key(key)]) {
                        return found
                    }
                }
                return nil
            case .array(let items):
                for (index, item) in items.enumerated() { if let found = walk(item, path + [.index(index)]) { return found } }
                return nil
            default: return nil
            }
        }
        return walk(object.json, [])
    }

    static func plainProblem(_ object: KubeObject, document: Node?, appliedBy id: FluxKustomization.Reference, at: ([Origins.FieldKey]) -> SourceLocation?) -> Annotation? {
        guard let field = plainField(object) else { return nil }
        let dotted = Origins.dotted(field)
        // Not in the object's own (encrypted) file: a patch of the build put it there, and is
        // where it is annotated when found.
        return .error(
            "\(object.reference), which \(id) applies, is SOPS-encrypted (encrypted_regex \(object.json["sops", "encrypted_regex"]?.string ?? "")) but holds a plain value at \(dotted), which a patch or transformer of the build merged into it: kustomize-controller decrypts the built object, and the decryption fails on that value (\"does not match sops' data format\"), so \(id) never becomes Ready.",
            title: "Plain value in an encrypted object",
            fix: "Encrypt the patch that adds it (as a SOPS file under patches:), or keep the value in another object, or under a key the encrypted_regex does not select.",
            at: site(field, of: object, document: document, at: at))
    }
}
