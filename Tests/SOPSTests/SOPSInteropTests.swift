import Age
import Foundation
import GPG
import Testing
import TestSupport

@testable import SOPS

/// Files the real sops encrypts decrypt here to the same content as `sops -d`, and every kind of
/// tampering fails with the class sops users know.
@Suite(.serialized) struct SOPSInteropTests {
    static let secret = """
        apiVersion: v1
        kind: Secret
        metadata:
            name: app-credentials # a comment
            namespace: apps
            labels:
                enabled: "true"
        type: Opaque
        stringData:
            username: admin
            password: "p@ss: word, with 'quotes' and \\"double\\""
            unicode: "héllo wörld ✓"
            multiline: |
                line one
                line two
            empty: ""
            yes_string: "yes"
        data:
            token: c2VjcmV0LXRva2Vu
        """

    static let typed = """
        # a comment at the top
        name: typed
        count: 42
        negative: -7
        ratio: 0.25
        big: 1.5e+20
        small: 1e-05
        enabled: true
        disabled: false
        nothing: null
        when: 2024-05-01T10:00:00Z
        list:
            - one
            - 2
            - 3.5
            - false
        nested:
            deeper:
                value: x
                items: [a, b]
        """

    struct Setup {
        var directory: URL
        var age: AgeKeyPair
        var otherAge: AgeKeyPair
        var gpg: GPGFixtures
        var keyring: Keyring

        var keys: KeyChain { KeyChain(ageIdentities: [try! X25519Identity(parsing: age.identity)], keyring: keyring) }
        var sopsEnvironment: [String: String] { ["SOPS_AGE_KEY": age.identity, "GNUPGHOME": gpg.home.path] }

        func write(_ name: String, _ text: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url
        }

        /// Encrypts with the real sops; returns the encrypted text.
        func sopsEncrypt(_ name: String, _ text: String, _ arguments: [String]) async throws -> String {
            let url = try write(name, text)
            return try await SopsTool.run(["--encrypt"] + arguments + [url.path], environment: sopsEnvironment, workingDirectory: directory)
        }

        func sopsDecrypt(_ name: String, _ encrypted: String) async throws -> String {
            let url = try write("enc-" + name, encrypted)
            return try await SopsTool.run(["--decrypt", url.path], environment: sopsEnvironment)
        }
    }

    static func setup() async throws -> Setup {
        let gpg = try await GPGFixtures.shared()
        let directory = try TestPaths.temporaryDirectory("fluxci-sops")
        removeAtExit(directory)
        let keyring = try Keyring.create()
        _ = try keyring.importKeys(Data(gpg.ed25519.secretArmor.utf8))
        removeAtExit(keyring.directory)
        return Setup(directory: directory, age: try await AgeKeyPair.generate(), otherAge: try await AgeKeyPair.generate(), gpg: gpg, keyring: keyring)
    }

    /// Decrypts with fluxci and with sops, and compares the content.
    func expectSameAsSops(_ setup: Setup, _ name: String, _ encrypted: String, keys: KeyChain? = nil) async throws {
        let file = try SOPSFile(text: encrypted, path: name)
        let documents = try SOPSDecryptor.decrypt(file, with: keys ?? setup.keys)
        let ours = file.format == .json ? TreeEmitter.json(documents.map(\.tree)) : try TreeEmitter.yaml(documents.map(\.tree))
        let theirs = try await setup.sopsDecrypt(name, encrypted)
        #expect(try await canonicalJSON(ours) == canonicalJSON(theirs), "\(name):\n--- fluxci\n\(ours)\n--- sops\n\(theirs)")
    }

    @Test func ageOnlyWithEncryptedRegex() async throws {
        let setup = try await Self.setup()
        let encrypted = try await setup.sopsEncrypt("secret.yaml", Self.secret, ["--age", setup.age.recipient, "--encrypted-regex", "^(data|stringData)$"])
        #expect(encrypted.contains("name: app-credentials"), "metadata stays readable")
        try await expectSameAsSops(setup, "secret.yaml", encrypted)
    }

    @Test func pgpOnly() async throws {
        let setup = try await Self.setup()
        let encrypted = try await setup.sopsEncrypt("secret.yaml", Self.secret, ["--pgp", setup.gpg.ed25519.fingerprint])
        try await expectSameAsSops(setup, "secret.yaml", encrypted, keys: KeyChain(ageIdentities: [], keyring: setup.keyring))
    }

