import Foundation
import MLXPrim
import XCTest

/// alpha op(a) op(b) in Double with NumPy broadcasting of the batch dimensions, from
/// mlxp_matmul's definition; also each element's sum of |terms| for the error bound.
func matmulReference(
    _ a: [Double], _ aShape: [Int], _ b: [Double], _ bShape: [Int], transA: Bool, transB: Bool,
    alpha: Double
) -> (values: [Double], sumAbs: [Double], shape: [Int], k: Int) {
    let (ra, rb) = (aShape.count, bShape.count)
    let (m, k) = transA ? (aShape[ra - 1], aShape[ra - 2]) : (aShape[ra - 2], aShape[ra - 1])
    let n = transB ? bShape[rb - 2] : bShape[rb - 1]
    let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
    let rank = max(aBatch.count, bBatch.count)
    let ap = Array(repeating: 1, count: rank - aBatch.count) + aBatch
    let bp = Array(repeating: 1, count: rank - bBatch.count) + bBatch
    let cBatch = zip(ap, bp).map { max($0, $1) }
    var values: [Double] = [], sumAbs: [Double] = []
    for flat in 0..<product(cBatch) {
        var rest = flat, index = [Int](repeating: 0, count: rank)
        for d in (0..<rank).reversed() {
            index[d] = rest % cBatch[d]
            rest /= cBatch[d]
        }
        // A batch dimension of size 1 is broadcast: always index 0.
        var aOff = 0, bOff = 0
        for d in 0..<rank {
            aOff = aOff * ap[d] + (ap[d] == 1 ? 0 : index[d])
            bOff = bOff * bp[d] + (bp[d] == 1 ? 0 : index[d])
        }
        aOff *= m * k
        bOff *= k * n
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, abs = 0.0
                for p in 0..<k {
                    let x = transA ? a[aOff + p * m + i] : a[aOff + i * k + p]
                    let y = transB ? b[bOff + j * k + p] : b[bOff + p * n + j]
                    sum += alpha * x * y
                    abs += Swift.abs(alpha * x * y)
                }
                values.append(sum)
                sumAbs.append(abs)
            }
        }
    }
    return (values, sumAbs, cBatch + [m, n], k)
}

/// y = x w^T + bias in Double (rows of x against rows of w), with error bounds.
func linearReference(
    _ x: [Double], _ w: [Double], out: Int, in k: Int, bias: [Double]?, outputRoundoff: Double
) -> (values: [Double], bounds: [Double]) {
    var values: [Double] = [], bounds: [Double] = []
    for r in 0..<x.count / k {
        for o in 0..<out {
            var sum = bias?[o] ?? 0, sumAbs = abs(sum)
            for j in 0..<k {
                sum += x[r * k + j] * w[o * k + j]
                sumAbs += abs(x[r * k + j] * w[o * k + j])
            }
            values.append(sum)
            bounds.append(
                dotBound(terms: k, sumAbs: sumAbs, value: sum, outputRoundoff: outputRoundoff))
        }
    }
    return (values, bounds)
}

