import Foundation
import MLXPrim
import XCTest

/// Gradients of attention in Double by the chain rule, written from the forward formula
/// (BSHD, no soft cap or sinks; a bias only of shape [Lq, Lk]): for batch b, query head h
/// (KV head h / (Hq/Hkv)) and query i at position i' = i + Lk - Lq,
///   x_ij = scale q_i.k_j + bias_ij - slope[h] (i' - j), masked to -Inf (a -Inf bias entry
///   masks too);  P = softmax_j(x);  o = P v.
/// Backward: dv_j += P_ij do_i;  dP_ij = do_i.v_j;  dx_ij = P_ij (dP_ij - sum_l P_il dP_il);
/// dq_i = scale sum_j dx_ij k_j;  dk_j += scale dx_ij q_i. A row with no visible key
/// contributes nothing. dk and dv sum over the query heads sharing a KV head.
func attentionBackwardReference(
    q: [Double], qShape: [Int], k: [Double], kShape: [Int], v: [Double], vShape: [Int],
    dout: [Double], params p: AttentionParams
) -> (dq: [Double], dk: [Double], dv: [Double]) {
    let (batch, lq, hq, d) = (qShape[0], qShape[1], qShape[2], qShape[3])
    let (lk, hkv, dv) = (kShape[1], kShape[2], vShape[3])
    let group = hq / hkv
    let scale = p.scale == 0 ? 1 / Double(d).squareRoot() : Double(p.scale)
    let shift = lk - lq
    var gq = [Double](repeating: 0, count: q.count)
    var gk = [Double](repeating: 0, count: k.count)
    var gv = [Double](repeating: 0, count: v.count)
    for b in 0..<batch {
        for h in 0..<hq {
            let kh = h / group
            for i in 0..<lq {
                let pos = i + shift
                let qr = ((b * lq + i) * hq + h) * d
                let orow = ((b * lq + i) * hq + h) * dv
                let keys = (0..<lk).filter { j in
                    var seen = !p.causal || j <= pos
                    if p.windowLeft >= 0 { seen = seen && j >= pos - p.windowLeft }
                    if p.windowRight >= 0 { seen = seen && j <= pos + p.windowRight }
                    if let bias = p.bias { seen = seen && bias[i * lk + j] != -Float.infinity }
                    return seen
                }
                guard !keys.isEmpty else { continue }
                let krow = { (j: Int) in ((b * lk + j) * hkv + kh) * d }
                let vrow = { (j: Int) in ((b * lk + j) * hkv + kh) * dv }
                let x = keys.map { j -> Double in
                    var s = scale * (0..<d).reduce(0.0) { $0 + q[qr + $1] * k[krow(j) + $1] }
                    if let bias = p.bias { s += Double(bias[i * lk + j]) }
                    if let slopes = p.alibiSlopes { s -= Double(slopes[h]) * Double(pos - j) }
                    return s
                }
                let m = x.max()!
                let e = x.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                let prob = e.map { $0 / sum }
                let dP = keys.map { j in
                    (0..<dv).reduce(0.0) { $0 + dout[orow + $1] * v[vrow(j) + $1] }
                }
                let dot = zip(prob, dP).reduce(0.0) { $0 + $1.0 * $1.1 }
                for (n, j) in keys.enumerated() {
                    let dx = prob[n] * (dP[n] - dot)
                    for c in 0..<dv { gv[vrow(j) + c] += prob[n] * dout[orow + c] }
                    for c in 0..<d {
                        gq[qr + c] += scale * dx * k[krow(j) + c]
                        gk[krow(j) + c] += scale * dx * q[qr + c]
                    }
                }
            }
        }
    }
    return (gq, gk, gv)
}

