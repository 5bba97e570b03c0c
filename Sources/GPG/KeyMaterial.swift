import Foundation

/// What a CI secret like `SOPS_GPG_KEY` holds, made ready for import: ASCII armor (CRLF,
/// indentation and blank lines around it tolerated), or the base64 of armor or of binary keys.
/// Several armored keys are split into blocks, so that a broken one can be named.
public struct KeyMaterial: Sendable {
    public struct Block: Sendable {
        /// "PGP PRIVATE KEY BLOCK", "PGP PUBLIC KEY BLOCK", or "binary" for undecorated packets.
        public var label: String
        public var data: Data
        /// Lines of the (decoded) text the block spans, from 1; nil for binary input.
        public var lines: ClosedRange<Int>?
    }

    public var blocks: [Block]
    /// Whether the value was base64 that had to be decoded first.
    public var wasBase64: Bool
    /// The decoded text, which is as secret as the value itself: mask it (and its lines).
    public var decodedText: String?

    public enum Failure: Error, Equatable {
        case empty
        case notKeyMaterial(base64: Bool)
        case truncated(label: String, line: Int)
        case endWithoutBegin(line: Int)
    }

    public init(decoding value: String) throws(Failure) {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .empty }
        if trimmed.contains("-----BEGIN PGP ") || trimmed.contains("-----END PGP ") {
            blocks = try Self.armorBlocks(trimmed)
            wasBase64 = false
            decodedText = nil
            return
        }
        let compact = trimmed.filter { !$0.isWhitespace }
        guard let decoded = Data(base64Encoded: compact, options: [.ignoreUnknownCharacters]),
            compact.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+/=".contains($0)) })
        else { throw .notKeyMaterial(base64: false) }
        wasBase64 = true
        if let text = String(data: decoded, encoding: .utf8), text.contains("-----BEGIN PGP ") {
            decodedText = text
            blocks = try Self.armorBlocks(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } else if Self.looksLikeOpenPGPKeyPackets(decoded) {
            decodedText = nil
            blocks = [Block(label: "binary", data: decoded, lines: nil)]
        } else {
            throw .notKeyMaterial(base64: true)
        }
    }

    /// Splits armored text into its blocks, normalising line ends and per-line white space.
    static func armorBlocks(_ text: String) throws(Failure) -> [Block] {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var blocks: [Block] = []
        var current: (label: String, start: Int, body: [String])?
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("-----BEGIN ") && line.hasSuffix("-----") {
                if let open = current { throw .truncated(label: open.label, line: open.start) }
                let label = String(line.dropFirst("-----BEGIN ".count).dropLast(5))
                current = (label, index + 1, [line])
            } else if line.hasPrefix("-----END ") && line.hasSuffix("-----") {
                guard var open = current else { throw .endWithoutBegin(line: index + 1) }
                open.body.append(line)
                blocks.append(Block(label: open.label, data: Data((open.body.joined(separator: "\n") + "\n").utf8), lines: open.start...(index + 1)))
                current = nil
            } else if current != nil {
                current!.body.append(line)
            }
        }
        if let open = current { throw .truncated(label: open.label, line: open.start) }
        return blocks
    }

    /// OpenPGP secret or public key packets (tag 5 or 6, old or new packet format).
    static func looksLikeOpenPGPKeyPackets(_ data: Data) -> Bool {
        guard let first = data.first, first & 0x80 != 0 else { return false }
        let tag = first & 0x40 != 0 ? first & 0x3F : (first >> 2) & 0x0F
        return tag == 5 || tag == 6
    }
}
