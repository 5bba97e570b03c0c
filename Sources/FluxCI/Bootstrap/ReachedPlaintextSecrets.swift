import Actions
import Flux
import Foundation

/// The plan's half of the plaintext-Secret check: every file a Secret the cluster's
/// Kustomizations build comes from, unless SOPS-encrypted, goes through the detector `sops
/// verify` uses (`PlaintextSecret`),
/// with the `.sops.yaml` creation rule sops would apply to it, found the way sops finds it (the
/// nearest `.sops.yaml` from the file's folder up to the repository's top) but read from the
/// commit's tree. Needs no key, so a plan without keys reports it too.
enum ReachedPlaintextSecrets {
    static func find(_ tree: ClusterTree, source: TreeSource) -> [Annotation] {
        // The files a built Secret comes from (its origin): only they can hold one in plaintext.
        let encrypted = Set(tree.sopsFiles.values.joined())
        let reached = Set(tree.objects.values.joined().filter { $0.kind == "Secret" && $0.apiVersion == "v1" }.compactMap(\.file))
            .subtracting(encrypted).sorted()
        var configs: [String: String?] = [:]
        func config(in folder: String) -> String? {
            if let cached = configs[folder] { return cached }
            let path = folder.isEmpty ? ".sops.yaml" : "\(folder)/.sops.yaml"
            let text = ((try? source.read(path)) ?? nil).map { String(decoding: $0, as: UTF8.self) }
            configs[folder] = text
            return text
        }
        func rule(for file: String) -> CreationRule? {
            var folder = RepositoryPath.parent(file)
            while true {
                if let text = config(in: folder) {
                    let relative = folder.isEmpty ? file : String(file.dropFirst(folder.count + 1))
                    return try? CreationRule.match(text: text, configFile: folder.isEmpty ? ".sops.yaml" : "\(folder)/.sops.yaml", relativePath: relative)
                }
                if folder.isEmpty { return nil }
                folder = RepositoryPath.parent(folder)
            }
        }
        return reached.compactMap { name in
            guard let bytes = (try? source.read(name)) ?? nil else { return nil }
            return PlaintextSecret.find(in: bytes, name: name, rule: rule)
        }
    }

    /// The `.sops.yaml` nearest to `file` (its folder, then each folder above up to the
    /// repository's top) in the commit's tree; nil when there is none.
    /// Whether a creation rule of `config` (a `.sops.yaml` of the tree) matches `file`, as sops
    /// matches it: path_regex against the path relative to the config's folder; nil when the
    /// config has no rules or cannot be read.
    static func ruleMatches(_ file: String, config: String, source: TreeSource) -> Bool? {
        guard let data = (try? source.read(config)) ?? nil else { return nil }
        let folder = RepositoryPath.parent(config)
        let relative = folder.isEmpty ? file : file.hasPrefix(folder + "/") ? String(file.dropFirst(folder.count + 1)) : file
        return SOPSVerifyCommand.ruleMatches { try CreationRule.match(text: String(decoding: data, as: UTF8.self), configFile: config, relativePath: relative) }
    }

    static func sopsConfig(for file: String, source: TreeSource) -> String? {
        var folder = RepositoryPath.parent(file)
        while true {
            let path = folder.isEmpty ? ".sops.yaml" : "\(folder)/.sops.yaml"
            if ((try? source.read(path)) ?? nil) != nil { return path }
            if folder.isEmpty { return nil }
            folder = RepositoryPath.parent(folder)
        }
    }
}
