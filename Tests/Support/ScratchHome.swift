import Foundation

/// A scratch folder with an empty HOME and a GnuPG home of its own (both mode 0700), removed at
/// exit, so that no test reads the machine's keys. Suites subclass it with the way they run
/// fluxci and sops there (on a terminal or as on GitHub).
open class ScratchHome: @unchecked Sendable {
    public let root: URL
    public let home: URL
    public let gnupg: URL

    public init(_ name: String) throws {
        root = try TestPaths.temporaryDirectory(name)
        removeAtExit(root)
        home = root.appendingPathComponent("home")
        gnupg = root.appendingPathComponent("gnupg")
        for folder in [home, gnupg] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            chmod(folder.path, 0o700)
        }
    }

    /// Writes `text` at `path` under the root, creating its folders.
    public func write(_ path: String, _ text: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    public func read(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }
}
