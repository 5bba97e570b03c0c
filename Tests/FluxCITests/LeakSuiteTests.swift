import Foundation
import Testing
import TestSupport

/// One run of (nearly) every command, on success and failure paths, with known key material,
/// a token and secret values: nothing any of them printed or wrote for the runner (stdout,
/// stderr, GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE, the step summary, the artifacts) holds a
/// secret, raw, base64-encoded, or line by line. Standard output that is the command's data by
/// design (`sops decrypt`, `secret from-file`, `keys export-ci`) is left out; their logs are not.
@Suite(.serialized) struct LeakSuiteTests {
    @Test func noCommandLeaksASecret() async throws {
        let fleet = try await ExampleFleet.make()
        let api = try await FakeAPIServer.start()
        let controller = FakeFluxController(server: api)
        controller.start()
        defer { controller.stop(); fleet.server.stop(); Task { await api.shutdown() } }
        let base = fleet.checkout.deletingLastPathComponent()
        let runner = base.appendingPathComponent("runner")
        let tmp = base.appendingPathComponent("tmp")
        for folder in [runner, tmp] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let kubeconfig = base.appendingPathComponent("fake.kubeconfig")
        try api.writeKubeconfig(to: kubeconfig)
        let kind = try StandInKind.install(kubeconfig: kubeconfig)
        let identity = try String(contentsOf: fleet.ageKeyFile, encoding: .utf8)
        let armor = try String(contentsOf: fleet.pgpKeyFile, encoding: .utf8)
        let token = "ghp_fluxciTestToken0123456789abcdefABCDEF"
        let secrets = [identity, armor, Data(armor.utf8).base64EncodedString(), token, "example-password-not-secret", "example-token-not-secret"]
        var environment = [
            "GITHUB_ACTIONS": "true", "TMPDIR": tmp.path, "RUNNER_TEMP": runner.path, "PATH": kind.path, "GITHUB_TOKEN": token,
            "SOPS_GPG_KEY": Data(armor.utf8).base64EncodedString(), "SOPS_AGE_KEY": identity,
        ]
        for name in ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"] { environment[name] = runner.appendingPathComponent(name).path }
        var everything = ""
        func run(_ arguments: [String], stdoutIsData: Bool = false, expectSuccess: Bool? = true, input: String? = nil) async throws {
            let result = try await runProcess(TestPaths.executable("fluxci"), arguments, environment: environment, input: input, workingDirectory: fleet.checkout)
            if let expectSuccess { #expect((result.status == 0) == expectSuccess, "fluxci \(arguments.joined(separator: " ")): \(result.allOutput.suffix(2000))") }
            everything += result.standardError + "\n" + (stdoutIsData ? "" : result.standardOutput) + "\n"
        }
        try await run(["keys", "import"])
        // As the runner does for later steps: GITHUB_ENV's variables (FLUXCI_KEYRING) join the environment.
        let exported = parseFileCommands(try String(contentsOf: runner.appendingPathComponent("GITHUB_ENV"), encoding: .utf8))
        environment["FLUXCI_KEYRING"] = try #require(exported["FLUXCI_KEYRING"])
        try await run(["sops", "verify", "kubernetes"])
        try await run(["sops", "decrypt", "kubernetes/overlays/kind/local/apps/podinfo-auth.sops.yaml"], stdoutIsData: true)
        try await run(["secret", "sops", "--dry-run"])
        try await run(["secret", "sops", "--kubeconfig", kubeconfig.path])
        try await run(["secret", "from-file", "--name", "x", "--namespace", "y", "--from-literal", "p=example-password-not-secret"], stdoutIsData: true)
        try await run(["bootstrap", "--cloud", "kind", "--env", "local", "--kubeconfig", kubeconfig.path])
        try await run(["e2e", "--cloud", "kind", "--env", "local", "--plan"])
        try await run(["keys", "cleanup"])
        environment["FLUXCI_KEYRING"] = nil
        controller.set("apps", .fail(reason: "BuildFailed", message: "decryption failed for podinfo-auth"))
        try await run(["e2e", "--cloud", "kind", "--env", "local", "--timeout", "20s"], expectSuccess: false)
        try await run(["keys", "import", "--local-keyring", "0000"], expectSuccess: false)
        var bad = environment
        bad["SOPS_GPG_PASSPHRASE"] = "a passphrase that is secret too"
        bad["SOPS_AGE_KEY"] = identity.replacingOccurrences(of: "AGE-SECRET-KEY-1", with: "AGE-SECRET-KEY-1X")
        let failing = try await runProcess(TestPaths.executable("fluxci"), ["keys", "import"], environment: bad, workingDirectory: fleet.checkout)
        #expect(failing.status != 0)
        everything += failing.allOutput

        // What the runner keeps: file commands, summary, artifacts.
        for file in (FileManager.default.enumerator(at: runner, includingPropertiesForKeys: nil)?.allObjects as? [URL]) ?? [] {
            if let text = try? String(contentsOf: file, encoding: .utf8) { everything += "\n" + text }
        }
        let leaked = leakedSecrets(in: everything, secrets: secrets + ["a passphrase that is secret too"])
        #expect(leaked.isEmpty, "leaked: \(leaked.map { String($0.prefix(16)) + "…" })")
        #expect(everything.contains("::add-mask::"), "secrets were masked, not merely absent")
        #expect(FileManager.default.fileExists(atPath: runner.appendingPathComponent("fluxci-artifacts").path), "the failed run left its artifacts")
        let keyrings = try (FileManager.default.contentsOfDirectory(atPath: tmp.path) + FileManager.default.contentsOfDirectory(atPath: runner.path)).filter { $0.hasPrefix("fluxci.") }
        #expect(keyrings.isEmpty, "keyrings left: \(keyrings)")
    }
}
