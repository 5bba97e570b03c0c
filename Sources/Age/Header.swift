import Foundation

/// An age v1 header: recipient stanzas and the MAC, with the exact bytes the MAC covers.
public struct AgeHeader: Sendable {
    public struct Stanza: Sendable, Equatable {
        public var type: String
        public var arguments: [String]
        public var body: [UInt8]
    }

    public static let versionLine = "age-encryption.org/v1"

    public var stanzas: [Stanza]
    public var mac: [UInt8]
    /// The header from its first byte through "---" (without the space and MAC after it).
    var macInput: [UInt8]
    /// Where the payload starts in the file.
    public var payloadOffset: Int

    /// Parses a binary age file's header. Every rule of the format is enforced: LF line ends,
    /// arguments of printable ASCII, bodies in canonical unpadded base64 with every line but the
    /// last exactly 64 columns (the last shorter, possibly empty).
    public init(parsing file: [UInt8]) throws(AgeError) {
        var offset = 0
        func line() throws(AgeError) -> ArraySlice<UInt8> {
            guard let newline = file[offset...].firstIndex(of: 0x0A) else { throw .header("the header ends without a newline") }
            let text = file[offset..<newline]
            offset = newline + 1
            return text
        }
        guard try line().elementsEqual(Self.versionLine.utf8) else {
            throw .header("not an age v1 file (the first line is not \(Self.versionLine))")
        }
        var stanzas: [Stanza] = []
        while true {
            let start = offset
            let text = try line()
            if text.starts(with: Array("--- ".utf8)) {
                let encoded = text.dropFirst(4)
                guard encoded.count == 43, let mac = StrictBase64.decode(encoded, padded: false), mac.count == 32 else {
                    throw .header("the MAC line is malformed")
                }
                self.mac = mac
                macInput = Array(file[..<(start + 3)])
                payloadOffset = offset
                self.stanzas = stanzas
                return
            }
            guard text.starts(with: Array("-> ".utf8)) else { throw .header("expected a stanza ('-> ') or the MAC line ('--- ')") }
            let words = text.dropFirst(3).split(separator: 0x20, omittingEmptySubsequences: false)
            guard let type = words.first, !words.contains(where: \.isEmpty) else { throw .header("a stanza has an empty argument") }
            for word in words where word.contains(where: { $0 < 0x21 || $0 > 0x7E }) {
                throw .header("a stanza argument contains a character outside printable ASCII")
            }
            var body: [UInt8] = []
            while true {
                let bodyLine = try line()
                guard bodyLine.count <= 64 else { throw .header("a stanza body line is longer than 64 columns") }
                guard let decoded = StrictBase64.decode(bodyLine, padded: false) else {
                    throw .header("a stanza body is not canonical unpadded base64")
                }
                body += decoded
                if bodyLine.count < 64 { break }
            }
            stanzas.append(Stanza(
                type: String(decoding: type, as: UTF8.self),
                arguments: words.dropFirst().map { String(decoding: $0, as: UTF8.self) }, body: body))
        }
    }
}
