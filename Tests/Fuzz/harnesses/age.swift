import Foundation

// libFuzzer target: the age parser (armor, header, stanzas, STREAM) and Bech32 never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? AgeFile.decrypt(bytes, identities: [FuzzKeys.identity])
    var plaintext: [UInt8] = []
    try? AgeFile.decrypt(bytes, identities: [FuzzKeys.identity], armored: true, into: &plaintext)
    _ = try? Bech32.decode(String(decoding: bytes, as: UTF8.self))
    return 0
}

enum FuzzKeys {
    static let identity = try! X25519Identity(parsing: "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
}
