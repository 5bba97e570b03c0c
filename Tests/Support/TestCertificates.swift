import Foundation

/// A throw-away PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1 and
/// localhost (RSA), and a client certificate with an EC key (as kind writes them).
public struct TestCertificates: Sendable {
    public var directory: URL
    public var caPEM: Data
    public var serverCertificatePEM: Data
    public var serverKeyPEM: Data
    public var clientCertificatePEM: Data
    public var clientKeyPEM: Data
    /// A CA nobody trusts, for the "certificate not trusted" case.
    public var otherCAPEM: Data

    public static func shared() async throws -> TestCertificates {
        try await Store.shared.get()
    }

    private actor Store {
        static let shared = Store()
        var task: Task<TestCertificates, Error>?
        func get() async throws -> TestCertificates {
            if task == nil { task = Task { try await TestCertificates.make() } }
            return try await task!.value
        }
    }

    static func make() async throws -> TestCertificates {
        let directory = try TestPaths.temporaryDirectory("fluxci-pki")
        removeAtExit(directory)
        func openssl(_ arguments: [String]) async throws {
            let result = try await runTool("openssl", arguments, workingDirectory: directory)
            guard result.status == 0 else { throw ToolMissing(name: "openssl \(arguments.first ?? ""): \(result.standardError)") }
        }
        let ext = directory.appendingPathComponent("server.ext")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(to: ext, atomically: true, encoding: .utf8)
        let clientExt = directory.appendingPathComponent("client.ext")
        try "extendedKeyUsage=clientAuth\n".write(to: clientExt, atomically: true, encoding: .utf8)
        for name in ["ca", "other-ca"] {
            try await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt", "-days", "2", "-subj", "/CN=fluxci-test-\(name)"])
        }
        try await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"])
        try await openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"])
        try await openssl(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "client.key"])
        try await openssl(["req", "-new", "-key", "client.key", "-out", "client.csr", "-subj", "/O=system:masters/CN=fluxci-test-admin"])
        try await openssl(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2", "-extfile", "client.ext"])
        func read(_ name: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(name)) }
        return TestCertificates(
            directory: directory, caPEM: try read("ca.crt"), serverCertificatePEM: try read("server.crt"), serverKeyPEM: try read("server.key"),
            clientCertificatePEM: try read("client.crt"), clientKeyPEM: try read("client.key"), otherCAPEM: try read("other-ca.crt"))
    }
}
