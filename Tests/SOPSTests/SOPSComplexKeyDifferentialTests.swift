import Foundation
import Testing
import TestSupport

@testable import SOPS

/// Keys go-yaml writes as `? key` (a line break, U+2028/U+2029, or more than 128 bytes) whose
/// value is a collection, against the real sops, byte for byte, both directions
/// (`SOPSDifferentialTests.compare`: sops encrypts → fluxci decrypts; fluxci encrypts →
/// `sops -d`; the encrypted files masked). Every key kind × every value shape (mappings and
/// sequences starting with one or two comments, with a comment in the middle, nested, a
/// sequence of mappings or of sequences, a comment after the key, none) × every place (top level,
/// nested in a mapping, first and later key of a sequence item), with comments encrypted (sops's
/// default) and left in the clear. go-yaml's emitter writes a collection's leading comment on the
/// `:` line, padded to the value's indentation (`yaml_emitter_process_head_comment`).
@Suite(.serialized) struct SOPSComplexKeyDifferentialTests {
    static let keys = ["\"k\\u2028ey\"", "\"multi\\nline\"", "\"p\\u2029\"", String(repeating: "l", count: 130), "\"nel\\u0085key\""]

    /// Value shapes after `key:`, `{i}` being the key's indentation.
    static let values = [
        "\n{i}  # c1\n{i}  x: 1\n{i}  y: 2",
        "\n{i}  # c1\n{i}  # c2\n{i}  x: 1\n{i}  # mid\n{i}  y:\n{i}    - 1",
        "\n{i}  # s1\n{i}  - a\n{i}  - b",
        "\n{i}  # s1\n{i}  # s2\n{i}  - a",
        "\n{i}  # s1\n{i}  - k: v\n{i}    j: w",
        "\n{i}  # only\n{i}  k: v",
        "\n{i}  # c1\n{i}  inner:\n{i}    # c2\n{i}    x: 1",
        "\n{i}  # s1\n{i}  - - a\n{i}    - b",
        " # t\n{i}  x: 1",
        "\n{i}  x: 1\n{i}  # foot",
        "\n{i}  - a # line\n{i}  # between\n{i}  - b",
        "\n{i}  x: 1",
    ]

    static func cases() -> [(name: String, text: String)] {
        var cases: [(String, String)] = []
        for (k, key) in keys.enumerated() {
            for (v, value) in values.enumerated() {
                func shape(_ indent: String) -> String { value.replacingOccurrences(of: "{i}", with: indent) }
                cases.append(("top-k\(k)-v\(v)", "\(key):" + shape("") + "\nafter: 1\n"))
                cases.append(("nested-k\(k)-v\(v)", "top:\n  \(key):" + shape("  ") + "\n  other: 2\n"))
                cases.append(("item-k\(k)-v\(v)", "list:\n  - \(key):" + shape("    ") + "\n    z: 1\n"))
                cases.append(("item-later-k\(k)-v\(v)", "list:\n  - a: 1\n    \(key):" + shape("    ") + "\n"))
            }
        }
        return cases
    }

    /// sops's default (comments encrypted) and comments in the clear.
    static let settings = [
        SOPSDifferentialTests.Setting(flags: [], rule: .unencryptedSuffix("_unencrypted")),
        SOPSDifferentialTests.Setting(flags: ["--unencrypted-comment-regex", "^ "], rule: .unencryptedCommentRegex("^ ")),
    ]

    @Test(arguments: 0..<2) func collectionsUnderComplexKeysMatchSops(_ setting: Int) async throws {
        let context = try await SOPSDifferentialTests.context()
        var mismatches: [SOPSDifferentialTests.Mismatch] = []
        let cases = Self.cases()
        for (name, text) in cases {
            mismatches += try await SOPSDifferentialTests().compare(context, name: "\(name)-\(setting).yaml", text: text, setting: Self.settings[setting], format: .yaml)
        }
        #expect(cases.count == 240)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(3).map(\.description).joined(separator: "\n\n"))")
    }
}
