import Actions
import Foundation
import Yams

/// Where a failed kustomize build belongs in the repository, read from kustomize's message
/// (tester t3 F5, F17). kustomize names each resource it was accumulating when it failed
/// (`accumulating resources from '../base'`, relative to the kustomization naming it), so the
/// chain is followed from the built folder to the file or kustomization the error is in:
///
/// - a resource file that is no valid YAML, or no Kubernetes object, is the file itself (a YAML
///   error at the line libyaml, the C parser go-yaml was ported from, finds; go-yaml's own
///   `line N` counts from 0 for parser errors); in a folder without kustomization.yaml,
///   kustomize-controller's generator refuses it first, in its own words (fluxcd/pkg kustomize
///   `generateKustomization`: "failed to decode Kubernetes YAML from <file>: <error>");
/// - a resource folder without a kustomization file is the entry naming it;
/// - an invalid kustomization (YAML, a field, `helmCharts`, a non-Component in `components`) is
///   that kustomization file, at the line of what kustomize names.
struct BuildFailureSite {
    var location: SourceLocation
    /// What is wrong there, as a clause: "apps/x/values.yaml is not a Kubernetes object".
    var what: String
    var fix: String
    /// kustomize-controller's own message, where it differs from kustomize's.
    var fluxMessage: String?
}

extension Reader {
    func failureSite(_ kustomization: FluxKustomization, message: String, files: Set<String>) -> BuildFailureSite? {
        var folder = kustomization.path
        let generated = KustomizationGenerator.kustomizationFile(in: folder, files: files) == nil
        var kustomizationFile = KustomizationGenerator.kustomizationFile(in: folder, files: files)
        var entry: (file: String?, field: String, reference: String, path: String)?
        var target: String?
        for match in message.matches(of: #/accumulating (resources|components) from '([^']*)'/#) {
            let reference = String(match.2)
            guard !reference.contains("://") else { return nil }
            let path = FluxKustomization.normalize(folder.isEmpty ? reference : "\(folder)/\(reference)")
            entry = (kustomizationFile, String(match.1), reference, path)
            if files.contains(path) {
                target = path
                break
            }
            folder = path
            kustomizationFile = KustomizationGenerator.kustomizationFile(in: path, files: files)
        }
        let isYAMLError = message.contains("yaml: line") || message.contains("MalformedYAMLError") || message.contains("yaml: did not") || message.contains("yaml: mapping")
        if let target {
            let listed = generated && entry?.file == nil
            if isYAMLError {
                let line = yamlProblemLine(target) ?? goYAMLLine(message)
                return BuildFailureSite(
                    location: SourceLocation(file: target, line: line), what: "\(target) is not valid YAML",
                    fix: "Correct the YAML of \(target)\(line.map { " at line \($0)" } ?? "").",
                    fluxMessage: listed ? "failed to decode Kubernetes YAML from \(target)" : nil)
            }
            // A document without kind/apiVersion/metadata: the first one that is no object.
            let line = origins.documents(target).first { $0.kind.isEmpty || $0.name.isEmpty }?.line
            let reason = message.contains("missing Resource metadata") ? "missing Resource metadata" : nil
            return BuildFailureSite(
                location: SourceLocation(file: target, line: line ?? 1), what: "\(target) is not a Kubernetes object",
                fix: listed
                    ? "kustomize-controller's generated kustomization lists every .yaml/.yml file below \(kustomization.writtenPath): move \(target) out of it, give it another extension, or add a kustomization.yaml to \(kustomization.writtenPath) that lists the manifests."
                    : "Remove \(entry.map { "'\($0.reference)' from the \($0.field) of \($0.file ?? "")" } ?? target), or make it a Kubernetes object.",
                fluxMessage: listed ? "failed to decode Kubernetes YAML from \(target)\(reason.map { ": \($0)" } ?? "")" : nil)
        }
        if let entry, let file = entry.file, message.contains("unable to find one of 'kustomization.yaml'") {
            return BuildFailureSite(
                location: SourceLocation(file: file, line: origins.line(of: entry.reference, in: file)),
                what: "\(file) names \(entry.reference) in \(entry.field), a folder without a kustomization file",
                fix: "Add a kustomization.yaml to \(entry.path) that lists its manifests, or name the manifest files in \(entry.field): kustomize builds a folder only through its kustomization (kustomize-controller generates one only for spec.path).")
        }
        // The rest is about a kustomization file of the chain: the repository's, as written.
        guard let file = kustomizationFile else { return nil }
        if isYAMLError {
            let line = yamlProblemLine(file) ?? goYAMLLine(message)
            return BuildFailureSite(
                location: SourceLocation(file: file, line: line), what: "\(file) is not valid YAML",
                fix: "Correct the YAML of \(file)\(line.map { " at line \($0)" } ?? "").")
        }
        if message.contains("--enable-helm") {
            return BuildFailureSite(
                location: SourceLocation(file: file, line: keyLine("helmCharts", in: file)), what: "\(file) inflates a Helm chart (helmCharts)",
                fix: "kustomize-controller builds with kustomize's plugins and Helm off (fluxcd/pkg kustomize BuildKustomization: DisabledPluginConfig), so helmCharts never build in Flux: install the chart with a HelmRepository and a HelmRelease, or commit its rendered manifests.")
        }
        if let unknown = message.firstMatch(of: #/unknown field "([^"]+)"/#) {
            let name = String(unknown.1.split(separator: ".").last ?? unknown.1)
            return BuildFailureSite(
                location: SourceLocation(file: file, line: keyLine(name, in: file)), what: "\(file) has the field \(name), which kustomize does not know",
                fix: "Correct the field's name in \(file) (a typo?) or remove it.")
        }
        if let component = message.firstMatch(of: #/expected kind 'Component' for path '([^']+)'/#) {
            let path = FluxKustomization.normalize(String(component.1))
            let folderOfFile = RepositoryPath.parent(file)
            if let line = entryLine("components", resolvingTo: path, in: file, folder: folderOfFile) {
                return BuildFailureSite(
                    location: SourceLocation(file: file, line: line), what: "\(file) lists \(path) in components, which is a Kustomization, not a Component",
                    fix: "Make \(path)/kustomization.yaml `kind: Component` (apiVersion kustomize.config.k8s.io/v1alpha1), or list it in resources.")
            }
        }
        if let field = message.firstMatch(of: #/Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type/#) {
            let name = String(field.1.split(separator: ".").last ?? "")
            if let line = keyLine(name, in: file) {
                return BuildFailureSite(
                    location: SourceLocation(file: file, line: line), what: "\(file) gives \(name) a value of the wrong type",
                    fix: "Correct the value of \(name) in \(file) (quote it if it must be a string).")
            }
        }
        return nil
    }

