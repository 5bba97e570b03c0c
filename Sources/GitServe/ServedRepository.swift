import Foundation

/// The one commit fluxci serves to a cluster: a private bare repository in a temporary folder
/// (mode 0700) whose only reference is `refs/heads/<branch>` at that commit and whose only
/// objects are those it reaches (made through `objects/info/alternates` on the repository under
/// test, then packed on their own; nothing is written into the user's repository). The rest of
/// the repository's branches, tags and objects are not there to be advertised or fetched.
public struct ServedRepository: Sendable {
    /// The folder `git http-backend` serves (GIT_PROJECT_ROOT).
    public let root: URL
    /// The repository's name in the URL path: `<name>.git`.
    public let name: String
    public let branch: String
    /// The served commit: the branch's commit, or a commit of the work tree on top of it (a
    /// shallow checkout's: a root commit of that tree). Always the whole repository: Flux's
    /// GitRepository artifact is the repository at a commit, and every spec.path is relative
    /// to its top, wherever in it the fleet's folder is (issue 13 item 10).
    public let commit: String
    /// The work tree's folders left out of a work tree commit (fluxci's own outputs), relative
    /// to the work tree.
    public let excluded: [String]
    /// The commit the served one is made from (the branch's commit or HEAD): the one a forge
    /// that has the repository shows. With the work tree served, `changedFiles` are the files
    /// whose content at that commit differs from what is served (repository-relative).
    public let sourceCommit: String
    public let changedFiles: Set<String>

    public var gitDirectory: URL { root.appendingPathComponent(name) }

    /// Where the commit under test comes from.
    public struct Source: Sendable {
        /// The repository's git directory (`.git`, or a linked work tree's) and its work tree.
        public var gitDirectory: URL
        public var workTree: URL?
        /// The commit under test: a branch's commit or HEAD.
        public var commit: String
        /// Commit the work tree's tracked and untracked, not ignored, files on top of `commit`.
        public var includeWorkTree: Bool
        /// Files and folders never to put into a work tree commit: fluxci's own outputs (the
        /// artifacts folder with the access log, a keyring), wherever they are; those outside
        /// the work tree do not matter. The private repository's own folder is always left out.
        public var excluding: [URL]

        public init(gitDirectory: URL, workTree: URL?, commit: String, includeWorkTree: Bool, excluding: [URL] = []) {
            self.gitDirectory = gitDirectory
            self.workTree = workTree
            self.commit = commit
            self.includeWorkTree = includeWorkTree
            self.excluding = excluding
        }
    }

    /// The identity of the commits fluxci makes (a work tree commit, a shallow tree's root commit);
    /// fixed, so the user's git identity need not be configured.
    static let identity = [
        "GIT_AUTHOR_NAME": "fluxci", "GIT_AUTHOR_EMAIL": "fluxci@users.noreply.github.com",
        "GIT_COMMITTER_NAME": "fluxci", "GIT_COMMITTER_EMAIL": "fluxci@users.noreply.github.com",
    ]

