import Foundation
import Testing
import TestSupport

import Age

@testable import SOPS

/// Hostile repository content ends in a clear, bounded error, and cannot inject a workflow
/// command.
@Suite(.serialized) struct HostileInputTests {
    @Test func fileNamesCannotInjectWorkflowCommands() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-hostile")
        defer { try? FileManager.default.removeItem(at: directory) }
        let age = try await AgeKeyPair.generate()
        let other = try await AgeKeyPair.generate()
        let name = "evil\n::error::pwned,a:b%.yaml"
        let file = directory.appendingPathComponent(name)
        try "stringData:\n    password: x\n".write(to: file, atomically: true, encoding: .utf8)
        _ = try await SopsTool.run(["--encrypt", "--in-place", "--age", other.recipient, file.path])
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "verify", "."], environment: ["SOPS_AGE_KEY": age.identity, "GITHUB_ACTIONS": "true"], workingDirectory: directory)
        #expect(result.status != 0)
        let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // As the runner reads it: outside ::stop-commands:: blocks, no line is the injected command.
        var stopToken: String?
        var injected: [String] = []
        for line in lines {
            if let token = stopToken {
                if line == "::\(token)::" { stopToken = nil }
                continue
            }
            if line.hasPrefix("::stop-commands::") { stopToken = String(line.dropFirst("::stop-commands::".count)); continue }
            if line.hasPrefix("::error::pwned") { injected.append(line) }
        }
        #expect(injected.isEmpty, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("::error title=Not encrypted for the imported keys,file=evil%0A%3A%3Aerror%3A%3Apwned%2Ca%3Ab%25.yaml,line=1::") })
    }

    @Test func yamlBombsAndDeepNestingAreRefusedQuickly() throws {
        // Billion laughs: go-yaml v3 (so sops) refuses it for excessive aliasing; so does fluxci,
        // without expanding it. (Small alias use, as in the README of go-yaml, is allowed.)
        let levels = "abcdefghi".map(String.init)
        let aliases = "a: &a [x]\n" + levels.dropFirst().enumerated().map { index, name in
            "\(name): &\(name) [" + Array(repeating: "*\(levels[index])", count: 10).joined(separator: ", ") + "]"
        }.joined(separator: "\n") + "\nsops: {mac: x, lastmodified: y}\n"
        #expect { try SOPSFile(text: aliases, path: "bomb.yaml") } throws: { error in "\(error)".contains("anchors and aliases are not supported") }
        let deep = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        #expect { try TreeReader.documents("a: " + deep) } throws: { error in "\(error)".contains("nesting") }
    }

    /// Thousands of recipients and a gigantic value: a bounded, clear failure (no key matches; the
    /// value fails authentication) rather than a hang.
    @Test func thousandsOfRecipientsAndAGiganticValue() async throws {
        let identity = X25519Identity.generate()
        let stranger = X25519Identity.generate()
        let real = try SOPSEncryptor.encrypt(
            "stringData:\n    v: x\n", format: .yaml, recipients: Recipients(groups: [.init(age: [stranger.recipient.description])]),
            rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
        // Encrypted for 5,000 recipients, none of them ours.
        let recipients = (0..<5_000).map { _ in X25519Identity.generate().recipient.description }
        let many = try SOPSEncryptor.encrypt(
            "stringData:\n    v: x\n", format: .yaml, recipients: Recipients(groups: [.init(age: recipients)]), rule: .unencryptedSuffix("_unencrypted"), keyring: nil)
        let file = try SOPSFile(text: many, path: "many.yaml")
        #expect(file.documents[0].metadata.allKeys.count == 5_000)
        #expect { try SOPSDecryptor.decrypt(file, with: KeyChain(ageIdentities: [identity], keyring: nil)) } throws: { error in
            if case DecryptionError.dataKeyNotRecoverable(let attempts, _, _) = error { attempts.count == 5_000 } else { false }
        }
        // A 10 MB value in place of a real one.
        let value = "ENC[AES256_GCM,data:" + String(repeating: "A", count: 10_000_000) + ",iv:" + Data(count: 32).base64EncodedString() + ",tag:" + Data(count: 16).base64EncodedString() + ",type:str]"
        let huge = real.replacing(#/v: ENC\[[^\]]*\]/#, with: "v: " + value)
        let big = try SOPSFile(text: huge, path: "huge.yaml")
        #expect { try SOPSDecryptor.decrypt(big, with: KeyChain(ageIdentities: [stranger], keyring: nil)) } throws: { error in
            if case DecryptionError.valueAuthenticationFailed = error { true } else { false }
        }
    }

    @Test func aGiganticFileIsNotRead() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-hostile")
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = directory.appendingPathComponent("big.yaml")
        FileManager.default.createFile(atPath: big.path, contents: nil)
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: UInt64(SOPSFiles_maximumSize + 1))
        try handle.close()
        let age = try await AgeKeyPair.generate()
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["sops", "decrypt", "big.yaml"], environment: ["SOPS_AGE_KEY": age.identity, "NO_COLOR": "1"], workingDirectory: directory)
        #expect(result.status != 0 && result.standardError.contains("File too large"))
    }

    /// Fault: a git server that accepts connections and never answers (libgit2 1.5 would wait
    /// forever): the run fails after FLUXCI_GIT_TIMEOUT with a clear error.
    @Test func aGitServerThatNeverAnswers() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-hang")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = """
            import socket, time, sys, os
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            open(sys.argv[1] + "/port.tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
            open(sys.argv[1] + "/pid", "w").write(str(os.getpid()))
            held = []
            while True:
                held.append(s.accept()[0])
            """
        let server = Task { try await runTool("python3", ["-c", script, directory.path]) }
        defer { if let pid = try? String(contentsOf: directory.appendingPathComponent("pid"), encoding: .utf8), let number = Int32(pid) { kill(number, SIGKILL) }; server.cancel() }
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            port = (try? String(contentsOf: directory.appendingPathComponent("port"), encoding: .utf8)) ?? ""
            if port.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let checkout = directory.appendingPathComponent("checkout")
        try await git(["init", "--quiet", checkout.path])
        let age = try await AgeKeyPair.generate()
        let result = try await runProcess(
            TestPaths.executable("fluxci"),
            ["bootstrap", "--cloud", "kind", "--env", "local", "--plan", "--branch", "main", "--url", "http://127.0.0.1:\(port)/fleet.git"],
            environment: ["SOPS_AGE_KEY": age.identity, "FLUXCI_GIT_TIMEOUT": "2", "GITHUB_ACTIONS": "true", "TMPDIR": directory.path], workingDirectory: checkout)
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=Git server not answering::Listing the branches of http%3A//127.0.0.1") || result.standardError.contains("title=Git server not answering"), "\(result.allOutput)")
        // Not silent until then (tester t15 F4): a quarter of the deadline in, it says it waits.
        #expect(result.standardError.contains("Listing the branches of http://127.0.0.1:\(port)/fleet.git: no answer after 0.50s; waiting up to 2 s in all (FLUXCI_GIT_TIMEOUT)."), "\(result.allOutput)")
    }

    @Test func escapingPathsSymlinksAndCyclesAreAnnotated() async throws {
        let fleet = try await ExampleFleet.make { checkout in
            let cluster = checkout.appendingPathComponent("clusters/kind/local")
            try """
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata: {name: escape, namespace: flux-system}
                spec: {interval: 10m, prune: true, path: ../../etc, sourceRef: {kind: GitRepository, name: flux-system}}
                ---
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata: {name: one, namespace: flux-system}
                spec: {interval: 10m, prune: true, path: ./kubernetes/base/registry, dependsOn: [{name: two}], sourceRef: {kind: GitRepository, name: flux-system}}
                ---
                apiVersion: kustomize.toolkit.fluxcd.io/v1
                kind: Kustomization
                metadata: {name: two, namespace: flux-system}
                spec: {interval: 10m, prune: true, path: ./kubernetes/base/registry, dependsOn: [{name: one}], sourceRef: {kind: GitRepository, name: flux-system}}
                """.write(to: cluster.appendingPathComponent("hostile.yaml"), atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: cluster.appendingPathComponent("passwd.yaml").path, withDestinationPath: "/etc/passwd")
        }
        defer { fleet.server.stop() }
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--cloud", "kind", "--env", "local", "--plan"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": "/tmp"], workingDirectory: fleet.checkout)
        #expect(result.status != 0)
        let annotations = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") || $0.hasPrefix("::warning") }
        // At the spec.path field's own line (issue 13 item 24). kustomize-controller holds a
        // climbing path at the artifact's root (securejoin): ../../etc is ./etc, which is not there.
        #expect(annotations.contains { $0.hasPrefix("::warning title=Path above the repository's root,file=clusters/kind/local/hostile.yaml,line=4::") && $0.contains("so it builds ./etc") })
        #expect(annotations.contains { $0.hasPrefix("::error title=Kustomization path not found,file=clusters/kind/local/hostile.yaml,line=4::") })
        #expect(annotations.contains { $0.hasPrefix("::error title=Dependency cycle,file=clusters/kind/local/hostile.yaml,line=") && $0.contains("flux-system/one → flux-system/two") })
        #expect(annotations.contains { $0.hasPrefix("::warning title=Symbolic link,file=clusters/kind/local/passwd.yaml::") })
        #expect(!result.allOutput.contains("root:x:0:0"), "the link was not followed")
    }
}

/// The size limit `fluxci sops` reads up to (SOPSFiles.maximumSize, 16 MiB).
let SOPSFiles_maximumSize = 16 << 20
