import Foundation
import Testing
import TestSupport

/// The fixture fleets of Tests/Fixtures/Fleets: repositories with the shapes of public Flux
/// fleets, each with the Kustomization table Flux's controllers give and broken variants with
/// exactly their problem. Each is made a git repository served over smart HTTP and planned with
/// `fluxci bootstrap --plan`, the example's published keys, as on GitHub.
///
/// The expected values are what Flux does (kustomize-controller's build, source-controller's
/// artifact), reasoned from the controllers and `kubectl kustomize --load-restrictor
/// LoadRestrictionsNone` on the fixture; never what fluxci printed. The `kubectl kustomize`
/// builds of every path are checked below too.
@Suite(.serialized) struct FleetFixtureTests {
    @Test(arguments: FleetFixture.cases)
    func planMatchesWhatFluxDoes(_ fixtureCase: FleetFixture.Case) async throws {
        let fixture = try FleetFixture.load(fixtureCase.fixture)
        let run = try await fixture.plan(variant: fixtureCase.variant)
        if let variant = fixtureCase.variant {
            let expected = try #require(fixture.expected.variants[variant])
            let wanted = Set(expected.problems)
            #expect(run.problems == wanted, "\(fixtureCase): \(expected.why)\n\(run.result.standardError)")
            if wanted.contains(where: { $0.level == "error" }) { #expect(run.result.status != 0) }
        } else {
            #expect(run.result.status == 0, "\(run.result.allOutput)")
            #expect(run.problems.isEmpty, "\(fixtureCase): no problem expected, got \(run.problems)")
            let table = try #require(
                FleetFixture.table(in: run.summary, heading: "Kustomizations of \(fixture.expected.cluster)"),
                "no Kustomization table in the step summary:\n\(run.summary)")
            #expect(Set(table.map(\.id)) == Set(fixture.expected.kustomizations.map(\.id)), "Kustomizations of \(fixtureCase)")
            for row in fixture.expected.kustomizations {
                guard let actual = table.first(where: { $0.id == row.id }) else { continue }
                #expect(actual.comparable == row.comparable, "row \(row.id) of \(fixtureCase)")
            }
        }
        // The plan decrypts in memory only: no test value reaches the output.
        #expect(leakedSecrets(in: run.result.allOutput + run.summary, secrets: FleetFixture.plaintexts).isEmpty)
    }

    /// The fixtures are valid kustomize: every built path of the good fleets builds with the real
    /// kustomize (load restrictions off, as Flux builds), so the expectations rest on real builds.
    @Test(arguments: ["cloud-env", "kustomize-helm", "multi-tenancy", "home-lab", "nested-flux-system"])
    func everyBuiltPathBuildsWithKubectlKustomize(_ name: String) async throws {
        let fixture = try FleetFixture.load(name)
        let checkout = try fixture.checkout(variant: nil)
        for row in fixture.expected.kustomizations where row.built == "yes" {
            let path = checkout.appendingPathComponent(FleetFixture.normalize(row.path))
            let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"].contains {
                FileManager.default.fileExists(atPath: path.appendingPathComponent($0).path)
            }
            guard kustomization else { continue }  // Flux generates one there; fluxci's tree reader builds those
            let result = try await runTool("kubectl", ["kustomize", "--load-restrictor", "LoadRestrictionsNone", path.path])
            #expect(result.status == 0, "kubectl kustomize \(row.path): \(result.standardError)")
        }
    }
}

/// One fixture fleet: `fleet/` (the repository), `expected.json`, `variants/<name>/` (files
/// replacing the fleet's files at the same paths).
struct FleetFixture {
    struct Problem: Hashable, Codable, CustomStringConvertible {
        var level: String
        var file: String
        var line: Int
        var title: String
        var description: String { "\(level) \(file):\(line) \(title)" }
    }

    struct Row: Codable, Equatable {
        var kustomization: String
        var source: String
        var path: String
        var dependsOn: String
        var decryption: String
        var definedIn: String
        var sopsFiles: String
        var built: String

        enum CodingKeys: String, CodingKey {
            case kustomization = "Kustomization", source = "Source", path = "Path", dependsOn = "Depends on", decryption = "Decryption"
            case definedIn = "Defined in", sopsFiles = "SOPS files", built = "Built"
        }

        var id: String { kustomization }

        /// Order-free lists, paths without `./`, and `no: <why>` as `no` (the why is prose).
        var comparable: [String] {
            func list(_ text: String) -> String {
                text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.sorted().joined(separator: ", ")
            }
            let builtVerdict = built.hasPrefix("no") ? "no" : built
            return [kustomization, source, FleetFixture.normalize(path), list(dependsOn), decryption, definedIn, list(sopsFiles), builtVerdict]
        }
    }

    struct Variant: Codable {
        var why: String
        var problems: [Problem]
    }

    struct Expected: Codable {
        var about: String
        var arguments: [String]
        var components: [String]
        var cluster: String
        var kustomizations: [Row]
        var variants: [String: Variant]
    }

    struct Case: Sendable, CustomTestStringConvertible, CustomStringConvertible {
        var fixture: String
        var variant: String?
        var description: String { variant.map { "\(fixture)/\($0)" } ?? fixture }
        var testDescription: String { description }
    }

    struct Run {
        var result: ProcessResult
        var summary: String
        var problems: Set<Problem>
    }

