import Foundation

/// The private scratch folders a run makes under TMPDIR: the source artifact (a full copy of the
/// tested tree, `.secrets` included when the commit holds them), the kustomize build folders,
/// a fetched repository. Each is recorded the moment `mkdtemp` made it, so that a command's
/// cleanup removes it whenever the run ends — also on SIGINT and SIGTERM in the middle of the
/// tree check, when the code that made it never gets to its own `remove`.
///
/// Process-wide on purpose: a signal handler has no other way to reach folders made deep inside
/// the tree reader, and a process runs one command.
public enum ScratchFolders {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var folders: Set<String> = []

    /// Makes `TMPDIR/<prefix>-XXXXXX` (mode 0700, `mkdtemp`) and records it; nil when TMPDIR
    /// cannot hold it.
    public static func make(_ prefix: String) -> URL? {
        var template = Array((FileManager.default.temporaryDirectory.path + "/\(prefix)-XXXXXX").utf8CString)
        return lock.withLock { () -> URL? in
            guard let made = mkdtemp(&template) else { return nil }
            let path = String(cString: made)
            folders.insert(path)
            return URL(fileURLWithPath: path, isDirectory: true)
        }
    }

    /// Records a folder made elsewhere (a temporary repository), before anything is written to it.
    public static func record(_ folder: URL) {
        _ = lock.withLock { folders.insert(folder.path) }
    }

    /// Removes one folder and everything in it, and forgets it.
    public static func remove(_ folder: URL) {
        KustomizationBuild.removeTree(folder.path)
        _ = lock.withLock { folders.remove(folder.path) }
    }

    /// Removes every recorded folder still there: the run's cleanup.
    public static func removeAll() {
        let all = lock.withLock { () -> Set<String> in
            defer { folders = [] }
            return folders
        }
        for path in all { KustomizationBuild.removeTree(path) }
    }

    /// The recorded folders (for tests).
    public static var recorded: Set<String> { lock.withLock { folders } }
}
