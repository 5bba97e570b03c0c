import Foundation

/// Strict base64 as age requires: standard alphabet, canonical (no stray bits), with or
/// without padding as the caller says.
enum StrictBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [Int16] = {
        var table = [Int16](repeating: -1, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int16(index) }
        return table
    }()

    /// Decodes; nil when a character is outside the alphabet, the length is impossible, the
    /// padding is wrong for `padded`, or unused bits are not zero.
    static func decode<Bytes: Collection>(_ text: Bytes, padded: Bool) -> [UInt8]? where Bytes.Element == UInt8 {
        var symbols = Array(text)
        if padded {
            guard symbols.count % 4 == 0 else { return nil }
            var padding = 0
            while padding < 2, symbols.last == UInt8(ascii: "=") { symbols.removeLast(); padding += 1 }
        }
        if symbols.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(symbols.count * 3 / 4)
        var accumulator: UInt32 = 0, bits = 0
        for symbol in symbols {
            let value = values[Int(symbol)]
            guard value >= 0 else { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        // Canonical: the bits left over must be zero.
        if bits > 0 && accumulator & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }

    static func encode<Bytes: Collection>(_ data: Bytes, padded: Bool) -> String where Bytes.Element == UInt8 {
        let text = Data(data).base64EncodedString()
        return padded ? text : String(text.prefix { $0 != "=" })
    }
}
