import Actions
import Kube
import Yams

/// Custom resources checked against the CustomResourceDefinitions the fleet installs (Flux's
/// own in gotk-components.yaml, and every CRD a Kustomization applies), as the API server
/// checks them on kustomize-controller's server-side dry-run (`StructuralSchema`). A rejected
/// object fails the dry-run of the Kustomization that applies it — all of that Kustomization's
/// objects stay unapplied (fluxcd/pkg ssa `ApplyAllStaged` dry-runs every object before it
/// applies any) — so the problem belongs to the applying Kustomization, at the field's line;
/// a rejected Flux Kustomization is never created, so it is not built.
struct CRDSchemas {
    /// `group|kind` → the CRD objects' JSON.
    private var definitions: [String: [JSONValue]] = [:]

    mutating func add(_ objects: [KubeObject]) {
        for object in objects where object.kind == "CustomResourceDefinition" && object.apiVersion.hasPrefix("apiextensions.k8s.io/") {
            guard let group = object.json["spec", "group"]?.string, let kind = object.json["spec", "names", "kind"]?.string else { continue }
            definitions["\(group)|\(kind)", default: []].append(object.json)
        }
    }

    /// Whether a CRD of the fleet defines `object`'s kind (whatever its versions).
    func defines(_ object: KubeObject) -> Bool {
        let parts = object.apiVersion.split(separator: "/").map(String.init)
        return parts.count == 2 && definitions["\(parts[0])|\(object.kind)"] != nil
    }

    /// The check of `object` (applied by `owner`; `at` gives a field's location: FieldSites): its
    /// errors, one per location, none when no CRD of the fleet serves its version or the object
    /// passes; and the rules not evaluated. A field postBuild
    /// substituted (it differs from `before`, the build's JSON) is described by its text before
    /// substitution, never by its value (which may come from a decrypted Secret; tester t9 F5).
    /// What one check of `object` against its CRD found: the problems, and the CEL rules of the
    /// CRD that apply to it and that fluxci cannot evaluate (`StructuralSchema.unevaluatedRules`:
    /// the CRD's name, the rule, and the field it sits on).
    struct Checked {
        var problems: [Annotation] = []
        var unevaluated: [(crd: String, rule: String, field: [Origins.FieldKey])] = []
    }

    func check(_ object: KubeObject, appliedBy owner: FluxKustomization.Reference, at: ([Origins.FieldKey]) -> SourceLocation?, before: JSONValue? = nil) -> Checked {
        let parts = object.apiVersion.split(separator: "/").map(String.init)
        guard parts.count == 2, let definition = definitions["\(parts[0])|\(object.kind)"]?.last,
            let schema = StructuralSchema.schema(in: definition, version: parts[1])
        else { return Checked() }
        // kustomize-controller applies with server-side apply, which refuses undeclared fields
        // (tester t12 F14: a `dependOn` typo, a v2beta1 field in a v2 HelmRelease).
        // A SOPS-encrypted value (ENC[…]) is checked once decrypted, not as ciphertext: Flux
        // decrypts the object before it applies it (tester t14 F22).
        let encrypted = object.json["sops"] != nil
        // Its sops metadata is removed when kustomize-controller decrypts it.
        var applied = object.json
        if encrypted { applied.remove("sops") }
        let validation = StructuralSchema.validation(applied, against: schema, undeclared: true)
        let violations = validation.violations.filter { violation in
            !(encrypted && Self.valueText(object.json, violation.path).hasPrefix("ENC["))
        }
        let fields = Self.fields
        let crd = definition["metadata", "name"]?.string ?? "\(object.kind).\(parts[0])"
        let unevaluated = validation.unevaluated.map { (crd, $0.message, fields($0.path)) }
        // One annotation per line that writes a refused value (tester t18 F12: two operations of
        // one patch, each on its own line, each annotated there), in the API server's order.
        var groups: [(location: SourceLocation?, violations: [StructuralSchema.Violation])] = []
        for violation in violations {
            let location = at(fields(violation.path))
            if let index = groups.firstIndex(where: { $0.location == location }) {
                groups[index].violations.append(violation)
            } else {
                groups.append((location, [violation]))
            }
        }
        let problems = groups.map { group in
            annotation(object, group.violations, at: group.location, definition: definition, owner: owner, encrypted: encrypted, before: before, fields: fields)
        }
        return Checked(problems: problems, unevaluated: unevaluated)
    }

    static func fields(_ path: [StructuralSchema.PathElement]) -> [Origins.FieldKey] {
        path.map { element -> Origins.FieldKey in
            switch element {
            case .key(let key): .key(key)
            case .index(let index): .index(index)
            }
        }
    }

