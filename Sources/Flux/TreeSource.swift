import Foundation
import Git

/// The files of a repository at one revision: a git commit read through libgit2, or a folder
/// on disk (when the checkout is not a git repository).
public protocol TreeSource: Sendable {
    /// A file's bytes; nil when absent (or not a regular file).
    func read(_ path: String) throws -> Data?
    func kind(_ path: String) throws -> Repository.EntryKind?
    /// Every entry under a directory, recursively, as repository-relative paths.
    func list(_ directory: String) throws -> [(path: String, kind: Repository.EntryKind)]
    /// What the revision is, for messages (`main@sha1:1234…` or a folder).
    var revisionDescription: String { get }
    /// Every entry, as `list("")` gives them, with each regular file's bytes (nil for the other
    /// kinds): what a source artifact is made of.
    func readAll() throws -> [(path: String, kind: Repository.EntryKind, data: Data?)]
}

extension TreeSource {
    public func readAll() throws -> [(path: String, kind: Repository.EntryKind, data: Data?)] {
        try list("").map { entry in (entry.path, entry.kind, entry.kind == .file ? try read(entry.path) : nil) }
    }
}

/// A commit of a git repository, optionally below a folder (an example repository inside
/// another one).
public struct GitTreeSource: TreeSource {
    public let repository: Repository
    public let commit: String
    public let prefix: String
    public let branch: String?

    public init(repository: Repository, commit: String, branch: String?, prefix: String = "") {
        self.repository = repository
        self.commit = commit
        self.branch = branch
        self.prefix = Repository.normalize(prefix)
    }

    private func full(_ path: String) -> String {
        let relative = Repository.normalize(path)
        return prefix.isEmpty ? relative : relative.isEmpty ? prefix : "\(prefix)/\(relative)"
    }

    public func read(_ path: String) throws -> Data? { try repository.readFile(commit: commit, path: full(path)) }
    public func kind(_ path: String) throws -> Repository.EntryKind? { try repository.entryKind(commit: commit, path: full(path)) }
    public func list(_ directory: String) throws -> [(path: String, kind: Repository.EntryKind)] {
        try repository.listFiles(commit: commit, under: full(directory)).map { entry in
            (prefix.isEmpty ? entry.path : String(entry.path.dropFirst(prefix.count + 1)), entry.kind)
        }
    }
    /// One walk of the commit's tree (the prefix's subtree read as `list` and `read` see it).
    public func readAll() throws -> [(path: String, kind: Repository.EntryKind, data: Data?)] {
        guard prefix.isEmpty else { return try list("").map { entry in (entry.path, entry.kind, entry.kind == .file ? try read(entry.path) : nil) } }
        return try repository.readAll(commit: commit)
    }
    public var revisionDescription: String { "\(branch ?? "HEAD")@sha1:\(commit)" }
}

/// A folder on disk. Symlinks are reported as such and never followed.
public struct DirectoryTreeSource: TreeSource {
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    public func read(_ path: String) throws -> Data? {
        guard try kind(path) == .file else { return nil }
        return FileManager.default.contents(atPath: root.appendingPathComponent(Repository.normalize(path)).path)
    }

    public func kind(_ path: String) throws -> Repository.EntryKind? {
        let url = root.appendingPathComponent(Repository.normalize(path))
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path) else { return nil }
        switch attributes[.type] as? FileAttributeType {
        case .typeDirectory: return .directory
        case .typeSymbolicLink: return .symlink
        case .typeRegular: return .file
        default: return nil
        }
    }

    public func list(_ directory: String) throws -> [(path: String, kind: Repository.EntryKind)] {
        let base = Repository.normalize(directory)
        var result: [(String, Repository.EntryKind)] = []
        func walk(_ relative: String) {
            let url = root.appendingPathComponent(relative)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
            for name in names where name != ".git" {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                switch try? kind(path) {
                case .directory: walk(path)
                case .some(let kind): result.append((path, kind))
                case nil: break
                }
            }
        }
        walk(base)
        return result
    }

    public var revisionDescription: String { "the working tree \(root.path)" }
}
