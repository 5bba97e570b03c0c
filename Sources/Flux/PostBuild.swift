import Foundation
import Kube

/// `spec.postBuild` as kustomize-controller applies it to a build's output (fluxcd/pkg kustomize
/// `SubstituteVariables`, `varSubstitution`; fluxcd/pkg envsubst):
///
/// - the variables are the data of every `substituteFrom` ConfigMap and Secret (in order, later
///   ones winning; a missing one is an error unless `optional`), then `substitute` over them;
///   newlines are removed from every value;
/// - an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is left
///   alone; nothing is substituted when there is no variable at all;
/// - a variable name must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`, else the build fails;
/// - the substitution runs on each object's YAML text: `${var}`, `${var:=default}` (and `:-`,
///   `=`, `-`), `$$` is a literal `$` (so `$${var}` gives `${var}`), and the result is read as
///   YAML again (so `replicas: ${N}` becomes a number).
enum PostBuild {
    static let disabledKey = "kustomize.toolkit.fluxcd.io/substitute"

    static func isDisabled(_ object: JSONValue) -> Bool {
        object["metadata", "labels", disabledKey]?.string == "disabled" || object["metadata", "annotations", disabledKey]?.string == "disabled"
    }

    static func validName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic && first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Substitutes `text` (one object's YAML). `unresolved` collects names used without a value
    /// and without a default.
    static func substitute(_ text: String, variables: [String: String], unresolved: inout Set<String>) throws(Failure) -> String {
        var scanner = Envsubst(Array(text.unicodeScalars), variables: variables)
        let output = try scanner.text()
        unresolved.formUnion(scanner.unresolved)
        return output
    }
}

/// fluxcd/pkg envsubst (a fork of drone/envsubst), for the forms Flux documents. A `${` whose
/// function fluxci does not implement is a failure that says so, never a silent pass.
struct Envsubst {
    let input: [Unicode.Scalar]
    var index = 0
    let variables: [String: String]
    var unresolved: Set<String> = []

    init(_ input: [Unicode.Scalar], variables: [String: String]) {
        self.input = input
        self.variables = variables
    }

    func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < input.count ? input[index + offset] : nil }

    /// Text with substitutions, up to the end.
    mutating func text() throws(PostBuild.Failure) -> String {
        var output = String.UnicodeScalarView()
        while let c = peek() {
            if c == "$", peek(1) == "$" {
                // The scanner drops the first `$` of `$$` and reads on as text.
                output.append("$")
                index += 2
                continue
            }
            if c == "$", peek(1) == "{" {
                index += 2
                output.append(contentsOf: try function().unicodeScalars)
                continue
            }
            output.append(c)
            index += 1
        }
        return String(output)
    }

    /// After `${`: a name, then `}` or a default (`:=`, `:-`, `=`, `-`) or a case function.
    mutating func function() throws(PostBuild.Failure) -> String {
        if peek() == "#" {
            index += 1
            let name = identifier()
            guard peek() == "}" else { throw .init(description: "bad substitution in ${#\(name)") }
            index += 1
            return String(lookup(name, hasDefault: false)?.count ?? 0)
        }
        let name = identifier()
        guard !name.isEmpty else { throw .init(description: "unable to parse variable name after ${") }
        switch peek() {
        case "}":
            index += 1
            return lookup(name, hasDefault: false) ?? ""
        case ":" where ["=", "-"].contains(peek(1)), "=", "-":
            index += peek() == ":" ? 2 : 1
            let fallback = try defaultValue()
            let value = lookup(name, hasDefault: true) ?? ""
            return value.isEmpty ? fallback : value
        case "^", ",":
            let marker = peek()!
            index += 1
            let all = peek() == marker
            if all { index += 1 }
            guard peek() == "}" else { throw .init(description: "bad substitution in ${\(name)\(marker)") }
            index += 1
            let value = lookup(name, hasDefault: false) ?? ""
            let change: (String) -> String = marker == "^" ? { $0.uppercased() } : { $0.lowercased() }
            return all ? change(value) : value.first.map { change(String($0)) + value.dropFirst() } ?? ""
        default:
            throw .init(description: "the substitution ${\(name)\(peek().map { String($0) } ?? "")… uses a function fluxci does not evaluate (substring, pattern removal or replacement)")
        }
    }

    /// The default of `${name:=…}`: text and nested `${…}` up to the closing brace.
    mutating func defaultValue() throws(PostBuild.Failure) -> String {
        var output = ""
        while let c = peek() {
            if c == "}" {
                index += 1
                return output
            }
            if c == "$", peek(1) == "{" {
                index += 2
                output += try function()
                continue
            }
            if c == "$", peek(1) == "$" || c == "\\" && (peek(1) == "\\" || peek(1) == "/") {
                output.unicodeScalars.append(input[index + 1])
                index += 2
                continue
            }
            output.unicodeScalars.append(c)
            index += 1
        }
        throw .init(description: "missing closing brace")
    }

    mutating func identifier() -> String {
        var name = String.UnicodeScalarView()
        while let c = peek(), c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil {
            name.append(c)
            index += 1
        }
        return String(name)
    }

    mutating func lookup(_ name: String, hasDefault: Bool) -> String? {
        if let value = variables[name] { return value }
        if !hasDefault { unresolved.insert(name) }
        return nil
    }
}
