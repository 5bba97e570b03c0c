/// One GitHub workflow command (`::name key=value,…::message`), as data.
///
/// Rendering follows the Actions toolkit (`@actions/core` command.ts) exactly: properties keep
/// their order, empty values are left out, and both parts are percent-escaped so that no value
/// can end the line, end the property list or start another command.
public struct WorkflowCommand: Sendable, Equatable {
    public var name: String
    public var properties: [(key: String, value: String)]
    public var message: String

    public init(_ name: String, properties: [(key: String, value: String)] = [], message: String = "") {
        self.name = name
        self.properties = properties
        self.message = message
    }

    /// The command line, without the trailing newline.
    public var rendered: String {
        var line = "::" + name
        let present = properties.filter { !$0.value.isEmpty }
        if !present.isEmpty {
            line += " " + present.map { "\($0.key)=\(Self.escapeProperty($0.value))" }.joined(separator: ",")
        }
        return line + "::" + Self.escapeData(message)
    }

    /// Escapes a message: `%` first, so an already-escaped sequence cannot be un-escaped.
    public static func escapeData(_ text: String) -> String {
        escape(text, extra: false)
    }

    /// Escapes a property value: as a message, plus `:` and `,`, which would end the value.
    public static func escapeProperty(_ text: String) -> String {
        escape(text, extra: true)
    }

    private static func escape(_ text: String, extra: Bool) -> String {
        // Work on Unicode scalars: Swift folds "\r\n" into one Character.
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out.append(contentsOf: "%25".unicodeScalars)
            case "\r": out.append(contentsOf: "%0D".unicodeScalars)
            case "\n": out.append(contentsOf: "%0A".unicodeScalars)
            case ":" where extra: out.append(contentsOf: "%3A".unicodeScalars)
            case "," where extra: out.append(contentsOf: "%2C".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    public static func == (lhs: WorkflowCommand, rhs: WorkflowCommand) -> Bool {
        lhs.name == rhs.name && lhs.message == rhs.message
            && lhs.properties.map(\.key) == rhs.properties.map(\.key)
            && lhs.properties.map(\.value) == rhs.properties.map(\.value)
    }
}
