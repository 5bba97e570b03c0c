import Flux
import Testing

struct RepositoryPathTests {
    /// One-character names are where Foundation's path functions trap (Swift 6.3 on Linux).
    @Test(arguments: [("a/b/c.yaml", "a/b"), ("a/b", "a"), ("a", ""), (".", ""), ("x/a", "x"), ("é/x", "é"), ("", "")])
    func parentIsTheFolderHoldingThePath(path: String, parent: String) {
        #expect(RepositoryPath.parent(path) == parent)
    }
}
