/// Shamir's secret sharing over GF(2^8) (the AES field), as SOPS uses it for key groups: each
/// share is the secret's polynomial values followed by one byte, its x coordinate.
public enum Shamir {
    public enum Failure: Error, Equatable {
        case tooFewShares, unequalLengths, duplicateShare, shareTooShort
    }

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        while b != 0 {
            if b & 1 != 0 { product ^= a }
            let carry = a & 0x80
            a <<= 1
            if carry != 0 { a ^= 0x1B }
            b >>= 1
        }
        return product
    }

    static func inverse(_ a: UInt8) -> UInt8 {
        // a^254 = a^-1 in GF(2^8).
        var result: UInt8 = 1, base = a, exponent = 254
        while exponent > 0 {
            if exponent & 1 != 0 { result = multiply(result, base) }
            base = multiply(base, base)
            exponent >>= 1
        }
        return result
    }

    /// Recovers the secret from at least the threshold of shares (Lagrange interpolation at 0).
    public static func combine(_ shares: [[UInt8]]) throws(Failure) -> [UInt8] {
        guard shares.count >= 2 else { throw .tooFewShares }
        let length = shares[0].count
        guard length >= 2 else { throw .shareTooShort }
        guard shares.allSatisfy({ $0.count == length }) else { throw .unequalLengths }
        let xs = shares.map { $0[length - 1] }
        guard Set(xs).count == xs.count else { throw .duplicateShare }
        var secret = [UInt8](repeating: 0, count: length - 1)
        for i in 0..<shares.count {
            var basis: UInt8 = 1
            for j in 0..<shares.count where j != i {
                basis = multiply(basis, multiply(xs[j], inverse(xs[i] ^ xs[j])))
            }
            for byte in 0..<(length - 1) { secret[byte] ^= multiply(shares[i][byte], basis) }
        }
        return secret
    }

    /// Splits a secret into `parts` shares, any `threshold` of which recover it.
    public static func split(_ secret: [UInt8], parts: Int, threshold: Int) -> [[UInt8]] {
        precondition(parts >= threshold && threshold >= 2 && parts < 256)
        var xs: [UInt8] = []
        while xs.count < parts {
            let x = UInt8.random(in: 1...255)
            if !xs.contains(x) { xs.append(x) }
        }
        var shares = xs.map { _ in [UInt8]() }
        for byte in secret {
            let coefficients = [byte] + (1..<threshold).map { _ in UInt8.random(in: 0...255) }
            for (index, x) in xs.enumerated() {
                var y: UInt8 = 0
                for coefficient in coefficients.reversed() { y = multiply(y, x) ^ coefficient }
                shares[index].append(y)
            }
        }
        return shares.enumerated().map { $0.element + [xs[$0.offset]] }
    }
}
