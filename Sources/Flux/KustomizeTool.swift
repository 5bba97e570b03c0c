import Foundation
import Processes

/// The kustomize that builds each Kustomization: `kustomize build` when `kustomize` is on PATH,
/// else `kubectl kustomize` (kubectl embeds kustomize). Both run with load restrictions off, as
/// kustomize-controller builds (fluxcd/pkg kustomize `Build`: `LoadRestrictionsNone`).
public struct KustomizeTool: Sendable {
    public let executable: String
    public let isKubectl: Bool
    /// The longest one kustomize process may run, in seconds, before it is killed and its
    /// Kustomization reported as not built. kustomize-controller bounds a reconciliation by the
    /// Kustomization's `spec.timeout` (its interval by default, minutes), but its in-process build
    /// is not interrupted by it; fluxci bounds each build so that no input (an alias bomb that
    /// `AliasExpansion` does not see, a generator that never ends) can hang a CI job. A large
    /// fleet's build takes a second or two.
    public var buildTimeout: Double = 60

    /// nil when neither `kustomize` nor `kubectl` is on `environmentPath`.
    public init?(path environmentPath: String?) {
        let directories = (environmentPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for (name, kubectl) in [("kustomize", false), ("kubectl", true)] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                executable = "\(directory)/\(name)"
                isKubectl = kubectl
                return
            }
        }
        return nil
    }

    /// How the build is run, for the output (`kubectl kustomize --load-restrictor LoadRestrictionsNone`).
    public var description: String {
        (isKubectl ? "kubectl kustomize" : "kustomize build") + " --load-restrictor LoadRestrictionsNone"
    }

    /// Builds the folder; the output (a multi-document YAML stream) or kustomize's message.
    func build(_ directory: String) -> Result<String, BuildFailure> {
        let arguments = (isKubectl ? ["kustomize"] : ["build"]) + ["--load-restrictor", "LoadRestrictionsNone", directory]
        // Each build is a short-lived Go process: with its garbage collector off until the heap
        // reaches 256 MiB it spends about 40% less CPU (kubectl kustomize of an overlay: 0.15 s
        // user instead of 0.25 s; Flux's components peak at 180 MB), and the plan runs many.
        let (status, output, errors, timedOut) = ProcessRunner.run(
            executable, arguments, extraEnvironment: ["GOGC": "off", "GOMEMLIMIT": "256MiB"], timeout: buildTimeout)
        if timedOut { return .failure(BuildFailure(message: "\(description) ran longer than \(Self.seconds(buildTimeout)) and was stopped", timedOut: true)) }
        guard status == 0 else {
            return .failure(BuildFailure(message: Self.message(errors)))
        }
        return .success(output)
    }

    /// kustomize's error without the wrapping of the tool that printed it: kubectl logs it
    /// through klog (`E1130 08:03:01.879293   14017 run.go:72] "command failed" err=<`, the
    /// message's lines indented by a tab, then ` >`); `kustomize build` prints `Error: …`. The
    /// lines are joined with spaces, so the message reads as one sentence in an annotation.
    static func message(_ errors: String) -> String {
        var lines = errors.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let klog = #/^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\]]+\] (.*)$/#
        var kept: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard let match = line.wholeMatch(of: klog) else {
                kept.append(line)
                continue
            }
            let rest = String(match.1)
            // `"command failed" err=<` opens a block that ` >` closes; a one-line record is
            // `"command failed" err="…"`.
            if rest.hasSuffix("err=<") {
                while index < lines.count, lines[index] != " >" {
                    kept.append(lines[index].hasPrefix("\t") ? String(lines[index].dropFirst()) : lines[index])
                    index += 1
                }
                index += 1
            } else if let quoted = rest.firstMatch(of: #/err="((?:[^"\\]|\\.)*)"/#) {
                kept.append(unquoted(quoted.1))
            }
        }
        lines = kept.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != "`" }
        var text = lines.joined(separator: " ").replacingOccurrences(of: "` ", with: "`").replacingOccurrences(of: " `:", with: "`:")
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        // kustomize quotes what it names with Go's %q (`[patch: "- op: x\n  path: /y"]`): its
        // escaped newlines read as spaces (tester t11 F3).
        text = text.replacingOccurrences(of: "\\n", with: " ")
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// klog's quoted `err="…"` value, its escapes undone one level (`\\n` is kustomize's own
    /// `\n`, `\n` a newline of the message).
    static func unquoted(_ quoted: Substring) -> String {
        var out = ""
        var escaped = false
        for character in quoted {
            if escaped {
                out.append(character == "n" || character == "t" ? " " : character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        return out
    }

    struct BuildFailure: Error {
        var message: String
        /// Killed at `buildTimeout`.
        var timedOut = false
    }

    /// `60 s`, `0.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
