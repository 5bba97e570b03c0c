import Foundation
import SOPS

/// How kustomize-controller's decryptor reads a file a kustomization's generator or patch names,
/// before kustomize builds (fluxcd/kustomize-controller internal/decryptor/decryptor.go,
/// `decryptKustomizationSources` and `sopsDecryptFile`). The format is chosen by the entry, not
/// by the file's name alone:
/// - a secretGenerator `files:` entry `key=path` (or `path`, whose key is the path) is read in
///   the format of the *key*, `formatForPath(key)`;
/// - an `envs:` entry in the format of its path, binary becoming dotenv ("Default to dotenv");
/// - a patch `path` in the format of its path.
///
/// `formatForPath` is sops's `formats.FormatForPath` (the name's ending; anything else binary),
/// except that a name ending in `.dockerconfigjson` is JSON. The file is decrypted in place, input
/// and output in that format, only when its bytes hold that format's marker (`mac: ENC[` for
/// YAML, `"mac": "ENC[` for JSON and binary, `sops_mac=ENC[` for dotenv, `[sops]` for ini);
/// otherwise it is left as it is. A `files:` entry left encrypted then reaches the generated
/// Secret as one data value, which `DecryptResource` decrypts with the format its markers show,
/// written in the key's format (`SopsDecryptWithFormat(data, detected, formatForPath(key))`).
public struct SOPSDecryptorRead: Hashable, Sendable, CustomStringConvertible {
    public enum Entry: Hashable, Sendable {
        /// A secretGenerator `files:` entry, with its key (the file name when no key is given).
        case file(key: String)
        /// A secretGenerator `envs:` (or `env:`) entry.
        case env
        /// A `patches:` entry's `path`.
        case patch
    }

    public var entry: Entry
    /// The format the decryptor reads (and writes) the file in.
    public var format: SOPSFileFormat
    /// The kustomization file holding the entry and the entry's line.
    public var declaredIn: String
    public var line: Int?

    public init(entry: Entry, format: SOPSFileFormat, declaredIn: String, line: Int?) {
        self.entry = entry
        self.format = format
        self.declaredIn = declaredIn
        self.line = line
    }

    /// A secretGenerator `files:` entry as written (`key=path` or `path`).
    static func secretGeneratorFile(_ entry: String, declaredIn: String, line: Int?) -> SOPSDecryptorRead {
        let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? entry
        return SOPSDecryptorRead(entry: .file(key: key), format: formatForPath(key), declaredIn: declaredIn, line: line)
    }

    static func envSource(_ path: String, declaredIn: String, line: Int?) -> SOPSDecryptorRead {
        let format = formatForPath(path)
        return SOPSDecryptorRead(entry: .env, format: format == .binary ? .dotenv : format, declaredIn: declaredIn, line: line)
    }

    static func patch(_ path: String, declaredIn: String, line: Int?) -> SOPSDecryptorRead {
        SOPSDecryptorRead(entry: .patch, format: formatForPath(path), declaredIn: declaredIn, line: line)
    }

    /// kustomize-controller's `formatForPath`: `.dockerconfigjson` is JSON, the rest as sops.
    public static func formatForPath(_ path: String) -> SOPSFileFormat {
        path.hasSuffix(".dockerconfigjson") ? .json : SOPSFileFormat(path: path)
    }

    /// The bytes whose presence makes the decryptor decrypt a file in `format`
    /// (`sopsFormatToMarkerBytes`).
    public static func marker(_ format: SOPSFileFormat) -> [UInt8] {
        switch format {
        case .yaml: Array("mac: ENC[".utf8)
        case .json, .binary: Array("\"mac\": \"ENC[".utf8)
        case .dotenv: Array("sops_mac=ENC[".utf8)
        case .ini: Array("[sops]".utf8)
        }
    }

    /// Whether the decryptor decrypts these bytes in place (before kustomize reads them).
    public func decryptsInPlace(_ bytes: Data) -> Bool {
        let marker = Self.marker(format)
        return bytes.withUnsafeBytes { raw in
            let buffer = raw.bindMemory(to: UInt8.self)
            guard buffer.count >= marker.count else { return false }
            var index = 0
            while index + marker.count <= buffer.count {
                if buffer[index] == marker[0], (1..<marker.count).allSatisfy({ buffer[index + $0] == marker[$0] }) { return true }
                index += 1
            }
            return false
        }
    }

    /// "the secretGenerator envs: entry at apps/kustomization.yaml:7".
    public var description: String {
        let field = switch entry {
        case .file(let key): "secretGenerator files: entry (key \(key))"
        case .env: "secretGenerator envs: entry"
        case .patch: "patches path"
        }
        return "the \(field) at \(declaredIn)\(line.map { ":\($0)" } ?? "")"
    }
}
