import Foundation

/// A YAML scalar as sops holds it in its tree: the Go value that go-yaml v3 decodes a plain scalar
/// into (`resolve.go`: bool, int, float64, nil, time.Time, string), or a decrypted value typed by
/// its `type:` field. The MAC hashes `bytes` (sops's `ToBytes`), and `sops -d` prints `yamlText`
/// (go-yaml v3's encoder: `strconv.FormatInt`, `FormatFloat(f, 'g', -1, 64)`, RFC 3339 nanos).
public enum GoValue: Sendable, Equatable {
    case string(String)
    /// A Go string whose bytes are not valid UTF-8 (valid UTF-8 is always `.string`): what
    /// go-yaml v3 decodes `!!binary` into (Go strings hold any bytes), and what a decrypted `str`
    /// value holds when its plaintext is not UTF-8. sops encrypts and hashes the bytes as they
    /// are; go-yaml's encoder writes such a string as `!!binary` base64 (`encode.go` `stringv`),
    /// Go's encoding/json each invalid byte as `\ufffd`. Make one with `goString`.
    case binary([UInt8])
    case int(Int64)
    /// Above Int64.max: go-yaml v3 gives a uint64, which sops's `ToBytes` refuses.
    case uint(UInt64)
    case float(Double)
    case bool(Bool)
    case null
    /// RFC 3339 with nanoseconds (Go's `time.Time.MarshalText`/`Format(time.RFC3339Nano)`).
    case time(String)

