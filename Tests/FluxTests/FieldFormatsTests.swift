import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t21 F4: values the API server's validation refuses although its schema types them as
/// strings: an Ingress path's pathType (case-sensitive: `prefix` is refused) and a CronJob's
/// schedule (five fields or a descriptor; no time zone in it). The valid neighbours pass.
@Suite struct FieldFormatsTests {
    static func ingress(_ name: String, _ pathType: String) -> String {
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: \(name), namespace: default}\nspec:\n  rules:\n    - http:\n        paths:\n          - path: /\n            pathType: \(pathType)\n            backend: {service: {name: web, port: {number: 80}}}\n"
    }

    static func cronJob(_ name: String, _ schedule: String) -> String {
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: \(name), namespace: default}\nspec:\n  schedule: \"\(schedule)\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers: [{name: c, image: busybox}]\n"
    }

    @Test func pathTypesAndSchedulesAsTheAPIServerJudgesThem() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/lower.yaml": Self.ingress("lower", "prefix"),
            "apps/fine.yaml": Self.ingress("fine", "Prefix"),
            "apps/four.yaml": Self.cronJob("four", "17 3 * *"),
            "apps/zone.yaml": Self.cronJob("zone", "TZ=UTC 0 3 * * *"),
            "apps/daily.yaml": Self.cronJob("daily", "@daily"),
            "apps/five.yaml": Self.cronJob("five", "*/5 * * * *"),
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.level == .error }
        let path = problems.filter { $0.title == "Invalid Ingress path" }
        #expect(path.map(\.location) == [SourceLocation(file: "apps/lower.yaml", line: 9)], "\(problems)")
        #expect(path.first?.fix == "Write Prefix.", "\(path)")
        let schedules = problems.filter { $0.title == "Invalid CronJob schedule" }
        #expect(Set(schedules.compactMap(\.location)) == [SourceLocation(file: "apps/four.yaml", line: 5), SourceLocation(file: "apps/zone.yaml", line: 5)], "\(problems)")
        #expect(schedules.contains { $0.message.contains("has 4 fields") } && schedules.contains { $0.message.contains("time zone") }, "\(schedules)")
    }
}
