import Flux
import Foundation
import Kube
import Testing

/// Tester t10 F1/F6: failures judged by the real controllers' bookkeeping, in the shapes they
/// write. kustomize-controller (`finalizeStatus`) writes `status.observedGeneration` only once
/// Ready, and after a failed attempt leaves Ready=False with the failure and `Reconciling=True`
/// reason `ProgressingWithRetry`; every condition carries its own `observedGeneration`
/// (fluxcd/pkg `conditions.Set`). A retried failure is held for a bounded grace, a Stalled one
/// fails at once. Instants are given, never waited for.
struct RetriedFailuresTests {
    static let revision = Revision(branch: "main", commit: String(repeating: "ab", count: 20))

    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    /// A Kustomization as kustomize-controller leaves it after a failed attempt at `attempted`,
    /// generation 2, never Ready at it (status.observedGeneration 1 or none).
    static func failedKustomization(
        reason: String = "BuildFailed", message: String = "kustomize build failed: missing x.yaml", conditionGeneration: Int = 2,
        attempted: String = revision.description, observed: Int? = nil, stalled: Bool = false, spec: String = #""interval":"10m""#
    ) throws -> JSONValue {
        let stalledCondition = stalled ? #"{"type":"Stalled","status":"True","reason":"\#(reason)","message":"\#(message)","observedGeneration":\#(conditionGeneration)},"# : ""
        let reconciling = stalled ? "" : #"{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"Building manifests","observedGeneration":\#(conditionGeneration)},"#
        return try json("""
            {"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system","generation":2},
             "spec":{\(spec)},
             "status":{\(observed.map { "\"observedGeneration\":\($0)," } ?? "")"lastAttemptedRevision":"\(attempted)","conditions":[\(stalledCondition)\(reconciling)
               {"type":"Ready","status":"False","reason":"\(reason)","message":"\(message)","observedGeneration":\(conditionGeneration)}]}}
            """)
    }

    /// The attempt under way, as kustomize-controller patches it at the start of `reconcile`.
    static func attempting() throws -> JSONValue {
        try json("""
            {"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"apps","namespace":"flux-system","generation":2},
             "spec":{"interval":"10m"},
             "status":{"conditions":[{"type":"Reconciling","status":"True","reason":"Progressing","message":"Fetching manifests","observedGeneration":2},
               {"type":"Ready","status":"Unknown","reason":"Progressing","message":"Reconciliation in progress","observedGeneration":2}]}}
            """)
    }

