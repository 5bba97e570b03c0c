import Foundation

/// A CustomResourceDefinition's validation rule (`x-kubernetes-validations[].rule`), evaluated as
/// kube-apiserver's CEL validation evaluates it on create and apply (k8s.io/apiextensions-apiserver
/// `pkg/apiserver/schema/cel`), for the part of the Common Expression Language that CRDs' rules
/// are written in: literals, `self` and its fields, `has()`, `!`, `&&`, `||` (commutative, as
/// CEL's: `true || <error>` is true), comparisons, `in`, `? :`, `+`/`-` on numbers and
/// strings, `size()`, and the string functions `startsWith`, `endsWith`, `contains`.
///
/// Anything else — a macro (`all`, `exists`, `map`), `matches`, the Kubernetes libraries
/// (quantities, URLs), a transition rule (`oldSelf`), a type the rule does not expect — makes the
/// rule unknown (`nil`), never a rejection: fluxci reports only what the API server surely
/// refuses. Strings compare by their bytes, as Go does.
public struct CELRule: Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// Whether `value` (the schema node's value, `self`) passes; nil when the rule cannot be
    /// evaluated here (see the type's documentation) or its evaluation is an error.
    public func passes(_ value: JSONValue) -> Bool? {
        guard !text.contains("oldSelf") else { return nil }
        var parser = Parser(tokens: (try? Lexer.tokens(text)) ?? [])
        guard !parser.tokens.isEmpty, let expression = try? parser.expression(), parser.atEnd else { return nil }
        guard case .bool(let result) = Self.evaluate(expression, self: Value(value)) else { return nil }
        return result
    }

    // MARK: Values

    indirect enum Value: Equatable {
        case null, bool(Bool), int(Int64), double(Double), string(String), list([Value]), map([(String, Value)])
        /// An evaluation error (no such key, a type mismatch, an unsupported function).
        case error

        init(_ json: JSONValue) {
            switch json {
            case .null: self = .null
            case .bool(let value): self = .bool(value)
            case .integer(let value): self = .int(value)
            case .number(let value): self = .double(value)
            case .string(let value): self = .string(value)
            case .array(let items): self = .list(items.map(Value.init))
            case .object(let pairs): self = .map(pairs.map { ($0.key, Value($0.value)) })
            }
        }

        static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null), (.error, .error): true
            case (.bool(let x), .bool(let y)): x == y
            case (.int(let x), .int(let y)): x == y
            case (.double(let x), .double(let y)): x == y
            case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
            case (.string(let x), .string(let y)): Array(x.utf8) == Array(y.utf8)
            case (.list(let x), .list(let y)): x == y
            case (.map(let x), .map(let y)): x.count == y.count && x.allSatisfy { pair in y.contains { Array($0.0.utf8) == Array(pair.0.utf8) && $0.1 == pair.1 } }
            default: false
            }
        }

        func field(_ name: String) -> Value {
            guard case .map(let pairs) = self, let found = pairs.first(where: { Array($0.0.utf8) == Array(name.utf8) }) else { return .error }
            return found.1
        }
    }

    // MARK: Syntax

    indirect enum Expression {
        case literal(Value), identifier(String), select(Expression, String), has(Expression, String)
        case call(Expression?, String, [Expression]), index(Expression, Expression), list([Expression])
        case unary(String, Expression), binary(String, Expression, Expression), conditional(Expression, Expression, Expression)
    }

    enum Token: Equatable { case identifier(String), string(String), int(Int64), double(Double), symbol(String) }

    struct Unsupported: Error {}

    enum Lexer {
        static func tokens(_ text: String) throws -> [Token] {
            let characters = Array(text.unicodeScalars)
            var tokens: [Token] = []
            var index = 0
            while index < characters.count {
                let character = characters[index]
                if character.properties.isWhitespace { index += 1; continue }
                if character == "'" || character == "\"" {
                    var value = ""
                    index += 1
                    while index < characters.count, characters[index] != character {
                        if characters[index] == "\\" {
                            index += 1
                            guard index < characters.count else { throw Unsupported() }
                            switch characters[index] {
                            case "n": value += "\n"
                            case "t": value += "\t"
                            case "\\", "'", "\"": value.unicodeScalars.append(characters[index])
                            default: throw Unsupported()
                            }
                        } else {
                            value.unicodeScalars.append(characters[index])
                        }
                        index += 1
                    }
                    guard index < characters.count else { throw Unsupported() }
                    index += 1
                    tokens.append(.string(value))
                    continue
                }
                if character.properties.numericType != nil, ("0"..."9").contains(character) {
                    var digits = ""
                    while index < characters.count, ("0"..."9").contains(characters[index]) || characters[index] == "." {
                        digits.unicodeScalars.append(characters[index])
                        index += 1
                    }
                    if digits.contains(".") {
                        guard let value = Double(digits) else { throw Unsupported() }
                        tokens.append(.double(value))
                    } else {
                        guard let value = Int64(digits) else { throw Unsupported() }
                        tokens.append(.int(value))
                    }
                    continue
                }
                if character == "_" || character.properties.isAlphabetic {
                    var name = ""
                    while index < characters.count, characters[index] == "_" || characters[index].properties.isAlphabetic || ("0"..."9").contains(characters[index]) {
                        name.unicodeScalars.append(characters[index])
                        index += 1
                    }
                    tokens.append(.identifier(name))
                    continue
                }
                let two = index + 1 < characters.count ? String(characters[index]) + String(characters[index + 1]) : ""
                if ["&&", "||", "==", "!=", "<=", ">="].contains(two) {
                    tokens.append(.symbol(two))
                    index += 2
                    continue
                }
                guard "!<>()[].,?:+-".unicodeScalars.contains(character) else { throw Unsupported() }
                tokens.append(.symbol(String(character)))
                index += 1
            }
            return tokens
        }
    }

    struct Parser {
        var tokens: [Token]
        var position = 0
        var atEnd: Bool { position == tokens.count }

        mutating func take(_ symbol: String) -> Bool {
            guard position < tokens.count, tokens[position] == .symbol(symbol) else { return false }
            position += 1
            return true
        }

        mutating func expect(_ symbol: String) throws { if !take(symbol) { throw Unsupported() } }

        mutating func expression() throws -> Expression {
            let condition = try binary(0)
            guard take("?") else { return condition }
            let then = try expression()
            try expect(":")
            return .conditional(condition, then, try expression())
        }

        static let levels: [[String]] = [["||"], ["&&"], ["==", "!=", "<", "<=", ">", ">=", "in"], ["+", "-"]]

        mutating func binary(_ level: Int) throws -> Expression {
            guard level < Self.levels.count else { return try unary() }
            var left = try binary(level + 1)
            while position < tokens.count {
                let operation: String
                switch tokens[position] {
                case .symbol(let symbol) where Self.levels[level].contains(symbol): operation = symbol
                case .identifier("in") where level == 2: operation = "in"
                default: return left
                }
                position += 1
                left = .binary(operation, left, try binary(level + 1))
            }
            return left
        }

        mutating func unary() throws -> Expression {
            if take("!") { return .unary("!", try unary()) }
            if take("-") { return .unary("-", try unary()) }
            var value = try primary()
            while true {
                if take(".") {
                    guard position < tokens.count, case .identifier(let name) = tokens[position] else { throw Unsupported() }
                    position += 1
                    value = take("(") ? .call(value, name, try arguments()) : .select(value, name)
                } else if take("[") {
                    value = .index(value, try expression())
                    try expect("]")
                } else {
                    return value
                }
            }
        }

        mutating func arguments() throws -> [Expression] {
            var list: [Expression] = []
            if take(")") { return list }
            repeat { list.append(try expression()) } while take(",")
            try expect(")")
            return list
        }

        mutating func primary() throws -> Expression {
            guard position < tokens.count else { throw Unsupported() }
            let token = tokens[position]
            position += 1
            switch token {
            case .string(let value): return .literal(.string(value))
            case .int(let value): return .literal(.int(value))
            case .double(let value): return .literal(.double(value))
            case .identifier("true"): return .literal(.bool(true))
            case .identifier("false"): return .literal(.bool(false))
            case .identifier("null"): return .literal(.null)
            case .identifier("has"):
                try expect("(")
                guard case .select(let target, let field) = try expression() else { throw Unsupported() }
                try expect(")")
                return .has(target, field)
            case .identifier(let name):
                return take("(") ? .call(nil, name, try arguments()) : .identifier(name)
            case .symbol("("):
                let inner = try expression()
                try expect(")")
                return inner
            case .symbol("["):
                var items: [Expression] = []
                if !take("]") {
                    repeat { items.append(try expression()) } while take(",")
                    try expect("]")
                }
                return .list(items)
            default: throw Unsupported()
            }
        }
    }

    // MARK: Evaluation

    static func evaluate(_ expression: Expression, self root: Value) -> Value {
        var scope: [String: Value] = ["self": root]
        func run(_ expression: Expression) -> Value {
            switch expression {
            case .literal(let value): return value
            case .identifier(let name): return scope[name] ?? .error
            case .call(let target?, let name, let arguments) where macros.contains(name):
                guard case .identifier(let variable) = arguments.first, arguments.count >= 2, arguments.count <= (name == "map" ? 3 : 2) else { return .error }
                // A macro ranges over a list's items or a map's keys (cel-go `parser/macro.go`).
                let elements: [Value]
                switch run(target) {
                case .list(let items): elements = items
                case .map(let pairs): elements = pairs.map { .string($0.0) }
                default: return .error
                }
                let outer = scope[variable]
                defer { scope[variable] = outer }
                func each(_ body: Expression, _ element: Value) -> Value {
                    scope[variable] = element
                    return run(body)
                }
                return macro(name, elements, filters: arguments.count == 3, predicate: { each(arguments[1], $0) }, transform: { each(arguments[arguments.count - 1], $0) })

            case .select(let target, let name): return run(target).field(name)
            case .has(let target, let name):
                guard case .map(let pairs) = run(target) else { return .error }
                return .bool(pairs.contains { Array($0.0.utf8) == Array(name.utf8) })
            case .list(let items): return .list(items.map(run))
            case .index(let target, let key):
                switch (run(target), run(key)) {
                case (.list(let items), .int(let at)): return at >= 0 && at < items.count ? items[Int(at)] : .error
                case (let map, .string(let name)): return map.field(name)
                default: return .error
                }
            case .conditional(let condition, let then, let otherwise):
                guard case .bool(let chosen) = run(condition) else { return .error }
                return run(chosen ? then : otherwise)
            case .unary("!", let operand):
                guard case .bool(let value) = run(operand) else { return .error }
                return .bool(!value)
            case .unary(_, let operand):
                switch run(operand) {
                case .int(let value): return .int(-value)
                case .double(let value): return .double(-value)
                default: return .error
                }
            case .binary("||", let left, let right), .binary("&&", let left, let right):
                // CEL's commutative logic: a decisive side wins over an error on the other.
                let decisive = { if case .binary("||", _, _) = expression { true } else { false } }()
                let (a, b) = (run(left), run(right))
                if a == .bool(decisive) || b == .bool(decisive) { return .bool(decisive) }
                if case .bool = a, case .bool = b { return .bool(!decisive) }
                return .error
            case .binary(let operation, let left, let right):
                return binary(operation, run(left), run(right))
            case .call(let target, let name, let arguments):
                let values = arguments.map(run)
                let receiver = target.map(run)
                if name == "size" {
                    if receiver == nil, values.count == 1 { return size(values[0]) }
                    if let receiver, values.isEmpty { return size(receiver) }
                    return .error
                }
                guard case .string(let text)? = receiver, values.count == 1, case .string(let argument) = values[0] else { return .error }
                let (bytes, part) = (Array(text.utf8), Array(argument.utf8))
                switch name {
                case "startsWith": return .bool(bytes.starts(with: part))
                case "endsWith": return .bool(bytes.reversed().starts(with: part.reversed()))
                case "contains": return .bool(contains(bytes, part))
                case "matches": return matches(bytes, pattern: argument)
                default: return .error
                }
            }
        }
        return run(expression)
    }

    /// The comprehension macros CRD rules use (cel-go `parser/macro.go`): `all`, `exists`,
    /// `exists_one`, `map` (two and three arguments) and `filter`.
    static let macros: Set<String> = ["all", "exists", "exists_one", "map", "filter"]

    /// A macro over `elements`, with CEL's error rules: `all` is false once a predicate is false
    /// and `exists` true once one is true, whatever errors the others gave (the comprehension's
    /// logical `&&`/`||`); otherwise an error anywhere is the result.
    static func macro(_ name: String, _ elements: [Value], filters: Bool = false, predicate: (Value) -> Value, transform: (Value) -> Value) -> Value {
        switch name {
        case "all", "exists":
            let decisive = name == "exists"
            var failed = false
            for element in elements {
                switch predicate(element) {
                case .bool(let result) where result == decisive: return .bool(decisive)
                case .bool: continue
                default: failed = true
                }
            }
            return failed ? .error : .bool(!decisive)
        case "exists_one":
            var count = 0
            for element in elements {
                guard case .bool(let result) = predicate(element) else { return .error }
                if result { count += 1 }
            }
            return .bool(count == 1)
        case "filter":
            var kept: [Value] = []
            for element in elements {
                guard case .bool(let result) = predicate(element) else { return .error }
                if result { kept.append(element) }
            }
            return .list(kept)
        default:  // map: `map(x, t)`, or `map(x, p, t)` for the items whose p is true
            var mapped: [Value] = []
            for element in elements {
                if filters {
                    guard case .bool(let keep) = predicate(element) else { return .error }
                    if !keep { continue }
                }
                let value = transform(element)
                if value == .error { return .error }
                mapped.append(value)
            }
            return .list(mapped)
        }
    }

    /// CEL's `matches`: whether the RE2 `pattern` matches somewhere in `text` (unanchored, as
    /// Go's `regexp.MatchString`). Evaluated with ICU (`NSRegularExpression`) only where it and
    /// RE2 agree: a pattern and a text of printable ASCII (plus tab) — where `\w`, `\d`, `\s`
    /// and `$` (no line terminator in the text) mean the same — and a pattern without the
    /// constructs RE2 lacks (lookaround, backreferences, possessive quantifiers), which the API
    /// server refuses in the CRD itself. Anything else is unknown (an error), never a verdict.
    static func matches(_ text: [UInt8], pattern: String) -> Value {
        let printable = { (byte: UInt8) in byte == 0x09 || (byte >= 0x20 && byte < 0x7F) }
        guard text.allSatisfy(printable), pattern.utf8.allSatisfy(printable) else { return .error }
        for construct in ["(?=", "(?!", "(?<", "\\p", "\\P", "*+", "++", "?+", "}+"] where pattern.contains(construct) { return .error }
        if pattern.range(of: #"\\[1-9]"#, options: .regularExpression) != nil { return .error }
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return .error }
        let string = String(decoding: text, as: UTF8.self)
        return .bool(expression.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil)
    }

    /// Whether `whole` holds `part`, byte for byte.
    static func contains(_ whole: [UInt8], _ part: [UInt8]) -> Bool {
        guard !part.isEmpty else { return true }
        guard whole.count >= part.count else { return false }
        return (0...(whole.count - part.count)).contains { whole[$0..<($0 + part.count)].elementsEqual(part) }
    }

    static func size(_ value: Value) -> Value {
        switch value {
        case .string(let text): .int(Int64(text.unicodeScalars.count))
        case .list(let items): .int(Int64(items.count))
        case .map(let pairs): .int(Int64(pairs.count))
        default: .error
        }
    }

    static func binary(_ operation: String, _ a: Value, _ b: Value) -> Value {
        if a == .error || b == .error { return .error }
        switch operation {
        case "==", "!=":
            // Values of two types never compare in a type-checked rule: not judged.
            guard sameKind(a, b) else { return .error }
            return .bool((a == b) == (operation == "=="))
        case "in":
            switch b {
            case .list(let items): return .bool(items.contains(a))
            case .map: if case .string(let key) = a { return .bool(b.field(key) != .error) } else { return .error }
            default: return .error
            }
        case "+":
            switch (a, b) {
            case (.int(let x), .int(let y)): return x.addingReportingOverflow(y).overflow ? .error : .int(x + y)
            case (.double(let x), .double(let y)): return .double(x + y)
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            default: return .error
            }
        case "-":
            switch (a, b) {
            case (.int(let x), .int(let y)): return x.subtractingReportingOverflow(y).overflow ? .error : .int(x - y)
            case (.double(let x), .double(let y)): return .double(x - y)
            default: return .error
            }
        default:
            let order: Int
            switch (a, b) {
            case (.int(let x), .int(let y)): order = x < y ? -1 : x > y ? 1 : 0
            case (.double(let x), .double(let y)): order = x < y ? -1 : x > y ? 1 : 0
            case (.int(let x), .double(let y)): order = Double(x) < y ? -1 : Double(x) > y ? 1 : 0
            case (.double(let x), .int(let y)): order = x < Double(y) ? -1 : x > Double(y) ? 1 : 0
            case (.string(let x), .string(let y)): order = Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)) ? -1 : x.utf8.elementsEqual(y.utf8) ? 0 : 1
            case (.bool(let x), .bool(let y)): order = x == y ? 0 : (!x ? -1 : 1)
            default: return .error
            }
            switch operation {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        }
    }

    static func sameKind(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.null, _), (_, .null): true
        case (.bool, .bool), (.string, .string), (.list, .list), (.map, .map): true
        case (.int, .int), (.double, .double), (.int, .double), (.double, .int): true
        default: false
        }
    }
}