/// The bias gradient in Double, written from the forward formula independently of the
/// library's out and lse (BSHD; causal bottom-right masking and a soft cap; a bias of any
/// shape broadcastable to [B, Hq, Lq, Lk], right-aligned as in NumPy). For batch b, query
/// head h (KV head h / (Hq/Hkv)) and query i at position i' = i + Lk - Lq:
///   s_ij = scale q_i.k_j, capped to cap tanh(s_ij / cap);  x_ij = s_ij + bias_ij, masked to
///   -Inf when j > i' (causal) or bias_ij = -Inf;  P = softmax_j(x);  o_i = sum_j P_ij v_j;
///   D_i = do_i.o_i;  dx_ij = P_ij (do_i.v_j - D_i).
/// dbias sums dx over the broadcast dimensions; a row with no visible key adds nothing.
func attentionBiasGradReference(
    q: [Double], qShape: [Int], k: [Double], kShape: [Int], v: [Double], vShape: [Int],
    dout: [Double], params p: AttentionParams
) -> [Double] {
    let (batch, lq, hq, d) = (qShape[0], qShape[1], qShape[2], qShape[3])
    let (lk, hkv, dv) = (kShape[1], kShape[2], vShape[3])
    let group = hq / hkv
    let scale = p.scale == 0 ? 1 / Double(d).squareRoot() : Double(p.scale)
    let cap = Double(p.softcap)
    let bias = p.bias!.map(Double.init), biasShape = p.biasShape!
    // The bias's dims aligned right to [B, Hq, Lq, Lk] (1 where absent) and its row-major
    // strides, 0 along a broadcast dim so that every index there maps to the same element.
    let dims = [Int](repeating: 1, count: 4 - biasShape.count) + biasShape
    var strides = [Int](repeating: 0, count: 4)
    var stride = 1
    for a in (0..<4).reversed() {
        strides[a] = dims[a] == 1 ? 0 : stride
        stride *= dims[a]
    }
    var dbias = [Double](repeating: 0, count: bias.count)
    for b in 0..<batch {
        for h in 0..<hq {
            let kh = h / group
            for i in 0..<lq {
                let pos = i + lk - lq
                let qr = ((b * lq + i) * hq + h) * d
                let orow = ((b * lq + i) * hq + h) * dv
                let bidx = { (j: Int) in
                    b * strides[0] + h * strides[1] + i * strides[2] + j * strides[3]
                }
                let keys = (0..<lk).filter { j in
                    (!p.causal || j <= pos) && bias[bidx(j)] != -.infinity
                }
                guard !keys.isEmpty else { continue }
                let krow = { (j: Int) in ((b * lk + j) * hkv + kh) * d }
                let vrow = { (j: Int) in ((b * lk + j) * hkv + kh) * dv }
                let x = keys.map { j -> Double in
                    var s = scale * (0..<d).reduce(0.0) { $0 + q[qr + $1] * k[krow(j) + $1] }
                    if cap > 0 { s = cap * tanh(s / cap) }
                    return s + bias[bidx(j)]
                }
                let m = x.max()!
                let e = x.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                let prob = e.map { $0 / sum }
                let o = (0..<dv).map { c in
                    zip(keys, prob).reduce(0.0) { $0 + $1.1 * v[vrow($1.0) + c] }
                }
                let rowDot = (0..<dv).reduce(0.0) { $0 + dout[orow + $1] * o[$1] }
                for (n, j) in keys.enumerated() {
                    let dP = (0..<dv).reduce(0.0) { $0 + dout[orow + $1] * v[vrow(j) + $1] }
                    dbias[bidx(j)] += prob[n] * (dP - rowDot)
                }
            }
        }
    }
    return dbias
}

/// Gradients of the fused RoPE attention in Double (BSHD, rope scaling `.none`), by the chain
/// rule through the rotations: key j sits at position offset + j and query i at
/// offset + (Lk - Lq) + i; q and k are rotated by `ropeReference` (pair i of the first R
/// dims turned by angle t = position * base^(-2i/R), half or interleaved pairing, the other
/// dims passed through), `attentionBackwardReference` gives dq', dk', dv for the rotated
/// inputs, and since each rotation is orthogonal the gradients of the unrotated inputs are
/// dq' and dk' turned by the transpose, (ga, gb) -> (ga cos t + gb sin t,
/// -ga sin t + gb cos t): the rotation by -t (`inverse: true`).
func attentionRopeBackwardReference(
    q: [Double], qShape: [Int], k: [Double], kShape: [Int], v: [Double], vShape: [Int],
    dout: [Double], rope: RopeParams, params: AttentionParams
) -> (dq: [Double], dk: [Double], dv: [Double]) {
    precondition(rope.scaling == .none && params.layout == .bshd)
    let (lq, lk) = (qShape[1], kShape[1])
    let r = rope.rotaryDim == 0 ? qShape[3] : rope.rotaryDim
    let invFreq = ropeFrequencies(base: rope.base, rotaryDim: r)
    let qPosition = { (_: Int, i: Int) in Double(rope.offset + lk - lq + i) }
    let kPosition = { (_: Int, j: Int) in Double(rope.offset + j) }
    func rotate(_ x: [Double], _ shape: [Int], _ inverse: Bool,
                _ position: (Int, Int) -> Double) -> [Double] {
        ropeReference(x, shape: shape, layout: .bshd, pairing: rope.pairing, rotaryDim: r,
                      invFreq: invFreq, inverse: inverse, position: position)
    }
    let g = attentionBackwardReference(
        q: rotate(q, qShape, false, qPosition), qShape: qShape,
        k: rotate(k, kShape, false, kPosition), kShape: kShape, v: v, vShape: vShape,
        dout: dout, params: params)
    return (rotate(g.dq, qShape, true, qPosition), rotate(g.dk, kShape, true, kPosition), g.dv)
}

