import Actions
import Kube

/// What the API server's validation of built-in kinds surely refuses, checked on each object as
/// kustomize-controller would apply it (after the build and postBuild substitution). Its
/// server-side dry-run of the object fails, the Kustomization applies nothing and is never Ready.
///
/// - `metadata.name`: k8s.io/apimachinery `validation.IsDNS1123Subdomain` (lowercase
///   alphanumerics, `-` and `.`, starting and ending alphanumeric, at most 253), or
///   `IsDNS1123Label` for a Namespace (no dots, at most 63) and `IsDNS1035Label` for a Service
///   (a label that starts with a letter), as k8s.io/kubernetes pkg/apis/core/validation
///   (`ValidateNamespaceName`, `ValidateServiceName`) and the apps/batch/networking validations
///   name them. RBAC kinds (path segment names) and custom kinds are not judged.
/// - `data`/`binaryData` of a Secret and `binaryData` of a ConfigMap: their values are `[]byte`,
///   which the API server decodes from JSON as Go's `base64.StdEncoding` (padded standard
///   alphabet; `\r` and `\n` are skipped): anything else fails "illegal base64 data at input
///   byte N". Values a SOPS-encrypted Secret holds as `ENC[…]` are decrypted by Flux first and
///   are not judged here.
/// - apps/v1 Deployment, StatefulSet, DaemonSet, ReplicaSet (and a batch/v1 Job with
///   `manualSelector: true`): a given, non-empty `spec.selector` must match
///   `spec.template.metadata.labels` (pkg/apis/apps/validation: "selector does not match
///   template labels", "empty selector is invalid for deployment").
public enum BuiltInKindValidation {
    /// Built-in kinds whose names the API server validates as DNS-1123 subdomains.
    static let subdomainKinds: Set<String> = [
        "|ConfigMap", "|Secret", "|ServiceAccount", "|Pod", "|PersistentVolumeClaim", "|PersistentVolume", "|ReplicationController",
        "|LimitRange", "|ResourceQuota", "apps|Deployment", "apps|StatefulSet", "apps|DaemonSet", "apps|ReplicaSet", "batch|Job",
        "batch|CronJob", "networking.k8s.io|Ingress", "networking.k8s.io|NetworkPolicy", "networking.k8s.io|IngressClass",
        "policy|PodDisruptionBudget", "autoscaling|HorizontalPodAutoscaler", "storage.k8s.io|StorageClass",
        "scheduling.k8s.io|PriorityClass",
    ]

    /// The problems of every object of every built Kustomization; `fieldSite` gives a field's
    /// location (FieldSites: the patch that writes it, else its line in the object's file).
    static func problems(
        _ objects: [FluxKustomization.Reference: [KubeObject]], order: [FluxKustomization.Reference], literal: Set<FluxKustomization.Reference> = [],
        fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var found: [Annotation] = []
        var seen: Set<String> = []
        for id in order {
            for object in objects[id] ?? [] {
                let runs = !literal.contains(id) && !PostBuild.isDisabled(object.json)
                for problem in $substitutionRuns.withValue(runs, operation: { problems(object, in: id, fieldSite: fieldSite) }) {
                    let key = "\(problem.location.map { "\($0.file):\($0.line ?? 0)" } ?? "")|\(problem.message)"
                    if seen.insert(key).inserted { found.append(problem) }
                }
            }
        }
        return found
    }

    /// Whether postBuild substitution runs on the object being checked: then a `${…}` left in it
    /// is a variable whose value is not known here (a Secret fluxci could not decrypt, a source
    /// only an unbuilt Kustomization creates) and is not judged; where no substitution runs, it
    /// is the text the API server receives, and is (tester t20 F3; `literal` in `problems`).
    @TaskLocal static var substitutionRuns = true

    /// Whether `text` is a placeholder not judged (`substitutionRuns`).
    static func placeholder(_ text: String) -> Bool { substitutionRuns && text.contains("${") }

