import CMLXPrim
import MLXPrim
import XCTest

/// The value of the bfloat16 magnitude bits m (0...0x7F80), with 0x7F80 taken as 2^128: the
/// next value past the largest finite one, which rounding reaches only by overflowing.
private func magnitudeValue(_ m: UInt32) -> Double {
    m == 0x7F80 ? 0x1p128 : Double(Float(bitPattern: m << 16))
}

/// The bfloat16 bits nearest to a non-NaN x, ties to the even pattern, straight from the
/// definition (bfloat16 = the upper 16 bits of a float32): x lies between its truncation
/// and the next bfloat16 up in magnitude; the distances to both are exact in Double.
private func nearestBFloat16(_ x: Float) -> UInt16 {
    let sign = UInt16(x.bitPattern >> 31) << 15
    if x.isInfinite {
        return sign | 0x7F80
    }
    let below = x.magnitude.bitPattern >> 16, above = below + 1
    let a = Double(x.magnitude)
    let toBelow = a - magnitudeValue(below), toAbove = magnitudeValue(above) - a
    let nearest = toBelow < toAbove || (toBelow == toAbove && below % 2 == 0) ? below : above
    return sign | UInt16(nearest)
}

final class BFloat16Tests: XCTestCase {
    /// Asserts BFloat16(Float(bitPattern: input)) has the bits `want`, for each pair.
    func assertRounds(
        _ cases: [(input: UInt32, want: UInt16)], file: StaticString = #filePath,
        line: UInt = #line
    ) {
        for (input, want) in cases {
            let x = Float(bitPattern: input)
            let got = BFloat16(x).bitPattern
            XCTAssertEqual(got, want, "BFloat16(\(x)) from 0x\(String(input, radix: 16)): got "
                + "0x\(String(got, radix: 16)), want 0x\(String(want, radix: 16))",
                file: file, line: line)
        }
    }

