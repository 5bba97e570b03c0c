import Crypto
import Foundation

/// One SOPS value: `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]`. AES-256-GCM with
/// a 32-byte IV, and the value's path (`data:password:`) as additional data.
public struct EncryptedValue: Sendable, Equatable {
    public enum ValueType: String, Sendable, CaseIterable {
        case str, int, float, bool, bytes, time, comment
    }

    public var data: [UInt8]
    public var iv: [UInt8]
    public var tag: [UInt8]
    public var type: ValueType

    public static let prefix = "ENC[AES256_GCM,"

    public static func looksEncrypted(_ text: String) -> Bool { text.hasPrefix(prefix) && text.hasSuffix("]") }

    /// Parses the ENC[…] form; nil for text that is not one (an unencrypted value).
    public init?(parsing text: String) throws(ValueError) {
        guard Self.looksEncrypted(text) else { return nil }
        let inner = text.dropFirst(Self.prefix.count).dropLast()
        var fields: [String: Substring] = [:]
        for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = part.firstIndex(of: ":") else { throw .malformed("the part '\(part.prefix(20))' has no name") }
            fields[String(part[..<colon])] = part[part.index(after: colon)...]
        }
        func bytes(_ name: String) throws(ValueError) -> [UInt8] {
            guard let field = fields[name] else { throw .malformed("the \(name) part is missing") }
            guard let decoded = Data(base64Encoded: String(field)) else { throw .malformed("the \(name) part is not base64") }
            return Array(decoded)
        }
        data = try bytes("data")
        iv = try bytes("iv")
        tag = try bytes("tag")
        guard iv.count == 32 else { throw .malformed("the IV is \(iv.count) bytes, not 32") }
        guard tag.count == 16 else { throw .malformed("the tag is \(tag.count) bytes, not 16") }
        // sops before 3.1 wrote no type: such values are strings.
        let typeName = fields["type"].map(String.init) ?? "str"
        guard let type = ValueType(rawValue: typeName) else { throw .malformed("unknown value type '\(typeName)'") }
        self.type = type
    }

    public init(data: [UInt8], iv: [UInt8], tag: [UInt8], type: ValueType) {
        self.data = data
        self.iv = iv
        self.tag = tag
        self.type = type
    }

    public var encoded: String {
        "ENC[AES256_GCM,data:\(Data(data).base64EncodedString()),iv:\(Data(iv).base64EncodedString()),tag:\(Data(tag).base64EncodedString()),type:\(type.rawValue)]"
    }

    /// The plaintext bytes. Fails when the key is wrong or the value, its IV, tag, type or path
    /// (additional data) was changed.
    public func decrypt(key: SymmetricKey, additionalData: String) throws(ValueError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: data, tag: tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(additionalData.utf8)))
        } catch {
            throw .authenticationFailed
        }
    }

    /// Encrypts with a fresh random 32-byte IV.
    public static func encrypt(_ plaintext: [UInt8], type: ValueType, key: SymmetricKey, additionalData: String) throws -> EncryptedValue {
        try encrypt(plaintext, type: type, key: key, additionalBytes: Array(additionalData.utf8))
    }

    /// `encrypt(_:type:key:additionalData:)` with the path as bytes (a flat store's keys need not be UTF-8).
    static func encrypt(_ plaintext: [UInt8], type: ValueType, key: SymmetricKey, additionalBytes: [UInt8]) throws -> EncryptedValue {
        let iv = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let sealed = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: iv), authenticating: additionalBytes)
        return EncryptedValue(data: Array(sealed.ciphertext), iv: iv, tag: Array(sealed.tag), type: type)
    }

    public enum ValueError: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case authenticationFailed

        public var description: String {
            switch self {
            case .malformed(let detail): "malformed encrypted value: \(detail)"
            case .authenticationFailed: "the value failed authentication (it, its path or the data key is not what was encrypted)"
            }
        }
    }
}
