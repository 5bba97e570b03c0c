import CZlib
import Crypto
import Foundation
import Testing
import TestSupport

@testable import Age

/// The C2SP CCTV vectors for age (../shared/testdata/age-cctv): every vector with an X25519
/// identity must give exactly its expected outcome and payload hash.
@Suite struct CCTVTests {
    struct Vector {
        var name: String
        var expect: String
        var payload: String?
        var identities: [String]
        var armored: Bool
        var body: [UInt8]
    }

    enum Loaded {
        case vector(Vector)
        case skipped(String)
    }

    static let knownKeys: Set<String> = ["expect", "payload", "identity", "passphrase", "armored", "compressed", "file key", "comment"]

    static func load(_ url: URL) throws -> Loaded {
        let data = Array(try Data(contentsOf: url))
        guard let blank = (0..<data.count - 1).first(where: { data[$0] == 0x0A && data[$0 + 1] == 0x0A }) else {
            throw VectorError("\(url.lastPathComponent): no blank line after the header")
        }
        var fields: [(String, String)] = []
        for line in data[..<blank].split(separator: 0x0A) {
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = text.range(of: ": ") else { throw VectorError("\(url.lastPathComponent): bad header line \(text)") }
            fields.append((String(text[..<colon.lowerBound]), String(text[colon.upperBound...])))
        }
        if let unknown = fields.first(where: { !knownKeys.contains($0.0) }) { return .skipped("unknown header key '\(unknown.0)'") }
        var body = Array(data[(blank + 2)...])
        if fields.contains(where: { $0 == ("compressed", "zlib") }) { body = try inflate(body) }
        let identities = fields.filter { $0.0 == "identity" }.map(\.1)
        let x25519 = identities.filter { $0.hasPrefix("AGE-SECRET-KEY-1") }
        if x25519.isEmpty {
            if fields.contains(where: { $0.0 == "passphrase" }) { return .skipped("scrypt passphrase") }
            return .skipped("post-quantum (ML-KEM hybrid) identity")
        }
        return .vector(Vector(
            name: url.lastPathComponent, expect: fields.first { $0.0 == "expect" }?.1 ?? "",
            payload: fields.first { $0.0 == "payload" }?.1, identities: x25519,
            armored: fields.contains { $0 == ("armored", "yes") }, body: body))
    }

    struct VectorError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func inflate(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw VectorError("inflateInit") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            repeat {
                buffer.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    output += target[0..<(target.count - Int(stream.avail_out))]
                }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else { throw VectorError("inflate failed: \(status)") }
        return output
    }

    static func hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    @Test func everyX25519VectorGivesItsExpectedOutcome() throws {
        let directory = try TestPaths.shared("testdata/age-cctv")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != "README.md" }.sorted()
        #expect(names.count >= 140)
        var ran = 0
        var skipped: [String: Int] = [:]
        for name in names {
            switch try Self.load(directory.appendingPathComponent(name)) {
            case .skipped(let reason):
                skipped[reason, default: 0] += 1
            case .vector(let vector):
                ran += 1
                try check(vector)
            }
        }
        let total = skipped.values.reduce(0, +)
        print("age CCTV: \(ran) vectors run, \(total) skipped: " + skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        #expect(ran >= 90)
    }

    func check(_ vector: Vector) throws {
        let identities = try vector.identities.map { try X25519Identity(parsing: $0) }
        var plaintext: [UInt8] = []
        var outcome = "success"
        do {
            try AgeFile.decrypt(vector.body, identities: identities, armored: vector.armored, into: &plaintext)
        } catch {
            outcome = switch error {
            case .armor: "armor failure"
            case .header: "header failure"
            case .noMatch: "no match"
            case .headerMAC: "HMAC failure"
            case .payload: "payload failure"
            }
            if outcome != vector.expect { Issue.record("\(vector.name): expected \(vector.expect), got \(error)") }
        }
        #expect(outcome == vector.expect, "\(vector.name)")
        if let payload = vector.payload, vector.expect == "success" || vector.expect == "payload failure" {
            #expect(Self.hex(plaintext) == payload, "\(vector.name): payload hash")
        }
        // The armor flag must agree with what the decrypter saw.
        if vector.expect == "success" { #expect(AgeArmor.isArmored(vector.body) == vector.armored, "\(vector.name): armored") }
    }
}
