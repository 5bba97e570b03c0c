import Actions
import Foundation
import Kube
import Yams

/// What postBuild substitution put into an object, said without the value (tester t9 F5: a
/// decrypted `substituteFrom` Secret's value was printed in a YAML error, an annotation and the
/// step summary). Messages about a substituted field or line quote the text the repository
/// writes before substitution (`value: ${SECRET_API_KEY}`) and name the variable's source,
/// never the substituted text, whatever the value's length. As a safety net every message of
/// the tree is searched for each value a Secret gave, and a value of `shortestRedacted`
/// characters or more is replaced by `redaction` (on GitHub those values are also masked with
/// `::add-mask::` before the first annotation: `ClusterTree.secretValues`).
enum SubstitutedValues {
    /// Values shorter than this are not searched for: `1`, `on` or `abc` would rewrite unrelated
    /// words, numbers and paths while protecting nothing (so short a value is guessed at once);
    /// the same floor as `sops decrypt`'s masks (SOPSFiles.shortestMasked). The messages about
    /// substituted text never quote a Secret's value, short or long.
    static let shortestRedacted = 4
    static let redaction = "[redacted]"

    /// The value at `path` in `json`, nil when it is not there.
    static func value(_ json: JSONValue?, _ path: [Origins.FieldKey]) -> JSONValue? {
        var value = json
        for key in path {
            switch key {
            case .key(let name): value = value?[name]
            case .index(let index): value = value?.array.flatMap { $0.indices.contains(index) ? $0[index] : nil }
            }
        }
        return value
    }

    /// Whether substitution changed the field at `path`: the build's text of it before
    /// substitution (`${SECRET_PIN}`, `pin-${N}`), `""` when the build did not write the field
    /// (a substituted key); nil when the field is as the build wrote it (or `before` is unknown).
    static func source(at path: [Origins.FieldKey], before: JSONValue?, after: JSONValue) -> String? {
        guard let before else { return nil }
        let old = value(before, path)
        guard old != value(after, path) else { return nil }
        return old.map { $0.string ?? $0.jsonText } ?? ""
    }

    /// `text` with every value of `values` that has `shortestRedacted` characters or more
    /// replaced by `redaction` (longest first, so a value that holds another goes whole).
    static func redact(_ text: String, _ values: [String]) -> String {
        var text = text
        for value in values where value.count >= shortestRedacted && text.contains(value) {
            text = text.replacingOccurrences(of: value, with: redaction)
        }
        return text
    }

    /// The values to search for, longest first.
    static func searched(_ values: Set<String>) -> [String] {
        values.filter { $0.count >= shortestRedacted }.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    static func redact(_ annotation: Annotation, _ values: [String]) -> Annotation {
        guard !values.isEmpty else { return annotation }
        var annotation = annotation
        annotation.message = redact(annotation.message, values)
        annotation.title = annotation.title.map { redact($0, values) }
        annotation.fix = annotation.fix.map { redact($0, values) }
        return annotation
    }

    /// Why `text` (one substituted object) is not valid YAML, without the parser's snippet of
    /// the text (Yams's error quotes the lines around the problem): the 1-based line and the
    /// parser's words (`mapping values are not allowed in this context`), and the line where
    /// the construct it was reading began (`while parsing a flow sequence`). Nil when it parses.
    static func yamlProblem(in text: String) -> (line: Int?, what: String, contextLine: Int?)? {
        do {
            var nodes = try Yams.compose_all(yaml: text, .basic)
            while nodes.next() != nil {}
            if let error = nodes.error { throw error }
            return nil
        } catch let error as YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
                return (mark.line, [context.map(\.text), problem].compactMap { $0 }.joined(separator: ": "), context?.mark.line)
            case .reader(let problem, _, _, _): return (nil, problem, nil)
            case .duplicatedKeysInMapping(let duplicates, let context): return (context.mark.line, "\(duplicates.count) duplicated key\(duplicates.count == 1 ? "" : "s")", nil)
            default: return (nil, "\(error)", nil)
            }
        } catch {
            return (nil, "not valid YAML", nil)
        }
    }

    /// Line `number` (1-based) of `text`, nil past its end.
    static func line(_ number: Int, of text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.indices.contains(number - 1) ? String(lines[number - 1]) : nil
    }
}