    /// The line libyaml finds the first problem of a repository file at; nil when it parses.
    func yamlProblemLine(_ file: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { return nil }
        do {
            let parser = try Parser(yaml: String(decoding: data, as: UTF8.self), resolver: .basic)
            while try parser.nextRoot() != nil {}
            return nil
        } catch let error as YamlError {
            switch error {
            case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
            default: return nil
            }
        } catch {
            return nil
        }
    }

    /// go-yaml's `yaml: line N:` as a 1-based line (parser errors count from 0; a mismatch of
    /// one line is still on the right construct more often than not).
    func goYAMLLine(_ message: String) -> Int? {
        message.firstMatch(of: #/yaml: line (\d+):/#).flatMap { Int($0.1) }
    }

    /// The first line of a repository file where `name:` is a mapping key.
    func keyLine(_ name: String, in file: String) -> Int? {
        guard !name.isEmpty, let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path) else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.firstIndex { line in
            let trimmed = line.drop { $0 == " " || $0 == "-" || $0 == "{" || $0 == "," }
            return trimmed.hasPrefix(name + ":") || line.contains(" " + name + ":") || line.contains("{" + name + ":")
        }.map { $0 + 1 }
    }

    /// The line of the `field` entry of a kustomization file that resolves to `path`.
    func entryLine(_ field: String, resolvingTo path: String, in file: String, folder: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: artifact.root.appendingPathComponent(file).path),
            let node = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        else { return nil }
        for entry in node[field]?.sequence ?? [] {
            guard let text = entry.string else { continue }
            if FluxKustomization.normalize(folder.isEmpty ? text : "\(folder)/\(text)") == path { return entry.mark?.line }
        }
        return nil
    }
}

