import Foundation
import Testing
import TestSupport

/// Tester t4 finding 13: the class and the fix of a file stored in another format than its name
/// makes sops read, and the verdict of a folder where nothing verified — each against what the
/// real sops does with the same file (the fix is run with sops to prove it works).
@Suite struct SOPSFormatMessagesTests {
    /// Exit status of the real sops, with the file's keys.
    static func sops(_ arguments: [String], age: AgeKeyPair, in root: URL) async throws -> ProcessResult {
        try await runProcess(try await SopsTool.path(), arguments, environment: ["SOPS_AGE_KEY": age.identity], workingDirectory: root)
    }

    /// A JSON SOPS file named `.txt`: sops reads it as binary and exits 4 ("no binary data
    /// found in tree"); fluxci says it is JSON read as binary because of its name — not "Not a
    /// SOPS file … encrypt it" (encrypting it again would wrap the ciphertext) — and its fix
    /// (`--input-type/--output-type json`, or the .json name) makes the real sops decrypt it.
    @Test func aJSONSOPSFileUnderAnotherNameIsCalledJSON() async throws {
        let repo = try await SOPSFormatsCommandTests.repository()
        try await repo.sopsEncrypt("d/j.json", "{\"token\": \"secret-token-value\"}", storedAs: "d/jsonfile.txt")
        let byName = try await Self.sops(["-d", "d/jsonfile.txt"], age: repo.age, in: repo.root)
        #expect(byName.status != 0, "sops fails on it by its name")
        let result = try await SOPSFormatsCommandTests.run(repo.root, ["sops", "verify", "d/jsonfile.txt"], environment: ["SOPS_AGE_KEY": repo.age.identity])
        #expect(result.status != 0)
        #expect(result.standardError.contains("title=Format chosen by the file name,file=d/jsonfile.txt"), "\(result.allOutput)")
        #expect(result.standardError.contains("Sops reads this file as binary because of its name, but it is json"), "\(result.allOutput)")
        #expect(!result.standardError.contains("Not a SOPS file") && !result.standardError.contains("sops --encrypt"), "\(result.allOutput)")
        #expect(!result.allOutput.contains("secret-token-value"))
        // The fix it names, run with the real sops.
        let fix = try #require(result.standardError.firstMatch(of: /`(sops -d --input-type json --output-type json [^`]+)`/)?.output.1)
        let fixed = try await Self.sops(fix.split(separator: " ").dropFirst().map(String.init), age: repo.age, in: repo.root)
        #expect(fixed.status == 0, "\(fixed.standardError)")
        #expect(fixed.standardOutput.contains("secret-token-value"))
        #expect(result.standardError.contains("Rename it to end in .json"))
        try FileManager.default.moveItem(at: repo.root.appendingPathComponent("d/jsonfile.txt"), to: repo.root.appendingPathComponent("d/renamed.json"))
        let renamed = try await SOPSFormatsCommandTests.run(repo.root, ["sops", "verify", "d/renamed.json"], environment: ["SOPS_AGE_KEY": repo.age.identity])
        #expect(renamed.status == 0, "\(renamed.allOutput)")
        #expect(try await Self.sops(["-d", "d/renamed.json"], age: repo.age, in: repo.root).status == 0)
    }

