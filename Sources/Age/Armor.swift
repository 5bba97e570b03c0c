import Foundation

/// The ASCII armor of age files (strict PEM): `-----BEGIN AGE ENCRYPTED FILE-----`, padded base64
/// in lines of exactly 64 columns but the last, the END line. LF or CRLF line ends; white space is
/// allowed before and after the armor, nowhere else. Works on bytes: Swift would read "\r\n" as one
/// Character.
public enum AgeArmor {
    public static let header = "-----BEGIN AGE ENCRYPTED FILE-----"
    public static let footer = "-----END AGE ENCRYPTED FILE-----"
    static let columns = 64
    /// Most white space tolerated after the armor, as age allows.
    static let maximumTrailingWhitespace = 1024

    /// Whether the data looks armored: after white space it starts with a PEM BEGIN line.
    public static func isArmored(_ data: some Collection<UInt8>) -> Bool {
        data.drop(while: isSpace).starts(with: Array("-----BEGIN".utf8))
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C }

    public static func decode(_ data: some Collection<UInt8>) throws(AgeError) -> [UInt8] {
        var bytes = Array(data)[...]
        bytes = bytes.drop(while: isSpace)
        func nextLine() -> ArraySlice<UInt8>? {
            guard !bytes.isEmpty else { return nil }
            var line: ArraySlice<UInt8>
            if let newline = bytes.firstIndex(of: 0x0A) {
                line = bytes[..<newline]
                bytes = bytes[(newline + 1)...]
            } else {
                line = bytes
                bytes = bytes[bytes.endIndex...]
            }
            if line.last == 0x0D { line = line.dropLast() }
            return line
        }
        guard let first = nextLine(), first.elementsEqual(header.utf8) else { throw .armor("the first line is not \(header)") }
        var out: [UInt8] = []
        var sawLastLine = false
        while true {
            guard let line = nextLine() else { throw .armor("the END line is missing") }
            if line.elementsEqual(footer.utf8) { break }
            if sawLastLine { throw .armor("a line shorter than 64 columns is not the last one") }
            guard line.count <= columns else { throw .armor("a line is longer than 64 columns") }
            guard !line.isEmpty else { throw .armor("an empty line inside the armor") }
            guard let decoded = StrictBase64.decode(line, padded: true) else { throw .armor("a line is not canonical base64") }
            if line.count < columns { sawLastLine = true }
            if line.contains(UInt8(ascii: "=")) { sawLastLine = true }
            out += decoded
        }
        let rest = bytes.prefix(maximumTrailingWhitespace + 1)
        guard rest.allSatisfy(isSpace) else { throw .armor("data after the END line") }
        guard rest.count <= maximumTrailingWhitespace else { throw .armor("too much white space after the END line") }
        return out
    }

    public static func encode(_ data: some Collection<UInt8>) -> String {
        let text = StrictBase64.encode(data, padded: true)
        var lines: [Substring] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            lines.append(rest.prefix(columns))
            rest = rest.dropFirst(columns)
        }
        return ([header] + lines.map(String.init) + [footer]).joined(separator: "\n") + "\n"
    }
}
