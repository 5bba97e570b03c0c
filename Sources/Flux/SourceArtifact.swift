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
        let entries = try source.list("")
        var folder = Array((FileManager.default.temporaryDirectory.path + "/fluxci-artifact-XXXXXX").utf8CString)
        guard let made = mkdtemp(&folder) else { throw ArtifactError(message: "cannot create a private folder in \(FileManager.default.temporaryDirectory.path)") }
        root = URL(fileURLWithPath: String(cString: made), isDirectory: true)
        var written: Set<String> = [], links: Set<String> = [], locked: Set<String> = []
        var ignoreFiles: [(domain: [String], text: String)] = []
        do {
            for (path, kind) in entries {
                switch kind {
                case .symlink: links.insert(path)
                case .file:
                    guard let data = try source.read(path) else { continue }
                    let target = root.appendingPathComponent(path)
                    try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    guard FileManager.default.createFile(atPath: target.path, contents: data) else {
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
            try? FileManager.default.removeItem(at: root)
            throw error
        }
        self.written = written
        symbolicLinks = links
        self.locked = locked
        // fluxcd/pkg sourceignore.LoadIgnorePatterns: a folder's file first, then its subfolders
        // in name order (os.ReadDir sorts by bytes), recursively.
        ignoreFiles.sort { a, b in
            for (x, y) in zip(a.domain, b.domain) where x != y { return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)) }
            return a.domain.count < b.domain.count
        }
        sourceIgnorePatterns = ignoreFiles.flatMap { SourceIgnore.patterns(in: $0.text, domain: $0.domain) }
    }

    /// The files of the artifact a GitRepository with this `spec.ignore` gets.
    public func files(ignore: String?) -> Set<String> {
        let patterns = sourceIgnorePatterns + (ignore.map { SourceIgnore.patterns(in: $0, domain: []) } ?? [])
        let matcher = SourceIgnore(repositoryPatterns: patterns)
        return written.filter { !matcher.excludes($0) }
    }

    public func remove() {
        try? FileManager.default.removeItem(at: root)
    }

    deinit { remove() }

    public struct ArtifactError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
