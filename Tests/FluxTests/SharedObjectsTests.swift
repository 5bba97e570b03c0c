import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// One object applied by several Kustomizations that build the same folder (written three ways):
/// one annotation per place the object is written, worded for the number of owners.
@Suite struct SharedObjectsTests {
    @Test func threeOwnersOfOneFileGetOneAnnotation() async throws {
        let fleet = try await Fleet.make([
            "clusters/c/a1.yaml": kustomization("a1", path: "apps/prod/"),
            "clusters/c/a3.yaml": kustomization("a3", path: "/apps/prod"),
            "clusters/c/a4.yaml": kustomization("a4", path: "./apps//prod/."),
            "apps/prod/cm.yaml": configMap("app", namespace: "default"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        let shared = tree.problems.filter { $0.title == "Object applied twice" }
        #expect(shared.count == 1, "\(shared)")
        let warning = try #require(shared.first)
        #expect(warning.location == SourceLocation(file: "apps/prod/cm.yaml", line: 1))
        #expect(warning.message.contains("applied by 3 Kustomizations"))
        #expect(warning.message.contains("all 3 own it") && warning.message.contains("the others still declare it"), "\(warning.message)")
        #expect(!warning.message.contains("both"))
    }
}
