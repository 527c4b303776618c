import Foundation
import MLXPrim
import XCTest

/// Softmax over the last axis in Double, straight from the definition in mlxprim.h.
func softmaxReference(
    _ x: [Double], rowLength n: Int, temperature: Double, log isLog: Bool
) -> [Double] {
    var out: [Double] = []
    for start in stride(from: 0, to: x.count, by: n) {
        let z = x[start..<start + n].map { $0 / temperature }
        let m = z.max()!
        let sum = z.reduce(0) { $0 + exp($1 - m) }
        out += z.map { isLog ? $0 - m - log(sum) : exp($0 - m) / sum }
    }
    return out
}

final class SoftmaxTests: XCTestCase {
    // Shapes cover a single element, odd row lengths (vector tails) and a long row.
    let shapes = [[1], [7], [3, 5, 17], [2, 1000]]

    func check<T: MLXPrimFloat>(
        _: T.Type, temperature: Float, log: Bool, rtol: Double, atol: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var data = TestData(seed: 1)
        for shape in shapes {
            let x: [T] = data.values(product(shape), scale: 8)
            let got = try MLXPrim.softmax(x, shape: shape, temperature: temperature, log: log)
            let want = softmaxReference(
                x.map(Double.init), rowLength: shape.last!, temperature: Double(temperature),
                log: log)
            assertClose(got, want, rtol: rtol, atol: atol, "\(T.self) shape \(shape)",
                        file: file, line: line)
        }
    }

    // float32 tolerances: z - m is up to 64 here, so float32 rounding of the exponent's
    // argument gives relative errors up to ~4e-6 in probabilities; log-softmax errors are
    // absolute, ~1e-7 per unit of |z|, hence the max(1, |ref|) scaling (atol = rtol).

    func testSoftmax() throws {
        try check(Float.self, temperature: 1, log: false, rtol: 2e-5, atol: 1e-12)
    }

    func testLogSoftmax() throws {
        try check(Float.self, temperature: 1, log: true, rtol: 2e-5, atol: 2e-5)
    }

    func testTemperature() throws {
        for temperature: Float in [0.25, 0.7, 3] {
            try check(Float.self, temperature: temperature, log: false, rtol: 2e-5, atol: 1e-12)
            try check(Float.self, temperature: temperature, log: true, rtol: 2e-5, atol: 2e-5)
        }
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    // float16 output is rounded once from float32: relative error <= 2^-11 (~4.9e-4) for
    // normal values, absolute <= 2^-25 for subnormals; 1e-3 leaves room for the float32 part.
    func testFloat16() throws {
        try check(Float16.self, temperature: 1, log: false, rtol: 1e-3, atol: 1e-7)
        try check(Float16.self, temperature: 0.5, log: true, rtol: 1e-3, atol: 2e-5)
    }
    #endif

    // bfloat16 output is rounded once from float32: relative error <= 2^-8 (half an ulp of
    // 8 significant bits), plus the float32 tolerances above. The reference takes the
    // bfloat16-rounded inputs.
    func testBFloat16() throws {
        var data = TestData(seed: 7)
        for shape in shapes {
            let x = data.bfloat16s(product(shape), scale: 8)
            for (temperature, log) in [(1.0, false), (0.5, true)] {
                let got = try MLXPrim.softmax(
                    x, shape: shape, temperature: Float(temperature), log: log)
                let want = softmaxReference(
                    x.doubles, rowLength: shape.last!, temperature: temperature, log: log)
                assertClose(got, want, rtol: 0x1p-8 + 2e-5, atol: log ? 2e-5 : 1e-12,
                            "bfloat16 shape \(shape) log \(log)")
            }
        }
    }

    func testLargeLogitsDoNotOverflow() throws {
        let x: [Float] = [1000, 999, 998, -1000]
        let got = try MLXPrim.softmax(x, shape: [4])
        let want = softmaxReference(x.map(Double.init), rowLength: 4, temperature: 1, log: false)
        assertClose(got, want, rtol: 1e-6, atol: 1e-30, "large logits")
    }

    func testInfinities() throws {
        // -Inf entries get probability 0; a row of only -Inf has no distribution (NaN).
        let x: [Float] = [-.infinity, 0, 0, -.infinity, -.infinity, -.infinity]
        let got = try MLXPrim.softmax(x, shape: [2, 3])
        XCTAssertEqual(Array(got[0..<3]), [0, 0.5, 0.5])
        XCTAssertTrue(got[3...].allSatisfy { $0.isNaN }, "\(got)")
    }

    func testInPlaceBuffer() throws {
        var data = TestData(seed: 2)
        let x: [Float] = data.values(3 * 33, scale: 4)
        let want = try MLXPrim.softmax(x, shape: [3, 33], log: true)
        var y = x
        try y.withUnsafeMutableBufferPointer { buffer in
            try MLXPrim.softmax(UnsafeBufferPointer(buffer), shape: [3, 33], into: buffer, log: true)
        }
        XCTAssertEqual(y, want, "in place must equal out of place bit for bit")
    }

    func testZeroRows() throws {
        XCTAssertEqual(try MLXPrim.softmax([Float](), shape: [0, 4]), [])
    }

    func testBadInput() {
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        assertThrows(.shapeMismatch, "count differs from shape") {
            try MLXPrim.softmax(x, shape: [4, 2])
        }
        assertThrows(.shapeMismatch, "no axis") { try MLXPrim.softmax([Float(1)], shape: []) }
        assertThrows(.shapeMismatch, "empty last axis") {
            try MLXPrim.softmax([Float](), shape: [3, 0])
        }
        assertThrows(.invalidArgument, "negative size") { try MLXPrim.softmax(x, shape: [-2, -3]) }
        assertThrows(.invalidArgument, "17 axes") {
            try MLXPrim.softmax([Float(1)], shape: Array(repeating: 1, count: 17))
        }
        for temperature: Float in [0, -1, .nan, .infinity] {
            assertThrows(.invalidArgument, "temperature \(temperature)") {
                try MLXPrim.softmax(x, shape: [2, 3], temperature: temperature)
            }
        }
    }

    func testFailureLeavesOutputUnchanged() {
        let x: [Float] = [1, 2, 3, 4]
        var out: [Float] = [7, 7, 7, 7]
        assertThrows(.invalidArgument, "temperature 0") {
            try x.withUnsafeBufferPointer { x in
                try out.withUnsafeMutableBufferPointer { out in
                    try MLXPrim.softmax(x, shape: [4], into: out, temperature: 0)
                }
            }
        }
        XCTAssertEqual(out, [7, 7, 7, 7])
    }
}
