import Foundation
import Testing
import TestSupport

/// Tester t4 finding 14 and its neighbours: every command that rewrites a SOPS file in place
/// (`encrypt --in-place`, `rotate`, `updatekeys`) leaves the file's mode as the real sops leaves
/// it, for every store — each command run on two copies, one by sops, one by fluxci.
@Suite struct SOPSFileModeTests {
    typealias Scratch = SOPSKeySourcesTests.Scratch

    static func mode(_ url: URL) throws -> Int? { (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue }

    @Test func inPlaceCommandsKeepTheModeAsSopsDoes() async throws {
        let scratch = try Scratch("fluxci-file-modes")
        let age = try await AgeKeyPair.generate()
        let second = try await AgeKeyPair.generate()
        let environment = ["SOPS_AGE_KEY": age.identity + "\n" + second.identity]
        let plain: [(String, String)] = [("a.yaml", "a: mode-secret\n"), ("b.json", "{\"b\": \"mode-secret\"}"), ("c.env", "C=mode-secret\n"), ("d.ini", "[s]\nd = mode-secret\n"), ("e.bin", "mode-secret bytes")]
        var compared = 0
        for mode in [0o644, 0o640, 0o600] {
            for (name, text) in plain {
                let copies = ["sops", "fluxci"].map { scratch.root.appendingPathComponent("\($0)-\(String(mode, radix: 8))-\(name)") }
                for copy in copies {
                    try Data(text.utf8).write(to: copy)
                    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: copy.path)
                }
                // The rule for updatekeys: both keys.
                try scratch.write(".sops.yaml", "creation_rules:\n  - age: \(age.recipient)\n")
                let steps: [(sops: [String], fluxci: [String], rule: String?)] = [
                    (["--encrypt", "--in-place"], ["sops", "encrypt", "--in-place"], nil),
                    (["rotate", "--in-place"], ["sops", "rotate"], nil),
                    (["updatekeys", "--yes"], ["sops", "updatekeys"], "creation_rules:\n  - age: \(age.recipient),\(second.recipient)\n"),
                ]
                for step in steps {
                    if let rule = step.rule { try scratch.write(".sops.yaml", rule) }
                    let theirs = try await scratch.sops(step.sops + [copies[0].path], environment: environment)
                    #expect(theirs.status == 0, "sops \(step.sops) \(name): \(theirs.standardError)")
                    let ours = try await scratch.fluxci(step.fluxci + [copies[1].path], environment: environment)
                    #expect(ours.status == 0, "fluxci \(step.fluxci) \(name): \(ours.allOutput)")
                    let (sopsMode, fluxciMode) = (try Self.mode(copies[0]), try Self.mode(copies[1]))
                    #expect(sopsMode == fluxciMode && fluxciMode == mode, "\(step.fluxci) on \(name) at \(String(mode, radix: 8)): sops \(sopsMode.map { String($0, radix: 8) } ?? "?"), fluxci \(fluxciMode.map { String($0, radix: 8) } ?? "?")")
                    compared += 1
                }
            }
        }
        #expect(compared == 45)
    }
}
