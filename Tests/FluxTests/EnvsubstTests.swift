import Actions
import Foundation
import Kube
import Testing
import TestSupport

@testable import Flux

/// Issue 13's postBuild: every form fluxcd/pkg envsubst parses, with the result its Go code
/// gives (expected values worked out from parse.go, template.go and funcs.go, not from fluxci:
/// where Flux differs from bash the comment says so), its parse errors, and strict mode.
@Suite struct EnvsubstTests {
    static let variables = [
        "NAME": "podinfo", "EMPTY": "", "DOMAIN": "example.com", "PATHS": "a/b/c", "GREETING": "Hello", "ACCENT": "é",
    ]

    static let forms: [(String, String)] = [
        ("${NAME}", "podinfo"),
        ("x-${NAME}-y", "x-podinfo-y"),
        // Every default operator gives its argument when the value is empty or unset.
        ("${UNSET:=d}", "d"), ("${EMPTY:=d}", "d"), ("${NAME:=d}", "podinfo"), ("${UNSET=d}", "d"), ("${UNSET:-d}", "d"),
        ("${UNSET:?d}", "d"),
        // `:+` is a default too (bash would give the word only when the value is set).
        ("${UNSET:+d}", "d"), ("${NAME:+d}", "podinfo"),
        ("${UNSET:=${NAME}}", "podinfo"), ("${UNSET:=a${NAME}b}", "apodinfob"),
        // No escapes inside a default's word.
        ("${UNSET:=a$$b}", "a$$b"),
        ("$${NAME}", "${NAME}"), ("$$$${NAME}", "$${NAME}"), ("cost: $5", "cost: $5"), ("a$", "a$"),
        // Length in UTF-8 bytes.
        ("${#NAME}", "7"), ("${#ACCENT}", "2"), ("${#UNSET}", "0"),
        ("${NAME:3}", "info"), ("${NAME:0:3}", "pod"), ("${NAME:1:-1}", "odinf"), ("${NAME:10}", ""), ("${NAME:2:100}", "dinfo"),
        ("${NAME:x}", "podinfo"), ("${NAME:1:y}", "podinfo"), ("${NAME:5:-4}", ""),
        ("${DOMAIN/example/acme}", "acme.com"), ("${DOMAIN/.com/}", "example"), ("${PATHS//\\//-}", "a-b-c"),
        ("${PATHS/\\//}", "ab/c"), ("${DOMAIN/#example/www}", "www.com"), ("${DOMAIN/%com/org}", "example.org"),
        ("${DOMAIN/#x/y}", "example.com"), ("${DOMAIN/#example/}", "example.com"),
        ("${DOMAIN/e/$$}", "$xample.com"),
        // Glob trims: `*` stops at `/`, and Go tries prefixes down to one byte (never the empty one).
        ("${DOMAIN#*.}", "com"), ("${PATHS##*/}", "b/c"), ("${PATHS#*/}", "b/c"), ("${PATHS%/*}", "a/b"), ("${NAME#*}", "odinfo"),
        ("${NAME%%in*}", "pod"), ("${NAME#[}", "podinfo"),
        ("${GREETING^^}", "HELLO"), ("${GREETING,,}", "hello"), ("${GREETING,}", "hello"), ("${NAME^}", "Podinfo"), ("${NAME,^}", "podinfo"),
    ]

    @Test(arguments: forms)
    func formGivesWhatFluxGives(_ form: String, _ expected: String) throws {
        var unresolved: Set<String> = []
        #expect(try PostBuild.substitute(form, variables: Self.variables, unresolved: &unresolved) == expected, "\(form)")
    }

    static let malformed: [(String, String)] = [
        ("${NAME-d}", "missing closing brace"), ("${NAME", "missing closing brace"), ("${}", "unable to parse variable name"),
        ("${-x}", "unable to parse variable name"), ("${NAME:=d", "unable to parse substitution within function"),
        ("${#}", "bad substitution"), ("${NAME:}", "unable to parse substitution within function"),
        ("${NAME:1:}", "unable to parse substitution within function"), ("${NAME/x}", "bad substitution"), ("${NAME^x}", "bad substitution"),
        ("${NAME#}", "unable to parse substitution within function"),
    ]

