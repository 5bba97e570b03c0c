import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// One object applied by several Kustomizations that build the same folder (written three ways):
/// one annotation per object, worded for the number of owners.
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

    /// Tester t5 F10 (fleet 24b): an object two Kustomizations define in two files is one
    /// error, at the first definition, naming both files:lines; its valid neighbour (each
    /// defines its own object) has no problem.
    @Test func objectDefinedTwiceInTwoFilesIsOneError() async throws {
        let broken = try await Fleet.make([
            "clusters/c/a.yaml": kustomization("a", path: "./apps/a"),
            "clusters/c/b.yaml": kustomization("b", path: "./apps/b"),
            "apps/a/cm.yaml": configMap("app", namespace: "default", data: "a: one"),
            "apps/b/cm.yaml": "# the same object again\n" + configMap("app", namespace: "default", data: "a: two"),
        ])
        defer { broken.remove() }
        let tree = try broken.read()
        let twice = tree.problems.filter { $0.title == "Object defined twice" }
        #expect(twice.count == 1, "\(twice)")
        let error = try #require(twice.first)
        #expect(error.location == SourceLocation(file: "apps/a/cm.yaml", line: 1))
        #expect(error.message.contains("apps/a/cm.yaml:1") && error.message.contains("apps/b/cm.yaml:2"), "\(error.message)")
        #expect(tree.errors.count == 1, "\(tree.errors)")

        let valid = try await Fleet.make([
            "clusters/c/a.yaml": kustomization("a", path: "./apps/a"),
            "clusters/c/b.yaml": kustomization("b", path: "./apps/b"),
            "apps/a/cm.yaml": configMap("app", namespace: "default", data: "a: one"),
            "apps/b/cm.yaml": configMap("other", namespace: "default", data: "a: two"),
        ])
        defer { valid.remove() }
        #expect(try valid.read().problems.isEmpty)
    }
}
