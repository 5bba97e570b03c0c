import Actions
@testable import Flux
import Foundation
import Kube
import Testing

/// The rules for done per kind, inventory ids, Mermaid ids and summary links, on objects in the
/// shapes the controllers write.
struct ReadinessRulesTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    @Test func inventoryIdsParseAsKustomizeControllerWritesThem() throws {
        let kustomization = try Self.json("""
            {"status":{"inventory":{"entries":[
              {"id":"apps_podinfo_helm.toolkit.fluxcd.io_HelmRelease","v":"v2"},
              {"id":"_apps__Namespace","v":"v1"},
              {"id":"apps_web_apps_Deployment","v":"v1"},
              {"id":"broken","v":"v1"},
              {"id":"_system__aggregate-to-edit_rbac.authorization.k8s.io_ClusterRole","v":"v1"},
              {"id":"apps_a_b_c_d","v":"v1"}]}}}
            """)
        let entries = InventoryEntry.entries(of: kustomization)
        #expect(entries.count == 4, "a malformed id is skipped: \(entries)")
        // cli-utils writes `:` in a name as `__` (ObjMetadata.String) and reads it back so.
        #expect(entries[3].reference == ObjectReference(group: "rbac.authorization.k8s.io", kind: "ClusterRole", namespace: "", name: "system:aggregate-to-edit"))
        #expect(entries[0].reference == ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "apps", name: "podinfo"))
        #expect(entries[0].apiVersion == "helm.toolkit.fluxcd.io/v2")
        #expect(entries[1].reference == ObjectReference(group: "", kind: "Namespace", namespace: "", name: "apps"))
        #expect(entries[1].apiVersion == "v1")
        #expect(WaitScope.flux.covers(entries[0].reference) && !WaitScope.flux.covers(entries[2].reference))
        #expect(WaitScope.all.covers(entries[2].reference) && !WaitScope.all.covers(entries[1].reference))
        #expect(!WaitScope.kustomizations.covers(entries[0].reference))
    }

    @Test func helmReleaseRules() throws {
        func release(_ status: String, generation: Int = 1, extra: String = "") throws -> JSONValue {
            try Self.json(#"{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"p","namespace":"a","generation":\#(generation)},"spec":{\#(extra)},"status":\#(status)}"#)
        }
        let ready = try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"InstallSucceeded"}],"history":[{"chartName":"podinfo","chartVersion":"6.5.0"}]}"#)
        #expect(Readiness.fluxObject(ready) == .ready)
        #expect(Readiness.chartVersion(ready) == "podinfo@6.5.0")
        // Ready for an older generation is not done.
        #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True"}]}"#, generation: 2)) != .ready)
        #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"False","reason":"InstallFailed","message":"boom"}]}"#))
            == .failed(reason: "InstallFailed", message: "boom"))
        #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"False","reason":"UpgradeFailed","message":"x"}]}"#))
            == .failed(reason: "UpgradeFailed", message: "x"))
        // Waiting reasons: a dependency, the chart's source.
        for reason in ["DependencyNotReady", "HelmChartNotReady", "Progressing"] {
            #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"False","reason":"\#(reason)","message":"m"}]}"#))
                == .pending(reason: reason, message: "m"))
        }
        // Stalled (retries exhausted) fails even while Ready is Unknown.
        #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"Unknown","reason":"Progressing"},{"type":"Stalled","status":"True","reason":"RetriesExceeded","message":"gave up"}]}"#))
            == .failed(reason: "RetriesExceeded", message: "gave up"))
        // v2beta1 keeps the chart version in lastAppliedRevision.
        #expect(Readiness.chartVersion(try release(#"{"lastAppliedRevision":"1.2.3"}"#)) == "1.2.3")
        // Suspended: not reconciled, so never shown Ready, even with an old Ready=True (tester t10 F5).
        let suspended = Readiness.pending(reason: "Suspended", message: "spec.suspend is true: the controller does not reconcile it")
        #expect(Readiness.fluxObject(try release(#"{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"InstallSucceeded"}]}"#, extra: #""suspend":true"#)) == suspended)
        let kustomization = try Self.json(#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system","generation":1},"spec":{"suspend":true},"status":{}}"#)
        #expect(Readiness.kustomization(kustomization, revision: Revision(branch: "main", commit: String(repeating: "a", count: 40))) == suspended)
        #expect(Readiness.kustomization(kustomization, sourceRevision: nil) == suspended)
    }

    /// Tester t10 F3: a stalled HelmRelease names Helm's error, not Stalled's generic text. The
    /// shapes helm-controller writes: `AtomicRelease` marks `Stalled=True` `RetriesExceeded`
    /// "Failed to install after 1 attempt(s)" and `summarize` leaves Ready (from Released or
    /// Remediated) with the action's reason and Helm's message; the history keeps the failed release.
    @Test func aStalledHelmReleaseReportsHelmsError() throws {
        let helm = "Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded"
        let stalled = #"{"type":"Stalled","status":"True","reason":"RetriesExceeded","message":"Failed to install after 1 attempt(s)","observedGeneration":3}"#
        func release(_ conditions: [String], history: String = "[]") throws -> JSONValue {
            try Self.json(#"{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"podinfo","namespace":"apps","generation":3},"spec":{},"status":{"observedGeneration":3,"installFailures":1,"history":\#(history),"conditions":[\#(conditions.joined(separator: ","))]}}"#)
        }
        // Ready carries Helm's error.
        let ready = #"{"type":"Ready","status":"False","reason":"InstallFailed","message":"\#(helm)","observedGeneration":3}"#
        let released = #"{"type":"Released","status":"False","reason":"InstallFailed","message":"\#(helm)","observedGeneration":3}"#
        #expect(Readiness.fluxObject(try release([stalled, ready, released]))
            == .failed(reason: "InstallFailed", message: "\(helm) (RetriesExceeded: Failed to install after 1 attempt(s))"))
        // Ready mirrors Stalled: the Remediated condition (an uninstall remediation that followed) says what failed.
        let readyStalled = #"{"type":"Ready","status":"False","reason":"RetriesExceeded","message":"Failed to install after 1 attempt(s)","observedGeneration":3}"#
        let remediated = #"{"type":"Remediated","status":"True","reason":"UninstallSucceeded","message":"Helm uninstall succeeded","observedGeneration":3}"#
        let upgrade = #"{"type":"Released","status":"False","reason":"UpgradeFailed","message":"Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.1: Deployment.apps \"podinfo\" is invalid","observedGeneration":3}"#
        #expect(Readiness.fluxObject(try release([stalled, readyStalled, remediated, upgrade])) == .failed(
            reason: "UpgradeFailed",
            message: "Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.1: Deployment.apps \"podinfo\" is invalid (RetriesExceeded: Failed to install after 1 attempt(s))"))
        // Only the history says it: the failed release is named.
        let history = #"[{"name":"podinfo","namespace":"apps","version":2,"status":"failed","chartName":"podinfo","chartVersion":"6.5.1"}]"#
        #expect(Readiness.fluxObject(try release([stalled, readyStalled], history: history)) == .failed(
            reason: "RetriesExceeded", message: "Failed to install after 1 attempt(s): Helm release podinfo.v2 with chart podinfo@6.5.1 failed"))
    }

    /// Tester t10 F2: the objects a `HealthCheckFailed` message names, as kustomize-controller
    /// writes it from fluxcd/pkg ssa `WaitForSet` (fail-fast and timeout forms, cluster-scoped too).
    @Test func healthCheckMessagesNameTheirObjects() {
        let failFast = "health check failed after 31.896309ms: failed early due to stalled resources: [HelmRelease/commerce/lago status: 'Failed']"
        #expect(HealthCheckFailure.objects(in: failFast) == [.init(kind: "HelmRelease", namespace: "commerce", name: "lago", status: "Failed")])
        let timeout = "health check failed after 10m0.038s: timeout waiting for: [Deployment/notify/apprise status: 'InProgress', ClusterRole/system:edit status: 'InProgress', HelmRelease/apps/web.v2 status: 'Failed']"
        #expect(HealthCheckFailure.objects(in: timeout) == [
            .init(kind: "Deployment", namespace: "notify", name: "apprise", status: "InProgress"),
            .init(kind: "ClusterRole", namespace: "", name: "system:edit", status: "InProgress"),
            .init(kind: "HelmRelease", namespace: "apps", name: "web.v2", status: "Failed"),
        ])
        #expect(HealthCheckFailure.objects(in: "kustomize build failed").isEmpty)
    }

    /// Which kinds each `--wait-for` scope waits for (issue 15): `flux` every Flux kind a
    /// Kustomization applies (HelmRelease, HelmRepository, HelmChart, OCIRepository, GitRepository,
    /// Bucket, Kustomization), `all` also the workloads, `kustomizations` nothing after them.
    @Test func eachScopeWaitsForItsKinds() {
        func reference(_ group: String, _ kind: String) -> ObjectReference { ObjectReference(group: group, kind: kind, namespace: "n", name: "x") }
        let flux = [
            reference("helm.toolkit.fluxcd.io", "HelmRelease"), reference("source.toolkit.fluxcd.io", "HelmRepository"),
            reference("source.toolkit.fluxcd.io", "HelmChart"), reference("source.toolkit.fluxcd.io", "OCIRepository"),
            reference("source.toolkit.fluxcd.io", "GitRepository"), reference("source.toolkit.fluxcd.io", "Bucket"),
            reference("kustomize.toolkit.fluxcd.io", "Kustomization"),
        ]
        let workloads = [reference("apps", "Deployment"), reference("apps", "StatefulSet"), reference("apps", "DaemonSet"), reference("batch", "Job")]
        let neither = [reference("", "ConfigMap"), reference("", "Secret"), reference("notification.toolkit.fluxcd.io", "Alert"), reference("example.com", "HelmRelease")]
        for object in flux {
            #expect(WaitScope.flux.covers(object) && WaitScope.all.covers(object) && !WaitScope.kustomizations.covers(object), "\(object)")
        }
        for object in workloads { #expect(!WaitScope.flux.covers(object) && WaitScope.all.covers(object), "\(object)") }
        for object in neither { #expect(!WaitScope.flux.covers(object) && !WaitScope.all.covers(object), "\(object)") }
    }

    @Test func ociHelmRepositoryIsStatic() throws {
        let oci = try Self.json(#"{"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"HelmRepository","metadata":{"name":"r","namespace":"f","generation":1},"spec":{"type":"oci"}}"#)
        #expect(Readiness.fluxObject(oci) == .ready)
        var https = oci
        https.set("spec", .object([]))
        #expect(Readiness.fluxObject(https) == .pending(reason: "", message: "not reconciled yet"))
    }

    @Test func workloadRulesFollowKstatus() throws {
        func deployment(_ status: String, replicas: Int = 2, deadline: Bool = false) throws -> JSONValue {
            try Self.json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"a","generation":3},"spec":{"replicas":\#(replicas)\#(deadline ? #","progressDeadlineSeconds":600"# : "")},"status":\#(status)}"#)
        }
        let available = #"{"type":"Available","status":"True","reason":"MinimumReplicasAvailable"}"#
        let progressed = #"{"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable"}"#
        let updating = #"{"type":"Progressing","status":"True","reason":"ReplicaSetUpdated"}"#
        func counts(_ total: Int, _ updated: Int, _ availableCount: Int, _ ready: Int, generation: Int = 3, _ conditions: [String]) -> String {
            #"{"observedGeneration":\#(generation),"replicas":\#(total),"updatedReplicas":\#(updated),"availableReplicas":\#(availableCount),"readyReplicas":\#(ready),"conditions":[\#(conditions.joined(separator: ","))]}"#
        }
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 2, [available, progressed]), deadline: true)) == .ready)
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 2, [available, updating]), deadline: true)) == .pending(reason: "ReplicaSetNotAvailable", message: "ReplicaSet not Available"))
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 2, [available, updating]))) == .ready, "without a progress deadline the controller sets no Progressing condition")
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 2, [progressed]), deadline: true)) == .pending(reason: "DeploymentNotAvailable", message: "Deployment not Available"))
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 2, generation: 2, [available, progressed]))) != .ready)
        #expect(Readiness.workload(try deployment(counts(3, 2, 2, 2, [available, progressed]))) == .pending(reason: "ExtraPods", message: "Pending termination: 1"))
        #expect(Readiness.workload(try deployment(counts(2, 2, 1, 1, [available, progressed]))) == .pending(reason: "LessAvailable", message: "Available: 1/2"))
        #expect(Readiness.workload(try deployment(counts(2, 2, 2, 1, [available, progressed]))) == .pending(reason: "LessReady", message: "Ready: 1/2"))
        #expect(Readiness.workload(try deployment(#"{"observedGeneration":3,"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"timed out"}]}"#))
            == .failed(reason: "ProgressDeadlineExceeded", message: "timed out"))
        func job(_ status: String, spec: String = "{}") throws -> JSONValue {
            try Self.json(#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","namespace":"a","generation":1},"spec":\#(spec),"status":\#(status)}"#)
        }
        #expect(Readiness.workload(try job(#"{"failed":7,"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"too many"}]}"#))
            == .failed(reason: "JobFailed", message: "Job Failed. failed: 7/1 error: too many"))
        #expect(Readiness.workload(try job(#"{"succeeded":1,"conditions":[{"type":"Complete","status":"True"}]}"#)) == .ready)
        // Flux's Job reader, not plain kstatus: a running Job is not done.
        #expect(Readiness.workload(try job(#"{"startTime":"2026-01-01T00:00:00Z","active":1}"#)) == .pending(reason: "JobInProgress", message: "Job in progress. success:0, active: 1, failed: 0"))
        #expect(Readiness.workload(try job("{}")) == .pending(reason: "JobNotStarted", message: "Job not started. active: 0/1"))
        #expect(Readiness.workload(try job("{}", spec: #"{"suspend":true}"#)) == .ready)
        let daemonSet = try Self.json(#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds","namespace":"a","generation":1},"status":{"observedGeneration":1,"desiredNumberScheduled":3,"currentNumberScheduled":3,"updatedNumberScheduled":3,"numberAvailable":2,"numberReady":3}}"#)
        #expect(Readiness.workload(daemonSet) == .pending(reason: "LessAvailable", message: "Available: 2/3"))
        var unobserved = daemonSet
        unobserved.set("status", .object([("desiredNumberScheduled", .integer(0))]))
        #expect(Readiness.workload(unobserved) != .ready, "a DaemonSet its controller has not observed")
        let statefulSet = try Self.json(#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s","namespace":"a","generation":1},"spec":{"replicas":2},"status":{"observedGeneration":1,"replicas":2,"readyReplicas":2,"currentReplicas":2,"currentRevision":"s-1","updateRevision":"s-2"}}"#)
        #expect(Readiness.workload(statefulSet) == .pending(reason: "RevisionMismatch", message: "Waiting for updated revision to match current"))
        var rolledOut = statefulSet
        rolledOut.set("status", .object([
            ("observedGeneration", .integer(1)), ("replicas", .integer(2)), ("readyReplicas", .integer(2)), ("currentReplicas", .integer(2)),
            ("currentRevision", .string("s-2")), ("updateRevision", .string("s-2")),
        ]))
        #expect(Readiness.workload(rolledOut) == .ready)
    }

    @Test func mermaidIdsEscapeEveryNameAndLabelsCannotBreakOut() {
        let odd = ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "team-a.prod", name: "web.v2-canary")
        let id = ClusterGraph.mermaidID(odd)
        #expect(id == "HelmRelease_2Fteam_2Da_2Eprod_2Fweb_2Ev2_2Dcanary")
        #expect(id.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        // Different names never share an id.
        #expect(ClusterGraph.mermaidID(ObjectReference(group: "", kind: "K", namespace: "a-b", name: "c"))
            != ClusterGraph.mermaidID(ObjectReference(group: "", kind: "K", namespace: "a", name: "b-c")))
        var graph = ClusterGraph()
        graph.update([ReconciliationWaiter.Row(
            reference: odd, parent: nil, location: SourceLocation(file: "apps/web.yaml", line: 3),
            readiness: .failed(reason: "InstallFailed", message: "x\"]; click evil"), revision: nil, elapsed: nil, live: .object([]))])
        let text = graph.mermaid { "https://github.example/o/r/blob/c/\($0.file)#L\($0.line ?? 0)" }
        #expect(text.contains("\(id)[\"HelmRelease<br/>team-a.prod/web.v2-canary<br/>failed\"]"), "\(text)")
        #expect(text.contains("click \(id) href \"https://github.example/o/r/blob/c/apps/web.yaml#L3\" \"apps/web.yaml:3\" _blank"))
        #expect(text.contains("class \(id) failed"))
    }

    /// Tester t10 F7: GitHub renders Mermaid only up to 50,000 characters. A fleet whose full
    /// graph is larger is drawn with the ready objects of each Kustomization as one node per kind
    /// (the failed one keeps its node, class and link); a small graph is drawn whole.
    @Test(arguments: [3, 400])
    func aGraphTooLargeForGitHubGroupsTheReadyObjects(releases: Int) {
        let apps = ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: "flux-system", name: "apps")
        func release(_ index: Int) -> ObjectReference {
            ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "team-\(index % 40)", name: "release-with-a-long-name-\(index)")
        }
        var rows = [ReconciliationWaiter.Row(reference: apps, parent: nil, location: nil, readiness: .ready, revision: "main@sha1:" + String(repeating: "ab", count: 20), elapsed: .seconds(3), live: .object([]))]
        for index in 0..<releases {
            rows.append(ReconciliationWaiter.Row(
                reference: release(index), parent: apps, location: SourceLocation(file: "apps/r\(index).yaml", line: 1),
                readiness: index == 0 ? .failed(reason: "InstallFailed", message: "boom") : .ready, revision: "6.5.0", elapsed: .seconds(2), live: .object([])))
        }
        var graph = ClusterGraph()
        graph.update(rows)
        let text = graph.mermaid { "https://github.example/o/r/blob/c/\($0.file)#L\($0.line ?? 0)" }
        #expect(text.utf8.count <= ClusterGraph.mermaidLimit, "\(text.utf8.count) characters")
        let failed = ClusterGraph.mermaidID(release(0))
        #expect(text.contains("class \(failed) failed") || text.contains(",\(failed) failed") || text.contains("\(failed)[\"HelmRelease<br/>"), "\(text.prefix(2000))")
        #expect(text.contains("click \(failed) href \"https://github.example/o/r/blob/c/apps/r0.yaml#L1\""))
        let group = "G_\(ClusterGraph.mermaidID(apps))_HelmRelease_ready"
        if releases == 3 {
            #expect(!text.contains(group) && text.contains(ClusterGraph.mermaidID(release(2))), "\(text)")
        } else {
            #expect(text.contains("\(group)[\"\(releases - 1) HelmReleases<br/>ready\"]"), "\(text.prefix(3000))")
            #expect(text.contains("\(ClusterGraph.mermaidID(apps)) --> \(group)"))
            #expect(!text.contains(ClusterGraph.mermaidID(release(2)) + "["))
        }
    }

    /// Tester t13 F2: Mermaid refuses more than 500 edges (`maxEdges`, which a diagram cannot
    /// raise), whatever the text's size. 130 short-named HelmReleases, each from one
    /// HelmRepository and (from the third on) depending on the first two, give more than 500
    /// edges in fewer than 50,000 characters: the ready ones are grouped, and the graph keeps
    /// the failed release and every dependency edge it needs within the limit.
    @Test func aGraphWithTooManyEdgesForMermaidGroupsTheReadyObjects() throws {
        let apps = ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: "flux-system", name: "m")
        let repository = ObjectReference(group: "source.toolkit.fluxcd.io", kind: "HelmRepository", namespace: "a", name: "charts")
        var rows = [
            ReconciliationWaiter.Row(reference: apps, parent: nil, location: nil, readiness: .ready, revision: "main@sha1:" + String(repeating: "ab", count: 20), elapsed: .seconds(3), live: .object([])),
            ReconciliationWaiter.Row(reference: repository, parent: apps, location: nil, readiness: .ready, revision: "sha256:1", elapsed: .seconds(1), live: .object([])),
        ]
        for index in 0..<130 {
            let name = "r" + String(format: "%03d", index)
            let dependsOn = index < 2 ? "" : #","dependsOn":[{"name":"r000"},{"name":"r001"}]"#
            let live = try JSONValue.parse(Data(#"{"kind":"HelmRelease","spec":{"chart":{"spec":{"chart":"c","sourceRef":{"kind":"HelmRepository","name":"charts"}}}\#(dependsOn)}}"#.utf8))
            rows.append(ReconciliationWaiter.Row(
                reference: ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "a", name: name), parent: apps,
                location: SourceLocation(file: "a/\(name).yaml", line: 1), readiness: index == 129 ? .failed(reason: "InstallFailed", message: "boom") : .ready,
                revision: "1.0.0", elapsed: .seconds(2), live: live))
        }
        var graph = ClusterGraph()
        graph.update(rows)
        let whole = graph.mermaid(link: { _ in nil }, grouping: [])
        #expect(whole.utf8.count < ClusterGraph.mermaidLimit && ClusterGraph.edgeCount(whole) > ClusterGraph.mermaidEdgeLimit, "\(whole.utf8.count) characters, \(ClusterGraph.edgeCount(whole)) edges: the case needs both")
        let text = graph.mermaid()
        #expect(ClusterGraph.edgeCount(text) <= ClusterGraph.mermaidEdgeLimit, "\(ClusterGraph.edgeCount(text)) edges")
        #expect(text.contains("G_\(ClusterGraph.mermaidID(apps))_HelmRelease_ready[\"127 HelmReleases<br/>ready\"]"), "\(text.prefix(3000))")
        let failed = ClusterGraph.mermaidID(rows.last!.reference)
        #expect(text.contains("\(failed)[\"HelmRelease<br/>a/r129"), "the failed release keeps its node")
        #expect(text.contains("\(ClusterGraph.mermaidID(rows[2].reference)) -. needed by .-> \(failed)"), "and its dependency edges")
    }

    /// Tester t15 F2: on a timeout the object the verdict blames is waiting like hundreds of
    /// others; grouped with them it would have no node and no link. A kept object keeps its node.
    @Test func theBlamedObjectKeepsItsNodeWhenTheRestIsGrouped() {
        let apps = ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: "flux-system", name: "apps")
        func release(_ index: Int) -> ObjectReference {
            ObjectReference(group: "helm.toolkit.fluxcd.io", kind: "HelmRelease", namespace: "team-\(index % 40)", name: "release-with-a-long-name-\(index)")
        }
        var rows = [ReconciliationWaiter.Row(reference: apps, parent: nil, location: nil, readiness: .ready, revision: "main@sha1:" + String(repeating: "ab", count: 20), elapsed: .seconds(3), live: .object([]))]
        for index in 0..<400 {
            rows.append(ReconciliationWaiter.Row(
                reference: release(index), parent: apps, location: SourceLocation(file: "apps/r\(index).yaml", line: 1),
                readiness: .pending(reason: "Progressing", message: "installing"), revision: nil, elapsed: nil, live: .object([])))
        }
        var graph = ClusterGraph()
        graph.update(rows)
        let blamed = ClusterGraph.mermaidID(release(7))
        #expect(!graph.mermaid().contains(blamed + "[\""), "grouped without keeping")
        graph.kept.insert(release(7))
        let text = graph.mermaid()
        #expect(text.contains(blamed + "[\"HelmRelease<br/>team-7/release-with-a-long-name-7"), "\(text.prefix(1500))")
        #expect(text.contains("399 HelmReleases<br/>waiting"), "\(text.prefix(1500))")
    }

    /// Tester t15 F6: Kustomizations are never grouped, so 600 of them stay beyond GitHub's
    /// limits however the rest is folded: one node says so (never a graph GitHub shows as an error).
    @Test func aGraphBeyondGitHubsLimitsEvenGroupedSaysSo() {
        let git = ObjectReference(group: "source.toolkit.fluxcd.io", kind: "GitRepository", namespace: "flux-system", name: "flux-system")
        var rows = [ReconciliationWaiter.Row(reference: git, parent: nil, location: nil, readiness: .ready, revision: "main@sha1:" + String(repeating: "ab", count: 20), elapsed: .seconds(1), live: .object([]))]
        for index in 0..<600 {
            rows.append(ReconciliationWaiter.Row(
                reference: ObjectReference(group: "kustomize.toolkit.fluxcd.io", kind: "Kustomization", namespace: "flux-system", name: "team-\(index)"), parent: nil,
                location: nil, readiness: .ready, revision: "main@sha1:" + String(repeating: "ab", count: 20), elapsed: .seconds(2), live: .object([])))
        }
        var graph = ClusterGraph()
        graph.update(rows)
        let text = graph.mermaid()
        #expect(text.utf8.count <= ClusterGraph.mermaidLimit && ClusterGraph.edgeCount(text) <= ClusterGraph.mermaidEdgeLimit)
        #expect(text.contains("tooLarge[\"601 objects (600 Kustomizations)"), "\(text.prefix(400))")
    }

    /// Tester t6 finding 8: Mermaid renders labels as HTML, so a `&` left as is starts an
    /// entity (`&amp@` showed as `&@`); it is written as Mermaid's entity code `#amp;`, as `"`
    /// `<` `>` `#` already were.
    @Test func mermaidLabelsEscapeAmpersands() {
        let reference = ObjectReference(group: "source.toolkit.fluxcd.io", kind: "GitRepository", namespace: "flux-system", name: "flux-system")
        var graph = ClusterGraph()
        graph.update([ReconciliationWaiter.Row(
            reference: reference, parent: nil, location: nil, readiness: .failed(reason: "x", message: "y"),
            revision: "fix/\"q\"|<b>#1;&amp@sha1:" + String(repeating: "ab", count: 20), elapsed: nil, live: .object([]))])
        let text = graph.mermaid()
        #expect(text.contains("[\"GitRepository<br/>flux-system/flux-system<br/>fix/#quot;q#quot;|#lt;b#gt;#35;1;#amp;amp@sha1:abababababab · failed\"]"), "\(text)")
    }

    @Test func summaryLinksRenderAsMarkdownAndAsTextInATerminal() {
        var summary = StepSummary()
        summary.table(header: ["Where"], rows: [[StepSummary.link("a|[b].yaml:3", "https://github.example/o/r/blob/c/a.yaml#L3")], [StepSummary.link("x", "javascript:alert(1)")]])
        #expect(summary.markdown().contains("| [a\\|\\[b\\].yaml:3](https://github.example/o/r/blob/c/a.yaml#L3) |"), "\(summary.markdown())")
        #expect(summary.markdown().contains("| x |"), "only http(s) links")
        #expect(summary.plainText.contains("a|[b].yaml:3") && !summary.plainText.contains("https://"))
        #expect(ClusterGraph.shortRevision("main@sha1:" + String(repeating: "ab", count: 20)) == "main@sha1:abababababab")
        #expect(ClusterGraph.shortRevision("6.5.0") == "6.5.0")
    }
}