    static func problems(_ object: KubeObject, in id: FluxKustomization.Reference, fieldSite: (KubeObject, [Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        let group = AppliedObjects.Owned.group(of: object.apiVersion)
        let key = "\(group)|\(object.kind)"
        func at(_ field: [Origins.FieldKey]) -> SourceLocation? {
            fieldSite(object, field)
        }
        let refused = "kustomize-controller's server-side dry-run fails and \(id) applies nothing (it never becomes Ready)"
        var problems: [Annotation] = []

        // metadata.name
        if let name = object.json["metadata", "name"]?.string, !name.isEmpty, !Self.placeholder(name) {
            let rule: NameRule? = switch key {
            case "|Namespace": .dns1123Label
            case "|Service": .dns1035Label
            default: subdomainKinds.contains(key) ? .dns1123Subdomain : nil
            }
            if let rule, let why = rule.violation(name) {
                let suggestion = rule.suggestion(name)
                problems.append(.error(
                    "\(object.kind) \"\(name)\" (\(id)): metadata.name is not a valid \(rule.title): \(why). The API server refuses it (\(rule.function)), so \(refused).\(name.hasPrefix("-") || name.hasSuffix("-") || name.contains("..") || name.contains("-.") || name.contains(".-") ? " A name that starts or ends with `-` usually comes from a postBuild variable that is empty or not set." : "")",
                    title: "Invalid object name",
                    fix: suggestion.map { "Rename it, e.g. `name: \($0)`\(rule == .dns1123Subdomain ? "" : " (\(rule.title): \(rule.summary))"), and update what refers to it; if a variable makes the name, set it (postBuild.substitute, or `${VAR:=default}`)." }
                        ?? "Give it a name of \(rule.summary), and if a variable makes the name, set it (postBuild.substitute, or `${VAR:=default}`).",
                    at: at(["metadata", "name"])))
            }
        }

        // Secret data/binaryData, ConfigMap binaryData; the data keys of both
        problems += dataKeyProblems(object, key: key, subject: "\(object.reference) (\(id))", refused: refused, at: at)
        problems += byteProblems(object, key: key, encrypted: object.json["sops"] != nil, subject: "\(object.reference) (\(id))", refused: refused, at: at)

        problems += requiredKeyProblems(object, key: key, subject: "\(object.reference) (\(id))", refused: refused, at: at)

        // Workload selector against template labels
        if let problem = selectorProblem(object, key: key, refused: refused, at: at) { problems.append(problem) }
        if let problem = labelProblem(object, subject: "\(object.reference) (\(id))", refused: refused, at: at) { problems.append(problem) }
        if let problem = annotationProblem(object, subject: "\(object.reference) (\(id))", refused: refused, at: at) { problems.append(problem) }
        problems += portProblems(object, key: key, subject: "\(object.reference) (\(id))", refused: refused, at: at)
        problems += AssociativeLists.problems(object, key: key, subject: "\(object.reference) (\(id))", refused: refused, at: at)
        problems += FieldFormats.problems(object, key: key, subject: "\(object.reference) (\(id))", refused: refused, at: at)
        return problems
    }

    // MARK: Annotations and ports

    /// apimachinery `IsQualifiedName`, the rule of label and annotation keys: a name of at most 63
    /// characters, alphanumeric at both ends with `-`, `_`, `.` between, optionally after a
    /// DNS-subdomain prefix (at most 253) and `/`.
    static func isQualifiedName(_ key: String) -> Bool {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts.last ?? key
        return parts.count <= 2 && !name.isEmpty && name.count <= 63 && name.wholeMatch(of: #/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/#) != nil
            && (parts.count == 1 || (parts[0].count <= 253 && parts[0].wholeMatch(of: #/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/#) != nil))
    }

    /// `metadata.annotations` as apimachinery `ValidateAnnotations` judges them on every object:
    /// each key a qualified name (as a label key), and all keys and values together at most
    /// 256 KiB (`TotalAnnotationSizeLimitB`).
    static func annotationProblem(_ object: KubeObject, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> Annotation? {
        guard case .object(let annotations)? = object.json["metadata", "annotations"] else { return nil }
        var total = 0
        for (key, value) in annotations {
            total += key.utf8.count + (value.string?.utf8.count ?? 0)
            guard !Self.placeholder(key), !isQualifiedName(key) else { continue }
            return .error(
                "\(subject): the annotation key \(key) is not a qualified name (at most 63 characters, alphanumeric at both ends, with `-`, `_` or `.` between, optionally after a DNS-subdomain prefix and `/`): the API server refuses the object (metadata.annotations: Invalid value), so \(refused).",
                title: "Invalid annotation", fix: "Rename the key to letters, digits, `-`, `_` and `.` (and a `prefix/` of a DNS subdomain).",
                at: at(["metadata", "annotations", .key(key)]))
        }
        if total > 256 * 1024 {
            return .error(
                "\(subject): its annotations hold \(total) bytes, more than the 262144 the API server allows (metadata.annotations: Too long): \(refused).",
                title: "Annotations too long", fix: "Move the large value into a ConfigMap (a kubectl.kubernetes.io/last-applied-configuration copied into the manifest is a common cause).",
                at: at(["metadata", "annotations"]))
        }
        return nil
    }

    /// Ports as k8s.io/kubernetes pkg/apis/core/validation judges them: a Service's
    /// `spec.ports[]` (`port` 1–65535, `targetPort` a port number or an IANA service name,
    /// `protocol` TCP, UDP or SCTP, a `name` on each when there are several, no name twice), and
    /// the containers' `ports[]` of a Pod or a workload's pod template (`containerPort` 1–65535,
    /// `hostPort` 0–65535, `name` an IANA service name). Values a variable makes are not judged.
    static func portProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        func refuse(_ field: [Origins.FieldKey], _ shown: String, _ why: String, fix: String) {
            problems.append(.error(
                "\(subject): \(shown) \(why): the API server refuses the object, so \(refused).", title: "Invalid port", fix: fix, at: at(field)))
        }
        func number(_ value: JSONValue?, _ field: [Origins.FieldKey], _ shown: String, lowest: Int = 1) {
            guard let value, case .integer(let wide) = value else { return }
            let number = Int(wide)
            if number < lowest || number > 65535 {
                refuse(field, "\(shown) is \(number), which", "is not between \(lowest) and 65535", fix: "Use a port number from \(lowest) to 65535.")
            }
        }
        func protocolOf(_ port: JSONValue, _ field: [Origins.FieldKey], _ shown: String) {
            guard let text = port["protocol"]?.string, !Self.placeholder(text), !["TCP", "UDP", "SCTP"].contains(text) else { return }
            refuse(field + ["protocol"], "\(shown).protocol is \"\(text)\", which", "is not TCP, UDP or SCTP (the API server is case-sensitive)", fix: "Write TCP, UDP or SCTP.")
        }
        if key == "|Service", let ports = object.json["spec", "ports"]?.array {
            var names: Set<String> = []
            var pairs: Set<String> = []
            let type = object.json["spec", "type"]?.string ?? "ClusterIP"
            for (index, port) in ports.enumerated() {
                let field: [Origins.FieldKey] = ["spec", "ports", .index(index)]
                let shown = "spec.ports[\(index)]"
                number(port["port"], field + ["port"], "\(shown).port")
                // ValidateService: a port and protocol once (Duplicate value), no nodePort on a
                // ClusterIP Service, a name that is a DNS-1123 label (tester t18 F2).
                if case .integer(let value)? = port["port"], !pairs.insert("\(value)/\(port["protocol"]?.string ?? "TCP")").inserted {
                    refuse(field, shown, "repeats port \(value)/\(port["protocol"]?.string ?? "TCP") of another port of the Service (Duplicate value)", fix: "Give each port its own number or protocol.")
                }
                if port["nodePort"] != nil, type == "ClusterIP" {
                    refuse(field + ["nodePort"], "\(shown).nodePort", "is set on a Service of type ClusterIP, where it may not be used (Forbidden)", fix: "Remove nodePort, or make the Service type NodePort or LoadBalancer.")
                }
                if let name = port["name"]?.string, !Self.placeholder(name), NameRule.dns1123Label.violation(name) != nil {
                    refuse(field + ["name"], "\(shown).name \"\(name)\"", "is not a DNS-1123 label (lowercase letters, digits and `-`, at most 63)", fix: "Name the port with lowercase letters, digits and `-` (e.g. http, https-admin).")
                }
                if let target = port["targetPort"] {
                    if case .integer(let value) = target, value != 0 { number(target, field + ["targetPort"], "\(shown).targetPort") }
                    if let name = target.string, !Self.placeholder(name), Int(name) == nil, let why = ianaNameViolation(name) {
                        refuse(field + ["targetPort"], "\(shown).targetPort \"\(name)\"", why, fix: "Name a container port (at most 15 lowercase letters, digits and `-`, one letter at least), or give its number.")
                    }
                }
                protocolOf(port, field, shown)
                if ports.count > 1 {
                    if let name = port["name"]?.string, !name.isEmpty {
                        if !names.insert(name).inserted {
                            refuse(field + ["name"], "\(shown).name \"\(name)\"", "is the name of another port of the Service (Duplicate value)", fix: "Give each port its own name.")
                        }
                    } else {
                        refuse(field, shown, "has no name, which a Service with several ports needs for each (Required value)", fix: "Name every port (e.g. `name: http`).")
                    }
                }
            }
        }
        if let (spec, path) = podSpec(object, key: key) {
            for list in ["initContainers", "containers"] {
                for (position, container) in (spec[list]?.array ?? []).enumerated() {
                    for (index, port) in (container["ports"]?.array ?? []).enumerated() {
                        let field = path + [.key(list), .index(position), "ports", .index(index)]
                        let shown = "\(list)[\(position)].ports[\(index)]"
                        number(port["containerPort"], field + ["containerPort"], "\(shown).containerPort")
                        number(port["hostPort"], field + ["hostPort"], "\(shown).hostPort", lowest: 0)
                        if let name = port["name"]?.string, !Self.placeholder(name), let why = ianaNameViolation(name) {
                            refuse(field + ["name"], "\(shown).name \"\(name)\"", why, fix: "Use at most 15 lowercase letters, digits and `-`, with one letter at least.")
                        }
                        protocolOf(port, field, shown)
                    }
                }
            }
        }
        return problems
    }

    /// Where the pod spec of an object that carries one is (`group|Kind` as `key`): a Pod's
    /// `spec`, a PodTemplate's `template.spec`, a ReplicationController's or a workload's
    /// `spec.template.spec`, a CronJob's `spec.jobTemplate.spec.template.spec`. The API server
    /// validates each as a pod spec (`ValidatePodTemplateSpec`); nil for any other kind.
    static func podSpec(_ object: KubeObject, key: String) -> (spec: JSONValue, path: [Origins.FieldKey])? {
        let path: [Origins.FieldKey] = switch key {
        case "|Pod": ["spec"]
        case "|PodTemplate": ["template", "spec"]
        case "|ReplicationController", "apps|Deployment", "apps|StatefulSet", "apps|DaemonSet", "apps|ReplicaSet", "batch|Job": ["spec", "template", "spec"]
        case "batch|CronJob": ["spec", "jobTemplate", "spec", "template", "spec"]
        default: []
        }
        guard !path.isEmpty, let spec = SubstitutedValues.value(object.json, path) else { return nil }
        return (spec, path)
    }

    /// Why `name` is not an IANA service name (apimachinery `IsValidPortName`), nil when it is.
    static func ianaNameViolation(_ name: String) -> String? {
        if name.isEmpty || name.count > 15 { return "is not 1 to 15 characters long" }
        if name.contains(where: { !($0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-")) }) { return "holds a character other than lowercase letters, digits and `-`" }
        if !name.contains(where: { $0.isLetter }) { return "holds no letter" }
        if name.hasPrefix("-") || name.hasSuffix("-") || name.contains("--") { return "starts or ends with `-`, or holds `--`" }
        return nil
    }

    // MARK: Labels

    /// `metadata.labels` as the API server validates them on every object (apimachinery
    /// `ValidateLabels`): a value of at most 63 characters, empty or alphanumeric at both ends
    /// with `-`, `_`, `.` between; a key the same with an optional DNS-subdomain prefix and `/`
    /// (tester t14 F13: `team: platform team`). A value still holding `${` or ENC[ is not judged.
    static func labelProblem(_ object: KubeObject, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> Annotation? {
        guard case .object(let labels)? = object.json["metadata", "labels"] else { return nil }
        for (key, value) in labels {
            guard case .string(let text) = value, !Self.placeholder(text), !text.hasPrefix("ENC["), !Self.placeholder(key) else { continue }
            let keyValid = isQualifiedName(key)
            let valueValid = text.count <= 63 && text.wholeMatch(of: #/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/#) != nil
            guard !keyValid || !valueValid else { continue }
            let what = keyValid ? "the value of the label \(key)" : "the label key \(key)"
            return .error(
                "\(subject): \(what) is not valid (at most 63 characters, alphanumeric at both ends, with `-`, `_` or `.` between\(keyValid ? "; empty is allowed" : ", optionally after a DNS-subdomain prefix and `/`")): the API server refuses the object (metadata.labels: Invalid value), so \(refused).",
                title: "Invalid label",
                // Never a suggestion made from the value: it may be a decrypted or substituted
                // secret, and a changed copy escapes every mask (tester t18 F1).
                fix: keyValid ? "Write the value with letters, digits, `-`, `_` and `.` only (no spaces), at most 63 characters, alphanumeric at both ends." : "Rename the key to letters, digits, `-`, `_` and `.` (and a `prefix/` of a DNS subdomain).",
                at: at(["metadata", "labels", .key(key)]))
        }
        return nil
    }

    // MARK: Data

    /// The byte fields of a kind: a Secret's `data`/`binaryData`, a ConfigMap's `binaryData`.
    static func byteFields(_ key: String) -> [String] {
        switch key {
        case "|Secret": ["data", "binaryData"]
        case "|ConfigMap": ["binaryData"]
        default: []
        }
    }

    /// Values of the byte fields that are not base64. `encrypted`: the object is a SOPS file's
    /// (its `ENC[…]` values are skipped; the fix says to encrypt again). The value itself may
    /// be a secret: only its key and the byte offset are ever shown.
    static func byteProblems(
        _ object: KubeObject, key: String, encrypted: Bool, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?
    ) -> [Annotation] {
        var problems: [Annotation] = []
        for field in byteFields(key) {
            guard case .object(let entries)? = object.json[field] else { continue }
            for (dataKey, value) in entries {
                guard case .string(let text) = value else { continue }  // non-strings: AppliedObjectChecks
                if encrypted, text.hasPrefix("ENC[") { continue }
                let bytes = Array(text.utf8)
                guard let offset = Base64Std.illegalByte(bytes) else { continue }
                let detail = offset < bytes.count ? "illegal base64 data at input byte \(offset)" : "it ends inside a group of 4 characters: padding missing"
                let stringField = key == "|Secret" ? "stringData" : "data"
                problems.append(.error(
                    "\(subject): \(field).\(dataKey) is not base64 (\(detail)): the API server decodes every \(field) value as base64 and refuses the object (\"\(object.kind) in version \\\"v1\\\" cannot be handled as a \(object.kind)\"), so \(refused).",
                    title: "Value not base64",
                    fix: "Did you mean \(stringField)? Move \(dataKey) under \(stringField): (plain text, which the API server encodes), or base64-encode the value (`printf %s VALUE | base64 -w0`)\(encrypted ? " and encrypt the file again with sops" : "").",
                    at: at([.key(field), .key(dataKey)])))
            }
        }
        return problems
    }

    /// Data keys the API server refuses: k8s.io/apimachinery `validation.IsConfigMapKey`, which
    /// k8s.io/kubernetes `ValidateSecret` and `ValidateConfigMap` apply to every key of `data`,
    /// `binaryData` (and a Secret's `stringData`, merged into `data` before validation): at most
    /// 253 characters of `[-._a-zA-Z0-9]`, not `.` or `..`, not starting with `..`.
    static func dataKeyProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        let fields: [String] = switch key {
        case "|Secret": ["data", "stringData", "binaryData"]
        case "|ConfigMap": ["data", "binaryData"]
        default: []
        }
        var problems: [Annotation] = []
        for field in fields {
            guard case .object(let entries)? = object.json[field] else { continue }
            for (dataKey, _) in entries where !Self.placeholder(dataKey) {
                guard let why = configMapKeyViolation(dataKey) else { continue }
                problems.append(.error(
                    "\(subject): the key \"\(dataKey)\" of \(field) is not a valid config key: \(why). The API server refuses the object (\"\(field)[\(dataKey)]: Invalid value\"), so \(refused).",
                    title: "Invalid data key",
                    fix: "Rename the key to letters, digits, `-`, `_` and `.` (a file name such as `tls.crt`), at most 253 characters.",
                    at: at([.key(field), .key(dataKey)])))
            }
        }
        return problems
    }

    /// The keys the API server requires of a Secret's type, and refuses twice in a ConfigMap
    /// (tester t11 F9, F10): k8s.io/kubernetes `ValidateSecret` (after `stringData` is merged into
    /// `data`): `kubernetes.io/tls` needs `tls.crt` and `tls.key`, `kubernetes.io/ssh-auth`
    /// `ssh-privatekey`, `kubernetes.io/dockerconfigjson` `.dockerconfigjson`,
    /// `kubernetes.io/dockercfg` `.dockercfg`, `kubernetes.io/basic-auth` `username` or
    /// `password` ("Required value"); `ValidateConfigMap`: a key in both `data` and `binaryData`
    /// ("duplicate of key present in data").
    static func requiredKeyProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        func keys(_ field: String) -> Set<String> { Set((object.json[field]?.object ?? []).map(\.key)) }
        switch key {
        case "|Secret":
            guard let type = object.json["type"]?.string else { return [] }
            let present = keys("data").union(keys("stringData"))
            guard !present.contains(where: { Self.placeholder($0) }) else { return [] }
            let required: (all: [String], any: [String]) = switch type {
            case "kubernetes.io/tls": (["tls.crt", "tls.key"], [])
            case "kubernetes.io/ssh-auth": (["ssh-privatekey"], [])
            case "kubernetes.io/dockerconfigjson": ([".dockerconfigjson"], [])
            case "kubernetes.io/dockercfg": ([".dockercfg"], [])
            case "kubernetes.io/basic-auth": ([], ["username", "password"])
            default: ([], [])
            }
            var missing = required.all.filter { !present.contains($0) }
            if !required.any.isEmpty, !required.any.contains(where: present.contains) { missing.append(required.any.joined(separator: " or ")) }
            guard !missing.isEmpty else { return [] }
            problems.append(.error(
                "\(subject): a Secret of type \(type) needs the data key\(missing.count == 1 ? "" : "s") \(missing.joined(separator: " and ")), which \(missing.count == 1 ? "it does" : "they do") not have: the API server refuses it (\"data[\(missing[0])]: Required value\"), so \(refused).",
                title: "Secret type needs a key",
                fix: "Add \(missing.joined(separator: " and ")) to data or stringData, or correct the type (Opaque takes any keys).",
                at: at(["type"])))
        case "|ConfigMap":
            for duplicate in keys("data").intersection(keys("binaryData")).sorted() {
                problems.append(.error(
                    "\(subject): the key \"\(duplicate)\" is in both data and binaryData: the API server refuses it (\"binaryData[\(duplicate)]: Invalid value: duplicate of key present in data\"), so \(refused).",
                    title: "Duplicate data key",
                    fix: "Keep \(duplicate) in one of data (text) or binaryData (base64 bytes).",
                    at: at([.key("binaryData"), .key(duplicate)])))
            }
        default: break
        }
        return problems
    }

    /// Why `key` is not a config key (IsConfigMapKey), nil when it is one.
    static func configMapKeyViolation(_ key: String) -> String? {
        if key.utf8.count > 253 { return "it is longer than 253 characters" }
        let allowed = key.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F
        }
        if key.isEmpty || !allowed { return "a valid config key must consist of alphanumeric characters, '-', '_' or '.'" }
        if key == "." { return "it must not be '.'" }
        if key == ".." { return "it must not be '..'" }
        if key.hasPrefix("..") { return "it must not start with '..'" }
        return nil
    }

    /// What the API server refuses in an object a SOPS file holds, judged on its decrypted
    /// content (values of `data`/`binaryData` that are not base64): the same checks the
    /// plain-text objects get, for the SOPS preflight, which alone sees the decrypted values
    /// (tester t9 F6b). kustomize-controller decrypts each object before postBuild
    /// substitution, so a value holding `${` is left to the substitution and not judged.
    /// `line` gives a field's line in `file` (nil: the document's first line); no value is
    /// ever shown.
    public static func decryptedProblems(_ object: KubeObject, file: String, line: ([String]) -> Int?, appliedBy: [String]) -> [Annotation] {
        let key = "\(AppliedObjects.Owned.group(of: object.apiVersion))|\(object.kind)"
        var unsubstituted = object
        for field in byteFields(key) {
            guard case .object(let entries)? = object.json[field] else { continue }
            unsubstituted.json.set(field, .object(entries.filter { !($0.value.string ?? "").contains("${") }))
        }
        let who = appliedBy.isEmpty ? "the Kustomization that applies it" : appliedBy.joined(separator: ", ")
        let refused = "kustomize-controller decrypts it, its server-side dry-run fails and \(who) applies nothing (it never becomes Ready)"
        func at(_ field: [Origins.FieldKey]) -> SourceLocation {
            let keys = field.compactMap { if case .key(let name) = $0 { name } else { nil } }
            return SourceLocation(file: file, line: line(keys) ?? object.line)
        }
        return byteProblems(unsubstituted, key: key, encrypted: true, subject: "\(object.reference) (decrypted from \(file))", refused: refused, at: at)
            + AppliedObjectChecks.decryptedStringFieldProblems(object, file: file, refused: refused, at: at)
    }

    // MARK: Selector

    static func selectorProblem(_ object: KubeObject, key: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> Annotation? {
        let workloads: Set<String> = ["apps|Deployment", "apps|StatefulSet", "apps|DaemonSet", "apps|ReplicaSet"]
        let isWorkload = workloads.contains(key) && object.apiVersion == "apps/v1"
        let isManualJob = key == "batch|Job" && object.apiVersion == "batch/v1" && object.json["spec", "manualSelector"] == .bool(true)
        guard isWorkload || isManualJob, let spec = object.json["spec"] else { return nil }
        // A missing or empty selector is refused too (apps/v1 "Required value", "empty selector
        // is invalid"), but test fixtures and sketches leave it out: only the mismatch is judged.
        guard let selector = spec["selector"], selector != .null else { return nil }
        guard case .object(let templateLabelsJSON)? = spec["template", "metadata", "labels"] ?? .object([]) else { return nil }
        var labels: [String: String] = [:]
        for (name, value) in templateLabelsJSON {
            guard case .string(let text) = value else { return nil }  // non-strings: AppliedObjectChecks
            labels[name] = text
        }
        // Encrypted labels (ENC[…], each value its own ciphertext) are compared once Flux
        // decrypted them, not here (tester t14 F22).
        if labels.values.contains(where: { $0.hasPrefix("ENC[") }) || selector.jsonText.contains("ENC[") { return nil }
        guard let matches = LabelSelector(selector)?.matches(labels) else { return nil }
        guard matches == .no else { return nil }
        let shown = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return .error(
            "\(object.reference): spec.selector does not match spec.template.metadata.labels (\(shown.isEmpty ? "none" : shown)): the API server refuses it (\"selector does not match template labels\"), so \(refused).",
            title: "Selector does not match template labels",
            fix: "Make spec.selector.matchLabels a subset of spec.template.metadata.labels (the selector of an existing \(object.kind) cannot change: a renamed label needs a new object).",
            at: at(["spec", "template", "metadata", "labels"]))
    }

    /// A metav1.LabelSelector read from JSON; nil when it holds something not understood here
    /// (then nothing is judged).
    struct LabelSelector {
        enum Match { case yes, no, empty }
        var matchLabels: [String: String] = [:]
        var expressions: [(key: String, op: String, values: [String])] = []

        init?(_ json: JSONValue) {
            guard case .object(let fields) = json else { return nil }
            for (field, value) in fields {
                switch (field, value) {
                case ("matchLabels", .object(let entries)):
                    for (name, value) in entries {
                        guard case .string(let text) = value else { return nil }
                        matchLabels[name] = text
                    }
                case ("matchLabels", .null), ("matchExpressions", .null): break
                case ("matchExpressions", .array(let items)):
                    for item in items {
                        guard let key = item["key"]?.string, let op = item["operator"]?.string, ["In", "NotIn", "Exists", "DoesNotExist"].contains(op) else { return nil }
                        var values: [String] = []
                        for value in item["values"]?.array ?? [] {
                            guard case .string(let text) = value else { return nil }
                            values.append(text)
                        }
                        expressions.append((key, op, values))
                    }
                default: return nil
                }
            }
        }

        /// k8s.io/apimachinery labels.Selector semantics: every matchLabels pair present, every
        /// expression true.
        func matches(_ labels: [String: String]) -> Match {
            if matchLabels.isEmpty, expressions.isEmpty { return .empty }
            for (name, value) in matchLabels where labels[name] != value { return .no }
            for expression in expressions {
                let present = labels[expression.key]
                let holds = switch expression.op {
                case "In": present.map { expression.values.contains($0) } ?? false
                case "NotIn": present.map { !expression.values.contains($0) } ?? true
                case "Exists": present != nil
                default: present == nil
                }
                if !holds { return .no }
            }
            return .yes
        }
    }
}

/// The name rules of k8s.io/apimachinery/pkg/util/validation.
enum NameRule: Equatable {
    case dns1123Subdomain, dns1123Label, dns1035Label

    var title: String {
        switch self {
        case .dns1123Subdomain: "DNS-1123 subdomain"
        case .dns1123Label: "DNS-1123 label"
        case .dns1035Label: "DNS-1035 label"
        }
    }

    var function: String {
        switch self {
        case .dns1123Subdomain: "validation.IsDNS1123Subdomain"
        case .dns1123Label: "validation.IsDNS1123Label"
        case .dns1035Label: "validation.IsDNS1035Label"
        }
    }

    var summary: String {
        switch self {
        case .dns1123Subdomain: "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        case .dns1123Label: "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
        case .dns1035Label: "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters"
        }
    }

    static func isAlnum(_ byte: UInt8) -> Bool { (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
    static func isLetter(_ byte: UInt8) -> Bool { (0x61...0x7A).contains(byte) }

    /// Why `name` breaks the rule, nil when it does not.
    func violation(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        let limit = self == .dns1123Subdomain ? 253 : 63
        if bytes.count > limit { return "it is \(bytes.count) characters long (at most \(limit))" }
        if bytes.contains(where: { (0x41...0x5A).contains($0) }) { return "it has uppercase letters" }
        let labels: [ArraySlice<UInt8>] = self == .dns1123Subdomain ? bytes.split(separator: 0x2E, omittingEmptySubsequences: false) : [bytes[...]]
        for label in labels {
            guard let first = label.first, let last = label.last else { return "it has an empty part between dots" }
            if self == .dns1035Label ? !Self.isLetter(first) : !Self.isAlnum(first) {
                return "it must start with a \(self == .dns1035Label ? "lowercase letter" : "lowercase letter or digit")\(first == 0x2D ? " (it starts with '-')" : "")"
            }
            if !Self.isAlnum(last) { return "it must end with a lowercase letter or digit" }
            if let bad = label.first(where: { !Self.isAlnum($0) && $0 != 0x2D }) {
                let char = String(decoding: [bad], as: UTF8.self)
                if bad == 0x2E { return "'.' is not allowed in a \(title)" }
                return (0x41...0x5A).contains(bad) ? "it has uppercase letters" : "'\(char)' is not allowed"
            }
        }
        return nil
    }

    /// A valid name close to `name` (lowercased, other characters made '-'), nil when none is
    /// found that way.
    func suggestion(_ name: String) -> String? {
        var bytes = Array(name.lowercased().utf8).map { byte -> UInt8 in
            Self.isAlnum(byte) || byte == 0x2D || (byte == 0x2E && self == .dns1123Subdomain) ? byte : 0x2D
        }
        while let first = bytes.first, !(self == .dns1035Label ? Self.isLetter(first) : Self.isAlnum(first)) { bytes.removeFirst() }
        while let last = bytes.last, !Self.isAlnum(last) { bytes.removeLast() }
        let candidate = String(decoding: bytes, as: UTF8.self)
        return candidate.isEmpty || violation(candidate) != nil ? nil : candidate
    }
}

/// Go's `base64.StdEncoding.Decode` acceptance, as encoding/json decodes a `[]byte` field.
enum Base64Std {
    static func isAlphabet(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2B || byte == 0x2F
    }

    /// The input offset Go reports for the first illegal byte ("illegal base64 data at input
    /// byte N"), `input.count` when the text ends inside a group of 4 (Go reports where that
    /// group starts), nil when the text decodes. `\r` and `\n` are skipped anywhere; padding is
    /// required; bits after the last full byte need not be zero (StdEncoding is not Strict).
    static func illegalByte(_ input: [UInt8]) -> Int? {
        // Positions of the significant bytes.
        let positions = input.indices.filter { input[$0] != 0x0A && input[$0] != 0x0D }
        var index = 0
        while index < positions.count {
            var quantum: [UInt8] = []
            var at: [Int] = []
            while quantum.count < 4, index < positions.count {
                quantum.append(input[positions[index]])
                at.append(positions[index])
                index += 1
            }
            for (slot, byte) in quantum.enumerated() {
                if isAlphabet(byte) { continue }
                guard byte == 0x3D, slot >= 2 else { return at[slot] }
                // Padding: "xx==" or "xxx=", then nothing but newlines.
                if slot == 2 {
                    // Go reports the byte before a second character that is not '='.
                    guard quantum.count == 4, quantum[3] == 0x3D else { return quantum.count > 3 ? at[3] - 1 : input.count }
                }
                return index < positions.count ? positions[index] : nil
            }
            if quantum.count < 4 { return input.count }
        }
        return nil
    }
}
