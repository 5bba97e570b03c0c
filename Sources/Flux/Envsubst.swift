import Foundation

/// Flux's `${…}` substitution as fluxcd/pkg envsubst does it (a fork of drone/envsubst: its
/// `parse` package's scanner and grammar, `template.go`'s evaluation, `funcs.go`'s functions),
/// followed form by form:
///
/// | form | result |
/// | --- | --- |
/// | `${v}` | the value |
/// | `${v:=w}` `${v=w}` `${v:-w}` `${v:?w}` `${v:+w}` | the value, or `w` when the value is empty (every one of them is a default) |
/// | `${#v}` | the value's length in UTF-8 bytes |
/// | `${v:pos}` `${v:pos:len}` | a byte substring; a negative `len` counts from the end; a `pos`/`len` that is no integer gives the value unchanged |
/// | `${v/p/r}` `${v//p/r}` | the first / every `p` replaced by `r` (no `r`: removed) |
/// | `${v/#p/r}` `${v/%p/r}` | a prefix / suffix `p` replaced (both arguments required, else the value unchanged) |
/// | `${v#p}` `${v##p}` `${v%p}` `${v%%p}` | the shortest / longest prefix / suffix matching the glob `p` removed |
/// | `${v^}` `${v^^}` `${v,}` `${v,,}` | first letter / all upper, lower |
///
/// `$$` is a literal `$` in text and in a replacement's arguments (where `\/` and `\\` escape
/// too), but not in a default; an argument is one piece: text, or one nested `${…}`. `${v-w}` is
/// not a form (missing closing brace). Errors carry envsubst's words ("bad substitution",
/// "missing closing brace", "unable to parse variable name", "unable to parse substitution
/// within function", `variable not set (strict mode): "v"`).
struct Envsubst {
    indirect enum Piece {
        case text(String)
        /// `name` is the operator (`""` for `${v}`, `":="`, `"#"`, `"//"`…).
        case function(name: String, parameter: String, arguments: [Piece])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Where the innermost `${` the parse failed in starts (an index into the text's
        /// Unicode scalars); nil for a failure of the evaluation (strict mode).
        var offset: Int? = nil
    }

    /// The expression a parse failure is about, as written: from its `${` to the first `}` (or
    /// the end of its line), at most 120 scalars, so that the problem can quote it and find its
    /// line in the repository's file.
    static func expression(in text: String, at offset: Int) -> String {
        var expression = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.dropFirst(offset).prefix(120) {
            if scalar == "\n" || scalar == "\r" { break }
            expression.append(scalar)
            if scalar == "}" { break }
        }
        return String(expression)
    }

    let pieces: [Piece]

    static func parse(_ text: String) throws(Failure) -> Envsubst {
        var parser = Parser(Array(text.unicodeScalars))
        return Envsubst(pieces: try parser.top())
    }

    /// The text with every `${…}` evaluated. `unresolved` gets the names read while unset.
    func evaluate(_ variables: [String: String], strict: Bool, unresolved: inout Set<String>) throws(Failure) -> String {
        var output = ""
        for piece in pieces { output += try Self.evaluate(piece, variables, strict: strict, unresolved: &unresolved) }
        return output
    }

    static let defaultOperators: Set<String> = ["-", "+", "=", "?", ":-", ":+", ":=", ":?"]

    private static func evaluate(_ piece: Piece, _ variables: [String: String], strict: Bool, unresolved: inout Set<String>) throws(Failure) -> String {
        switch piece {
        case .text(let text):
            return text
        case .function(let name, let parameter, let arguments):
            var values: [String] = []
            for argument in arguments { values.append(try evaluate(argument, variables, strict: strict, unresolved: &unresolved)) }
            let value = variables[parameter]
            if value == nil, !defaultOperators.contains(name) {
                if strict { throw Failure(description: "variable not set (strict mode): \"\(parameter)\"") }
                unresolved.insert(parameter)
            }
            return apply(name, value ?? "", values)
        }
    }

    /// template.go's `lookupFunc`: an unknown operator is the default function.
    static func apply(_ name: String, _ value: String, _ arguments: [String]) -> String {
        switch name {
        case ",": return mapFirst(value) { lowered($0) }
        case ",,": return String(String.UnicodeScalarView(value.unicodeScalars.map(lowered)))
        case "^": return mapFirst(value) { uppered($0) }
        case "^^": return String(String.UnicodeScalarView(value.unicodeScalars.map(uppered)))
        case "#" where arguments.isEmpty: return String(value.utf8.count)
        case "#": return trimShortest(value, arguments[0])
        case "##": return trimLongest(value, arguments[0])
        case "%": return reversed(trimShortest(reversed(value), reversed(arguments[0])))
        case "%%": return reversed(trimLongest(reversed(value), reversed(arguments[0])))
        case ":": return substring(value, arguments)
        case "/#":
            guard arguments.count == 2, value.utf8.starts(with: arguments[0].utf8) else { return value }
            return replace(value, arguments[0], with: arguments[1], limit: 1)
        case "/%":
            guard arguments.count == 2, Array(value.utf8).reversed().starts(with: Array(arguments[0].utf8).reversed()) else { return value }
            return String(decoding: value.utf8.dropLast(arguments[0].utf8.count), as: UTF8.self) + arguments[1]
        case "/", "//":
            guard let pattern = arguments.first else { return value }
            return replace(value, pattern, with: arguments.count > 1 ? arguments[1] : "", limit: name == "/" ? 1 : nil)
        default:
            return value.isEmpty && !arguments.isEmpty ? arguments.joined() : value
        }
    }

    /// Go's simple case mapping, one scalar to one (`ß` stays `ß`), where Swift's is full.
    private static func uppered(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let mapped = scalar.properties.uppercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : scalar
    }

    private static func lowered(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let mapped = scalar.properties.lowercaseMapping.unicodeScalars
        return mapped.count == 1 ? mapped.first! : scalar
    }

    private static func mapFirst(_ value: String, _ change: (Unicode.Scalar) -> Unicode.Scalar) -> String {
        guard let first = value.unicodeScalars.first else { return value }
        var scalars = String.UnicodeScalarView([change(first)])
        scalars.append(contentsOf: value.unicodeScalars.dropFirst())
        return String(scalars)
    }

    private static func reversed(_ text: String) -> String { String(String.UnicodeScalarView(text.unicodeScalars.reversed())) }

    /// `toSubstr`, on bytes as Go slices strings.
    private static func substring(_ value: String, _ arguments: [String]) -> String {
        let bytes = Array(value.utf8)
        guard let first = arguments.first, var position = Int(first) else { return value }
        if position < 0 { position = max(0, bytes.count + position) }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        guard arguments.count > 1 else { return position < bytes.count ? text(position..<bytes.count) : "" }
        guard let length = Int(arguments[1]) else { return value }
        if length < 0 {
            let end = bytes.count + length
            return end < position ? "" : text(position..<end)
        }
        if position + length >= bytes.count { return position < bytes.count ? text(position..<bytes.count) : "" }
        return text(position..<(position + length))
    }

    /// Go's `strings.Replace`: an empty `old` matches before each scalar and at the end.
    private static func replace(_ value: String, _ old: String, with new: String, limit: Int?) -> String {
        var count = 0
        if old.isEmpty {
            var output = ""
            for scalar in value.unicodeScalars {
                if limit.map({ count < $0 }) ?? true {
                    output += new
                    count += 1
                }
                output.unicodeScalars.append(scalar)
            }
            if limit.map({ count < $0 }) ?? true { output += new }
            return output
        }
        let bytes = Array(value.utf8), pattern = Array(old.utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if limit.map({ count < $0 }) ?? true, index + pattern.count <= bytes.count, Array(bytes[index..<(index + pattern.count)]) == pattern {
                output += Array(new.utf8)
                index += pattern.count
                count += 1
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `trimShortest`: the prefixes from the longest (the whole value) down to one byte; the
    /// last that matches is removed. A malformed pattern leaves the value.
    private static func trimShortest(_ value: String, _ pattern: String) -> String {
        let bytes = Array(value.utf8)
        var shortest: Int?
        for end in stride(from: bytes.count, to: 0, by: -1) {
            guard let matched = GoPathMatch.match(pattern, String(decoding: bytes[0..<end], as: UTF8.self)) else { return value }
            if matched { shortest = end }
        }
        return shortest.map { String(decoding: bytes[$0...], as: UTF8.self) } ?? value
    }

    /// `trimLongest`: the first prefix, from the longest, that matches is removed.
    private static func trimLongest(_ value: String, _ pattern: String) -> String {
        let bytes = Array(value.utf8)
        for end in stride(from: bytes.count, to: 0, by: -1) {
            guard let matched = GoPathMatch.match(pattern, String(decoding: bytes[0..<end], as: UTF8.self)) else { return value }
            if matched { return String(decoding: bytes[end...], as: UTF8.self) }
        }
        return value
    }

    /// envsubst's `parse.Tree`, one method per grammar rule.
    struct Parser {
        let input: [Unicode.Scalar]
        var index = 0

        init(_ input: [Unicode.Scalar]) { self.input = input }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < input.count ? input[index + offset] : nil }
        var atFunction: Bool { peek() == "$" && peek(1) == "{" }

        static func isIdentifier(_ c: Unicode.Scalar) -> Bool {
            // Go's unicode.IsLetter, unicode.IsDigit (Nd) and `_`.
            switch c.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber: true
            default: c == "_"
            }
        }

        /// The text: `$$` is one `$`, `${` opens a function.
        mutating func top() throws(Failure) -> [Piece] {
            var pieces: [Piece] = []
            var text = String.UnicodeScalarView()
            while let c = peek() {
                if atFunction {
                    if !text.isEmpty { pieces.append(.text(String(text))) }
                    text = .init()
                    pieces.append(try function(from: index))
                } else if c == "$", peek(1) == "$" {
                    text.append("$")
                    index += 2
                } else {
                    text.append(c)
                    index += 1
                }
            }
            if !text.isEmpty { pieces.append(.text(String(text))) }
            return pieces
        }

        /// At `${`: a failure inside is marked with the start of the innermost `${` it is in.
        mutating func function(from start: Int) throws(Failure) -> Piece {
            index = start + 2
            do {
                return try function()
            } catch {
                var failure = error
                if failure.offset == nil { failure.offset = start }
                throw failure
            }
        }

        /// After `${`.
        mutating func function() throws(Failure) -> Piece {
            if peek() == "#" {
                index += 1
                let name = identifier()
                guard !name.isEmpty, peek() == "}" else { throw Failure(description: "bad substitution") }
                index += 1
                return .function(name: "#", parameter: name, arguments: [])
            }
            let name = identifier()
            guard !name.isEmpty else { throw Failure(description: "unable to parse variable name") }
            switch peek() {
            case ":":
                if let next = peek(1), "=-?+".unicodeScalars.contains(next) { return try defaultFunction(name) }
                return try substringFunction(name)
            case "=":
                return try defaultFunction(name)
            case ",", "^":
                var op = ""
                while op.unicodeScalars.count < 2, let c = peek(), c == "," || c == "^" {
                    op.unicodeScalars.append(c)
                    index += 1
                }
                try closingBrace()
                return .function(name: op, parameter: name, arguments: [])
            case "/":
                return try replaceFunction(name)
            case "#", "%":
                let marker = peek()!
                var op = ""
                while op.unicodeScalars.count < 2, peek() == marker {
                    op.unicodeScalars.append(marker)
                    index += 1
                }
                let argument = try parameter(escapes: false) { $0 != "}" }
                try closingBrace()
                return .function(name: op, parameter: name, arguments: [argument])
            default:
                guard peek() == "}" else { throw Failure(description: "missing closing brace") }
                index += 1
                return .function(name: "", parameter: name, arguments: [])
            }
        }

        mutating func identifier() -> String {
            var name = String.UnicodeScalarView()
            while let c = peek(), Self.isIdentifier(c) {
                name.append(c)
                index += 1
            }
            return String(name)
        }

        mutating func closingBrace() throws(Failure) {
            guard peek() == "}" else { throw Failure(description: "bad substitution") }
            index += 1
        }

        /// One argument: a nested `${…}`, or a run of accepted text (at least one scalar) that
        /// ends before a `${`. With `escapes`, `$$`, `\/` and `\\` give their second scalar.
        mutating func parameter(escapes: Bool, accept: (Unicode.Scalar) -> Bool) throws(Failure) -> Piece {
            guard peek() != nil else { throw Failure(description: "unable to parse substitution within function") }
            if atFunction { return try function(from: index) }
            var text = String.UnicodeScalarView()
            while let c = peek(), !atFunction {
                if escapes, let next = peek(1), c == "$" && next == "$" || c == "\\" && (next == "/" || next == "\\") {
                    text.append(next)
                    index += 2
                    continue
                }
                guard accept(c) else { break }
                text.append(c)
                index += 1
            }
            guard !text.isEmpty else { throw Failure(description: "unable to parse substitution within function") }
            return .text(String(text))
        }

        /// `${v:=w}` and the other defaults: pieces up to `}`.
        mutating func defaultFunction(_ name: String) throws(Failure) -> Piece {
            var op = ""
            if peek() == "=" {
                op = "="
                index += 1
            } else {
                op = String(String.UnicodeScalarView([peek()!, peek(1)!]))
                index += 2
            }
            var arguments: [Piece] = []
            while peek() != "}" {
                arguments.append(try parameter(escapes: false) { $0 != "}" })
            }
            index += 1
            return .function(name: op, parameter: name, arguments: arguments)
        }

        /// `${v:pos}`, `${v:pos:len}`.
        mutating func substringFunction(_ name: String) throws(Failure) -> Piece {
            index += 1  // the one `:`
            var arguments = [try parameter(escapes: false) { $0 != ":" && $0 != "}" }]
            switch peek() {
            case "}":
                index += 1
                return .function(name: ":", parameter: name, arguments: arguments)
            case ":":
                while peek() == ":" { index += 1 }
            default:
                throw Failure(description: "bad substitution")
            }
            arguments.append(try parameter(escapes: false) { $0 != "}" })
            try closingBrace()
            return .function(name: ":", parameter: name, arguments: arguments)
        }

        /// `${v/p/r}`, `${v//p/r}`, `${v/#p/r}`, `${v/%p/r}`.
        mutating func replaceFunction(_ name: String) throws(Failure) -> Piece {
            var op = "/"
            index += 1
            if let c = peek(), c == "/" || c == "#" || c == "%" {
                op.unicodeScalars.append(c)
                index += 1
            }
            var arguments: [Piece] = []
            if peek() == "/" {
                arguments.append(.text(""))
            } else {
                arguments.append(try parameter(escapes: true) { $0 != "/" })
            }
            guard peek() == "/" else { throw Failure(description: "bad substitution") }
            while peek() == "/" { index += 1 }
            if peek() == "}" {
                index += 1
                return .function(name: op, parameter: name, arguments: arguments)
            }
            arguments.append(try parameter(escapes: true) { $0 != "}" })
            try closingBrace()
            return .function(name: op, parameter: name, arguments: arguments)
        }
    }
}
