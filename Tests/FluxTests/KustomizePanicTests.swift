import Actions
import Foundation
import Testing
import TestSupport

@testable import Flux

/// Tester t12 F8: kustomize panics on an object whose apiVersion, kind and name sops encrypted
/// (sops's default, no encrypted_regex) when a transformer renames it (`namespace:`). The
/// goroutine dump's addresses differ run by run, so the run on a checkout is the same failure:
/// its command is shown, and the message holds the panic's first line, not the dump.
@Suite struct KustomizePanicTests {
    @Test func aKustomizePanicIsReportedByItsFirstLine() async throws {
        // sops's default: every value encrypted, apiVersion, kind and name too.
        let encrypted = try await NoDecryptionTests.sops(
            "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: allenc\nstringData:\n  k: v\n", for: try await AgeKeyPair.generate())
        let fleet = try await Fleet.make([
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"),
            "apps/allenc.sops.yaml": encrypted,
            "apps/kustomization.yaml": "namespace: apps\nresources: [allenc.sops.yaml]\n",
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let problem = try #require(tree.problem("Kustomize build failed"), "\(tree.problems)")
        #expect(problem.message.contains("panic: "), "\(problem.message)")
        #expect(!problem.message.contains("goroutine") && !problem.message.contains("gives another result"), "\(problem.message)")
        #expect(problem.message.contains("does not build (kubectl kustomize"), "\(problem.message)")
    }

    @Test func aPanicsHeadEndsBeforeItsDump() {
        let dump = "panic: number of previous names not equal\n\ngoroutine 1 [running]:\nsigs.k8s.io/kustomize/api/resource.(*Resource).PrevIds(0xc000123456)"
        #expect(Reader.panicHead(dump) == "panic: number of previous names not equal")
        #expect(Reader.panicHead("accumulating resources: missing file") == "accumulating resources: missing file")
    }
}