    public static func == (lhs: GoValue, rhs: GoValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): Array(a.utf8) == Array(b.utf8)
        case (.binary(let a), .binary(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.time(let a), .time(let b)): a == b
        default: false
        }
    }

    /// sops's `ToBytes`: nil for null (the walk skips it), and for uint64 (sops fails on it).
    public var macBytes: [UInt8]? {
        switch self {
        case .string(let text): Array(text.utf8)
        case .binary(let bytes): bytes
        case .int(let value): Array(String(value).utf8)
        case .uint: nil
        case .float(let value): Array(LeafBytes.goFloat(value).utf8)
        case .bool(let value): Array((value ? "True" : "False").utf8)
        case .null: nil
        case .time(let text): Array(text.utf8)
        }
    }

    /// The value's sops type when it is encrypted (`stores.go`'s cipher: str/int/float/bool/time).
    var sopsType: EncryptedValue.ValueType {
        switch self {
        case .string, .binary, .null, .uint: .str
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .time: .time
        }
    }

    /// A Go string of these bytes: `.string` when they are valid UTF-8 (as Go's
    /// `utf8.ValidString` decides: no surrogates, no overlong forms), else `.binary`.
    public static func goString(_ bytes: [UInt8]) -> GoValue {
        String(validating: bytes, as: UTF8.self).map(GoValue.string) ?? .binary(bytes)
    }

    /// A plain (unquoted, untagged) scalar as go-yaml v3's `resolve("", text)` types it.
    public static func resolvePlain(_ text: String) -> GoValue {
        resolvePlain(text, timestamps: true)
    }

    /// Why go-yaml v3 refuses a tagged scalar: its `failf` text (`resolve.go`, `decode.go`).
    struct ResolveFailure: Error, Equatable {
        var message: String
        /// Not go-yaml's refusal but fluxci's (a value it cannot hold): refused wherever it is.
        var unsupported = false
    }

    /// A scalar as go-yaml v3 decodes it into `interface{}` (what sops's store calls for every
    /// value and key, `node.Decode(&result)`), from its tag as libyaml reports it (nil when
    /// untagged; `!!int` comes as `tag:yaml.org,2002:int`) and its style:
    /// - `decode.go` `indicatedString`: `!!str`, or a quoted or block scalar without a tag (or
    ///   with `!`), is the string;
    /// - untagged (or `!`) plain text is `resolve("", text)`;
    /// - `!!binary` is its base64 decoded (`base64.StdEncoding`, which skips CR and LF);
    /// - `!!bool`, `!!int`, `!!float`, `!!null`, `!!timestamp` resolve the text as a plain
    ///   scalar would (timestamps only under `!!timestamp`), and the result must carry that tag,
    ///   except that an integer under `!!float` becomes a float; otherwise go-yaml fails with
    ///   "cannot decode !!str `x` as a !!int" (`resolve.go` `resolve`);
    /// - any other tag (`!!merge`, `!!map` or `!!seq` on a scalar, `!local`, `!e!x`, verbatim
    ///   tags) is not resolvable: the text is the string.
    static func resolve(tag: String?, text: String, plain: Bool) throws(ResolveFailure) -> GoValue {
        let short = tag.map(shortTag)
        if short == "!!str" { return .string(text) }
        if short == nil || short == "!" { return plain ? resolvePlain(text) : .string(text) }
        switch short {
        case "!!binary":
            // Go's decoder ignores CR and LF inside base64; anything else outside the alphabet,
            // or missing padding, is an error.
            let compact = text.utf8.filter { $0 != 0x0D && $0 != 0x0A }
            guard let data = Data(base64Encoded: Data(compact)) else { throw ResolveFailure(message: "!!binary value contains invalid base64 data") }
            // go-yaml gives Go a string of these bytes, whatever they are.
            return goString(Array(data))
        case "!!bool", "!!int", "!!float", "!!null", "!!timestamp":
            let value = resolvePlain(text, timestamps: short == "!!timestamp")
            let resolved: String = switch value {
            case .string, .binary: "!!str"
            case .int, .uint: "!!int"
            case .float: "!!float"
            case .bool: "!!bool"
            case .null: "!!null"
            case .time: "!!timestamp"
            }
            if resolved == short { return value }
            if short == "!!float" {
                if case .int(let number) = value { return .float(Double(number)) }
                if case .uint(let number) = value { return .float(Double(number)) }
            }
            throw ResolveFailure(message: "cannot decode \(resolved) `\(text)` as a \(short!)")
        default:
            return .string(text)
        }
    }

    /// go-yaml v3 `shortTag`: `tag:yaml.org,2002:x` is `!!x`; any other tag stays as it is.
    static func shortTag(_ tag: String) -> String {
        let prefix = "tag:yaml.org,2002:"
        return tag.hasPrefix(prefix) ? "!!" + tag.dropFirst(prefix.count) : tag
    }

    /// The type name Go's `%T` prints for the value go-yaml decodes a key into, when it is not a
    /// string (sops: "Tree contains a non-string key (type int)").
    var goTypeName: String? {
        switch self {
        case .string, .binary: nil
        case .int: "int"
        case .uint: "uint64"
        case .float: "float64"
        case .bool: "bool"
        case .null: "<nil>"
        case .time: "time.Time"
        }
    }

    static func resolvePlain(_ text: String, timestamps: Bool) -> GoValue {
        let bytes = Array(text.utf8)
        guard let first = bytes.first else { return .null }
        switch text {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case "~", "null", "Null", "NULL": return .null
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        default: break
        }
        switch first {
        case UInt8(ascii: "."):
            if let value = GoNumbers.parseFloat(text) { return .float(value) }
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"):
            if timestamps, let time = GoTime.parseYAMLTimestamp(text) { return .time(time) }
            let plain = text.replacingOccurrences(of: "_", with: "")
            switch GoNumbers.parseInt(plain) {
            case .some(.success(let value)): return .int(value)
            case .some(.failure): break
            case .none: break
            }
            if let value = GoNumbers.parseUint(plain) { return .uint(value) }
            if plain.wholeMatch(of: yamlStyleFloat) != nil, let value = GoNumbers.parseFloat(plain) { return .float(value) }
            if plain.hasPrefix("0b"), let value = Int64(plain.dropFirst(2), radix: 2) { return .int(value) }
            if plain.hasPrefix("0b"), let value = UInt64(plain.dropFirst(2), radix: 2) { return .uint(value) }
            if plain.hasPrefix("-0b"), let value = Int64("-" + plain.dropFirst(3), radix: 2) { return .int(value) }
            if plain.hasPrefix("0o"), let value = Int64(plain.dropFirst(2), radix: 8) { return .int(value) }
            if plain.hasPrefix("0o"), let value = UInt64(plain.dropFirst(2), radix: 8) { return .uint(value) }
            if plain.hasPrefix("-0o"), let value = Int64("-" + plain.dropFirst(3), radix: 8) { return .int(value) }
        default: break
        }
        return .string(text)
    }

    nonisolated(unsafe) static let yamlStyleFloat = /[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?/

    /// Whether go-yaml v3's encoder must quote this string (`encode.go` `stringv`): it would
    /// resolve to another type, or YAML 1.1 readers would take it for a bool or a base-60 number.
    static func needsQuotes(_ text: String) -> Bool {
        if case .string = resolvePlain(text) {} else { return true }
        // `<<` resolves to a string in `resolve` (its first byte is no hint), so go-yaml asks
        // for it plain; see `YAMLScalarWriter.render` for the `!!merge` it then carries.
        return isOldBool(text) || isBase60Float(text)
    }

    static func isOldBool(_ text: String) -> Bool {
        ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"].contains(text)
    }

    nonisolated(unsafe) static let base60Float = /[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?/

    static func isBase60Float(_ text: String) -> Bool {
        guard let first = text.utf8.first else { return false }
        guard first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        guard text.contains(":") else { return false }
        return text.wholeMatch(of: base60Float) != nil
    }
}

/// Go's `strconv` number parsing, as go-yaml v3 calls it (`ParseInt(s, 0, 64)`, `ParseUint`,
/// `ParseFloat(s, 64)`): base prefixes 0x/0o/0b and a leading 0 for octal; underscores only
/// between digits after a base prefix (go-yaml strips them before, so they never reach here).
enum GoNumbers {
    /// nil: not an integer; failure: out of range.
    static func parseInt(_ text: String) -> Result<Int64, RangeError>? {
        var body = Substring(text)
        var negative = false
        if body.hasPrefix("-") { negative = true; body = body.dropFirst() } else if body.hasPrefix("+") { body = body.dropFirst() }
        guard let magnitude = parseUnsignedBody(body) else { return nil }
        switch magnitude {
        case .failure: return .failure(RangeError())
        case .success(let value):
            if negative {
                if value <= UInt64(Int64.max) + 1 { return .success(value == UInt64(Int64.max) + 1 ? Int64.min : -Int64(value)) }
                return .failure(RangeError())
            }
            return value <= UInt64(Int64.max) ? .success(Int64(value)) : .failure(RangeError())
        }
    }

    struct RangeError: Error {}

    static func parseUint(_ text: String) -> UInt64? {
        guard case .some(.success(let value)) = parseUnsignedBody(Substring(text)) else { return nil }
        return value
    }

    /// Base 0 as Go reads it: `0x`, `0o`, `0b` prefixes, `0` + digits is octal.
    private static func parseUnsignedBody(_ body: Substring) -> Result<UInt64, RangeError>? {
        guard !body.isEmpty else { return nil }
        var digits = body
        var radix = 10
        let lower = body.lowercased()
        if lower.hasPrefix("0x") { radix = 16; digits = body.dropFirst(2) }
        else if lower.hasPrefix("0o") { radix = 8; digits = body.dropFirst(2) }
        else if lower.hasPrefix("0b") { radix = 2; digits = body.dropFirst(2) }
        else if body.hasPrefix("0") && body.count > 1 { radix = 8; digits = body.dropFirst(1) }
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        var overflow = false
        for character in digits {
            guard let digit = character.hexDigitValue, digit < radix, character.isASCII else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: UInt64(radix))
            let (sum, o2) = times.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { overflow = true }
            value = sum
        }
        return overflow ? .failure(RangeError()) : .success(value)
    }

    /// `strconv.ParseFloat(s, 64)` for the decimal forms go-yaml lets through (its callers check
    /// the YAML float pattern first, or the text starts with '.'); out of range is an error in Go.
    static func parseFloat(_ text: String) -> Double? {
        let lower = text.lowercased()
        let unsigned = lower.hasPrefix("+") || lower.hasPrefix("-") ? String(lower.dropFirst()) : lower
        switch unsigned {
        case "inf", "infinity": return lower.hasPrefix("-") ? -.infinity : .infinity
        case "nan": return .nan
        default: break
        }
        guard text.wholeMatch(of: GoValue.yamlStyleFloat) != nil, let value = Double(text) else { return nil }
        if value.isInfinite { return nil }
        return value
    }
}

