import Actions
import Foundation
import SOPS
import Yams

/// `.sops.yaml` creation rules as sops resolves them: the nearest `.sops.yaml` from the file's
/// folder upwards, the first rule whose `path_regex` matches the file's path (relative to the
/// config's folder; a rule without one matches everything).
struct CreationRule {
    var recipients: Recipients
    var rule: EncryptionRule?
    var configFile: String
    var line: Int?

    static func find(for file: URL, stopAt root: URL) throws -> CreationRule? {
        var folder = file.deletingLastPathComponent().standardizedFileURL
        while true {
            let config = folder.appendingPathComponent(".sops.yaml")
            if FileManager.default.fileExists(atPath: config.path) {
                let relative = String(file.standardizedFileURL.path.dropFirst(folder.path.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                return try match(config: config, relativePath: relative)
            }
            if folder.path == root.standardizedFileURL.path || folder.path == "/" { return nil }
            folder.deleteLastPathComponent()
        }
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
        for rule in root?["creation_rules"]?.sequence ?? [] {
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
            var encryption: EncryptionRule?
            if let value = rule["encrypted_regex"]?.string { encryption = .encryptedRegex(value) }
            if let value = rule["unencrypted_regex"]?.string { encryption = .unencryptedRegex(value) }
            if let value = rule["encrypted_suffix"]?.string { encryption = .encryptedSuffix(value) }
            if let value = rule["unencrypted_suffix"]?.string { encryption = .unencryptedSuffix(value) }
            return CreationRule(
                recipients: Recipients(groups: groups, shamirThreshold: rule["shamir_threshold"]?.int), rule: encryption, configFile: configFile, line: line)
        }
        return nil
    }
}
