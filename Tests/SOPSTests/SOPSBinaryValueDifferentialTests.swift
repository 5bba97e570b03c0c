import Age
import Foundation
import Testing
import TestSupport

@testable import SOPS

extension SOPSDocumentGenerator {
    /// Bytes for a `!!binary` value: mostly not UTF-8 (a lone continuation byte, a truncated
    /// sequence, an encoded surrogate, an overlong form, 0xFE/0xFF, beside ASCII and valid
    /// multi-byte text), sometimes valid UTF-8; lengths on both sides of the 70-character line
    /// of go-yaml's base64 (52 bytes), empty included.
    mutating func binaryBytes() -> [UInt8] {
        let pieces: [[UInt8]] = [[0x80], [0xBF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF8], [0xFE], [0xFF], [0xF4, 0x90, 0x80, 0x80],
            Array("abc".utf8), Array("é".utf8), Array("€".utf8), Array("😀".utf8), [0x00], [0x0A], [0x22], [0x5C]]
        let target = pick([0, 1, 2, 3, 10, 30, 51, 52, 53, 60, 105, 160])
        var bytes: [UInt8] = []
        while bytes.count < target { bytes += pick(pieces) }
        return bytes
    }

    /// A `!!binary` scalar as input text: base64 plain, double-quoted, or (long ones, where
    /// `block` allows it: a literal block needs its indentation, and no flow collection around
    /// it) a literal block wrapped at 60 columns.
    mutating func binaryScalar(indent: Int = 0, block: Bool = true) -> String {
        let encoded = Data(binaryBytes()).base64EncodedString()
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return "!!binary \"\(encoded)\""
        case 1 where block && encoded.count > 60:
            var lines: [String] = []
            var rest = Substring(encoded)
            while !rest.isEmpty {
                lines.append(String(repeating: " ", count: indent + 2) + rest.prefix(60))
                rest = rest.dropFirst(60)
            }
            return "!!binary |\n" + lines.joined(separator: "\n")
        default: return encoded.isEmpty ? "!!binary \"\"" : "!!binary " + encoded
        }
    }
}

/// `!!binary` values whose bytes are not UTF-8, against the real sops (the Go binary), byte for
/// byte. go-yaml decodes `!!binary` into a Go string of any bytes; sops encrypts and hashes those
/// bytes and writes a string that is not UTF-8 back as `!!binary` base64 (70-column lines in a
/// literal block once long) in YAML, and each invalid byte as `\ufffd` in JSON. Generated files
/// (values in mappings, sequences and nested mappings, encrypted and left in the clear by each
/// rule) go both ways: sops encrypts → fluxci decrypts, fluxci encrypts → `sops -d` (and the
/// encrypted files masked); then rotate and updatekeys against sops's; then JSON output (a file
/// sops wrote with `--output-type json`) decrypted and rotated.
@Suite(.serialized) struct SOPSBinaryValueDifferentialTests {
    static var files: Int { max(SOPSDifferentialTests.count / 40, 10) }

