/// The part of a CustomResourceDefinition's structural schema (`openAPIV3Schema`) that the API
/// server checks on every create and apply, as kube-apiserver's apiextensions validation does
/// it: `type` (an `integer` is a `number` too; `null` only where `nullable`), `enum`,
/// `pattern`, `required`, the schemas of `properties`, `additionalProperties` (a map's
/// values) and `items`, and the CEL rules of `x-kubernetes-validations` that `CELRule` can
/// evaluate (tester t14 F12), and the bounds of lengths, numbers, items and properties
/// (`boundViolations`, tester t19 F2). Not checked: formats, and rules `CELRule` cannot evaluate
/// (never a false rejection: what is not checked passes; `unevaluatedRules` lists them). The
/// root's `apiVersion`, `kind`, `metadata` and `status` are the server's own.
///
/// One validator for the fake API server of the tests and for the tree reader, which checks
/// what each Kustomization applies against the CRDs the fleet installs.
public enum StructuralSchema {
    public enum PathElement: Sendable, Equatable {
        case key(String), index(Int)
    }

    /// One rejected field, with the API server's reason (`FieldValueTypeInvalid`, …) and the
    /// wording of its `Invalid value` causes.
    public struct Violation: Sendable, Equatable {
        public var path: [PathElement]
        public var reason: String
        public var message: String
        /// The schema's expected type, for a `FieldValueTypeInvalid`.
        public var expectedType: String?
        /// For a field the schema does not declare: the declared fields beside it.
        public var declared: [String] = []

        /// `spec.images[0].newTag` (`<root>` for the object).
        public var field: String {
            guard !path.isEmpty else { return "<root>" }
            var text = ""
            for element in path {
                switch element {
                case .key(let key): text += text.isEmpty ? key : ".\(key)"
                case .index(let index): text += "[\(index)]"
                }
            }
            return text
        }
    }

    /// The schema of `version` in a CustomResourceDefinition object (nil when it has none).
    public static func schema(in definition: JSONValue, version: String) -> JSONValue? {
        (definition["spec", "versions"]?.array ?? []).first { $0["name"]?.string == version }?["schema", "openAPIV3Schema"]
    }

    /// `undeclared`: also refuse fields the schema does not declare, as server-side apply does
    /// ("field not declared in schema": the typed patch of an apply request is built from the
    /// schema; a create or update would prune them instead). Only where the schema lists its
    /// `properties`, without `additionalProperties` or `x-kubernetes-preserve-unknown-fields`.
    public static func validate(_ value: JSONValue, against schema: JSONValue, undeclared: Bool = false) -> [Violation] {
        validation(value, against: schema, undeclared: undeclared).violations
    }

    /// The `x-kubernetes-validations` rules that apply to `value` and that `CELRule` cannot
    /// evaluate (its reason `RuleNotEvaluated`, its message the rule): the API server checks
    /// them, fluxci does not, so a caller can say so instead of passing silently (tester t18 F4).
    public static func unevaluatedRules(_ value: JSONValue, against schema: JSONValue) -> [Violation] {
        validation(value, against: schema).unevaluated
    }

    /// `validate` and `unevaluatedRules` of one walk of `value`.
    public static func validation(_ value: JSONValue, against schema: JSONValue, undeclared: Bool = false) -> (violations: [Violation], unevaluated: [Violation]) {
        var all: [Violation] = []
        check(value, schema, [], undeclared: undeclared, &all)
        return (all.filter { $0.reason != notEvaluated }, all.filter { $0.reason == notEvaluated })
    }

    static let notEvaluated = "RuleNotEvaluated"

