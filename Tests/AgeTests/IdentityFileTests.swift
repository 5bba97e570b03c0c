import Foundation
import Testing
import TestSupport

@testable import Age

/// Identity files are read as the real age reads them: CRLF line ends and blank CRLF lines are
/// accepted, spaces or tabs around a key, a BOM or a double CR are refused — each variant is
/// given to `age --decrypt -i` too, and fluxci must accept exactly what age accepts.
@Suite struct IdentityFileTests {
    @Test func acceptsWhatAgeAccepts() async throws {
        let pair = try await AgeKeyPair.generate()
        let directory = try TestPaths.temporaryDirectory("fluxci-age-ids")
        removeAtExit(directory)
        let message = directory.appendingPathComponent("m.age")
        let encrypted = try await runTool("age", ["--encrypt", "-r", pair.recipient, "-o", message.path], input: "hello")
        #expect(encrypted.status == 0, "\(encrypted.standardError)")
        let key = pair.identity
        let variants: [String] = [
            "\(key)\n", "\(key)", "\(key)\r\n", "# created: x\r\n# public key: y\r\n\(key)\r\n", "\(key)\r\n\r\n", "\r\n\(key)\r", "\n\n\(key)\n\n",
            " \(key)\n", "\(key) \n", "\t\(key)\n", "\(key)\t\r\n", "\(key)\r\r\n", "\u{FEFF}\(key)\n", "  # comment\n\(key)\n", "\(key)\n   \n", "\(key) # c\n",
        ]
        var accepted = 0
        for (index, variant) in variants.enumerated() {
            let file = directory.appendingPathComponent("k\(index).txt")
            try Data(variant.utf8).write(to: file)
            let age = try await runTool("age", ["--decrypt", "-i", file.path, message.path])
            let ageAccepts = age.status == 0 && age.standardOutput == "hello"
            let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
            let ours = (try? AgeIdentityFile.parse(text)).map { $0.map(\.identity.encoded) == [key] } ?? false
            #expect(ours == ageAccepts, "variant \(index) \(variant.debugDescription): age \(ageAccepts ? "accepts" : "refuses"), fluxci \(ours ? "accepts" : "refuses")")
            if ageAccepts { accepted += 1 }
        }
        #expect(accepted >= 7, "the CRLF variants are accepted by age")
    }

    @Test func aRefusedLineIsNamed() {
        let key = X25519Identity.generate().encoded
        #expect(throws: AgeIdentityFile.LineError.self) { try AgeIdentityFile.parse("# c\r\n  \(key)\r\n") }
        do {
            _ = try AgeIdentityFile.parse("# c\r\n  \(key)\r\n")
        } catch {
            #expect(error.line == 2)
            #expect(!error.description.contains(key), "the key is never in a message")
        }
    }
}
