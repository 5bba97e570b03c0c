import Foundation

/// Which leaves sops encrypts: getsops/sops `sops.go` `shouldBeEncrypted`, applied in the order
/// sops applies its rules, with the comments that precede a value at each level (the "comments
/// stack" of `walkBranch`/`walkSlice`: a comment joins its level's list, a value clears it).
struct ValueSelection: Sendable {
    var unencryptedSuffix: String?
    var encryptedSuffix: String?
    var unencryptedRegex: String?
    var encryptedRegex: String?
    var unencryptedCommentRegex: String?
    var encryptedCommentRegex: String?
    var macOnlyEncrypted = false

    init(_ metadata: Metadata) {
        // sops defaults the unencrypted suffix when no rule is set at all.
        let noRule = [metadata.encryptedSuffix, metadata.encryptedRegex, metadata.unencryptedRegex, metadata.encryptedCommentRegex, metadata.unencryptedCommentRegex, metadata.unencryptedSuffix].allSatisfy { $0 == nil }
        unencryptedSuffix = metadata.unencryptedSuffix ?? (noRule ? "_unencrypted" : nil)
        encryptedSuffix = metadata.encryptedSuffix
        unencryptedRegex = metadata.unencryptedRegex
        encryptedRegex = metadata.encryptedRegex
        unencryptedCommentRegex = metadata.unencryptedCommentRegex
        encryptedCommentRegex = metadata.encryptedCommentRegex
        macOnlyEncrypted = metadata.macOnlyEncrypted
    }

    init(_ rule: EncryptionRule, macOnlyEncrypted: Bool = false) {
        switch rule {
        case .encryptedRegex(let value): encryptedRegex = value
        case .unencryptedRegex(let value): unencryptedRegex = value
        case .encryptedSuffix(let value): encryptedSuffix = value
        case .unencryptedSuffix(let value): unencryptedSuffix = value
        case .encryptedCommentRegex(let value): encryptedCommentRegex = value
        case .unencryptedCommentRegex(let value): unencryptedCommentRegex = value
        }
        self.macOnlyEncrypted = macOnlyEncrypted
    }

    private static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return text.firstMatch(of: regex) != nil
    }

    func shouldBeEncrypted(path: [String], comments: [[String]], isComment: Bool) -> Bool {
        var encrypted = true
        if let suffix = unencryptedSuffix, !suffix.isEmpty, path.contains(where: { $0.utf8.reversed().starts(with: suffix.utf8.reversed()) }) { encrypted = false }
        if let suffix = encryptedSuffix, !suffix.isEmpty {
            encrypted = path.contains { $0.utf8.reversed().starts(with: suffix.utf8.reversed()) }
        }
        if let pattern = unencryptedRegex, !pattern.isEmpty, path.contains(where: { Self.matches(pattern, $0) }) { encrypted = false }
        if let pattern = encryptedRegex, !pattern.isEmpty {
            encrypted = path.contains { Self.matches(pattern, $0) }
        }
        if let pattern = unencryptedCommentRegex, !pattern.isEmpty, comments.joined().contains(where: { Self.matches(pattern, $0) }) { encrypted = false }
        if let pattern = encryptedCommentRegex, !pattern.isEmpty {
            encrypted = false
            // The comment that matches is itself left in the clear: the last comment of the
            // innermost level is skipped when a comment is being decided.
            outer: for (i, level) in comments.enumerated() {
                for (j, comment) in level.enumerated() {
                    if isComment && i == comments.count - 1 && j == level.count - 1 { continue }
                    if Self.matches(pattern, comment) { encrypted = true; break outer }
                }
            }
        }
        return encrypted
    }
}
