import Foundation
import FluxCI
import Testing
import TestSupport

/// `fluxci annotate` and `fluxci-annotate`, run as the built executables.
@Suite struct AnnotateCommandTests {
    let github = ["GITHUB_ACTIONS": "true"]

    @Test func flagsGiveOneAnnotationWithTheFileRoundTripping() async throws {
        let result = try await runProcess(
            TestPaths.executable("fluxci"),
            ["annotate", "--level", "warning", "--file", "a:b,c\n::error::pwned", "--line", "3", "--col", "2", "--title", "T", "msg"],
            environment: github)
        #expect(result.status == 0)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines == ["::warning title=T,file=a%3Ab%2Cc%0A%3A%3Aerror%3A%3Apwned,line=3,col=2::msg"])
    }

    @Test func standaloneExecutableIsTheSameCommand() async throws {
        let result = try await runProcess(
            TestPaths.executable("fluxci-annotate"), ["--file", "x.yaml", "--line", "4", "broken"], environment: ["NO_COLOR": "1"])
        #expect(result.status == 0)
        #expect(result.standardError == "x.yaml:4: error: broken\n")
        let help = try await runProcess(TestPaths.executable("fluxci-annotate"), ["--help"])
        #expect(help.standardOutput.contains("USAGE: fluxci-annotate"))
        #expect(help.standardOutput.contains("GITHUB_STEP_SUMMARY"))
    }

    @Test func standardInputInCompilerAndJSONForm() async throws {
        let input = """
            Sources/x.swift:3:4: error: cannot find 'y' in scope
            Sources/x.swift:9: warning: unused variable
            README.md:1: note: consider this
            compiling 3 files
            ::error::injected by a tool
            {"level":"warning","file":"k.yaml","line":2,"endLine":4,"title":"T","message":"multi\\nline"}

            """
        let result = try await runProcess(TestPaths.executable("fluxci"), ["annotate"], environment: github, input: input)
        #expect(result.status == 0)
        let lines = result.standardError.split(separator: "\n").map(String.init)
        #expect(lines.contains("::error file=Sources/x.swift,line=3,col=4::cannot find 'y' in scope"))
        #expect(lines.contains("::warning file=Sources/x.swift,line=9::unused variable"))
        #expect(lines.contains("::notice file=README.md,line=1::consider this"))
        #expect(lines.contains("::warning title=T,file=k.yaml,line=2,endLine=4::multi%0Aline"))
        // Tool output is printed, but only between stop-commands markers.
        let injected = try #require(lines.firstIndex(of: "::error::injected by a tool"))
        #expect(lines[injected - 1].hasPrefix("::stop-commands::"))
        let token = lines[injected - 1].dropFirst("::stop-commands::".count)
        #expect(lines[injected + 1] == "::\(token)::")
    }

    @Test func malformedJSONIsRefusedWholeBeforeAnythingIsEmitted() async throws {
        let input = "a.swift:1: error: fine\n{\"level\":\"error\",\"file\":\"f\",\"line\":0,\"message\":\"m\"}\n"
        let result = try await runProcess(TestPaths.executable("fluxci"), ["annotate"], environment: github, input: input)
        #expect(result.status != 0)
        #expect(!result.standardError.contains("::error file=a.swift"))
        #expect(result.standardError.contains("::error title=Invalid annotation input,file=stdin,line=2::'line' must be a positive integer"))
    }

    @Test(arguments: [
        (["--level", "fatal", "m"], "--level"),
        (["--file", "f", "--line", "0", "m"], "--line must be a positive integer"),
        (["--file", "f", "--line", "x", "m"], "--line"),
        (["--line", "3", "m"], "need --file"),
        (["--file", "f", "--line", "5", "--end-line", "2", "m"], "is before --line"),
    ])
    func badFlagsAreRefused(arguments: [String], expected: String) async throws {
        let result = try await runProcess(TestPaths.executable("fluxci"), ["annotate"] + arguments, environment: github)
        #expect(result.status != 0)
        #expect(result.allOutput.contains(expected))
        #expect(!result.allOutput.contains("::error") && !result.allOutput.contains("::warning"))
    }

    @Test func versionOnEveryExecutable() async throws {
        for name in ["fluxci", "fluxci-annotate"] {
            let result = try await runProcess(TestPaths.executable(name), ["--version"])
            #expect(result.status == 0)
            // A build from source (this one): the release, then how it was built (scripts/test-release
            // checks the release archive's commit and "release archive").
            #expect(result.standardOutput == "\(fluxciRelease) (commit unknown, built from source)\n", "\(result.allOutput)")
            #expect(fluxciRelease.range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil)
        }
    }
}
