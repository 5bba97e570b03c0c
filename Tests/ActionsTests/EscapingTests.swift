import Foundation
import Testing
import TestSupport

@testable import Actions

/// Untrusted text (file names, YAML values) in a workflow command must stay one line and
/// round-trip exactly.
@Suite struct EscapingTests {
    /// What the runner does to a property value (ActionCommand.UnescapeProperty), on scalars:
    /// Foundation's replacing would not match "%2C" before a combining mark.
    static func unescapeProperty(_ text: String) -> String {
        unescape(text, ["%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ",", "%25": "%"])
    }

    static func unescapeData(_ text: String) -> String {
        unescape(text, ["%0D": "\r", "%0A": "\n", "%25": "%"])
    }

    static func unescape(_ text: String, _ table: [String: Unicode.Scalar]) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            if scalars[index] == "%", index + 2 < scalars.count,
                let replacement = table[String(String.UnicodeScalarView(scalars[index...(index + 2)]))]
            {
                out.append(replacement)
                index += 3
            } else {
                out.append(scalars[index])
                index += 1
            }
        }
        return String(out)
    }

    /// Splits a rendered command back into name, properties and message, as the runner parses it
    /// (on UTF-16 code units there; on Unicode scalars here, never on Swift's grapheme clusters,
    /// which would glue a combining mark onto a delimiter).
    static func parse(_ line: String) -> (name: String, properties: [String: String], message: String)? {
        let scalars = Array(line.unicodeScalars)
        func text(_ slice: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(slice)) }
        guard scalars.count >= 4, scalars[0] == ":", scalars[1] == ":" else { return nil }
        guard let end = (2..<scalars.count - 1).first(where: { scalars[$0] == ":" && scalars[$0 + 1] == ":" }) else { return nil }
        let head = scalars[2..<end]
        let message = text(scalars[(end + 2)...])
        var properties: [String: String] = [:]
        let name: String
        if let space = head.firstIndex(of: " ") {
            name = text(head[..<space])
            for pair in head[(space + 1)...].split(separator: ",", omittingEmptySubsequences: false) {
                guard let equals = pair.firstIndex(of: "=") else { return nil }
                properties[text(pair[..<equals])] = unescapeProperty(text(pair[(equals + 1)...]))
            }
        } else {
            name = text(head)
        }
        return (name, properties, unescapeData(message))
    }

    @Test func hostileFileNameYieldsOneAnnotationThatRoundTrips() throws {
        let file = "a:b,c\n::error::pwned"
        let annotation = Annotation.error("bad value", at: SourceLocation(file: file, line: 3))
        let line = annotation.workflowCommand.rendered
        #expect(!line.contains("\n") && !line.contains("\r"))
        let parsed = try #require(Self.parse(line))
        #expect(parsed.name == "error")
        #expect(parsed.properties["file"] == file)
        #expect(parsed.properties["line"] == "3")
        #expect(parsed.message == "bad value")
    }

    /// A fuzz test of the escaper: random bytes as message, file and title always give exactly one
    /// line that starts with `::` and parses back to the same values.
    @Test func randomInputAlwaysGivesOneParsableLine() throws {
        var random = SeededGenerator(seed: 0x5EED_F1C1)
        let alphabet: [UInt8] = Array("%:,\r\n=:: aZ".utf8) + [0, 0x7F, 0xC3, 0xA9, 0xE2, 0x80, 0xA8]
        func randomText() -> String {
            let count = Int.random(in: 0...24, using: &random)
            let bytes = (0..<count).map { _ in
                Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        for _ in 0..<5_000 {
            let message = randomText(), file = randomText(), title = randomText()
            let annotation = Annotation(
                .warning, message, title: title.isEmpty ? nil : title,
                at: file.isEmpty ? nil : SourceLocation(file: file, line: 7))
            let line = annotation.workflowCommand.rendered
            #expect(line.hasPrefix("::warning"))
            #expect(!line.unicodeScalars.contains("\n") && !line.unicodeScalars.contains("\r"))
            let parsed = try #require(Self.parse(line), "unparsable: \(line.debugDescription)")
            #expect(parsed.message == message)
            if !file.isEmpty { #expect(parsed.properties["file"] == file) }
            if !title.isEmpty { #expect(parsed.properties["title"] == String(title.prefix(255))) }
        }
    }

    @Test func columnsOnlyOnSingleLineAnnotations() {
        let multi = Annotation.error("m", at: SourceLocation(file: "f", line: 2, column: 3, endLine: 4, endColumn: 5))
        #expect(multi.workflowCommand.rendered == "::error file=f,line=2,endLine=4::m")
        let single = Annotation.error("m", at: SourceLocation(file: "f", line: 2, column: 3, endLine: 2, endColumn: 5))
        #expect(single.workflowCommand.rendered == "::error file=f,line=2,endLine=2,col=3,endColumn=5::m")
    }

    @Test func longTitlesAreCutToGitHubsLimit() {
        let annotation = Annotation.error("m", title: String(repeating: "t", count: 300))
        #expect(annotation.workflowCommand.rendered == "::error title=\(String(repeating: "t", count: 255))::m")
    }

    @Test func fixGoesOnItsOwnLine() {
        let annotation = Annotation.error("The key is expired.", fix: "Extend it with gpg --quick-set-expire.")
        #expect(annotation.workflowCommand.rendered == "::error::The key is expired.%0AFix: Extend it with gpg --quick-set-expire.")
    }
}
