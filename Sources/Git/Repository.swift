import CGit2
import Foundation

/// A git repository through libgit2: resolve branches, fetch, read trees without a checkout,
/// commit and push.
public final class Repository: @unchecked Sendable {
    let pointer: OpaquePointer
    public let path: String

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        path = String(cString: git_repository_path(pointer))
    }

    deinit { git_repository_free(pointer) }

    /// The repository containing `path` (searching upwards, as git does).
    public static func open(containing path: String) throws(GitError) -> Repository {
        _ = Libgit2.initialized
        var repository: OpaquePointer?
        let code = git_repository_open_ext(&repository, path, 0, nil)
        if code == GIT_ENOTFOUND.rawValue { throw .notARepository(path) }
        try Libgit2.check(code, "opening the repository at \(path)")
        return Repository(repository!)
    }

    /// A new bare repository (for fetching a branch the checkout does not hold).
    public static func initBare(at path: String) throws(GitError) -> Repository {
        _ = Libgit2.initialized
        var repository: OpaquePointer?
        try Libgit2.check(git_repository_init(&repository, path, 1), "creating a repository at \(path)")
        return Repository(repository!)
    }

    /// The work tree's root (nil for a bare repository).
    public var workTree: String? {
        git_repository_workdir(pointer).map { String(cString: $0) }
    }

    // MARK: References

    /// The checked-out branch (nil when HEAD is detached, as on a pull request's merge commit)
    /// and commit.
    public func head() throws(GitError) -> (branch: String?, commit: String) {
        var reference: OpaquePointer?
        try Libgit2.check(git_repository_head(&reference, pointer), "reading HEAD")
        defer { git_reference_free(reference) }
        let branch: String? = git_repository_head_detached(pointer) == 1 ? nil : git_reference_shorthand(reference).map { String(cString: $0) }
        var oid = git_oid()
        try Libgit2.check(git_reference_name_to_id(&oid, pointer, "HEAD"), "resolving HEAD")
        return (branch, Libgit2.oidString(&oid))
    }

    /// The commit a reference name points at, or nil.
    public func resolve(_ name: String) -> String? {
        var oid = git_oid()
        guard git_reference_name_to_id(&oid, pointer, name) == 0 else { return nil }
        return Libgit2.oidString(&oid)
    }

    /// A branch's commit in this repository: the local branch, else origin's remote-tracking one.
    public func resolveBranch(_ branch: String) -> String? {
        resolve("refs/heads/\(branch)") ?? resolve("refs/remotes/origin/\(branch)")
    }

    /// How many commits `local` has that `upstream` lacks, and the other way round
    /// (`git rev-list --left-right --count local...upstream`); nil when either is not here.
    public func aheadBehind(_ local: String, _ upstream: String) -> (ahead: Int, behind: Int)? {
        guard var localOid = try? Libgit2.oid(local), var upstreamOid = try? Libgit2.oid(upstream) else { return nil }
        var ahead = 0, behind = 0
        guard git_graph_ahead_behind(&ahead, &behind, pointer, &localOid, &upstreamOid) == 0 else { return nil }
        return (ahead, behind)
    }

    public func remoteURL(_ name: String = "origin") -> String? {
        var remote: OpaquePointer?
        guard git_remote_lookup(&remote, pointer, name) == 0 else { return nil }
        defer { git_remote_free(remote) }
        return git_remote_url(remote).map { String(cString: $0) }
    }

    // MARK: Remotes

    /// `git ls-remote`: every reference the remote advertises.
    public static func listRemote(_ url: String, credentials: GitCredentials = .none) throws(GitError) -> [String: String] {
        _ = Libgit2.initialized
        var remote: OpaquePointer?
        try Libgit2.check(git_remote_create_detached(&remote, url), "using the remote \(url)")
        defer { git_remote_free(remote) }
        var callbacks = git_remote_callbacks()
        git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION))
        let handler = RemoteCallbacks(credentials)
        handler.install(&callbacks)
        let connected = withExtendedLifetime(handler) { git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nil, nil) }
        if connected < 0 { throw remoteError(connected, url: url, handler: handler, operation: "connecting to \(url)") }
        defer { git_remote_disconnect(remote) }
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try Libgit2.check(git_remote_ls(&heads, &count, remote), "listing \(url)")
        var result: [String: String] = [:]
        for index in 0..<count {
            guard let head = heads?[index] else { continue }
            var oid = head.pointee.oid
            result[String(cString: head.pointee.name)] = Libgit2.oidString(&oid)
        }
        return result
    }

    static func remoteError(_ code: Int32, url: String, handler: RemoteCallbacks, operation: String) -> GitError {
        let error = Libgit2.lastError(code, operation)
        if code == GIT_EAUTH.rawValue || handler.credentialAttempts > 0 || "\(error)".contains("401") || "\(error)".contains("authentication") {
            return .authentication(url: url, detail: handler.credentials.token == nil && handler.credentials.sshPrivateKey == nil
                ? "the remote wants credentials and none were given" : "the credentials were refused")
        }
        return error
    }

    /// Fetches `branch` from `url` into `refs/fluxci/<branch>` and returns its commit. The whole
    /// history comes along: libgit2 1.5 cannot fetch shallow.
    @discardableResult
    public func fetch(_ url: String, branch: String, credentials: GitCredentials = .none) throws(GitError) -> String {
        try fetch(url, refspec: "+refs/heads/\(branch):refs/fluxci/\(branch)", branch: branch, credentials: credentials, writeFetchHead: true)
        guard let commit = resolve("refs/fluxci/\(branch)") else { throw .notFound("the branch \(branch) does not exist on \(url)") }
        return commit
    }

    /// Fetches the objects of `branch` from `url` and moves no reference (no branch, no
    /// remote-tracking branch): `git fetch <url> refs/heads/<branch>`. FETCH_HEAD is asked not
    /// to be written, but libgit2 1.5 may still write it, as `git fetch` does. The objects only
    /// let this repository compare its commits with the remote's.
    public func fetchObjects(_ url: String, branch: String, credentials: GitCredentials = .none) throws(GitError) {
        try fetch(url, refspec: "refs/heads/\(branch)", branch: branch, credentials: credentials, writeFetchHead: false)
    }

    private func fetch(_ url: String, refspec: String, branch: String, credentials: GitCredentials, writeFetchHead: Bool) throws(GitError) {
        var remote: OpaquePointer?
        try Libgit2.check(git_remote_create_anonymous(&remote, pointer, url), "using the remote \(url)")
        defer { git_remote_free(remote) }
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        options.update_fetchhead = writeFetchHead ? 1 : 0
        let handler = RemoteCallbacks(credentials)
        handler.install(&options.callbacks)
        let code: Int32 = withExtendedLifetime(handler) {
            refspec.withCString { spec in
                var strings: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(mutating: spec)]
                return strings.withUnsafeMutableBufferPointer { buffer in
                    var array = git_strarray(strings: buffer.baseAddress, count: 1)
                    return git_remote_fetch(remote, &array, &options, "fluxci fetch")
                }
            }
        }
        if code < 0 { throw Self.remoteError(code, url: url, handler: handler, operation: "fetching \(branch) from \(url)") }
    }

    // MARK: Trees

    private func tree(_ commit: String) throws(GitError) -> OpaquePointer {
        var oid = try Libgit2.oid(commit)
        var commitObject: OpaquePointer?
        try Libgit2.check(git_commit_lookup(&commitObject, pointer, &oid), "looking up commit \(commit)")
        defer { git_commit_free(commitObject) }
        var tree: OpaquePointer?
        try Libgit2.check(git_commit_tree(&tree, commitObject), "reading the tree of \(commit)")
        return tree!
    }

    public enum EntryKind: Sendable, Equatable { case file, directory, symlink, submodule }

    /// What `path` is in the commit's tree (nil when absent).
    public func entryKind(commit: String, path: String) throws(GitError) -> EntryKind? {
        let normalized = Self.normalize(path)
        let root = try tree(commit)
        defer { git_tree_free(root) }
        if normalized.isEmpty { return .directory }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, root, normalized) == 0 else { return nil }
        defer { git_tree_entry_free(entry) }
        return Self.kind(of: entry!)
    }

    static func kind(of entry: OpaquePointer) -> EntryKind {
        switch git_tree_entry_filemode(entry) {
        case GIT_FILEMODE_TREE: .directory
        case GIT_FILEMODE_LINK: .symlink
        case GIT_FILEMODE_COMMIT: .submodule
        default: .file
        }
    }

    /// A file's bytes at a commit, without checking anything out; nil when absent.
    public func readFile(commit: String, path: String) throws(GitError) -> Data? {
        let root = try tree(commit)
        defer { git_tree_free(root) }
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, root, Self.normalize(path)) == 0 else { return nil }
        defer { git_tree_entry_free(entry) }
        guard Self.kind(of: entry!) == .file else { return nil }
        var blob: OpaquePointer?
        try Libgit2.check(git_blob_lookup(&blob, pointer, git_tree_entry_id(entry)), "reading \(path)")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard let content = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: content, count: size)
    }

    /// Every file under `path` at a commit (recursively), as repository-relative paths, with
    /// their kinds (symlinks are listed, not followed).
    public func listFiles(commit: String, under path: String = "") throws(GitError) -> [(path: String, kind: EntryKind)] {
        let root = try tree(commit)
        defer { git_tree_free(root) }
        let prefix = Self.normalize(path)
        var start: OpaquePointer? = root
        var owned: OpaquePointer?
        if !prefix.isEmpty {
            var entry: OpaquePointer?
            guard git_tree_entry_bypath(&entry, root, prefix) == 0 else { return [] }
            defer { git_tree_entry_free(entry) }
            guard Self.kind(of: entry!) == .directory else { return [(prefix, Self.kind(of: entry!))] }
            try Libgit2.check(git_tree_lookup(&owned, pointer, git_tree_entry_id(entry)), "reading \(prefix)")
            start = owned
        }
        defer { if let owned { git_tree_free(owned) } }
        var result: [(String, EntryKind)] = []
        try walk(start!, prefix: prefix, into: &result)
        return result
    }

    /// Every entry of the commit's tree with a regular file's bytes (nil for other kinds), in
    /// one walk: the commit and each tree are looked up once, where `readFile` per path looks
    /// up the commit and walks the path again for every file (a source artifact reads them all).
    public func readAll(commit: String) throws(GitError) -> [(path: String, kind: EntryKind, data: Data?)] {
        let root = try tree(commit)
        defer { git_tree_free(root) }
        var result: [(path: String, kind: EntryKind, data: Data?)] = []
        try readAll(root, prefix: "", into: &result)
        return result
    }

    private func readAll(_ tree: OpaquePointer, prefix: String, into result: inout [(path: String, kind: EntryKind, data: Data?)]) throws(GitError) {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let name = String(cString: git_tree_entry_name(entry))
            let path = prefix.isEmpty ? name : "\(prefix)/\(name)"
            switch Self.kind(of: entry) {
            case .directory:
                var subtree: OpaquePointer?
                try Libgit2.check(git_tree_lookup(&subtree, pointer, git_tree_entry_id(entry)), "reading \(path)")
                defer { git_tree_free(subtree) }
                try readAll(subtree!, prefix: path, into: &result)
            case .file:
                var blob: OpaquePointer?
                try Libgit2.check(git_blob_lookup(&blob, pointer, git_tree_entry_id(entry)), "reading \(path)")
                defer { git_blob_free(blob) }
                let size = Int(git_blob_rawsize(blob))
                result.append((path, .file, git_blob_rawcontent(blob).map { Data(bytes: $0, count: size) } ?? Data()))
            case let kind:
                result.append((path, kind, nil))
            }
        }
    }

    private func walk(_ tree: OpaquePointer, prefix: String, into result: inout [(String, EntryKind)]) throws(GitError) {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let name = String(cString: git_tree_entry_name(entry))
            let path = prefix.isEmpty ? name : "\(prefix)/\(name)"
            let kind = Self.kind(of: entry)
            if kind == .directory {
                var subtree: OpaquePointer?
                try Libgit2.check(git_tree_lookup(&subtree, pointer, git_tree_entry_id(entry)), "reading \(path)")
                defer { git_tree_free(subtree) }
                try walk(subtree!, prefix: path, into: &result)
            } else {
                result.append((path, kind))
            }
        }
    }

    /// Writes the files under `path` at a commit into `directory` (for tools that need files on
    /// disk, such as `kubectl kustomize`). Symlinks are not written.
    public func checkout(commit: String, path: String = "", to directory: URL) throws(GitError) {
        for (file, kind) in try listFiles(commit: commit, under: path) where kind == .file {
            guard let data = try readFile(commit: commit, path: file) else { continue }
            let target = directory.appendingPathComponent(file)
            do {
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: target)
            } catch {
                throw .libgit2(operation: "writing \(target.path)", message: error.localizedDescription, code: -1)
            }
        }
    }

    /// `./a/../b/` → `b`; leading `./` and slashes removed.
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() } else { parts.append(part) }; continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }
}
