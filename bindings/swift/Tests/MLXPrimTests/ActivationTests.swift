import Foundation
import MLXPrim
import XCTest

/// act'(x) in Double, differentiated by hand from the header's definitions.
func activationDerivative(_ x: Double, _ kind: MLXPrim.Activation) -> Double {
    switch kind {
    case .silu:
        let s = 1 / (1 + exp(-x))
        return s * (1 + x * (1 - s))
    case .gelu:
        return (1 + erf(x / 2.0.squareRoot())) / 2 + x * exp(-x * x / 2) / (2 * Double.pi).squareRoot()
    case .geluTanh:
        let c = (2 / Double.pi).squareRoot()
        let t = tanh(c * (x + 0.044715 * x * x * x))
        return (1 + t) / 2 + x / 2 * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    }
}

final class ActivationTests: XCTestCase {
    // Tolerance: the header promises float32 arithmetic with exp/erf within a few float32
    // ulps; a handful of operations gives relative error ~1e-6. Where the result is a
    // difference of O(|x|) terms (GELU's left tail, the derivatives' zero crossings) the
    // error is absolute, ~1e-7 per unit of |x|, so atol 1e-6 for |x| <= 6.
    let rtol = 2e-6, atol = 1e-6

    func testActivation() throws {
        var data = TestData(seed: 60)
        let x: [Float] = data.values(301, scale: 6)
        for kind in MLXPrim.Activation.allCases {
            let got = try MLXPrim.activation(x, kind: kind)
            assertClose(got, x.map { activationReference(Double($0), kind) }, rtol: rtol, atol: atol,
                        "\(kind)")
        }
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testFloat16() throws {
        var data = TestData(seed: 61)
        let x: [Float16] = data.values(64, scale: 4)
        for kind in MLXPrim.Activation.allCases {
            // One rounding into float16: relative 2^-11.
            assertClose(try MLXPrim.activation(x, kind: kind),
                        x.map { activationReference(Double($0), kind) }, rtol: 0x1p-11 + rtol,
                        atol: atol, "float16 \(kind)")
        }
    }
    #endif

    func testBFloat16() throws {
        var data = TestData(seed: 66)
        let x = data.bfloat16s(301, scale: 6)
        for kind in MLXPrim.Activation.allCases {
            // One rounding into bfloat16: relative 2^-8 (half an ulp of 8 significant bits).
            assertClose(try MLXPrim.activation(x, kind: kind),
                        x.doubles.map { activationReference($0, kind) }, rtol: 0x1p-8 + rtol,
                        atol: atol, "bfloat16 \(kind)")
        }
    }

    func testActivationInPlace() throws {
        var data = TestData(seed: 62)
        let x: [Float] = data.values(40, scale: 3)
        var y = x
        try y.withUnsafeMutableBufferPointer { b in
            try MLXPrim.activation(UnsafeBufferPointer(b), kind: .gelu, into: b)
        }
        XCTAssertEqual(y, try MLXPrim.activation(x, kind: .gelu))
    }

    func testActivationBackward() throws {
        var data = TestData(seed: 63)
        let x: [Float] = data.values(257, scale: 6), dy: [Float] = data.values(257, scale: 1)
        for kind in MLXPrim.Activation.allCases {
            let got = try MLXPrim.activationBackward(x: x, dy: dy, kind: kind)
            let want = zip(x, dy).map { Double($1) * activationDerivative(Double($0), kind) }
            assertClose(got, want, rtol: rtol, atol: atol, "\(kind)'")
        }
    }

    func testGLU() throws {
        var data = TestData(seed: 64)
        let gate: [Float] = data.values(100, scale: 5), up: [Float] = data.values(100, scale: 2)
        for kind in MLXPrim.Activation.allCases {
            let got = try MLXPrim.glu(gate: gate, up: up, kind: kind)
            let want = zip(gate, up).map { activationReference(Double($0), kind) * Double($1) }
            assertClose(got, want, rtol: rtol, atol: 2 * atol, "glu \(kind)")
        }
    }

    func testGLUBackward() throws {
        var data = TestData(seed: 65)
        let gate: [Float] = data.values(100, scale: 5), up: [Float] = data.values(100, scale: 2)
        let dout: [Float] = data.values(100, scale: 1)
        for kind in MLXPrim.Activation.allCases {
            let got = try MLXPrim.gluBackward(gate: gate, up: up, dout: dout, kind: kind)
            let dgate = (0..<100).map {
                Double(dout[$0]) * Double(up[$0]) * activationDerivative(Double(gate[$0]), kind)
            }
            let dup = (0..<100).map { Double(dout[$0]) * activationReference(Double(gate[$0]), kind) }
            assertClose(got.dgate, dgate, rtol: rtol, atol: 2 * atol, "dgate \(kind)")
            assertClose(got.dup, dup, rtol: rtol, atol: atol, "dup \(kind)")
        }
    }

    func testBadInput() {
        let x: [Float] = [1, 2, 3, 4]
        assertThrows(.shapeMismatch, "out shorter than x") {
            var out: [Float] = [0, 0, 0]
            try x.withUnsafeBufferPointer { x in
                try out.withUnsafeMutableBufferPointer { out in
                    try MLXPrim.activation(x, kind: .silu, into: out)
                }
            }
        }
        assertThrows(.invalidArgument, "out overlaps x by half") {
            var buffer: [Float] = [1, 2, 3, 4, 5, 6]
            try buffer.withUnsafeMutableBufferPointer { b in
                try MLXPrim.activation(UnsafeBufferPointer(rebasing: b[0..<4]), kind: .silu,
                                       into: UnsafeMutableBufferPointer(rebasing: b[2..<6]))
            }
        }
        assertThrows(.shapeMismatch, "dy length") {
            try MLXPrim.activationBackward(x: x, dy: [1, 2], kind: .gelu)
        }
        assertThrows(.shapeMismatch, "up length") { try MLXPrim.glu(gate: x, up: [1], kind: .silu) }
        assertThrows(.shapeMismatch, "dout length") {
            try MLXPrim.gluBackward(gate: x, up: x, dout: [1, 2, 3], kind: .geluTanh)
        }
        assertThrows(.invalidArgument, "dgate and dup the same memory") {
            var grad: [Float] = [0, 0, 0, 0]
            try x.withUnsafeBufferPointer { x in
                try grad.withUnsafeMutableBufferPointer { g in
                    try MLXPrim.gluBackward(gate: x, up: x, dout: x, kind: .silu, dgate: g, dup: g)
                }
            }
        }
    }
}
