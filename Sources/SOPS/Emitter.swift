import Foundation

/// Writes decrypted documents back as YAML or JSON, as `sops -d` prints them: keys in their
/// order, strings quoted where their plain form would read as another type.
public enum TreeEmitter {
    /// YAML as `sops -d` prints it: see `YAMLEmitter`.
    public static func yaml(_ documents: [TreeNode]) throws -> String {
        YAMLEmitter.emit(documents)
    }

    /// JSON as `sops -d` prints it: see `JSONStore` (Go's encoding/json).
    public static func json(_ documents: [TreeNode]) -> String {
        JSONStore.emit(documents)
    }

    static func quote(_ text: String) -> String { JSONStore.quote(text) }
}