    @Test func ageAndPGPEitherKeyAlone() async throws {
        let setup = try await Self.setup()
        let encrypted = try await setup.sopsEncrypt(
            "secret.yaml", Self.secret, ["--age", setup.age.recipient, "--pgp", setup.gpg.ed25519.fingerprint, "--encrypted-regex", "^(data|stringData)$"])
        try await expectSameAsSops(setup, "secret.yaml", encrypted, keys: KeyChain(ageIdentities: [], keyring: setup.keyring))
        try await expectSameAsSops(setup, "secret.yaml", encrypted, keys: KeyChain(ageIdentities: [try X25519Identity(parsing: setup.age.identity)], keyring: nil))
    }

    @Test func everyValueTypeAndComments() async throws {
        let setup = try await Self.setup()
        let encrypted = try await setup.sopsEncrypt("typed.yaml", Self.typed, ["--age", setup.age.recipient])
        for type in ["type:int", "type:float", "type:bool", "type:str", "type:comment"] { #expect(encrypted.contains(type), "\(type)") }
        try await expectSameAsSops(setup, "typed.yaml", encrypted)
    }

    @Test func unencryptedLeavesOfEveryTypeAreInTheMAC() async throws {
        let setup = try await Self.setup()
        // Only `secret` is encrypted: every other (typed) leaf is hashed as sops formats it.
        let encrypted = try await setup.sopsEncrypt("typed.yaml", Self.typed + "\nsecret: s3cr3t\n", ["--age", setup.age.recipient, "--encrypted-regex", "^secret$"])
        #expect(encrypted.contains("count: 42"))
        try await expectSameAsSops(setup, "typed.yaml", encrypted)
    }

    @Test func macOnlyEncrypted() async throws {
        let setup = try await Self.setup()
        try ".sops.yaml".write(to: setup.directory.appendingPathComponent(".sops.yaml"), atomically: true, encoding: .utf8)
        let config = "creation_rules:\n  - path_regex: .*\n    age: \(setup.age.recipient)\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n"
        _ = try setup.write(".sops.yaml", config)
        let encrypted = try await setup.sopsEncrypt("secret.yaml", Self.secret, [])
        #expect(encrypted.contains("mac_only_encrypted: true"))
        try await expectSameAsSops(setup, "secret.yaml", encrypted)
        // With mac_only_encrypted, an unencrypted field may change without breaking the MAC.
        let edited = encrypted.replacingOccurrences(of: "namespace: apps", with: "namespace: other")
        let documents = try SOPSDecryptor.decrypt(try SOPSFile(text: edited, path: "secret.yaml"), with: setup.keys)
        #expect(documents.count == 1)
    }

    @Test func severalDocuments() async throws {
        let setup = try await Self.setup()
        let text = Self.secret + "\n---\n" + Self.secret.replacingOccurrences(of: "app-credentials", with: "second")
        let encrypted = try await setup.sopsEncrypt("multi.yaml", text, ["--age", setup.age.recipient, "--encrypted-regex", "^(data|stringData)$"])
        let file = try SOPSFile(text: encrypted, path: "multi.yaml")
        #expect(file.documents.count == 2)
        try await expectSameAsSops(setup, "multi.yaml", encrypted)
    }

    @Test func threeKeyGroupsWithThresholdTwo() async throws {
        let setup = try await Self.setup()
        let config = """
            creation_rules:
              - path_regex: .*
                shamir_threshold: 2
                key_groups:
                  - age: [\(setup.age.recipient)]
                  - age: [\(setup.otherAge.recipient)]
                  - pgp: [\(setup.gpg.ed25519.fingerprint)]
            """
        _ = try setup.write(".sops.yaml", config)
        let encrypted = try await setup.sopsEncrypt("groups.yaml", Self.secret, [])
        let file = try SOPSFile(text: encrypted, path: "groups.yaml")
        #expect(file.documents[0].metadata.keyGroups.count == 3 && file.documents[0].metadata.shamirThreshold == 2)
        // age + pgp groups: two of three.
        try await expectSameAsSops(setup, "groups.yaml", encrypted)
        // Both age identities, no keyring: two of three.
        let twoAge = KeyChain(ageIdentities: [try X25519Identity(parsing: setup.age.identity), try X25519Identity(parsing: setup.otherAge.identity)], keyring: nil)
        #expect(try SOPSDecryptor.decrypt(file, with: twoAge).count == 1)
        // One group only is not enough, and the error says so.
        let one = KeyChain(ageIdentities: [try X25519Identity(parsing: setup.age.identity)], keyring: nil)
        #expect {
            try SOPSDecryptor.decrypt(file, with: one)
        } throws: { error in
            guard case DecryptionError.dataKeyNotRecoverable(let attempts, let opened, let needed) = error else { return false }
            return opened == 1 && needed == 2 && attempts.contains { $0.key == setup.otherAge.recipient }
        }
    }

