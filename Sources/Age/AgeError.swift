/// Why an age file could not be decrypted, in the classes the age specification's test
/// vectors use.
public enum AgeError: Error, Equatable, CustomStringConvertible {
    /// The ASCII armor is malformed.
    case armor(String)
    /// The header is malformed (including a recipient stanza that is invalid for its type).
    case header(String)
    /// No stanza could be opened with the identities given.
    case noMatch(recipients: [String])
    /// The header's MAC does not match: the header was altered.
    case headerMAC
    /// The payload is truncated, altered or malformed.
    case payload(String)

    public var description: String {
        switch self {
        case .armor(let detail): "malformed age armor: \(detail)"
        case .header(let detail): "malformed age header: \(detail)"
        case .noMatch(let recipients):
            recipients.isEmpty
                ? "no identity matched any of the recipients"
                : "no identity matched the file's recipients (\(recipients.joined(separator: ", ")))"
        case .headerMAC: "the age header's MAC does not match (the header was modified)"
        case .payload(let detail): "age payload: \(detail)"
        }
    }
}
