import Actions
import Foundation
import Kube

/// Values of built-in kinds that the API server's validation refuses although the schema types
/// them loosely (tester t21 F4, t22 F1, F3, F4): an Ingress path's `pathType` (k8s.io/kubernetes
/// networking validation `validateHTTPIngressPath`: Exact, Prefix or ImplementationSpecific,
/// case-sensitive, required in networking.k8s.io/v1); a CronJob's `schedule` (batch validation
/// `validateScheduleFormat`: robfig/cron's standard parser, five fields within their ranges or
/// a descriptor such as `@daily`; a `TZ=` prefix is refused, `spec.timeZone` says it); resource
/// quantities; a NetworkPolicy's CIDRs; a PodDisruptionBudget's and an HPA's fields judged
/// together. The rest of pkg/apis validation is met by the e2e run's real apply, not here.
enum FieldFormats {
    static let pathTypes = ["Exact", "Prefix", "ImplementationSpecific"]
    static let descriptors: Set<String> = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

    /// robfig/cron v3's standard fields (the parser k8s validation uses): name, bounds, names.
    static let cronFields: [(name: String, low: Int, high: Int, names: [String])] = [
        ("minute", 0, 59, []), ("hour", 0, 23, []), ("day of month", 1, 31, []),
        ("month", 1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        ("day of week", 0, 6, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
    ]

    /// Why one field of a five-field schedule does not parse (robfig/cron `getField`/`getRange`:
    /// `*` or `?`, a value or range `a-b`, each with an optional `/step`, comma lists; month and
    /// day-of-week names), nil when it does.
    static func cronFieldProblem(_ field: String, _ bounds: (name: String, low: Int, high: Int, names: [String])) -> String? {
        func value(_ text: Substring) -> Int? {
            if let number = Int(text) { return number }
            return bounds.names.firstIndex(of: text.lowercased()).map { $0 + bounds.low }
        }
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { return "has \"\(part)\" in its \(bounds.name) field, with more than one /" }
            if pieces.count == 2, (Int(pieces[1]) ?? 0) <= 0 { return "has the step \"\(pieces[1])\" in its \(bounds.name) field, which is not a positive number" }
            let range = pieces[0]
            if range == "*" || range == "?" { continue }
            let ends = range.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count <= 2, let start = value(ends[0]), let end = ends.count == 2 ? value(ends[1]) : start else {
                return "has \"\(part)\" in its \(bounds.name) field, which is not a number\(bounds.names.isEmpty ? "" : " or name") cron reads"
            }
            if start < bounds.low || end > bounds.high {
                return "has \"\(part)\" in its \(bounds.name) field, outside \(bounds.low)–\(bounds.high)"
            }
            if start > end { return "has \"\(part)\" in its \(bounds.name) field, a range whose start is after its end" }
        }
        return nil
    }

    /// A Kubernetes quantity (apimachinery `resource.ParseQuantity`): a number, then a binary
    /// (Ki…Ei) or decimal (n, u, m, k, M, G, T, P, E) suffix or an exponent; no space, no `MB`.
    static var quantity: Regex<Substring> { #/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/# }

    static func problems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        problems += quantityProblems(object, key: key, subject: subject, refused: refused, at: at)
        problems += crossFieldProblems(object, key: key, subject: subject, refused: refused, at: at)
        problems += cidrProblems(object, key: key, subject: subject, refused: refused, at: at)
        problems += jobRestartPolicyProblems(object, key: key, subject: subject, refused: refused, at: at)
        problems += endPortProblems(object, key: key, subject: subject, refused: refused, at: at)
        if key == "networking.k8s.io|Ingress", object.apiVersion == "networking.k8s.io/v1" {
            for (ruleIndex, rule) in (object.json["spec", "rules"]?.array ?? []).enumerated() {
                for (pathIndex, path) in (rule["http", "paths"]?.array ?? []).enumerated() {
                    let field: [Origins.FieldKey] = ["spec", "rules", .index(ruleIndex), "http", "paths", .index(pathIndex), "pathType"]
                    let shown = "spec.rules[\(ruleIndex)].http.paths[\(pathIndex)].pathType"
                    guard let value = path["pathType"]?.string else {
                        problems.append(.error(
                            "\(subject): \(shown) is not set, which networking.k8s.io/v1 requires (Required value): the API server refuses the object, so \(refused).",
                            title: "Invalid Ingress path", fix: "Set pathType: Prefix (or Exact, ImplementationSpecific).", at: at(Array(field.dropLast()))))
                        continue
                    }
                    guard !BuiltInKindValidation.placeholder(value), !pathTypes.contains(value) else { continue }
                    let nearest = pathTypes.first { $0.lowercased() == value.lowercased() }
                    problems.append(.error(
                        "\(subject): \(shown) \"\(value)\" is not one of \(pathTypes.joined(separator: ", ")) (Unsupported value; the API server compares case-sensitively): it refuses the object, so \(refused).",
                        title: "Invalid Ingress path", fix: "Write \(nearest ?? "Prefix, Exact or ImplementationSpecific").", at: at(field)))
                }
            }
        }
        if key == "batch|CronJob", let schedule = object.json["spec", "schedule"]?.string, !BuiltInKindValidation.placeholder(schedule) {
            let text = schedule.trimmingCharacters(in: .whitespaces)
            var why: String?
            if text.hasPrefix("TZ=") || text.hasPrefix("CRON_TZ=") {
                why = "holds a time zone, which the API server refuses in the schedule (\"cannot use TZ or CRON_TZ in schedule, use timeZone field instead\")"
            } else if text.hasPrefix("@") {
                if !descriptors.contains(text), !text.hasPrefix("@every ") { why = "is not a descriptor cron knows (@yearly, @monthly, @weekly, @daily, @hourly, @every <duration>)" }
            } else {
                let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                if fields.count != 5 {
                    why = "has \(fields.count) field\(fields.count == 1 ? "" : "s"), and a schedule has exactly 5 (minute hour day-of-month month day-of-week)"
                } else {
                    why = zip(fields, cronFields).lazy.compactMap { field, bounds in cronFieldProblem(field, bounds) }.first
                }
            }
            if let why {
                problems.append(.error(
                    "\(subject): spec.schedule \"\(schedule)\" \(why): the API server refuses the object (spec.schedule: Invalid value), so \(refused).",
                    title: "Invalid CronJob schedule", fix: "Write five fields (`17 3 * * *`) or a descriptor (`@daily`); put a time zone in spec.timeZone.", at: at(["spec", "schedule"])))
            }
        }
        return problems
    }

    /// The quantities of containers' resources, a PersistentVolumeClaim's (also a StatefulSet's
    /// volumeClaimTemplates') and a ResourceQuota's `hard`: a string that is not a quantity is
    /// refused ("quantities must match the regular expression …").
    static func quantityProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var maps: [(JSONValue?, [Origins.FieldKey])] = []
        func node(_ path: [Origins.FieldKey]) -> JSONValue? { SubstitutedValues.value(object.json, path) }
        if let (spec, podSpec) = BuiltInKindValidation.podSpec(object, key: key) {
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for (index, _) in (spec[list]?.array ?? []).enumerated() {
                    for part in ["limits", "requests"] {
                        let path = podSpec + [.key(list), .index(index), "resources", .key(part)]
                        maps.append((node(path), path))
                    }
                }
            }
        }
        if key == "|PersistentVolumeClaim" { for part in ["limits", "requests"] { maps.append((node(["spec", "resources", .key(part)]), ["spec", "resources", .key(part)])) } }
        if key == "apps|StatefulSet" {
            for (index, _) in (object.json["spec", "volumeClaimTemplates"]?.array ?? []).enumerated() {
                let path: [Origins.FieldKey] = ["spec", "volumeClaimTemplates", .index(index), "spec", "resources", "requests"]
                maps.append((node(path), path))
            }
        }
        if key == "|ResourceQuota" { maps.append((object.json["spec", "hard"], ["spec", "hard"])) }
        var problems: [Annotation] = []
        for (map, path) in maps {
            guard case .object(let entries)? = map else { continue }
            for (name, value) in entries {
                guard case .string(let text) = value, !BuiltInKindValidation.placeholder(text), text.wholeMatch(of: quantity) == nil else { continue }
                problems.append(.error(
                    "\(subject): \(Origins.dotted(path + [.key(name)])) \"\(text)\" is not a Kubernetes quantity: the API server refuses the object (\"quantities must match the regular expression\"), so \(refused).",
                    title: "Invalid quantity", fix: "Write a number with a suffix Kubernetes knows: Mi, Gi (powers of 2), M, G (powers of 10), m for milli-CPU (`512Mi`, `1Gi`, `500m`).",
                    at: at(path + [.key(name)])))
            }
        }
        return problems
    }

    /// Fields the API server judges together (k8s validation): a PodDisruptionBudget with both
    /// `minAvailable` and `maxUnavailable` (`ValidatePodDisruptionBudgetSpec`), a
    /// HorizontalPodAutoscaler whose `minReplicas` exceeds `maxReplicas`
    /// (`validateHorizontalPodAutoscalerSpec`).
    static func crossFieldProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
        if key == "policy|PodDisruptionBudget", object.json["spec", "minAvailable"] != nil, object.json["spec", "maxUnavailable"] != nil {
            problems.append(.error(
                "\(subject): spec has both minAvailable and maxUnavailable: the API server refuses the object (\"minAvailable and maxUnavailable cannot be both set\"), so \(refused).",
                title: "Invalid PodDisruptionBudget", fix: "Keep one of minAvailable and maxUnavailable.", at: at(["spec", "maxUnavailable"])))
        }
        if key == "autoscaling|HorizontalPodAutoscaler", case .integer(let low)? = object.json["spec", "minReplicas"], case .integer(let high)? = object.json["spec", "maxReplicas"], low > high {
            problems.append(.error(
                "\(subject): spec.minReplicas \(low) is greater than spec.maxReplicas \(high): the API server refuses the object (\"must be greater than or equal to `minReplicas`\"), so \(refused).",
                title: "Invalid HorizontalPodAutoscaler", fix: "Make maxReplicas at least minReplicas.", at: at(["spec", "minReplicas"])))
        }
        return problems
    }

    /// A Job's (or a CronJob's job template's) pod `restartPolicy` written as anything but
    /// OnFailure or Never (batch validation `validateJobSpec`: "supported values: "OnFailure",
    /// "Never""; tester t24). One not written is not judged here.
    static func jobRestartPolicyProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        guard key == "batch|Job" || key == "batch|CronJob", let (spec, path) = BuiltInKindValidation.podSpec(object, key: key),
            let policy = spec["restartPolicy"]?.string, !BuiltInKindValidation.placeholder(policy), !["OnFailure", "Never"].contains(policy)
        else { return [] }
        let field = path + ["restartPolicy"]
        return [.error(
            "\(subject): \(Origins.dotted(field)) is \"\(policy)\", and a Job's pods restart only OnFailure or Never: the API server refuses the object (Unsupported value), so \(refused).",
            title: "Invalid Job restartPolicy", fix: "Write restartPolicy: OnFailure (or Never).", at: at(field))]
    }

    /// A NetworkPolicy port's `endPort` (networking validation `ValidateNetworkPolicyPort`;
    /// tester t24): only with a numeric `port`, and not below it.
    static func endPortProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        guard key == "networking.k8s.io|NetworkPolicy" else { return [] }
        var problems: [Annotation] = []
        for direction in ["ingress", "egress"] {
            for (ruleIndex, rule) in (object.json["spec", direction]?.array ?? []).enumerated() {
                for (portIndex, port) in (rule["ports"]?.array ?? []).enumerated() {
                    guard case .integer(let end)? = port["endPort"] else { continue }
                    let field: [Origins.FieldKey] = ["spec", .key(direction), .index(ruleIndex), "ports", .index(portIndex), "endPort"]
                    let why: String? = switch port["port"] {
                    case .integer(let start)?: end < start ? "is \(end), below port \(start) (\"must be greater than or equal to `port`\")" : nil
                    case .string?: "is set with a named port (\"may not be specified when `port` is non-numeric\")"
                    default: "is set without a port (\"may not be specified when `port` is not specified\")"
                    }
                    guard let why else { continue }
                    problems.append(.error(
                        "\(subject): \(Origins.dotted(field)) \(why): the API server refuses the object, so \(refused).",
                        title: "Invalid NetworkPolicy port", fix: "Give endPort only with a numeric port, at least that port.", at: at(field)))
                }
            }
        }
        return problems
    }

    /// A NetworkPolicy's `ipBlock.cidr` and `except` (networking validation `ValidateCIDR`, parsed
    /// as netutils `ParseCIDRSloppy`: IPv4 with leading zeros allowed, or IPv6, and a prefix
    /// length within the address size).
    static func cidrProblems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        guard key == "networking.k8s.io|NetworkPolicy" else { return [] }
        var problems: [Annotation] = []
        for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
            for (ruleIndex, rule) in (object.json["spec", direction]?.array ?? []).enumerated() {
                for (peerIndex, peer) in (rule[peers]?.array ?? []).enumerated() {
                    let base: [Origins.FieldKey] = ["spec", .key(direction), .index(ruleIndex), .key(peers), .index(peerIndex), "ipBlock"]
                    var values: [(String, [Origins.FieldKey])] = []
                    if let cidr = peer["ipBlock", "cidr"]?.string { values.append((cidr, base + ["cidr"])) }
                    for (index, except) in (peer["ipBlock", "except"]?.array ?? []).enumerated() {
                        if let text = except.string { values.append((text, base + ["except", .index(index)])) }
                    }
                    for (text, path) in values where !BuiltInKindValidation.placeholder(text) && !isCIDR(text) {
                        problems.append(.error(
                            "\(subject): \(Origins.dotted(path)) \"\(text)\" is not a CIDR (an address, `/`, a prefix length within its size): the API server refuses the object, so \(refused).",
                            title: "Invalid CIDR", fix: "Write an IPv4 or IPv6 network such as 10.42.0.0/16 (at most /32 for IPv4, /128 for IPv6).", at: at(path)))
                    }
                    // Each `except` a strict subset of `cidr` (`ValidateIPBlock`; tester t23 F2).
                    guard let cidrText = peer["ipBlock", "cidr"]?.string, let cidr = network(cidrText) else { continue }
                    for (text, path) in values.dropFirst() {
                        guard let except = network(text), except.bytes.count == cidr.bytes.count else { continue }
                        if except.length <= cidr.length || !sharesPrefix(except.bytes, cidr.bytes, bits: cidr.length) {
                            problems.append(.error(
                                "\(subject): \(Origins.dotted(path)) \"\(text)\" is not a strict subset of cidr \"\(cidrText)\": the API server refuses the object (\"must be a strict subset of `cidr`\"), so \(refused).",
                                title: "Invalid CIDR", fix: "List in except only networks inside \(cidrText) and smaller than it.", at: at(path)))
                        }
                    }
                }
            }
        }
        return problems
    }

    /// The address bytes (4 or 16) and prefix length of a CIDR, nil when it is not one.
    static func network(_ text: String) -> (bytes: [UInt8], length: Int)? {
        guard isCIDR(text) else { return nil }
        let parts = text.split(separator: "/")
        let address = String(parts[0])
        guard let length = Int(parts[1]) else { return nil }
        if address.contains(":") {
            var buffer = in6_addr()
            guard inet_pton(AF_INET6, address, &buffer) == 1 else { return nil }
            return (withUnsafeBytes(of: &buffer) { Array($0) }, length)
        }
        return (address.split(separator: ".").compactMap { UInt8($0) }, length)
    }

    /// Whether `a` and `b` agree on their first `bits` bits.
    static func sharesPrefix(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool {
        for bit in 0..<bits {
            let mask = UInt8(0x80) >> UInt8(bit % 8)
            if a[bit / 8] & mask != b[bit / 8] & mask { return false }
        }
        return true
    }

    static func isCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]), parts[1].allSatisfy(\.isASCII) else { return false }
        let address = String(parts[0])
        if address.contains(":") {
            var buffer = in6_addr()
            return inet_pton(AF_INET6, address, &buffer) == 1 && (0...128).contains(length)
        }
        let octets = address.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { $0.count <= 3 && !$0.isEmpty && (UInt8($0) != nil) } && (0...32).contains(length)
    }
}