    func testExactValues() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3F80), (-2, 0xC000), (0.5, 0x3F00),
            (1.5, 0x3FC0), (-3, 0xC040), (Float.leastNormalMagnitude, 0x0080),
            (0x1p-133, 0x0001),  // the smallest bfloat16 subnormal
            (Float(bitPattern: 0x7F7F_0000), 0x7F7F),  // the largest finite bfloat16
        ]
        for (x, bits) in cases {
            XCTAssertEqual(BFloat16(x).bitPattern, bits, "\(x)")
            let back = Float(BFloat16(bitPattern: bits))
            XCTAssertEqual(back.bitPattern, x.bitPattern, "Float(0x\(String(bits, radix: 16)))")
        }
    }

    func testTiesToEven() {
        assertRounds([
            (0x3F80_8000, 0x3F80),  // 1 + 2^-8, halfway between 0x3F80 and 0x3F81: even, down
            (0x3F81_8000, 0x3F82),  // halfway between 0x3F81 and 0x3F82: even, up
            (0x3F80_7FFF, 0x3F80),  // just below a half: down
            (0x3F80_8001, 0x3F81),  // just above a half: up
            (0xBF80_8000, 0xBF80),  // negative ties round the magnitude the same way
            (0xBF81_8000, 0xBF82),
            (0x4380_8000, 0x4380),  // 257: between 256 and 258, to 256
        ])
    }

    func testRoundsUpIntoTheNextBinade() {
        assertRounds([
            (0x3FFF_8000, 0x4000),  // a tie above 0x3FFF (odd, 1.9921875) goes to 2
            (0x3FFF_FFFF, 0x4000),  // the largest Float below 2
            (0xBFFF_C000, 0xC000),
            (0x007F_C000, 0x0080),  // the largest subnormals round up to the smallest normal
            (0x7F7F_7FFF, 0x7F7F),  // below half an ulp past the largest finite: stays finite
            (0x7F7F_8000, 0x7F80),  // a tie past the largest finite (odd) overflows to Inf
            (0x7F7F_FFFF, 0x7F80),  // Float.greatestFiniteMagnitude
            (0xFF7F_FFFF, 0xFF80),
        ])
    }

    func testZerosAndSubnormals() {
        assertRounds([
            (0x0000_0000, 0x0000), (0x8000_0000, 0x8000),  // ±0 keep their sign
            (0x0000_0001, 0x0000),  // the smallest Float subnormal rounds to +0
            (0x8000_0001, 0x8000),  // and to -0 when negative
            (0x0000_8000, 0x0000),  // half the smallest bfloat16: a tie, to even 0
            (0x0000_8001, 0x0001),
            (0x0001_8000, 0x0002),  // a tie above 0x0001 (odd): up
            (0x0002_8000, 0x0002),  // a tie above 0x0002 (even): down
            (0x8040_7FFF, 0x8040),
        ])
        XCTAssertEqual(Float(BFloat16(bitPattern: 0x0001)), 0x1p-133)
        XCTAssertEqual(Float(BFloat16(bitPattern: 0x8000)).sign, .minus)
    }

    func testInfinities() {
        XCTAssertEqual(BFloat16(Float.infinity).bitPattern, 0x7F80)
        XCTAssertEqual(BFloat16(-Float.infinity).bitPattern, 0xFF80)
        XCTAssertEqual(Float(BFloat16(bitPattern: 0x7F80)), .infinity)
        XCTAssertEqual(Float(BFloat16(bitPattern: 0xFF80)), -.infinity)
    }

    func testNaNStaysNaN() {
        assertRounds([
            (0x7FC0_0000, 0x7FC0),  // Float.nan
            (0xFFC0_0000, 0xFFC0),  // negative: the sign is kept
            (0x7F80_0001, 0x7FC0),  // payload only in the dropped bits: not Inf
            (0xFF80_0001, 0xFFC0),
            (0x7FA1_2345, 0x7FE1),  // signaling: quieted, top of the payload kept
            (0x7FFF_FFFF, 0x7FFF),  // rounding up would carry into the sign bit
        ])
        XCTAssertTrue(Float(BFloat16(bitPattern: 0x7F81)).isNaN)
        XCTAssertTrue(Float(BFloat16(bitPattern: 0xFFC0)).isNaN)
    }

    func testEveryBFloat16RoundTrips() {
        for bits in 0...UInt16.max {
            let x = Float(BFloat16(bitPattern: bits))
            let want = x.isNaN ? bits | 0x0040 : bits
            XCTAssertEqual(BFloat16(x).bitPattern, want, "0x\(String(bits, radix: 16))")
        }
    }

    func testAgainstTheDefinition() {
        // Every upper half with lower halves at and around the tie, the extremes and one
        // from a generator: 2^16 * 7 Floats across all binades, both signs, NaN and Inf.
        var data = TestData(seed: 70)
        var failures = 0
        for upper in 0...UInt32(UInt16.max) {
            let random = UInt32((data.next(scale: 1) + 1) * 0x8000) & 0xFFFF
            for lower: UInt32 in [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, random] {
                let x = Float(bitPattern: upper << 16 | lower)
                let want = x.isNaN ? UInt16(upper) | 0x0040 : nearestBFloat16(x)
                let got = BFloat16(x).bitPattern
                if got != want {
                    failures += 1
                    if failures <= 5 {
                        XCTFail("0x\(String(x.bitPattern, radix: 16)): got "
                            + "0x\(String(got, radix: 16)), want 0x\(String(want, radix: 16))")
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0)
    }

    func testLiterals() {
        let a: BFloat16 = 1.5, b: BFloat16 = 0.1, c: BFloat16 = -3, d: BFloat16 = 257
        XCTAssertEqual(a.bitPattern, 0x3FC0)
        XCTAssertEqual(b.bitPattern, 0x3DCD)  // 0.1f is 0x3DCCCCCD: rounds up
        XCTAssertEqual(c.bitPattern, 0xC040)
        XCTAssertEqual(d.bitPattern, 0x4380)  // 257 is a tie: to 256
        // Within 2^-24 of the tie 1 + 2^-8: a Float would round these onto the tie (and
        // then to 1); one rounding of the Double goes to the side the literal is on.
        let above: BFloat16 = 1.003906251, below: BFloat16 = -1.003906249
        XCTAssertEqual(above.bitPattern, 0x3F81)
        XCTAssertEqual(below.bitPattern, 0xBF80)
        let huge: BFloat16 = 1e39, tiny: BFloat16 = -1e-50
        XCTAssertEqual(huge.bitPattern, 0x7F80)  // beyond Float's range: Inf
        XCTAssertEqual(tiny.bitPattern, 0x8000)  // below half the smallest subnormal: -0
    }

    func testDescriptionAndEquality() {
        XCTAssertEqual(BFloat16(1.5).description, "1.5")
        XCTAssertEqual(BFloat16(0.1).description, "0.100097656")
        XCTAssertEqual(BFloat16(-Float.infinity).description, "-inf")
        XCTAssertEqual(BFloat16(Float.nan).description, "nan")
        // Bitwise: +0 and -0 are different values, 1 and 1.0 the same.
        let set: Set<BFloat16> = [0, BFloat16(-0.0), 1, 1.0]
        XCTAssertEqual(set.count, 3)
    }

    func testDType() {
        let dtype = BFloat16.mlxpDType
        XCTAssertEqual(dtype.code, UInt8(MLXP_DTYPE_BFLOAT))
        XCTAssertEqual(dtype.bits, 16)
        XCTAssertEqual(dtype.lanes, 1)
    }
}
