import Foundation
import MLXPrim
import XCTest

/// RMSNorm over the last axis in Double, from the definition in mlxprim.h; h is the input
/// row after the residual add (already rounded to the data type, as the header specifies).
func rmsNormReference(_ h: [Double], rowLength d: Int, weight: [Double]?, eps: Double) -> [Double] {
    var out: [Double] = []
    for start in stride(from: 0, to: h.count, by: d) {
        let row = h[start..<start + d]
        let meanSquare = row.reduce(0) { $0 + $1 * $1 } / Double(d)
        let scale = 1 / (meanSquare + eps).squareRoot()
        out += row.enumerated().map { j, v in v * scale * (weight?[j] ?? 1) }
    }
    return out
}

final class RMSNormTests: XCTestCase {
    func check<T: MLXPrimFloat>(
        _: T.Type, shape: [Int], withWeight: Bool, withResidual: Bool, eps: Float,
        rtol: Double, atol: Double, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var data = TestData(seed: 3)
        let n = product(shape), d = shape.last!
        let x: [T] = data.values(n, scale: 3)
        let weight: [T]? = withWeight ? data.values(d, scale: 2) : nil
        let residual: [T]? = withResidual ? data.values(n, scale: 3) : nil

        let (out, sum) = try MLXPrim.rmsNorm(
            x, shape: shape, weight: weight, residual: residual, eps: eps)

        // h is x + residual added in T, one rounding, exactly like the library's unfused add.
        let h = residual.map { r in zip(x, r).map { $0 + $1 } } ?? x
        if withResidual {
            XCTAssertEqual(sum, h, "residual sum must be the exact sum in \(T.self)",
                           file: file, line: line)
        } else {
            XCTAssertNil(sum, file: file, line: line)
        }
        let want = rmsNormReference(
            h.map(Double.init), rowLength: d, weight: weight?.map(Double.init), eps: Double(eps))
        assertClose(out, want, rtol: rtol, atol: atol, "\(T.self) shape \(shape)",
                    file: file, line: line)
    }

    // float32 tolerance: the mean square accumulates in float32 over at most 67 terms
    // (relative error < 67 * 2^-24 ~ 4e-6, halved by the square root), plus a few roundings.

    func testWeightAndResidual() throws {
        try check(Float.self, shape: [3, 67], withWeight: true, withResidual: true, eps: 1e-5,
                  rtol: 1e-5, atol: 1e-6)
    }

    func testWeightOnly() throws {
        try check(Float.self, shape: [2, 2, 16], withWeight: true, withResidual: false, eps: 1e-6,
                  rtol: 1e-5, atol: 1e-6)
    }

    func testResidualOnly() throws {
        try check(Float.self, shape: [5, 9], withWeight: false, withResidual: true, eps: 0,
                  rtol: 1e-5, atol: 1e-6)
    }