    @Test func json() async throws {
        let setup = try await Self.setup()
        let text = #"{"apiVersion": "v1", "kind": "Secret", "stringData": {"password": "hunter2", "port": 5432, "ratio": 0.5, "on": true, "none": null, "list": ["a", 1]}}"#
        let encrypted = try await setup.sopsEncrypt("secret.json", text, ["--age", setup.age.recipient, "--encrypted-regex", "^stringData$"])
        try await expectSameAsSops(setup, "secret.json", encrypted)
    }

    // MARK: Tampering

    func expectFailure(_ setup: Setup, _ encrypted: String, keys: KeyChain? = nil, _ matches: (DecryptionError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try SOPSDecryptor.decrypt(try SOPSFile(text: encrypted, path: "t.yaml"), with: keys ?? setup.keys)
        } throws: { error in
            guard let error = error as? DecryptionError else { return false }
            return matches(error)
        }
    }

    @Test func tamperingFailsWithTheRightClass() async throws {
        let setup = try await Self.setup()
        let encrypted = try await setup.sopsEncrypt("secret.yaml", Self.secret, ["--age", setup.age.recipient, "--encrypted-regex", "^(data|stringData)$"])
        let lines = encrypted.components(separatedBy: "\n")
        let usernameLine = try #require(lines.firstIndex { $0.contains("username: ENC[") })
        let passwordLine = try #require(lines.firstIndex { $0.contains("password: ENC[") })

        // A flipped bit in a value's ciphertext.
        var flipped = lines
        let data = try #require(flipped[usernameLine].range(of: "data:")?.upperBound)
        let original = flipped[usernameLine][data]
        flipped[usernameLine].replaceSubrange(data...data, with: original == "A" ? "B" : "A")
        expectFailure(setup, flipped.joined(separator: "\n")) { $0 == .valueAuthenticationFailed(path: "stringData:username:", line: usernameLine + 1) }

        // Two values swapped: each is bound to its own path.
        var swapped = lines
        let username = lines[usernameLine].split(separator: ":", maxSplits: 1)[1], password = lines[passwordLine].split(separator: ":", maxSplits: 1)[1]
        swapped[usernameLine] = "    username:" + password
        swapped[passwordLine] = "    password:" + username
        expectFailure(setup, swapped.joined(separator: "\n")) { if case .valueAuthenticationFailed = $0 { true } else { false } }

        // A renamed key.
        let renamed = encrypted.replacingOccurrences(of: "    username: ENC[", with: "    user: ENC[")
        expectFailure(setup, renamed) { $0 == .valueAuthenticationFailed(path: "stringData:user:", line: usernameLine + 1) }

        // An edited unencrypted field.
        let edited = encrypted.replacingOccurrences(of: "namespace: apps", with: "namespace: kube-system")
        expectFailure(setup, edited) { if case .macMismatch = $0 { true } else { false } }

        // An edited lastmodified.
        let lastModified = try #require(lines.first { $0.contains("lastmodified:") })
        let touched = encrypted.replacingOccurrences(of: lastModified, with: "    lastmodified: \"2001-01-01T00:00:00Z\"")
        expectFailure(setup, touched) { if case .macUndecryptable = $0 { true } else { false } }

        // A removed value.
        var removed = lines
        removed.remove(at: usernameLine)
        expectFailure(setup, removed.joined(separator: "\n")) { if case .macMismatch = $0 { true } else { false } }

        // The wrong key, and no key at all.
        let wrong = KeyChain(ageIdentities: [try X25519Identity(parsing: setup.otherAge.identity)], keyring: nil)
        expectFailure(setup, encrypted, keys: wrong) {
            guard case .dataKeyNotRecoverable(let attempts, _, _) = $0 else { return false }
            return attempts.map(\.key) == [setup.age.recipient] && attempts[0].reason.contains(setup.otherAge.recipient)
        }
        expectFailure(setup, encrypted, keys: KeyChain(ageIdentities: [], keyring: nil)) {
            guard case .dataKeyNotRecoverable(let attempts, _, _) = $0 else { return false }
            return attempts == [KeyAttempt(key: setup.age.recipient, reason: "no age identity was imported")]
        }

        // Not a SOPS file.
        expectFailure(setup, Self.secret) { if case .notSOPS = $0 { true } else { false } }
    }
}