/// The activations of mlxprim.h in Double.
func activationReference(_ x: Double, _ kind: MLXPrim.Activation) -> Double {
    switch kind {
    case .silu: return x / (1 + exp(-x))
    case .gelu: return x / 2 * (1 + erf(x / 2.0.squareRoot()))
    case .geluTanh:
        return x / 2 * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
}

final class MatmulTests: XCTestCase {
    // Tolerances: dotBound, the float32 accumulation bound (K + 2) 2^-24 sum|terms| plus
    // the final rounding into the output type.

    func testBroadcastAndTransposes() throws {
        var data = TestData(seed: 40)
        // a's batch [2, 1] and b's batch [3] broadcast to [2, 3]; M 5, K 7, N 9 (odd tails).
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let aShape: [Int] = [2, 1] + (transA ? [7, 5] : [5, 7])
            let bShape: [Int] = [3] + (transB ? [9, 7] : [7, 9])
            let a: [Float] = data.values(product(aShape), scale: 1)
            let b: [Float] = data.values(product(bShape), scale: 1)
            let got = try MLXPrim.matmul(a, shape: aShape, b, shape: bShape, transA: transA,
                                         transB: transB, alpha: 0.5)
            let ref = matmulReference(a.map(Double.init), aShape, b.map(Double.init), bShape,
                                      transA: transA, transB: transB, alpha: 0.5)
            XCTAssertEqual(got.shape, [2, 3, 5, 9])
            XCTAssertEqual(got.shape, ref.shape)
            let bounds = zip(ref.values, ref.sumAbs).map {
                dotBound(terms: ref.k, sumAbs: $1, value: $0)
            }
            assertWithin(got.values, ref.values, bounds: bounds, "transA \(transA) transB \(transB)")
        }
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testFloat16() throws {
        var data = TestData(seed: 41)
        let a: [Float16] = data.values(4 * 33, scale: 1)
        let b: [Float16] = data.values(33 * 6, scale: 1)
        let got = try MLXPrim.matmul(a, shape: [4, 33], b, shape: [33, 6])
        let ref = matmulReference(a.map(Double.init), [4, 33], b.map(Double.init), [33, 6],
                                  transA: false, transB: false, alpha: 1)
        // float16 products are exact in float32; the output rounds once (2^-11).
        let bounds = zip(ref.values, ref.sumAbs).map {
            dotBound(terms: ref.k, sumAbs: $1, value: $0, outputRoundoff: 0x1p-11)
        }
        assertWithin(got.values, ref.values, bounds: bounds, "float16")
    }
    #endif

    func testBetaAccumulatesIntoC() throws {
        var data = TestData(seed: 42)
        let a: [Float] = data.values(3 * 8, scale: 1), b: [Float] = data.values(8 * 4, scale: 1)
        let old: [Float] = data.values(12, scale: 1)
        var c = old
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try c.withUnsafeMutableBufferPointer { c in
                    try MLXPrim.matmul(a, shape: [3, 8], b, shape: [8, 4], into: c, shape: [3, 4],
                                       alpha: 2, beta: 0.25)
                }
            }
        }
        let ref = matmulReference(a.map(Double.init), [3, 8], b.map(Double.init), [8, 4],
                                  transA: false, transB: false, alpha: 2)
        let want = zip(ref.values, old).map { $0 + 0.25 * Double($1) }
        let bounds = (0..<12).map {
            let sumAbs = ref.sumAbs[$0] + abs(0.25 * Double(old[$0]))
            return dotBound(terms: 9, sumAbs: sumAbs, value: want[$0])
        }
        assertWithin(c, want, bounds: bounds, "alpha 2, beta 0.25")
    }

    func testMatmulBadInput() {
        let a = [Float](repeating: 1, count: 6)
        assertThrows(.shapeMismatch, "inner sizes differ") {
            try MLXPrim.matmul(a, shape: [2, 3], a, shape: [2, 3])
        }
        assertThrows(.shapeMismatch, "one axis") { try MLXPrim.matmul(a, shape: [6], a, shape: [6, 1]) }
        assertThrows(.shapeMismatch, "batch 2 against 3") {
            try MLXPrim.matmul([Float](repeating: 1, count: 4), shape: [2, 1, 2],
                               [Float](repeating: 1, count: 6), shape: [3, 2, 1])
        }
        assertThrows(.shapeMismatch, "count differs from shape") {
            try MLXPrim.matmul(a, shape: [2, 2], a, shape: [2, 3])
        }
        assertThrows(.invalidArgument, "alpha NaN") {
            try MLXPrim.matmul(a, shape: [2, 3], a, shape: [3, 2], alpha: .nan)
        }
    }

    func testLinear() throws {
        var data = TestData(seed: 43)
        let k = 19, out = 11
        let x: [Float] = data.values(2 * 3 * k, scale: 1), w: [Float] = data.values(out * k, scale: 1)
        let bias: [Float] = data.values(out, scale: 1)
        for b in [nil, bias] {
            let y = try MLXPrim.linear(x: x, xShape: [2, 3, k], weight: w, out: out, in: k, bias: b)
            let ref = linearReference(x.map(Double.init), w.map(Double.init), out: out, in: k,
                                      bias: b?.map(Double.init), outputRoundoff: 0x1p-24)
            assertWithin(y, ref.values, bounds: ref.bounds, "linear bias \(b != nil)")
        }
    }

    func testLinearBadInput() {
        let x = [Float](repeating: 1, count: 6), w = [Float](repeating: 1, count: 6)
        assertThrows(.shapeMismatch, "weight count") {
            try MLXPrim.linear(x: x, xShape: [2, 3], weight: w, out: 3, in: 3)
        }
        assertThrows(.shapeMismatch, "x's last axis is not in") {
            try MLXPrim.linear(x: x, xShape: [3, 2], weight: w, out: 2, in: 3)
        }
        assertThrows(.shapeMismatch, "bias length") {
            try MLXPrim.linear(x: x, xShape: [2, 3], weight: w, out: 2, in: 3, bias: [1, 2, 3])
        }
    }

    func testGatedLinear() throws {
        var data = TestData(seed: 44)
        let k = 24, hidden = 10
        let x: [Float] = data.values(3 * k, scale: 1)
        let gate: [Float] = data.values(hidden * k, scale: 1)
        let up: [Float] = data.values(hidden * k, scale: 1)
        let g = linearReference(x.map(Double.init), gate.map(Double.init), out: hidden, in: k,
                                bias: nil, outputRoundoff: 0)
        let u = linearReference(x.map(Double.init), up.map(Double.init), out: hidden, in: k,
                                bias: nil, outputRoundoff: 0)
        for kind in MLXPrim.Activation.allCases {
            let got = try MLXPrim.gatedLinear(x: x, xShape: [3, k], gate: gate, up: up,
                                              hidden: hidden, in: k, activation: kind)
            let want = zip(g.values, u.values).map { activationReference($0, kind) * $1 }
            // Each product carries its accumulation error (|act'| <= 1.13 carries the
            // gate's), plus a few float32 ulps of the activation and the final rounding.
            let bounds = want.indices.map { i in
                let act = activationReference(g.values[i], kind)
                return 1.13 * g.bounds[i] * abs(u.values[i]) + u.bounds[i] * abs(act)
                    + 1e-6 * abs(want[i]) + 1e-7
            }
            assertWithin(got, want, bounds: bounds, "gated \(kind)")
        }
    }

    func testGatedLinearBadInput() {
        let x = [Float](repeating: 1, count: 6), w = [Float](repeating: 1, count: 6)
        assertThrows(.shapeMismatch, "x's last axis is not in") {
            try MLXPrim.gatedLinear(x: x, xShape: [3, 2], gate: w, up: w, hidden: 2, in: 3)
        }
        assertThrows(.shapeMismatch, "up count") {
            try MLXPrim.gatedLinear(x: x, xShape: [2, 3], gate: w, up: [1, 2, 3], hidden: 2, in: 3)
        }
    }
}