    func testDefaultEps() throws {
        // Mean square ~3e-7, so the default eps (1e-6) dominates the result: a different
        // default would miss the reference by far more than the tolerance.
        var data = TestData(seed: 4)
        let x: [Float] = data.values(4 * 8, scale: 1e-3)
        let (out, sum) = try MLXPrim.rmsNorm(x, shape: [4, 8])
        XCTAssertNil(sum)
        let want = rmsNormReference(x.map(Double.init), rowLength: 8, weight: nil, eps: 1e-6)
        assertClose(out, want, rtol: 1e-5, atol: 1e-9, "default eps")
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    // float16 output is rounded once from float32: relative error <= 2^-11 (~4.9e-4).
    // Swift's Float16 addition rounds the exact sum once, as the header's unfused add does.
    func testFloat16() throws {
        try check(Float16.self, shape: [3, 67], withWeight: true, withResidual: true, eps: 1e-5,
                  rtol: 1e-3, atol: 1e-6)
        try check(Float16.self, shape: [4, 31], withWeight: false, withResidual: false,
                  eps: 1e-6, rtol: 1e-3, atol: 1e-6)
    }
    #endif

    // bfloat16 output is rounded once from float32: relative error <= 2^-8 (half an ulp
    // of 8 significant bits), plus the float32 tolerance above.
    func testBFloat16() throws {
        var data = TestData(seed: 6)
        let shape = [3, 67], d = 67
        let x = data.bfloat16s(3 * d, scale: 3), residual = data.bfloat16s(3 * d, scale: 3)
        let weight = data.bfloat16s(d, scale: 2)
        let (out, sum) = try MLXPrim.rmsNorm(
            x, shape: shape, weight: weight, residual: residual, eps: 1e-5)

        // h is the exact sum rounded once to bfloat16. The Float sum of these inputs is
        // exact (checked), so rounding it is that one rounding.
        let floatSums = zip(x, residual).map { Float($0) + Float($1) }
        let exactSums = zip(x.doubles, residual.doubles).map { $0 + $1 }
        XCTAssertEqual(floatSums.map(Double.init), exactSums, "Float sums must be exact")
        let h = floatSums.map(BFloat16.init)
        XCTAssertEqual(sum, h, "residual sum")
        let want = rmsNormReference(h.doubles, rowLength: d, weight: weight.doubles, eps: 1e-5)
        assertClose(out, want, rtol: 0x1p-8 + 1e-5, atol: 1e-6, "bfloat16")

        let (plain, noSum) = try MLXPrim.rmsNorm(x, shape: shape)
        XCTAssertNil(noSum)
        let plainWant = rmsNormReference(x.doubles, rowLength: d, weight: nil, eps: 1e-6)
        assertClose(plain, plainWant, rtol: 0x1p-8 + 1e-5, atol: 1e-6, "bfloat16, no weight")
    }

    func testInPlaceBuffers() throws {
        // out over x and residualSum over residual, as a transformer layer updates its
        // residual stream; must equal the out-of-place result bit for bit.
        var data = TestData(seed: 5)
        let shape = [2, 40]
        let x: [Float] = data.values(80, scale: 2)
        let weight: [Float] = data.values(40, scale: 1)
        let residual: [Float] = data.values(80, scale: 2)
        let want = try MLXPrim.rmsNorm(x, shape: shape, weight: weight, residual: residual)

        var xs = x, rs = residual
        try weight.withUnsafeBufferPointer { w in
            try xs.withUnsafeMutableBufferPointer { xb in
                try rs.withUnsafeMutableBufferPointer { rb in
                    try MLXPrim.rmsNorm(
                        UnsafeBufferPointer(xb), shape: shape, weight: w,
                        residual: UnsafeBufferPointer(rb), into: xb, residualSum: rb)
                }
            }
        }
        XCTAssertEqual(xs, want.output)
        XCTAssertEqual(rs, want.residualSum)
    }

    func testZeroRows() throws {
        let (out, sum) = try MLXPrim.rmsNorm(
            [Float](), shape: [0, 4], weight: [1, 1, 1, 1], residual: [])
        XCTAssertEqual(out, [])
        XCTAssertEqual(sum, [])
    }

    func testBadInput() {
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        assertThrows(.shapeMismatch, "count differs from shape") {
            try MLXPrim.rmsNorm(x, shape: [3, 3])
        }
        assertThrows(.shapeMismatch, "weight length 4 for D = 3") {
            try MLXPrim.rmsNorm(x, shape: [2, 3], weight: [1, 1, 1, 1])
        }
        assertThrows(.shapeMismatch, "weight length 2 for D = 3") {
            try MLXPrim.rmsNorm(x, shape: [2, 3], weight: [1, 1])
        }
        assertThrows(.shapeMismatch, "residual length") {
            try MLXPrim.rmsNorm(x, shape: [2, 3], residual: [1, 2, 3])
        }
        assertThrows(.shapeMismatch, "empty last axis") {
            try MLXPrim.rmsNorm([Float](), shape: [2, 0])
        }
        assertThrows(.invalidArgument, "negative size") { try MLXPrim.rmsNorm(x, shape: [-6]) }
        for eps: Float in [-1e-6, .nan, .infinity] {
            assertThrows(.invalidArgument, "eps \(eps)") {
                try MLXPrim.rmsNorm(x, shape: [2, 3], eps: eps)
            }
        }
    }

    func testFailureLeavesOutputsUnchanged() {
        let x: [Float] = [1, 2, 3, 4], residual: [Float] = [1, 1, 1, 1]
        var out: [Float] = [7, 7, 7, 7], sum: [Float] = [9, 9, 9, 9]
        assertThrows(.shapeMismatch, "weight length 3 for D = 2") {
            try x.withUnsafeBufferPointer { x in
                try residual.withUnsafeBufferPointer { r in
                    try [Float](repeating: 1, count: 3).withUnsafeBufferPointer { w in
                        try out.withUnsafeMutableBufferPointer { o in
                            try sum.withUnsafeMutableBufferPointer { s in
                                try MLXPrim.rmsNorm(
                                    x, shape: [2, 2], weight: w, residual: r, into: o,
                                    residualSum: s)
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(out, [7, 7, 7, 7])
        XCTAssertEqual(sum, [9, 9, 9, 9])
    }
}
