import Foundation

/// The five formats sops 3.x reads and writes.
///
/// sops chooses the format of a file from its name (`formats.FormatForPath` in getsops/sops:
/// `.yaml`/`.yml`, `.json`, `.env`, `.ini`, anything else binary); kustomize-controller does the
/// same for the files kustomize generators read. Whether a file *is* encrypted is told by its
/// content, whatever its name: that is what the preflight must find, so that no encrypted file
/// is skipped because of how it is named.
public enum SOPSFileFormat: String, Sendable, CaseIterable {
    case yaml, json, dotenv, ini, binary

    /// The format sops uses for a file of this name (`formats.FormatForPath`).
    public init(path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            self = .yaml
        } else if name.hasSuffix(".json") {
            self = .json
        } else if name.hasSuffix(".env") {
            self = .dotenv
        } else if name.hasSuffix(".ini") {
            self = .ini
        } else {
            self = .binary
        }
    }

    /// The syntax a sops-encrypted file is stored in, found from its bytes alone; nil when the
    /// bytes carry no sops metadata. A binary file is stored by sops as a JSON document
    /// (`{"data": "ENC[…]", "sops": {…}}`), so it is reported as `.json`; decrypting it as
    /// binary or JSON is then chosen by its name, as sops does.
    ///
    /// What is looked for, per store of getsops/sops (stores/*): YAML, a top-level `sops:`
    /// mapping key in some document of the stream with a `mac` under it; JSON, a top-level
    /// `"sops"` object holding `"mac"`; dotenv, a `sops_mac=` line; ini, a `[sops]` section with a
    /// `mac` key. A file locked by git-crypt (`\0GITCRYPT\0`) is none of these.
    public static func encryptedStorage(of bytes: Data) -> SOPSFileFormat? {
        if bytes.starts(with: [0, 0x47, 0x49, 0x54, 0x43, 0x52, 0x59, 0x50, 0x54, 0]) { return nil }
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            var line = ArraySlice(line)
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            return line
        }
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if first == UInt8(ascii: "{") {
            // Read as sops reads it (Go's encoding/json, `JSONStore`).
            if let tree = try? JSONStore.read(Array(bytes)), let sops = tree["sops"], case .mapping = sops, sops["mac"] != nil {
                return .json
            }
            return nil
        }
        func starts(_ line: ArraySlice<UInt8>, _ prefix: String) -> Bool { line.starts(with: Array(prefix.utf8)) }
        func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var line = line
            while let f = line.first, f == 0x20 || f == 0x09 { line = line.dropFirst() }
            while let l = line.last, l == 0x20 || l == 0x09 { line = line.dropLast() }
            return line
        }
        // YAML: `sops:` at column 0, then an indented `mac:` before the next column-0 line.
        var inSops = false
        for line in lines {
            if starts(line, "sops:") && trimmed(line.dropFirst(5)).isEmpty {
                inSops = true
                continue
            }
            if inSops {
                if let f = line.first, f != 0x20, f != 0x09, f != UInt8(ascii: "#") { inSops = false; continue }
                if starts(trimmed(line), "mac:") { return .yaml }
            }
        }
        if lines.contains(where: { starts($0, "sops_mac=") }) { return .dotenv }
        // ini: `[sops]` then `mac = …` before the next section.
        var inSection = false
        for line in lines {
            let t = trimmed(line)
            if t.first == UInt8(ascii: "[") {
                inSection = t.elementsEqual("[sops]".utf8)
                continue
            }
            if inSection, starts(t, "mac"), let equals = t.firstIndex(of: UInt8(ascii: "=")), trimmed(t[t.startIndex..<equals]).elementsEqual("mac".utf8) {
                return .ini
            }
        }
        return nil
    }
}
