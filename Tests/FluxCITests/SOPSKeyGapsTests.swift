import Foundation
import Testing
import TestSupport

/// Keys as sops 3.11 and age read them (issue 14, the key gaps), each against the real sops on the
/// same files and environment: an age key file holding no identity, a relative
/// SOPS_AGE_KEY_FILE (from the current directory), and SSH keys fluxci cannot use (ssh-rsa, a
/// passphrase), which must be named, never passed over in silence.
@Suite struct SOPSKeyGapsTests {
    typealias Scratch = SOPSKeySourcesTests.Scratch

    /// sops goes on past an empty or comment-only SOPS_AGE_KEY_FILE (age itself refuses one:
    /// "no secret keys found"); alone, it is no key at all.
    @Test func anAgeKeyFileWithNoIdentityIsSkippedAsSopsSkipsIt() async throws {
        let scratch = try Scratch("fluxci-empty-keyfile")
        let age = try await AgeKeyPair.generate()
        try scratch.write("db.yaml", SOPSKeySourcesTests.secret)
        #expect(try await scratch.sops(["--encrypt", "--age", age.recipient, "--in-place", "db.yaml"]).status == 0)
        for (name, content) in [("empty.txt", ""), ("comment.txt", "# created: never\n"), ("blank.txt", "\n\n")] {
            try scratch.write(name, content)
            let path = scratch.root.appendingPathComponent(name).path
            let beside = ["SOPS_AGE_KEY_FILE": path, "SOPS_AGE_KEY": age.identity]
            let sops = try await scratch.sops(["--decrypt", "db.yaml"], environment: beside)
            #expect(sops.status == 0, "\(name): \(sops.standardError)")
            let ours = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: beside)
            #expect(ours.status == 0, "\(name): \(ours.standardError)")
            #expect(ours.standardOutput == sops.standardOutput)
            #expect(ours.standardError.contains("\(path) holds no age identity: skipped, as sops skips it"), "\(ours.standardError)")
            // The CI import goes on with the other key too.
            let imported = try await scratch.fluxci(["keys", "import"], environment: beside)
            #expect(imported.status == 0, "\(name): \(imported.standardError)")
            // Alone: both fail.
            let alone = ["SOPS_AGE_KEY_FILE": path]
            #expect(try await scratch.sops(["--decrypt", "db.yaml"], environment: alone).status != 0)
            let oursAlone = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: alone)
            #expect(oursAlone.status != 0)
            #expect(oursAlone.standardError.contains("holds no age identity"), "\(oursAlone.standardError)")
        }
        // An empty SOPS_AGE_KEY beside a key file: sops uses the file, and so does fluxci.
        try scratch.write("keys.txt", age.identity + "\n")
        let emptyVariable = ["SOPS_AGE_KEY": "", "SOPS_AGE_KEY_FILE": scratch.root.appendingPathComponent("keys.txt").path]
        #expect(try await scratch.sops(["--decrypt", "db.yaml"], environment: emptyVariable).status == 0)
        let ours = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: emptyVariable)
        #expect(ours.status == 0, "\(ours.standardError)")
    }

    /// sops opens a relative SOPS_AGE_KEY_FILE from the current directory; fluxci did from the
    /// repository root (GITHUB_WORKSPACE), which differs in a job step with `working-directory:`.
    @Test func aRelativeKeyFileIsReadFromTheCurrentDirectory() async throws {
        let scratch = try Scratch("fluxci-relative-keyfile")
        let age = try await AgeKeyPair.generate()
        try scratch.write("db.yaml", SOPSKeySourcesTests.secret)
        #expect(try await scratch.sops(["--encrypt", "--age", age.recipient, "--in-place", "db.yaml"]).status == 0)
        try scratch.write("sub/keys.txt", age.identity + "\n")
        let sub = scratch.root.appendingPathComponent("sub")
        let environment = ["SOPS_AGE_KEY_FILE": "keys.txt", "GITHUB_WORKSPACE": scratch.root.path]
        let sops = try await scratch.sops(["--decrypt", "../db.yaml"], environment: environment, in: sub)
        #expect(sops.status == 0, "\(sops.standardError)")
        let imported = try await scratch.fluxci(["keys", "import"], environment: environment, in: sub)
        #expect(imported.status == 0, "\(imported.standardError)")
        #expect(imported.standardError.contains(age.recipient) || imported.standardOutput.contains(age.recipient), "\(imported.allOutput)")
        #expect(!imported.standardError.contains("does not exist"), "\(imported.standardError)")
        // A relative path that exists only at the repository root is not read (nor by sops).
        try FileManager.default.moveItem(at: sub.appendingPathComponent("keys.txt"), to: scratch.root.appendingPathComponent("keys.txt"))
        #expect(try await scratch.sops(["--decrypt", "../db.yaml"], environment: environment, in: sub).status != 0)
        let rootOnly = try await scratch.fluxci(["keys", "import"], environment: environment, in: sub)
        #expect(rootOnly.status != 0)
        #expect(rootOnly.standardError.contains("SOPS_AGE_KEY_FILE points at keys.txt, which does not exist"), "\(rootOnly.standardError)")
        _ = try? await scratch.fluxci(["keys", "cleanup"], in: sub)
    }

    /// An ssh-rsa key: sops 3.11 reads `~/.ssh/id_rsa` and decrypts; fluxci cannot (age's ssh-rsa
    /// stanza is RSA-OAEP with a label swift-crypto's OAEP does not take) and says so, naming the
    /// key file and what to do. A passphrase-protected ssh-ed25519 key: sops asks on the terminal
    /// and, without one, fails naming the file; fluxci fails naming it too.
    @Test func sshKeysFluxciCannotUseAreNamed() async throws {
        let scratch = try Scratch("fluxci-ssh-gaps")
        let ssh = scratch.home.appendingPathComponent(".ssh")
        try FileManager.default.createDirectory(at: ssh, withIntermediateDirectories: true)
        let rsa = ssh.appendingPathComponent("id_rsa").path
        #expect(try await runTool("ssh-keygen", ["-t", "rsa", "-b", "2048", "-N", "", "-q", "-f", rsa]).status == 0)
        let rsaPublic = try String(contentsOfFile: rsa + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try scratch.write("rsa.yaml", SOPSKeySourcesTests.secret)
        #expect(try await scratch.sops(["--encrypt", "--age", rsaPublic, "--in-place", "rsa.yaml"]).status == 0)
        let sops = try await scratch.sops(["--decrypt", "rsa.yaml"])
        #expect(sops.status == 0, "sops reads ~/.ssh/id_rsa: \(sops.standardError)")
        // Only the RSA key: no usable key, and the error names it.
        let ours = try await scratch.fluxci(["sops", "decrypt", "rsa.yaml"])
        #expect(ours.status != 0)
        #expect(ours.standardError.contains("SSH keys passed over: \(rsa) (not a valid age key: it is a ssh-rsa key"), "\(ours.standardError)")
        #expect(ours.standardError.contains("sops -d FILE"), "\(ours.standardError)")
        // Beside another age key: the file's data key error names the RSA key.
        let other = try await AgeKeyPair.generate()
        let beside = try await scratch.fluxci(["sops", "decrypt", "rsa.yaml"], environment: ["SOPS_AGE_KEY": other.identity])
        #expect(beside.status != 0)
        #expect(beside.standardError.contains("SSH keys passed over: \(rsa)"), "\(beside.standardError)")
        #expect(beside.standardError.contains("sops -d rsa.yaml"), "\(beside.standardError)")
        let verify = try await scratch.fluxci(["sops", "verify", "rsa.yaml"], environment: ["SOPS_AGE_KEY": other.identity])
        #expect(verify.status != 0)
        #expect(verify.standardError.contains("SSH keys passed over"), "\(verify.standardError)")

        // A protected ssh-ed25519 key.
        try FileManager.default.removeItem(atPath: rsa)
        let ed = ssh.appendingPathComponent("id_ed25519").path
        #expect(try await runTool("ssh-keygen", ["-t", "ed25519", "-N", "a passphrase", "-q", "-f", ed]).status == 0)
        let edPublic = try String(contentsOfFile: ed + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try scratch.write("ed.yaml", SOPSKeySourcesTests.secret)
        #expect(try await scratch.sops(["--encrypt", "--age", edPublic, "--in-place", "ed.yaml"]).status == 0)
        let sopsProtected = try await scratch.sops(["--decrypt", "ed.yaml"])
        #expect(sopsProtected.status != 0)
        #expect(sopsProtected.standardError.contains(ed), "sops names the key file: \(sopsProtected.standardError)")
        let oursProtected = try await scratch.fluxci(["sops", "decrypt", "ed.yaml"], environment: ["SOPS_AGE_KEY": other.identity])
        #expect(oursProtected.status != 0)
        #expect(oursProtected.standardError.contains("SSH keys passed over: \(ed) (not a valid age key: it is protected by a passphrase"), "\(oursProtected.standardError)")
    }
}