/// go-yaml v3's timestamp forms (`resolve.go` `allowedTimestampFormats`, read with Go's
/// `time.Parse`), written back as `time.RFC3339Nano`.
enum GoTime {
    nonisolated(unsafe) static let pattern =
        /(?<year>[0-9]{4})-(?<month>[0-9]{1,2})-(?<day>[0-9]{1,2})(?:(?<sep>[Tt]| )(?<hour>[0-9]{1,2}):(?<minute>[0-9]{1,2}):(?<second>[0-9]{1,2})(?:\.(?<fraction>[0-9]+))?(?<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?/

    static func parseYAMLTimestamp(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count > 4, bytes.prefix(4).allSatisfy({ (48...57).contains($0) }), bytes[4] == UInt8(ascii: "-") else { return nil }
        guard let match = text.wholeMatch(of: pattern) else { return nil }
        // The space-separated form has no zone in go-yaml's layouts; the T form needs one.
        if let separator = match.sep {
            if separator == " " && match.zone != nil { return nil }
            if separator != " " && match.zone == nil { return nil }
        }
        guard let year = Int(match.year), let month = Int(match.month), let day = Int(match.day) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var result = String(format: "%04d-%02d-%02dT", year, month, day)
        guard let hourText = match.hour else { return result + "00:00:00Z" }
        guard let hour = Int(hourText), let minute = Int(match.minute!), let second = Int(match.second!), hour < 24, minute < 60, second < 60 else { return nil }
        result += String(format: "%02d:%02d:%02d", hour, minute, second)
        if let fraction = match.fraction {
            var digits = String(fraction.prefix(9))
            while digits.hasSuffix("0") { digits.removeLast() }
            if !digits.isEmpty { result += "." + digits }
        }
        switch match.zone.map(String.init) {
        case nil, "Z": result += "Z"
        case .some(let zone):
            let parts = zone.dropFirst().split(separator: ":")
            guard let hours = Int(parts[0]), let minutes = Int(parts[1]), hours < 24, minutes < 60 else { return nil }
            result += (hours == 0 && minutes == 0) ? "Z" : zone
        }
        return result
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Go's `time.Parse(time.RFC3339, text)` then `Format(time.RFC3339Nano)`: how sops prints a
    /// decrypted `type:time` value.
    static func rfc3339(_ text: String) -> String? {
        guard text.utf8.count >= 20, text.dropFirst(10).first == "T" else { return nil }
        return parseYAMLTimestamp(text)
    }
}
