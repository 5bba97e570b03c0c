import Foundation
import Testing
import TestSupport

/// Tester t9 F11: a plan without keys lists each SOPS file the cluster decrypts with the
/// recipients it is encrypted for, reading each file as the preflight reads it: the home-lab
/// fixture's dotenv file (written by the real sops, a secretGenerator `envs:` entry) by its
/// `sops_age__list_0__map_recipient` line, not as YAML ("a document is not a mapping").
@Suite struct SOPSPreflightNotRunTests {
    @Test func aDotenvFilesRecipientsAreListedWithoutKeys() async throws {
        let fixture = try FleetFixture.load("home-lab")
        let checkout = try fixture.checkout(variant: nil)
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["-c", "user.name=fixture", "-c", "user.email=fixture@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: checkout)
        let env = "kubernetes/apps/default/whoami/app/secret.sops.env"
        let text = try String(contentsOf: checkout.appendingPathComponent(env), encoding: .utf8)
        let recipient = try #require(text.firstMatch(of: /sops_age__list_0__map_recipient=(age1[0-9a-z]+)/)).1
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--serve", "--cluster-path", "kubernetes/flux"],
            environment: ["NO_COLOR": "1", "TMPDIR": checkout.deletingLastPathComponent().path, "GNUPGHOME": checkout.deletingLastPathComponent().path],
            workingDirectory: checkout)
        #expect(result.allOutput.contains("SOPS preflight not run"), "\(result.allOutput)")
        #expect(result.allOutput.contains("\(env): encrypted for \(recipient)"), "\(result.allOutput)")
        #expect(!result.allOutput.contains("metadata unreadable"), "\(result.allOutput)")
    }
}
