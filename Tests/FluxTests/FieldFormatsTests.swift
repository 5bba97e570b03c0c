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

    /// Tester t22 F3: each field of a schedule within robfig/cron's ranges (day of week 0–6,
    /// names allowed; no `L`); the valid forms pass.
    @Test(arguments: [
        ("0 25 * * *", "hour"), ("60 * * * *", "minute"), ("0 0 32 * *", "day of month"), ("0 0 * 13 *", "month"),
        ("30 2 * * 7", "day of week"), ("30 2 * * 1-8", "day of week"), ("0 0 L * *", "day of month"), ("*/0 * * * *", "step"),
        ("*/15 0-6,22-23 1,15 JAN-jun mon-FRI", nil), ("0 0 ? * *", nil), ("5 4 * * sun", nil),
    ] as [(String, String?)])
    func scheduleFieldsWithinTheirRanges(schedule: String, refusedField: String?) {
        let fields = schedule.split(separator: " ").map(String.init)
        let problem = zip(fields, FieldFormats.cronFields).lazy.compactMap { FieldFormats.cronFieldProblem($0, $1) }.first
        if let refusedField {
            #expect(problem?.contains(refusedField) == true, "\(schedule): \(problem ?? "nil")")
        } else {
            #expect(problem == nil, "\(schedule): \(problem ?? "")")
        }
    }

    /// Tester t22 F1, F4: quantities, CIDRs, and PDB/HPA fields judged together, each at its
    /// line; the valid neighbours pass.
    @Test func quantitiesCIDRsAndFieldsJudgedTogether() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n          image: nginx\n          resources:\n            requests: {cpu: 100m, memory: 512Mi}\n            limits: {cpu: 0.5, memory: 512MB}\n",
            "apps/pvc.yaml": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: default}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 20GB}\n",
            "apps/netpol.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n, namespace: default}\nspec:\n  podSelector: {}\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.42.0.0/33\n            except: [10.42.1.0/24, \"fd00::/8\"]\n",
            // except outside its cidr, and equal to it (t23 F2); a strict subset passes.
            "apps/except.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: e, namespace: default}\nspec:\n  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock:\n            cidr: 10.0.0.0/16\n            except:\n              - 10.0.1.0/24\n              - 192.168.0.0/24\n              - 10.0.0.0/16\n",
            "apps/pdb.yaml": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, namespace: default}\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n  selector: {matchLabels: {app: web}}\n",
            "apps/hpa.yaml": "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 5\n  maxReplicas: 4\n",
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.level == .error }
        let found = Dictionary(problems.compactMap { problem in problem.location.map { ("\($0.file):\($0.line ?? 0)", problem.title ?? "") } }, uniquingKeysWith: { a, _ in a })
        #expect(found == [
            "apps/deploy.yaml:14": "Invalid quantity", "apps/pvc.yaml:7": "Invalid quantity", "apps/netpol.yaml:9": "Invalid CIDR",
            "apps/pdb.yaml:6": "Invalid PodDisruptionBudget", "apps/hpa.yaml:6": "Invalid HorizontalPodAutoscaler",
            "apps/except.yaml:12": "Invalid CIDR", "apps/except.yaml:13": "Invalid CIDR",
        ], "\(problems)")
    }

    /// Tester t24: a Job's pods restart OnFailure or Never only (in a CronJob's job template too),
    /// and a NetworkPolicy's endPort needs a numeric port it is not below; the valid forms pass.
    @Test func jobRestartPoliciesAndEndPorts() async throws {
        func job(_ name: String, _ policy: String) -> String {
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: \(name), namespace: default}\nspec:\n  template:\n    spec:\n      restartPolicy: \(policy)\n      containers: [{name: c, image: busybox}]\n"
        }
        func policy(_ name: String, _ port: String) -> String {
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: \(name), namespace: default}\nspec:\n  podSelector: {}\n  egress:\n    - ports:\n        - \(port)\n"
        }
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps"),
            "apps/always.yaml": job("always", "Always"),
            "apps/never.yaml": job("never", "Never"),
            "apps/cron.yaml": Self.cronJob("cron", "@daily").replacingOccurrences(of: "restartPolicy: OnFailure", with: "restartPolicy: Always"),
            "apps/named.yaml": policy("named", "{port: http, endPort: 9000}"),
            "apps/below.yaml": policy("below", "{port: 9000, endPort: 8000}"),
            "apps/range.yaml": policy("range", "{port: 8000, endPort: 9000}"),
        ])
        defer { fleet.remove() }
        let problems = try fleet.read().problems.filter { $0.level == .error }
        let found = Dictionary(problems.compactMap { problem in problem.location.map { ("\($0.file):\($0.line ?? 0)", problem.title ?? "") } }, uniquingKeysWith: { a, _ in a })
        #expect(found == [
            "apps/always.yaml:7": "Invalid Job restartPolicy", "apps/cron.yaml:10": "Invalid Job restartPolicy",
            "apps/named.yaml:8": "Invalid NetworkPolicy port", "apps/below.yaml:8": "Invalid NetworkPolicy port",
        ], "\(problems)")
    }
}
