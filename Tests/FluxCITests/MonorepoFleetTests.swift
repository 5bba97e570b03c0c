import Foundation
import Testing
import TestSupport

/// Issue 13 item 10, tester t9 F3: a fleet in a folder of its git repository (a monorepo with
/// `deploy/flux/clusters/…` beside `src/`), through the real `fluxci` and a real git repository.
/// Flux's GitRepository artifact is the whole repository at the commit and kustomize-controller
/// reads every spec.path from its top, so `./deploy/flux/…` is the valid fleet and
/// `./kubernetes/…` (relative to the folder) the broken one, with `--repository deploy/flux`
/// or run from that folder, served (`--serve`) or fetched from origin; the revision is the
/// repository's commit (or a work tree commit on top of it).
@Suite(.serialized) struct MonorepoFleetTests {
    static let folder = "deploy/flux"

    /// The example fleet moved into deploy/flux of a repository that also holds src/. `valid`:
    /// every Flux spec.path from the repository's top; else the apps Kustomization's spec.path
    /// is left relative to the folder (`./kubernetes/overlays/kind/local/apps`, line 10).
    static func monorepo(valid: Bool) async throws -> ExampleFleet {
        try await ExampleFleet.make { checkout in
            let manager = FileManager.default
            let inner = checkout.appendingPathComponent(folder)
            let entries = try manager.contentsOfDirectory(atPath: checkout.path)
            try manager.createDirectory(at: inner, withIntermediateDirectories: true)
            for name in entries { try manager.moveItem(at: checkout.appendingPathComponent(name), to: inner.appendingPathComponent(name)) }
            try manager.createDirectory(at: checkout.appendingPathComponent("src"), withIntermediateDirectories: true)
            try "print('app')\n".write(to: checkout.appendingPathComponent("src/main.py"), atomically: true, encoding: .utf8)
            let clusters = inner.appendingPathComponent("clusters/kind/local")
            for file in try manager.subpathsOfDirectory(atPath: clusters.path) where file.hasSuffix(".yaml") {
                if !valid && file == "apps.yaml" { continue }
                let url = clusters.appendingPathComponent(file)
                let text = try String(contentsOf: url, encoding: .utf8)
                try text.replacingOccurrences(of: "path: ./", with: "path: ./\(folder)/").write(to: url, atomically: true, encoding: .utf8)
            }
        }
    }

    struct Run {
        var status: Int32
        var output: String
        var revision: String
    }

    /// `fluxci bootstrap --plan --cluster-path clusters/kind/local`, pointed at the folder with
    /// `--repository` from the top or run from inside it, on GitHub (annotations, outputs).
    static func plan(_ fleet: ExampleFleet, fromInside: Bool, serve: [String] = []) async throws -> Run {
        let scratch = fleet.checkout.deletingLastPathComponent()
        let outputs = scratch.appendingPathComponent("output-\(UUID().uuidString.prefix(6))")
        try Data().write(to: outputs)
        let result = try await runProcess(
            TestPaths.executable("fluxci"),
            ["bootstrap", "--plan", "--cluster-path", "clusters/kind/local"] + (fromInside ? [] : ["--repository", folder]) + serve,
            environment: [
                "SOPS_AGE_KEY_FILE": BootstrapCommandEdgeTests.exampleKey.path, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs.path,
                "GITHUB_STEP_SUMMARY": scratch.appendingPathComponent("summary.md").path, "TMPDIR": scratch.path,
            ], workingDirectory: fromInside ? fleet.checkout.appendingPathComponent(folder) : fleet.checkout)
        let written = (try? String(contentsOf: outputs, encoding: .utf8)) ?? ""
        let revision = written.firstMatch(of: /[a-z]+@sha1:[0-9a-f]{40}/).map { String($0.0) } ?? ""
        return Run(status: result.status, output: result.allOutput, revision: revision)
    }

