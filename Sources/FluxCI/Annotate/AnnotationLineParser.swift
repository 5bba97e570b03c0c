import Actions
import Foundation

/// Reads annotations from other tools' output, a line at a time: compiler diagnostics
/// (`file:line[:col]: error|warning|note: message`) and JSON objects
/// (`{"level": "error", "file": …, "line": …, "message": …}`).
enum AnnotationLineParser {
    enum Line: Equatable {
        case annotation(Annotation)
        /// Neither form: passed through to the log as it is.
        case text(String)
    }

    /// `inputName` and `lineNumber` locate bad input in errors (`stdin:3`).
    static func parse(_ line: String, inputName: String, lineNumber: Int) throws -> Line {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{") {
            return .annotation(try parseJSON(trimmed, at: SourceLocation(file: inputName, line: lineNumber)))
        }
        if let annotation = parseCompiler(line) { return .annotation(annotation) }
        return .text(line)
    }

    // MARK: Compiler form

    nonisolated(unsafe) private static let compilerLine =
        #/^(?<file>.+?):(?<line>[0-9]+)(?::(?<col>[0-9]+))?: (?<level>error|warning|note|notice): (?<message>.*)$/#

    static func parseCompiler(_ line: String) -> Annotation? {
        guard let match = line.wholeMatch(of: compilerLine),
            let number = Int(match.line), number > 0
        else { return nil }
        let level: Annotation.Level = switch match.level {
        case "error": .error
        case "warning": .warning
        default: .notice
        }
        let column = match.col.flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
        return Annotation(level, String(match.message), at: SourceLocation(file: String(match.file), line: number, column: column))
    }

    // MARK: JSON form

    /// The JSON form. Numbers may also be given as strings ("3"); anything else is an error.
    private struct JSONAnnotation: Decodable {
        var level, severity, file, title, message: Field<String>?
        var line, startLine, col, column, startColumn, endLine, endColumn: Field<Int>?

        /// One member: its value, or the reason it could not be read.
        enum Field<Value: Decodable & LosslessStringConvertible>: Decodable {
            case value(Value)
            case invalid(String)

            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if container.decodeNil() { self = .invalid("null"); return }
                if let value = try? container.decode(Value.self) { self = .value(value); return }
                if let text = try? container.decode(String.self), let value = Value(text) { self = .value(value); return }
                self = .invalid(Value.self == Int.self ? "not an integer" : "not a string")
            }
        }
    }

    static func parseJSON(_ text: String, at where_: SourceLocation) throws -> Annotation {
        let object: JSONAnnotation
        do {
            object = try JSONDecoder().decode(JSONAnnotation.self, from: Data(text.utf8))
        } catch {
            throw Annotation.error(
                "This line starts with '{' but is not a JSON object.", title: "Invalid annotation input",
                fix: "Write one JSON object per line, e.g. {\"level\":\"error\",\"file\":\"a.yaml\",\"line\":3,\"message\":\"…\"}.",
                at: where_)
        }
        func string(_ key: String, _ field: JSONAnnotation.Field<String>?) throws -> String? {
            switch field {
            case nil: return nil
            case .value(let value): return value
            case .invalid(let why): throw Annotation.error("'\(key)' must be a string (\(why)).", title: "Invalid annotation input", at: where_)
            }
        }
        func positive(_ fields: (String, JSONAnnotation.Field<Int>?)...) throws -> Int? {
            for (key, field) in fields {
                switch field {
                case nil: continue
                case .value(let value) where value > 0: return value
                case .value(let value):
                    throw Annotation.error(
                        "'\(key)' must be a positive integer (lines and columns count from 1), not \(value).",
                        title: "Invalid annotation input", at: where_)
                case .invalid(let why):
                    throw Annotation.error(
                        "'\(key)' must be a positive integer (\(why)).", title: "Invalid annotation input", at: where_)
                }
            }
            return nil
        }
        let levelName = try string("level", object.level) ?? string("severity", object.severity) ?? "error"
        guard let level = AnnotationLevelName.level(levelName) else {
            throw Annotation.error(
                "Unknown level '\(levelName)'.", title: "Invalid annotation input",
                fix: "Use one of: \(AnnotationLevelName.accepted.joined(separator: ", ")).", at: where_)
        }
        guard let message = try string("message", object.message), !message.isEmpty else {
            throw Annotation.error("An annotation needs a non-empty 'message'.", title: "Invalid annotation input", at: where_)
        }
        let line = try positive(("line", object.line), ("startLine", object.startLine))
        let column = try positive(("col", object.col), ("column", object.column), ("startColumn", object.startColumn))
        let endLine = try positive(("endLine", object.endLine))
        let endColumn = try positive(("endColumn", object.endColumn))
        var location: SourceLocation?
        if let file = try string("file", object.file) {
            location = SourceLocation(file: file, line: line, column: column, endLine: endLine, endColumn: endColumn)
        } else if line != nil {
            throw Annotation.error("'line' needs a 'file'.", title: "Invalid annotation input", at: where_)
        }
        return Annotation(level, message, title: try string("title", object.title), at: location)
    }
}

/// Level names accepted from users: GitHub's, plus the compiler spellings.
enum AnnotationLevelName {
    static let accepted = ["error", "warning", "notice", "note"]

    static func level(_ name: String) -> Annotation.Level? {
        switch name.lowercased() {
        case "error": .error
        case "warning", "warn": .warning
        case "notice", "note", "info": .notice
        default: nil
        }
    }
}
