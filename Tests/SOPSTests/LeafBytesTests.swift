import Testing

@testable import SOPS

/// Go's float and integer formatting, which the MAC and `sops -d` output depend on.
@Suite struct LeafBytesTests {
    @Test(arguments: [
        (0.25, "0.25"), (100.0, "100"), (1e-05, "0.00001"), (1.5e20, "150000000000000000000"), (-3.75, "-3.75"), (0.1, "0.1"),
        (123456789.125, "123456789.125"),
    ])
    func fixedLikeStrconvF(value: Double, expected: String) {
        #expect(LeafBytes.goFloat(value) == expected)
    }

    @Test(arguments: [
        (0.25, "0.25"), (100.0, "100"), (1e-05, "1e-05"), (1.5e20, "1.5e+20"), (1000000.0, "1e+06"), (123456.0, "123456"),
        (0.0001, "0.0001"), (-2.5e-7, "-2.5e-07"), (Double.infinity, ".inf"),
    ])
    func generalLikeStrconvG(value: Double, expected: String) {
        #expect(LeafBytes.goFloatG(value) == expected)
    }

    @Test func plainScalarsAreTypedByTheCoreSchema() {
        func bytes(_ text: String, plain: Bool = true) -> String? {
            LeafBytes.of(TreeNode.Scalar(text, isPlain: plain)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(bytes("true") == "True")
        #expect(bytes("FALSE") == "False")
        #expect(bytes("yes") == "yes")
        #expect(bytes("0x1F") == "31")
        #expect(bytes("007") == "7")
        #expect(bytes("1.50") == "1.5")
        #expect(bytes("null") == nil && bytes("~") == nil && bytes("") == nil)
        #expect(bytes("true", plain: false) == "true")
        #expect(bytes("", plain: false) == "")
    }
}
