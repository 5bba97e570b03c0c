import Foundation
import Git

/// The files of a revision as source-controller puts them into a GitRepository's artifact, written
/// once into a private folder (mode 0700) for the kustomize builds; `remove()` deletes it.
///
/// What source-controller does (fluxcd/source-controller internal/storage `Archive` and
/// `SourceIgnoreFilter`, fluxcd/pkg `sourceignore`): only regular files enter the archive
/// (symbolic links and submodules are dropped); a file is left out when the ignore matcher
/// excludes it. The matcher holds the VCS patterns and then the repository's patterns — every
/// `.sourceignore` (read depth first, a folder's own file before its subfolders', each relative
/// to its folder), then the GitRepository's `spec.ignore` (relative to the root) — or, when the
/// repository gives no pattern at all, the VCS and default patterns.
public final class SourceArtifact: @unchecked Sendable {
    /// The folder holding every regular file of the revision.
    public let root: URL
    /// Every regular file of the revision, repository-relative, whether ignored or not.
    public let written: Set<String>
    /// Symbolic links of the revision (dropped from the artifact).
    public let symbolicLinks: Set<String>
    /// Submodules of the revision (gitlinks): their content is in the artifact only with the
    /// GitRepository's `spec.recurseSubmodules`, and fluxci does not fetch it.
    public let submodules: Set<String>
    /// Files locked by git-crypt (they start with `\0GITCRYPT\0`).
    public let locked: Set<String>
    /// The `.sourceignore` patterns of the revision, in priority order.
    let sourceIgnorePatterns: [SourceIgnorePattern]
    public let revisionDescription: String

    /// The bytes a git-crypt locked file starts with.
    public static let gitCryptMagic: [UInt8] = [0, 0x47, 0x49, 0x54, 0x43, 0x52, 0x59, 0x50, 0x54, 0]

