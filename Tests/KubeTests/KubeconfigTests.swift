import Foundation
import Testing
import TestSupport

@testable import Kube

@Suite struct KubeconfigTests {
    static func write(_ text: String, in directory: URL, _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func mergesFilesAsKubectlDoes() throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-kubeconfig")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CA".write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        let first = try Self.write("""
            apiVersion: v1
            kind: Config
            current-context: a
            clusters:
            - name: one
              cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt}
            users:
            - name: u
              user: {token: first-token}
            contexts:
            - name: a
              context: {cluster: one, user: u, namespace: flux-system}
            """, in: directory, "first")
        let second = try Self.write("""
            apiVersion: v1
            kind: Config
            current-context: b
            clusters:
            - name: one
              cluster: {server: "https://10.0.0.1"}
            - name: two
              cluster: {server: "https://127.0.0.2:443", insecure-skip-tls-verify: true}
            users:
            - name: u
              user: {token: second-token}
            contexts:
            - name: b
              context: {cluster: two, user: u}
            """, in: directory, "second")
        let paths = Kubeconfig.paths(explicit: nil, environment: ["KUBECONFIG": "\(first):/nonexistent:\(second)"])
        #expect(paths.count == 3)
        let config = try Kubeconfig.load(paths, explicit: false)
        #expect(config.currentContext == "a")
        let a = try config.connection(context: nil)
        #expect(a.server.absoluteString == "https://127.0.0.1:6443")
        #expect(a.token == "first-token")
        #expect(a.namespace == "flux-system")
        #expect(a.certificateAuthorityPEM == Data("CA".utf8))
        let b = try config.connection(context: "b")
        #expect(b.server.absoluteString == "https://127.0.0.2:443" && b.insecureSkipTLSVerify && b.token == "first-token")
    }

    @Test func badConfigurationsSayWhatAndWhere() throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-kubeconfig")
        defer { try? FileManager.default.removeItem(at: directory) }
        let noCurrent = try Self.write("apiVersion: v1\nkind: Config\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", in: directory, "nocurrent")
        #expect { try Kubeconfig.load([noCurrent], explicit: true).connection(context: nil) } throws: { error in
            "\(error)".contains("sets no current-context") && (error as? KubeError)?.fix.contains("--context (one of: x)") == true
        }
        #expect { try Kubeconfig.load([noCurrent], explicit: true).connection(context: "missing") } throws: { error in
            "\(error)".contains("The context 'missing' is not in the kubeconfig \(noCurrent)")
        }
        let missingCert = try Self.write("""
            current-context: x
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
            users: [{name: u, user: {client-certificate: missing.crt, client-key: missing.key}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            """, in: directory, "missingcert")
        #expect { try Kubeconfig.load([missingCert], explicit: true).connection(context: nil) } throws: { error in
            "\(error)".contains("client-certificate file \(directory.path)/missing.crt")
        }
        #expect { try Kubeconfig.load([directory.appendingPathComponent("nope").path], explicit: true) } throws: { error in
            "\(error)".contains("does not exist")
        }
    }

    @Test func execPluginTokensAndFailures() async throws {
        let directory = try TestPaths.temporaryDirectory("fluxci-kubeconfig")
        defer { try? FileManager.default.removeItem(at: directory) }
        func plugin(_ name: String, _ script: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try ("#!/bin/sh\n" + script).write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }
        let good = try plugin("good", #"echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin-'"$CLUSTER"'"}}'"#)
        let failing = try plugin("failing", "echo 'error: not logged in' >&2; exit 3")
        let garbage = try plugin("garbage", "echo hello")
        func connection(_ command: String) -> Connection {
            Connection(
                server: URL(string: "https://127.0.0.1:1")!, contextName: "eks",
                exec: Kubeconfig.ExecConfig(command: command, arguments: [], environment: [("CLUSTER", "prod")], apiVersion: "client.authentication.k8s.io/v1", installHint: nil),
                kubeconfig: "test")
        }
        let credentials = ExecCredentials(connection(good).exec!, connection: connection(good))
        #expect(try await credentials.token() == "from-plugin-prod")
        await #expect { try await ExecCredentials(connection(failing).exec!, connection: connection(failing)).token() } throws: { error in
            "\(error)".contains("failed") && "\(error)".contains("not logged in")
        }
        await #expect { try await ExecCredentials(connection(garbage).exec!, connection: connection(garbage)).token() } throws: { error in
            "\(error)".contains("not an ExecCredential")
        }
    }

    @Test func inClusterConfiguration() throws {
        let root = try TestPaths.temporaryDirectory("fluxci-sa")
        defer { try? FileManager.default.removeItem(at: root) }
        try "sa-token\n".write(to: root.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "flux-system".write(to: root.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let connection = try Connection.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], root: root.path)
        #expect(connection.server.absoluteString == "https://10.96.0.1:443" && connection.token == "sa-token" && connection.namespace == "flux-system")
        #expect(throws: KubeError.self) { try Connection.inCluster(environment: [:], root: root.path) }
    }
}