    @Test(arguments: [(false, [String]()), (true, []), (false, ["--serve"]), (true, ["--serve"])])
    func theValidFleetPassesAtTheRepositorysCommit(_ fromInside: Bool, _ serve: [String]) async throws {
        let fleet = try await Self.monorepo(valid: true)
        defer { fleet.server.stop() }
        let head = try await fleet.head()
        let run = try await Self.plan(fleet, fromInside: fromInside, serve: serve)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("All 2 SOPS files the cluster decrypts decrypt with the imported keys."), "\(run.output)")
        #expect(run.revision == "main@sha1:\(head)", "the repository's own commit, also served: \(run.output)")
        #expect(!run.output.contains("as the root"), "\(run.output)")
    }

    @Test(arguments: [(false, [String]()), (true, []), (false, ["--serve"]), (true, ["--serve"])])
    func theFleetWhosePathIsRelativeToItsFolderFails(_ fromInside: Bool, _ serve: [String]) async throws {
        let fleet = try await Self.monorepo(valid: false)
        defer { fleet.server.stop() }
        let head = try await fleet.head()
        let run = try await Self.plan(fleet, fromInside: fromInside, serve: serve)
        #expect(run.status == 1, "\(run.output)")
        // At the written spec.path, by its repository-relative file, as GitHub's annotations need.
        #expect(run.output.contains("file=\(Self.folder)/clusters/kind/local/apps.yaml,line=10::"), "\(run.output)")
        #expect(run.output.contains("kubernetes/overlays/kind/local/apps"), "\(run.output)")
        #expect(run.revision == "main@sha1:\(head)", "\(run.output)")
    }

    /// The fleet whose every spec.path (gotk-sync's too) is relative to its folder (t9's fleet f):
    /// Flux finds no ./clusters/kind/local in the repository, so the plan fails at the sync.
    @Test(arguments: [false, true])
    func aFleetWrittenAsItsOwnRepositoryFailsInAFolder(_ fromInside: Bool) async throws {
        let fleet = try await ExampleFleet.make { checkout in
            let manager = FileManager.default
            let inner = checkout.appendingPathComponent(Self.folder)
            let entries = try manager.contentsOfDirectory(atPath: checkout.path)
            try manager.createDirectory(at: inner, withIntermediateDirectories: true)
            for name in entries { try manager.moveItem(at: checkout.appendingPathComponent(name), to: inner.appendingPathComponent(name)) }
        }
        defer { fleet.server.stop() }
        let run = try await Self.plan(fleet, fromInside: fromInside, serve: ["--serve"])
        #expect(run.status == 1, "\(run.output)")
        #expect(run.output.contains("title=No Flux sync manifests,file=\(Self.folder)/clusters/kind/local/flux-system::"), "\(run.output)")
        #expect(run.output.contains("(path ./clusters/kind/local)"), "\(run.output)")
    }

    /// --include-worktree serves the whole work tree on top of HEAD: an uncommitted fix of the
    /// folder-relative spec.path is what is tested, and the revision is a commit fluxci made
    /// (not HEAD) whose links still point at HEAD, the commit it was made from.
    @Test(arguments: [false, true])
    func theWorkTreeOfTheWholeRepositoryIsServed(_ fromInside: Bool) async throws {
        let fleet = try await Self.monorepo(valid: false)
        defer { fleet.server.stop() }
        let head = try await fleet.head()
        let apps = fleet.checkout.appendingPathComponent("\(Self.folder)/clusters/kind/local/apps.yaml")
        let text = try String(contentsOf: apps, encoding: .utf8)
        try text.replacingOccurrences(of: "path: ./", with: "path: ./\(Self.folder)/").write(to: apps, atomically: true, encoding: .utf8)
        let committed = try await Self.plan(fleet, fromInside: fromInside, serve: ["--serve"])
        #expect(committed.status == 1, "without --include-worktree the commit (HEAD) is served: \(committed.output)")
        #expect(committed.output.contains("uncommitted change"), "\(committed.output)")
        let run = try await Self.plan(fleet, fromInside: fromInside, serve: ["--serve", "--include-worktree"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.revision.hasPrefix("main@sha1:") && run.revision != "main@sha1:\(head)", "\(run.output)")
        #expect(run.output.contains("the work tree on top of \(head.prefix(7))"), "\(run.output)")
    }

    /// `fluxci matrix` in the folder lists its cluster relative to the folder (what
    /// --cluster-path takes with the same --repository); from the top, relative to the top.
    @Test func matrixFromTheFolderListsTheClusters() async throws {
        let fleet = try await Self.monorepo(valid: true)
        defer { fleet.server.stop() }
        let inside = try await runProcess(TestPaths.executable("fluxci"), ["matrix"], workingDirectory: fleet.checkout.appendingPathComponent(Self.folder))
        #expect(inside.status == 0, "\(inside.allOutput)")
        #expect(inside.standardOutput == #"{"include":[{"cloud":"kind","env":"local","path":"clusters/kind/local"}]}"# + "\n", "\(inside.allOutput)")
        let pointed = try await runProcess(TestPaths.executable("fluxci"), ["matrix", "--repository", Self.folder], workingDirectory: fleet.checkout)
        #expect(pointed.standardOutput == inside.standardOutput, "\(pointed.allOutput)")
        let top = try await runProcess(TestPaths.executable("fluxci"), ["matrix"], workingDirectory: fleet.checkout)
        #expect(top.standardOutput == #"{"include":[{"path":"deploy/flux/clusters/kind/local"}]}"# + "\n", "\(top.allOutput)")
        // The folder-relative sync (t9's fleet f) syncs a path this repository does not have: the
        // cluster is listed under its own path, with a warning whose fix is the path from the
        // repository's top (tester t12 F12), so that its run fails on it.
        let wrong = try await ExampleFleet.make { checkout in
            let inner = checkout.appendingPathComponent(Self.folder)
            let entries = try FileManager.default.contentsOfDirectory(atPath: checkout.path)
            try FileManager.default.createDirectory(at: inner, withIntermediateDirectories: true)
            for name in entries { try FileManager.default.moveItem(at: checkout.appendingPathComponent(name), to: inner.appendingPathComponent(name)) }
        }
        defer { wrong.server.stop() }
        let none = try await runProcess(TestPaths.executable("fluxci"), ["matrix"], workingDirectory: wrong.checkout.appendingPathComponent(Self.folder))
        #expect(none.status == 0 && none.standardOutput == #"{"include":[{"cloud":"kind","env":"local","path":"clusters/kind/local"}]}"# + "\n", "\(none.allOutput)")
        #expect(none.allOutput.contains("Sync path of another cluster") && none.allOutput.contains("Set spec.path to ./\(Self.folder)/clusters/kind/local"), "\(none.allOutput)")
    }
}
