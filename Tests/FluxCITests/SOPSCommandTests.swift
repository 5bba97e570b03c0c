import Foundation
import Testing
import TestSupport

/// `fluxci sops verify` and `fluxci sops decrypt`, as executables, on files the real sops wrote.
@Suite struct SOPSCommandTests {
    static let secret = """
        apiVersion: v1
        kind: Secret
        metadata:
            name: db
            namespace: apps
        stringData:
            password: correct-horse-battery
            user: admin-user
        """

    struct Repository {
        var root: URL
        var ours: AgeKeyPair
        var theirs: AgeKeyPair

        func encrypt(_ path: String, for recipient: String, text: String = SOPSCommandTests.secret) async throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
            _ = try await SopsTool.run(["--encrypt", "--in-place", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", url.path])
        }

        func read(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }
        func write(_ path: String, _ text: String) throws { try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8) }
    }

    static func repository() async throws -> Repository {
        let root = try TestPaths.temporaryDirectory("fluxci-sopsrepo")
        removeAtExit(root)
        return Repository(root: root, ours: try await AgeKeyPair.generate(), theirs: try await AgeKeyPair.generate())
    }

    func run(_ repo: Repository, _ arguments: [String], github: Bool = true) async throws -> (ProcessResult, summary: String) {
        let summary = repo.root.appendingPathComponent(".summary-\(UUID().uuidString)")
        var environment = ["SOPS_AGE_KEY": repo.ours.identity, "TMPDIR": repo.root.path]
        if github {
            environment["GITHUB_ACTIONS"] = "true"
            environment["GITHUB_STEP_SUMMARY"] = summary.path
        } else {
            environment["NO_COLOR"] = "1"
        }
        let result = try await runProcess(TestPaths.executable("fluxci"), ["sops"] + arguments, environment: environment, workingDirectory: repo.root)
        let text = (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: summary)
        return (result, text)
    }

    @Test func verifyReportsEveryFileAndFailsOnTheBadOnes() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("kubernetes/overlays/kind/local/db.yaml", for: repo.ours.recipient)
        try await repo.encrypt("kubernetes/overlays/kind/local/tampered.yaml", for: repo.ours.recipient)
        try await repo.encrypt("kubernetes/overlays/aws/prod/foreign.yaml", for: repo.theirs.recipient)
        try repo.write("kubernetes/base-config.yaml", "apiVersion: v1\nkind: ConfigMap\n")
        let tampered = try repo.read("kubernetes/overlays/kind/local/tampered.yaml")
        try repo.write("kubernetes/overlays/kind/local/tampered.yaml", tampered.replacingOccurrences(of: "namespace: apps", with: "namespace: evil"))
        let sopsLine = tampered.components(separatedBy: "\n").firstIndex { $0.hasPrefix("sops:") }! + 1

