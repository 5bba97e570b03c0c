import Foundation
import Testing
import TestSupport

/// `fluxci sops verify/decrypt` on every store sops writes, named any way; plaintext Secrets;
/// expired keys with gpg's rules — as executables, against the real sops, age and gpg.
@Suite struct SOPSFormatsCommandTests {
    struct Repository {
        var root: URL
        var age: AgeKeyPair
        var other: AgeKeyPair

        func write(_ path: String, _ data: Data) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }

        /// The real sops encrypts `plain` as the store `name` says, then the file is renamed to
        /// `storedAs` (sops's own name-based choice no longer applies; fluxci must read content).
        func sopsEncrypt(_ name: String, _ plain: String, storedAs: String? = nil, recipient: String? = nil) async throws {
            try write(name, Data(plain.utf8))
            let url = root.appendingPathComponent(name)
            _ = try await SopsTool.run(["--encrypt", "--in-place", "--age", recipient ?? age.recipient, url.path])
            if let storedAs {
                let target = root.appendingPathComponent(storedAs)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.moveItem(at: url, to: target)
            }
        }
    }

    static func repository() async throws -> Repository {
        let root = try TestPaths.temporaryDirectory("fluxci-sopsfmt")
        removeAtExit(root)
        return Repository(root: root, age: try await AgeKeyPair.generate(), other: try await AgeKeyPair.generate())
    }

    static func run(_ root: URL, _ arguments: [String], environment: [String: String]) async throws -> ProcessResult {
        var variables = environment
        variables["TMPDIR"] = variables["TMPDIR"] ?? root.path
        variables["GITHUB_ACTIONS"] = "true"
        variables["HOME"] = variables["HOME"] ?? root.path
        return try await runProcess(TestPaths.executable("fluxci"), arguments, environment: variables, workingDirectory: root)
    }

    @Test func verifyFindsEveryStoreByContentWhateverItsName() async throws {
        let repo = try await Self.repository()
        try await repo.sopsEncrypt("app.env", "PASSWORD=hunter2-long\nUSER=admin\n", storedAs: "config/app-secrets.env")
        try await repo.sopsEncrypt("db.ini", "[db]\npassword = s3cret-value\n", storedAs: "config/db.ini")
        try await repo.sopsEncrypt("cert.bin", "-----BEGIN KEY-----\nbinary\u{0}payload\n", storedAs: "config/tls.key")
        try await repo.sopsEncrypt("settings.json", "{\"token\": \"abcdefgh\", \"port\": 443}", storedAs: "config/settings.json")
        try await repo.sopsEncrypt("values.yaml", "token: abcdefgh\n")
        try repo.write("README.md", Data("# not a secret\n".utf8))
        let environment = ["SOPS_AGE_KEY": repo.age.identity]
        let passed = try await Self.run(repo.root, ["sops", "verify"], environment: environment)
        #expect(passed.status == 0, "\(passed.allOutput)")
        for name in ["config/app-secrets.env", "config/db.ini", "config/tls.key", "config/settings.json", "values.yaml"] {
            #expect(passed.standardError.contains("✓ \(name)"), "\(name) verified: \(passed.standardError)")
        }
        #expect(!passed.standardError.contains("README.md"))

        // Found by content whatever the name, and read as sops reads it, by the name: a dotenv
        // file named without .env is read by sops (and by kustomize-controller for a generator)
        // as binary and fails, so it is an error, never skipped and never a pass.
        try await repo.sopsEncrypt("misnamed.env", "PASSWORD=hunter2-long\n", storedAs: "misnamed/app-secrets")
        let misnamed = try await Self.run(repo.root, ["sops", "verify", "misnamed"], environment: environment)
        #expect(misnamed.status != 0)
        #expect(misnamed.standardError.contains("title=Format chosen by the file name,file=misnamed/app-secrets,line=1"), "\(misnamed.standardError)")
        #expect(misnamed.standardError.contains("--input-type dotenv"), "\(misnamed.standardError)")

        // A tampered dotenv value fails verify (it was skipped before: a false pass).
        let url = repo.root.appendingPathComponent("config/app-secrets.env")
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: "USER=ENC", with: "USERX=ENC")
        try text.write(to: url, atomically: true, encoding: .utf8)
        let failed = try await Self.run(repo.root, ["sops", "verify", "config"], environment: environment)
        #expect(failed.status != 0)
        #expect(failed.standardError.contains("title=Value failed authentication,file=config/app-secrets.env,line=2"), "\(failed.standardError)")
    }

    @Test func decryptPrintsTheRawBytesOfABinaryFileAndMasks() async throws {
        let repo = try await Self.repository()
        let payload = "line-one-secret\nline\u{0}two\n"
        try await repo.sopsEncrypt("blob.bin", payload)
        try await repo.sopsEncrypt("app.env", "LONG_SECRET=a-long-secret-value\nSHORT=ab\n", storedAs: "app.txt")
        let environment = ["SOPS_AGE_KEY": repo.age.identity]
        let binary = try await Self.run(repo.root, ["sops", "decrypt", "blob.bin"], environment: environment)
        #expect(binary.status == 0, "\(binary.allOutput)")
        let expected = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("blob.bin").path], environment: environment)
        #expect(binary.standardOutput == expected && expected == payload, "raw bytes, as sops -d")
        #expect(binary.standardError.contains("::add-mask::line-one-secret"))

        // A dotenv file named .txt: sops reads it as binary (by its name) and fails; so does
        // fluxci, saying what the file is and how to fix it, and printing nothing of it.
        let misnamed = try await Self.run(repo.root, ["sops", "decrypt", "app.txt"], environment: environment)
        #expect(misnamed.status != 0)
        #expect(misnamed.standardOutput.isEmpty)
        #expect(misnamed.standardError.contains("title=Format chosen by the file name") && misnamed.standardError.contains("Rename it to end in .env"), "\(misnamed.standardError)")
        #expect(!misnamed.allOutput.contains("a-long-secret-value"))
        try FileManager.default.moveItem(at: repo.root.appendingPathComponent("app.txt"), to: repo.root.appendingPathComponent("app.env"))
        let dotenv = try await Self.run(repo.root, ["sops", "decrypt", "app.env"], environment: environment)
        #expect(dotenv.status == 0, "\(dotenv.allOutput)")
        #expect(dotenv.standardOutput == "LONG_SECRET=a-long-secret-value\nSHORT=ab\n")
        #expect(dotenv.standardError.contains("::add-mask::a-long-secret-value"))
        // The help says which values are not masked and why.
        let help = try await Self.run(repo.root, ["sops", "decrypt", "--help"], environment: [:])
        #expect(help.standardOutput.contains("shorter values"))
    }

    @Test func aPlaintextSecretACreationRuleCoversFails() async throws {
        let repo = try await Self.repository()
        try repo.write(".sops.yaml", Data("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: \(repo.age.recipient)\n".utf8))
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: not-yet-encrypted\n"
        try repo.write("secrets/db.yaml", Data(secret.utf8))
        try repo.write("apps/config.yaml", Data(secret.utf8))  // no rule covers it: not ours to judge
        let result = try await Self.run(repo.root, ["sops", "verify"], environment: ["SOPS_AGE_KEY": repo.age.identity])
        #expect(result.status != 0)
        #expect(result.standardError.contains("title=Plaintext Secret,file=secrets/db.yaml,line=6"), "\(result.standardError)")
        #expect(!result.standardError.contains("apps/config.yaml"))
        #expect(!result.allOutput.contains("not-yet-encrypted"), "the value is never printed")
    }

    @Test func namedPathsWithNothingToVerifyFail() async throws {
        let repo = try await Self.repository()
        try repo.write("plain/a.yaml", Data("a: b\n".utf8))
        let environment = ["SOPS_AGE_KEY": repo.age.identity]
        let folder = try await Self.run(repo.root, ["sops", "verify", "plain"], environment: environment)
        #expect(folder.status != 0)
        #expect(folder.standardError.contains("title=No SOPS files"))
        let file = try await Self.run(repo.root, ["sops", "verify", "plain/a.yaml"], environment: environment)
        #expect(file.status != 0)
        #expect(file.standardError.contains("title=Not a SOPS file,file=plain/a.yaml"))
        let unnamed = try await Self.run(repo.root, ["sops", "verify"], environment: environment)
        #expect(unnamed.status == 0, "no path: a warning only")
        #expect(unnamed.standardError.contains("::warning title=No SOPS files"))
    }

    /// An encryption subkey that expired after files were encrypted to it: gpg and sops still
    /// decrypt, so fluxci warns and decrypts; encrypting to it fails with a fix that names the
    /// subkey — the test runs that fix with the real gpg, exports again, imports, and encrypts.
    @Test func anExpiredSubkeyDecryptsAndItsFixWorks() async throws {
        let repo = try await Self.repository()
        let home = repo.root.appendingPathComponent("gnupg")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        chmod(home.path, 0o700)
        func gpg(_ arguments: [String]) async throws -> String { try await GPGFixtures.gpg(home, ["--passphrase", ""] + arguments).standardOutput }
        _ = try await gpg(["--quick-gen-key", "Expiring <exp@example.com>", "ed25519", "cert,sign", "never"])
        let listing = try await gpg(["--with-colons", "--list-keys", "exp@example.com"])
        let fingerprints = listing.split(separator: "\n").filter { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]) }
        let primary = try #require(fingerprints.first)
        _ = try await gpg(["--quick-add-key", primary, "cv25519", "encr", "never"])
        let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: expired-but-readable\n"
        try repo.write("secret.yaml", Data(plain.utf8))
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--pgp", primary, repo.root.appendingPathComponent("secret.yaml").path], environment: ["GNUPGHOME": home.path])
        let subkey = try #require(try await gpg(["--with-colons", "--list-keys", primary]).split(separator: "\n").filter { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]) }.last)
        _ = try await gpg(["--quick-set-expire", primary, "seconds=1", subkey])
        try await Task.sleep(for: .seconds(2))
        let expiredArmor = try await gpg(["--armor", "--export-secret-keys", primary])

        // Decrypts, with a warning (gpg and sops decrypt with an expired subkey too).
        let environment = ["SOPS_GPG_KEY": expiredArmor]
        let decrypted = try await Self.run(repo.root, ["sops", "decrypt", "secret.yaml"], environment: environment)
        #expect(decrypted.status == 0, "\(decrypted.allOutput)")
        #expect(decrypted.standardOutput.contains("expired-but-readable"))
        #expect(decrypted.standardError.contains("title=Expired SOPS key"))
        let sopsDecrypted = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("secret.yaml").path], environment: ["GNUPGHOME": home.path])
        #expect(sopsDecrypted.contains("expired-but-readable"), "sops decrypts with the expired subkey too")

        // Encrypting to it fails, and the fix names the subkey.
        try repo.write("new.yaml", Data(plain.utf8))
        let refused = try await Self.run(repo.root, ["sops", "encrypt", "--pgp", primary, "new.yaml"], environment: ["GNUPGHOME": home.path])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("title=Expired PGP key"), "\(refused.standardError)")
        let commands = refused.standardError.matches(of: /`(gpg --quick-set-expire [^`]+)`/).map { String($0.output.1) }
        #expect(commands.contains { $0.contains(subkey) }, "the fix names the expired subkey: \(commands)")
        #expect(!commands.contains { $0.contains("'*'") })
        for command in commands {
            let words = command.split(separator: " ").dropFirst().map(String.init)
            _ = try await gpg(words)
        }
        // Export again, import again: no warning, and encryption works.
        let renewed = try await gpg(["--armor", "--export-secret-keys", primary])
        let imported = try await Self.run(repo.root, ["sops", "decrypt", "secret.yaml"], environment: ["SOPS_GPG_KEY": renewed])
        #expect(imported.status == 0)
        #expect(!imported.standardError.contains("Expired"), "\(imported.standardError)")
        let encrypted = try await Self.run(repo.root, ["sops", "encrypt", "--pgp", primary, "new.yaml"], environment: ["GNUPGHOME": home.path])
        #expect(encrypted.status == 0, "\(encrypted.allOutput)")
        try repo.write("new.enc.yaml", Data(encrypted.standardOutput.utf8))
        let roundTrip = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("new.enc.yaml").path], environment: ["GNUPGHOME": home.path])
        #expect(roundTrip.contains("expired-but-readable"))
    }

    /// No key given: the keys where sops looks (the default age key file, here with CRLF line
    /// ends; the user's GnuPG home, in place), and the output says which opened the file. With
    /// keys from the environment, .secrets/ is not merged in.
    @Test func keysWhereSopsFindsThemAndNoSilentMerge() async throws {
        let repo = try await Self.repository()
        let home = repo.root.appendingPathComponent("home")
        let keysFile = home.appendingPathComponent(".config/sops/age/keys.txt")
        try FileManager.default.createDirectory(at: keysFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("# created: today\r\n# public key: \(repo.age.recipient)\r\n\(repo.age.identity)\r\n".utf8).write(to: keysFile)
        try await repo.sopsEncrypt("app.yaml", "password: laptop-secret-value\n")
        let sopsOutput = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("app.yaml").path], environment: ["HOME": home.path])
        #expect(sopsOutput.contains("laptop-secret-value"), "sops finds the default key file")
        let laptop = try await Self.run(repo.root, ["sops", "decrypt", "app.yaml"], environment: ["HOME": home.path])
        #expect(laptop.status == 0, "\(laptop.allOutput)")
        #expect(laptop.standardOutput == sopsOutput)
        #expect(laptop.standardError.contains("Opened app.yaml with \(repo.age.recipient) (\(keysFile.path))"), "\(laptop.standardError)")

        // The user's GnuPG home, used in place.
        let gnupg = repo.root.appendingPathComponent("gnupg")
        try FileManager.default.createDirectory(at: gnupg, withIntermediateDirectories: true)
        chmod(gnupg.path, 0o700)
        _ = try await GPGFixtures.gpg(gnupg, ["--passphrase", "", "--quick-gen-key", "Laptop <laptop@example.com>", "ed25519", "cert,sign", "never"])
        let fingerprint = try #require(try await GPGFixtures.gpg(gnupg, ["--with-colons", "--list-keys"]).standardOutput.split(separator: "\n").first { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]) })
        _ = try await GPGFixtures.gpg(gnupg, ["--passphrase", "", "--quick-add-key", fingerprint, "cv25519", "encr", "never"])
        try repo.write("pgp.yaml", Data("password: pgp-secret-value\n".utf8))
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--pgp", fingerprint, repo.root.appendingPathComponent("pgp.yaml").path], environment: ["GNUPGHOME": gnupg.path])
        let secretFiles = try FileManager.default.subpathsOfDirectory(atPath: gnupg.path).count
        let viaKeyring = try await Self.run(repo.root, ["sops", "decrypt", "pgp.yaml"], environment: ["HOME": repo.root.path, "GNUPGHOME": gnupg.path])
        #expect(viaKeyring.status == 0, "\(viaKeyring.allOutput)")
        #expect(viaKeyring.standardOutput.contains("pgp-secret-value"))
        #expect(viaKeyring.standardError.contains("your GnuPG keyring \(gnupg.path)"), "\(viaKeyring.standardError)")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: gnupg.path).count >= secretFiles)

        // CI: keys from the environment; a file only .secrets/ could open is not opened.
        try repo.write(".secrets/kind/local/age/age.agekey", Data("\(repo.other.identity)\n".utf8))
        try await repo.sopsEncrypt("other.yaml", "password: other-secret-value\n", recipient: repo.other.recipient)
        let ci = try await Self.run(repo.root, ["sops", "decrypt", "other.yaml"], environment: ["SOPS_AGE_KEY": repo.age.identity, "HOME": home.path])
        #expect(ci.status != 0, "keys from the environment are the run's keys: .secrets/ is not merged in")
        #expect(ci.standardError.contains("Key \(repo.age.recipient) from SOPS_AGE_KEY."))
        // No key given: .secrets/ is read, and says so.
        let local = try await Self.run(repo.root, ["sops", "decrypt", "other.yaml"], environment: ["HOME": repo.root.path])
        #expect(local.status == 0, "\(local.allOutput)")
        #expect(local.standardError.contains("Opened other.yaml with \(repo.other.recipient) (.secrets/kind/local/age/age.agekey)"), "\(local.standardError)")
        // Nothing anywhere: the error says where it looked.
        let elsewhere = try TestPaths.temporaryDirectory("fluxci-nokeys")
        removeAtExit(elsewhere)
        let empty = try await Self.run(elsewhere, ["sops", "decrypt", repo.root.appendingPathComponent("app.yaml").path], environment: ["HOME": elsewhere.path])
        #expect(empty.status != 0)
        #expect(empty.standardError.contains("title=No SOPS keys"))
        // tester t11 F8: what was given but gave nothing is named, and the fix does not tell to
        // pass the --cloud and --env that were passed.
        let asked = try await Self.run(
            elsewhere, ["sops", "verify", "--cloud", "aws", "--env", "prod", repo.root.appendingPathComponent("app.yaml").path],
            environment: ["HOME": elsewhere.path, "SOPS_AGE_KEY": ""])
        #expect(asked.status != 0)
        let error = try #require(asked.standardError.split(separator: "\n").first { $0.hasPrefix("::error") }.map(String.init), "\(asked.allOutput)")
        #expect(error.contains("title=No SOPS keys") && error.contains("SOPS_AGE_KEY is set but empty") && error.contains(".secrets/aws/prod/ does not exist"), "\(error)")
        #expect(error.contains("secrets.SOPS_AGE_KEY") && error.contains("fluxci keys new --cloud aws --env prod --age"), "\(error)")
        #expect(!error.contains("pass --cloud and --env"), "\(error)")
    }
}
