import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Issue 13 item 20 (tester t8 F2): an object defined more than once in what one Kustomization
/// builds is one fault, so one problem: at the definition kustomize refuses (the second it
/// reads), naming every definition. The real kustomize refuses the same builds.
@Suite struct DuplicateDefinitionTests {
    static func deployment(_ comment: String = "") -> String {
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: web\(comment)\nspec:\n  template:\n    spec:\n      containers:\n        - {name: web, image: nginx:1.0}\n"
    }

    /// kubectl's own verdict on a folder of the fleet: the id it refuses.
    static func kustomizeRefuses(_ folder: URL) throws -> String? {
        let tool = try #require(KustomizeTool(path: ProcessInfo.processInfo.environment["PATH"]))
        if case .failure(let failure) = tool.build(folder.path) { return RegisteredIds.refusal(in: failure.message)?.id.description }
        return nil
    }

    /// t8's repro: two files of a folder without kustomization.yaml (Flux's generated one lists
    /// them in byte order); the same in a kustomization.yaml's resources; three definitions.
    @Test func oneProblemAtTheRefusedDefinition() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/plain.yaml": kustomization("plain", path: "./plain"),
            "clusters/c/listed.yaml": kustomization("listed", path: "./listed"),
            "clusters/c/three.yaml": kustomization("three", path: "./three"),
            "clusters/c/fine.yaml": kustomization("fine", path: "./fine"),
            "plain/a.yaml": Self.deployment(),
            "plain/b.yaml": Self.deployment(),
            "listed/kustomization.yaml": "resources:\n  - second.yaml\n  - first.yaml\n",
            "listed/first.yaml": "# read second\n" + Self.deployment(),
            "listed/second.yaml": Self.deployment(),
            "three/a.yaml": Self.deployment(),
            "three/b.yaml": Self.deployment(),
            "three/c.yaml": Self.deployment(),
            "fine/cm.yaml": configMap("fine", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let failures = tree.problems.filter { $0.title == "Kustomize build failed" }
        #expect(failures.count == 3 && tree.problems.count == 3, "\(tree.problems)")
        func failure(_ name: String) -> Annotation? { failures.first { $0.message.contains("the Kustomization flux-system/\(name) builds") } }

        let plain = try #require(failure("plain"))
        #expect(plain.location == SourceLocation(file: "plain/b.yaml", line: 4))
        #expect(plain.message.contains("Deployment/web/web is defined 2 times in what the Kustomization flux-system/plain builds (plain/a.yaml:4 and plain/b.yaml:4): kustomize refuses the second, plain/b.yaml:4"), "\(plain.message)")
        #expect(plain.message.contains("\"may not add resource with an already registered id: Deployment.v1.apps/web.web\""), "\(plain.message)")

        // kustomize reads resources in the order listed, not the files' order.
        let listed = try #require(failure("listed"))
        #expect(listed.location == SourceLocation(file: "listed/first.yaml", line: 5))
        #expect(listed.message.contains("(listed/second.yaml:4 and listed/first.yaml:5)"), "\(listed.message)")

        let three = try #require(failure("three"))
        #expect(three.location == SourceLocation(file: "three/b.yaml", line: 4))
        #expect(three.message.contains("defined 3 times in what the Kustomization flux-system/three builds (three/a.yaml:4 and three/b.yaml:4 and three/c.yaml:4)"), "\(three.message)")
        #expect(three.fix?.contains("remove the others") == true)

        for name in ["plain", "listed", "three"] {
            #expect(tree.builds[.init(namespace: "flux-system", name: name)] == .notBuilt("Deployment/web/web defined twice"))
        }
        #expect(tree.builds[.init(namespace: "flux-system", name: "fine")] == .built)

        // The real kustomize refuses each of these builds on that id (a folder with no
        // kustomization.yaml gets the one Flux generates, as fluxci writes it).
        #expect(try Self.kustomizeRefuses(fleet.directory.appendingPathComponent("listed")) == "Deployment/web/web")
        try Data("resources: [a.yaml, b.yaml, c.yaml]\n".utf8).write(to: fleet.directory.appendingPathComponent("three/kustomization.yaml"))
        #expect(try Self.kustomizeRefuses(fleet.directory.appendingPathComponent("three")) == "Deployment/web/web")
    }
}
