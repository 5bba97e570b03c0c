import Foundation

/// OpenPGP keys made by the real gpg CLI, once per test process, in a GnuPG home of their own.
public struct GPGFixtures: Sendable {
    public struct Key: Sendable {
        public var fingerprint: String
        /// `gpg --export-secret-keys --armor`.
        public var secretArmor: String
        public var publicArmor: String
        public var passphrase: String?
    }

    /// The GnuPG home the keys were made in (the "user's keyring" of tests).
    public var home: URL
    public var ed25519: Key
    public var rsa: Key
    public var protected: Key
    public var signingOnly: Key
    public var expired: Key

    public static func shared() async throws -> GPGFixtures {
        try await Store.shared.fixtures()
    }

    private actor Store {
        static let shared = Store()
        private var task: Task<GPGFixtures, Error>?

        func fixtures() async throws -> GPGFixtures {
            if task == nil { task = Task { try await GPGFixtures.make() } }
            return try await task!.value
        }
    }

    /// Runs gpg against `home` with a passphrase given on the command line, which is acceptable
    /// for throw-away test keys only.
    public static func gpg(_ home: URL, _ arguments: [String], input: String? = nil) async throws -> ProcessResult {
        let result = try await runTool(
            "gpg", ["--homedir", home.path, "--batch", "--yes", "--pinentry-mode", "loopback"] + arguments, input: input)
        guard result.status == 0 else {
            throw GPGFailed(arguments: arguments, output: result.standardError)
        }
        return result
    }

    public struct GPGFailed: Error, CustomStringConvertible {
        public var arguments: [String]
        public var output: String
        public var description: String { "gpg \(arguments.joined(separator: " ")) failed: \(output)" }
    }

    static func make() async throws -> GPGFixtures {
        let home = try TestPaths.temporaryDirectory("fluxci-gpg")
        chmod(home.path, 0o700)
        removeAtExit(home)
        func make(
            _ uid: String, primary: String, usage: String, subkey: String?, passphrase: String?, fakedTime: String? = nil,
            expire: String = "never"
        ) async throws -> Key {
            let pass = ["--passphrase", passphrase ?? ""]
            let time = fakedTime.map { ["--faked-system-time", $0] } ?? []
            _ = try await gpg(home, time + pass + ["--quick-gen-key", uid, primary, usage, expire])
            let listing = try await gpg(home, ["--with-colons", "--list-keys", uid]).standardOutput
            guard let fingerprint = listing.split(separator: "\n").first(where: { $0.hasPrefix("fpr:") })?
                .split(separator: ":", omittingEmptySubsequences: false)[9]
            else { throw GPGFailed(arguments: ["--list-keys", uid], output: listing) }
            if let subkey {
                _ = try await gpg(home, time + pass + ["--quick-add-key", String(fingerprint), subkey, "encr", expire])
            }
            let secret = try await gpg(home, pass + ["--armor", "--export-secret-keys", String(fingerprint)]).standardOutput
            let publicKey = try await gpg(home, ["--armor", "--export", String(fingerprint)]).standardOutput
            return Key(fingerprint: String(fingerprint), secretArmor: secret, publicArmor: publicKey, passphrase: passphrase)
        }
        return GPGFixtures(
            home: home,
            ed25519: try await make("Flux CI Ed <ed@example.com>", primary: "ed25519", usage: "cert,sign", subkey: "cv25519", passphrase: nil),
            rsa: try await make("Flux CI RSA <rsa@example.com>", primary: "rsa2048", usage: "cert,sign", subkey: "rsa2048", passphrase: nil),
            protected: try await make(
                "Flux CI Protected <protected@example.com>", primary: "ed25519", usage: "cert,sign", subkey: "cv25519",
                passphrase: "correct horse battery staple"),
            signingOnly: try await make("Flux CI Signing <sign@example.com>", primary: "ed25519", usage: "cert,sign", subkey: nil, passphrase: nil),
            expired: try await make(
                "Flux CI Expired <expired@example.com>", primary: "ed25519", usage: "cert,sign", subkey: "cv25519", passphrase: nil,
                fakedTime: "20200101T000000!", expire: "1y"))
    }

    /// Encrypts a message to `fingerprint` with the gpg CLI, as SOPS does for a data key.
    public func encrypt(_ message: String, to fingerprint: String) async throws -> String {
        try await Self.gpg(home, ["--armor", "--trust-model", "always", "--encrypt", "--recipient", fingerprint], input: message).standardOutput
    }
}

/// Secret forms that must never appear in anything a command printed: the value, its base64,
/// and each line of it (8 characters or longer). `::add-mask::` lines are the runner's and are
/// left out of the scan, as GitHub swallows them.
public func leakedSecrets(in output: String, secrets: [String]) -> [String] {
    let visible = output.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("::add-mask::") }.joined(separator: "\n")
    var forms: Set<String> = []
    for secret in secrets where !secret.isEmpty {
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        forms.insert(trimmed)
        forms.insert(Data(trimmed.utf8).base64EncodedString())
        for line in trimmed.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: .whitespaces)
            if line.count >= 8 && !line.hasPrefix("-----") && !line.hasPrefix("#") { forms.insert(line) }
        }
    }
    return forms.filter { visible.contains($0) }.sorted()
}

/// Test homes to remove when the test process ends, with their gpg-agents: Swift Testing has
/// no hook after the last test.
nonisolated(unsafe) private var homesToRemove: [String] = []
private let removalLock = NSLock()

public func removeAtExit(_ directory: URL) {
    removalLock.withLock {
        if homesToRemove.isEmpty {
            atexit {
                for home in homesToRemove {
                    var pid = pid_t()
                    let words: [String] = ["gpgconf", "--homedir", home, "--kill", "all"]
                    let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
                    if posix_spawnp(&pid, "gpgconf", nil, nil, argv, environ) == 0 {
                        var status: Int32 = 0
                        waitpid(pid, &status, 0)
                    }
                    try? FileManager.default.removeItem(atPath: home)
                }
            }
        }
        homesToRemove.append(directory.path)
    }
}
