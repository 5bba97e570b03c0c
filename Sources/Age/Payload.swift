import Crypto
import Foundation

/// The STREAM payload: a 16-byte nonce, then ChaCha20-Poly1305 chunks of 64 KiB of plaintext
/// under HKDF(file key, nonce, "payload"), each nonce an 11-byte big-endian counter and a
/// last-chunk flag.
enum AgePayload {
    static let chunkSize = 64 * 1024
    static let tagSize = 16
    static let encryptedChunkSize = chunkSize + tagSize

    static func key(fileKey: [UInt8], nonce: ArraySlice<UInt8>) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: fileKey), salt: Array(nonce), info: Array("payload".utf8), outputByteCount: 32)
    }

    static func chunkNonce(_ counter: UInt64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { nonce[3 + index] = UInt8((counter >> (8 * UInt64(7 - index))) & 0xFF) }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    /// Decrypts into `plaintext`, chunk by chunk, so that what was authenticated before an error
    /// is still there when it is thrown (as the specification's vectors check).
    static func decrypt(_ payload: ArraySlice<UInt8>, fileKey: [UInt8], into plaintext: inout [UInt8]) throws(AgeError) {
        // age reads the nonce with the header: a missing one is a header failure.
        guard payload.count >= 16 else { throw .header("the payload nonce is missing") }
        let key = key(fileKey: fileKey, nonce: payload.prefix(16))
        var rest = payload.dropFirst(16)
        guard !rest.isEmpty else { throw .payload("the payload has no chunk") }
        var counter: UInt64 = 0
        while true {
            let chunk = rest.prefix(encryptedChunkSize)
            rest = rest.dropFirst(chunk.count)
            guard chunk.count >= tagSize else { throw .payload("a chunk is shorter than its tag") }
            // A short chunk can only be the last. A full one is tried as a middle chunk first,
            // then as a full-size last chunk.
            var last = chunk.count < encryptedChunkSize
            var opened = open(chunk, key: key, nonce: chunkNonce(counter, last: last))
            if opened == nil && !last {
                last = true
                opened = open(chunk, key: key, nonce: chunkNonce(counter, last: true))
            }
            guard let data = opened else { throw .payload("chunk \(counter) failed authentication") }
            if last {
                guard !(data.isEmpty && counter > 0) else { throw .payload("the last chunk is empty") }
                plaintext += data
                guard rest.isEmpty else { throw .payload("data after the last chunk") }
                return
            }
            plaintext += data
            guard !rest.isEmpty else { throw .payload("the payload is truncated (no last chunk)") }
            counter += 1
        }
    }

    private static func open(_ chunk: ArraySlice<UInt8>, key: SymmetricKey, nonce: [UInt8]) -> [UInt8]? {
        guard let box = try? ChaChaPoly.SealedBox(combined: nonce + chunk), let data = try? ChaChaPoly.open(box, using: key) else {
            return nil
        }
        return Array(data)
    }

    static func encrypt(_ plaintext: [UInt8], fileKey: [UInt8]) throws -> [UInt8] {
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let key = key(fileKey: fileKey, nonce: nonce[...])
        var out = nonce
        var offset = 0
        var counter: UInt64 = 0
        repeat {
            let end = min(offset + chunkSize, plaintext.count)
            let last = end == plaintext.count
            let sealed = try ChaChaPoly.seal(plaintext[offset..<end], using: key, nonce: ChaChaPoly.Nonce(data: chunkNonce(counter, last: last)))
            out += sealed.ciphertext + sealed.tag
            offset = end
            counter += 1
        } while offset < plaintext.count
        return out
    }
}