/// How a failed build can be seen outside fluxci (tester t3 F17): the `kubectl kustomize`
/// command is shown only when it gives the same error on the repository's folder as written.
/// kustomize-controller builds something else where the folder has no kustomization file (it
/// generates one) or where the Kustomization sets fields it writes into the kustomization
/// (fluxcd/pkg kustomize `Generator.WriteFile`: targetNamespace, namePrefix, nameSuffix, patches,
/// images, components); then the Flux field is named, and the problem annotated at it.
struct BuildReproduction {
    /// The parenthesis after "does not build".
    var text: String
    /// The field of the Flux Kustomization the error comes from (when the folder as written builds).
    var field: [Origins.FieldKey]?
    var fix: String?
}

extension Reader {
    /// The spec fields kustomize-controller writes into the kustomization it builds.
    static func injectedFields(_ kustomization: FluxKustomization) -> [String] {
        let spec = KustomizationGenerator.buildSpec(of: kustomization)
        return ["targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components"].filter { field in
            guard let value = spec[field] else { return false }
            if let array = value.array { return !array.isEmpty }
            return value.string.map { !$0.isEmpty } ?? true
        }
    }

    /// A kustomize panic's message without its goroutine dump (tester t12 F8): the dump's
    /// addresses differ run by run, so two runs of one panic compare by its first lines, and a
    /// message shows those only. Any other message is returned as it is.
    static func panicHead(_ message: String) -> String {
        guard message.contains("panic:"), let dump = message.range(of: "\ngoroutine ") ?? message.range(of: "goroutine 1 [") else { return message }
        return String(message[..<dump.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func reproduction(_ kustomization: FluxKustomization, message: String, files: Set<String>) -> BuildReproduction {
        let path = kustomization.path.isEmpty ? "." : kustomization.path
        let command = "\(tool.description) \(path)"
        let fields = Self.injectedFields(kustomization)
        let written = fields.isEmpty ? "" : " with \(fields.map { "spec.\($0)" }.joined(separator: ", ")) written into it"
        if KustomizationGenerator.kustomizationFile(in: kustomization.path, files: files) == nil {
            return BuildReproduction(text: " (kustomize-controller generates a kustomization for \(path), which has none, listing its .yaml/.yml files\(written))")
        }
        // The folder as written, on the repository's files (the artifact folder holds them).
        var same = false
        if case .failure(let failure) = tool.build(artifact.root.appendingPathComponent(kustomization.path).path) {
            let plain = failure.message.replacingOccurrences(of: artifact.root.path + "/", with: "").replacingOccurrences(of: artifact.root.path, with: ".")
            same = Self.panicHead(plain) == Self.panicHead(message)
        }
        if same { return BuildReproduction(text: " (\(command))") }
        guard !fields.isEmpty else {
            return BuildReproduction(text: " (on the artifact source-controller makes; `\(command)` on a checkout gives another result)")
        }
        let lowered = message.lowercased()
        var field: [Origins.FieldKey] = ["spec", .key(fields[0])]
        func entry(_ name: String) -> [Origins.FieldKey] {
            let entries = kustomization.object.json["spec", name]?.array ?? []
            let folder = kustomization.path
            let index = entries.firstIndex { value in
                (value.string ?? value["path"]?.string).map { message.contains(FluxKustomization.normalize(folder.isEmpty ? $0 : "\(folder)/\($0)")) } ?? false
            }
            return ["spec", .key(name)] + (index.map { [.index($0)] } ?? [])
        }
        if fields.contains("components"), lowered.contains("component") {
            field = entry("components")
        } else if fields.contains("images"), lowered.contains("image") {
            field = ["spec", "images"]
        } else if fields.contains("patches"), lowered.contains("patch") {
            field = ["spec", "patches"]
        } else if fields.contains("targetNamespace"), lowered.contains("namespace") {
            field = ["spec", "targetNamespace"]
        }
        let named = field.count > 1 ? { if case .key(let name) = field[1] { return "spec.\(name)" } else { return "spec" } }() : "spec"
        return BuildReproduction(
            text: " (kustomize-controller builds \(path)\(written); `\(command)` on the folder as written does not fail so)",
            field: field,
            fix: "Correct \(named) of \(kustomization.id): the error comes from what kustomize-controller writes into the kustomization from it.")
    }
}