    static let root = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/Fleets")
    /// The example repository's published test key, which the fixtures' SOPS files are encrypted for.
    static let ageKey = TestPaths.packageRoot.appendingPathComponent("Examples/fleet/.secrets/kind/local/age/age.agekey")
    /// The test values scripts/make-fixtures encrypts: none may show in any output.
    static let plaintexts = ["staging-password-not-secret", "example.invalid", "token-not-secret", "jellyfin-key-not-secret"]

    let name: String
    let directory: URL
    let expected: Expected

    static var cases: [Case] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).sorted()
        return names.flatMap { name -> [Case] in
            guard let fixture = try? load(name) else { return [] }
            return [Case(fixture: name)] + fixture.expected.variants.keys.sorted().map { Case(fixture: name, variant: $0) }
        }
    }

    static func load(_ name: String) throws -> FleetFixture {
        let directory = root.appendingPathComponent(name)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        return FleetFixture(name: name, directory: directory, expected: expected)
    }

    /// The fleet copied to a temporary folder, the real Flux components put where flux bootstrap
    /// commits them, the variant's files over it.
    func checkout(variant: String?) throws -> URL {
        let parent = try TestPaths.temporaryDirectory("fluxci-fixture")
        removeAtExit(parent)
        let checkout = parent.appendingPathComponent(name)
        try FileManager.default.copyItem(at: directory.appendingPathComponent("fleet"), to: checkout)
        let components = try TestPaths.shared("testdata/flux/gotk-components-v2.6.4.yaml")
        for path in expected.components {
            try FileManager.default.copyItem(at: components, to: checkout.appendingPathComponent(path))
        }
        if let variant {
            let files = directory.appendingPathComponent("variants/\(variant)")
            guard let enumerator = FileManager.default.enumerator(atPath: files.path) else { throw CocoaError(.fileNoSuchFile) }
            for case let relative as String in enumerator {
                let source = files.appendingPathComponent(relative)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                let target = checkout.appendingPathComponent(relative)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: source, to: target)
            }
        }
        return checkout
    }

    /// A git repository of the fleet (one commit on main) behind a real git server, planned as a
    /// workflow step would plan it.
    func plan(variant: String?) async throws -> Run {
        let checkout = try checkout(variant: variant)
        let server = try await GitServer.start()
        defer { server.stop() }
        let bare = try await server.createRepository("\(name).git")
        try await git(["init", "--quiet", "--initial-branch=main", checkout.path])
        try await git(["add", "-A"], in: checkout)
        try await git(["-c", "user.name=fixture", "-c", "user.email=fixture@fluxci.invalid", "commit", "--quiet", "-m", "fleet"], in: checkout)
        try await git(["push", "--quiet", bare.path, "main"], in: checkout)
        try await git(["remote", "add", "origin", server.url("\(name).git")], in: checkout)
        let summary = checkout.deletingLastPathComponent().appendingPathComponent("summary.md")
        let result = try await runProcess(
            TestPaths.executable("fluxci"), ["bootstrap", "--plan"] + expected.arguments,
            environment: [
                "SOPS_AGE_KEY_FILE": Self.ageKey.path, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary.path,
                "TMPDIR": checkout.deletingLastPathComponent().path,
            ],
            workingDirectory: checkout)
        let text = (try? String(contentsOf: summary, encoding: .utf8)) ?? ""
        return Run(result: result, summary: text, problems: Set(Self.problems(in: result.standardError)))
    }

    /// Error and warning annotations with a file: `::error title=T,file=F,line=L::message`.
    static func problems(in log: String) -> [Problem] {
        log.split(separator: "\n").compactMap { line -> Problem? in
            let level: String
            if line.hasPrefix("::error ") { level = "error" } else if line.hasPrefix("::warning ") { level = "warning" } else { return nil }
            let rest = line.dropFirst(level.count + 3)
            guard let end = rest.range(of: "::") else { return nil }
            var properties: [String: String] = [:]
            for pair in rest[..<end.lowerBound].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { properties[parts[0]] = unescapeProperty(parts[1]) }
            }
            guard let file = properties["file"] else { return nil }
            return Problem(level: level, file: file, line: properties["line"].flatMap(Int.init) ?? 0, title: properties["title"] ?? "")
        }
    }

    /// GitHub's property escaping undone (`%25`, `%0D`, `%0A`, `%3A`, `%2C`).
    static func unescapeProperty(_ text: String) -> String {
        var out = text
        for (escaped, plain) in [("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")] {
            out = out.replacingOccurrences(of: escaped, with: plain)
        }
        return out
    }

    /// The table under `### <heading>` in a step summary, each row by its column names.
    static func table(in summary: String, heading: String) -> [Row]? {
        let lines = summary.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("#") && $0.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces) == heading })
        else { return nil }
        let tableLines = lines[(start + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        guard tableLines.count >= 2 else { return [] }
        let header = cells(tableLines.first!)
        return tableLines.dropFirst(2).compactMap { line in
            var object: [String: String] = [:]
            for (name, value) in zip(header, cells(line)) { object[name] = value }
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return nil }
            return try? JSONDecoder().decode(Row.self, from: data)
        }
    }

    /// The cells of a Markdown table row as StepSummary writes them (`\|` inside a cell, HTML
    /// entities, `<br>` for a line break).
    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var characters = line.dropFirst().makeIterator()  // the leading `|`
        while let character = characters.next() {
            if character == "\\" {
                if let next = characters.next() { current.append(next == "|" ? "|" : "\\"); if next != "|" { current.append(next) } }
            } else if character == "|" {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        return cells.map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "<br>", with: "\n").replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        }
    }

    /// `./a/b/` → `a/b`.
    static func normalize(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
    }
}
