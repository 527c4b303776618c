import Foundation
import MLXPrim
import XCTest

// References for LayerNorm, GroupNorm and the normalization backward passes, written in
// Double from the formulas of mlxprim.h. A "segment" is the set of elements sharing one
// mean and variance: a row for LayerNorm and RMSNorm, a (sample, group) for GroupNorm.

/// The segments of a [N, C, spatial...] tensor with G groups: element indices of each.
func groupSegments(shape: [Int], groups: Int) -> [[Int]] {
    let (n, c) = (shape[0], shape[1])
    let spatial = product(Array(shape.dropFirst(2)))
    let perGroup = c / groups * spatial
    return (0..<n * groups).map { seg in Array(seg * perGroup..<(seg + 1) * perGroup) }
}

/// The segments of a [..., D] tensor: its rows.
func rowSegments(count: Int, d: Int) -> [[Int]] {
    stride(from: 0, to: count, by: d).map { Array($0..<$0 + d) }
}

/// (h - mean) / sqrt(var + eps) * weight[channel] + bias[channel] per segment.
func normalizeReference(
    _ h: [Double], segments: [[Int]], channel: (Int) -> Int, weight: [Double]?, bias: [Double]?,
    eps: Double
) -> [Double] {
    var out = h
    for seg in segments {
        let mean = seg.reduce(0) { $0 + h[$1] } / Double(seg.count)
        let variance = seg.reduce(0) { $0 + (h[$1] - mean) * (h[$1] - mean) } / Double(seg.count)
        for i in seg {
            let c = channel(i)
            let normalized = (h[i] - mean) / (variance + eps).squareRoot()
            out[i] = normalized * (weight?[c] ?? 1) + (bias?[c] ?? 0)
        }
    }
    return out
}

/// The header's LayerNorm backward per segment: xhat = (h - mean) r, g = dy weight,
/// dx = r (g - mean(g) - xhat mean(g xhat)) + dres; dweight = sum dy xhat; dbias = sum dy.
func normBackwardReference(
    h: [Double], dy: [Double], dResidualOut: [Double]?, segments: [[Int]], channels: Int,
    channel: (Int) -> Int, weight: [Double]?, eps: Double
) -> (dx: [Double], dweight: [Double], dbias: [Double]) {
    var dx = h, dweight = [Double](repeating: 0, count: channels), dbias = dweight
    for seg in segments {
        let count = Double(seg.count)
        let mean = seg.reduce(0) { $0 + h[$1] } / count
        let variance = seg.reduce(0) { $0 + (h[$1] - mean) * (h[$1] - mean) } / count
        let r = 1 / (variance + eps).squareRoot()
        let xhat = seg.map { (h[$0] - mean) * r }
        let g = seg.map { dy[$0] * (weight?[channel($0)] ?? 1) }
        let meanG = g.reduce(0, +) / count
        let meanGX = zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / count
        for (k, i) in seg.enumerated() {
            dx[i] = r * (g[k] - meanG - xhat[k] * meanGX) + (dResidualOut?[i] ?? 0)
            dweight[channel(i)] += dy[i] * xhat[k]
            dbias[channel(i)] += dy[i]
        }
    }
    return (dx, dweight, dbias)
}

/// The header's RMSNorm backward per row: r = 1/sqrt(mean(h^2) + eps), g = dy weight,
/// dx = r g - h r^3 mean(g h) + dres; dweight = sum dy h r.
func rmsNormBackwardReference(
    h: [Double], dy: [Double], dResidualOut: [Double]?, d: Int, weight: [Double]?, eps: Double
) -> (dx: [Double], dweight: [Double]) {
    var dx = h, dweight = [Double](repeating: 0, count: d)
    for seg in rowSegments(count: h.count, d: d) {
        let r = 1 / (seg.reduce(0) { $0 + h[$1] * h[$1] } / Double(d) + eps).squareRoot()
        let g = seg.map { dy[$0] * (weight?[$0 % d] ?? 1) }
        let meanGH = zip(g, seg).reduce(0) { $0 + $1.0 * h[$1.1] } / Double(d)
        for (k, i) in seg.enumerated() {
            dx[i] = r * g[k] - h[i] * r * r * r * meanGH + (dResidualOut?[i] ?? 0)
            dweight[i % d] += dy[i] * h[i] * r
        }
    }
    return (dx, dweight)
}

