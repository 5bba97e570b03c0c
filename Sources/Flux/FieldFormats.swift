import Actions
import Kube

/// Values of built-in kinds that the API server's validation refuses although the schema types
/// them as plain strings (tester t21 F4): an Ingress path's `pathType` (k8s.io/kubernetes
/// networking validation `validateHTTPIngressPath`: Exact, Prefix or ImplementationSpecific,
/// case-sensitive, required in networking.k8s.io/v1) and a CronJob's `schedule` (batch
/// validation `validateScheduleFormat`: robfig/cron's standard parser, five fields or a
/// descriptor such as `@daily`; a `TZ=` prefix is refused, `spec.timeZone` says it).
enum FieldFormats {
    static let pathTypes = ["Exact", "Prefix", "ImplementationSpecific"]
    static let descriptors: Set<String> = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]

    static func problems(_ object: KubeObject, key: String, subject: String, refused: String, at: ([Origins.FieldKey]) -> SourceLocation?) -> [Annotation] {
        var problems: [Annotation] = []
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
                let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).count
                if fields != 5 { why = "has \(fields) field\(fields == 1 ? "" : "s"), and a schedule has exactly 5 (minute hour day-of-month month day-of-week)" }
            }
            if let why {
                problems.append(.error(
                    "\(subject): spec.schedule \"\(schedule)\" \(why): the API server refuses the object (spec.schedule: Invalid value), so \(refused).",
                    title: "Invalid CronJob schedule", fix: "Write five fields (`17 3 * * *`) or a descriptor (`@daily`); put a time zone in spec.timeZone.", at: at(["spec", "schedule"])))
            }
        }
        return problems
    }
}
