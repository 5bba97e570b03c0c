/// Bech32 (BIP 173), as age uses it for `age1…` recipients and `AGE-SECRET-KEY-1…` identities:
/// no length limit, and a string must be all lower or all upper case.
public enum Bech32 {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case mixedCase
        case noSeparator
        case invalidCharacter(Character)
        case badChecksum
        case badPadding

        public var description: String {
            switch self {
            case .mixedCase: "it mixes upper and lower case"
            case .noSeparator: "it has no '1' separator"
            case .invalidCharacter(let character): "it contains '\(character)', which Bech32 does not use"
            case .badChecksum: "its checksum does not match (a character is wrong or missing)"
            case .badPadding: "its data does not end on a byte boundary"
            }
        }
    }

    private static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// Decodes to the human-readable part (in the case it was written) and the data bytes.
    public static func decode(_ text: String) throws(Failure) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(text.utf8)
        let hasLower = bytes.contains { $0 >= 0x61 && $0 <= 0x7A }
        let hasUpper = bytes.contains { $0 >= 0x41 && $0 <= 0x5A }
        if hasLower && hasUpper { throw .mixedCase }
        for byte in bytes where byte < 33 || byte > 126 { throw .invalidCharacter(Character(Unicode.Scalar(byte))) }
        guard let separator = bytes.lastIndex(of: 0x31), separator >= 1, bytes.count - separator - 1 >= 6 else { throw .noSeparator }
        let lower = bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }
        let hrp = Array(lower[..<separator])
        var values: [UInt8] = []
        for byte in lower[(separator + 1)...] {
            let value = byte < 128 ? reverse[Int(byte)] : -1
            guard value >= 0 else { throw .invalidCharacter(Character(Unicode.Scalar(byte))) }
            values.append(UInt8(value))
        }
        guard polymod(expand(hrp) + values) == 1 else { throw .badChecksum }
        let data = try convertBits(Array(values.dropLast(6)), from: 5, to: 8, pad: false)
        return (String(decoding: bytes[..<separator], as: UTF8.self), data)
    }

    /// Encodes in lower case; callers upper-case identities themselves.
    public static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = try! convertBits(data, from: 8, to: 5, pad: true)
        let checksumInput = expand(hrpBytes) + values + [0, 0, 0, 0, 0, 0]
        let mod = polymod(checksumInput) ^ 1
        let checksum = (0..<6).map { UInt8((mod >> (5 * (5 - $0))) & 31) }
        return String(decoding: hrpBytes + [0x31] + (values + checksum).map { alphabet[Int($0)] }, as: UTF8.self)
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for index in 0..<5 where (top >> index) & 1 == 1 { checksum ^= generator[index] }
        }
        return checksum
    }

    private static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) throws(Failure) -> [UInt8] {
        var accumulator = 0, bits = 0
        var result: [UInt8] = []
        let maxValue = (1 << to) - 1
        for value in data {
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                result.append(UInt8((accumulator >> bits) & maxValue))
            }
        }
        if pad {
            if bits > 0 { result.append(UInt8((accumulator << (to - bits)) & maxValue)) }
        } else if bits >= from || (accumulator << (to - bits)) & maxValue != 0 {
            throw .badPadding
        }
        return result
    }
}