    /// A SOPS file whose `mac:` line was deleted: sops exits 51, "MAC mismatch. File has no
    /// MAC"; fluxci said "Not a SOPS file … encrypt it" (which would encrypt the ciphertext
    /// again). It says the MAC is missing, at the sops block, with a fix sops accepts.
    @Test func aSOPSFileWithoutItsMACIsNotCalledPlaintext() async throws {
        let repo = try await SOPSFormatsCommandTests.repository()
        try await repo.sopsEncrypt("t7.yaml", "password: mac-less-secret\nuser: admin\n")
        let url = repo.root.appendingPathComponent("t7.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        try text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("    mac: ") }.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        let sops = try await Self.sops(["-d", "t7.yaml"], age: repo.age, in: repo.root)
        #expect(sops.status == 51 && sops.standardError.contains("File has no MAC"), "\(sops.standardError)")
        #expect(try await Self.sops(["-d", "--ignore-mac", "t7.yaml"], age: repo.age, in: repo.root).status == 0, "the fix's --ignore-mac opens it")
        let sopsLine = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0 == "sops:" }.map { $0 + 1 }
        for command in [["sops", "decrypt", "t7.yaml"], ["sops", "verify", "t7.yaml"]] {
            let result = try await SOPSFormatsCommandTests.run(repo.root, command, environment: ["SOPS_AGE_KEY": repo.age.identity])
            #expect(result.status != 0)
            #expect(result.standardError.contains("title=MAC missing,file=t7.yaml,line=\(sopsLine ?? 0)"), "\(result.allOutput)")
            #expect(result.standardError.contains("sops edit --ignore-mac t7.yaml"))
            #expect(!result.standardError.contains("Not a SOPS file") && !result.standardError.contains("encrypt --in-place"), "\(result.allOutput)")
            #expect(!result.allOutput.contains("mac-less-secret"))
        }
    }

    /// An ini SOPS file named `.conf` is read as binary (JSON) by sops, which stops at the
    /// section's first character ("invalid character 's' looking for beginning of value"); the
    /// message says ini, and nothing about a JSON array to wrap. A folder of such files and a
    /// MAC failure, with the right keys: "Nothing verified" says what failed, not "Import the keys".
    @Test func aFolderWhereEveryFileFailedSaysWhatFailed() async throws {
        let repo = try await SOPSFormatsCommandTests.repository()
        try await repo.sopsEncrypt("d2/i.ini", "[s]\na = 1\n", storedAs: "d2/ini.conf")
        try await repo.sopsEncrypt("d2/y.yaml", "a: 1\nb: two\n", storedAs: "d2/yaml.txt")
        try await repo.sopsEncrypt("d2/m.yaml", "a: 1\nb_unencrypted: two\n")
        let mac = repo.root.appendingPathComponent("d2/m.yaml")
        try (try String(contentsOf: mac, encoding: .utf8)).replacingOccurrences(of: "b_unencrypted: two", with: "b_unencrypted: three").write(to: mac, atomically: true, encoding: .utf8)
        for file in ["d2/ini.conf", "d2/yaml.txt", "d2/m.yaml"] {
            #expect(try await Self.sops(["-d", file], age: repo.age, in: repo.root).status != 0, "sops fails on \(file)")
        }
        let ini = try await Self.sops(["-d", "d2/ini.conf"], age: repo.age, in: repo.root)
        #expect(ini.standardError.contains("invalid character 's' looking for beginning of value"), "\(ini.standardError)")
        let result = try await SOPSFormatsCommandTests.run(repo.root, ["sops", "verify", "d2"], environment: ["SOPS_AGE_KEY": repo.age.identity])
        #expect(result.status != 0)
        let iniLine = result.standardError.split(separator: "\n").first { $0.contains("file=d2/ini.conf") }.map(String.init) ?? ""
        #expect(iniLine.contains("but it is ini") && iniLine.contains("invalid character 's' looking for beginning of value"), "\(iniLine)")
        #expect(!iniLine.contains("array"), "\(iniLine)")
        #expect(result.standardError.contains("title=MAC mismatch,file=d2/m.yaml"), "\(result.allOutput)")
        let verdict = result.standardError.split(separator: "\n").first { $0.contains("title=Nothing verified") }.map(String.init) ?? ""
        #expect(verdict.contains("3 failed") && verdict.contains("MAC mismatch") && verdict.contains("Format chosen by the file name"), "\(verdict)")
        #expect(!verdict.contains("Import the keys"), "\(verdict)")
        // Only foreign files: then the keys are what is missing.
        let other = try await SOPSFormatsCommandTests.run(repo.root, ["sops", "verify", "--allow-foreign", "d2/m.yaml"], environment: ["SOPS_AGE_KEY": repo.other.identity])
        #expect(other.standardError.contains("Import the keys"), "\(other.allOutput)")
    }
}
