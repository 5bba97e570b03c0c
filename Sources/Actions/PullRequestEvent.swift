import Foundation

/// What a `pull_request` event payload (GITHUB_EVENT_PATH) says about the branch under test:
/// the head branch, its commit, and the clone URL of the head repository (a fork's, for a fork).
public struct PullRequestEvent: Sendable, Equatable {
    public var branch: String
    public var commit: String?
    public var cloneURL: String?

    /// nil when the payload is not a pull-request event (a push, a dispatch).
    public static func parse(_ data: Data, path: String) throws(Annotation) -> PullRequestEvent? {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .error("The event file \(path) is not a JSON object.", title: "Invalid event", fix: "Pass the event payload GitHub wrote (GITHUB_EVENT_PATH).")
        }
        guard let pull = json["pull_request"] as? [String: Any], let head = pull["head"] as? [String: Any] else { return nil }
        guard let ref = head["ref"] as? String, !ref.isEmpty, !ref.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw .error("The pull-request event \(path) has no usable head.ref.", title: "Invalid event", fix: "Pass a pull_request event payload.")
        }
        let repo = head["repo"] as? [String: Any]
        return PullRequestEvent(branch: ref, commit: head["sha"] as? String, cloneURL: repo?["clone_url"] as? String)
    }

    public static func read(_ path: String) throws(Annotation) -> PullRequestEvent? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .error("The event file \(path) cannot be read.", title: "Event not found", fix: "Check --event or GITHUB_EVENT_PATH.")
        }
        return try parse(data, path: path)
    }
}
