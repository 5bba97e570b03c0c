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

    /// The branch under test, by precedence: `--branch`, the pull request's head branch (event or
    /// GITHUB_HEAD_REF), a pushed branch (GITHUB_REF), the checked-out branch; nil when none names one.
    private static func branchName(_ explicit: String?, pull: PullRequestEvent?, environment: [String: String], head: (branch: String?, commit: String)?) -> String? {
        explicit ?? pull?.branch ?? environment["GITHUB_HEAD_REF"].flatMap({ $0.isEmpty ? nil : $0 })
            ?? (environment["GITHUB_REF"]?.hasPrefix("refs/heads/") == true ? environment["GITHUB_REF_NAME"] : nil) ?? head?.branch
    }

    /// Resolves the branch on the remote Flux will fetch: a pull request's head is the head
    /// branch's commit there, not the merge commit the runner checked out.
    static func resolve(
        branch explicit: String?, url explicitURL: String?, event: String?, environment: [String: String], repository: Repository,
        credentials: GitCredentials, reporter: Reporter
    ) throws -> BranchUnderTest {
        let pull = try pullRequest(eventPath: event ?? environment["GITHUB_EVENT_PATH"])
        let head = try? repository.head()
        guard let branch = branchName(explicit, pull: pull, environment: environment, head: head)
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
            references = try GitDeadline.run(GitDeadline.seconds(environment), "Listing the branches of \(url)", notice: { reporter.log($0) }) {
                try Repository.listRemote(url, credentials: credentials)
            }
        } catch let annotation as Annotation where annotation.title == "Git server not answering" {
            throw annotation
        } catch {
            throw Annotation.error(
                "Cannot list the branches of \(url): \(error).", title: "Repository unreachable",
                fix: "Check the URL; for a private repository set GITHUB_TOKEN (or pass --url with a reachable one); or let fluxci serve the commit to the cluster itself with --serve.")
        }
        guard let commit = references["refs/heads/\(branch)"] else {
            throw Annotation.error(
                "The branch \(branch) is not on \(url), so Flux could not fetch it.", title: "Branch not pushed",
                fix: "Push it first (`git push origin \(branch)`), or let fluxci serve it to the cluster with --serve (add --include-worktree for uncommitted changes).")
        }
        if let local = repository.resolveBranch(branch), local != commit {
            // The remote moved since the last fetch: its commit is not here, so ahead, behind and
            // apart cannot be told. Fetch its objects (as `git fetch` would, moving no ref) and
            // compare; a local commit the remote lacks must never pass on the remote's commit.
            if repository.aheadBehind(local, commit) == nil {
                _ = try? GitDeadline.run(GitDeadline.seconds(environment), "Fetching \(branch) from \(url)", notice: { reporter.log($0) }) {
                    try repository.fetchObjects(url, branch: branch, credentials: credentials)
                }
            }
            // Behind only: the remote has everything the local branch has, and more; Flux applies
            // that. Ahead or apart: the remote lacks local commits, so a run would not test them.
            switch repository.aheadBehind(local, commit) {
            case .some((0, _)):
                reporter.warning(
                    "The local \(branch) (\(local.prefix(7))) is behind \(url) (\(commit.prefix(7))); Flux will apply the remote commit.",
                    title: "Local branch behind")
            case .some(let (ahead, behind)):
                throw Annotation.error(
                    "The local \(branch) (\(local.prefix(7))) is \(behind == 0 ? "\(ahead) commit\(ahead == 1 ? "" : "s") ahead of" : "apart from (\(ahead) ahead, \(behind) behind)") \(url) (\(commit.prefix(7))): Flux would apply the remote commit, not yours.",
                    title: "Branch not pushed",
                    fix: "Push it (`git push origin \(branch)`), or let fluxci serve the local commit to the cluster with --serve.")
            case .none:
                // The fetch failed although listing worked: the local commit is on the remote
                // only if the remote-tracking branch as last fetched has it.
                let tracking = repository.resolve("refs/remotes/origin/\(branch)")
                if let tracking, repository.aheadBehind(local, tracking)?.ahead == 0 {
                    reporter.warning(
                        "The local \(branch) (\(local.prefix(7))) is behind \(url) (\(commit.prefix(7))) as far as origin/\(branch) knows; Flux will apply the remote commit.",
                        title: "Local branch behind")
                } else {
                    throw Annotation.error(
                        "The local \(branch) (\(local.prefix(7))) has commits that \(url) (\(commit.prefix(7))) may lack, and its commit could not be fetched to compare: Flux would apply the remote commit, not yours.",
                        title: "Branch not pushed",
                        fix: "Push it (`git push origin \(branch)`), or let fluxci serve the local commit to the cluster with --serve.")
                }
            }
        }
        return BranchUnderTest(branch: branch, url: url, revision: Revision(branch: branch, commit: commit))
    }

    /// The branch name as `resolve` finds it, and the commit of this checkout that `--serve`
    /// serves: the local branch's commit, or HEAD when HEAD is detached (a CI checkout of a pull
    /// request: the merge commit the runner tests). With the work tree, HEAD must be the branch
    /// (or detached): the work tree is what is checked out.
    static func local(
        branch explicit: String?, event: String?, environment: [String: String], repository: Repository, includeWorkTree: Bool
    ) throws -> (branch: String, commit: String) {
        let pull = try pullRequest(eventPath: event ?? environment["GITHUB_EVENT_PATH"])
        let head = try? repository.head()
        guard let branch = branchName(explicit, pull: pull, environment: environment, head: head)
        else {
            throw Annotation.error(
                "No branch to serve: HEAD is detached and no --branch, pull-request event or GITHUB_REF names one.", title: "No branch",
                fix: "Pass --branch (any name: the cluster fetches the served commit under it).")
        }
        guard let head else {
            throw Annotation.error("The checkout has no commit to serve.", title: "No commit", fix: "Commit first.")
        }
        if head.branch == nil || head.branch == branch { return (branch, head.commit) }
        if includeWorkTree {
            throw Annotation.error(
                "--include-worktree serves the checked-out work tree, which is on \(head.branch ?? "?"), not \(branch).", title: "Work tree on another branch",
                fix: "Check out \(branch) (`git switch \(branch)`), or leave out --branch.")
        }
        guard let commit = repository.resolve("refs/heads/\(branch)") else {
            throw Annotation.error(
                "The branch \(branch) is not in this repository, so there is nothing to serve.", title: "No such branch",
                fix: "Pass --branch with a local branch (the checked-out one is \(head.branch ?? "detached")).")
        }
        return (branch, commit)
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