    /// Entries of a `x-kubernetes-list-type: set` or `map` list written twice (tester t20 F2), as
    /// apiextensions-apiserver's `listtype` validation words them ("Duplicate value: …"): a set's
    /// equal items, a map's items with equal `x-kubernetes-list-map-keys` values (a key not
    /// written takes its schema default). Each index after the first.
    static func duplicateEntries(_ items: [JSONValue], _ schema: JSONValue) -> [(Int, String)] {
        var found: [(Int, String)] = []
        switch schema["x-kubernetes-list-type"]?.string {
        case "set":
            var seen: [JSONValue] = []
            for (index, item) in items.enumerated() {
                if seen.contains(item) { found.append((index, "Duplicate value: \(item.jsonText)")) } else { seen.append(item) }
            }
        case "map":
            let keys = (schema["x-kubernetes-list-map-keys"]?.array ?? []).compactMap(\.string)
            guard !keys.isEmpty else { return [] }
            var seen: [[JSONValue]] = []
            for (index, item) in items.enumerated() {
                let values = keys.map { item[$0] ?? schema["items", "properties", $0, "default"] ?? .null }
                if seen.contains(values) {
                    let shown = zip(keys, values).map { "\"\($0)\":\($1.jsonText)" }.joined(separator: ",")
                    found.append((index, "Duplicate value: map[string]interface {}{\(shown)}"))
                } else {
                    seen.append(values)
                }
            }
        default: break
        }
        return found
    }

