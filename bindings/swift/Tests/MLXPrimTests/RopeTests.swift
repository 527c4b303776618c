import CMLXPrim
import Foundation
import MLXPrim
import XCTest

/// RoPE in Double from mlxprim.h: pair i of the first R dims, (x_a, x_b), becomes
/// (x_a cos - x_b sin, x_b cos + x_a sin) at angle p f_i (negated for the inverse); the
/// remaining dims pass through. `position(b, s)` gives token s of batch b's position.
func ropeReference(
    _ x: [Double], shape: [Int], layout: RopeParams.Layout, pairing: RopeParams.Pairing,
    rotaryDim r: Int, invFreq: [Double], inverse: Bool = false, position: (Int, Int) -> Double
) -> [Double] {
    let (batch, d) = (shape[0], shape[3])
    let (seq, heads) = layout == .bshd ? (shape[1], shape[2]) : (shape[2], shape[1])
    var out = x
    for b in 0..<batch {
        for s in 0..<seq {
            for h in 0..<heads {
                let row = layout == .bshd
                    ? ((b * seq + s) * heads + h) * d : ((b * heads + h) * seq + s) * d
                for i in 0..<r / 2 {
                    let (ia, ib) = pairing == .half ? (i, i + r / 2) : (2 * i, 2 * i + 1)
                    let angle = (inverse ? -1 : 1) * position(b, s) * invFreq[i]
                    let (xa, xb) = (x[row + ia], x[row + ib])
                    out[row + ia] = xa * cos(angle) - xb * sin(angle)
                    out[row + ib] = xb * cos(angle) + xa * sin(angle)
                }
            }
        }
    }
    return out
}

/// f_i = base^(-2i/R), the unscaled inverse frequencies.
func ropeFrequencies(base: Double, rotaryDim r: Int) -> [Double] {
    (0..<r / 2).map { pow(base, -2 * Double($0) / Double(r)) }
}

final class RopeTests: XCTestCase {
    // Tolerance: cos and sin are rounded once to float32 (relative 2^-24) and the rotation
    // is two products and a sum in float32; for inputs with |x| <= 1 the error is below
    // 4 * 2^-24 * (|x_a| + |x_b|) < 5e-7, so atol 1e-6. float16 adds one rounding (2^-11).

