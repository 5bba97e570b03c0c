import Foundation
import Processes

/// `SOPS_AGE_KEY_CMD`: a command that prints age identities, run as sops runs it
/// (getsops/sops `age/keysource.go` `loadIdentities`): the variable is split into words by
/// google/shlex's rules, the first word is looked up in PATH (Go's `exec.Command`), the command
/// runs with sops's own environment and working directory, without a shell, and its standard
/// output is read as an identity file (one `AGE-SECRET-KEY-1…` a line, `#` comments). Its
/// identities are tried beside SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default key file, never
/// instead of them. Nothing the command prints is ever shown: failures name the command and its
/// exit status only.
enum AgeKeyCommand {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The command's standard output. It runs in fluxci's own working directory (inherited, as
    /// Go's exec.Command leaves it), which also resolves a relative command name.
    static func run(_ command: String, environment: [String: String]) throws(Failure) -> String {
        let workingDirectory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let words: [String]
        do { words = try split(command) } catch { throw error }
        guard let name = words.first else { throw Failure(description: "SOPS_AGE_KEY_CMD holds no command") }
        guard let path = lookPath(name, environment: environment, workingDirectory: workingDirectory) else {
            throw Failure(description: "the command \(name) of SOPS_AGE_KEY_CMD was not found in PATH")
        }
        let result = ProcessRunner.run(path, Array(words.dropFirst()))
        guard result.status == 0 else {
            // Its standard error may echo what it read; only the status is said.
            throw Failure(description: "SOPS_AGE_KEY_CMD (\(name)) exited with status \(result.status)")
        }
        return result.output
    }

    /// Go's `exec.LookPath`: a name with a slash is taken as it is (relative to the working
    /// directory); any other is searched in PATH's folders, in order, for an executable file.
    static func lookPath(_ name: String, environment: [String: String], workingDirectory: URL) -> String? {
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : workingDirectory.appendingPathComponent(name).path
            return isExecutableFile(path) ? path : nil
        }
        for folder in (environment["PATH"] ?? "").split(separator: ":", omittingEmptySubsequences: false) {
            // An empty PATH element is the current folder to a shell; Go refuses it (ErrDot).
            guard !folder.isEmpty, folder != "." else { continue }
            let candidate = String(folder) + "/" + name
            if isExecutableFile(candidate) { return candidate.hasPrefix("/") ? candidate : workingDirectory.appendingPathComponent(candidate).path }
        }
        return nil
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue && access(path, X_OK) == 0
    }

    /// google/shlex's `Split` (what sops uses): words separated by spaces, tabs and newlines;
    /// `'…'` keeps everything literally; `"…"` keeps everything but a backslash, which takes the
    /// next character literally; outside quotes a backslash takes the next character literally
    /// too; a `#` that starts a word comments out the rest of the line. An unclosed quote or a
    /// trailing backslash is an error, as there.
    static func split(_ text: String) throws(Failure) -> [String] {
        enum State { case start, word, escaping, single, double, doubleEscaping, comment }
        var words: [String] = []
        var word = ""
        var state = State.start
        func isSpace(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        for c in text.unicodeScalars.map(Character.init) {
            switch state {
            case .start:
                if isSpace(c) { continue }
                switch c {
                case "#": state = .comment
                case "'": state = .single
                case "\"": state = .double
                case "\\": state = .escaping
                default: word.append(c); state = .word
                }
            case .word:
                if isSpace(c) {
                    words.append(word); word = ""; state = .start
                    continue
                }
                switch c {
                case "'": state = .single
                case "\"": state = .double
                case "\\": state = .escaping
                default: word.append(c)
                }
            case .escaping:
                word.append(c); state = .word
            case .single:
                if c == "'" { state = .word } else { word.append(c) }
            case .double:
                if c == "\"" { state = .word } else if c == "\\" { state = .doubleEscaping } else { word.append(c) }
            case .doubleEscaping:
                word.append(c); state = .double
            case .comment:
                if c == "\n" { state = .start }
            }
        }
        switch state {
        case .escaping, .doubleEscaping: throw Failure(description: "SOPS_AGE_KEY_CMD ends with a backslash (EOF found after escape character)")
        case .single, .double: throw Failure(description: "SOPS_AGE_KEY_CMD has a quote that is not closed (EOF found when expecting closing quote)")
        case .word: words.append(word)
        case .start, .comment: break
        }
        return words
    }
}
