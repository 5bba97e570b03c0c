import Age
import Foundation

// libFuzzer target: the SOPS value parser, the metadata reader and decryption never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? EncryptedValue(parsing: text)
    if let file = try? SOPSFile(text: text, path: "fuzz.yaml") {
        _ = try? SOPSDecryptor.decrypt(file, with: KeyChain(ageIdentities: [FuzzKeys.identity], keyring: nil))
    }
    return 0
}

enum FuzzKeys {
    static let identity = try! X25519Identity(parsing: "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
}