    @Test(arguments: malformed)
    func malformedFormFailsTheBuild(_ form: String, _ error: String) {
        var unresolved: Set<String> = []
        #expect(throws: PostBuild.Failure(description: "variable substitution failed: \(error)")) {
            try PostBuild.substitute(form, variables: Self.variables, unresolved: &unresolved)
        }
    }

    /// Unset without strict mode: the empty string, the name collected (for a warning); with
    /// strict mode a read of an unset variable fails, a default does not.
    @Test func strictMode() throws {
        var unresolved: Set<String> = []
        #expect(try PostBuild.substitute("a: ${UNSET}\nb: ${#GONE}\nc: ${X:=1}", variables: [:], unresolved: &unresolved) == "a: \nb: 0\nc: 1")
        #expect(unresolved == ["UNSET", "GONE"])
        #expect(try PostBuild.substitute("${X:=1}${EMPTY}", variables: ["EMPTY": ""], strict: true, unresolved: &unresolved) == "1")
        for form in ["${UNSET}", "${#UNSET}", "${UNSET^^}", "${UNSET/a/b}", "${X:=${UNSET}}"] {
            #expect(throws: PostBuild.Failure(description: "variable substitution failed: variable not set (strict mode): \"UNSET\"")) {
                try PostBuild.substitute(form, variables: [:], strict: true, unresolved: &unresolved)
            }
        }
    }

    /// The plan reads strict mode from the kustomize-controller Deployment of flux-system (a
    /// patch adding `--feature-gates=StrictPostBuildSubstitutions=true`, as Flux documents):
    /// then an unset variable fails the Kustomization; without it, it is a warning.
    @Test(arguments: [true, false])
    func strictModeComesFromTheComponents(_ strict: Bool) async throws {
        let controller = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: kustomize-controller, namespace: flux-system}
            spec:
              template:
                spec:
                  containers:
                    - name: manager
                      args: [--watch-all-namespaces=true, "--feature-gates=\(strict ? "StrictPostBuildSubstitutions=true" : "OtherGate=true")"]
            """
        let fleet = try await Fleet.make([
            "clusters/c/flux-system/gotk-sync.yaml": Fleet.sync,
            "clusters/c/flux-system/gotk-components.yaml": controller,
            "clusters/c/flux-system/kustomization.yaml": "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
            "clusters/c/apps.yaml": kustomization("apps", path: "./apps", extra: "  postBuild:\n    substitute: {SET: x}\n"),
            "apps/cm.yaml": configMap("c", namespace: "default", data: "a: ${SET}\n  b: ${UNSET_VALUE}"),
        ])
        defer { fleet.remove() }
        let tree = try fleet.read()
        #expect(PostBuild.strictSubstitutions(in: tree.components) == strict)
        let id = FluxKustomization.Reference(namespace: "flux-system", name: "apps")
        if strict {
            let failed = try #require(tree.problem("Substitution failed"))
            #expect(failed.message.contains("variable not set (strict mode): \"UNSET_VALUE\" (read at apps/cm.yaml:8)"), "\(failed.message)")
            #expect(failed.location == SourceLocation(file: "apps/cm.yaml", line: 8), "the read of the unset variable (tester t3 F3)")
            #expect(tree.builds[id] == .notBuilt("substitution failed"))
        } else {
            #expect(tree.errors.isEmpty, "\(tree.errors)")
            let unset = try #require(tree.problem("Variables not set"))
            #expect(unset.message.contains("uses the variable UNSET_VALUE (read at apps/cm.yaml:8), which"), "\(unset.message)")
            #expect(unset.location == SourceLocation(file: "apps/cm.yaml", line: 8), "\(unset)")
            #expect(tree.builds[id] == .built)
        }
    }
}
