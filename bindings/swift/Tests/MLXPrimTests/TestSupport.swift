import MLXPrim
import XCTest

/// Deterministic test inputs from a 64-bit LCG (Knuth's MMIX constants), independent of the
/// library's own generator.
struct TestData {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    /// A value uniform in [-scale, scale), from the top 53 bits of the state.
    mutating func next(scale: Double) -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Double(state >> 11) * 0x1p-53 * 2 - 1) * scale
    }

    mutating func values<T: BinaryFloatingPoint>(_ count: Int, scale: Double) -> [T] {
        (0..<count).map { _ in T(next(scale: scale)) }
    }

    /// Float values as `values` gives them, each rounded to bfloat16.
    mutating func bfloat16s(_ count: Int, scale: Double) -> [BFloat16] {
        (values(count, scale: scale) as [Float]).map(BFloat16.init)
    }
}

extension Array where Element == BFloat16 {
    /// The values exactly, as Double (every bfloat16 is a Float).
    var doubles: [Double] {
        map { Double(Float($0)) }
    }
}

/// Elements of a shape.
func product(_ shape: [Int]) -> Int {
    shape.reduce(1, *)
}

/// Asserts |got[i] - want[i]| <= rtol * |want[i]| + atol for every i (NaN only where want is NaN).
func assertClose<T: BinaryFloatingPoint>(
    _ got: [T], _ want: [Double], rtol: Double, atol: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
    var failures = 0
    for (i, (g, w)) in zip(got.map(Double.init), want).enumerated() {
        let ok = w.isNaN ? g.isNaN : abs(g - w) <= rtol * abs(w) + atol
        if !ok && failures < 5 {
            XCTFail("\(what)[\(i)]: got \(g), want \(w) (rtol \(rtol), atol \(atol))",
                    file: file, line: line)
        }
        failures += ok ? 0 : 1
    }
    XCTAssertEqual(failures, 0, "\(what): elements out of tolerance", file: file, line: line)
}

/// assertClose for bfloat16 results, compared through their exact Float values.
func assertClose(
    _ got: [BFloat16], _ want: [Double], rtol: Double, atol: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    assertClose(got.map(Float.init), want, rtol: rtol, atol: atol, what, file: file, line: line)
}

/// Asserts that body throws MLXPrimError with the given status and a non-empty message.
func assertThrows<R>(
    _ status: MLXPrimError.Status, _ what: String,
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> R
) {
    do {
        _ = try body()
        XCTFail("\(what): no error, want \(status)", file: file, line: line)
    } catch let error as MLXPrimError {
        XCTAssertEqual(error.status, status, "\(what): \(error)", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, "\(what): empty message", file: file, line: line)
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
}

/// Asserts |got[i] - want[i]| <= bounds[i] for every i: for results whose error bound
/// differs per element (sums of products).
func assertWithin<T: BinaryFloatingPoint>(
    _ got: [T], _ want: [Double], bounds: [Double], _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(got.count, want.count, "\(what): count", file: file, line: line)
    var failures = 0
    for (i, (g, w)) in zip(got.map(Double.init), want).enumerated() {
        let ok = abs(g - w) <= bounds[i]
        if !ok && failures < 5 {
            XCTFail("\(what)[\(i)]: got \(g), want \(w) (bound \(bounds[i]))", file: file, line: line)
        }
        failures += ok ? 0 : 1
    }
    XCTAssertEqual(failures, 0, "\(what): elements out of bounds", file: file, line: line)
}

/// assertWithin for bfloat16 results, compared through their exact Float values.
func assertWithin(
    _ got: [BFloat16], _ want: [Double], bounds: [Double], _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    assertWithin(got.map(Float.init), want, bounds: bounds, what, file: file, line: line)
}

/// The error bound of a sum of k products accumulated in float32 in any fixed order and
/// rounded once into a type with unit roundoff `outputRoundoff`: (k + 2) u * sum |terms|
/// (the classic gamma_k bound, u = 2^-24, plus slack for the bias add and the scaling)
/// plus the final rounding.
func dotBound(
    terms k: Int, sumAbs: Double, value: Double, outputRoundoff: Double = 0x1p-24
) -> Double {
    Double(k + 2) * 0x1p-24 * sumAbs + outputRoundoff * abs(value)
}
