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
/// - the substitution runs on each object's YAML text with every operator fluxcd/pkg envsubst
///   has (`Envsubst`), `$$` is a literal `$` (so `$${var}` gives `${var}`), and the result is
///   read as YAML again (so `replicas: ${N}` becomes a number);
/// - an unset variable is the empty string, unless kustomize-controller runs with the
///   `StrictPostBuildSubstitutions` feature gate: then reading it fails the build.
enum PostBuild {
    static let disabledKey = "kustomize.toolkit.fluxcd.io/substitute"

    static func isDisabled(_ object: JSONValue) -> Bool {
        object["metadata", "labels", disabledKey]?.string == "disabled" || object["metadata", "annotations", disabledKey]?.string == "disabled"
    }

    static func validName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic && first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    struct Failure: Error, Equatable, CustomStringConvertible {
        var description: String
        /// The `${…}` the parse failed on, as written (`${spring.datasource.url`), for quoting it
        /// and finding its line in the repository; the unset variable of a strict-mode failure.
        var expression: String? = nil
        var variable: String? = nil

        /// Failures are equal when they say the same (the expression and variable only locate it).
        static func == (a: Failure, b: Failure) -> Bool { a.description == b.description }
    }

    /// Substitutes `text` (one object's YAML). `unresolved` collects names read without a value
    /// (an unset variable is the empty string, or with `strict` the failure kustomize-controller
    /// reports under `--feature-gates=StrictPostBuildSubstitutions=true`).
    static func substitute(_ text: String, variables: [String: String], strict: Bool = false, unresolved: inout Set<String>) throws(Failure) -> String {
        do {
            let template = try Envsubst.parse(text)
            var missing: Set<String> = []
            let output = try template.evaluate(variables, strict: strict, unresolved: &missing)
            unresolved.formUnion(missing)
            return output
        } catch {
            // kustomize-controller's words (fluxcd/pkg kustomize `varSubstitution`: "variable
            // substitution failed: %w" around envsubst's error).
            throw Failure(description: "variable substitution failed: \(error)", expression: error.offset.map { Envsubst.expression(in: text, at: $0) })
        }
    }

    /// The lines of `text` (1-based) where `expression` (which starts with `${`) is written
    /// unescaped: its `$` is not preceded by an odd run of `$` (`$${…}` is the text `${…}`).
    static func lines(of expression: String, in text: String) -> [Int] {
        let bytes = Array(text.utf8)
        let wanted = Array(expression.utf8)
        guard !wanted.isEmpty, bytes.count >= wanted.count else { return [] }
        var lines: [Int] = []
        var line = 1
        var dollars = 0
        for index in bytes.indices {
            if dollars % 2 == 0, bytes[index] == wanted[0], index + wanted.count <= bytes.count, Array(bytes[index..<index + wanted.count]) == wanted {
                if lines.last != line { lines.append(line) }
            }
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            dollars = bytes[index] == UInt8(ascii: "$") ? dollars + 1 : 0
        }
        return lines
    }

    /// The lines of `text` (1-based, one per use) that read the variable `name`: `${name…}` or
    /// `${#name}`, not escaped (`$${name}` is the text `${name}`: a `$` preceded by an odd run of
    /// `$` opens nothing), the name followed by no name character.
    static func uses(of name: String, in text: String) -> [Int] {
        let bytes = Array(text.utf8)
        let wanted = Array(name.utf8)
        func isNameByte(_ byte: UInt8) -> Bool { byte == UInt8(ascii: "_") || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) }
        var lines: [Int] = []
        var line = 1
        var dollars = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") { line += 1 }
            if byte == UInt8(ascii: "{"), dollars % 2 == 1 {
                var start = index + 1
                if start < bytes.count, bytes[start] == UInt8(ascii: "#") { start += 1 }
                let end = start + wanted.count
                if end <= bytes.count, Array(bytes[start..<end]) == wanted, end == bytes.count || !isNameByte(bytes[end]) { lines.append(line) }
            }
            dollars = byte == UInt8(ascii: "$") ? dollars + 1 : 0
            index += 1
        }
        return lines
    }

    /// The feature gate that makes kustomize-controller fail a build that reads an unset variable.
    static let strictFeatureGate = "StrictPostBuildSubstitutions"

    /// Whether the kustomize-controller Deployment among `components` runs with
    /// `--feature-gates=…StrictPostBuildSubstitutions=true…` (Go's feature gate flag: a comma
    /// list of `Name=bool`; the last value given wins).
    static func strictSubstitutions(in components: [KubeObject]) -> Bool {
        guard let deployment = components.first(where: { $0.kind == "Deployment" && $0.name == "kustomize-controller" }) else { return false }
        var strict = false
        for container in deployment.json["spec", "template", "spec", "containers"]?.array ?? [] {
            for argument in container["args"]?.array ?? [] {
                guard let text = argument.string, text.hasPrefix("--feature-gates=") else { continue }
                for gate in text.dropFirst("--feature-gates=".count).split(separator: ",") {
                    let parts = gate.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.first == strictFeatureGate else { continue }
                    strict = parts.count == 1 || ["true", "1", "t", "T", "TRUE", "True"].contains(parts[1])
                }
            }
        }
        return strict
    }
}
