import Actions
import ArgumentParser
import Flux
import Foundation
import Git

/// Which branch of which repository a run tests, and the commit Flux will fetch.
struct BranchUnderTest {
    var branch: String
    var url: String
    var revision: Revision

    static func pullRequest(eventPath: String?) throws -> PullRequestEvent? {
        guard let eventPath, !eventPath.isEmpty else { return nil }
        return try PullRequestEvent.read(eventPath)
    }

    /// `git@github.com:o/r.git` → `https://github.com/o/r.git`: the GitRepository CRD takes
    /// http(s) and ssh URLs only.
    static func httpsURL(_ remote: String) -> String {
        if remote.hasPrefix("git@"), let colon = remote.firstIndex(of: ":") {
            let host = remote[remote.index(remote.startIndex, offsetBy: 4)..<colon]
            return "https://\(host)/\(remote[remote.index(after: colon)...])"
        }
        if remote.hasPrefix("ssh://git@") { return "https://" + remote.dropFirst("ssh://git@".count) }
        return remote
    }

    /// Resolves the branch on the remote Flux will fetch: a pull request's head is the head
    /// branch's commit there, not the merge commit the runner checked out.
    static func resolve(
        branch explicit: String?, url explicitURL: String?, event: String?, environment: [String: String], repository: Repository,
        credentials: GitCredentials, reporter: Reporter
    ) throws -> BranchUnderTest {
        let pull = try pullRequest(eventPath: event ?? environment["GITHUB_EVENT_PATH"])
        let head = try? repository.head()
        guard let branch = explicit ?? pull?.branch ?? environment["GITHUB_HEAD_REF"].flatMap({ $0.isEmpty ? nil : $0 })
            ?? (environment["GITHUB_REF"]?.hasPrefix("refs/heads/") == true ? environment["GITHUB_REF_NAME"] : nil) ?? head?.branch
        else {
            throw Annotation.error(
                "No branch to test: HEAD is detached and no --branch, pull-request event or GITHUB_REF names one.", title: "No branch",
                fix: "Pass --branch.")
        }
        guard let remote = explicitURL ?? pull?.cloneURL ?? repository.remoteURL("origin") else {
            throw Annotation.error(
                "The checkout has no origin remote, so the URL Flux should fetch is unknown.", title: "No repository URL", fix: "Pass --url.")
        }
        let url = explicitURL ?? httpsURL(remote)
        let references: [String: String]
        do {
            references = try GitDeadline.run(GitDeadline.seconds(environment), "Listing the branches of \(url)") {
                try Repository.listRemote(url, credentials: credentials)
            }
        } catch let annotation as Annotation where annotation.title == "Git server not answering" {
            throw annotation
        } catch {
            throw Annotation.error(
                "Cannot list the branches of \(url): \(error).", title: "Repository unreachable",
                fix: "Check the URL; for a private repository set GITHUB_TOKEN (or pass --url with a reachable one).")
        }
        guard let commit = references["refs/heads/\(branch)"] else {
            throw Annotation.error(
                "The branch \(branch) is not on \(url), so Flux could not fetch it.", title: "Branch not pushed",
                fix: "Push it first (`git push origin \(branch)`), or pass --branch with a branch that exists there.")
        }
        if let local = repository.resolveBranch(branch), local != commit {
            reporter.warning("The local \(branch) (\(local.prefix(7))) differs from \(url) (\(commit.prefix(7))); Flux will apply the remote commit.", title: "Local branch differs")
        }
        return BranchUnderTest(branch: branch, url: url, revision: Revision(branch: branch, commit: commit))
    }
}

/// Which branch a run tests and where Flux fetches it.
struct BranchOptions: ParsableArguments {
    @Option(help: "The branch to test (default: the pull request's head branch, GITHUB_REF_NAME, or the checked-out branch).")
    var branch: String?

    @Option(help: "The URL Flux fetches (default: the event's head repository, else origin as https).")
    var url: String?

    @Option(help: "A pull-request event payload to replay, as GitHub wrote it to GITHUB_EVENT_PATH (default: GITHUB_EVENT_PATH).")
    var event: String?
}
