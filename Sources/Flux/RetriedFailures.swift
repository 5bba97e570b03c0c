import Foundation
import Kube

/// Failed attempts that Flux's controllers retry, waited through for a bounded grace (tester t10
/// F1 and F6: "release failed at first retryable attempt").
///
/// The behaviour followed: after a failed attempt kustomize-, source- and helm-controller leave
/// `Ready=False` with the failure's reason and message on the current generation and set
/// `Reconciling=True` reason `ProgressingWithRetry` (kustomize-controller `finalizeStatus`), then
/// try again after `spec.retryInterval` (kustomize-controller: `RequeueAfter:
/// obj.GetRetryInterval()`, which defaults to `spec.interval`). Each new attempt starts with
/// `Ready=Unknown`/`Reconciling=True` reason `Progressing`, and helm-controller counts failed
/// attempts in `status.installFailures`/`upgradeFailures` (v2beta1: `failures`). Only
/// `Stalled=True` means the controller gave up; that is final and not held here.
///
/// A failure is held (reported as pending with the controller's reason and message, so a
/// timeout names it) until the same failure ends a second attempt, or until `intervals` retry
/// intervals have passed since it was first seen, whichever comes first; then it is `.failed`.
/// A success or another failure reason starts over. Instants are passed in, never read here.
///
/// A failure that heals without a change to the repository (`healsUnchanged`: the network or an
/// object the fleet creates is not there yet) is held until the wait's own timeout instead
/// (tester t15 F5): the controllers retry it with controller-runtime's back-off (750 ms,
/// doubling), so two attempts a second apart say nothing about a server, a DNS record or a
/// webhook that a fresh cluster brings up a few seconds later.
public final class RetriedFailures: @unchecked Sendable {
    /// How many failed attempts with the same reason end the wait.
    public let attempts: Int
    /// How many retry intervals after the first failure end the wait.
    public let intervals: Int
    /// The retry interval of an object that names none (`spec.retryInterval`, `spec.interval`).
    public let fallbackInterval: Duration

    struct Seen {
        var reason: String
        var message: String
        var attempts: Int
        /// A new attempt was seen under way since the last failure.
        var newAttempt: Bool
        var failureCount: Int?
        var deadline: ContinuousClock.Instant
        /// Heals without a change to the repository: held until the wait's timeout.
        var heals: Bool
    }

    private let lock = NSLock()
    private var seen: [ObjectReference: Seen] = [:]

    public init(attempts: Int = 2, intervals: Int = 2, fallbackInterval: Duration = .seconds(60)) {
        self.attempts = attempts
        self.intervals = intervals
        self.fallbackInterval = fallbackInterval
    }

    /// What to wait on, given `object` as just seen and its `readiness` by the rules: a `.failed`
    /// of an object that is not stalled becomes `.pending` with the same reason and message until
    /// the grace ends; everything else passes through (and is noted: a new attempt, a success).
    public func judge(_ reference: ObjectReference, _ object: JSONValue, _ readiness: Readiness, at now: ContinuousClock.Instant) -> Readiness {
        lock.withLock {
            guard case .failed(let reason, let message) = readiness else {
                if Readiness.attempting(object) {
                    seen[reference]?.newAttempt = true
                } else {
                    // Ready, or waiting for something else (a dependency): the failure is gone.
                    seen[reference] = nil
                }
                return readiness
            }
            if Readiness.isStalled(object) {
                seen[reference] = nil
                return readiness
            }
            let count = Self.failureCount(object)
            let heals = Self.healsUnchanged(message)
            guard var entry = seen[reference], entry.reason == reason, entry.heals == heals else {
                let deadline = seen[reference]?.deadline ?? now + retryInterval(object) * intervals
                seen[reference] = Seen(reason: reason, message: message, attempts: 1, newAttempt: false, failureCount: count, deadline: deadline, heals: heals)
                return .pending(reason: reason, message: message)
            }
            if heals {
                entry.message = message
                seen[reference] = entry
                return .pending(reason: reason, message: message)
            }
            if entry.newAttempt || (count != nil && entry.failureCount != nil && count! > entry.failureCount!) {
                entry.attempts += 1
                entry.newAttempt = false
            }
            entry.message = message
            entry.failureCount = count
            seen[reference] = entry
            if entry.attempts >= attempts {
                return .failed(reason: reason, message: "\(message) (the same failure on \(entry.attempts) attempts)")
            }
            if now >= entry.deadline {
                return .failed(reason: reason, message: "\(message) (still failing \(intervals) retry intervals after the first failure)")
            }
            return .pending(reason: reason, message: message)
        }
    }

