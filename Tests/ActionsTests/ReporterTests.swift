import Foundation
import Testing
import TestSupport

@testable import Actions

@Suite struct ReporterTests {
    static func github(_ files: [FileCommand.Kind: String] = [:], summary: String? = nil) -> (Reporter, CapturedText) {
        let log = CapturedText()
        return (Reporter(.init(mode: .github, files: files, summaryFile: summary), log: log), log)
    }

    static func terminal(color: Bool = false) -> (Reporter, CapturedText) {
        let log = CapturedText()
        return (Reporter(.init(mode: .terminal(color: color)), log: log), log)
    }

    @Test func masksBeforeAnythingElseAndRedactsLaterText() {
        let (reporter, log) = Self.github()
        let secret = "line-one-secret\nline-two-secret\n"
        reporter.mask(secret)
        reporter.log("here it is: line-two-secret and line-one-secret")
        reporter.error("failed with line-one-secret")
        let lines = log.text.split(separator: "\n").map(String.init)
        let masks = lines.filter { $0.hasPrefix("::add-mask::") }
        #expect(masks.contains("::add-mask::line-one-secret%0Aline-two-secret"))
        #expect(masks.contains("::add-mask::line-one-secret"))
        #expect(masks.contains("::add-mask::line-two-secret"))
        // Everything but the masks themselves (which the runner swallows) is free of the secret.
        let rest = lines.filter { !$0.hasPrefix("::add-mask::") }.joined(separator: "\n")
        #expect(!rest.contains("line-one-secret") && !rest.contains("line-two-secret"))
        #expect(rest.contains("here it is: *** and ***"))
        #expect(rest.contains("::error::failed with ***"))
    }

    /// Tester t6 finding 4: a served subfolder (`--repository Examples/fleet --serve`) has
    /// locations relative to the folder; the summary's links carried the folder, the annotations'
    /// `file=` did not, so GitHub could not attach them. Both come from `repositoryFile`, with or
    /// without a server to link to.
    @Test func annotationsAndLinksNameTheFileInTheRepositoryGitHubKnows() throws {
        let location = SourceLocation(file: "clusters/kind/local/extra.yaml", line: 12)
        for linked in [true, false] {
            let summary = FileManager.default.temporaryDirectory.appendingPathComponent("summary-\(UUID().uuidString).md")
            defer { try? FileManager.default.removeItem(at: summary) }
            let (reporter, log) = Self.github(summary: summary.path)
            reporter.setSourceLinks(
                server: linked ? "https://github.example" : nil, repository: linked ? "acme/fluxci" : nil, commit: "4cc1562f", pathPrefix: "Examples/fleet")
            reporter.error("The GitRepository failed.", title: "GitRepository failed", at: location)
            #expect(log.text.contains("::error title=GitRepository failed,file=Examples/fleet/clusters/kind/local/extra.yaml,line=12::"), "\(log.text)")
            #expect(reporter.repositoryFile(location) == "Examples/fleet/clusters/kind/local/extra.yaml")
            if linked {
                #expect(reporter.sourceURL(location) == "https://github.example/acme/fluxci/blob/4cc1562f/Examples/fleet/clusters/kind/local/extra.yaml#L12")
            }
        }
        // At the repository's top nothing changes.
        let (reporter, log) = Self.github()
        reporter.setSourceLinks(server: "https://github.example", repository: "acme/fleet", commit: "abc")
        reporter.warning("twice", title: "Object applied twice", at: SourceLocation(file: "kubernetes/base/ns.yaml", line: 1))
        #expect(log.text.contains("::warning title=Object applied twice,file=kubernetes/base/ns.yaml,line=1::twice"), "\(log.text)")
    }

    @Test func terminalRedactsWithoutAddMask() {
        let (reporter, log) = Self.terminal()
        reporter.mask("AGE-SECRET-KEY-1QQQQQQQQ")
        reporter.log("key AGE-SECRET-KEY-1QQQQQQQQ")
        #expect(log.text == "key ***\n")
    }

