import CGit2
import Foundation

extension Repository {
    public struct Author: Sendable {
        public var name: String
        public var email: String
        public init(name: String, email: String) {
            self.name = name
            self.email = email
        }
    }

    public enum PushOutcome: Sendable, Equatable {
        /// The files were already as wanted: nothing was committed or pushed.
        case unchanged(commit: String)
        case pushed(commit: String)
    }

    /// Writes `files` (repository-relative paths) onto `branch` of `url` as one commit and
    /// pushes it, as `flux bootstrap git` does. A push the server rejects is an error (libgit2
    /// reports it only through a callback); when the branch moved meanwhile (non-fast-forward)
    /// it fetches again and retries once. Nothing is pushed when nothing changed.
    /// `beforePush` runs before each push (tests use it to race another pusher).
    public func commitAndPush(
        url: String, branch: String, files: [String: Data], message: String, author: Author, credentials: GitCredentials = .none,
        beforePush: (() -> Void)? = nil
    ) throws(GitError) -> PushOutcome {
        var attempt = 0
        while true {
            attempt += 1
            let head = try fetch(url, branch: branch, credentials: credentials)
            guard let commit = try commit(files, onto: head, message: message, author: author) else { return .unchanged(commit: head) }
            beforePush?()
            do {
                try push(url: url, source: commit, branch: branch, credentials: credentials)
                return .pushed(commit: commit)
            } catch let error where error.isNonFastForward && attempt == 1 {
                continue
            }
        }
    }

    /// A commit with `files` changed on top of `parent`, or nil when they already are so.
    func commit(_ files: [String: Data], onto parent: String, message: String, author: Author) throws(GitError) -> String? {
        var parentOid = try Libgit2.oid(parent)
        var parentCommit: OpaquePointer?
        try Libgit2.check(git_commit_lookup(&parentCommit, pointer, &parentOid), "looking up \(parent)")
        defer { git_commit_free(parentCommit) }
        var parentTree: OpaquePointer?
        try Libgit2.check(git_commit_tree(&parentTree, parentCommit), "reading the tree of \(parent)")
        defer { git_tree_free(parentTree) }
        var index: OpaquePointer?
        try Libgit2.check(git_index_new(&index), "creating an index")
        defer { git_index_free(index) }
        try Libgit2.check(git_index_read_tree(index, parentTree), "reading the tree into the index")
        for (path, data) in files.sorted(by: { $0.key < $1.key }) {
            var blob = git_oid()
            let created = data.withUnsafeBytes { git_blob_create_from_buffer(&blob, pointer, $0.baseAddress, $0.count) }
            try Libgit2.check(created, "writing \(path)")
            var entry = git_index_entry()
            entry.mode = GIT_FILEMODE_BLOB.rawValue
            entry.id = blob
            entry.file_size = UInt32(data.count)
            let added: Int32 = Repository.normalize(path).withCString { cPath in
                entry.path = cPath
                return git_index_add(index, &entry)
            }
            try Libgit2.check(added, "adding \(path)")
        }
        var treeOid = git_oid()
        try Libgit2.check(git_index_write_tree_to(&treeOid, index, pointer), "writing the tree")
        if git_oid_equal(&treeOid, git_tree_id(parentTree)) != 0 { return nil }
        var tree: OpaquePointer?
        try Libgit2.check(git_tree_lookup(&tree, pointer, &treeOid), "reading the new tree")
        defer { git_tree_free(tree) }
        var signature: UnsafeMutablePointer<git_signature>?
        try Libgit2.check(git_signature_now(&signature, author.name, author.email), "making the signature")
        defer { git_signature_free(signature) }
        var commitOid = git_oid()
        var parents: [OpaquePointer?] = [parentCommit]
        let created = parents.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(&commitOid, pointer, nil, signature, signature, "UTF-8", message, tree, 1, buffer.baseAddress)
        }
        try Libgit2.check(created, "committing")
        return Libgit2.oidString(&commitOid)
    }

    /// Pushes a commit to `refs/heads/<branch>` of `url`.
    func push(url: String, source commit: String, branch: String, credentials: GitCredentials) throws(GitError) {
        let local = "refs/fluxci/push/\(branch)"
        var oid = try Libgit2.oid(commit)
        var reference: OpaquePointer?
        try Libgit2.check(git_reference_create(&reference, pointer, local, &oid, 1, "fluxci push"), "naming the commit")
        git_reference_free(reference)
        var remote: OpaquePointer?
        try Libgit2.check(git_remote_create_anonymous(&remote, pointer, url), "using the remote \(url)")
        defer { git_remote_free(remote) }
        var options = git_push_options()
        git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION))
        let handler = RemoteCallbacks(credentials)
        handler.install(&options.callbacks)
        let refspec = "\(local):refs/heads/\(branch)"
        let code: Int32 = withExtendedLifetime(handler) {
            refspec.withCString { spec in
                var strings: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(mutating: spec)]
                return strings.withUnsafeMutableBufferPointer { buffer in
                    var array = git_strarray(strings: buffer.baseAddress, count: 1)
                    return git_remote_push(remote, &array, &options)
                }
            }
        }
        if code < 0 { throw Self.remoteError(code, url: url, handler: handler, operation: "pushing \(branch) to \(url)") }
        if let (reference, reason) = handler.rejected.first { throw .pushRejected(reference: reference, reason: reason) }
    }
}
