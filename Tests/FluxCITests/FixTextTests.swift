import Foundation
import Testing
import TestSupport

/// Every fix text names commands and flags that exist: each `fix:` string in the sources is read,
/// every `fluxci …` command in it is looked up in fluxci's own command tree (ArgumentParser's
/// `--experimental-dump-help`) with its flags; every `sops …` and `gpg …` command's flags are
/// looked up in the real tool's help; a bare `--flag` must be an option of some fluxci command.
/// Help texts likewise: a flag a command's help names is that command's own.
@Suite struct FixTextTests {
    struct Command {
        var options: Set<String>
        var subcommands: [String: Command]
        /// The command's abstract and discussion and its arguments' help, as `--help` shows them.
        var helpTexts: [String] = []
    }

    static func fluxciCommands() async throws -> Command {
        let dump = try await runProcess(TestPaths.executable("fluxci"), ["--experimental-dump-help"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dump.standardOutput.utf8)) as? [String: Any])
        func command(_ object: [String: Any]) -> Command {
            var options: Set<String> = []
            for argument in object["arguments"] as? [[String: Any]] ?? [] {
                for name in argument["names"] as? [[String: Any]] ?? [] where name["kind"] as? String == "long" {
                    if let value = name["name"] as? String { options.insert("--" + value) }
                }
            }
            var subcommands: [String: Command] = [:]
            for sub in object["subcommands"] as? [[String: Any]] ?? [] {
                if let name = sub["commandName"] as? String { subcommands[name] = command(sub) }
            }
            let texts = [object["abstract"], object["discussion"]].compactMap { $0 as? String }
                + (object["arguments"] as? [[String: Any]] ?? []).flatMap { [$0["abstract"], $0["discussion"]].compactMap { $0 as? String } }
            return Command(options: options, subcommands: subcommands, helpTexts: texts)
        }
        return command(try #require(json["command"] as? [String: Any]))
    }

