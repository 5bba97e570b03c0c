import Foundation

/// The files a step writes to talk to the runner: `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_STATE`
/// take `name<<delimiter` heredocs, `GITHUB_PATH` takes one directory a line.
public enum FileCommand {
    public enum Kind: String, Sendable, CaseIterable {
        case output = "GITHUB_OUTPUT"
        case env = "GITHUB_ENV"
        case state = "GITHUB_STATE"
    }

    /// `name<<delimiter\nvalue\ndelimiter\n`, with a fresh random delimiter for every write.
    /// A name or value containing the delimiter is refused, as the toolkit does: it would end
    /// the value early and let the rest be read as another assignment.
    public static func keyValue(name: String, value: String, delimiter: String = freshDelimiter()) throws(Annotation) -> String {
        guard !name.isEmpty else {
            throw .error("A file command needs a name.", fix: "Give the output or variable a name.")
        }
        if name.contains(delimiter) || value.contains(delimiter) {
            throw .error(
                "The name or value of '\(name)' contains the file-command delimiter.",
                fix: "This happens only with a crafted value; pass a value without '\(delimiter)'.")
        }
        if name.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) {
            throw .error("A file-command name may not contain a line break.", fix: "Use a single-line name.")
        }
        return "\(name)<<\(delimiter)\n\(value)\n\(delimiter)\n"
    }

    public static func freshDelimiter() -> String {
        "ghadelimiter_" + UUID().uuidString.lowercased()
    }

    /// Appends text to a file command's file, creating it when missing.
    public static func append(_ text: String, to path: String) throws(Annotation) {
        let data = Data(text.utf8)
        guard let handle = FileHandle(forWritingAtPath: path) ?? create(path) else {
            throw .error("Cannot write to \(path).", fix: "Check that the runner's file-command path exists and is writable.")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
        } catch {
            throw .error("Cannot write to \(path): \(error.localizedDescription).", fix: "Check free disk space and permissions.")
        }
    }

    private static func create(_ path: String) -> FileHandle? {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { return nil }
        return FileHandle(forWritingAtPath: path)
    }
}
