import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t4 finding 4b: the preflight reads a file a secretGenerator names as
/// kustomize-controller's decryptor reads it (internal/decryptor/decryptor.go,
/// `decryptKustomizationSources`: `envs:` as dotenv unless the name says otherwise, `files:` in the
/// format of the entry's key, each decrypted only when the file holds that format's marker).
/// What the decryptor does with a file is `SopsDecryptWithFormat(data, F, F)`, which is
/// `sops -d --input-type F --output-type F` minus the MAC check: the test runs the real sops so on
/// the same files and expects the preflight to pass exactly those.
@Suite(.serialized) struct GeneratorFormatPreflightTests {
    static let recipient = "age13690w8fl4mj8vggtekegmgdwa6ktp0c8p45wzlnek36dmruhsq2sepp9nx"
    static let overlay = "kubernetes/overlays/kind/local/apps"

    /// The decryptor's choice of format, from its source.
    @Test func theFormatComesFromTheEntry() {
        func file(_ entry: String) -> SOPSDecryptorRead { .secretGeneratorFile(entry, declaredIn: "k.yaml", line: 1) }
        #expect(file("config.json=conf-noext").format == .json, "files: in the format of the key")
        #expect(file("token=creds.json").format == .binary, "the key, not the path")
        #expect(file("creds.json").format == .json, "no key: the path is the key")
        #expect(file(".dockerconfigjson=auth").format == .json, "formatForPath: a key ending in .dockerconfigjson is JSON")
        #expect(file("a.env=x").format == .dotenv && file("a.ini=x").format == .ini && file("a.yml=x").format == .yaml)
        #expect(SOPSDecryptorRead.envSource("app-secrets", declaredIn: "k.yaml", line: 1).format == .dotenv, "envs: binary becomes dotenv")
        #expect(SOPSDecryptorRead.envSource("vars.yaml", declaredIn: "k.yaml", line: 1).format == .yaml, "envs: by the name otherwise")
        #expect(SOPSDecryptorRead.patch("p.txt", declaredIn: "k.yaml", line: 1).format == .binary)
        let env = SOPSDecryptorRead.envSource("e", declaredIn: "k.yaml", line: 1)
        #expect(env.decryptsInPlace(Data("A=1\nsops_mac=ENC[AES256_GCM,data:x]\n".utf8)))
        #expect(!env.decryptsInPlace(Data("a: 1\nsops:\n    mac: ENC[AES256_GCM,data:x]\n".utf8)))
    }

