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

    // bfloat16 has 8 significant bits: its products are exact in float32, and the output
    // rounds once, to within half an ulp, 2^-8 relative, on top of dotBound's float32 part.
    func testBFloat16() throws {
        var data = TestData(seed: 46)
        let a = data.bfloat16s(4 * 33, scale: 1), b = data.bfloat16s(33 * 6, scale: 1)
        let got = try MLXPrim.matmul(a, shape: [4, 33], b, shape: [33, 6])
        XCTAssertEqual(got.shape, [4, 6])
        let ref = matmulReference(a.doubles, [4, 33], b.doubles, [33, 6], transA: false,
                                  transB: false, alpha: 1)
        let bounds = zip(ref.values, ref.sumAbs).map {
            dotBound(terms: ref.k, sumAbs: $1, value: $0, outputRoundoff: 0x1p-8)
        }
        assertWithin(got.values, ref.values, bounds: bounds, "bfloat16")
    }

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

    func testLinearBFloat16() throws {
        var data = TestData(seed: 47)
        let k = 19, out = 11
        let x = data.bfloat16s(2 * 3 * k, scale: 1), w = data.bfloat16s(out * k, scale: 1)
        let bias = data.bfloat16s(out, scale: 1)
        for b in [nil, bias] {
            let y = try MLXPrim.linear(x: x, xShape: [2, 3, k], weight: w, out: out, in: k, bias: b)
            // As testBFloat16: float32 accumulation, then one rounding into bfloat16 (2^-8).
            let ref = linearReference(x.doubles, w.doubles, out: out, in: k, bias: b?.doubles,
                                      outputRoundoff: 0x1p-8)
            assertWithin(y, ref.values, bounds: ref.bounds, "bfloat16 linear bias \(b != nil)")
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

/// The gradients of gatedLinear in Double from the chain rule, each element with the error
/// bound of a float32 computation rounded once into a type with unit roundoff
/// `outputRoundoff` and absolute rounding error `outputTiny` for subnormal results (half
/// the subnormal spacing: 2^-25 for Float16). With g = x gate^T and u = x up^T (per row r
/// and hidden unit h):
///   dg = dout * u * act'(g),  du = dout * act(g);
///   dx = dg gate + du up,  dgate = dg^T x,  dup = du^T x.
struct GatedLinearGradients {
    var dx: [Double] = [], dxBound: [Double] = []
    var dgate: [Double] = [], dgateBound: [Double] = []
    var dup: [Double] = [], dupBound: [Double] = []

    // Error bounds, first order, for float32 arithmetic (u = 2^-24):
    // - g and u carry linearReference's accumulation bound eg, eu.
    // - act and act' are evaluated within ActivationTests' tolerance, 2e-6 |value| + 1e-6.
    // - dg moves by |dout| (|act'| eu + |u| (|act''| eg + e(act'))) with |act''| <= 1 for
    //   the three activations (at most 0.8, at 0), plus 2 roundings of its two products;
    //   du by |dout| (|act'| eg + e(act)) with |act'| <= 1.13, plus 1 rounding.
    // - Each output sums those errors through its matrix product (sum of |error| * |factor|)
    //   and adds dotBound: its own float32 accumulation and the final rounding.
    init(
        x: [Double], gate: [Double], up: [Double], dout: [Double], rows: Int, hidden: Int,
        in k: Int, kind: MLXPrim.Activation, outputRoundoff: Double, outputTiny: Double = 0
    ) {
        let u32 = 0x1p-24
        let g = linearReference(x, gate, out: hidden, in: k, bias: nil, outputRoundoff: 0)
        let u = linearReference(x, up, out: hidden, in: k, bias: nil, outputRoundoff: 0)
        var dg = [Double](repeating: 0, count: rows * hidden), dgErr = dg
        var du = dg, duErr = dg
        for i in 0..<rows * hidden {
            let act = activationReference(g.values[i], kind)
            let act1 = activationDerivative(g.values[i], kind)
            let actErr = 2e-6 * abs(act) + 1e-6, act1Err = 2e-6 * abs(act1) + 1e-6
            dg[i] = dout[i] * u.values[i] * act1
            du[i] = dout[i] * act
            dgErr[i] = abs(dout[i]) * (abs(act1) * u.bounds[i]
                + abs(u.values[i]) * (g.bounds[i] + act1Err)) + 2 * u32 * abs(dg[i])
            duErr[i] = abs(dout[i]) * (1.13 * g.bounds[i] + actErr) + u32 * abs(du[i])
        }
        // dx[r, j] = sum over h of dg[r, h] gate[h, j] + du[r, h] up[h, j].
        for r in 0..<rows {
            for j in 0..<k {
                var sum = 0.0, sumAbs = 0.0, carried = 0.0
                for h in 0..<hidden {
                    let a = dg[r * hidden + h] * gate[h * k + j]
                    let b = du[r * hidden + h] * up[h * k + j]
                    sum += a + b
                    sumAbs += abs(a) + abs(b)
                    carried += dgErr[r * hidden + h] * abs(gate[h * k + j])
                        + duErr[r * hidden + h] * abs(up[h * k + j])
                }
                dx.append(sum)
                dxBound.append(carried + outputTiny + dotBound(
                    terms: 2 * hidden, sumAbs: sumAbs, value: sum, outputRoundoff: outputRoundoff))
            }
        }
        // dgate[h, j] = sum over r of dg[r, h] x[r, j]; dup likewise with du.
        for h in 0..<hidden {
            for j in 0..<k {
                var sums = (0.0, 0.0), sumAbs = (0.0, 0.0), carried = (0.0, 0.0)
                for r in 0..<rows {
                    let xv = x[r * k + j], i = r * hidden + h
                    sums.0 += dg[i] * xv
                    sums.1 += du[i] * xv
                    sumAbs.0 += abs(dg[i] * xv)
                    sumAbs.1 += abs(du[i] * xv)
                    carried.0 += dgErr[i] * abs(xv)
                    carried.1 += duErr[i] * abs(xv)
                }
                dgate.append(sums.0)
                dgateBound.append(carried.0 + outputTiny + dotBound(
                    terms: rows, sumAbs: sumAbs.0, value: sums.0, outputRoundoff: outputRoundoff))
                dup.append(sums.1)
                dupBound.append(carried.1 + outputTiny + dotBound(
                    terms: rows, sumAbs: sumAbs.1, value: sums.1, outputRoundoff: outputRoundoff))
            }
        }
    }
}

final class GatedLinearBackwardTests: XCTestCase {
    // Tolerances: the per-element bounds of GatedLinearGradients (float32 accumulation and
    // activation error carried through the chain rule, plus one rounding into the output:
    // 2^-24 relative for Float, 2^-11 relative or 2^-25 absolute for Float16). For Float the
    // errors stay below 5% of the bound, while the gap between GELU and GELU-tanh exceeds
    // it more than 10 times (Float16: more than 5 times), so a wrong derivative is caught.

    /// (x's shape, hidden): rows 3 to 5 (one case with two leading axes), odd sizes.
    let cases: [(xShape: [Int], hidden: Int)] = [([3, 7], 5), ([2, 2, 13], 9), ([5, 20], 12)]

    /// Runs every activation on every case in T against the Double reference.
    func checkAgainstReference<T: MLXPrimFloat>(
        _: T.Type, seed: UInt64, outputRoundoff: Double, outputTiny: Double = 0,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var data = TestData(seed: seed)
        for (xShape, hidden) in cases {
            let k = xShape.last!, rows = product(xShape) / k
            let x: [T] = data.values(rows * k, scale: 1)
            let gate: [T] = data.values(hidden * k, scale: 1)
            let up: [T] = data.values(hidden * k, scale: 1)
            let dout: [T] = data.values(rows * hidden, scale: 1)
            for kind in MLXPrim.Activation.allCases {
                let got = try MLXPrim.gatedLinearBackward(
                    x: x, xShape: xShape, gate: gate, up: up, dout: dout, hidden: hidden, in: k,
                    activation: kind)
                let want = GatedLinearGradients(
                    x: x.map { Double($0) }, gate: gate.map { Double($0) },
                    up: up.map { Double($0) }, dout: dout.map { Double($0) }, rows: rows,
                    hidden: hidden, in: k, kind: kind, outputRoundoff: outputRoundoff,
                    outputTiny: outputTiny)
                let what = "\(T.self) \(kind) x \(xShape) hidden \(hidden)"
                assertWithin(try XCTUnwrap(got.dx), want.dx, bounds: want.dxBound, "dx \(what)",
                             file: file, line: line)
                assertWithin(try XCTUnwrap(got.dgate), want.dgate, bounds: want.dgateBound,
                             "dgate \(what)", file: file, line: line)
                assertWithin(try XCTUnwrap(got.dup), want.dup, bounds: want.dupBound,
                             "dup \(what)", file: file, line: line)
            }
        }
    }

    func testFloat() throws {
        try checkAgainstReference(Float.self, seed: 140, outputRoundoff: 0x1p-24)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testFloat16() throws {
        // Float16 inputs are exact in float32 and in Double; only the output rounding differs.
        try checkAgainstReference(Float16.self, seed: 141, outputRoundoff: 0x1p-11,
                                  outputTiny: 0x1p-25)
    }
    #endif

    func testSkippedGradients() throws {
        var data = TestData(seed: 142)
        let xShape = [4, 10], hidden = 6, k = 10, rows = 4
        let x: [Float] = data.values(rows * k, scale: 1)
        let gate: [Float] = data.values(hidden * k, scale: 1)
        let up: [Float] = data.values(hidden * k, scale: 1)
        let dout: [Float] = data.values(rows * hidden, scale: 1)
        let want = GatedLinearGradients(
            x: x.map(Double.init), gate: gate.map(Double.init), up: up.map(Double.init),
            dout: dout.map(Double.init), rows: rows, hidden: hidden, in: k, kind: .gelu,
            outputRoundoff: 0x1p-24)

        // Array form: only the weight gradients, then only dx.
        let weights = try MLXPrim.gatedLinearBackward(
            x: x, xShape: xShape, gate: gate, up: up, dout: dout, hidden: hidden, in: k,
            activation: .gelu, returnDX: false)
        XCTAssertNil(weights.dx)
        assertWithin(try XCTUnwrap(weights.dgate), want.dgate, bounds: want.dgateBound, "dgate")
        assertWithin(try XCTUnwrap(weights.dup), want.dup, bounds: want.dupBound, "dup")
        let onlyDX = try MLXPrim.gatedLinearBackward(
            x: x, xShape: xShape, gate: gate, up: up, dout: dout, hidden: hidden, in: k,
            activation: .gelu, returnDGate: false, returnDUp: false)
        XCTAssertNil(onlyDX.dgate)
        XCTAssertNil(onlyDX.dup)
        assertWithin(try XCTUnwrap(onlyDX.dx), want.dx, bounds: want.dxBound, "dx")

        // Caller memory: dup only, then dx and dgate.
        var dx = [Float](repeating: .nan, count: rows * k)
        var dgate = [Float](repeating: .nan, count: hidden * k), dup = dgate
        try x.withUnsafeBufferPointer { x in
            try gate.withUnsafeBufferPointer { gate in
                try up.withUnsafeBufferPointer { up in
                    try dout.withUnsafeBufferPointer { dout in
                        try dup.withUnsafeMutableBufferPointer { dup in
                            try MLXPrim.gatedLinearBackward(
                                x: x, xShape: xShape, gate: gate, up: up, dout: dout,
                                hidden: hidden, in: k, activation: .gelu, dup: dup)
                        }
                        try dx.withUnsafeMutableBufferPointer { dx in
                            try dgate.withUnsafeMutableBufferPointer { dgate in
                                try MLXPrim.gatedLinearBackward(
                                    x: x, xShape: xShape, gate: gate, up: up, dout: dout,
                                    hidden: hidden, in: k, activation: .gelu, dx: dx,
                                    dgate: dgate)
                            }
                        }
                    }
                }
            }
        }
        assertWithin(dx, want.dx, bounds: want.dxBound, "dx into caller memory")
        assertWithin(dgate, want.dgate, bounds: want.dgateBound, "dgate into caller memory")
        assertWithin(dup, want.dup, bounds: want.dupBound, "dup into caller memory")
    }

    func testBadInput() {
        // The activation is a Swift enum, so an unknown activation cannot be passed.
        var data = TestData(seed: 143)
        let hidden = 2, k = 3
        let x: [Float] = data.values(3 * k, scale: 1)
        let w: [Float] = data.values(hidden * k, scale: 1)
        let dout: [Float] = data.values(3 * hidden, scale: 1)
        let sentinel: Float = 7

        /// Runs the caller-memory form with the inputs above, or those given, and outputs
        /// filled with the sentinel; expects `status` and checks that no output was written.
        func expectFailure(
            _ status: MLXPrimError.Status, _ what: String, x xGiven: [Float]? = nil,
            xShape: [Int] = [3, 3], gate gateGiven: [Float]? = nil,
            dout doutGiven: [Float]? = nil, dxCount: Int = 9, line: UInt = #line
        ) {
            let (x, gate, dout) = (xGiven ?? x, gateGiven ?? w, doutGiven ?? dout)
            var dx = [Float](repeating: sentinel, count: dxCount)
            var dgate = [Float](repeating: sentinel, count: hidden * k), dup = dgate
            assertThrows(status, what, line: line) {
                try x.withUnsafeBufferPointer { x in
                    try gate.withUnsafeBufferPointer { gate in
                        try w.withUnsafeBufferPointer { up in
                            try dout.withUnsafeBufferPointer { dout in
                                try dx.withUnsafeMutableBufferPointer { dx in
                                    try dgate.withUnsafeMutableBufferPointer { dgate in
                                        try dup.withUnsafeMutableBufferPointer { dup in
                                            try MLXPrim.gatedLinearBackward(
                                                x: x, xShape: xShape, gate: gate, up: up,
                                                dout: dout, hidden: hidden, in: k,
                                                activation: .geluTanh, dx: dx, dgate: dgate,
                                                dup: dup)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (name, out) in [("dx", dx), ("dgate", dgate), ("dup", dup)] {
                XCTAssert(out.allSatisfy { $0 == sentinel }, "\(what): \(name) written",
                          line: line)
            }
        }

        expectFailure(.shapeMismatch, "gate has [hidden, in + 1] elements",
                      gate: w + [1, 2])
        // x [3, 4] against weights [2, 3]: the library finds the weight shape wrong.
        expectFailure(.shapeMismatch, "x's last axis is not in",
                      x: x + [1, 2, 3], xShape: [3, 4], dxCount: 12)
        expectFailure(.shapeMismatch, "dout count", dout: Array(dout.dropLast()))
        expectFailure(.shapeMismatch, "dx count", dxCount: 8)

        assertThrows(.shapeMismatch, "array form: up has the wrong count") {
            try MLXPrim.gatedLinearBackward(
                x: x, xShape: [3, 3], gate: w, up: Array(w.dropLast()), dout: dout,
                hidden: hidden, in: k)
        }

        // Overlaps: dx over x itself, and dgate and dup the same memory.
        var xs = x
        assertThrows(.invalidArgument, "dx is x") {
            try xs.withUnsafeMutableBufferPointer { xs in
                try w.withUnsafeBufferPointer { w in
                    try dout.withUnsafeBufferPointer { dout in
                        try MLXPrim.gatedLinearBackward(
                            x: UnsafeBufferPointer(xs), xShape: [3, 3], gate: w, up: w,
                            dout: dout, hidden: hidden, in: k, dx: xs)
                    }
                }
            }
        }
        XCTAssertEqual(xs, x, "dx is x: x changed")
        var grad = [Float](repeating: sentinel, count: hidden * k)
        assertThrows(.invalidArgument, "dgate and dup the same memory") {
            try x.withUnsafeBufferPointer { x in
                try w.withUnsafeBufferPointer { w in
                    try dout.withUnsafeBufferPointer { dout in
                        try grad.withUnsafeMutableBufferPointer { grad in
                            try MLXPrim.gatedLinearBackward(
                                x: x, xShape: [3, 3], gate: w, up: w, dout: dout,
                                hidden: hidden, in: k, dgate: grad, dup: grad)
                        }
                    }
                }
            }
        }
        XCTAssert(grad.allSatisfy { $0 == sentinel }, "dgate and dup the same memory: written")
    }
}