    /// Every `fix: "…"` literal in the sources, with its file and line.
    static func fixTexts() throws -> [(file: String, line: Int, text: String)] {
        let sources = TestPaths.packageRoot.appendingPathComponent("Sources")
        var found: [(String, Int, String)] = []
        let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                // Interpolations become a placeholder first: their own quotes would end the literal.
                let line = raw.replacing(/\\\([^)]*\)/, with: "X")
                for match in line.matches(of: /fix: "((?:[^"\\]|\\.)*)"/) {
                    found.append((url.lastPathComponent, index + 1, String(match.output.1)))
                }
            }
        }
        return found
    }

    static func help(_ tool: String, _ arguments: [String]) async throws -> String {
        let result = try await runTool(tool, arguments)
        return result.standardOutput + result.standardError
    }

    @Test func everyCommandAndFlagAFixNamesExists() async throws {
        let root = try await Self.fluxciCommands()
        let allOptions = Set(Self.allCommands(root).flatMap(\.options))
        let fixes = try Self.fixTexts()
        #expect(fixes.count > 50, "the fix texts were found")
        let sopsPath = try await SopsTool.path().path
        let gpgOptions = try await Self.help("gpg", ["--dump-options"])
        var sopsHelp: [String: String] = [:]
        var problems: [String] = []
        var checked = 0
        for fix in fixes {
            let quoted = fix.text.matches(of: /`([^`]+)`/).map { String($0.output.1) }
            for command in quoted {
                let words = command.split(separator: " ").map(String.init)
                guard let tool = words.first else { continue }
                switch tool {
                case "fluxci":
                    var node = root
                    var path = ["fluxci"]
                    var index = 1
                    while index < words.count, let sub = node.subcommands[words[index]] {
                        node = sub
                        path.append(words[index])
                        index += 1
                    }
                    if index < words.count, !words[index].hasPrefix("-"), !words[index].contains("\\("), words[index] != "|",
                        words[index].uppercased() != words[index], node.subcommands.isEmpty == false
                    {
                        problems.append("\(fix.file):\(fix.line): `\(command)`: no subcommand '\(words[index])' under \(path.joined(separator: " "))")
                    }
                    for word in words[index...] where word.hasPrefix("--") {
                        if word == "|" { break }
                        let flag = String(word.split(separator: "=").first ?? "")
                        checked += 1
                        if !node.options.contains(flag) { problems.append("\(fix.file):\(fix.line): `\(command)`: \(path.joined(separator: " ")) has no \(flag)") }
                    }
                case "sops":
                    let subcommand = words.count > 1 && !words[1].hasPrefix("-") && ["decrypt", "encrypt", "edit", "rotate", "updatekeys", "set", "unset", "filestatus", "publish", "exec-env", "exec-file"].contains(words[1]) ? words[1] : ""
                    if sopsHelp[subcommand] == nil {
                        let result = try await runProcess(URL(fileURLWithPath: sopsPath), subcommand.isEmpty ? ["--help"] : [subcommand, "--help"])
                        sopsHelp[subcommand] = result.standardOutput + result.standardError
                    }
                    for word in words where word.hasPrefix("-") && word.count > 1 {
                        let flag = String(word.split(separator: "=").first ?? "")
                        checked += 1
                        if !(sopsHelp[subcommand] ?? "").contains(flag) { problems.append("\(fix.file):\(fix.line): `\(command)`: sops \(subcommand) has no \(flag)") }
                    }
                case "gpg":
                    for word in words where word.hasPrefix("--") {
                        checked += 1
                        if !gpgOptions.contains(word + "\n") { problems.append("\(fix.file):\(fix.line): `\(command)`: gpg has no \(word)") }
                    }
                default:
                    continue
                }
            }
            // A bare --flag outside backticks: some fluxci command has it.
            let outside = fix.text.replacing(/`[^`]*`/, with: "")
            for match in outside.matches(of: /(^|[^\w-])(--[a-z][a-z0-9-]+)/) {
                checked += 1
                let flag = String(match.output.2)
                if !allOptions.contains(flag) { problems.append("\(fix.file):\(fix.line): no fluxci command has \(flag)") }
            }
        }
        #expect(checked > 20, "flags were checked")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// Issue 17 item 7: `bootstrap --help` named `--provider existing`, which only e2e and cluster
    /// have. Every `--flag` outside backticks in a command's help is one of its own options
    /// (`--no-x` for an inverted `--x`); a backticked `fluxci …` names a command and flags that exist.
    @Test func everyFlagAHelpTextNamesIsTheCommandsOwn() async throws {
        let root = try await Self.fluxciCommands()
        var problems: [String] = []
        var checked = 0
        func visit(_ command: Command, _ path: [String]) {
            for text in command.helpTexts {
                for quoted in text.matches(of: /`([^`]+)`/).map({ String($0.output.1) }) {
                    let words = quoted.split(separator: " ").map(String.init)
                    guard words.first == "fluxci" else { continue }
                    var node = root
                    var index = 1
                    while index < words.count, let sub = node.subcommands[words[index]] { node = sub; index += 1 }
                    for word in words[index...] where word.hasPrefix("--") {
                        checked += 1
                        let flag = String(word.split(separator: "=").first ?? "")
                        if !node.options.contains(flag) { problems.append("\(path.joined(separator: " ")) --help: `\(quoted)` has no \(flag)") }
                    }
                }
                let outside = text.replacing(/`[^`]*`/, with: "")
                for match in outside.matches(of: /(^|[^\w-])(--[a-z][a-z0-9-]+)/) {
                    checked += 1
                    let flag = String(match.output.2)
                    let inverted = flag.hasPrefix("--no-") ? "--" + flag.dropFirst(5) : flag
                    if !command.options.contains(flag) && !command.options.contains(inverted) {
                        problems.append("\(path.joined(separator: " ")) --help names \(flag), which it does not have: \(text.prefix(120))")
                    }
                }
            }
            for (name, sub) in command.subcommands { visit(sub, path + [name]) }
        }
        visit(root, ["fluxci"])
        #expect(checked > 30, "flags were checked")
        #expect(problems.isEmpty, "\(problems.sorted().joined(separator: "\n"))")
    }

    static func allCommands(_ command: Command) -> [Command] {
        [command] + command.subcommands.values.flatMap(allCommands)
    }
}
