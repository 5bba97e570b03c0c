/// The secrets a run has seen, and their redaction. Every form a secret can be printed in is
/// registered: the value, each of its lines, and whatever decoded forms the caller adds.
struct SecretMask: Sendable {
    /// Lines shorter than this are not masked on their own: masking "-----" or a 4-character
    /// armor checksum would blank out unrelated log text without protecting anything.
    static let shortestLine = 8

    private(set) var secrets: [String] = []

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
        let new = forms.filter { !secrets.contains($0) }
        secrets.append(contentsOf: new)
        secrets.sort { $0.count > $1.count }
        return Array(Set(new)).sorted { $0.count > $1.count }
    }

    func redact(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacing(secret, with: "***")
        }
        return text
    }
}

extension String {
    var trimmingWhitespace: String {
        var scalars = unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
