/// Why a SOPS document could not be decrypted, in the classes users know from `sops -d`.
public enum DecryptionError: Error, Equatable, CustomStringConvertible {
    /// No `sops` metadata: not a SOPS file.
    case notSOPS(String)
    case malformedMetadata(String, line: Int?)
    case dataKeyNotRecoverable(attempts: [KeyAttempt], groupsOpened: Int, groupsNeeded: Int)
    case malformedValue(path: String, detail: String, line: Int?)
    /// A value's ciphertext, IV, tag or path was changed, or another data key encrypted it.
    case valueAuthenticationFailed(path: String, line: Int?)
    /// The stored MAC does not decrypt: it or `lastmodified` was changed.
    case macUndecryptable(line: Int?)
    /// The MAC decrypts but does not match the values: a value was changed, added, removed or moved.
    case macMismatch(line: Int?)
    /// Encrypted (found by content), but stored in another syntax than the one its name makes
    /// sops (and kustomize-controller) read it with, which fails on it: `detail` is that reader's error.
    case wrongStore(readAs: SOPSFileFormat, storedAs: SOPSFileFormat, detail: String, line: Int?)

    public var description: String {
        switch self {
        case .notSOPS(let detail): "not a SOPS file: \(detail)"
        case .malformedMetadata(let detail, _): "malformed sops metadata: \(detail)"
        case .dataKeyNotRecoverable(let attempts, let opened, let needed):
            (needed > 1 ? "could not recover the data key (\(opened) of the \(needed) key groups needed were opened); " : "could not recover the data key; ")
                + "keys tried: " + (attempts.isEmpty ? "none" : attempts.map(\.description).joined(separator: "; "))
        case .malformedValue(let path, let detail, _): "the value at \(path) is malformed: \(detail)"
        case .valueAuthenticationFailed(let path, _): "the value at \(path) failed authentication: it, its IV, tag or path was changed"
        case .macUndecryptable: "the MAC cannot be decrypted: sops.mac or sops.lastmodified was changed"
        case .macMismatch: "MAC mismatch: the file's values were changed after it was encrypted"
        case .wrongStore(let readAs, let storedAs, let detail, _):
            "sops reads this file as \(readAs == .binary ? "binary" : readAs.rawValue) because of its name, but it is \(storedAs.rawValue), so `sops -d` fails on it too (\(detail))"
        }
    }

    /// The line the problem is on, when known.
    public var line: Int? {
        switch self {
        case .notSOPS, .dataKeyNotRecoverable: nil
        case .malformedMetadata(_, let line), .malformedValue(_, _, let line), .valueAuthenticationFailed(_, let line),
            .macUndecryptable(let line), .macMismatch(let line), .wrongStore(_, _, _, let line):
            line
        }
    }

    /// A short class name for tables and titles.
    public var title: String {
        switch self {
        case .notSOPS: "Not a SOPS file"
        case .malformedMetadata: "Malformed SOPS metadata"
        case .dataKeyNotRecoverable: "Data key not recoverable"
        case .malformedValue: "Malformed encrypted value"
        case .valueAuthenticationFailed: "Value failed authentication"
        case .macUndecryptable: "MAC cannot be decrypted"
        case .macMismatch: "MAC mismatch"
        case .wrongStore: "Format chosen by the file name"
        }
    }
}