    private func annotation(
        _ object: KubeObject, _ violations: [StructuralSchema.Violation], at location: SourceLocation?, definition: JSONValue, owner: FluxKustomization.Reference,
        encrypted: Bool, before: JSONValue?, fields: ([StructuralSchema.PathElement]) -> [Origins.FieldKey]
    ) -> Annotation {
        let parts = object.apiVersion.split(separator: "/").map(String.init)
        let first = violations[0]
        func described(_ violation: StructuralSchema.Violation) -> String {
            // A decrypted value is a secret: the API server's words without it.
            if encrypted { return "\(violation.field): \(Self.withoutValue(violation.message))" }
            guard let source = SubstitutedValues.source(at: fields(violation.path), before: before, after: object.json) else { return "\(violation.field): \(violation.message)" }
            let substituted = "the value postBuild substitution gives\(source.isEmpty ? "" : " to `\(source)`")"
            return "\(violation.field): \(violation.expectedType.map { "\(substituted) must be of type \($0)" } ?? "\(substituted) is refused (\(violation.reason))")"
        }
        let listed = violations.prefix(3).map(described).joined(separator: "; ") + (violations.count > 3 ? "; and \(violations.count - 3) more" : "")
        let substituted = SubstitutedValues.source(at: fields(first.path), before: before, after: object.json) != nil
        let crd = definition["metadata", "name"]?.string ?? "\(object.kind).\(parts[0])"
        let isKustomization = FluxKustomization(object) != nil
        let leaf = first.path.last.flatMap { if case .key(let key) = $0 { key } else { nil } } ?? first.field
        let nearest = first.declared.min { ClusterTreeReader.distance(Array(leaf), Array($0)) < ClusterTreeReader.distance(Array(leaf), Array($1)) }
        let typeFix: String = switch first.expectedType {
        case "string" where substituted:
            "Put the quotes in the variable's value (`VAR: '\"…\"'`): unquoted, Flux reads the substituted text as a number or boolean."
        case "string" where encrypted:
            "Quote the value in the plain file and encrypt it again (sops keeps a quoted value a string)."
        case "string":
            "Quote the value (`\(leaf): \"\(Self.valueText(object.json, first.path))\"`): unquoted, YAML reads it as a number or boolean."
        case let type?: "Give \(first.field) a value of type \(type), as the CRD \(crd) requires."
        case nil: "Correct \(first.field) as the CRD \(crd) requires."
        }
        let fix = first.reason == "FieldNotDeclared"
            ? "Remove \(first.field) or correct its name\(nearest.map { " (did you mean \($0)?)" } ?? ""): the CRD \(crd) (\(object.apiVersion)) declares no such field, and server-side apply refuses it."
            : typeFix
        return .error(
            "The API server rejects \(object.reference) (\(object.apiVersion)), which the Kustomization \(owner) applies: \(listed) (the schema of the CRD \(crd)). kustomize-controller's server-side dry-run of \(owner) fails, so it applies none of its objects\(isKustomization ? ", and \(object.name) is never created or updated (fluxci does not build it)" : "").",
            title: "Rejected by the CRD schema", fix: fix, at: location)
    }

    /// The API server's message with the value it quotes left out (`Invalid value: "x": …` →
    /// `Invalid value (not shown: decrypted): …`, and the same for `Unsupported value`), for a
    /// decrypted object; `"object"` and `"array"` are kept.
    static func withoutValue(_ message: String) -> String {
        if message.hasPrefix("Unsupported value: "), let list = message.range(of: ": supported values: ") {
            return "Unsupported value (not shown: decrypted)" + message[list.lowerBound...]
        }
        let prefix = "Invalid value: "
        guard message.hasPrefix(prefix) else { return message }
        let rest = message.dropFirst(prefix.count)
        // A quoted value ends at `": `, a number or count at the first `: `.
        guard let end = rest.hasPrefix("\"") ? rest.range(of: "\": ").map({ rest.index(after: $0.lowerBound)..<$0.upperBound }) : rest.range(of: ": ") else { return message }
        let value = rest[..<end.lowerBound]
        guard value != "\"object\"", value != "\"array\"" else { return message }
        return "Invalid value (not shown: decrypted): " + rest[end.upperBound...]
    }

    /// The value at `path`, as YAML would print it unquoted (`1.27`, `true`).
    static func valueText(_ json: JSONValue, _ path: [StructuralSchema.PathElement]) -> String {
        var value: JSONValue? = json
        for element in path {
            switch element {
            case .key(let key): value = value?[key]
            case .index(let index): value = value?.array.flatMap { $0.indices.contains(index) ? $0[index] : nil }
            }
        }
        return value.map { $0.string ?? $0.jsonText } ?? ""
    }
}
