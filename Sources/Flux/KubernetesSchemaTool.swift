import Actions
import Foundation
import Kube
import Processes

/// The built-in kinds' schemas (Deployments, Services, ConfigMaps, …), checked with
/// `kubernetes-validate --strict` (willthames/kubernetes-validate: the Kubernetes OpenAPI
/// schemas as JSON schemas, `additionalProperties: false` in strict mode) as the API server
/// checks them on kustomize-controller's server-side dry-run (tester t19 F1): server-side apply
/// refuses a field the type does not declare (`imagePullPolcy`: "field not declared in schema")
/// and a value of the wrong type (`replicas: two`), so the whole Kustomization applies nothing.
/// Custom resources are checked against their CRDs (`StructuralSchema`), not here.
///
/// Left out: Secrets (their values are checked by `BuiltInKindValidation` and are never handed
/// to another process), objects with sops metadata (checked decrypted), CustomResourceDefinitions
/// (vendors' manifests, slow to validate), and kinds the tool has no schema for.
/// kubernetes-validate reports one error per object (the first jsonschema finds): `rejections`
/// checks again without it.
public struct KubernetesSchemaTool: Sendable {
    public let executable: String
    /// The Kubernetes version to check against (`1.29.2`: its minor's schemas); nil: the newest
    /// the tool has. A version it has no schemas for (before 1.25) makes the check a warning.
    public var version: String?