    /// Makes the private repository under `temporaryDirectory` (default: the system's).
    /// Throws `GitTool.Failed` with git's message when a step fails; nothing is left behind then.
    public static func make(
        _ source: Source, branch: String, name: String = "fleet.git", environment: [String: String], temporaryDirectory: String? = nil
    ) async throws -> ServedRepository {
        let base = temporaryDirectory.flatMap { $0.isEmpty ? nil : $0 } ?? NSTemporaryDirectory()
        var template = Array("\(base.hasSuffix("/") ? String(base.dropLast()) : base)/fluxci-serve.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw GitTool.Failed(arguments: ["(mkdtemp)"], status: 1, output: String(cString: strerror(errno)))
        }
        let root = URL(fileURLWithPath: String(cString: made))
        do {
            let excluded = source.includeWorkTree ? inside(source.workTree, source.excluding + [root]) : []
            let (commit, changed) = try await populate(root: root, name: name, source: source, excluded: excluded, branch: branch, environment: environment)
            return ServedRepository(
                root: root, name: name, branch: branch, commit: commit, excluded: excluded, sourceCommit: source.commit, changedFiles: changed)
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    /// The paths of `urls` inside `workTree`, relative to it (symbolic links resolved: TMPDIR is
    /// often a link); the work tree itself is never one of them.
    static func inside(_ workTree: URL?, _ urls: [URL]) -> [String] {
        guard let workTree else { return [] }
        let top = workTree.resolvingSymlinksInPath().standardizedFileURL.path
        var paths: [String] = []
        for url in urls {
            let path = url.resolvingSymlinksInPath().standardizedFileURL.path
            guard path.hasPrefix(top + "/") else { continue }
            let relative = String(path.dropFirst(top.count + 1))
            if !relative.isEmpty, !paths.contains(relative) { paths.append(relative) }
        }
        return paths
    }

    private static func populate(
        root: URL, name: String, source: Source, excluded: [String], branch: String, environment: [String: String]
    ) async throws -> (commit: String, changed: Set<String>) {
        let served = root.appendingPathComponent(name)
        // The user's and the system's git configuration play no part in what is served.
        var quiet = environment
        quiet["GIT_CONFIG_NOSYSTEM"] = "1"
        quiet["GIT_CONFIG_GLOBAL"] = "/dev/null"
        for key in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"] {
            quiet.removeValue(forKey: key)
        }
        try await GitTool.run(["init", "--quiet", "--bare", served.path], environment: quiet)
        let sourceGit = ["--git-dir", source.gitDirectory.path]
        let common = try await GitTool.run(sourceGit + ["rev-parse", "--path-format=absolute", "--git-common-dir"], environment: quiet)
        let sourceObjects = URL(fileURLWithPath: common).appendingPathComponent("objects").path
        try (sourceObjects + "\n").write(to: served.appendingPathComponent("objects/info/alternates"), atomically: true, encoding: .utf8)
        // A shallow checkout (actions/checkout fetches one commit) lacks the parents. Served as
        // it is, upload-pack would advertise the shallow boundary, which libgit2 1.5 cannot parse:
        // its tree is served as a root commit instead.
        let shallow = FileManager.default.fileExists(atPath: URL(fileURLWithPath: common).appendingPathComponent("shallow").path)
        let servedGit = ["--git-dir", served.path]
        for (key, value) in [
            ("http.receivepack", "false"), ("http.uploadpack", "true"), ("uploadpack.allowAnySHA1InWant", "false"),
            ("uploadpack.allowReachableSHA1InWant", "false"), ("uploadpack.allowTipSHA1InWant", "false"), ("uploadpack.allowFilter", "false"),
        ] {
            try await GitTool.run(servedGit + ["config", key, value], environment: quiet)
        }
        // Objects fluxci makes go into the private repository; the source's are read through the alternates.
        var writing = quiet.merging(identity) { $1 }
        writing["GIT_OBJECT_DIRECTORY"] = served.appendingPathComponent("objects").path
        writing["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = sourceObjects

        var commit = source.commit
        var tree: String?
        if source.includeWorkTree {
            guard let workTree = source.workTree else {
                throw GitTool.Failed(arguments: ["add", "-A"], status: 1, output: "the repository has no work tree")
            }
            // A copy of the index, brought up to the work tree by `git add -A`: tracked files as
            // they are now, untracked files unless ignored (.gitignore, .git/info/exclude,
            // core.excludesFile: the user's configuration counts here, as in their own `git add`).
            let index = root.appendingPathComponent("index")
            let sourceIndex = try await GitTool.run(sourceGit + ["rev-parse", "--path-format=absolute", "--git-path", "index"], environment: quiet)
            if FileManager.default.fileExists(atPath: sourceIndex) {
                try FileManager.default.copyItem(at: URL(fileURLWithPath: sourceIndex), to: index)
            }
            var adding = writing
            for key in ["GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"] { adding[key] = environment[key] }
            adding["GIT_DIR"] = source.gitDirectory.path
            adding["GIT_WORK_TREE"] = workTree.path
            adding["GIT_INDEX_FILE"] = index.path
            // fluxci's own outputs stay out (git's `exclude` pathspec magic, `top` and `literal`
            // so that the paths are taken from the work tree's root, as written): what is
            // committed of them stays as committed, nothing of them is added.
            let exclusions = excluded.map { ":(top,literal,exclude)\($0)" }
            try await GitTool.run(["add", "-A", "--", "."] + exclusions, environment: adding.filter { !$0.value.isEmpty }, directory: workTree)
            tree = try await GitTool.run(["write-tree"], environment: adding.filter { !$0.value.isEmpty }, directory: workTree)
            try? FileManager.default.removeItem(at: index)
        }
        var changed: Set<String> = []
        if let tree {
            // What the work tree changed against the commit (added, modified, renamed: no rename
            // detection, so both names), for the links that must not point at the commit's lines.
            var reading = writing
            reading["GIT_DIR"] = source.gitDirectory.path
            let names = try await GitTool.run(["diff-tree", "-r", "--name-only", "--no-renames", "-z", "\(source.commit)^{tree}", tree], environment: reading)
            changed = Set(names.split(separator: "\0").map(String.init).filter { !$0.isEmpty })
        }
        var reading = writing
        reading["GIT_DIR"] = source.gitDirectory.path
        if shallow {
            let whole = try await GitTool.run(["rev-parse", "--verify", "\(tree ?? source.commit)^{tree}"], environment: reading)
            commit = try await GitTool.run(
                ["commit-tree", whole, "-m", "fluxci: the tree of \(source.commit.prefix(12))\(source.includeWorkTree ? " with the work tree" : "")"],
                environment: reading)
        } else if let tree {
            commit = try await GitTool.run(
                ["commit-tree", tree, "-p", source.commit, "-m", "fluxci: the work tree on top of \(source.commit.prefix(12))"], environment: reading)
        }
        try await GitTool.run(servedGit + ["update-ref", "refs/heads/\(branch)", commit], environment: quiet)
        try await GitTool.run(servedGit + ["symbolic-ref", "HEAD", "refs/heads/\(branch)"], environment: quiet)
        // Protocol v2's upload-pack hands out any object the repository has, advertised or not:
        // so the private repository keeps only what the branch reaches. `repack -a` copies the
        // borrowed objects it reaches into a pack of its own (as git-clone's documentation says
        // for --shared), then the alternates go and `prune` drops the rest (a work tree's files
        // that are not in the served commit).
        try await GitTool.run(servedGit + ["repack", "-a", "-d", "-q"], environment: quiet)
        try FileManager.default.removeItem(at: served.appendingPathComponent("objects/info/alternates"))
        try await GitTool.run(servedGit + ["prune", "--expire=now"], environment: quiet)
        return (commit, changed)
    }

    /// Removes the private repository (the source repository is untouched).
    public func remove() {
        try? FileManager.default.removeItem(at: root)
    }
}