    /// Reads every entry of `source` and writes its regular files under a new private folder.
    public init(_ source: TreeSource) throws {
        revisionDescription = source.revisionDescription
        let entries = try source.readAll()
        // Recorded for the run's cleanup the moment it exists (a signal during the tree check).
        guard let made = ScratchFolders.make("fluxci-artifact") else { throw ArtifactError(message: "cannot create a private folder in \(FileManager.default.temporaryDirectory.path)") }
        root = made
        var written: Set<String> = [], links: Set<String> = [], locked: Set<String> = [], submodules: Set<String> = []
        var ignoreFiles: [(domain: [String], text: String)] = []
        // Plain POSIX calls, each folder made once: FileManager's createFile writes a temporary
        // file, renames it and syncs it to disk, for every file of a private scratch copy.
        let rootPath = root.path
        var folders: Set<String> = [""]
        func makeFolder(_ path: String) {
            guard !folders.contains(path) else { return }
            makeFolder(RepositoryPath.parent(path))
            mkdir(rootPath + "/" + path, 0o755)
            folders.insert(path)
        }
        func write(_ data: Data, to path: String) -> Bool {
            makeFolder(RepositoryPath.parent(path))
            let descriptor = open(rootPath + "/" + path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            return data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let count = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { return false }
                    offset += count
                }
                return true
            }
        }
        do {
            for (path, kind, data) in entries {
                switch kind {
                case .symlink: links.insert(path)
                case .submodule: submodules.insert(path)
                case .file:
                    guard let data else { continue }
                    guard write(data, to: path) else {
                        throw ArtifactError(message: "cannot write \(path) into \(root.path)")
                    }
                    written.insert(path)
                    if data.starts(with: Self.gitCryptMagic) { locked.insert(path) }
                    let components = path.split(separator: "/").map(String.init)
                    if components.last == ".sourceignore", !components.dropLast().contains(".git") {
                        ignoreFiles.append((Array(components.dropLast()), String(decoding: data, as: UTF8.self)))
                    }
                default: break
                }
            }
        } catch {
            ScratchFolders.remove(root)
            throw error
        }
        self.written = written
        symbolicLinks = links
        self.submodules = submodules
        self.locked = locked
        // fluxcd/pkg sourceignore.LoadIgnorePatterns: a folder's file first, then its subfolders
        // in name order (os.ReadDir sorts by bytes), recursively.
        ignoreFiles.sort { a, b in
            for (x, y) in zip(a.domain, b.domain) where x != y { return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)) }
            return a.domain.count < b.domain.count
        }
        sourceIgnorePatterns = ignoreFiles.flatMap { SourceIgnore.patterns(in: $0.text, domain: $0.domain, file: ($0.domain + [".sourceignore"]).joined(separator: "/")) }
    }

    /// Why a written file is not in the artifact of a GitRepository with this `spec.ignore`: the
    /// exact rule, and a change that keeps the file. nil when the artifact holds it.
    public func exclusion(of path: String, ignore: String?) -> (rule: String, fix: String)? {
        let patterns = sourceIgnorePatterns + (ignore.map { SourceIgnore.patterns(in: $0, domain: []) } ?? [])
        let matcher = SourceIgnore(repositoryPatterns: patterns)
        // A folder above the file may be what is excluded (source-controller skips the folder's files).
        let components = path.split(separator: "/").map(String.init)
        var found: SourceIgnorePattern?
        for depth in 1...max(1, components.count) {
            if let pattern = matcher.exclusion(of: components.prefix(depth).joined(separator: "/"), isDirectory: depth < components.count) {
                found = pattern
                break
            }
        }
        guard let found else { return nil }
        switch found.origin {
        case .vcs(let text):
            return ("source-controller's VCS exclusion `\(text)` (always applied)", "rename it: source-controller never puts \(text) into an artifact")
        case .defaultExclusion(let text):
            return (
                "source-controller's default exclusion `\(text)` (applied because the repository has no .sourceignore and its GitRepository no spec.ignore)",
                "add a .sourceignore at the repository root: source-controller then applies its patterns instead of every default exclusion (list there the defaults you still want, e.g. .github/)")
        case .repository(let file, let line, let text):
            let place = file.isEmpty ? "line \(line) of the GitRepository's spec.ignore" : "\(file):\(line)"
            return ("\(place) (`\(text)`)", "remove or narrow that line, or add `!/\(path)` after it")
        }
    }

    /// The default exclusion that would leave `path` out had the repository no pattern of its own
    /// (storage.SourceIgnoreFilter applies the defaults only then), or nil.
    public func defaultExclusion(of path: String) -> String? {
        let defaults = SourceIgnore(repositoryPatterns: [])
        let components = path.split(separator: "/").map(String.init)
        for depth in 1...max(1, components.count) {
            if case .defaultExclusion(let text)? = defaults.exclusion(of: components.prefix(depth).joined(separator: "/"), isDirectory: depth < components.count)?.origin { return text }
        }
        return nil
    }

    /// Whether the artifact keeps the folder `path` though no file of it is there (tester t14 F8):
    /// the repository has something under it (files an ignore rule leaves out, or symbolic links,
    /// which source-controller's archive skips) and no ignore rule excludes the folder itself or a
    /// folder above it. source-controller archives the folder entry (`Storage.Archive` skips only
    /// what is neither a file nor a folder, and ignored paths), so kustomize-controller finds it,
    /// generates an empty kustomization and applies nothing.
    public func keepsEmptyFolder(_ path: String, ignore: String?) -> Bool {
        guard !path.isEmpty, written.contains(where: { $0.hasPrefix(path + "/") }) || symbolicLinks.contains(where: { $0.hasPrefix(path + "/") }) else { return false }
        let patterns = sourceIgnorePatterns + (ignore.map { SourceIgnore.patterns(in: $0, domain: []) } ?? [])
        let matcher = SourceIgnore(repositoryPatterns: patterns)
        let components = path.split(separator: "/").map(String.init)
        return !(1...components.count).contains { matcher.exclusion(of: components.prefix($0).joined(separator: "/"), isDirectory: true) != nil }
    }

    /// The files of the artifact a GitRepository with this `spec.ignore` gets.
    public func files(ignore: String?) -> Set<String> {
        let patterns = sourceIgnorePatterns + (ignore.map { SourceIgnore.patterns(in: $0, domain: []) } ?? [])
        let matcher = SourceIgnore(repositoryPatterns: patterns)
        return written.filter { !matcher.excludes($0) }
    }

    public func remove() {
        ScratchFolders.remove(root)
    }

    deinit { remove() }

    public struct ArtifactError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
