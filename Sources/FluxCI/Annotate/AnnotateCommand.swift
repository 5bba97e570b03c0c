import Actions
import ArgumentParser
import Foundation

extension Annotation.Level: ExpressibleByArgument {
    public init?(argument: String) {
        guard let level = AnnotationLevelName.level(argument) else { return nil }
        self = level
    }
}

/// `fluxci annotate`: lets any workflow step speak through fluxci's reporter.
public struct AnnotateCommand: ContextCommand {
    public static let configuration = CommandConfiguration(
        commandName: commandName("annotate"),
        abstract: "Emit an annotation, or turn other tools' diagnostics on standard input into annotations.",
        discussion: """
            With a MESSAGE, emits one annotation from the flags. Without one (or with '-'), reads \
            standard input: lines in compiler form (file:line[:col]: error|warning|note: message) \
            and JSON lines ({"level","file","line","col","endLine","endColumn","title","message"}) \
            become annotations; other lines are printed as they are, unable to start a workflow \
            command. Input with a malformed JSON line is refused whole, before anything is emitted.

            Environment: GITHUB_ACTIONS (workflow commands when "true"), GITHUB_STEP_SUMMARY \
            (annotations beyond GitHub's 10 per level are listed there), NO_COLOR.
            """,
        version: fluxciVersion)

    @Option(help: "error, warning or notice.")
    var level: Annotation.Level = .error

    @Option(help: "The file the annotation points at, relative to the repository root.")
    var file: String?

    @Option(help: "The first line (from 1).")
    var line: Int?

    @Option(name: [.customLong("col"), .customLong("column")], help: "The first column (from 1).")
    var col: Int?

    @Option(help: "The last line (from 1).")
    var endLine: Int?

    @Option(help: "The last column (from 1).")
    var endColumn: Int?

    @Option(help: "A title (at most 255 characters are shown).")
    var title: String?

    @Argument(help: "The message; omit it or pass '-' to read standard input.")
    var message: String?

    public init() {}

    public func validate() throws {
        for (name, value) in [("--line", line), ("--col", col), ("--end-line", endLine), ("--end-column", endColumn)] {
            if let value, value < 1 {
                throw ValidationError("\(name) must be a positive integer (lines and columns count from 1), got \(value).")
            }
        }
        if file == nil, line != nil || col != nil || endLine != nil || endColumn != nil {
            throw ValidationError("--line, --col, --end-line and --end-column need --file.")
        }
        if let line, let endLine, endLine < line {
            throw ValidationError("--end-line (\(endLine)) is before --line (\(line)).")
        }
        if let message, message != "-", message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("The message is empty; give a message or '-' to read standard input.")
        }
    }

    public func execute(in context: CommandContext) async throws {
        let reporter = context.reporter
        guard let message, message != "-" else {
            try annotateStandardInput(context)
            return
        }
        let location = file.map { SourceLocation(file: $0, line: line, column: col, endLine: endLine, endColumn: endColumn) }
        reporter.annotate(Annotation(level, message, title: title, at: location))
    }

    private func annotateStandardInput(_ context: CommandContext) throws {
        let data = context.readStandardInput()
        guard let text = String(data: data, encoding: .utf8) else {
            throw Annotation.error("Standard input is not UTF-8 text.", fix: "Pipe the tool's text output into fluxci annotate.")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let parsed = try lines.enumerated().map { index, line in
            try AnnotationLineParser.parse(
                line.hasSuffix("\r") ? String(line.dropLast()) : line, inputName: "stdin", lineNumber: index + 1)
        }
        for line in parsed {
            switch line {
            case .annotation(let annotation): context.reporter.annotate(annotation)
            case .text(let text): context.reporter.untrusted(text)
            }
        }
    }
}
