import Actions
import Foundation
import SOPS
import Yams

/// `.sops.yaml` creation rules as sops resolves them (getsops/sops `config.LookupConfigFile` and
/// `parseCreationRuleForFile`): the config is the first `.sops.yaml` found from the *working
/// directory* upwards (100 levels at most; a `.sops.yml` is ignored with a warning), whatever
/// folder the file is in; a rule's `path_regex` is matched against the file's absolute path with
/// the config's folder and `/` cut off the front; the first matching rule (or one without
/// `path_regex`) wins; a config whose rules all miss the file is an error ("no matching creation
/// rules found"), and one without `creation_rules` counts as no config.
struct CreationRule {
    var recipients: Recipients
    var rule: EncryptionRule?
    var configFile: String
    var line: Int?
    /// `mac_only_encrypted: true`: the MAC covers only the values that end up encrypted.
    var macOnlyEncrypted = false

    /// The config sops uses when started in `workingDirectory`, and sops's warning about a
    /// `.sops.yml` it ignored on the way.
    static func lookup(from workingDirectory: URL) -> (config: URL?, warning: String?) {
        var folder = workingDirectory.standardizedFileURL
        var ignored: URL?
        for _ in 0..<100 {
            let config = folder.appendingPathComponent(".sops.yaml")
            if FileManager.default.fileExists(atPath: config.path) {
                return (config, ignored.map { "ignoring \($0.path) when searching for the config file; it must be called .sops.yaml; using \(config.path) instead" })
            }
            let alternate = folder.appendingPathComponent(".sops.yml")
            if ignored == nil, FileManager.default.fileExists(atPath: alternate.path) { ignored = alternate }
            if folder.path == "/" { break }
            folder.deleteLastPathComponent()
        }
        return (nil, ignored.map { "ignoring \($0.path) when searching for the config file; it must be called .sops.yaml" })
    }

    /// The rule sops applies to `file` when started in `workingDirectory`; nil when there is no
    /// config (or it has no `creation_rules`). Throws when the config's rules all miss the file.
    static func find(for file: URL, workingDirectory: URL, reporter: Reporter? = nil) throws -> CreationRule? {
        let (config, warning) = lookup(from: workingDirectory)
        if let warning { reporter?.warning("sops is \(warning).", title: "Config file ignored", fix: "Rename it to .sops.yaml.") }
        guard let config else { return nil }
        let folder = config.deletingLastPathComponent().standardizedFileURL.path
        let path = file.standardizedFileURL.path
        let relative = path.hasPrefix(folder == "/" ? "/" : folder + "/") ? String(path.dropFirst(folder == "/" ? 1 : folder.count + 1)) : path
        return try match(config: config, relativePath: relative)
    }

    static func match(config: URL, relativePath: String) throws -> CreationRule? {
        guard let text = try? String(contentsOf: config, encoding: .utf8) else { return nil }
        return try match(text: text, configFile: config.path, relativePath: relativePath)
    }

    /// The same for a `.sops.yaml` read any other way (from a git tree); `configFile` names it.
    static func match(text: String, configFile: String, relativePath: String) throws -> CreationRule? {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw Annotation.error("\(configFile) is not valid YAML: \(error).", title: "Invalid .sops.yaml", at: SourceLocation(file: configFile))
        }
        guard let rules = root?["creation_rules"]?.sequence else { return nil }
        for rule in rules {
            let line = rule.mark?.line
            if let pattern = rule["path_regex"]?.string {
                guard let regex = try? Regex(pattern) else {
                    throw Annotation.error("path_regex '\(pattern)' is not a valid regular expression.", title: "Invalid .sops.yaml", at: SourceLocation(file: configFile, line: line))
                }
                guard relativePath.firstMatch(of: regex) != nil else { continue }
            }
            func list(_ node: Node?) -> [String] {
                if let text = node?.string { return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
                return node?.sequence?.compactMap(\.string) ?? []
            }
            var groups: [Recipients.Group] = []
            if let keyGroups = rule["key_groups"]?.sequence, !keyGroups.isEmpty {
                groups = keyGroups.map { Recipients.Group(age: list($0["age"]), pgp: list($0["pgp"])) }
            } else {
                groups = [Recipients.Group(age: list(rule["age"]), pgp: list(rule["pgp"]))]
            }
            // getsops/sops config.go `configFromRule`: at most one of the six selectors (an empty
            // one does not count), and `mac_only_encrypted` beside it; all go into the metadata.
            let selectors: [(key: String, make: (String) -> EncryptionRule)] = [
                ("unencrypted_suffix", EncryptionRule.unencryptedSuffix), ("encrypted_suffix", EncryptionRule.encryptedSuffix),
                ("unencrypted_regex", EncryptionRule.unencryptedRegex), ("encrypted_regex", EncryptionRule.encryptedRegex),
                ("unencrypted_comment_regex", EncryptionRule.unencryptedCommentRegex), ("encrypted_comment_regex", EncryptionRule.encryptedCommentRegex),
            ]
            let set = selectors.compactMap { selector in rule[selector.key]?.string.flatMap { $0.isEmpty ? nil : selector.make($0) } }
            guard set.count <= 1 else {
                throw Annotation.error(
                    "A creation rule of \(configFile) sets more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex and unencrypted_comment_regex (sops fails the same way: \"cannot use more than one of … for the same rule\").",
                    title: "Invalid .sops.yaml", fix: "Keep one of them in the rule.", at: SourceLocation(file: configFile, line: line))
            }
            return CreationRule(
                recipients: Recipients(groups: groups, shamirThreshold: rule["shamir_threshold"]?.int), rule: set.first, configFile: configFile, line: line,
                macOnlyEncrypted: rule["mac_only_encrypted"]?.bool == true)
        }
        throw Annotation.error(
            "No creation rule of \(configFile) matches \(relativePath) (sops fails the same way: \"no matching creation rules found\").",
            title: "No creation rule",
            fix: "Add a rule whose path_regex matches \(relativePath) (matched against the path relative to the folder of .sops.yaml), or run from a folder whose nearest .sops.yaml covers it.",
            at: SourceLocation(file: configFile))
    }
}