    func check<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int]?, positions: [Int32]?, params: RopeParams,
        invFreq: [Double], atol: Double, rtol: Double = 0,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var data = TestData(seed: 30)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T]? = kShape.map { data.values(product($0), scale: 1) }
        let got = try MLXPrim.rope(q: q, qShape: qShape, k: k, kShape: kShape, positions: positions,
                                   params: params)
        let seq = params.layout == .bshd ? qShape[1] : qShape[2]
        let position: (Int, Int) -> Double = { b, s in
            guard let positions else { return Double(params.offset + s) }
            return Double(positions.count == seq ? positions[s] : positions[b * seq + s])
        }
        let r = params.rotaryDim == 0 ? qShape[3] : params.rotaryDim
        func reference(_ x: [T], _ shape: [Int]) -> [Double] {
            ropeReference(x.map(Double.init), shape: shape, layout: params.layout,
                          pairing: params.pairing, rotaryDim: r, invFreq: invFreq,
                          inverse: params.inverse, position: position)
        }
        assertClose(got.q, reference(q, qShape), rtol: rtol, atol: atol, "q", file: file, line: line)
        if let k, let kShape {
            XCTAssertNotNil(got.k, file: file, line: line)
            assertClose(got.k ?? [], reference(k, kShape), rtol: rtol, atol: atol, "k",
                        file: file, line: line)
        } else {
            XCTAssertNil(got.k, file: file, line: line)
        }
    }

    func testDefaults() throws {
        // Half pairing, BSHD, base 10000, positions 0..S-1; grouped k with fewer heads.
        try check(Float.self, qShape: [2, 5, 3, 8], kShape: [2, 5, 1, 8], positions: nil,
                  params: RopeParams(), invFreq: ropeFrequencies(base: 10000, rotaryDim: 8),
                  atol: 1e-6)
    }

    func testInterleavedPartialBHSDWithOffset() throws {
        // Only the first 4 of 10 dims rotate; the rest must come back unchanged.
        let params = RopeParams(base: 500, rotaryDim: 4, pairing: .interleaved, layout: .bhsd,
                                offset: 7)
        try check(Float.self, qShape: [1, 2, 6, 10], kShape: [1, 2, 6, 10], positions: nil,
                  params: params, invFreq: ropeFrequencies(base: 500, rotaryDim: 4), atol: 1e-6)
    }

    func testExplicitPositions() throws {
        let freq = ropeFrequencies(base: 10000, rotaryDim: 16)
        // Shared by the batch ([S]) and per batch ([B, S]).
        try check(Float.self, qShape: [2, 3, 2, 16], kShape: nil, positions: [5, 0, 1000],
                  params: RopeParams(), invFreq: freq, atol: 1e-6)
        try check(Float.self, qShape: [2, 3, 2, 16], kShape: [2, 3, 2, 16],
                  positions: [0, 1, 2, 40, 41, 42], params: RopeParams(), invFreq: freq, atol: 1e-6)
    }

    func testLinearAndNTKScaling() throws {
        // Linear: f_i / s. NTK: base * s^(R/(R-2)).
        let r = 8, s = 4.0
        try check(Float.self, qShape: [1, 4, 2, r], kShape: nil, positions: nil,
                  params: RopeParams(scaling: .linear, factor: s),
                  invFreq: ropeFrequencies(base: 10000, rotaryDim: r).map { $0 / s }, atol: 1e-6)
        let ntkBase = 10000 * pow(s, Double(r) / Double(r - 2))
        try check(Float.self, qShape: [1, 4, 2, r], kShape: nil, positions: nil,
                  params: RopeParams(scaling: .ntk, factor: s),
                  invFreq: ropeFrequencies(base: ntkBase, rotaryDim: r), atol: 1e-6)
    }

    func testInverseUndoesForward() throws {
        var data = TestData(seed: 31)
        let shape = [2, 7, 3, 12]
        let q: [Float] = data.values(product(shape), scale: 1)
        let forward = try MLXPrim.rope(q: q, qShape: shape, params: RopeParams(offset: 3))
        var params = RopeParams(offset: 3)
        params.inverse = true
        // Rotating back: two float32 rotations, each within 5e-7 of exact.
        let back = try MLXPrim.rope(q: forward.q, qShape: shape, params: params)
        assertClose(back.q, q.map(Double.init), rtol: 0, atol: 2e-6, "inverse(forward(q))")
        try check(Float.self, qShape: shape, kShape: nil, positions: nil, params: params,
                  invFreq: ropeFrequencies(base: 10000, rotaryDim: 12), atol: 1e-6)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testFloat16() throws {
        try check(Float16.self, qShape: [1, 5, 2, 8], kShape: [1, 5, 2, 8], positions: nil,
                  params: RopeParams(), invFreq: ropeFrequencies(base: 10000, rotaryDim: 8),
                  atol: 1e-6, rtol: 0x1p-11 + 1e-6)
    }
    #endif

    func testInPlaceBuffers() throws {
        var data = TestData(seed: 32)
        let shape = [1, 4, 2, 8]
        let q: [Float] = data.values(64, scale: 1), k: [Float] = data.values(64, scale: 1)
        let want = try MLXPrim.rope(q: q, qShape: shape, k: k, kShape: shape, positions: [3, 1, 4, 1])
        var qs = q, ks = k
        let positions: [Int32] = [3, 1, 4, 1]
        try positions.withUnsafeBufferPointer { p in
            try qs.withUnsafeMutableBufferPointer { qb in
                try ks.withUnsafeMutableBufferPointer { kb in
                    try MLXPrim.rope(q: UnsafeBufferPointer(qb), qShape: shape,
                                     k: UnsafeBufferPointer(kb), kShape: shape, positions: p,
                                     qOut: qb, kOut: kb)
                }
            }
        }
        XCTAssertEqual(qs, want.q, "in place equals out of place bit for bit")
        XCTAssertEqual(ks, want.k)
    }

    func testParamsDefaultsMatchTheLibrary() throws {
        var c = mlxp_rope_params()
        XCTAssertEqual(mlxp_rope_params_init(&c), Int32(MLXP_OK))
        let p = RopeParams()
        XCTAssertEqual(p.base, c.base)
        XCTAssertEqual(p.rotaryDim, Int(c.rotary_dim))
        XCTAssertEqual(p.pairing.rawValue, c.pairing)
        XCTAssertEqual(p.layout.rawValue, c.layout)
        XCTAssertEqual(p.scaling.rawValue, c.scaling)
        XCTAssertEqual(p.offset, Int(c.offset))
        XCTAssertEqual(p.factor, c.factor)
        XCTAssertEqual(p.originalMaxPositions, Int(c.original_max_positions))
        XCTAssertEqual(p.betaFast, c.beta_fast)
        XCTAssertEqual(p.betaSlow, c.beta_slow)
        XCTAssertEqual(p.attentionFactor, c.attention_factor)
        XCTAssertEqual(p.mscale, c.mscale)
        XCTAssertEqual(p.mscaleAllDim, c.mscale_all_dim)
        XCTAssertEqual(p.yarnTruncate ? 0 : 1, c.yarn_no_truncate)
        XCTAssertEqual(p.lowFreqFactor, c.low_freq_factor)
        XCTAssertEqual(p.highFreqFactor, c.high_freq_factor)
        XCTAssertEqual(p.seqLen, Int(c.seq_len))
        XCTAssertEqual(p.inverse ? 1 : 0, c.inverse)
        // And the header's stated values.
        XCTAssertEqual(p.base, 10000)
        XCTAssertEqual(p.pairing, .half)
        XCTAssertEqual(p.layout, .bshd)
        XCTAssertEqual(p.scaling, RopeParams.Scaling.none)
        XCTAssertEqual(p.factor, 1)
    }

    func testBadInput() {
        let shape = [1, 2, 1, 8]
        let q = [Float](repeating: 1, count: 16)
        assertThrows(.invalidArgument, "odd rotary dim") {
            try MLXPrim.rope(q: q, qShape: shape, params: RopeParams(rotaryDim: 3))
        }
        assertThrows(.invalidArgument, "rotary dim above head dim") {
            try MLXPrim.rope(q: q, qShape: shape, params: RopeParams(rotaryDim: 10))
        }
        assertThrows(.invalidArgument, "base 0") {
            try MLXPrim.rope(q: q, qShape: shape, params: RopeParams(base: 0))
        }
        assertThrows(.invalidArgument, "YaRN without original max positions") {
            try MLXPrim.rope(q: q, qShape: shape, params: RopeParams(scaling: .yarn, factor: 4))
        }
        assertThrows(.shapeMismatch, "k's head dim differs") {
            try MLXPrim.rope(q: q, qShape: shape, k: [Float](repeating: 1, count: 8),
                             kShape: [1, 2, 1, 4])
        }
        assertThrows(.shapeMismatch, "three positions for two tokens") {
            try MLXPrim.rope(q: q, qShape: shape, positions: [0, 1, 2])
        }
        assertThrows(.shapeMismatch, "three axes") {
            try MLXPrim.rope(q: q, qShape: [2, 1, 8])
        }
        assertThrows(.shapeMismatch, "count differs from shape") {
            try MLXPrim.rope(q: q, qShape: [1, 3, 1, 8])
        }
    }
}
