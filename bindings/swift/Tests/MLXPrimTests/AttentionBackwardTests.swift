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

final class AttentionBackwardTests: XCTestCase {
    /// Runs the forward call (for out and lse) and the backward call on seeded inputs and
    /// compares dq, dk, dv with the Double reference within tol * (1 + |g|); returns dq.
    @discardableResult
    func check<T: MLXPrimFloat>(
        _: T.Type, qShape: [Int], kShape: [Int], vShape: [Int], params: AttentionParams,
        tol: Double, seed: UInt64 = 70, file: StaticString = #filePath, line: UInt = #line
    ) throws -> [T] {
        var data = TestData(seed: seed)
        let q: [T] = data.values(product(qShape), scale: 1)
        let k: [T] = data.values(product(kShape), scale: 1)
        let v: [T] = data.values(product(vShape), scale: 1)
        let fwd = try MLXPrim.flashAttention(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, params: params,
            returnLSE: true)
        let dout: [T] = data.values(fwd.output.count, scale: 1)
        let got = try MLXPrim.flashAttentionBackward(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, out: fwd.output,
            dout: dout, lse: fwd.lse!, params: params)
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
}