extension Reader {
    /// The problem of an object whose text after postBuild substitution is not valid YAML
    /// (kustomize-controller parses the substituted text again and fails the build). Said at
    /// the repository line that writes the failing line before substitution (`value:
    /// ${SECRET_API_KEY}` in deployment.yaml; tester t9 F5, F10), naming each variable of that
    /// line and where it is defined; the substituted line is quoted only when no Secret gave a
    /// value to it, and the parser's snippet of the substituted text never.
    func substitutedYAMLProblem(
        _ error: any Error, substituted text: String, document: KustomizationBuild.Document, kustomization: FluxKustomization,
        output: KustomizationBuild.Output, variables: Variables
    ) -> Annotation {
        let subject = "\(document.object["kind"]?.string ?? "")/\(document.object["metadata", "name"]?.string ?? "")"
        let problem = SubstitutedValues.yamlProblem(in: text)
        func reads(_ text: String) -> [String] { variables.values.keys.filter { !PostBuild.uses(of: $0, in: text).isEmpty }.sorted() }
        // Substitution removes the newlines of values, so line N of the substituted text is
        // line N of the build's text, unless a default (`${X:=a\nb}`) held one. Of the line
        // the parser stopped at and the line where what it was reading began (an unclosed
        // `[` stops a line later), the first that substitutes is the cause.
        func lineCount(_ text: String) -> Int { text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 } }
        let lines = lineCount(text) == lineCount(document.text) ? [problem?.line, problem?.contextLine].compactMap { $0 } : []
        let line = lines.first { SubstitutedValues.line($0, of: document.text).map(reads)?.isEmpty == false } ?? lines.first
        let sourceLine = line.flatMap { SubstitutedValues.line($0, of: document.text) }
        let onLine = sourceLine.map(reads) ?? []
        let used = onLine.isEmpty ? reads(document.text) : onLine
        let secret = used.filter { variables.fromSecret.contains($0) }
        let file = place(document.object, origin: document.origin, keepsOrigins: true, directory: kustomization.path, written: output.written).object.file
        let candidates = (file.map { [$0] } ?? []) + output.kustomizationFiles.filter { !(output.written.generated && $0 == output.written.file) }
        var site: SourceLocation?
        if let trimmed = sourceLine?.trimmingCharacters(in: .whitespaces), !trimmed.isEmpty {
            for candidate in candidates {
                if let line = origins.line(of: trimmed, in: candidate) {
                    site = SourceLocation(file: candidate, line: line)
                    break
                }
            }
        }
        if site == nil, let first = used.first { site = variableUses(first, files: candidates).first }
        let what = problem?.what ?? (secret.isEmpty ? "\(error)" : "it cannot be read as a Kubernetes object")
        var message = "The postBuild substitution of \(kustomization.id) makes \(subject) invalid YAML"
        if let sourceLine { message += " at `\(sourceLine.trimmingCharacters(in: .whitespaces))`" }
        if let site { message += " (\(site))" }
        message += ": \(what)"
        if let line = line ?? problem?.line { message += " (line \(line) of the substituted object)" }
        message += "."
        if !used.isEmpty {
            let listed = used.map { name in "${\(name)}\(variables.sites[name].map { " from \($0.place)" } ?? "")" }
            message += " The \(onLine.isEmpty ? "object" : "line") substitutes \(listed.joined(separator: ", "))."
        }
        if !secret.isEmpty {
            message += " The value\(secret.count == 1 ? "" : "s") of \(secret.map { "${\($0)}" }.joined(separator: ", ")) come\(secret.count == 1 ? "s" : "") from a Secret and \(secret.count == 1 ? "is" : "are") not shown."
        } else if let line, !onLine.isEmpty, let substituted = SubstitutedValues.line(line, of: text) {
            message += " After substitution it reads `\(substituted.trimmingCharacters(in: .whitespaces))`."
        }
        let name = used.first ?? "VAR"
        let fix = used.isEmpty
            ? "Fix the YAML, or annotate the object kustomize.toolkit.fluxcd.io/substitute: disabled."
            // Quoting the placeholder does not help (tester t14 F2): kustomize writes `"${VAR}"`
            // without its quotes before Flux substitutes into that text.
            : "Make the substituted text valid YAML: put the quotes into the variable's value (`\(name): '\"…\"'`; quoting ${\(name)} in the manifest does not help, as kustomize writes it without the quotes before Flux substitutes), or annotate the object kustomize.toolkit.fluxcd.io/substitute: disabled."
        return .error(message, title: "Substitution failed", fix: fix, at: site ?? location(kustomization, ["spec", "postBuild"]))
    }
}