final class AttentionBackwardTests: XCTestCase {
    /// Random q, k, v (seeded) and the forward output and lse for them (`flashAttentionRope`
    /// when rope is given, else `flashAttention`), then a random dout.
    func gradProblem<T: MLXPrimFloat>(
        qShape: [Int], kShape: [Int], vShape: [Int], params: AttentionParams, seed: UInt64,
        rope: RopeParams? = nil
    ) throws -> ([T], [T], [T], [T], [Float], [T]) {
        var data = TestData(seed: seed)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T] = data.values(product(kShape), scale: 1)
        let v: [T] = data.values(product(vShape), scale: 1)
        let fwd = try rope.map {
            try MLXPrim.flashAttentionRope(
                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, rope: $0,
                params: params, returnLSE: true)
        } ?? MLXPrim.flashAttention(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, params: params,
            returnLSE: true)
        let dout: [T] = data.values(fwd.output.count, scale: 1)
        return (q, k, v, fwd.output, fwd.lse!, dout)
    }

    /// Runs the forward call (for out and lse) and the backward call on seeded inputs and
    /// compares dq, dk, dv with the Double reference within tol * (1 + |g|); returns dq.
    @discardableResult
    func check<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int], vShape: [Int], params: AttentionParams,
        tol: Double, seed: UInt64 = 70, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [T] {
        let (q, k, v, out, lse, dout): ([T], [T], [T], [T], [Float], [T]) = try gradProblem(
            qShape: qShape, kShape: kShape, vShape: vShape, params: params, seed: seed)
        let got = try MLXPrim.flashAttentionBackward(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, out: out,
            dout: dout, lse: lse, params: params)
        let want = attentionBackwardReference(
            q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
            v: v.map(Double.init), vShape: vShape, dout: dout.map(Double.init), params: params)
        assertClose(got.dq, want.dq, rtol: tol, atol: tol, "dq", file: file, line: line)
        assertClose(got.dk, want.dk, rtol: tol, atol: tol, "dk", file: file, line: line)
        assertClose(got.dv, want.dv, rtol: tol, atol: tol, "dv", file: file, line: line)
        return got.dq
    }

    // float32: 2e-4 * (1 + |g|) covers float32 sums of a few products of O(1) values
    // plus P recomputed through exp(x - lse) from a float32 lse.
    let tol32 = 2e-4
    // float16: inputs are exact in both; out, lse's use through out, and the gradients are
    // rounded to 2^-11 relative, so 4e-3 * (1 + |g|) (a few half-precision ulps).
    let tol16 = 4e-3

    func testCausalGQA() throws {
        // Hq 4 over Hkv 2, Lq 3 < Lk 5: bottom-right causal, query i sees keys 0...i + 2.
        for seed: UInt64 in [70, 71] {
            try check(Float.self, qShape: [1, 3, 4, 4], kShape: [1, 5, 2, 4],
                      vShape: [1, 5, 2, 4], params: AttentionParams(), tol: tol32, seed: seed)
        }
        try check(Float16.self, qShape: [1, 3, 4, 4], kShape: [1, 5, 2, 4],
                  vShape: [1, 5, 2, 4], params: AttentionParams(), tol: tol16)
    }

    func testAlibiAndWindow() throws {
        // Non-causal with keys 2 before and 1 after the diagonal visible, ALiBi slopes from
        // Press et al. computed in the test, batch 2, Dv != D, explicit scale.
        let params = AttentionParams(
            scale: 0.7, causal: false, windowLeft: 2, windowRight: 1,
            alibiSlopes: pressSlopes(4).map(Float.init))
        try check(Float.self, qShape: [2, 3, 4, 4], kShape: [2, 5, 2, 4], vShape: [2, 5, 2, 3],
                  params: params, tol: tol32, seed: 72)
        try check(Float16.self, qShape: [2, 3, 4, 4], kShape: [2, 5, 2, 4],
                  vShape: [2, 5, 2, 3], params: params, tol: tol16, seed: 73)
    }

    func testEmptyRowsGiveZeroDq() throws {
        // Lq 5 > Lk 3, causal: queries 0 and 1 see no key, so their dq rows are 0.
        let dq = try check(Float.self, qShape: [1, 5, 2, 4], kShape: [1, 3, 1, 4],
                           vShape: [1, 3, 1, 4], params: AttentionParams(), tol: tol32, seed: 74)
        // Rows 0 and 1 hold 2 heads * D 4 values each.
        XCTAssertEqual(Array(dq[0..<16]), [Float](repeating: 0, count: 16))
        XCTAssertTrue(dq[16...].contains { $0 != 0 })
    }

    func testBias() throws {
        // A [Lq, Lk] bias broadcast over batch and heads, one entry -Inf (that key hidden
        // from that query): a constant of the backward pass, so only P changes.
        var data = TestData(seed: 76)
        var bias: [Float] = data.values(3 * 5, scale: 1)
        bias[7] = -Float.infinity
        let params = AttentionParams(causal: false, bias: bias, biasShape: [3, 5])
        try check(Float.self, qShape: [2, 3, 4, 4], kShape: [2, 5, 2, 4], vShape: [2, 5, 2, 4],
                  params: params, tol: tol32, seed: 77)
    }

    func testBadInput() throws {
        var data = TestData(seed: 75)
        let q: [Float] = data.values(1 * 2 * 2 * 4, scale: 1)
        let k: [Float] = data.values(1 * 2 * 2 * 4, scale: 1)
        let fwd = try MLXPrim.flashAttention(
            q: q, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4], v: k, vShape: [1, 2, 2, 4],
            returnLSE: true)
        assertThrows(.shapeMismatch, "bias") {
            try MLXPrim.flashAttentionBackward(
                q: q, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4], v: k,
                vShape: [1, 2, 2, 4], out: fwd.output, dout: fwd.output, lse: fwd.lse!,
                params: AttentionParams(bias: [0, 0, 0], biasShape: [3]))
        }
        assertThrows(.shapeMismatch, "lse count") {
            try MLXPrim.flashAttentionBackward(
                q: q, qShape: [1, 2, 2, 4], k: k, kShape: [1, 2, 2, 4], v: k,
                vShape: [1, 2, 2, 4], out: fwd.output, dout: fwd.output, lse: [0])
        }
    }

    /// Runs the forward call (for out and lse) and the bias-gradient call on seeded inputs
    /// and compares dbias with the Double reference within tol * (1 + |g|); returns dbias.
    @discardableResult
    func checkBiasGrad<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int], vShape: [Int], params: AttentionParams,
        tol: Double, seed: UInt64, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [Float] {
        let (q, k, v, out, lse, dout): ([T], [T], [T], [T], [Float], [T]) = try gradProblem(
            qShape: qShape, kShape: kShape, vShape: vShape, params: params, seed: seed)
        let got = try MLXPrim.flashAttentionBiasGrad(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, out: out,
            dout: dout, lse: lse, params: params)
        let want = attentionBiasGradReference(
            q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
            v: v.map(Double.init), vShape: vShape, dout: dout.map(Double.init), params: params)
        assertClose(got, want, rtol: tol, atol: tol, "dbias \(params.biasShape!)",
                    file: file, line: line)
        return got
    }

    // dbias tolerances, relative to 1 + |g| (|g| is O(1) at most: P <= 1 times
    // do.v - D of a few O(1) products, summed over at most B * Hq * Lq = 20 terms).
    // float32: the library's P = exp(x - lse) with a float32 lse, its float32 out in D and
    // its float32 sums are each good to a few 2^-24 (6e-8) relative, over up to 20 terms:
    // 2e-6.
    let tolBias32 = 2e-6
    // float16: out (hence D) is rounded to half, 2^-11 relative, and enters every term;
    // 4e-3 is a few half-precision ulps, as for dq, dk and dv.
    let tolBias16 = 4e-3

    // B 2, Lq 5, Lk 7, Hq 2 over Hkv 1, D 4, causal (query i sees keys 0...i + 2).
    let biasQShape = [2, 5, 2, 4], biasKShape = [2, 7, 1, 4]

    func testBiasGradFullBias() throws {
        // A full [B, Hq, Lq, Lk] bias: dbias is dL/dx itself, zero where masked.
        var data = TestData(seed: 80)
        let bias: [Float] = data.values(2 * 2 * 5 * 7, scale: 1)
        let params = AttentionParams(bias: bias, biasShape: [2, 2, 5, 7])
        let dbias = try checkBiasGrad(
            Float.self, qShape: biasQShape, kShape: biasKShape, vShape: biasKShape,
            params: params, tol: tolBias32, seed: 81)
        // Causal: query 0 of batch 0, head 0 sees keys 0...2, so keys 3...6 get exact zeros.
        XCTAssertEqual(Array(dbias[3..<7]), [0, 0, 0, 0], "masked keys")
        XCTAssertTrue(dbias[0..<3].contains { $0 != 0 })
        try checkBiasGrad(
            Float16.self, qShape: biasQShape, kShape: biasKShape, vShape: biasKShape,
            params: params, tol: tolBias16, seed: 82)
    }

    func testBiasGradBroadcastBias() throws {
        // Broadcast biases: [Lq, Lk] sums over batch and heads (one -Inf entry masks key 1
        // from query 2, so its gradient is 0); [B, 1, 1, Lk] over heads and queries;
        // [Hq, Lq, 1] over batch and keys (a per-row constant: its gradient is
        // sum_j P_ij (do.v_j - D_i) = 0 up to rounding, checked by the same tolerance).
        var data = TestData(seed: 83)
        for shape in [[5, 7], [2, 1, 1, 7], [2, 5, 1]] {
            var bias: [Float] = data.values(product(shape), scale: 1)
            if shape == [5, 7] {
                bias[2 * 7 + 1] = -.infinity
            }
            let params = AttentionParams(bias: bias, biasShape: shape)
            let dbias = try checkBiasGrad(
                Float.self, qShape: biasQShape, kShape: biasKShape, vShape: biasKShape,
                params: params, tol: tolBias32, seed: 84)
            if shape == [5, 7] {
                XCTAssertEqual(dbias[2 * 7 + 1], 0, "-Inf bias entry")
            }
            try checkBiasGrad(
                Float16.self, qShape: biasQShape, kShape: biasKShape, vShape: biasKShape,
                params: params, tol: tolBias16, seed: 85)
        }
    }

    func testBiasGradSoftcap() throws {
        // The bias is added after the cap, so dbias carries no 1 - tanh^2 factor. Non-causal,
        // explicit scale, a [Lq, Lk] bias; a cap of 1.5 bends the logits noticeably.
        var data = TestData(seed: 86)
        let bias: [Float] = data.values(5 * 7, scale: 1)
        let params = AttentionParams(
            scale: 1.3, causal: false, softcap: 1.5, bias: bias, biasShape: [5, 7])
        try checkBiasGrad(
            Float.self, qShape: biasQShape, kShape: biasKShape, vShape: biasKShape,
            params: params, tol: tolBias32, seed: 87)
    }

    func testBiasGradBadInput() throws {
        let (qShape, kShape) = ([1, 2, 2, 4], [1, 3, 1, 4])
        var data = TestData(seed: 88)
        let q: [Float] = data.values(product(qShape), scale: 1)
        let k: [Float] = data.values(product(kShape), scale: 1)
        let bias: [Float] = data.values(2 * 3, scale: 1)
        let params = AttentionParams(causal: false, bias: bias, biasShape: [2, 3])
        let fwd = try MLXPrim.flashAttention(
            q: q, qShape: qShape, k: k, kShape: kShape, v: k, vShape: kShape, params: params,
            returnLSE: true)
        func call(_ params: AttentionParams) throws -> [Float] {
            try MLXPrim.flashAttentionBiasGrad(
                q: q, qShape: qShape, k: k, kShape: kShape, v: k, vShape: kShape,
                out: fwd.output, dout: fwd.output, lse: fwd.lse!, params: params)
        }
        // Sanity: the forward call's parameters are accepted.
        XCTAssertEqual(try call(params).count, 6)
        // MLXP_ERR_INVALID_ARGUMENT: no bias (the library's check), or a bias without shape.
        assertThrows(.invalidArgument, "no bias") { try call(AttentionParams(causal: false)) }
        assertThrows(.invalidArgument, "bias without biasShape") {
            try call(AttentionParams(causal: false, bias: bias))
        }
        // MLXP_ERR_SHAPE_MISMATCH: a bias that does not broadcast to [B, Hq, Lq, Lk].
        assertThrows(.shapeMismatch, "bias [3, 2]") {
            try call(AttentionParams(causal: false, bias: bias, biasShape: [3, 2]))
        }
        assertThrows(.shapeMismatch, "lse count") {
            try MLXPrim.flashAttentionBiasGrad(
                q: q, qShape: qShape, k: k, kShape: kShape, v: k, vShape: kShape,
                out: fwd.output, dout: fwd.output, lse: [0], params: params)
        }
        // The unsafe-buffer form: dbias must hold the bias's element count (shape mismatch),
        // nothing is written on failure, and a good call matches the array form bit for bit.
        let want = try call(params)
        var dbias = [Float](repeating: 7, count: 7)
        try q.withUnsafeBufferPointer { qb in
            try k.withUnsafeBufferPointer { kb in
                try fwd.output.withUnsafeBufferPointer { ob in
                    try fwd.lse!.withUnsafeBufferPointer { lb in
                        try dbias.withUnsafeMutableBufferPointer { db in
                            assertThrows(.shapeMismatch, "dbias of 7 for a bias of 6") {
                                try MLXPrim.flashAttentionBiasGrad(
                                    q: qb, qShape: qShape, k: kb, kShape: kShape, v: kb,
                                    vShape: kShape, out: ob, dout: ob, lse: lb, params: params,
                                    dbias: db)
                            }
                            assertThrows(.invalidArgument, "unsafe form, no bias") {
                                try MLXPrim.flashAttentionBiasGrad(
                                    q: qb, qShape: qShape, k: kb, kShape: kShape, v: kb,
                                    vShape: kShape, out: ob, dout: ob, lse: lb,
                                    params: AttentionParams(causal: false), dbias: db)
                            }
                            XCTAssertTrue(db.allSatisfy { $0 == 7 }, "dbias written on failure")
                            try MLXPrim.flashAttentionBiasGrad(
                                q: qb, qShape: qShape, k: kb, kShape: kShape, v: kb,
                                vShape: kShape, out: ob, dout: ob, lse: lb, params: params,
                                dbias: UnsafeMutableBufferPointer(rebasing: db[0..<6]))
                        }
                    }
                }
            }
        }
        XCTAssertEqual(Array(dbias[0..<6]), want, "unsafe form")
        XCTAssertEqual(dbias[6], 7, "written beyond dbias")
    }

    /// Rows [lo, hi) of a packed [rows, ...] buffer with `rowSize` elements per row.
    func rows<T>(_ x: [T], _ lo: Int, _ hi: Int, _ rowSize: Int) -> [T] {
        Array(x[lo * rowSize..<hi * rowSize])
    }

    func checkVarlenEqualsEachSequenceAlone<T: MLXPrimFloat>(_: T.Type, tol: Double) throws {
        // Four sequences, GQA, causal: Lq < Lk, no queries (its keys get dk = dv = 0), no
        // keys (its dq is 0) and Lq > Lk (its first query sees no key).
        let (hq, hkv, d, dv) = (4, 2, 8, 6)
        let cuQ: [Int32] = [0, 2, 2, 5, 9], cuK: [Int32] = [0, 5, 8, 8, 11]
        let (totalQ, totalK) = (Int(cuQ.last!), Int(cuK.last!))
        var data = TestData(seed: 78)
        let q: [T] = data.values(totalQ * hq * d, scale: 1)
        let k: [T] = data.values(totalK * hkv * d, scale: 1)
        let v: [T] = data.values(totalK * hkv * dv, scale: 1)
        let dout: [T] = data.values(totalQ * hq * dv, scale: 1)
        let params = AttentionParams(causal: true)
        let fwd = try MLXPrim.flashAttentionVarlen(
            q: q, qShape: [totalQ, hq, d], k: k, kShape: [totalK, hkv, d], v: v,
            vShape: [totalK, hkv, dv], cuSeqlensQ: cuQ, cuSeqlensK: cuK, params: params,
            returnLSE: true)
        let got = try MLXPrim.flashAttentionVarlenBackward(
            q: q, qShape: [totalQ, hq, d], k: k, kShape: [totalK, hkv, d], v: v,
            vShape: [totalK, hkv, dv], out: fwd.output, dout: dout, lse: fwd.lse!,
            cuSeqlensQ: cuQ, cuSeqlensK: cuK, params: params)
        for b in 0..<cuQ.count - 1 {
            let (q0, q1, k0, k1) = (Int(cuQ[b]), Int(cuQ[b + 1]), Int(cuK[b]), Int(cuK[b + 1]))
            let (qShape, kShape, vShape) = (
                [1, q1 - q0, hq, d], [1, k1 - k0, hkv, d], [1, k1 - k0, hkv, dv]
            )
            let (sq, sk, sv, sdout) = (
                rows(q, q0, q1, hq * d), rows(k, k0, k1, hkv * d), rows(v, k0, k1, hkv * dv),
                rows(dout, q0, q1, hq * dv)
            )
            let alone = try MLXPrim.flashAttention(
                q: sq, qShape: qShape, k: sk, kShape: kShape, v: sv, vShape: vShape,
                params: params, returnLSE: true)
            let want = try MLXPrim.flashAttentionBackward(
                q: sq, qShape: qShape, k: sk, kShape: kShape, v: sv, vShape: vShape,
                out: alone.output, dout: sdout, lse: alone.lse!, params: params)
            // Bit for bit: the same sequence's gradients computed alone.
            XCTAssertEqual(rows(got.dq, q0, q1, hq * d), want.dq, "sequence \(b) dq")
            XCTAssertEqual(rows(got.dk, k0, k1, hkv * d), want.dk, "sequence \(b) dk")
            XCTAssertEqual(rows(got.dv, k0, k1, hkv * dv), want.dv, "sequence \(b) dv")
            let ref = attentionBackwardReference(
                q: sq.map(Double.init), qShape: qShape, k: sk.map(Double.init), kShape: kShape,
                v: sv.map(Double.init), vShape: vShape, dout: sdout.map(Double.init),
                params: params)
            assertClose(rows(got.dq, q0, q1, hq * d), ref.dq, rtol: tol, atol: tol, "dq \(b)")
            assertClose(rows(got.dk, k0, k1, hkv * d), ref.dk, rtol: tol, atol: tol, "dk \(b)")
            assertClose(rows(got.dv, k0, k1, hkv * dv), ref.dv, rtol: tol, atol: tol, "dv \(b)")
        }
        // Sequence 1 has no queries and sequence 2 no keys: exact zeros, not just small.
        XCTAssertTrue(rows(got.dk, 5, 8, hkv * d).allSatisfy { $0 == 0 }, "dk without queries")
        XCTAssertTrue(rows(got.dv, 5, 8, hkv * dv).allSatisfy { $0 == 0 }, "dv without queries")
        XCTAssertTrue(rows(got.dq, 2, 5, hq * d).allSatisfy { $0 == 0 }, "dq without keys")
    }

    func testVarlenEqualsEachSequenceAlone() throws {
        try checkVarlenEqualsEachSequenceAlone(Float.self, tol: tol32)
        try checkVarlenEqualsEachSequenceAlone(Float16.self, tol: tol16)
    }

    func testVarlenBadCuSeqlens() throws {
        let (hq, d) = (2, 4)
        var data = TestData(seed: 79)
        let q: [Float] = data.values(5 * hq * d, scale: 1)
        let k: [Float] = data.values(6 * hq * d, scale: 1)
        let (cuQ, cuK): ([Int32], [Int32]) = ([0, 2, 5], [0, 3, 6])
        let fwd = try MLXPrim.flashAttentionVarlen(
            q: q, qShape: [5, hq, d], k: k, kShape: [6, hq, d], v: k, vShape: [6, hq, d],
            cuSeqlensQ: cuQ, cuSeqlensK: cuK, returnLSE: true)
        func call(_ cuQ: [Int32], _ cuK: [Int32]) throws {
            _ = try MLXPrim.flashAttentionVarlenBackward(
                q: q, qShape: [5, hq, d], k: k, kShape: [6, hq, d], v: k, vShape: [6, hq, d],
                out: fwd.output, dout: fwd.output, lse: fwd.lse!, cuSeqlensQ: cuQ,
                cuSeqlensK: cuK)
        }
        // Sanity: the forward call's offsets are accepted.
        XCTAssertNoThrow(try call(cuQ, cuK))
        for (what, badQ, badK, name) in [
            ("k beyond totalK", cuQ, [0, 3, 7] as [Int32], "cu_seqlens_k"),
            ("q decreasing", [0, 3, 2, 5] as [Int32], [0, 1, 2, 6] as [Int32], "cu_seqlens_q"),
        ] {
            assertThrows(.invalidArgument, what) { try call(badQ, badK) }
            do {
                try call(badQ, badK)
            } catch let error as MLXPrimError {
                XCTAssertTrue(error.message.contains(name), "\(what): \(error.message)")
            }
        }
        // The unsafe-buffer form leaves the gradients unchanged on failure.
        var dq = [Float](repeating: 7, count: q.count), dk = [Float](repeating: 7, count: k.count)
        var dv = dk
        q.withUnsafeBufferPointer { qb in
            k.withUnsafeBufferPointer { kb in
                fwd.output.withUnsafeBufferPointer { ob in
                    fwd.lse!.withUnsafeBufferPointer { lb in
                        dq.withUnsafeMutableBufferPointer { dqb in
                            dk.withUnsafeMutableBufferPointer { dkb in
                                dv.withUnsafeMutableBufferPointer { dvb in
                                    assertThrows(.invalidArgument, "unsafe form, bad cu_q") {
                                        try MLXPrim.flashAttentionVarlenBackward(
                                            q: qb, qShape: [5, hq, d], k: kb, kShape: [6, hq, d],
                                            v: kb, vShape: [6, hq, d], out: ob, dout: ob, lse: lb,
                                            cuSeqlensQ: [1, 2, 5], cuSeqlensK: cuK, dq: dqb,
                                            dk: dkb, dv: dvb)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertTrue((dq + dk + dv).allSatisfy { $0 == 7 }, "gradients written on failure")
    }

    /// Runs `flashAttentionRope` (for out and lse) and `flashAttentionRopeBackward` on seeded
    /// inputs and compares dq, dk, dv with the Double reference within tol * (1 + |g|).
    func checkRope<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int], rope: RopeParams,
        params: AttentionParams = AttentionParams(), tol: Double, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (q, k, v, out, lse, dout): ([T], [T], [T], [T], [Float], [T]) = try gradProblem(
            qShape: qShape, kShape: kShape, vShape: kShape, params: params, seed: seed,
            rope: rope)
        let got = try MLXPrim.flashAttentionRopeBackward(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: kShape, out: out,
            dout: dout, lse: lse, rope: rope, params: params)
        let want = attentionRopeBackwardReference(
            q: q.map(Double.init), qShape: qShape, k: k.map(Double.init), kShape: kShape,
            v: v.map(Double.init), vShape: kShape, dout: dout.map(Double.init), rope: rope,
            params: params)
        assertClose(got.dq, want.dq, rtol: tol, atol: tol, "dq", file: file, line: line)
        assertClose(got.dk, want.dk, rtol: tol, atol: tol, "dk", file: file, line: line)
        assertClose(got.dv, want.dv, rtol: tol, atol: tol, "dv", file: file, line: line)
    }

    // float32: tol32 as above; the library's rotations (float32 cos and sin, rounded once)
    // add a few 2^-24 relative, far below it.
    // float16: the rotated q and k are rounded to half as well (2^-12 relative), which
    // moves each logit by up to scale * D * 2 * 2^-12 ~ 1.4e-3 for D 8, on top of tol16's
    // roundings: 8e-3 * (1 + |g|).
    let tolRope16 = 8e-3

    func testRopeBackwardPrefillCausalHalf() throws {
        // Lq = Lk = 5, causal, half pairing over the whole head dim, positions 0...4.
        try checkRope(Float.self, qShape: [2, 5, 2, 8], kShape: [2, 5, 2, 8],
                      rope: RopeParams(), tol: tol32, seed: 90)
    }

    func testRopeBackwardDecodeOffsetInterleaved() throws {
        // Decode of the last Lq 2 of Lk 6 cached keys from offset 9: keys at 9...14, queries
        // at 13 and 14 (bottom-right); interleaved pairs and base 500 turn the pairs fast.
        try checkRope(Float.self, qShape: [1, 2, 2, 8], kShape: [1, 6, 2, 8],
                      rope: RopeParams(base: 500, pairing: .interleaved, offset: 9),
                      tol: tol32, seed: 91)
    }

    func testRopeBackwardGQAPartialRotaryDim() throws {
        // Hq 4 over Hkv 2; only the first 4 of 8 dims rotate (the rest pass straight
        // through to dq and dk); Lq 3 < Lk 5, offset 2.
        try checkRope(Float.self, qShape: [2, 3, 4, 8], kShape: [2, 5, 2, 8],
                      rope: RopeParams(rotaryDim: 4, offset: 2), tol: tol32, seed: 92)
    }

    func testRopeBackwardFloat16() throws {
        // GQA decode with 6 of 8 dims rotating from offset 4, then a prefill with
        // interleaved pairs.
        try checkRope(Float16.self, qShape: [1, 3, 4, 8], kShape: [1, 5, 2, 8],
                      rope: RopeParams(rotaryDim: 6, offset: 4), tol: tolRope16, seed: 93)
        try checkRope(Float16.self, qShape: [1, 4, 2, 8], kShape: [1, 4, 2, 8],
                      rope: RopeParams(pairing: .interleaved), tol: tolRope16, seed: 94)
    }

    func testRopeBackwardBadInput() throws {
        let shape = [1, 2, 2, 4]
        let (q, k, v, out, lse, dout): ([Float], [Float], [Float], [Float], [Float], [Float]) =
            try gradProblem(qShape: shape, kShape: shape, vShape: shape,
                            params: AttentionParams(), seed: 95, rope: RopeParams())
        func call(_ rope: RopeParams, dout: [Float]) throws -> (dq: [Float], dk: [Float],
                                                                 dv: [Float]) {
            try MLXPrim.flashAttentionRopeBackward(
                q: q, qShape: shape, k: k, kShape: shape, v: v, vShape: shape, out: out,
                dout: dout, lse: lse, rope: rope)
        }
        // Sanity: the forward call's arguments are accepted.
        XCTAssertNoThrow(try call(RopeParams(), dout: dout))
        // MLXP_ERR_INVALID_ARGUMENT: an odd rotary dim; the inverse rotation (the fused call
        // rotates forward only).
        assertThrows(.invalidArgument, "rotaryDim 3") {
            try call(RopeParams(rotaryDim: 3), dout: dout)
        }
        assertThrows(.invalidArgument, "inverse") {
            try call(RopeParams(inverse: true), dout: dout)
        }
        // MLXP_ERR_SHAPE_MISMATCH: a gradient of the wrong shape (dout one element short).
        assertThrows(.shapeMismatch, "dout count") {
            try call(RopeParams(), dout: Array(dout.dropLast()))
        }
        // The unsafe-buffer form: a dq one element too long (the binding's check) or an odd
        // rotary dim (the library's) leaves every gradient unchanged; a good call writes
        // exactly the array form's gradients and nothing beyond them.
        var dq = [Float](repeating: 7, count: q.count + 1)
        var dk = [Float](repeating: 7, count: k.count), dv = [Float](repeating: 7, count: v.count)
        try q.withUnsafeBufferPointer { qb in
            try k.withUnsafeBufferPointer { kb in
                try out.withUnsafeBufferPointer { ob in
                    try lse.withUnsafeBufferPointer { lb in
                        try dq.withUnsafeMutableBufferPointer { dqb in
                            try dk.withUnsafeMutableBufferPointer { dkb in
                                try dv.withUnsafeMutableBufferPointer { dvb in
                                    // v = k and dout = out: only the shapes matter here.
                                    func callUnsafe(
                                        _ rope: RopeParams, _ dq: UnsafeMutableBufferPointer<Float>
                                    ) throws {
                                        try MLXPrim.flashAttentionRopeBackward(
                                            q: qb, qShape: shape, k: kb, kShape: shape, v: kb,
                                            vShape: shape, out: ob, dout: ob, lse: lb, rope: rope,
                                            dq: dq, dk: dkb, dv: dvb)
                                    }
                                    let dqExact = UnsafeMutableBufferPointer(
                                        rebasing: dqb[0..<q.count])
                                    assertThrows(.shapeMismatch, "dq count") {
                                        try callUnsafe(RopeParams(), dqb)
                                    }
                                    assertThrows(.invalidArgument, "unsafe form, rotaryDim 3") {
                                        try callUnsafe(RopeParams(rotaryDim: 3), dqExact)
                                    }
                                    XCTAssertTrue(
                                        (Array(dqb) + Array(dkb) + Array(dvb)).allSatisfy {
                                            $0 == 7
                                        }, "gradients written on failure")
                                    try callUnsafe(RopeParams(), dqExact)
                                }
                            }
                        }
                    }
                }
            }
        }
        let same = try MLXPrim.flashAttentionRopeBackward(
            q: q, qShape: shape, k: k, kShape: shape, v: k, vShape: shape, out: out, dout: out,
            lse: lse)
        XCTAssertEqual(Array(dq[0..<q.count]), same.dq, "unsafe form dq")
        XCTAssertEqual(dq[q.count], 7, "written beyond dq")
        XCTAssertEqual(dk, same.dk, "unsafe form dk")
        XCTAssertEqual(dv, same.dv, "unsafe form dv")
    }
}