final class NormTests: XCTestCase {
    // Forward tolerance: statistics accumulate in float32 over at most 60 terms (relative
    // error ~60 * 2^-24 ~ 4e-6), normalized values are O(3): rtol 1e-5, atol 1e-5.
    // Backward: dx has cancellations between O(1) terms, each ~1e-6 off: atol 2e-5;
    // parameter gradients sum up to 40 such terms: atol 1e-4.

    func testLayerNorm() throws {
        var data = TestData(seed: 50)
        let shape = [4, 37], d = 37
        let x: [Float] = data.values(4 * d, scale: 3), r: [Float] = data.values(4 * d, scale: 3)
        let w: [Float] = data.values(d, scale: 2), b: [Float] = data.values(d, scale: 1)
        for (weight, bias, residual) in [(w, b, r), (nil, nil, nil), (w, nil, nil), (nil, b, r)] {
            let got = try MLXPrim.layerNorm(x, shape: shape, weight: weight, bias: bias,
                                            residual: residual, eps: 1e-4)
            let h = residual.map { zip(x, $0).map { $0 + $1 } } ?? x
            XCTAssertEqual(got.residualSum, residual.map { _ in h })
            let want = normalizeReference(
                h.map(Double.init), segments: rowSegments(count: h.count, d: d), channel: { $0 % d },
                weight: weight?.map(Double.init), bias: bias?.map(Double.init), eps: 1e-4)
            assertClose(got.output, want, rtol: 1e-5, atol: 1e-5,
                        "weight \(weight != nil) bias \(bias != nil) residual \(residual != nil)")
        }
    }

