/// Where an annotation points: a file and, optionally, a line and column range.
public struct SourceLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var endLine: Int?
    public var endColumn: Int?

    public init(file: String, line: Int? = nil, column: Int? = nil, endLine: Int? = nil, endColumn: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.endLine = endLine
        self.endColumn = endColumn
    }

    /// `file:line:col`, the form editors and terminals jump to.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        return text
    }
}

/// A message about the run that GitHub shows as an annotation and a terminal as a
/// `file:line:col: level: message` line. It is also the error every module throws for bad
/// input: what went wrong (`message`), where (`location`), and how to fix it (`fix`).
public struct Annotation: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable, CaseIterable, Hashable {
        case error, warning, notice
    }

    public var level: Level
    public var title: String?
    public var message: String
    public var fix: String?
    public var location: SourceLocation?
    /// Sums up annotations already given ("3 problems (annotated above)"): shown like any other,
    /// but not one more problem, so the step summary's Problems neither count nor list it.
    public var isSummary = false

    public init(
        _ level: Level, _ message: String, title: String? = nil, fix: String? = nil, at location: SourceLocation? = nil
    ) {
        self.level = level
        self.message = message
        self.title = title
        self.fix = fix
        self.location = location
    }

    public static func error(_ message: String, title: String? = nil, fix: String? = nil, at location: SourceLocation? = nil) -> Annotation {
        Annotation(.error, message, title: title, fix: fix, at: location)
    }

    public static func warning(_ message: String, title: String? = nil, fix: String? = nil, at location: SourceLocation? = nil) -> Annotation {
        Annotation(.warning, message, title: title, fix: fix, at: location)
    }

    /// The same annotation, marked as a summary of others (`isSummary`).
    public func summarizing() -> Annotation {
        var copy = self
        copy.isSummary = true
        return copy
    }

    /// The message with the fix on a line of its own.
    public var fullMessage: String {
        guard let fix, !fix.isEmpty else { return message }
        return message + "\nFix: " + fix
    }

    /// GitHub honours columns only when the annotation spans one line.
    public var workflowCommand: WorkflowCommand {
        var properties: [(key: String, value: String)] = []
        if let title { properties.append(("title", String(title.prefix(Self.maximumTitleLength)))) }
        if let location {
            properties.append(("file", location.file))
            if let line = location.line { properties.append(("line", String(line))) }
            if let endLine = location.endLine { properties.append(("endLine", String(endLine))) }
            let oneLine = location.endLine == nil || location.endLine == location.line
            if oneLine, let column = location.column { properties.append(("col", String(column))) }
            if oneLine, let endColumn = location.endColumn { properties.append(("endColumn", String(endColumn))) }
        }
        return WorkflowCommand(level.rawValue, properties: properties, message: fullMessage)
    }

    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "\(level.rawValue): "
        if let title, !message.hasPrefix(title) { text += "\(title): " }
        return text + fullMessage
    }

    /// GitHub cuts titles longer than this.
    public static let maximumTitleLength = 255
}