    /// The held failures whose grace has ended by `now` (the object sent nothing since): each
    /// as `.failed`, to be reported without waiting for another event.
    public func expired(at now: ContinuousClock.Instant) -> [(reference: ObjectReference, readiness: Readiness)] {
        lock.withLock {
            // An attempt under way is let finish: its own result decides.
            seen.filter { now >= $0.value.deadline && !$0.value.newAttempt && !$0.value.heals }.sorted { $0.key < $1.key }.map { reference, entry in
                (reference, .failed(reason: entry.reason, message: "\(entry.message) (still failing \(intervals) retry intervals after the first failure)"))
            }
        }
    }

    /// The failure `reference` is held with (its reason and message), if any: what a timeout
    /// names first, as the cause of what waits on it.
    public func held(_ reference: ObjectReference) -> (reason: String, heals: Bool)? {
        lock.withLock { seen[reference].map { ($0.reason, $0.heals) } }
    }

    /// Whether a failure's message says it can end without a change to the repository, as the
    /// controllers keep retrying it: the network (Go's `net` and `net/http` errors as
    /// source-controller, helm-controller and client-go quote them: a refused connection, a DNS
    /// lookup, a dial or TLS handshake timeout, a reset connection, a 502/503/504 or 429 answer;
    /// a webhook whose Service has no ready endpoint yet), or an object the fleet itself creates
    /// that is not there yet (the API server's `secrets "x" not found`, a source object
    /// `GitRepository.source.toolkit.fluxcd.io "x" not found`, a kind whose CRD is not installed
    /// yet: `no matches for kind`).
    ///
    /// Not among them: `context deadline exceeded` alone (Helm's own wait for a release's pods
    /// ends so), authentication, a 401/403/404 answer, a missing ref or chart version, an
    /// invalid URL: those stay as they are until someone changes the repository.
    public static func healsUnchanged(_ message: String) -> Bool {
        if transientTexts.contains(where: message.contains) { return true }
        return message.firstMatch(of: missingObject) != nil
    }

    static let transientTexts = [
        "connection refused", "no such host", "i/o timeout", "TLS handshake timeout", "connection reset by peer", "network is unreachable",
        "no route to host", "server misbehaving", "Temporary failure in name resolution", "timeout awaiting response headers",
        "Client.Timeout exceeded", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout", "429 Too Many Requests",
        "no endpoints available for service", "failed calling webhook", "no matches for kind",
    ]

    /// `<resource> "<name>" not found` as the API server words a missing object (client-go's
    /// `NewNotFound`: `secrets "x" not found`, `GitRepository.source.toolkit.fluxcd.io "x" not found`).
    nonisolated(unsafe) static let missingObject = #/[A-Za-z.]+ "[^"]+" not found/#

    /// helm-controller's count of failed attempts (`installFailures` + `upgradeFailures`;
    /// v2beta1's `failures`); nil for kinds that keep none.
    static func failureCount(_ object: JSONValue) -> Int? {
        let counts = ["failures", "installFailures", "upgradeFailures"].compactMap { object["status", $0]?.int }
        return counts.isEmpty ? nil : counts.reduce(0, +)
    }

    /// `spec.retryInterval`, else `spec.interval` (Go durations such as `1m30s`), else the fallback.
    func retryInterval(_ object: JSONValue) -> Duration {
        for field in ["retryInterval", "interval"] {
            if let text = object["spec", field]?.string, let duration = Self.goDuration(text), duration > .zero { return duration }
        }
        return fallbackInterval
    }

    /// A Go `time.ParseDuration` string of the units Kubernetes objects use (`h`, `m`, `s`, `ms`),
    /// as `metav1.Duration` is written: `10m`, `1h30m`, `45s`, `500ms`, `1.5m`.
    static func goDuration(_ text: String) -> Duration? {
        var total = 0.0
        var number = ""
        var index = text.startIndex
        guard !text.isEmpty else { return nil }
        while index < text.endIndex {
            let character = text[index]
            if character.isNumber || character == "." {
                number.append(character)
                index = text.index(after: index)
                continue
            }
            var unit = String(character)
            index = text.index(after: index)
            if unit == "m", index < text.endIndex, text[index] == "s" { unit = "ms"; index = text.index(after: index) }
            guard let value = Double(number) else { return nil }
            switch unit {
            case "h": total += value * 3600
            case "m": total += value * 60
            case "s": total += value
            case "ms": total += value / 1000
            default: return nil
            }
            number = ""
        }
        guard number.isEmpty else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
    }
}