    /// The version of a kind node image (`kindest/node:v1.29.2@sha256:…` → `1.29.2`), nil when
    /// its tag is not a version.
    public static func version(ofNodeImage image: String) -> String? {
        guard let tag = image.split(separator: "@").first?.split(separator: ":").last,
            let match = tag.wholeMatch(of: #/v?(\d+\.\d+(?:\.\d+)?)/#)
        else { return nil }
        return String(match.1)
    }

    /// nil when `kubernetes-validate` is not on `environmentPath`.
    public init?(path environmentPath: String?) {
        for directory in (environmentPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(directory)/kubernetes-validate") {
            executable = "\(directory)/kubernetes-validate"
            return
        }
        return nil
    }

    /// One object's rejection: its path (`spec.replicas`, `[]` for the object), the tool's
    /// message, and the Kubernetes version whose schema refused it.
    struct Rejection {
        var field: [Origins.FieldKey]
        var message: String
        var version: String
    }

    /// Whether `object` is checked here.
    static func checks(_ object: KubeObject) -> Bool {
        let group = AppliedObjects.Owned.group(of: object.apiVersion)
        return CustomResourceChecks.builtInGroups.contains(group) && object.json["sops"] == nil
            && !(group == "" && object.kind == "Secret") && object.kind != "CustomResourceDefinition"
    }

    /// The rejections of each object refused, by index in `objects`, or why the tool could not
    /// run. kubernetes-validate names one error per object (the first jsonschema finds), so the
    /// refused field is taken out and the object checked again, up to `rounds` times (tester t20
    /// F6: every error of a run in that run); an error that names no field to take out (a
    /// required field, a list item) ends its object's rounds.
    func rejections(_ objects: [KubeObject], scratch: URL, rounds: Int = 5) -> Result<[Int: [Rejection]], ToolFailure> {
        var found: [Int: [Rejection]] = [:]
        var current = Dictionary(uniqueKeysWithValues: objects.enumerated().map { ($0.offset, $0.element.json) })
        var pending = Array(objects.indices)
        for _ in 0..<rounds where !pending.isEmpty {
            let round: [Int: Rejection]
            switch run(pending.map { ($0, current[$0]!) }, scratch: scratch) {
            case .success(let rejected): round = rejected
            case .failure(let failure): return .failure(failure)
            }
            pending = []
            for (index, rejection) in round.sorted(by: { $0.key < $1.key }) {
                // Resolved once, for the report and for taking the field out of the next round.
                var rejection = rejection
                rejection.field = Self.resolved(rejection.field, in: current[index]!)
                found[index, default: []].append(rejection)
                if let trimmed = Self.without(rejection, in: current[index]!) {
                    current[index] = trimmed
                    pending.append(index)
                }
            }
        }
        return .success(found)
    }

    /// `json` with the refused field out of the way of the next round: an undeclared field
    /// taken out, a value of the wrong type replaced by an empty one of the expected type (taking
    /// it out would make a required field missing). Nil for any other error.
    static func without(_ rejection: Rejection, in json: JSONValue) -> JSONValue? {
        if rejection.message == "field not declared in schema" { return replacing(rejection.field, in: json, with: nil) }
        guard let type = rejection.message.firstMatch(of: #/is not of type '(\w+)'/#)?.1 else { return nil }
        let empty: JSONValue? = switch type {
        case "string": .string("")
        case "integer", "number": .integer(0)
        case "boolean": .bool(false)
        case "object": .object([])
        case "array": .array([])
        default: nil
        }
        return empty.flatMap { replacing(rejection.field, in: json, with: $0) }
    }

    /// `json` with the value at `field` replaced (or, with nil, the key taken out); nil when
    /// `field` does not end in an object key there.
    static func replacing(_ field: [Origins.FieldKey], in json: JSONValue, with value: JSONValue?) -> JSONValue? {
        guard let head = field.first else { return nil }
        switch (head, json) {
        case (.key(let key), .object(let pairs)):
            guard let index = pairs.firstIndex(where: { $0.key == key }) else { return nil }
            var pairs = pairs
            if field.count == 1 {
                if let value { pairs[index].value = value } else { pairs.remove(at: index) }
            } else {
                guard let inner = replacing(Array(field.dropFirst()), in: pairs[index].value, with: value) else { return nil }
                pairs[index].value = inner
            }
            return .object(pairs)
        case (.index(let index), .array(var items)):
            guard field.count > 1, index < items.count, let inner = replacing(Array(field.dropFirst()), in: items[index], with: value) else { return nil }
            items[index] = inner
            return .array(items)
        default:
            return nil
        }
    }

    /// One run of the tool over `objects` (each written to its own file, named by its index).
    private func run(_ objects: [(Int, JSONValue)], scratch: URL) -> Result<[Int: Rejection], ToolFailure> {
        var files: [String] = []
        for (index, json) in objects {
            let file = scratch.appendingPathComponent("\(index).json").path
            guard FileManager.default.createFile(atPath: file, contents: json.jsonData) else { return .failure(ToolFailure(message: "cannot write \(file)")) }
            files.append(file)
        }
        var found: [Int: Rejection] = [:]
        // In batches, so that no command line outgrows ARG_MAX.
        for start in stride(from: 0, to: files.count, by: 400) {
            let batch = Array(files[start..<min(files.count, start + 400)])
            let versionArguments = version.map { ["--kubernetes-version", $0] } ?? []
            let (status, output, errors, timedOut) = ProcessRunner.run(executable, ["--strict", "--quiet", "--no-warn"] + versionArguments + batch, timeout: 120)
            if timedOut { return .failure(ToolFailure(message: "kubernetes-validate ran longer than 120 s")) }
            let parsed = output.split(separator: "\n").compactMap(Self.parse)
            // 1: some object did not validate; anything else without an ERROR line is the tool failing.
            if status != 0, parsed.isEmpty {
                let said = (errors + output).split(separator: "\n").last.map(String.init)
                return .failure(ToolFailure(message: said ?? "exit status \(status)"))
            }
            for (file, rejection) in parsed {
                guard let index = Int((file as NSString).lastPathComponent.replacingOccurrences(of: ".json", with: "")) else { continue }
                found[index] = rejection
            }
        }
        return .success(found)
    }

    /// The problems of the built-in objects the Kustomizations apply (in `order`), one per
    /// object refused, at the refused field's line (`fieldSite`: the patch that writes it, if
    /// any); none where `existing` already has a problem at that line (fluxci's own checks of
    /// built-in kinds say more). An object applied the same by several Kustomizations is checked
    /// once. A tool that cannot run is a warning: the schemas were not checked.
    static func problems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], order: [FluxKustomization.Reference], tool: KubernetesSchemaTool,
        existing: [Annotation], fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var checked: [(object: KubeObject, owner: FluxKustomization.Reference)] = []
        var seen: Set<Data> = []
        for id in order {
            for object in objects[id] ?? [] where checks(object) && seen.insert(object.json.jsonData).inserted { checked.append((object, id)) }
        }
        guard !checked.isEmpty, let scratch = ScratchFolders.make("fluxci-schemas") else { return [] }
        defer { ScratchFolders.remove(scratch) }
        let rejections: [Int: [Rejection]]
        switch tool.rejections(checked.map(\.object), scratch: scratch) {
        case .success(let found): rejections = found
        case .failure(let failure):
            return [.warning(
                "The built-in kinds (Deployments, Services, …) were not checked against the Kubernetes schema: \(tool.executable) failed (\(failure.message)).",
                title: "Kubernetes schema not checked", fix: "Reinstall kubernetes-validate (`pipx install kubernetes-validate`).")]
        }
        let taken = Set(existing.compactMap(\.location))
        return rejections.sorted { $0.key < $1.key }.flatMap { index, all in all.map { (index, $0) } }.compactMap { index, rejection in
            let (object, owner) = checked[index]
            let location = fieldSite(object, rejection.field)
            if let location, taken.contains(location) { return nil }
            // A bool or number in a string field is reported by fluxci's own check, with its fix.
            if AppliedObjectChecks.nonStringFields(object).contains(where: { Origins.dotted($0.field) == Origins.dotted(rejection.field) }) { return nil }
            let field = rejection.field.isEmpty ? "the object" : Origins.dotted(rejection.field)
            let undeclared = rejection.message == "field not declared in schema"
            return .error(
                "The API server rejects \(object.reference) (\(object.apiVersion)), which the Kustomization \(owner) applies: \(field): \(rejection.message) (the Kubernetes \(rejection.version) schema, checked with kubernetes-validate --strict). kustomize-controller's server-side dry-run of \(owner) fails, so it applies none of its objects.",
                title: "Rejected by the Kubernetes schema",
                fix: undeclared
                    ? "Remove \(field) or correct its name as the \(object.kind) API defines it (`kubectl explain \(object.kind.lowercased()).\(rejection.field.dropLast().compactMap { if case .key(let key) = $0 { key } else { nil } }.joined(separator: "."))`)."
                    : "Give \(field) a value of the type the \(object.kind) API defines (`kubectl explain`); a postBuild variable's value is read again as YAML, so a number or boolean needs quotes in the variable's value.",
                at: location)
        }
    }

