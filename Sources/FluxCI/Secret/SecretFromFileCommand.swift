import Actions
import ArgumentParser
import Foundation

/// `fluxci secret from-file`: a Secret manifest holding files and literals, on standard output
/// (what `make kubernetes-secret` did with `kubectl create secret generic --dry-run -o yaml`).
struct SecretFromFileCommand: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "from-file",
        abstract: "Print a Secret manifest holding files (KEY=PATH or PATH) and --from-literal KEY=VALUE pairs.",
        discussion: """
            Pipe it into `fluxci sops encrypt` (or sops) before it goes anywhere near git. On \
            GitHub the values are masked in the log.

            Environment: GITHUB_ACTIONS.
            """)

    @Option(help: "The Secret's name.")
    var name: String

    @Option(help: "The Secret's namespace.")
    var namespace: String

    @Option(name: .customLong("from-literal"), help: "A KEY=VALUE pair (repeatable).")
    var literals: [String] = []

    @Option(help: "The Secret's type.")
    var type = "Opaque"

    @Argument(help: "Files, as PATH (the key is the file name) or KEY=PATH.")
    var files: [String] = []

    init() {}

    nonisolated(unsafe) static let keyPattern = /[-._a-zA-Z0-9]+/

    func validate() throws {
        if files.isEmpty && literals.isEmpty { throw ValidationError("Give at least one file or --from-literal.") }
    }

    func execute(in context: CommandContext) async throws {
        var entries: [(key: String, value: Data)] = []
        func add(_ key: String, _ value: Data, from source: String) throws {
            guard key.wholeMatch(of: Self.keyPattern) != nil else {
                throw Annotation.error("'\(key)' (from \(source)) is not a valid Secret key.", title: "Invalid key", fix: "Use letters, digits, '-', '_' and '.' only.")
            }
            guard !entries.contains(where: { $0.key == key }) else {
                throw Annotation.error("The key '\(key)' is given twice.", title: "Duplicate key", fix: "Give each key once (KEY=PATH renames a file).")
            }
            entries.append((key, value))
        }
        for literal in literals {
            guard let equals = literal.firstIndex(of: "=") else {
                throw Annotation.error("--from-literal '\(literal.prefix(20))…' has no '='.", title: "Invalid literal", fix: "Write KEY=VALUE.")
            }
            let value = String(literal[literal.index(after: equals)...])
            context.reporter.mask(value)
            try add(String(literal[..<equals]), Data(value.utf8), from: "--from-literal")
        }
        for file in files {
            let (key, path): (String, String) = if let equals = file.firstIndex(of: "=") {
                (String(file[..<equals]), String(file[file.index(after: equals)...]))
            } else {
                (URL(fileURLWithPath: file).lastPathComponent, file)
            }
            guard let data = FileManager.default.contents(atPath: context.url(for: path).path) else {
                throw Annotation.error("\(path) does not exist or cannot be read.", title: "File not found", fix: "Check the path.")
            }
            if let text = String(data: data, encoding: .utf8) { context.reporter.mask(text) }
            context.reporter.mask(data.base64EncodedString())
            try add(key, data, from: path)
        }
        var yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: \(name)\n    namespace: \(namespace)\ntype: \(type)\ndata:\n"
        for entry in entries { yaml += "    \(entry.key): \(entry.value.base64EncodedString())\n" }
        context.standardOutput.write(yaml)
    }
}
