import Foundation
import Testing
import TestSupport

/// The example repository stays consistent: every encrypted file decrypts with its published
/// test keys, through age and through PGP alike, and the real sops agrees.
@Suite struct ExampleRepositoryTests {
    static let fleet = TestPaths.packageRoot.appendingPathComponent("Examples/fleet")

    @Test func everySecretDecryptsWithTheAgeKey() async throws {
        let identity = try String(contentsOf: Self.fleet.appendingPathComponent(".secrets/kind/local/age/age.agekey"), encoding: .utf8)
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "kubernetes"], environment: ["SOPS_AGE_KEY": identity, "NO_COLOR": "1"],
            workingDirectory: Self.fleet)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("2 of 2 files decrypt"))
    }

    @Test func everySecretDecryptsWithThePGPKeyAlone() async throws {
        let armor = try String(contentsOf: Self.fleet.appendingPathComponent(".secrets/kind/local/gpg/sops.asc"), encoding: .utf8)
        let tmp = try TestPaths.temporaryDirectory("fluxci-example")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "kubernetes"],
            environment: ["SOPS_GPG_KEY": armor, "NO_COLOR": "1", "TMPDIR": tmp.path], workingDirectory: Self.fleet)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty, "the temporary keyring was not removed")
    }

    @Test func theRealSopsAgreesWithFluxci() async throws {
        let keyFile = Self.fleet.appendingPathComponent(".secrets/kind/local/age/age.agekey").path
        let file = "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"
        let theirs = try await SopsTool.run(["--decrypt", Self.fleet.appendingPathComponent(file).path], environment: ["SOPS_AGE_KEY_FILE": keyFile])
        let ours = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "decrypt", file], environment: ["SOPS_AGE_KEY_FILE": keyFile], workingDirectory: Self.fleet)
        #expect(ours.status == 0)
        #expect(try await canonicalJSON(ours.standardOutput) == canonicalJSON(theirs))
    }
}
