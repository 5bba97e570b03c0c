import Foundation
import Testing
import TestSupport

/// Where sops 3.10+ finds age identities beyond SOPS_AGE_KEY (getsops/sops age/keysource.go
/// `loadIdentities`, `loadAgeSSHIdentities`), against the real sops, ssh-keygen and age-keygen:
/// SSH Ed25519 keys (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else `~/.ssh/id_ed25519`), and a
/// SOPS_AGE_KEY_FILE that does not exist, which sops passes over.
@Suite struct SOPSAgeIdentitySourcesTests {
    typealias Scratch = SOPSKeySourcesTests.Scratch

    @Test func sshEd25519KeysOpenFilesWhereSopsFindsThem() async throws {
        let scratch = try Scratch("fluxci-ssh-identity")
        let ssh = scratch.home.appendingPathComponent(".ssh")
        try FileManager.default.createDirectory(at: ssh, withIntermediateDirectories: true)
        let keyPath = ssh.appendingPathComponent("id_ed25519").path
        let keygen = try await runTool("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-C", "dev@laptop", "-f", keyPath])
        #expect(keygen.status == 0, "\(keygen.standardError)")
        let privateKey = try String(contentsOfFile: keyPath, encoding: .utf8)
        let publicKey = try String(contentsOfFile: keyPath + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let recipient = publicKey.split(separator: " ").prefix(2).joined(separator: " ")
        try scratch.write("db.yaml", SOPSKeySourcesTests.secret)
        let encrypted = try await scratch.sops(["--encrypt", "--age", publicKey, "--encrypted-regex", "^(data|stringData)$", "--in-place", "db.yaml"])
        #expect(encrypted.status == 0, "\(encrypted.standardError)")
        let secretLines = privateKey.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)

        // The default ~/.ssh/id_ed25519.
        let sops = try await scratch.sops(["--decrypt", "db.yaml"])
        #expect(sops.status == 0, "\(sops.standardError)")
        let ours = try await scratch.fluxci(["sops", "decrypt", "db.yaml"])
        #expect(ours.status == 0, "\(ours.standardError)")
        #expect(ours.standardOutput == sops.standardOutput)
        #expect(ours.standardError.contains("Key \(recipient) from \(keyPath)."), "\(ours.standardError)")
        #expect(ours.standardError.contains("Opened db.yaml with \(publicKey)") || ours.standardError.contains("with \(recipient)"), "\(ours.standardError)")
        for line in secretLines { #expect(!ours.standardOutput.contains(line) && !ours.standardError.contains(line)) }

        // SOPS_AGE_SSH_PRIVATE_KEY_FILE, with no default key left.
        let moved = scratch.root.appendingPathComponent("deploy-key").path
        try FileManager.default.moveItem(atPath: keyPath, toPath: moved)
        let named = ["SOPS_AGE_SSH_PRIVATE_KEY_FILE": moved]
        #expect(try await scratch.sops(["--decrypt", "db.yaml"]).status != 0)
        #expect(try await scratch.fluxci(["sops", "decrypt", "db.yaml"]).status != 0)
        let sopsNamed = try await scratch.sops(["--decrypt", "db.yaml"], environment: named)
        #expect(sopsNamed.status == 0, "\(sopsNamed.standardError)")
        let oursNamed = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: named)
        #expect(oursNamed.status == 0, "\(oursNamed.standardError)")
        #expect(oursNamed.standardOutput == sopsNamed.standardOutput)
        #expect(oursNamed.standardError.contains("Key \(recipient) from \(moved)."), "\(oursNamed.standardError)")

        // A named key file that is missing: both fail; fluxci says which variable points where.
        let missing = ["SOPS_AGE_SSH_PRIVATE_KEY_FILE": "/nonexistent/deploy-key"]
        #expect(try await scratch.sops(["--decrypt", "db.yaml"], environment: missing).status != 0)
        let oursMissing = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: missing)
        #expect(oursMissing.status != 0)
        #expect(oursMissing.standardError.contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE points at /nonexistent/deploy-key"), "\(oursMissing.standardError)")
    }

    @Test func aMissingSopsAgeKeyFileIsPassedOverAsSopsPassesOverIt() async throws {
        let scratch = try Scratch("fluxci-missing-keyfile")
        let age = try await AgeKeyPair.generate()
        try scratch.write("db.yaml", SOPSKeySourcesTests.secret)
        #expect(try await scratch.sops(["--encrypt", "--age", age.recipient, "--in-place", "db.yaml"]).status == 0)
        let missing = scratch.root.appendingPathComponent("missing/keys.txt").path
        // Beside a key that opens the file: sops decrypts (saying nothing), fluxci too, warning.
        let beside = ["SOPS_AGE_KEY_FILE": missing, "SOPS_AGE_KEY": age.identity]
        let sops = try await scratch.sops(["--decrypt", "db.yaml"], environment: beside)
        #expect(sops.status == 0, "\(sops.standardError)")
        let ours = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: beside)
        #expect(ours.status == 0, "\(ours.standardError)")
        #expect(ours.standardOutput == sops.standardOutput)
        #expect(ours.standardError.contains("SOPS_AGE_KEY_FILE points at \(missing), which does not exist: skipped"), "\(ours.standardError)")
        #expect(!ours.standardError.contains(age.identity))
        // Alone: sops fails naming its load error, and so does fluxci.
        let alone = ["SOPS_AGE_KEY_FILE": missing]
        let sopsAlone = try await scratch.sops(["--decrypt", "db.yaml"], environment: alone)
        #expect(sopsAlone.status != 0)
        #expect(sopsAlone.standardError.contains("failed to open SOPS_AGE_KEY_FILE file"), "\(sopsAlone.standardError)")
        let oursAlone = try await scratch.fluxci(["sops", "decrypt", "db.yaml"], environment: alone)
        #expect(oursAlone.status != 0)
        #expect(oursAlone.standardError.contains("SOPS_AGE_KEY_FILE points at \(missing), which does not exist"), "\(oursAlone.standardError)")
        // The CI import: the other key is imported (age only: no agent to stop; the keyring is
        // in the scratch TMPDIR), with the warning.
        let imported = try await scratch.fluxci(["keys", "import"], environment: beside)
        #expect(imported.status == 0, "\(imported.standardError)")
        #expect(imported.standardError.contains("which does not exist: skipped"), "\(imported.standardError)")
        #expect(!imported.standardOutput.contains(age.identity) && !imported.standardError.contains(age.identity))
    }
}