    @Test func thePreflightReadsGeneratorFilesAsFluxDoes() async throws {
        let scratch = try TestPaths.temporaryDirectory("fluxci-genfmt")
        removeAtExit(scratch)
        let identity = try String(contentsOf: ExampleFleet.source.appendingPathComponent(".secrets/kind/local/age/age.agekey"), encoding: .utf8)
        /// The real sops encrypts `plain` in `type` and the file is stored as `name`.
        func encrypt(_ name: String, _ plain: String, type: String) async throws -> Data {
            let url = scratch.appendingPathComponent("plain-\(name)")
            try Data(plain.utf8).write(to: url)
            let out = try await SopsTool.run(["--encrypt", "--input-type", type, "--output-type", type, "--age", Self.recipient, url.path])
            return Data(out.utf8)
        }
        // name → (content, the format the decryptor reads it in, whether Flux decrypts it).
        let files: [String: Data] = [
            "app-secrets": try await encrypt("app-secrets", "DB_PASSWORD=generator-secret-1\n", type: "dotenv"),
            "conf-noext": try await encrypt("conf-noext", "{\"password\": \"generator-secret-2\"}", type: "json"),
            "creds.json": try await encrypt("creds.json", "{\"token\": \"generator-secret-3\"}", type: "json"),
            "vars.yaml": try await encrypt("vars.yaml", "TOKEN=generator-secret-4\n", type: "dotenv"),
            "blob": try await encrypt("blob", "generator-secret-5 raw bytes", type: "binary"),
        ]
        let fleet = try await ExampleFleet.make { checkout in
            let folder = checkout.appendingPathComponent(Self.overlay)
            for (name, data) in files { try data.write(to: folder.appendingPathComponent(name)) }
            let kustomization = folder.appendingPathComponent("kustomization.yaml")
            let text = try String(contentsOf: kustomization, encoding: .utf8) + """
                secretGenerator:
                  - name: generated
                    namespace: default
                    envs: [app-secrets]
                    files: [config.json=conf-noext, token=creds.json, blob]
                  - name: vars
                    namespace: default
                    envs: [vars.yaml]

                """
            try text.write(to: kustomization, atomically: true, encoding: .utf8)
        }
        defer { fleet.server.stop() }
        // What the decryptor does with each file, done by the real sops (F from the entry).
        let expected: [String: (format: String, passes: Bool)] = [
            "app-secrets": ("dotenv", true), "conf-noext": ("json", true), "creds.json": ("binary", false), "blob": ("binary", true),
        ]
        for (name, (format, passes)) in expected {
            let result = try await runProcess(
                try await SopsTool.path(), ["-d", "--input-type", format, "--output-type", format, "\(Self.overlay)/\(name)"],
                environment: ["SOPS_AGE_KEY": identity], workingDirectory: fleet.checkout)
            #expect((result.status == 0) == passes, "sops as the decryptor reads \(name): \(result.standardError)")
        }
        // vars.yaml (dotenv content, an envs: entry named .yaml): read as YAML, which holds no
        // `mac: ENC[` marker, so the decryptor leaves it as it is.
        #expect(!(String(decoding: files["vars.yaml"]!, as: UTF8.self).contains("mac: ENC[")))
        // sops by the name alone fails on the two files Flux decrypts fine.
        for name in ["app-secrets", "conf-noext"] {
            let result = try await runProcess(try await SopsTool.path(), ["-d", "\(Self.overlay)/\(name)"], environment: ["SOPS_AGE_KEY": identity], workingDirectory: fleet.checkout)
            #expect(result.status != 0, "sops -d \(name) by its name")
        }
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan", "--cloud", "kind", "--env", "local"],
            environment: ["GITHUB_ACTIONS": "true", "TMPDIR": scratch.path, "HOME": scratch.path], workingDirectory: fleet.checkout)
        let errorLines = result.standardError.split(separator: "\n").filter { $0.hasPrefix("::error") }.map(String.init)
        func errors(_ name: String) -> [String] { errorLines.filter { $0.contains("file=\(Self.overlay)/\(name),") || $0.contains("file=\(Self.overlay)/\(name)::") } }
        #expect(result.status != 0)
        #expect(result.standardError.contains("::error title=SOPS preflight failed"), "\(result.allOutput)")
        for name in ["app-secrets", "conf-noext", "blob"] { #expect(errors(name).isEmpty, "\(name): \(errors(name))") }
        // At the entry whose key chose the format, the line to change (tester t19 F5).
        let written = try String(contentsOf: fleet.checkout.appendingPathComponent("\(Self.overlay)/kustomization.yaml"), encoding: .utf8)
        let entryLine = try #require(written.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("token=creds.json") }) + 1
        let format = errorLines.filter { $0.contains("title=Format chosen by the generator entry") }
        #expect(format.count == 1 && format.first?.contains("file=\(Self.overlay)/kustomization.yaml,line=\(entryLine)") == true, "\(format)")
        #expect(format.first?.contains("creds.json is a json SOPS file") == true && format.first?.contains("no binary data found in tree") == true, "\(format)")
        #expect(format.first?.contains("token.json=creds.json") == true, "the fix names the key that works")
        #expect(errors("vars.yaml").first?.contains("title=Not decrypted by Flux") == true, "\(errors("vars.yaml"))")
        // Decrypted values reach no output; the ::add-mask:: commands (consumed by the runner,
        // never shown) are where the preflight masks them (tester t10 F4).
        let shown = result.allOutput.split(separator: "\n").filter { !$0.hasPrefix("::add-mask::") }.joined(separator: "\n")
        #expect(!shown.contains("generator-secret"))
        #expect(result.allOutput.contains("::add-mask::generator-secret"))
        #expect(!result.standardError.contains("Format chosen by the file name"), "no false name-based error: \(errorLines)")
    }
}
