import Foundation

/// Which leaves sops encrypts: getsops/sops `sops.go` `shouldBeEncrypted`, applied in the order
/// sops applies its rules, with the comments that precede a value at each level (the "comments
/// stack" of `walkBranch`/`walkSlice`: a comment joins its level's list, a value clears it).
/// The one implementation of the rules: the YAML/JSON tree walks and the flat stores (dotenv, ini,
/// binary, through `FlatRules`) all ask it. Suffixes are compared as bytes (Go's
/// `strings.HasSuffix`); an invalid regular expression matches nothing (sops ignores
/// `regexp.Match`'s error); the expressions are compiled once per file, not once per value.
struct ValueSelection: @unchecked Sendable {
    private(set) var unencryptedSuffix: String?
    private(set) var encryptedSuffix: String?
    private(set) var unencryptedRegex: String?
    private(set) var encryptedRegex: String?
    private(set) var unencryptedCommentRegex: String?
    private(set) var encryptedCommentRegex: String?
    private(set) var macOnlyEncrypted = false
    /// Each rule's pattern, compiled (nil: invalid, matching nothing).
    private var compiled: [String: Regex<AnyRegexOutput>?] = [:]

    private static func compile(_ pattern: String?) -> Regex<AnyRegexOutput>? {
        pattern.flatMap { $0.isEmpty ? nil : try? Regex($0) }
    }

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
        compileRules()
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
        compileRules()
    }

    private mutating func compileRules() {
        for pattern in [unencryptedRegex, encryptedRegex, unencryptedCommentRegex, encryptedCommentRegex].compactMap({ $0 }) {
            compiled[pattern] = Self.compile(pattern)
        }
    }

    private func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = compiled[pattern] ?? Self.compile(pattern) else { return false }
        return text.firstMatch(of: regex) != nil
    }

    /// The rule as the file's metadata writes it, for messages.
    var ruleDescription: String {
        let rules = [
            ("encrypted_regex", encryptedRegex), ("unencrypted_regex", unencryptedRegex),
            ("encrypted_suffix", encryptedSuffix), ("unencrypted_suffix", unencryptedSuffix == "_unencrypted" ? nil : unencryptedSuffix),
            ("encrypted_comment_regex", encryptedCommentRegex), ("unencrypted_comment_regex", unencryptedCommentRegex),
        ].compactMap { name, value in value.map { "\(name) '\($0)'" } }
        return rules.isEmpty ? "no rule: every value but those under a key ending in _unencrypted" : rules.joined(separator: ", ")
    }

    /// Whether the unencrypted comment rule matches a comment as sops encrypted it (its
    /// `ENC[…,type:comment]` text, or "" for an empty comment): sops refuses such a file.
    func encryptedCommentMatchesUnencryptedCommentRegex(_ encrypted: String) -> Bool {
        guard let pattern = unencryptedCommentRegex, !pattern.isEmpty else { return false }
        return matches(pattern, encrypted)
    }

    func shouldBeEncrypted(path: [String], comments: [[String]], isComment: Bool) -> Bool {
        var encrypted = true
        if let suffix = unencryptedSuffix, !suffix.isEmpty, path.contains(where: { $0.utf8.reversed().starts(with: suffix.utf8.reversed()) }) { encrypted = false }
        if let suffix = encryptedSuffix, !suffix.isEmpty {
            encrypted = path.contains { $0.utf8.reversed().starts(with: suffix.utf8.reversed()) }
        }
        if let pattern = unencryptedRegex, !pattern.isEmpty, path.contains(where: { matches(pattern, $0) }) { encrypted = false }
        if let pattern = encryptedRegex, !pattern.isEmpty {
            encrypted = path.contains { matches(pattern, $0) }
        }
        if let pattern = unencryptedCommentRegex, !pattern.isEmpty, comments.joined().contains(where: { matches(pattern, $0) }) { encrypted = false }
        if let pattern = encryptedCommentRegex, !pattern.isEmpty {
            encrypted = false
            // The comment that matches is itself left in the clear: the last comment of the
            // innermost level is skipped when a comment is being decided.
            outer: for (i, level) in comments.enumerated() {
                for (j, comment) in level.enumerated() {
                    if isComment && i == comments.count - 1 && j == level.count - 1 { continue }
                    if matches(pattern, comment) { encrypted = true; break outer }
                }
            }
        }
        return encrypted
    }
}