    /// Tester t16 F6: a URL's password, quoted by a controller's message, never reaches the log,
    /// annotations or the summary; the rest of the URL, and URLs without one, stay as written.
    @Test func aURLsPasswordIsRedacted() {
        let (reporter, log) = Self.github()
        reporter.log("unable to clone 'http://user:TopSecret42@127.0.0.1:18090/other.git': Get \"http://user:TopSecret42@127.0.0.1:18090/x\"")
        reporter.error("failed: https://x-access-token:ghp_abc123@github.com/acme/fleet", title: "Source failed")
        reporter.log("ssh://git@github.com/acme/fleet.git git@github.com:acme/fleet https://example.com/a@b mailto:a@b.c")
        #expect(!log.text.contains("TopSecret42") && !log.text.contains("ghp_abc123"), "\(log.text)")
        #expect(log.text.contains("'http://user:***@127.0.0.1:18090/other.git'") && log.text.contains("https://x-access-token:***@github.com/acme/fleet"), "\(log.text)")
        #expect(log.text.contains("ssh://git@github.com/acme/fleet.git git@github.com:acme/fleet https://example.com/a@b mailto:a@b.c"), "\(log.text)")
    }

    @Test func logTextThatLooksLikeACommandIsStopped() throws {
        let (reporter, log) = Self.github()
        reporter.log("ordinary line")
        reporter.log("  ::error::injected")
        let lines = log.text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "ordinary line")
        let start = try #require(lines.firstIndex { $0.hasPrefix("::stop-commands::") })
        let token = String(lines[start].dropFirst("::stop-commands::".count))
        #expect(token.count >= 32)
        #expect(lines[start + 1] == "  ::error::injected")
        #expect(lines[start + 2] == "::\(token)::")
    }

    @Test func untrustedBlocksUseAFreshTokenEachTime() {
        let (reporter, log) = Self.github()
        reporter.untrusted("a")
        reporter.untrusted("b")
        let tokens = log.text.split(separator: "\n").filter { $0.hasPrefix("::stop-commands::") }
        #expect(tokens.count == 2 && tokens[0] != tokens[1])
    }

    @Test func foldsAnnotationsBeyondTenPerLevelIntoTheSummary() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let summaryPath = directory.appendingPathComponent("summary.md").path
        let (reporter, log) = Self.github(summary: summaryPath)
        for index in 1...15 { reporter.error("error \(index)", at: SourceLocation(file: "f.yaml", line: index)) }
        for index in 1...3 { reporter.warning("warning \(index)") }
        reporter.finish()
        let lines = log.text.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("::error ") }.count == 10)
        #expect(lines.filter { $0.hasPrefix("::warning::") }.count == 3)
        // The five folded errors are still in the log, as plain lines.
        #expect(lines.contains("f.yaml:15: error: error 15"))
        let summary = try String(contentsOfFile: summaryPath, encoding: .utf8)
        #expect(summary.contains("Problems (18)"))
        #expect(summary.contains("5 more are listed here only"))
        for index in 1...15 { #expect(summary.contains("| error | f.yaml:\(index) | error \(index) |")) }
    }

    @Test func terminalAnnotationsReadAsCompilerDiagnostics() {
        let (reporter, log) = Self.terminal()
        reporter.error("cannot decrypt", title: "SOPS", fix: "Import the key.", at: SourceLocation(file: "a.yaml", line: 3, column: 5))
        reporter.warning("no location")
        #expect(log.text == "a.yaml:3:5: error: SOPS: cannot decrypt\n  fix: Import the key.\nwarning: no location\n")
    }

    @Test func colourOnlyWhenAsked() {
        let (plain, plainLog) = Self.terminal(color: false)
        plain.error("x", at: SourceLocation(file: "f", line: 1))
        #expect(!plainLog.text.contains("\u{1B}["))
        let (colored, coloredLog) = Self.terminal(color: true)
        colored.error("x", at: SourceLocation(file: "f", line: 1))
        #expect(coloredLog.text.contains("\u{1B}[31m"))
    }

    @Test func configurationFromEnvironment() {
        let local = Reporter.Configuration.from(environment: ["NO_COLOR": ""], logIsTerminal: true)
        #expect(local.mode == .terminal(color: false))
        #expect(Reporter.Configuration.from(environment: [:], logIsTerminal: true).mode == .terminal(color: true))
        #expect(Reporter.Configuration.from(environment: [:], logIsTerminal: false).mode == .terminal(color: false))
        let github = Reporter.Configuration.from(
            environment: ["GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": "/o", "GITHUB_STEP_SUMMARY": "/s", "GITHUB_PATH": ""],
            logIsTerminal: false)
        #expect(github.mode == .github)
        #expect(github.files[.output] == "/o" && github.summaryFile == "/s" && github.pathFile == nil)
    }

    @Test func terminalEscapesControlCharacters() {
        let (reporter, log) = Self.terminal()
        reporter.untrusted("evil \u{1B}[2Jclear")
        #expect(log.text == "evil \\x1B[2Jclear\n")
    }

    @Test func groupsIndentAndTime() throws {
        let (reporter, log) = Self.terminal()
        reporter.group("outer") {
            reporter.log("inside")
            reporter.group("inner") { reporter.log("deeper") }
        }
        struct Boom: Error {}
        #expect(throws: Boom.self) { try reporter.group("failing") { throw Boom() } }
        let lines = log.text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "▶ outer")
        #expect(lines[1] == "  inside")
        #expect(lines[2] == "  ▶ inner")
        #expect(lines[3] == "    deeper")
        #expect(lines[4].hasPrefix("  ✓ inner (done in "))
        #expect(lines[5].hasPrefix("✓ outer (done in "))
        #expect(lines[7].hasPrefix("✗ failing (failed after "))
    }

    @Test func githubGroupsDoNotNest() {
        let (reporter, log) = Self.github()
        reporter.group("outer") { reporter.group("inner") { reporter.log("x") } }
        let lines = log.text.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("::group::") } == ["::group::outer"])
        #expect(lines.filter { $0 == "::endgroup::" }.count == 1)
        #expect(lines.last == "::endgroup::")
    }

    @Test func durationsFormatForPeople() {
        #expect(Reporter.format(.milliseconds(420)) == "0.42s")
        #expect(Reporter.format(.milliseconds(12_340)) == "12.3s")
        #expect(Reporter.format(.seconds(125)) == "2m05s")
    }

    @Test func outputsGoToTheRunnersFileAndParseBack() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("output").path
        let env = directory.appendingPathComponent("env").path
        let (reporter, _) = Self.github([.output: output, .env: env])
        try reporter.setOutput("fingerprint", "ABCD")
        try reporter.setOutput("fingerprints", "ABCD\nEF01")
        try reporter.exportVariable("GNUPGHOME", "/tmp/x")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let parsed = Self.parseFileCommands(text)
        #expect(parsed == ["fingerprint": "ABCD", "fingerprints": "ABCD\nEF01"])
        #expect(Self.parseFileCommands(try String(contentsOfFile: env, encoding: .utf8)) == ["GNUPGHOME": "/tmp/x"])
        #expect(reporter.outputs.map(\.name) == ["fingerprint", "fingerprints"])
    }

    /// Reads heredoc file commands as the runner does.
    static func parseFileCommands(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        while let line = lines.popFirst(), !line.isEmpty {
            guard let range = line.range(of: "<<") else { continue }
            let name = String(line[..<range.lowerBound]), delimiter = String(line[range.upperBound...])
            var value: [String] = []
            while let next = lines.popFirst(), next != delimiter { value.append(next) }
            result[name] = value.joined(separator: "\n")
        }
        return result
    }
}