    @Test func aFailureIsJudgedByTheReadyConditionsOwnGeneration() throws {
        let message = "kustomize build failed: missing x.yaml"
        // No status.observedGeneration at all (a new object that never became Ready): still a failure of this generation.
        #expect(Readiness.kustomization(try Self.failedKustomization(), revision: Self.revision) == .failed(reason: "BuildFailed", message: message))
        // status.observedGeneration behind (Ready at generation 1 once): the condition speaks for generation 2.
        #expect(Readiness.kustomization(try Self.failedKustomization(observed: 1), revision: Self.revision) == .failed(reason: "BuildFailed", message: message))
        // A failure of the previous generation is not this one's.
        #expect(Readiness.kustomization(try Self.failedKustomization(conditionGeneration: 1), revision: Self.revision)
            == .pending(reason: "BuildFailed", message: message))
        // A failure at another revision (lastAttemptedRevision) is not the revision under test's.
        let other = "main@sha1:" + String(repeating: "cd", count: 20)
        #expect(Readiness.kustomization(try Self.failedKustomization(attempted: other), revision: Self.revision) == .pending(reason: "BuildFailed", message: message))
        // A condition without its own generation (older controllers) falls back to status.observedGeneration.
        var old = try Self.failedKustomization(observed: 2)
        old.set("status", .object([
            ("observedGeneration", .integer(2)), ("lastAttemptedRevision", .string(Self.revision.description)),
            ("conditions", .array([try Self.json(#"{"type":"Ready","status":"False","reason":"BuildFailed","message":"m"}"#)])),
        ]))
        #expect(Readiness.kustomization(old, revision: Self.revision) == .failed(reason: "BuildFailed", message: "m"))
        // The same for a HelmRelease (helm-controller) and a GitRepository (source-controller).
        let release = try Self.json("""
            {"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"p","namespace":"a","generation":1},"spec":{},
             "status":{"installFailures":1,"conditions":[{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"m","observedGeneration":1},
               {"type":"Ready","status":"False","reason":"InstallFailed","message":"Helm install failed","observedGeneration":1},
               {"type":"Released","status":"False","reason":"InstallFailed","message":"Helm install failed","observedGeneration":1}]}}
            """)
        #expect(Readiness.fluxObject(release) == .failed(reason: "InstallFailed", message: "Helm install failed"))
        let repository = try Self.json("""
            {"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"GitRepository","metadata":{"name":"flux-system","namespace":"flux-system","generation":1},
             "status":{"conditions":[{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"m","observedGeneration":1},
               {"type":"Ready","status":"False","reason":"GitOperationFailed","message":"authentication required","observedGeneration":1}]}}
            """)
        #expect(Readiness.gitRepository(repository, revision: Self.revision) == .failed(reason: "GitOperationFailed", message: "authentication required"))
    }

    @Test func aRetriedFailureIsHeldUntilItsSecondAttemptNotFailedAtTheFirst() throws {
        let retries = RetriedFailures()
        let reference = ObjectReference(try Self.attempting())
        let start = ContinuousClock.now
        func judge(_ object: JSONValue, after seconds: Int) -> Readiness {
            retries.judge(reference, object, Readiness.kustomization(object, revision: Self.revision), at: start + .seconds(seconds))
        }
        let failed = try Self.failedKustomization()
        let message = "kustomize build failed: missing x.yaml"
        // The first failed attempt: retried by the controller, so held, with its reason and message (tester F6).
        #expect(judge(failed, after: 0) == .pending(reason: "BuildFailed", message: message))
        // The same status seen again (a relist, another kind's event) is not a new attempt.
        #expect(judge(failed, after: 5) == .pending(reason: "BuildFailed", message: message))
        #expect(retries.expired(at: start + .seconds(5)).isEmpty)
        // The controller's next attempt under way, then the same failure: reported with its message.
        #expect(judge(try Self.attempting(), after: 30) == .pending(reason: "Progressing", message: "Reconciliation in progress"))
        guard case .failed(let reason, let text) = judge(failed, after: 31) else { Issue.record("the second failed attempt ends the wait"); return }
        #expect(reason == "BuildFailed" && text.hasPrefix(message) && text.contains("2 attempts"), "\(text)")
    }

    @Test func aRetriedFailureWithoutAnotherAttemptEndsAfterAFewRetryIntervals() throws {
        let retries = RetriedFailures(attempts: 2, intervals: 2)
        let failed = try Self.failedKustomization(spec: #""interval":"10m","retryInterval":"30s""#)
        let reference = ObjectReference(failed)
        let start = ContinuousClock.now
        #expect(retries.judge(reference, failed, Readiness.kustomization(failed, revision: Self.revision), at: start) == .pending(
            reason: "BuildFailed", message: "kustomize build failed: missing x.yaml"))
        // spec.retryInterval 30s, two intervals: still held at 59 s, given up at 60 s without any event.
        #expect(retries.expired(at: start + .seconds(59)).isEmpty)
        let expired = retries.expired(at: start + .seconds(60))
        #expect(expired.count == 1 && expired.first?.reference == reference)
        guard case .failed(let reason, let message)? = expired.first?.readiness else { Issue.record("expired as failed"); return }
        #expect(reason == "BuildFailed" && message.hasPrefix("kustomize build failed: missing x.yaml"))
        // And an event after the grace is judged failed too.
        guard case .failed = retries.judge(reference, failed, Readiness.kustomization(failed, revision: Self.revision), at: start + .seconds(61)) else {
            Issue.record("failed after the grace"); return
        }
    }

    @Test func stalledFailsAtOnceAndSuccessOrAnotherWaitForgetsTheFailure() throws {
        let retries = RetriedFailures()
        let start = ContinuousClock.now
        let stalled = try Self.failedKustomization(reason: "InvalidCELExpression", message: "terminal error", stalled: true)
        let reference = ObjectReference(stalled)
        #expect(retries.judge(reference, stalled, Readiness.kustomization(stalled, revision: Self.revision), at: start)
            == .failed(reason: "InvalidCELExpression", message: "terminal error"))
        // A failure that then waits on a dependency is gone: nothing expires for it.
        let failed = try Self.failedKustomization()
        _ = retries.judge(reference, failed, Readiness.kustomization(failed, revision: Self.revision), at: start)
        _ = retries.judge(reference, failed, .pending(reason: "DependencyNotReady", message: "dependency 'x' is not ready"), at: start + .seconds(1))
        #expect(retries.expired(at: start + .seconds(3600)).isEmpty)
        // helm-controller's failure counter counts attempts even when no attempt was seen under way.
        func release(failures: Int) throws -> JSONValue {
            try Self.json("""
                {"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"p","namespace":"a","generation":1},"spec":{"interval":"5m"},
                 "status":{"upgradeFailures":\(failures),"conditions":[{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"m","observedGeneration":1},
                   {"type":"Ready","status":"False","reason":"UpgradeFailed","message":"Helm upgrade failed: timed out","observedGeneration":1}]}}
                """)
        }
        let helm = ObjectReference(try release(failures: 1))
        #expect(retries.judge(helm, try release(failures: 1), Readiness.fluxObject(try release(failures: 1)), at: start) == .pending(
            reason: "UpgradeFailed", message: "Helm upgrade failed: timed out"))
        guard case .failed = retries.judge(helm, try release(failures: 2), Readiness.fluxObject(try release(failures: 2)), at: start + .seconds(1)) else {
            Issue.record("the second counted failure ends the wait"); return
        }
    }

    /// Tester t15 F5: the messages source-controller, helm-controller and kustomize-controller
    /// write for a failure that ends without a change to the repository, against those that do
    /// not, in both directions.
    @Test(arguments: [
        ("failed to checkout and determine revision: unable to clone 'http://127.0.0.1:4/o.git': Get \"http://127.0.0.1:4/o.git/info/refs?service=git-upload-pack\": dial tcp 127.0.0.1:4: connect: connection refused", true),
        ("failed to fetch Helm repository index: Get \"https://charts.example/index.yaml\": dial tcp: lookup charts.example on 10.96.0.10:53: no such host", true),
        ("dial tcp: lookup github.com on 10.96.0.10:53: read udp 10.244.0.5:41234->10.96.0.10:53: i/o timeout", true),
        ("failed to fetch https://charts.example/index.yaml : 503 Service Unavailable", true),
        ("Secret/apps/x dry-run failed: Internal error occurred: failed calling webhook \"webhook.cert-manager.io\": failed to call webhook: Post \"https://cert-manager-webhook.cert-manager.svc:443/validate\": no endpoints available for service \"cert-manager-webhook\"", true),
        ("failed to get secret 'flux-system/git-auth': secrets \"git-auth\" not found", true),
        ("failed to get source: HelmRepository.source.toolkit.fluxcd.io \"podinfo\" not found", true),
        ("Certificate/apps/web dry-run failed: no matches for kind \"Certificate\" in version \"cert-manager.io/v1\"", true),
        ("failed to checkout and determine revision: unable to clone 'https://github.com/acme/fleet': authentication required", false),
        ("failed to checkout and determine revision: unable to clone 'https://github.com/acme/fleet': repository not found", false),
        ("unable to clone: couldn't find remote ref \"refs/heads/mian\"", false),
        ("failed to fetch https://stefanprodan.github.io/podinfo/index.yaml : 404 Not Found", false),
        ("invalid chart reference: no 'podinfo' chart with version matching '6.6.0' found", false),
        ("Helm install failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded", false),
        ("bucket 'fleet-charts' not found", false),
        ("kustomize build failed: accumulating resources: missing x.yaml", false),
    ])
    func whatHealsWithoutAChangeToTheRepository(message: String, heals: Bool) {
        #expect(RetriedFailures.healsUnchanged(message) == heals, "\(message)")
    }

    @Test func aFailureThatHealsUnchangedIsHeldUntilTheTimeoutAnotherEndsAfterTwoAttempts() throws {
        let retries = RetriedFailures()
        let start = ContinuousClock.now
        func repository(_ message: String, failures: Int) throws -> JSONValue {
            try Self.json("""
                {"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"GitRepository","metadata":{"name":"other","namespace":"flux-system","generation":1},"spec":{"interval":"1m"},
                 "status":{"conditions":[{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"m","observedGeneration":1},
                   {"type":"Ready","status":"False","reason":"GitOperationFailed","message":"\(message)","observedGeneration":1}]}}
                """)
        }
        let refused = "unable to clone 'http://127.0.0.1:4/o.git': dial tcp 127.0.0.1:4: connect: connection refused"
        let reference = ObjectReference(try repository(refused, failures: 0))
        let attempt = try Self.attempting()
        // Ten attempts, a new one seen under way before each, and ten retry intervals: still held.
        for second in 0..<10 {
            _ = retries.judge(reference, attempt, .pending(reason: "Progressing", message: ""), at: start + .seconds(second * 120))
            let object = try repository(refused, failures: second)
            #expect(retries.judge(reference, object, Readiness.fluxObject(object), at: start + .seconds(second * 120 + 1))
                == .pending(reason: "GitOperationFailed", message: refused))
        }
        #expect(retries.expired(at: start + .seconds(3600)).isEmpty)
        #expect(retries.held(reference)?.heals == true)
        // The server answers now, without the repository: the same reason, a failure that does not heal.
        let missing = "unable to clone 'http://127.0.0.1:4/o.git': repository not found"
        _ = retries.judge(reference, try repository(missing, failures: 0), Readiness.fluxObject(try repository(missing, failures: 0)), at: start + .seconds(3601))
        _ = retries.judge(reference, attempt, .pending(reason: "Progressing", message: ""), at: start + .seconds(3602))
        guard case .failed(_, let message) = retries.judge(reference, try repository(missing, failures: 0), Readiness.fluxObject(try repository(missing, failures: 0)), at: start + .seconds(3603)) else {
            Issue.record("a failure that does not heal ends the wait on its second attempt"); return
        }
        #expect(message == "\(missing) (the same failure on 2 attempts)")
    }

    /// Tester t15 F14: kustomize-controller's ArtifactFailed while the source has no artifact
    /// (or is missing) is the Kustomization waiting for its source, not its failure.
    @Test(arguments: [
        ("Source artifact not found, retrying in 30s", true),
        ("Source is not ready, artifact not found, retrying in 30s", true),
        ("GitRepository.source.toolkit.fluxcd.io \"other\" not found", true),
        ("kustomization path not found: stat /tmp/kustomization-1/apps: no such file or directory", false),
        ("failed to download archive: GET http://source-controller/x.tar.gz: 500", false),
    ])
    func aKustomizationWaitingForItsSourceIsBlockedNotFailed(message: String, waits: Bool) throws {
        let object = try Self.failedKustomization(reason: "ArtifactFailed", message: message.replacingOccurrences(of: "\"", with: "\\\""))
        let expected: Readiness = waits ? .pending(reason: "SourceNotReady", message: message) : .failed(reason: "ArtifactFailed", message: message)
        #expect(Readiness.kustomization(object, revision: Self.revision) == expected)
        #expect(Readiness.kustomization(object, sourceRevision: nil) == (waits ? expected : .failed(reason: "ArtifactFailed", message: message)))
    }
}
