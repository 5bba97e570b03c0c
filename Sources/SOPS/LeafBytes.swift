import Foundation

/// The bytes SOPS feeds its MAC for an unencrypted leaf: the value as Go's yaml.v3 types it
/// (YAML 1.2 core schema for plain scalars) and sops's `ToBytes` writes it.
enum LeafBytes {
    /// nil for a null leaf, which the MAC skips.
    static func of(_ scalar: TreeNode.Scalar) -> [UInt8]? {
        scalar.value.macBytes
    }

    nonisolated(unsafe) static let timestampPattern =
        /^(?<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?:(?:[Tt]|[ \t]+)(?<time>[0-9]{1,2}:[0-9]{2}:[0-9]{2})(?<fraction>\.[0-9]*)?[ \t]*(?<zone>Z|[-+][0-9]{1,2}(?::?[0-9]{2})?)?)?$/

    /// A plain YAML timestamp as Go's time.MarshalText writes it (RFC 3339, nanoseconds trimmed):
    /// sops types such values as `time`.
    static func timestamp(_ text: String) -> String? {
        guard let match = text.wholeMatch(of: timestampPattern) else { return nil }
        let dateParts = match.date.split(separator: "-").compactMap { Int($0) }
        guard dateParts.count == 3 else { return nil }
        var result = String(format: "%04d-%02d-%02d", dateParts[0], dateParts[1], dateParts[2])
        guard let time = match.time else { return result + "T00:00:00Z" }
        let timeParts = time.split(separator: ":").compactMap { Int($0) }
        guard timeParts.count == 3 else { return nil }
        result += String(format: "T%02d:%02d:%02d", timeParts[0], timeParts[1], timeParts[2])
        if let fraction = match.fraction {
            var digits = String(fraction.dropFirst())
            while digits.hasSuffix("0") { digits.removeLast() }
            if !digits.isEmpty { result += "." + digits }
        }
        switch match.zone.map(String.init) {
        case nil, "Z", "+00:00", "-00:00", "+0", "-0", "+00": result += "Z"
        case .some(let zone):
            let sign = zone.first!, digits = zone.dropFirst().filter(\.isNumber)
            let hours = Int(digits.prefix(digits.count > 2 ? digits.count - 2 : digits.count)) ?? 0
            let minutes = digits.count > 2 ? Int(digits.suffix(2)) ?? 0 : 0
            result += String(format: "%@%02d:%02d", String(sign), hours, minutes)
        }
        return result
    }

    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// Integers as yaml.v3 reads them: underscores dropped, 0x / 0o / 0b prefixes.
    static func integer(_ text: String) -> Int? {
        var body = Substring(text.replacingOccurrences(of: "_", with: ""))
        var sign = 1
        if body.hasPrefix("-") { sign = -1; body = body.dropFirst() } else if body.hasPrefix("+") { body = body.dropFirst() }
        guard !body.isEmpty else { return nil }
        let radix: Int
        if body.hasPrefix("0x") || body.hasPrefix("0X") { radix = 16; body = body.dropFirst(2) }
        else if body.hasPrefix("0o") || body.hasPrefix("0O") { radix = 8; body = body.dropFirst(2) }
        else if body.hasPrefix("0b") || body.hasPrefix("0B") { radix = 2; body = body.dropFirst(2) }
        else { radix = 10 }
        guard !body.isEmpty, let value = Int(body, radix: radix) else { return nil }
        return sign * value
    }

    nonisolated(unsafe) static let floatPattern = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/

    static func float(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default:
            let plain = text.replacingOccurrences(of: "_", with: "")
            guard plain.wholeMatch(of: floatPattern) != nil else { return nil }
            return Double(plain)
        }
    }

    /// `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits that round-trip, never in
    /// exponent form. What sops feeds the MAC and encrypts for a float.
    static func goFloat(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        let (digits, point) = shortestDigits(abs(value))
        if digits.isEmpty { return value.sign == .minus ? "-0" : "0" }
        return (value < 0 ? "-" : "") + fixed(digits, point)
    }

    /// `strconv.FormatFloat(f, 'g', -1, 64)` as yaml.v3 writes a float (`sops -d` prints it so):
    /// exponent form when the exponent is below -4 or at least 6 (Go's rule for shortest 'g').
    static func goFloatG(_ value: Double) -> String {
        if value.isNaN { return ".nan" }
        if value.isInfinite { return value < 0 ? "-.inf" : ".inf" }
        let (digits, point) = shortestDigits(abs(value))
        let sign = value.sign == .minus ? "-" : ""
        if digits.isEmpty { return sign + "0" }
        let exponent = point - 1
        if exponent < -4 || exponent >= 6 {
            var text = String(digits.first!)
            if digits.count > 1 { text += "." + digits.dropFirst() }
            let magnitude = abs(exponent)
            return sign + text + "e" + (exponent < 0 ? "-" : "+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        return sign + fixed(digits, point)
    }

    /// Digits without a decimal point (no leading or trailing zeros) and where the point goes.
    static func shortestDigits(_ value: Double) -> (digits: String, point: Int) {
        guard value != 0 else { return ("", 0) }
        let shortest = "\(value)"  // "0.1", "100.0", "1e-05", "1.5e+20"
        var mantissa = Substring(shortest)
        var exponent = 0
        if let e = shortest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = shortest[..<e]
            exponent = Int(shortest[shortest.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        while digits.hasPrefix("0") { digits.removeFirst(); point -= 1 }
        while digits.hasSuffix("0") { digits.removeLast() }
        return (digits, point)
    }

    private static func fixed(_ digits: String, _ point: Int) -> String {
        if point <= 0 { return "0." + String(repeating: "0", count: -point) + digits }
        if point >= digits.count { return digits + String(repeating: "0", count: point - digits.count) }
        return String(digits.prefix(point)) + "." + digits.dropFirst(point)
    }
}