        let (result, summary) = try await run(repo, ["verify", "kubernetes"])
        #expect(result.status != 0)
        let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }
        #expect(errors.count == 2, "\(result.standardError)")
        #expect(errors.contains { $0.hasPrefix("::error title=MAC mismatch,file=kubernetes/overlays/kind/local/tampered.yaml,line=\(sopsLine)::") })
        #expect(errors.contains { $0.contains("file=kubernetes/overlays/aws/prod/foreign.yaml") && $0.contains(repo.theirs.recipient) && $0.contains("imported: \(repo.ours.recipient)") })
        #expect(summary.contains("| kubernetes/overlays/kind/local/db.yaml | \(repo.ours.recipient) | yes | decrypts, MAC valid |"))
        #expect(summary.contains("1 of 3 files decrypt"))
        #expect(!summary.contains("base-config"))
        #expect(leakedSecrets(in: result.allOutput, secrets: ["correct-horse-battery"]).isEmpty, "masked, never printed")

        // Foreign files may be allowed; the tampered one still fails.
        let (allowed, _) = try await run(repo, ["verify", "--allow-foreign", "kubernetes"])
        #expect(allowed.status != 0)
        #expect(allowed.standardError.contains("::warning title=Not encrypted for the imported keys,file=kubernetes/overlays/aws/prod/foreign.yaml"))
        let (clean, _) = try await run(repo, ["verify", "--allow-foreign", "kubernetes/overlays/kind/local/db.yaml", "kubernetes/overlays/aws"])
        #expect(clean.status == 0, "\(clean.standardError)")
    }

    /// Tester t5 I (fleet 34b): the fix for a file encrypted for another key names .sops.yaml
    /// only when there is one; without it, it says how to add the recipient or make the rule.
    @Test func aForeignFileFixNamesOnlyASopsYamlThatExists() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("kubernetes/foreign.yaml", for: repo.theirs.recipient)
        let (without, _) = try await run(repo, ["verify", "kubernetes"], github: false)
        #expect(without.status != 0)
        #expect(!without.allOutput.contains("creation rule in .sops.yaml"), "\(without.allOutput)")
        #expect(without.allOutput.contains("The repository has no .sops.yaml"), "\(without.allOutput)")
        #expect(without.allOutput.contains("sops rotate --in-place --add-age \(repo.ours.recipient) kubernetes/foreign.yaml"), "\(without.allOutput)")

        try repo.write(".sops.yaml", "creation_rules:\n  - path_regex: kubernetes/.*\\.yaml$\n    age: \(repo.theirs.recipient)\n")
        let (with, _) = try await run(repo, ["verify", "kubernetes"], github: false)
        #expect(with.status != 0)
        #expect(with.allOutput.contains("creation rule in .sops.yaml and run `sops updatekeys kubernetes/foreign.yaml`"), "\(with.allOutput)")
        #expect(!with.allOutput.contains("has no .sops.yaml"))
    }

    @Test func verifyPointsAtTheValueThatFailed() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("secret.yaml", for: repo.ours.recipient)
        let text = try repo.read("secret.yaml")
        var lines = text.components(separatedBy: "\n")
        let index = lines.firstIndex { $0.contains("password: ENC[") }!
        lines[index] = lines[index].replacingOccurrences(of: "data:", with: "data:AAAA")
        try repo.write("secret.yaml", lines.joined(separator: "\n"))
        let (result, _) = try await run(repo, ["verify", "secret.yaml"], github: false)
        #expect(result.status != 0)
        #expect(result.standardError.contains("secret.yaml:\(index + 1): error: Value failed authentication: The value at stringData:password: failed authentication"))
    }

    @Test func decryptPrintsWhatSopsPrintsAndMasksOnGitHub() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("secret.yaml", for: repo.ours.recipient)
        let theirs = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("secret.yaml").path], environment: ["SOPS_AGE_KEY": repo.ours.identity])
        let (local, _) = try await run(repo, ["decrypt", "secret.yaml"], github: false)
        #expect(local.status == 0, "\(local.standardError)")
        #expect(try await canonicalJSON(local.standardOutput) == canonicalJSON(theirs))

        let (github, _) = try await run(repo, ["decrypt", "secret.yaml"])
        #expect(github.status == 0)
        #expect(github.standardError.contains("::add-mask::correct-horse-battery"))
        #expect(leakedSecrets(in: github.standardError, secrets: ["correct-horse-battery", repo.ours.identity]).isEmpty)

        let (written, _) = try await run(repo, ["decrypt", "secret.yaml", "--output", "plain.yaml"])
        #expect(written.status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: repo.root.appendingPathComponent("plain.yaml").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try await canonicalJSON(repo.read("plain.yaml")) == canonicalJSON(theirs))
    }

    /// The runner masks line by line: each line of a multi-line value is its own mask (else
    /// `admin` printed alone shows). In a terminal nothing is masked, so fluxci's messages keep
    /// their paths (the real sops's output is the reference for the plaintext).
    @Test func multiLineValuesAreMaskedPerLineOnGitHubAndPathsStayWholeInATerminal() async throws {
        let repo = try await Self.repository()
        let text = "stringData:\n    login: |\n        admin\n        s3cr3t!\n    user: admin-user\n"
        try await repo.encrypt("secret.yaml", for: repo.ours.recipient, text: text)
        let theirs = try await SopsTool.run(["--decrypt", repo.root.appendingPathComponent("secret.yaml").path], environment: ["SOPS_AGE_KEY": repo.ours.identity])
        let (github, _) = try await run(repo, ["decrypt", "secret.yaml"])
        #expect(github.status == 0 && github.standardOutput == theirs)
        for line in ["admin", "s3cr3t!"] { #expect(github.standardError.contains("::add-mask::\(line)\n"), "\(github.standardError)") }
        try FileManager.default.createDirectory(at: repo.root.appendingPathComponent("admin-user"), withIntermediateDirectories: true)
        let (local, _) = try await run(repo, ["decrypt", "secret.yaml", "--output", "admin-user/plain.yaml"], github: false)
        #expect(local.status == 0 && local.standardError.contains("to admin-user/plain.yaml"), "\(local.standardError)")
        #expect(try repo.read("admin-user/plain.yaml") == theirs)
    }

    /// A link to a SOPS file is read through by `sops -d` (and kustomize): a folder scan that
    /// skipped it passed a file the real sops fails on.
    @Test func verifyFollowsLinksToFilesInAFolderScan() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("node_modules/bad.yaml", for: repo.theirs.recipient)
        try await repo.encrypt("sub/good.yaml", for: repo.ours.recipient)
        try FileManager.default.createSymbolicLink(atPath: repo.root.appendingPathComponent("sub/link2.yaml").path, withDestinationPath: "../node_modules/bad.yaml")
        await #expect(throws: (any Error).self) {
            _ = try await SopsTool.run(["--decrypt", "sub/link2.yaml"], environment: ["SOPS_AGE_KEY": repo.ours.identity], workingDirectory: repo.root)
        }
        let (result, _) = try await run(repo, ["verify", "sub"])
        #expect(result.status != 0, "\(result.allOutput)")
        #expect(result.allOutput.contains("sub/link2.yaml"), "\(result.allOutput)")
    }

    /// sops tries every stanza with every identity, whatever its `recipient:` says: with the
    /// recipient string edited, `sops -d` still decrypts, and verify says what decrypt says.
    @Test func verifyDecidesAsDecryptWhenARecipientStringWasEdited() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("secret.yaml", for: repo.ours.recipient)
        try repo.write("secret.yaml", try repo.read("secret.yaml").replacingOccurrences(of: repo.ours.recipient, with: repo.theirs.recipient))
        _ = try await SopsTool.run(["--decrypt", "secret.yaml"], environment: ["SOPS_AGE_KEY": repo.ours.identity], workingDirectory: repo.root)
        let (decrypt, _) = try await run(repo, ["decrypt", "secret.yaml"])
        #expect(decrypt.status == 0, "\(decrypt.allOutput)")
        let (verify, _) = try await run(repo, ["verify", "secret.yaml"])
        #expect(verify.status == 0, "\(verify.allOutput)")
        #expect(!verify.allOutput.contains("Not encrypted for the imported keys"), "\(verify.allOutput)")
    }

    @Test func decryptWithoutTheKeySaysWhichKeysWereTried() async throws {
        let repo = try await Self.repository()
        try await repo.encrypt("secret.yaml", for: repo.theirs.recipient)
        let (result, _) = try await run(repo, ["decrypt", "secret.yaml", "--output", "plain.yaml"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=Data key not recoverable,file=secret.yaml::"))
        #expect(result.standardError.contains(repo.theirs.recipient))
        #expect(!FileManager.default.fileExists(atPath: repo.root.appendingPathComponent("plain.yaml").path))
        // The temporary keyring is gone with its agent.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: repo.root.path).filter { $0.hasPrefix("fluxci.") }
        #expect(leftovers.isEmpty)
    }

    @Test func notASOPSFile() async throws {
        let repo = try await Self.repository()
        try repo.write("plain.yaml", "a: b\n")
        let (result, _) = try await run(repo, ["decrypt", "plain.yaml"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=Not a SOPS file,file=plain.yaml::"))
    }
}