    func testLayerNormDefaultEps() throws {
        // Variance ~3e-7, so the default eps (1e-5) dominates: a different default misses.
        var data = TestData(seed: 51)
        let x: [Float] = data.values(16, scale: 1e-3)
        let want = normalizeReference(x.map(Double.init), segments: rowSegments(count: 16, d: 8),
                                      channel: { $0 % 8 }, weight: nil, bias: nil, eps: 1e-5)
        assertClose(try MLXPrim.layerNorm(x, shape: [2, 8]).output, want, rtol: 1e-5, atol: 1e-6,
                    "default eps")
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testLayerNormFloat16() throws {
        var data = TestData(seed: 52)
        let x: [Float16] = data.values(3 * 20, scale: 2), w: [Float16] = data.values(20, scale: 1)
        let got = try MLXPrim.layerNorm(x, shape: [3, 20], weight: w)
        let want = normalizeReference(x.map(Double.init), segments: rowSegments(count: 60, d: 20),
                                      channel: { $0 % 20 }, weight: w.map(Double.init), bias: nil,
                                      eps: 1e-5)
        // One rounding into float16 (2^-11 relative) after the float32 work.
        assertClose(got.output, want, rtol: 1e-3, atol: 1e-5, "float16")
    }
    #endif

    func testLayerNormInPlace() throws {
        var data = TestData(seed: 53)
        let x: [Float] = data.values(30, scale: 2), r: [Float] = data.values(30, scale: 2)
        let want = try MLXPrim.layerNorm(x, shape: [3, 10], residual: r)
        var xs = x, rs = r
        try xs.withUnsafeMutableBufferPointer { xb in
            try rs.withUnsafeMutableBufferPointer { rb in
                try MLXPrim.layerNorm(UnsafeBufferPointer(xb), shape: [3, 10],
                                      residual: UnsafeBufferPointer(rb), into: xb, residualSum: rb)
            }
        }
        XCTAssertEqual(xs, want.output)
        XCTAssertEqual(rs, want.residualSum)
    }

    func testGroupNorm() throws {
        var data = TestData(seed: 54)
        for (shape, groups) in [([2, 6, 5], 3), ([3, 4, 2, 3], 1), ([1, 8], 8)] {
            let c = shape[1], spatial = product(Array(shape.dropFirst(2)))
            let n = product(shape)
            let x: [Float] = data.values(n, scale: 3), r: [Float] = data.values(n, scale: 1)
            let w: [Float] = data.values(c, scale: 2), b: [Float] = data.values(c, scale: 1)
            let got = try MLXPrim.groupNorm(x, shape: shape, numGroups: groups, weight: w, bias: b,
                                            residual: r, eps: 1e-3)
            let h = zip(x, r).map { $0 + $1 }
            XCTAssertEqual(got.residualSum, h)
            let want = normalizeReference(
                h.map(Double.init), segments: groupSegments(shape: shape, groups: groups),
                channel: { $0 / spatial % c }, weight: w.map(Double.init), bias: b.map(Double.init),
                eps: 1e-3)
            assertClose(got.output, want, rtol: 1e-5, atol: 1e-5, "shape \(shape) groups \(groups)")
        }
    }

    func testForwardBadInput() {
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        assertThrows(.shapeMismatch, "bias length") {
            try MLXPrim.layerNorm(x, shape: [2, 3], bias: [1, 2])
        }
        assertThrows(.shapeMismatch, "count differs from shape") {
            try MLXPrim.layerNorm(x, shape: [4, 2])
        }
        assertThrows(.invalidArgument, "negative eps") {
            try MLXPrim.layerNorm(x, shape: [2, 3], eps: -1)
        }
        assertThrows(.shapeMismatch, "4 groups of 3 channels") {
            try MLXPrim.groupNorm(x, shape: [1, 3, 2], numGroups: 4)
        }
        assertThrows(.invalidArgument, "0 groups") {
            try MLXPrim.groupNorm(x, shape: [1, 3, 2], numGroups: 0)
        }
        assertThrows(.shapeMismatch, "group norm weight length") {
            try MLXPrim.groupNorm(x, shape: [1, 3, 2], numGroups: 1, weight: [1, 1])
        }
        assertThrows(.shapeMismatch, "one axis") { try MLXPrim.groupNorm(x, shape: [6], numGroups: 1) }
    }

    func testRMSNormBackward() throws {
        var data = TestData(seed: 55)
        let shape = [5, 24], d = 24
        let h: [Float] = data.values(120, scale: 2), dy: [Float] = data.values(120, scale: 1)
        let dres: [Float] = data.values(120, scale: 1), w: [Float] = data.values(d, scale: 2)
        for (weight, dResidualOut) in [(w, dres), (nil, nil)] {
            let got = try MLXPrim.rmsNormBackward(h: h, shape: shape, weight: weight, dy: dy,
                                                  dResidualOut: dResidualOut, eps: 1e-5)
            let want = rmsNormBackwardReference(
                h: h.map(Double.init), dy: dy.map(Double.init),
                dResidualOut: dResidualOut?.map(Double.init), d: d, weight: weight?.map(Double.init),
                eps: 1e-5)
            let what = "weight \(weight != nil) dres \(dResidualOut != nil)"
            assertClose(got.dx, want.dx, rtol: 1e-5, atol: 2e-5, "\(what) dx")
            assertClose(got.dweight, want.dweight, rtol: 1e-5, atol: 1e-4, "\(what) dweight")
        }
    }

    func testLayerNormBackward() throws {
        var data = TestData(seed: 56)
        let shape = [2, 3, 20], d = 20
        let h: [Float] = data.values(120, scale: 2), dy: [Float] = data.values(120, scale: 1)
        let dres: [Float] = data.values(120, scale: 1), w: [Float] = data.values(d, scale: 2)
        for (weight, dResidualOut) in [(w, dres), (nil, nil)] {
            let got = try MLXPrim.layerNormBackward(h: h, shape: shape, weight: weight, dy: dy,
                                                    dResidualOut: dResidualOut)
            let want = normBackwardReference(
                h: h.map(Double.init), dy: dy.map(Double.init),
                dResidualOut: dResidualOut?.map(Double.init),
                segments: rowSegments(count: 120, d: d),
                channels: d, channel: { $0 % d }, weight: weight?.map(Double.init), eps: 1e-5)
            let what = "weight \(weight != nil) dres \(dResidualOut != nil)"
            assertClose(got.dx, want.dx, rtol: 1e-5, atol: 2e-5, "\(what) dx")
            assertClose(got.dweight, want.dweight, rtol: 1e-5, atol: 1e-4, "\(what) dweight")
            assertClose(got.dbias, want.dbias, rtol: 1e-5, atol: 1e-4, "\(what) dbias")
        }
    }

    func testGroupNormBackward() throws {
        var data = TestData(seed: 57)
        let shape = [2, 6, 7], c = 6, spatial = 7, groups = 2
        let n = product(shape)
        let h: [Float] = data.values(n, scale: 2), dy: [Float] = data.values(n, scale: 1)
        let dres: [Float] = data.values(n, scale: 1), w: [Float] = data.values(c, scale: 2)
        let got = try MLXPrim.groupNormBackward(h: h, shape: shape, numGroups: groups, weight: w,
                                                dy: dy, dResidualOut: dres, eps: 1e-4)
        let want = normBackwardReference(
            h: h.map(Double.init), dy: dy.map(Double.init), dResidualOut: dres.map(Double.init),
            segments: groupSegments(shape: shape, groups: groups), channels: c,
            channel: { $0 / spatial % c }, weight: w.map(Double.init), eps: 1e-4)
        assertClose(got.dx, want.dx, rtol: 1e-5, atol: 2e-5, "dx")
        assertClose(got.dweight, want.dweight, rtol: 1e-5, atol: 1e-4, "dweight")
        assertClose(got.dbias, want.dbias, rtol: 1e-5, atol: 1e-4, "dbias")
    }

    func testBackwardBadInput() {
        let h: [Float] = [1, 2, 3, 4, 5, 6]
        assertThrows(.shapeMismatch, "dy count") {
            try MLXPrim.rmsNormBackward(h: h, shape: [2, 3], dy: [1, 2, 3])
        }
        assertThrows(.shapeMismatch, "rms weight length") {
            try MLXPrim.rmsNormBackward(h: h, shape: [2, 3], weight: [1, 1], dy: h)
        }
        assertThrows(.invalidArgument, "rms eps NaN") {
            try MLXPrim.rmsNormBackward(h: h, shape: [2, 3], dy: h, eps: .nan)
        }
        assertThrows(.shapeMismatch, "layer weight length") {
            try MLXPrim.layerNormBackward(h: h, shape: [3, 2], weight: [1, 1, 1], dy: h)
        }
        assertThrows(.shapeMismatch, "dResidualOut count") {
            try MLXPrim.layerNormBackward(h: h, shape: [3, 2], dy: h, dResidualOut: [1])
        }
        assertThrows(.invalidArgument, "layer eps -1") {
            try MLXPrim.layerNormBackward(h: h, shape: [3, 2], dy: h, eps: -1)
        }
        assertThrows(.shapeMismatch, "4 groups of 3 channels") {
            try MLXPrim.groupNormBackward(h: h, shape: [2, 3, 1], numGroups: 4, dy: h)
        }
        assertThrows(.invalidArgument, "-1 groups") {
            try MLXPrim.groupNormBackward(h: h, shape: [2, 3, 1], numGroups: -1, dy: h)
        }
    }
}
