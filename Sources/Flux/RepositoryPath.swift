/// Paths inside a repository or source artifact: relative, `/`-separated, no leading `./`.
public enum RepositoryPath {
    /// The folder holding `path` ("" for a top-level entry): `a/b/c.yaml` → `a/b`, `a` → "".
    /// Not `NSString.deletingLastPathComponent`: swift-corelibs-foundation in Swift 6.3 traps on
    /// a one-character path ("a", "."), which a fleet's folder names can be.
    public static func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        return String(path[..<slash])
    }
}
