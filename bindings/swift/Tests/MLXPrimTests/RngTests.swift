import MLXPrim
import XCTest

/// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
/// written from the paper as the reference for mlxp_rng_uniform.
func philox4x32(counter: [UInt32], key: [UInt32]) -> [UInt32] {
    var c = counter, k = key
    for round in 0..<10 {
        if round > 0 {
            k[0] &+= 0x9E37_79B9
            k[1] &+= 0xBB67_AE85
        }
        let p0 = UInt64(0xD251_1F53) * UInt64(c[0])
        let p1 = UInt64(0xCD9E_8D57) * UInt64(c[2])
        c = [
            UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
            UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0),
        ]
    }
    return c
}

/// The header's stream: key (seed low, seed high), counter 0, 1, 2, ... (low word first),
/// each word w giving (w >> 8) * 2^-24.
func uniformReference(seed: UInt64, count: Int) -> [Double] {
    let key = [UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)]
    var out: [Double] = []
    var block: UInt32 = 0
    while out.count < count {
        out += philox4x32(counter: [block, 0, 0, 0], key: key).map { Double($0 >> 8) * 0x1p-24 }
        block += 1
    }
    return Array(out.prefix(count))
}

final class RngTests: XCTestCase {
    func testReferenceMatchesPublishedVectors() {
        // Known-answer vectors of Random123 (kat_vectors, philox4x32 10), so the reference
        // above is itself checked.
        XCTAssertEqual(philox4x32(counter: [0, 0, 0, 0], key: [0, 0]),
                       [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        XCTAssertEqual(philox4x32(counter: [.max, .max, .max, .max], key: [.max, .max]),
                       [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
        XCTAssertEqual(
            philox4x32(counter: [0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344],
                       key: [0xA409_3822, 0x299F_31D0]),
            [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1])
    }

    func testMatchesPhiloxReference() throws {
        for seed: UInt64 in [0, 42, 0x0123_4567_89AB_CDEF] {
            let got = try Rng(seed: seed).uniform(count: 103)
            // Exact: every sample is a multiple of 2^-24 below 1, representable in float32.
            XCTAssertEqual(got.map(Double.init), uniformReference(seed: seed, count: 103),
                           "seed \(seed)")
        }
    }

    func testDeterministicAndSeedDependent() throws {
        let a = try Rng(seed: 7).uniform(count: 1000)
        XCTAssertEqual(a, try Rng(seed: 7).uniform(count: 1000))
        XCTAssertNotEqual(a, try Rng(seed: 8).uniform(count: 1000))
    }

    func testStreamContinuesAcrossCalls() throws {
        // With counts that are multiples of 4 the split into calls does not matter.
        let rng = try Rng(seed: 11)
        let parts = try rng.uniform(count: 8) + rng.uniform(count: 12)
        XCTAssertEqual(parts, try Rng(seed: 11).uniform(count: 20))
    }

    func testRangeAndMoments() throws {
        let n = 100_000
        let samples = try Rng(seed: 2024).uniform(count: n).map(Double.init)
        XCTAssertTrue(samples.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertTrue(samples.allSatisfy { ($0 * 0x1p24).rounded() == $0 * 0x1p24 },
                      "samples are multiples of 2^-24")
        // Standard errors: mean 0.289 / sqrt(n) ~ 9e-4, variance ~3e-4; bounds are > 5 sigma.
        let mean = samples.reduce(0, +) / Double(n)
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        XCTAssertEqual(mean, 0.5, accuracy: 5e-3)
        XCTAssertEqual(variance, 1.0 / 12, accuracy: 2e-3)
    }

    func testFill() throws {
        var a = [Float](repeating: -1, count: 50)
        try Rng(seed: 5).fill(&a)
        XCTAssertEqual(a, try Rng(seed: 5).uniform(count: 50))

        var b = [Float](repeating: -1, count: 10)
        try b.withUnsafeMutableBufferPointer { try Rng(seed: 5).fill($0) }
        XCTAssertEqual(b, Array(a.prefix(10)))
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testFloat16IsTheRoundedFloatStream() throws {
        // Each float16 sample is the float32 sample rounded to nearest even (may reach 1).
        let halves = try Rng(seed: 9).uniform(count: 4000, as: Float16.self)
        let floats = try Rng(seed: 9).uniform(count: 4000)
        XCTAssertEqual(halves, floats.map { Float16($0) })
        XCTAssertTrue(halves.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
    #endif

    func testBFloat16IsTheRoundedFloatStream() throws {
        // Each bfloat16 sample is the float32 sample rounded to nearest even (may reach 1);
        // 2^16 samples hold a few exact ties.
        let count = 1 << 16
        let bf = try Rng(seed: 9).uniform(count: count, as: BFloat16.self)
        let floats = try Rng(seed: 9).uniform(count: count)
        XCTAssertEqual(bf, floats.map { BFloat16($0) })
        XCTAssertTrue(bf.allSatisfy { Float($0) >= 0 && Float($0) <= 1 })
    }

    func testCounts() throws {
        let rng = try Rng(seed: 1)
        XCTAssertEqual(try rng.uniform(count: 0), [])
        assertThrows(.invalidArgument, "negative count") { try rng.uniform(count: -1) }
        // A failed call does not advance the stream.
        XCTAssertEqual(try rng.uniform(count: 4), try Rng(seed: 1).uniform(count: 4))
    }
}
