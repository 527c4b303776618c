import Foundation
import MLXPrim
import XCTest

/// Attention in Double from mlxprim.h, with the score matrix and the mask materialized.
/// For query i (position i' = i + Lk - Lq) and key j of batch b, query head h (KV head
/// h / (Hq/Hkv)):
///   x = scale * q.k;  x = cap * tanh(x / cap);  x += bias[b, h, i, j];
///   x -= slope[h] * (i' - j);  then x = -Inf where the mask says so;
/// out = sum_j softmax(x)_j v_j, lse = log(sum_j e^x_j (+ e^sink[h])); a row with no visible
/// key gives zeros and lse -Inf (or the sink). `visible(i, j)`, when given, replaces the
/// causal and window rules of `params` (for sliding windows).
func attentionReference(
    q: [Double], qShape: [Int], k: [Double], kShape: [Int], v: [Double], vShape: [Int],
    params p: AttentionParams, visible: ((Int, Int) -> Bool)? = nil
) -> (out: [Double], lse: [Double]) {
    let bshd = p.layout == .bshd
    let (batch, d, dv) = (qShape[0], qShape[3], vShape[3])
    let (lq, hq) = bshd ? (qShape[1], qShape[2]) : (qShape[2], qShape[1])
    let (lk, hkv) = bshd ? (kShape[1], kShape[2]) : (kShape[2], kShape[1])
    let group = hq / hkv
    // Element offset of (b, s, h, 0) in a tensor with `seq` positions and `heads` heads.
    func row(_ b: Int, _ s: Int, _ h: Int, _ seq: Int, _ heads: Int, _ dim: Int) -> Int {
        bshd ? ((b * seq + s) * heads + h) * dim : ((b * heads + h) * seq + s) * dim
    }
    // The bias value at (b, h, i, j), broadcast from biasShape right-aligned to 4-D.
    func bias(_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Double {
        guard let values = p.bias, let shape = p.biasShape else { return 0 }
        let full = Array(repeating: 1, count: 4 - shape.count) + shape
        var offset = 0
        for (axis, index) in [b, h, i, j].enumerated() {
            offset = offset * full[axis] + (full[axis] == 1 ? 0 : index)
        }
        return Double(values[offset])
    }
    let scale = p.scale == 0 ? 1 / Double(d).squareRoot() : Double(p.scale)
    let shift = lk - lq
    var out = [Double](repeating: 0, count: batch * lq * hq * dv)
    var lse = [Double](repeating: -.infinity, count: batch * hq * lq)
    for b in 0..<batch {
        for h in 0..<hq {
            let kh = h / group
            // Scores and mask for this (b, h), materialized.
            var scores = [[Double]](repeating: [Double](repeating: 0, count: lk), count: lq)
            var mask = [[Bool]](repeating: [Bool](repeating: true, count: lk), count: lq)
            for i in 0..<lq {
                let pos = i + shift
                for j in 0..<lk {
                    let (qr, kr) = (row(b, i, h, lq, hq, d), row(b, j, kh, lk, hkv, d))
                    var x = scale * (0..<d).reduce(0.0) { $0 + q[qr + $1] * k[kr + $1] }
                    if p.softcap > 0 {
                        x = Double(p.softcap) * tanh(x / Double(p.softcap))
                    }
                    x += bias(b, h, i, j)
                    if let slopes = p.alibiSlopes {
                        x -= Double(slopes[h]) * Double(pos - j)
                    }
                    scores[i][j] = x
                    var seen: Bool
                    if let visible {
                        seen = visible(i, j)
                    } else {
                        seen = !p.causal || j <= pos
                        if p.windowLeft >= 0 { seen = seen && j >= pos - p.windowLeft }
                        if p.windowRight >= 0 { seen = seen && j <= pos + p.windowRight }
                    }
                    if let lengths = p.keyLengths { seen = seen && j < Int(lengths[b]) }
                    if x == -.infinity { seen = false }
                    mask[i][j] = seen
                }
            }
            for i in 0..<lq {
                let sink = p.sinks.map { Double($0[h]) }
                let logits = (0..<lk).filter { mask[i][$0] }.map { scores[i][$0] }
                let all = logits + (sink.map { [$0] } ?? [])
                guard let m = all.max() else { continue }  // empty row: zeros, lse -Inf
                let denom = all.reduce(0.0) { $0 + exp($1 - m) }
                lse[(b * hq + h) * lq + i] = m + log(denom)
                let orow = row(b, i, h, lq, hq, dv)
                for j in 0..<lk where mask[i][j] {
                    let w = exp(scores[i][j] - m) / denom
                    let vr = row(b, j, kh, lk, hkv, dv)
                    for e in 0..<dv {
                        out[orow + e] += w * v[vr + e]
                    }
                }
            }
        }
    }
    return (out, lse)
}

/// Press et al.'s slopes (the reference code of "Train Short, Test Long"): for a power of
/// two n, start = 2^(-2^-(log2 n - 3)) and slope_i = start^(i+1); otherwise the slopes of
/// the closest lower power of two c, then every other slope of 2c, up to n.
func pressSlopes(_ n: Int) -> [Double] {
    func powerOfTwo(_ n: Int) -> [Double] {
        let start = pow(2, -pow(2, -(log2(Double(n)) - 3)))
        return (0..<n).map { pow(start, Double($0 + 1)) }
    }
    if log2(Double(n)).rounded() == log2(Double(n)) {
        return powerOfTwo(n)
    }
    let c = 1 << Int(log2(Double(n)).rounded(.down))
    let extra = powerOfTwo(2 * c).enumerated().filter { $0.offset % 2 == 0 }.map { $0.element }
    return powerOfTwo(c) + extra.prefix(n - c)
}

/// Compares lse values: -Inf (a row with no visible key) exactly, the rest within atol.
func assertLSE(
    _ got: [Float], _ want: [Double], atol: Double,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(got.count, want.count, "lse: count", file: file, line: line)
    let empty = want.indices.filter { want[$0] == -.infinity }
    XCTAssertEqual(empty.map { got[$0] }, empty.map { _ in -Float.infinity }, "lse of empty rows",
                   file: file, line: line)
    let finite = want.indices.filter { want[$0] != -.infinity }
    assertClose(finite.map { got[$0] }, finite.map { want[$0] }, rtol: 0, atol: atol, "lse",
                file: file, line: line)
}

final class AttentionTests: XCTestCase {
    // Tolerances. Inputs are uniform in [-1, 1], D <= 16, Lk <= 12, so |scale q.k| <= 4.
    // float32: the dot product's error is below (D + 2) 2^-24 * 4 < 5e-6 relative to the
    // logit range; exp and the online rescaling add a few ulps per key; the output is a
    // convex combination of |v| <= 1, so its error is below ~2e-6: atol 1e-5 (output) and
    // 2e-5 (lse, which carries |logits| up to ~10 with ALiBi).
    // float16: the output is rounded once from float32 into float16, half an ulp is
    // 2^-11 relative: rtol 2^-11 plus the float32 atol.
    let atol32 = 1e-5, lseAtol = 2e-5
    let rtol16 = 0x1p-11

    /// Random q, k, v of the given shapes (seeded), the library's result and the Double
    /// reference, compared; returns the library's result for further checks.
    @discardableResult
    func check<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int], vShape: [Int], params: AttentionParams,
        seed: UInt64 = 40, rtol: Double = 0,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (output: [T], lse: [Float]) {
        var data = TestData(seed: seed)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T] = data.values(product(kShape), scale: 1)
        let v: [T] = data.values(product(vShape), scale: 1)
        let got = try MLXPrim.flashAttention(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, params: params,
            returnLSE: true)
        let want = attentionReference(
            q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
            v: v.map(Double.init), vShape: vShape, params: params)
        XCTAssertEqual(got.shape, Array(qShape.dropLast()) + [vShape[3]], file: file, line: line)
        assertClose(got.output, want.out, rtol: rtol, atol: atol32, "out", file: file, line: line)
        let lse = got.lse ?? []
        assertLSE(lse, want.lse, atol: lseAtol, file: file, line: line)
        return (got.output, lse)
    }

    func testGQANonCausalAndCausal() throws {
        // 4 query heads over 2 KV heads, Dv != D.
        for causal in [false, true] {
            try check(Float.self, qShape: [2, 5, 4, 8], kShape: [2, 5, 2, 8], vShape: [2, 5, 2, 6],
                      params: AttentionParams(causal: causal))
        }
        // Without lse the output is the same.
        var data = TestData(seed: 41)
        let q: [Float] = data.values(2 * 3 * 4 * 8, scale: 1)
        let k: [Float] = data.values(2 * 3 * 1 * 8, scale: 1)
        let withLSE = try MLXPrim.flashAttention(
            q: q, qShape: [2, 3, 4, 8], k: k, kShape: [2, 3, 1, 8], v: k, vShape: [2, 3, 1, 8],
            returnLSE: true)
        let plain = try MLXPrim.flashAttention(
            q: q, qShape: [2, 3, 4, 8], k: k, kShape: [2, 3, 1, 8], v: k, vShape: [2, 3, 1, 8])
        XCTAssertNil(plain.lse)
        XCTAssertEqual(plain.output, withLSE.output)
    }

    func testFloat16() throws {
        try check(Float16.self, qShape: [1, 6, 4, 16], kShape: [1, 6, 2, 16],
                  vShape: [1, 6, 2, 16], params: AttentionParams(), rtol: rtol16)
        // BHSD: q [B, Hq, Lq, D], k and v [B, Hkv, Lk, D].
        try check(Float16.self, qShape: [2, 2, 3, 8], kShape: [2, 1, 7, 8], vShape: [2, 1, 7, 8],
                  params: AttentionParams(windowLeft: 2, layout: .bhsd), rtol: rtol16)
    }

    func testCausalBottomRightWithLqBelowLk() throws {
        // Query i sees keys 0...i + 4 (decode-style: the last query sees every key).
        try check(Float.self, qShape: [1, 3, 2, 8], kShape: [1, 7, 2, 8], vShape: [1, 7, 2, 8],
                  params: AttentionParams(scale: 0.5))
    }

    func testEmptyRowsGiveZerosAndMinusInfinity() throws {
        // Lq = 5 > Lk = 3: queries 0 and 1 see no key (j <= i - 2).
        let (out, lse) = try check(Float.self, qShape: [1, 5, 2, 4], kShape: [1, 3, 2, 4],
                                   vShape: [1, 3, 2, 4], params: AttentionParams())
        XCTAssertEqual(Array(out[0..<16]), [Float](repeating: 0, count: 16))
        for h in 0..<2 {
            XCTAssertEqual(Array(lse[h * 5..<h * 5 + 2]), [-.infinity, -.infinity])
            XCTAssertTrue(lse[h * 5 + 2].isFinite)
        }
        XCTAssertFalse(out.contains { $0.isNaN })
    }

    func testWindow() throws {
        // Keys within 2 before and 1 after the diagonal, with and without causality, in
        // both layouts.
        for causal in [false, true] {
            // Six positions, two heads: [2, 6, 2, 8] in BSHD, [2, 2, 6, 8] in BHSD.
            for (layout, shape) in [(AttentionParams.Layout.bshd, [2, 6, 2, 8]),
                                    (.bhsd, [2, 2, 6, 8])] {
                try check(Float.self, qShape: shape, kShape: shape, vShape: shape,
                          params: AttentionParams(causal: causal, windowLeft: 2, windowRight: 1,
                                                  layout: layout))
            }
        }
        // Lq != Lk: the window is centred on i' = i + 5.
        try check(Float.self, qShape: [1, 4, 3, 8], kShape: [1, 9, 3, 8], vShape: [1, 9, 3, 8],
                  params: AttentionParams(causal: false, windowLeft: 1, windowRight: 3))
    }

    func testAlibiSlopesFollowPress() throws {
        // 8 heads: 2^-1 ... 2^-8, exactly representable.
        let eight = try MLXPrim.alibiSlopes(numHeads: 8)
        XCTAssertEqual(eight, (1...8).map { Float(pow(2.0, -Double($0))) })
        XCTAssertEqual(eight.map(Double.init), pressSlopes(8))
        // Other counts, including the interpolation: float32 of the Double formula (one
        // rounding, relative 2^-24).
        for n in [1, 2, 6, 12] {
            assertClose(try MLXPrim.alibiSlopes(numHeads: n), pressSlopes(n), rtol: 0x1p-24,
                        atol: 1e-15, "slopes(\(n))")
        }
    }

    func testAlibi() throws {
        let slopes = try MLXPrim.alibiSlopes(numHeads: 4)
        try check(Float.self, qShape: [2, 3, 4, 8], kShape: [2, 6, 2, 8], vShape: [2, 6, 2, 8],
                  params: AttentionParams(alibiSlopes: slopes))
        try check(Float.self, qShape: [1, 5, 4, 8], kShape: [1, 5, 4, 8], vShape: [1, 5, 4, 8],
                  params: AttentionParams(causal: false, alibiSlopes: slopes))
    }

    func testKeyLengths() throws {
        // Batch 2 has no valid key: all its rows are zeros with lse -Inf.
        let (out, lse) = try check(
            Float.self, qShape: [3, 4, 2, 8], kShape: [3, 6, 1, 8], vShape: [3, 6, 1, 8],
            params: AttentionParams(causal: false, keyLengths: [6, 2, 0]))
        XCTAssertEqual(Array(out[2 * 64..<3 * 64]), [Float](repeating: 0, count: 64))
        XCTAssertEqual(Array(lse[2 * 8..<3 * 8]), [Float](repeating: -.infinity, count: 8))
        // With causality too.
        try check(Float.self, qShape: [3, 4, 2, 8], kShape: [3, 6, 1, 8], vShape: [3, 6, 1, 8],
                  params: AttentionParams(keyLengths: [3, 6, 1]))
    }

    func testSinks() throws {
        let sinks: [Float] = [0.5, -1, 2]
        try check(Float.self, qShape: [2, 4, 3, 8], kShape: [2, 4, 3, 8], vShape: [2, 4, 3, 8],
                  params: AttentionParams(sinks: sinks))
        // A row that sees no key: zeros, and lse is the sink logit itself.
        let (out, lse) = try check(
            Float.self, qShape: [1, 2, 3, 8], kShape: [1, 4, 3, 8], vShape: [1, 4, 3, 8],
            params: AttentionParams(keyLengths: [0], sinks: sinks))
        XCTAssertEqual(out, [Float](repeating: 0, count: 48))
        XCTAssertEqual(lse, [0.5, 0.5, -1, -1, 2, 2])
    }

    func testSoftcapAndBroadcastBias() throws {
        // A large scale so the cap matters; bias [Hq, 1, Lk] with one -Inf (a masked key).
        var data = TestData(seed: 42)
        var bias: [Float] = data.values(2 * 5, scale: 1)
        bias[3] = -.infinity
        try check(Float.self, qShape: [2, 3, 2, 8], kShape: [2, 5, 2, 8], vShape: [2, 5, 2, 8],
                  params: AttentionParams(scale: 2, softcap: 1.5, bias: bias,
                                          biasShape: [2, 1, 5]))
        // A full [B, Hq, Lq, Lk] bias in BHSD.
        let full: [Float] = data.values(2 * 2 * 3 * 5, scale: 2)
        try check(Float.self, qShape: [2, 2, 3, 8], kShape: [2, 2, 5, 8], vShape: [2, 2, 5, 8],
                  params: AttentionParams(causal: false, layout: .bhsd, bias: full,
                                          biasShape: [2, 2, 3, 5]))
    }

    func testMergeOfTwoKeyHalvesEqualsFullAttention() throws {
        let (b, lq, hq, hkv, d, lk, split) = (2, 3, 4, 2, 8, 10, 4)
        var data = TestData(seed: 43)
        let q: [Float] = data.values(b * lq * hq * d, scale: 1)
        let k: [Float] = data.values(b * lk * hkv * d, scale: 1)
        let v: [Float] = data.values(b * lk * hkv * d, scale: 1)
        // Keys [lo, hi) of every batch (BSHD: contiguous per batch).
        func keys(_ x: [Float], _ lo: Int, _ hi: Int) -> [Float] {
            let rowSize = hkv * d
            return (0..<b).flatMap { x[($0 * lk + lo) * rowSize..<($0 * lk + hi) * rowSize] }
        }
        let params = AttentionParams(causal: false)
        func part(_ lo: Int, _ hi: Int) throws -> (output: [Float], shape: [Int], lse: [Float]?) {
            let shape = [b, hi - lo, hkv, d]
            return try MLXPrim.flashAttention(
                q: q, qShape: [b, lq, hq, d], k: keys(k, lo, hi), kShape: shape,
                v: keys(v, lo, hi), vShape: shape, params: params, returnLSE: true)
        }
        let (first, second) = (try part(0, split), try part(split, lk))
        let merged = try MLXPrim.mergeAttentionStates(
            oA: first.output, lseA: first.lse!, oB: second.output, lseB: second.lse!,
            shape: [b, lq, hq, d])
        let want = attentionReference(
            q: q.map(Double.init), qShape: [b, lq, hq, d], k: k.map(Double.init),
            kShape: [b, lk, hkv, d], v: v.map(Double.init), vShape: [b, lk, hkv, d],
            params: params)
        // Each half within the float32 bounds above; the merge in float64 adds one rounding.
        assertClose(merged.output, want.out, rtol: 0, atol: 2 * atol32, "merged out")
        assertLSE(merged.lse, want.lse, atol: 2 * lseAtol)
    }

    func testMergeWithEmptySides() throws {
        // [1, 1, 2, 2]: head 0 has only side B, head 1 has neither.
        let merged = try MLXPrim.mergeAttentionStates(
            oA: [Float]([9, 9, 0, 0]), lseA: [-.infinity, -.infinity],
            oB: [Float]([0.25, -0.5, 0, 0]), lseB: [1.5, -.infinity], shape: [1, 1, 2, 2])
        XCTAssertEqual(merged.output, [0.25, -0.5, 0, 0])
        XCTAssertEqual(merged.lse, [1.5, -.infinity])
    }

    func testSlidingWindowMatchesExplicitMask() throws {
        let (qShape, kShape) = ([2, 4, 2, 8], [2, 7, 1, 8])
        var data = TestData(seed: 44)
        let q: [Float] = data.values(product(qShape), scale: 1)
        let k: [Float] = data.values(product(kShape), scale: 1)
        let v: [Float] = data.values(product(kShape), scale: 1)
        let w = 2, shift = 7 - 4
        for causal in [false, true] {
            let got = try MLXPrim.slidingWindowAttention(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: kShape, windowSize: w,
                causal: causal)
            // |i' - j| <= w, and j <= i' when causal.
            let want = attentionReference(
                q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
                v: v.map(Double.init), vShape: kShape, params: AttentionParams()
            ) { i, j in
                abs(i + shift - j) <= w && (!causal || j <= i + shift)
            }
            XCTAssertEqual(got.shape, qShape)
            assertClose(got.output, want.out, rtol: 0, atol: atol32, "sliding causal=\(causal)")
        }
    }

    func testBadInput() throws {
        var data = TestData(seed: 45)
        let q: [Float] = data.values(1 * 2 * 3 * 4, scale: 1)
        let k: [Float] = data.values(1 * 2 * 2 * 4, scale: 1)
        // Hq = 3 is not a multiple of Hkv = 2.
        assertThrows(.shapeMismatch, "Hq % Hkv") {
            try MLXPrim.flashAttention(q: q, qShape: [1, 2, 3, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4])
        }
        let q2 = Array(q[0..<16])
        assertThrows(.invalidArgument, "window -2") {
            try MLXPrim.flashAttention(q: q2, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4],
                                       params: AttentionParams(windowLeft: -2))
        }
        assertThrows(.invalidArgument, "windowSize -1") {
            try MLXPrim.slidingWindowAttention(
                q: q2, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4], v: k,
                vShape: [1, 2, 2, 4], windowSize: -1, causal: true)
        }
        assertThrows(.invalidArgument, "key length beyond Lk") {
            try MLXPrim.flashAttention(q: q2, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4],
                                       params: AttentionParams(keyLengths: [3]))
        }
        assertThrows(.shapeMismatch, "sinks of the wrong length") {
            try MLXPrim.flashAttention(q: q2, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4],
                                       params: AttentionParams(sinks: [0]))
        }
        assertThrows(.invalidArgument, "bias without a shape") {
            try MLXPrim.flashAttention(q: q2, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4],
                                       params: AttentionParams(bias: [0, 0]))
        }
        assertThrows(.shapeMismatch, "q count") {
            try MLXPrim.flashAttention(q: q, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4],
                                       v: k, vShape: [1, 2, 2, 4])
        }
        assertThrows(.invalidArgument, "0 ALiBi heads") {
            try MLXPrim.alibiSlopes(numHeads: 0)
        }
        assertThrows(.shapeMismatch, "merge lse count") {
            try MLXPrim.mergeAttentionStates(oA: q2, lseA: [0], oB: q2, lseB: [0, 0, 0, 0],
                                             shape: [1, 2, 2, 4])
        }
    }

    /// Rows [lo, hi) of a packed [rows, ...] buffer with `rowSize` elements per row.
    func rows<T>(_ x: [T], _ lo: Int, _ hi: Int, _ rowSize: Int) -> [T] {
        Array(x[lo * rowSize..<hi * rowSize])
    }

    func checkVarlenEqualsEachSequenceAlone<T: MLXPrimFloat>(_: T.Type) throws {
        // Three sequences of different lengths: Lq < Lk, Lq == Lk and Lq > Lk (whose first
        // query rows see no key under the bottom-right causal mask).
        let (hq, hkv, d, dv) = (4, 2, 8, 6)
        let cuQ: [Int32] = [0, 2, 6, 10], cuK: [Int32] = [0, 5, 9, 12]
        let (totalQ, totalK) = (Int(cuQ.last!), Int(cuK.last!))
        var data = TestData(seed: 46)
        let q: [T] = data.values(totalQ * hq * d, scale: 1)
        let k: [T] = data.values(totalK * hkv * d, scale: 1)
        let v: [T] = data.values(totalK * hkv * dv, scale: 1)
        let params = AttentionParams(causal: true)
        let got = try MLXPrim.flashAttentionVarlen(
            q: q, qShape: [totalQ, hq, d], k: k, kShape: [totalK, hkv, d], v: v,
            vShape: [totalK, hkv, dv], cuSeqlensQ: cuQ, cuSeqlensK: cuK, params: params,
            returnLSE: true)
        XCTAssertEqual(got.shape, [totalQ, hq, dv])
        let lse = got.lse ?? []
        XCTAssertEqual(lse.count, hq * totalQ)
        for b in 0..<cuQ.count - 1 {
            let (q0, q1, k0, k1) = (Int(cuQ[b]), Int(cuQ[b + 1]), Int(cuK[b]), Int(cuK[b + 1]))
            let alone = try MLXPrim.flashAttention(
                q: rows(q, q0, q1, hq * d), qShape: [1, q1 - q0, hq, d],
                k: rows(k, k0, k1, hkv * d), kShape: [1, k1 - k0, hkv, d],
                v: rows(v, k0, k1, hkv * dv), vShape: [1, k1 - k0, hkv, dv], params: params,
                returnLSE: true)
            // Bit for bit: the same rows attended alone.
            XCTAssertEqual(rows(got.output, q0, q1, hq * dv), alone.output, "sequence \(b) out")
            // lse [Hq, totalQ] against [1, Hq, Lq].
            let packedLSE = (0..<hq).flatMap { h in (q0..<q1).map { lse[h * totalQ + $0] } }
            XCTAssertEqual(packedLSE, alone.lse ?? [], "sequence \(b) lse")
        }
    }

    func testVarlenEqualsEachSequenceAlone() throws {
        try checkVarlenEqualsEachSequenceAlone(Float.self)
        try checkVarlenEqualsEachSequenceAlone(Float16.self)
    }

    func testVarlenBadCuSeqlens() throws {
        let (hq, d) = (2, 4)
        var data = TestData(seed: 47)
        let q: [Float] = data.values(5 * hq * d, scale: 1)
        let k: [Float] = data.values(6 * hq * d, scale: 1)
        func call(_ cuQ: [Int32], _ cuK: [Int32]) throws {
            _ = try MLXPrim.flashAttentionVarlen(
                q: q, qShape: [5, hq, d], k: k, kShape: [6, hq, d], v: k, vShape: [6, hq, d],
                cuSeqlensQ: cuQ, cuSeqlensK: cuK)
        }
        // Sanity: consistent offsets are accepted.
        XCTAssertNoThrow(try call([0, 2, 5], [0, 3, 6]))
        let bad: [(String, [Int32], [Int32], String)] = [
            ("q ends before totalQ", [0, 2, 4], [0, 3, 6], "cu_seqlens_q"),
            ("q decreasing", [0, 3, 2, 5], [0, 1, 2, 6], "cu_seqlens_q"),
            ("q not starting at 0", [1, 2, 5], [0, 3, 6], "cu_seqlens_q"),
            ("k beyond totalK", [0, 2, 5], [0, 3, 7], "cu_seqlens_k"),
            ("k decreasing", [0, 2, 3, 5], [0, 4, 3, 6], "cu_seqlens_k"),
        ]
        for (what, cuQ, cuK, name) in bad {
            assertThrows(.invalidArgument, what) { try call(cuQ, cuK) }
            do {
                try call(cuQ, cuK)
            } catch let error as MLXPrimError {
                XCTAssertTrue(error.message.contains(name), "\(what): \(error.message)")
            }
        }
        assertThrows(.invalidArgument, "layout BHSD") {
            _ = try MLXPrim.flashAttentionVarlen(
                q: q, qShape: [5, hq, d], k: k, kShape: [6, hq, d], v: k, vShape: [6, hq, d],
                cuSeqlensQ: [0, 5], cuSeqlensK: [0, 6], params: AttentionParams(layout: .bhsd))
        }
    }

    func checkChunkedEqualsFlashAttention<T: MLXPrimFloat>(_: T.Type) throws {
        let (qShape, kShape, vShape) = ([2, 3, 4, 8], [2, 7, 2, 8], [2, 7, 2, 6])
        var data = TestData(seed: 48)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T] = data.values(product(kShape), scale: 1)
        let v: [T] = data.values(product(vShape), scale: 1)
        for causal in [false, true] {
            let whole = try MLXPrim.flashAttention(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                params: AttentionParams(causal: causal))
            // chunkSize >= Lk (0 means 1024): one chunk, bit for bit.
            for chunk in [7, 8, 0] {
                let got = try MLXPrim.chunkedCrossAttention(
                    q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                    chunkSize: chunk, causal: causal)
                XCTAssertEqual(got.shape, [2, 3, 4, 6])
                XCTAssertEqual(got.output, whole.output, "causal=\(causal) chunk=\(chunk)")
            }
        }
    }

    func testChunkedEqualsFlashAttentionForOneChunk() throws {
        try checkChunkedEqualsFlashAttention(Float.self)
        try checkChunkedEqualsFlashAttention(Float16.self)
    }

    func testChunkedSmallChunks() throws {
        let (qShape, kShape, vShape) = ([2, 3, 4, 8], [2, 7, 2, 8], [2, 7, 2, 6])
        var data = TestData(seed: 49)
        let q: [Float] = data.values(product(qShape), scale: 1)
        let k: [Float] = data.values(product(kShape), scale: 1)
        let v: [Float] = data.values(product(vShape), scale: 1)
        // Masks, ALiBi, key lengths and sinks keep their meaning over the whole key axis.
        let extras = AttentionParams(
            alibiSlopes: [0.5, 0.25, 0.125, 0.0625], keyLengths: [7, 5], sinks: [0.3, -1, 0, 2])
        for (causal, params) in [(false, AttentionParams()), (true, AttentionParams()),
                                 (true, extras)] {
            var full = params
            full.causal = causal
            let got = try MLXPrim.chunkedCrossAttention(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, chunkSize: 3,
                causal: causal, params: params)
            let whole = try MLXPrim.flashAttention(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, params: full)
            let want = attentionReference(
                q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
                v: v.map(Double.init), vShape: vShape, params: full)
            // Three chunks, each within the float32 bound (atol32) and merged in float64
            // with one more rounding: 2 atol32 from the Double reference, and so 3 atol32
            // from flashAttention's own float32 result.
            assertClose(got.output, want.out, rtol: 0, atol: 2 * atol32, "chunked causal=\(causal)")
            assertClose(got.output, whole.output.map(Double.init), rtol: 0, atol: 3 * atol32,
                        "chunked vs whole causal=\(causal)")
        }
        assertThrows(.invalidArgument, "chunkSize -1") {
            try MLXPrim.chunkedCrossAttention(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, chunkSize: -1,
                causal: false)
        }
    }

    func checkFlashAttentionRope<T: MLXPrimFloat>(
        _: T.Type, rope: RopeParams, layout: AttentionParams.Layout, seed: UInt64
    ) throws {
        let (b, lq, lk, hq, hkv, d) = (2, 3, 5, 4, 2, 8)
        let bshd = layout == .bshd
        let qShape = bshd ? [b, lq, hq, d] : [b, hq, lq, d]
        let kShape = bshd ? [b, lk, hkv, d] : [b, hkv, lk, d]
        var data = TestData(seed: seed)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T] = data.values(product(kShape), scale: 1)
        let v: [T] = data.values(product(kShape), scale: 1)
        let params = AttentionParams(causal: true, layout: layout)
        // rope's own layout is ignored: params.layout applies.
        var fused = rope
        fused.layout = bshd ? .bhsd : .bshd
        let got = try MLXPrim.flashAttentionRope(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: kShape, rope: fused,
            params: params, returnLSE: true)
        // Reference: explicit positions, key j at offset + j, query i at
        // offset + (Lk - Lq) + i, then plain attention.
        var separate = rope
        separate.layout = layout
        let kPositions = (0..<lk).map { Int32(rope.offset + $0) }
        let qPositions = (0..<lq).map { Int32(rope.offset + (lk - lq) + $0) }
        let rq = try MLXPrim.rope(q: q, qShape: qShape, positions: qPositions, params: separate).q
        let rk = try MLXPrim.rope(q: k, qShape: kShape, positions: kPositions, params: separate).q
        let want = try MLXPrim.flashAttention(
            q: rq, qShape: qShape, k: rk, kShape: kShape, v: v, vShape: kShape, params: params,
            returnLSE: true)
        XCTAssertEqual(got.shape, want.shape)
        XCTAssertEqual(got.output, want.output, "rope attention out \(rope) \(layout)")
        XCTAssertEqual(got.lse, want.lse, "rope attention lse \(rope) \(layout)")
    }

    func testFlashAttentionRopeEqualsRopeThenAttention() throws {
        try checkFlashAttentionRope(
            Float.self, rope: RopeParams(offset: 7), layout: .bshd, seed: 50)
        try checkFlashAttentionRope(
            Float.self, rope: RopeParams(base: 500, rotaryDim: 6, pairing: .interleaved),
            layout: .bhsd, seed: 51)
        try checkFlashAttentionRope(
            Float16.self, rope: RopeParams(scaling: .linear, offset: 3, factor: 2),
            layout: .bshd, seed: 52)
        try checkFlashAttentionRope(
            Float16.self, rope: RopeParams(rotaryDim: 4), layout: .bhsd, seed: 53)
    }

    func testFlashAttentionRopeRejectsInverse() throws {
        let shape = [1, 2, 2, 4]
        var data = TestData(seed: 54)
        let x: [Float] = data.values(product(shape), scale: 1)
        assertThrows(.invalidArgument, "rope inverse") {
            try MLXPrim.flashAttentionRope(
                q: x, qShape: shape, k: x, kShape: shape, v: x, vShape: shape,
                rope: RopeParams(inverse: true))
        }
    }
}