    /// A YAML file whose values are mostly `!!binary`, at every place a value can be.
    static func yamlFile(_ generator: inout SOPSDocumentGenerator, json: Bool = false) -> String {
        var lines: [String] = []
        let count = Int.random(in: 2...6, using: &generator.random)
        // For JSON output every value is encrypted: sops writes an unencrypted one lossily
        // (`\ufffd`), so its own `sops -d` of that file fails the MAC.
        let keys = json ? ["k1", "data", "secret", "k3", "name", "k7"] : ["k1", "plain", "data", "secret", "name_unencrypted", "k2", "k5", "value_enc"]
        for key in keys.prefix(count) {
            if generator.chance(15) { lines.append("# about \(key)") }
            switch Int.random(in: 0..<10, using: &generator.random) {
            case 0..<5: lines.append("\(key): " + generator.binaryScalar(indent: 0))
            case 5..<7:
                lines.append("\(key):")
                for _ in 0..<Int.random(in: 1...3, using: &generator.random) { lines.append("  - " + generator.binaryScalar(indent: 2)) }
            case 7..<9:
                lines.append("\(key):")
                lines.append("  inner: " + generator.binaryScalar(indent: 2))
                lines.append("  k4: plain text")
            default: lines.append("\(key): text \(Int.random(in: 0..<100, using: &generator.random))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func yamlBothDirectionsMatchSops() async throws {
        let context = try await SOPSDifferentialTests.context()
        var generator = SOPSDocumentGenerator(seed: SOPSDifferentialTests.seed ^ 0xB1_4A27)
        var mismatches: [SOPSDifferentialTests.Mismatch] = []
        for file in 0..<Self.files {
            let text = Self.yamlFile(&generator)
            let setting = SOPSDifferentialTests.settings[file % SOPSDifferentialTests.settings.count]
            mismatches += try await SOPSDifferentialTests().compare(context, name: "binary-\(file).yaml", text: text, setting: setting, format: .yaml)
        }
        #expect(mismatches.isEmpty, "seed \(SOPSDifferentialTests.seed):\n\(mismatches.prefix(3).map(\.description).joined(separator: "\n\n"))")
    }

    @Test func rotateAndUpdateKeysMatchSops() async throws {
        let context = try await SOPSFormatsDifferentialTests.context()
        let second = try await AgeKeyPair.generate()
        var generator = SOPSDocumentGenerator(seed: SOPSDifferentialTests.seed ^ 0x207A7E)
        var total = SOPSRekeyDifferentialTests.Outcome()
        let settings = SOPSFormatsDifferentialTests.settings
        for file in 0..<Self.files {
            let text = Self.yamlFile(&generator)
            let outcome = try await SOPSRekeyDifferentialTests.compare(
                context, second: second, name: "binary-\(file).yaml", plain: Array(text.utf8), setting: settings[file % settings.count])
            total.files += outcome.files
            total.mismatches += outcome.mismatches
        }
        #expect(total.files == Self.files, "sops refused some generated files")
        #expect(total.mismatches.isEmpty, "\(total.mismatches.prefix(3).joined(separator: "\n\n"))")
    }

    /// sops writes the file as JSON (`--output-type json`): fluxci's decryption prints what
    /// `sops -d` prints (each invalid byte `\ufffd`), and a rotation by fluxci decrypts with sops
    /// to the same.
    @Test func jsonOutputMatchesSops() async throws {
        let context = try await SOPSFormatsDifferentialTests.context()
        var generator = SOPSDocumentGenerator(seed: SOPSDifferentialTests.seed ^ 0x150B)
        var mismatches: [String] = []
        var invalidSeen = 0
        for file in 0..<Self.files {
            let text = Self.yamlFile(&generator, json: true)
            let input = try context.write("json-\(file).yaml", Array(text.utf8))
            guard let encrypted = await context.sops(["--encrypt", "--age", context.age.recipient, "--output-type", "json"], input: input, output: "json-\(file).json"),
                let theirs = await context.sops(["--decrypt"], input: context.directory.appendingPathComponent("json-\(file).json"), output: "json-\(file).dec.json")
            else {
                mismatches.append("sops failed on json-\(file):\n\(text)")
                continue
            }
            if String(decoding: theirs, as: UTF8.self).contains("\\ufffd") { invalidSeen += 1 }
            guard let stored = try StoredSOPSFile(bytes: Data(encrypted), path: "json-\(file).json") else {
                mismatches.append("json-\(file): not recognised")
                continue
            }
            let decrypted = try stored.decrypt(with: context.keys)
            let ours = Array(TreeEmitter.json(decrypted.documents.map(\.tree)).utf8)
            if ours != theirs { mismatches.append("decrypt json-\(file):\n--- input\n\(text)\n--- fluxci\n\(String(decoding: ours, as: UTF8.self))\n--- sops\n\(String(decoding: theirs, as: UTF8.self))") }
            let rotated = try stored.rotated(with: context.keys, for: Recipients(groups: [.init(age: [context.age.recipient])]), keyring: nil).bytes
            let rotatedURL = try context.write("json-\(file).rot.json", rotated)
            let again = await context.sops(["--decrypt"], input: rotatedURL, output: "json-\(file).rot.dec.json")
            if again != theirs { mismatches.append("sops -d of fluxci's rotated json-\(file): \(again.map { String(decoding: $0, as: UTF8.self) } ?? "failed")") }
        }
        #expect(invalidSeen > 0, "no generated value reached JSON output as invalid UTF-8")
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3).joined(separator: "\n\n"))")
    }

    /// The values hold the bytes (not text with U+FFFD): each leaf's Go value, the MAC's input,
    /// is the decoded base64, so a value of one invalid byte differs from the one of another.
    @Test func valuesKeepTheirBytes() throws {
        let documents = try TreeReader.documents("a: !!binary /w==\nb: !!binary /g==\nc: !!binary 4oI=\nd: !!binary aGVsbG8=\n", mode: .encrypt)
        guard case .mapping(let entries, _) = documents.first else { Issue.record("not a mapping"); return }
        let values = entries.map { entry -> GoValue? in if case .scalar(let scalar) = entry.value { scalar.value } else { nil } }
        #expect(values == [.binary([0xFF]), .binary([0xFE]), .binary([0xE2, 0x82]), .string("hello")])
        // Written back as go-yaml writes them.
        #expect(YAMLEmitter.emit(documents) == "a: !!binary /w==\nb: !!binary /g==\nc: !!binary 4oI=\nd: hello\n")
        #expect(JSONStore.emit(documents) == "{\n\t\"a\": \"\\ufffd\",\n\t\"b\": \"\\ufffd\",\n\t\"c\": \"\\ufffd\\ufffd\",\n\t\"d\": \"hello\"\n}\n")
    }

    /// A key of bytes that are not UTF-8 (`!!binary /w==: x`) is refused at its line: fluxci
    /// holds keys as text.
    @Test func binaryKeyThatIsNotUTF8IsRefusedAtItsLine() {
        #expect(throws: TreeError(message: "a !!binary key whose bytes are not UTF-8 text is not supported by fluxci (sops keeps such a key); use sops for this file, or a text key", line: 2)) {
            _ = try TreeReader.documents("k1: 1\n!!binary /w==: x\n", mode: .encrypt)
        }
    }
}