    /// The value validations of OpenAPI v3 a structural schema may hold (tester t19 F2), worded
    /// as apiextensions-apiserver converts kube-openapi's errors (`validation.go`
    /// `ConvertToFieldErrors`): `maxLength`/`minLength` counted in characters (Go's
    /// `utf8.RuneCountInString`), `maximum`/`minimum` with `exclusiveMaximum`/`exclusiveMinimum`,
    /// `maxItems`/`minItems`, `maxProperties`/`minProperties`.
    static func boundViolations(_ value: JSONValue, _ schema: JSONValue) -> [(reason: String, message: String)] {
        var found: [(String, String)] = []
        func bound(_ key: String) -> Double? {
            switch schema[key] {
            case .integer(let number)?: Double(number)
            case .number(let number)?: number
            default: nil
            }
        }
        func shown(_ number: Double) -> String { number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number) }
        switch value {
        case .string(let text):
            let count = text.unicodeScalars.count
            if let limit = bound("maxLength"), Double(count) > limit { found.append(("FieldValueTooLong", "Too long: may not be more than \(shown(limit)) bytes")) }
            if let limit = bound("minLength"), Double(count) < limit {
                found.append(("FieldValueInvalid", "Invalid value: \"\(text)\": should be at least \(shown(limit)) chars long"))
            }
        case .integer, .number:
            let number: Double = if case .integer(let whole) = value { Double(whole) } else if case .number(let real) = value { real } else { 0 }
            if let limit = bound("maximum") {
                let exclusive = schema["exclusiveMaximum"]?.bool == true
                if exclusive ? number >= limit : number > limit {
                    found.append(("FieldValueInvalid", "Invalid value: \(value.jsonText): should be less than \(exclusive ? "" : "or equal to ")\(shown(limit))"))
                }
            }
            if let limit = bound("minimum") {
                let exclusive = schema["exclusiveMinimum"]?.bool == true
                if exclusive ? number <= limit : number < limit {
                    found.append(("FieldValueInvalid", "Invalid value: \(value.jsonText): should be greater than \(exclusive ? "" : "or equal to ")\(shown(limit))"))
                }
            }
        case .array(let items):
            if let limit = bound("maxItems"), Double(items.count) > limit { found.append(("FieldValueTooMany", "Too many: \(items.count): must have at most \(shown(limit)) items")) }
            if let limit = bound("minItems"), Double(items.count) < limit { found.append(("FieldValueInvalid", "Invalid value: \(items.count): should have at least \(shown(limit)) items")) }
        case .object(let pairs):
            if let limit = bound("maxProperties"), Double(pairs.count) > limit { found.append(("FieldValueTooMany", "Too many: \(pairs.count): must have at most \(shown(limit)) items")) }
            if let limit = bound("minProperties"), Double(pairs.count) < limit { found.append(("FieldValueInvalid", "Invalid value: \(pairs.count): should have at least \(shown(limit)) properties")) }
        default: break
        }
        return found
    }

    static func check(_ value: JSONValue, _ schema: JSONValue, _ path: [PathElement], undeclared: Bool = false, _ violations: inout [Violation]) {
        func add(_ reason: String, _ message: String, expected: String? = nil, at where: [PathElement] = path) {
            violations.append(Violation(path: `where`, reason: reason, message: message, expectedType: expected))
        }
        let field = Violation(path: path, reason: "", message: "").field
        if let type = schema["type"]?.string {
            let ok: Bool = switch (type, value) {
            case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .integer), ("number", .integer), ("number", .number): true
            case (_, .null): schema["nullable"]?.bool ?? false
            default: false
            }
            if !ok {
                add("FieldValueTypeInvalid", "Invalid value: \"\(String(value.jsonText.prefix(60)))\": \(field) in body must be of type \(type)", expected: type)
                return
            }
        }
        if let pattern = schema["pattern"]?.string, let text = value.string, let regex = try? Regex(pattern), text.firstMatch(of: regex) == nil {
            add("FieldValueInvalid", "Invalid value: \"\(text)\": \(field) in body should match '\(pattern)'")
        }
        boundViolations(value, schema).forEach { add($0.reason, $0.message) }
        if let options = schema["enum"]?.array, !options.contains(value) {
            add("FieldValueNotSupported", "Unsupported value: \(value.jsonText): supported values: \(options.map(\.jsonText).joined(separator: ", "))")
        }
        if case .object(let all) = value {
            // A null in a field that is not nullable is pruned before defaulting and validation
            // (apiextensions: "null values for fields that either don't specify nullable or
            // specify nullable: false will be pruned"): as if the field were not written
            // (tester t14 F11).
            let pairs = all.filter { pair in
                guard case .null = pair.value else { return true }
                let child = schema["properties", pair.key] ?? schema["additionalProperties"].flatMap { if case .object = $0 { $0 } else { nil } }
                return child?["nullable"]?.bool == true
            }
            let root = path.isEmpty
            let server: Set<String> = ["metadata", "apiVersion", "kind", "status"]
            for required in schema["required"]?.array?.compactMap(\.string) ?? []
            where !(root && server.contains(required)) && !pairs.contains(where: { $0.key == required }) {
                add("FieldValueRequired", "Required value", at: path + [.key(required)])
            }
            let declared: [String] = { if case .object(let properties)? = schema["properties"] { properties.map(\.key) } else { [] } }()
            let open = schema["additionalProperties"] != nil || schema["x-kubernetes-preserve-unknown-fields"]?.bool == true
                || schema["x-kubernetes-embedded-resource"]?.bool == true || schema["x-kubernetes-int-or-string"]?.bool == true
            for (key, child) in pairs where !(root && server.contains(key)) {
                if let childSchema = schema["properties", key] ?? schema["additionalProperties"].flatMap({ if case .object = $0 { $0 } else { nil } }) {
                    check(child, childSchema, path + [.key(key)], undeclared: undeclared, &violations)
                } else if undeclared, !open, !declared.isEmpty {
                    violations.append(Violation(path: path + [.key(key)], reason: "FieldNotDeclared", message: "field not declared in schema", declared: declared))
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { check(item, itemSchema, path + [.index(index)], undeclared: undeclared, &violations) }
        }
        if case .array(let items) = value {
            for (index, message) in duplicateEntries(items, schema) { add("FieldValueDuplicate", message, at: path + [.index(index)]) }
        }
        // x-kubernetes-validations, on the value as validated (a null the schema does not allow
        // pruned), worded as kube-apiserver words a failed rule: `Invalid value: "object": <message>`.
        for validation in schema["x-kubernetes-validations"]?.array ?? [] {
            guard let rule = validation["rule"]?.string else { continue }
            var checked = value
            if case .object(let all) = value {
                checked = .object(all.filter { pair in
                    guard case .null = pair.value else { return true }
                    return (schema["properties", pair.key] ?? schema["additionalProperties"])?["nullable"]?.bool == true
                })
            }
            let passes = CELRule(rule).passes(checked)
            // A transition rule (`oldSelf`) is not evaluated on create (apiextensions-apiserver
            // `cel.Validator` skips it without an old object): not one fluxci leaves unchecked.
            if passes == nil, !rule.contains("oldSelf") { add(notEvaluated, rule) }
            guard passes == false else { continue }
            let shown: String = switch value {
            case .object: "object"
            case .array: "array"
            default: String(value.jsonText.prefix(60))
            }
            add("FieldValueInvalid", "Invalid value: \"\(shown)\": \(validation["message"]?.string ?? "failed rule: \(rule)")")
        }
    }
}
