/// The secrets a run has seen, and their redaction. Every form a secret can be printed in is
/// registered: the value, each of its lines, and whatever decoded forms the caller adds.
struct SecretMask: Sendable {
    /// Lines shorter than this are not masked on their own: masking "-----" or a 4-character
    /// armor checksum would blank out unrelated log text without protecting anything.
    static let shortestLine = 8

    /// Longest first (a longer secret must be replaced before a shorter one inside it).
    private(set) var secrets: [String] = []
    private var known: Set<String> = []

    /// Returns the forms newly registered, longest first.
    mutating func register(_ secret: String) -> [String] {
        var forms: [String] = []
        let trimmed = secret.trimmingWhitespace
        if !trimmed.isEmpty { forms.append(trimmed) }
        if secret != trimmed, !secret.isEmpty { forms.append(secret) }
        for line in secret.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(line).trimmingWhitespace
            if line.count >= Self.shortestLine, !line.hasPrefix("-----") { forms.append(line) }
        }
        // A set and a sorted insert: a preflight registers thousands of values, and re-sorting
        // (with String.count, linear in the length) on every one was quadratic.
        var new: [String] = []
        for form in forms where known.insert(form).inserted {
            new.append(form)
            let length = form.count
            var low = 0, high = secrets.count
            while low < high {
                let middle = (low + high) / 2
                if secrets[middle].count >= length { low = middle + 1 } else { high = middle }
            }
            secrets.insert(form, at: low)
        }
        return new.sorted { $0.count > $1.count }
    }

    func redact(_ text: String) -> String {
        var text = Self.redactingURLPasswords(text)
        guard !secrets.isEmpty else { return text }
        for secret in secrets where text.contains(secret) {
            text = text.replacing(secret, with: "***")
        }
        return text
    }
}

extension SecretMask {
    /// The password of a URL's userinfo (`https://user:password@host/…`) as `***`, as git
    /// itself shows such a URL: a repository's URL quoted by a controller's message must not put
    /// it in the log, the summary or the artifacts (tester t16 F6).
    static func redactingURLPasswords(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        return text.replacing(#/(?<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:'"]*:)[^\s/@'"]+@/#) { match in "\(match.output.head)***@" }
    }
}

extension String {
    public var trimmingWhitespace: String {
        var scalars = unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