    struct ToolFailure: Error {
        var message: String
    }

    /// `field` as the object's keys: kubernetes-validate joins a path's elements with `.`, so a
    /// key holding a dot (`prometheus.io/port`) arrives split; the longest run of parts that is
    /// a key of the object at each step is that key.
    static func resolved(_ field: [Origins.FieldKey], in json: JSONValue) -> [Origins.FieldKey] {
        var result: [Origins.FieldKey] = []
        var node: JSONValue? = json
        var rest = field[...]
        while let head = rest.first {
            if case .index(let index) = head, case .array(let items)? = node {
                result.append(head)
                node = index < items.count ? items[index] : nil
                rest = rest.dropFirst()
                continue
            }
            guard case .object(let pairs)? = node else { return result + rest }
            let parts = rest.map { part -> String in
                switch part {
                case .key(let key): key
                case .index(let index): String(index)
                }
            }
            var taken = 1
            for length in stride(from: parts.count, through: 1, by: -1) where pairs.contains(where: { $0.key == parts[0..<length].joined(separator: ".") }) {
                taken = length
                break
            }
            let key = parts[0..<taken].joined(separator: ".")
            result.append(.key(key))
            node = pairs.first { $0.key == key }?.value
            rest = rest.dropFirst(taken)
        }
        return result
    }

    /// `ERROR <file> did not validate for resource <kind>/<name> against version <v>: <path>: <message>`
    /// (kubernetes-validate `utils.validate_resource`: the path's elements joined by `.`).
    static func parse(_ line: Substring) -> (file: String, rejection: Rejection)? {
        guard let match = line.wholeMatch(of: #/ERROR (\S+) did not validate for resource \S+ against version ([^:]+): (.*)/#) else { return nil }
        let rest = match.3
        guard let colon = rest.range(of: ": ") else { return nil }
        var field: [Origins.FieldKey] = rest[..<colon.lowerBound].split(separator: ".").map { part in
            Int(part).map { .index($0) } ?? .key(String(part))
        }
        var message = String(rest[colon.upperBound...])
        // "Additional properties are not allowed ('imagePullPolcy' was unexpected)": the field
        // itself, worded as server-side apply words it.
        if message.hasPrefix("Additional properties are not allowed"), let name = message.firstMatch(of: #/\('([^']+)'/#) {
            field.append(.key(String(name.1)))
            message = "field not declared in schema"
        }
        return (String(match.1), Rejection(field: field, message: message, version: String(match.2)))
    }
}
