import Foundation

/// sops's dotenv store (getsops/sops stores/dotenv): one `KEY=VALUE` per line, split at the first
/// `=`, `\n` in a value standing for a newline; a line starting with `#` is a comment (its text
/// after the `#` is what sops encrypts); empty lines are dropped; the metadata is flattened into
/// `sops_…` keys. Bytes are kept as they are: a `\r` before the newline belongs to the value, as
/// in sops.
public enum DotenvStore {
    static let metadataPrefix = Array("sops_".utf8)

    /// Reads an encrypted dotenv file.
    public static func read(_ bytes: [UInt8]) throws(DecryptionError) -> FlatDocument {
        let parsed: Parsed
        do { parsed = try parse(bytes) } catch {
            // sops: "invalid dotenv input line: <line>"; the line itself is not repeated here.
            throw .malformedMetadata("line \(error.line) is neither KEY=VALUE nor a # comment (sops refuses such a line)", line: error.line)
        }
        guard !parsed.metadata.isEmpty else { throw .notSOPS("there is no sops_ metadata") }
        return FlatDocument(items: parsed.items, metadata: try FlatMetadata.metadata(parsed.metadata, line: parsed.metadata.first?.line))
    }

    struct Parsed {
        var items: [FlatDocument.Item] = []
        /// The `sops_` keys, without the prefix (`HasSopsTopLevelKey`: any makes the file encrypted).
        var metadata: [(key: String, value: String, line: Int)] = []
    }

    struct BadLine: Error { var line: Int }

    /// sops's `LoadPlainFile`, on bytes: lines split at `\n` (a `\r` stays in the line), empty
    /// ones dropped, `#` starts a comment (its text after the `#`), any other line split at its
    /// first `=` (none: an error), `\n` in a value a newline.
    static func parse(_ bytes: [UInt8]) throws(BadLine) -> Parsed {
        var parsed = Parsed()
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if line.isEmpty { continue }
            if line.first == UInt8(ascii: "#") {
                parsed.items.append(.init(path: [], value: Array(line.dropFirst()), isComment: true, line: number))
                continue
            }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { throw BadLine(line: number) }
            let key = Array(line[line.startIndex..<equals])
            let value = unescapeNewlines(Array(line[(equals + 1)...]))
            if key.starts(with: metadataPrefix) {
                parsed.metadata.append((String(decoding: key.dropFirst(metadataPrefix.count), as: UTF8.self), String(decoding: value, as: UTF8.self), number))
            } else {
                parsed.items.append(.init(path: [key], value: value, isComment: false, line: number))
            }
        }
        return parsed
    }

    /// What `sops -d` prints for decrypted items (`EmitPlainFile`).
    public static func emit(_ items: [FlatDocument.Item]) -> Data {
        var out = Data()
        for item in items {
            if item.isComment {
                out.append(UInt8(ascii: "#"))
                out.append(contentsOf: item.value)
            } else {
                out.append(contentsOf: item.path.last ?? [])
                out.append(UInt8(ascii: "="))
                for byte in item.value {
                    if byte == UInt8(ascii: "\n") { out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")]) } else { out.append(byte) }
                }
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func unescapeNewlines(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(UInt8(ascii: "\\")) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "n") {
                out.append(UInt8(ascii: "\n"))
                index += 2
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}
