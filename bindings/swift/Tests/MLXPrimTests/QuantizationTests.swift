import MLXPrim
import XCTest

// References written from the formulas of mlxprim.h's quantization section: arithmetic in
// Double on the Float weights, each scale rounded once to Float, integers rounded to
// nearest with ties to even. For the random (non-constant, normal-range) rows used here
// these formulas are exact, so codes, scales and zero points must match bit for bit.

private func roundEven(_ v: Double) -> Int {
    Int(v.rounded(.toNearestOrEven))
}

private func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int {
    min(max(v, lo), hi)
}

/// One row or group on the symmetric grid [-qmax, qmax]: s = max|w| / qmax.
private func symmetricReference(_ w: ArraySlice<Float>, qmax: Int) -> (q: [Int], s: Float) {
    let a = w.map { abs(Double($0)) }.max()!
    let s = max(Float(a / Double(qmax)), .leastNonzeroMagnitude)
    return (w.map { clamp(roundEven(Double($0) / Double(s)), -qmax, qmax) }, s)
}

/// One row or group on the asymmetric grid [qmin, qmax], range widened to include 0:
/// s = (hi - lo) / (qmax - qmin), z = clamp(round(qmin - lo / s)), q = round(w / s) + z.
private func asymmetricReference(
    _ w: ArraySlice<Float>, qmin: Int, qmax: Int
) -> (q: [Int], s: Float, z: Int) {
    let lo = min(0, Double(w.min()!)), hi = max(0, Double(w.max()!))
    let s = max(Float((hi - lo) / Double(qmax - qmin)), .leastNonzeroMagnitude)
    let z = clamp(roundEven(Double(qmin) - lo / Double(s)), qmin, qmax)
    return (w.map { clamp(roundEven(Double($0) / Double(s)) + z, qmin, qmax) }, s, z)
}

/// Packs int4 codes low nibble first: byte i holds element 2i (low) and 2i + 1 (high).
private func packNibbles(_ codes: [Int]) -> [UInt8] {
    stride(from: 0, to: codes.count, by: 2).map {
        UInt8(codes[$0] & 0xF) | UInt8(codes[$0 + 1] & 0xF) << 4
    }
}

/// Element j of an MLX affine row: word j / (32 / bits), bits bits * (j % (32 / bits)).
private func affineCode(_ words: [UInt32], row: Int, col: Int, cols: Int, bits: Int) -> Int {
    let perWord = 32 / bits, wordsPerRow = cols * bits / 32
    let word = words[row * wordsPerRow + col / perWord]
    return Int((word >> UInt32(bits * (col % perWord))) & UInt32((1 << bits) - 1))
}

/// y = x w^T + bias in Double over the given (dequantized) weights, with error bounds.
private func linearReference(
    _ x: [Float], rows: Int, _ w: [Double], out: Int, in k: Int, bias: [Float]?
) -> (values: [Double], bounds: [Double]) {
    var values: [Double] = [], bounds: [Double] = []
    for r in 0..<rows {
        for o in 0..<out {
            var sum = Double(bias?[o] ?? 0), sumAbs = abs(sum)
            for j in 0..<k {
                let term = Double(x[r * k + j]) * w[o * k + j]
                sum += term
                sumAbs += abs(term)
            }
            values.append(sum)
            bounds.append(dotBound(terms: k, sumAbs: sumAbs, value: sum))
        }
    }
    return (values, bounds)
}

final class QuantizationTests: XCTestCase {
    // MARK: int8

    func testInt8MatchesReference() throws {
        var data = TestData(seed: 20)
        let rows = 5, cols = 37
        let w: [Float] = data.values(rows * cols, scale: 2)
        for symmetric in [true, false] {
            let (q, scales, zeros) = try MLXPrim.quantizeInt8(
                w, rows: rows, cols: cols, symmetric: symmetric)
            XCTAssertEqual(zeros == nil, symmetric)
            for r in 0..<rows {
                let row = w[r * cols..<(r + 1) * cols]
                if symmetric {
                    let ref = symmetricReference(row, qmax: 127)
                    XCTAssertEqual(scales[r], ref.s, "row \(r) scale")
                    XCTAssertEqual(q[r * cols..<(r + 1) * cols].map(Int.init), ref.q, "row \(r) codes")
                } else {
                    let ref = asymmetricReference(row, qmin: -128, qmax: 127)
                    XCTAssertEqual(scales[r], ref.s, "row \(r) scale")
                    XCTAssertEqual(zeros?[r], Int32(ref.z), "row \(r) zero point")
                    XCTAssertEqual(q[r * cols..<(r + 1) * cols].map(Int.init), ref.q, "row \(r) codes")
                }
            }
        }
    }

    func testInt8RoundTrip() throws {
        var data = TestData(seed: 21)
        let rows = 4, cols = 50
        let w: [Float] = data.values(rows * cols, scale: 3)
        for symmetric in [true, false] {
            let (q, scales, zeros) = try MLXPrim.quantizeInt8(
                w, rows: rows, cols: cols, symmetric: symmetric)
            let back = try MLXPrim.dequantizeInt8(
                q: q, scales: scales, zeros: zeros, rows: rows, cols: cols)
            for i in 0..<w.count {
                let r = i / cols, z = Double(zeros?[r] ?? 0), s = Double(scales[r])
                // Dequantization is (q - z) * s rounded once to Float: exact in Double first.
                XCTAssertEqual(back[i], Float((Double(q[i]) - z) * s), "element \(i)")
                // Round to nearest: within half a step (plus the Float rounding of w^).
                XCTAssertLessThanOrEqual(abs(Double(back[i]) - Double(w[i])), s / 2 * (1 + 1e-6),
                                         "symmetric \(symmetric) element \(i)")
            }
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            // A Float16 result is the Float result rounded once.
            let half = try MLXPrim.dequantizeInt8(
                q: q, scales: scales, zeros: zeros, rows: rows, cols: cols, as: Float16.self)
            XCTAssertEqual(half, back.map { Float16($0) })
            #endif
        }
    }

    func testInt8Linear() throws {
        var data = TestData(seed: 22)
        let out = 7, k = 45
        let w: [Float] = data.values(out * k, scale: 1)
        let x: [Float] = data.values(3 * k, scale: 2)
        let bias: [Float] = data.values(out, scale: 1)
        for symmetric in [true, false] {
            let (q, scales, zeros) = try MLXPrim.quantizeInt8(
                w, rows: out, cols: k, symmetric: symmetric)
            let wHat = try MLXPrim.dequantizeInt8(
                q: q, scales: scales, zeros: zeros, rows: out, cols: k)
            for b in [nil, bias] {
                let y = try MLXPrim.int8Linear(
                    x: x, xShape: [3, k], q: q, scales: scales, zeros: zeros, out: out, in: k,
                    bias: b)
                let ref = linearReference(
                    x, rows: 3, wHat.map(Double.init), out: out, in: k, bias: b)
                assertWithin(y, ref.values, bounds: ref.bounds,
                             "int8 symmetric \(symmetric) bias \(b != nil)")
            }
        }
    }

    func testInt8BadInput() {
        let w: [Float] = [1, 2, 3, 4, 5, 6]
        assertThrows(.shapeMismatch, "w count") { try MLXPrim.quantizeInt8(w, rows: 2, cols: 4) }
        assertThrows(.invalidArgument, "non-finite weight") {
            try MLXPrim.quantizeInt8([Float]([1, .nan, 3, 4]), rows: 2, cols: 2)
        }
        assertThrows(.invalidArgument, "negative size") {
            try MLXPrim.quantizeInt8(w, rows: -2, cols: 3)
        }
        assertThrows(.shapeMismatch, "scales length") {
            try MLXPrim.dequantizeInt8(q: [1, 2, 3, 4, 5, 6], scales: [1, 1, 1], rows: 2, cols: 3)
        }
        assertThrows(.shapeMismatch, "zeros length") {
            try MLXPrim.dequantizeInt8(q: [1, 2, 3, 4], scales: [1, 1], zeros: [0], rows: 2, cols: 2)
        }
        assertThrows(.shapeMismatch, "x's last axis is not in") {
            try MLXPrim.int8Linear(x: [Float](repeating: 1, count: 6), xShape: [2, 3],
                                   q: [1, 2, 3, 4], scales: [1, 1], out: 2, in: 2)
        }
        assertThrows(.shapeMismatch, "bias length") {
            try MLXPrim.int8Linear(x: [Float](repeating: 1, count: 4), xShape: [2, 2],
                                   q: [1, 2, 3, 4], scales: [1, 1], out: 2, in: 2, bias: [1])
        }
    }

    // MARK: int4

    func testInt4PackingTable() throws {
        // Symmetric, one group of 32 with max |w| = 7: s = 1 and the codes are w itself.
        let codes = [1, 2, 3, 4, 5, 6, 7, -7, -1, 0, -3, 2] + [Int](repeating: 0, count: 20)
        let (packed, scales, zeros) = try MLXPrim.quantizeInt4(
            codes.map(Float.init), rows: 1, cols: 32, groupSize: 32)
        XCTAssertNil(zeros)
        XCTAssertEqual(scales, [1])
        // Low nibble first, two's complement: -7 = 0x9, -1 = 0xF, -3 = 0xD.
        XCTAssertEqual(Array(packed.prefix(6)), [0x21, 0x43, 0x65, 0x97, 0x0F, 0x2D])
        XCTAssertEqual(packed, packNibbles(codes))

        // And back: hand-made bytes decode to their nibbles, times the scale.
        let w = try MLXPrim.dequantizeInt4(
            packed: [0x21, 0x43] + [UInt8](repeating: 0x88, count: 14), scales: [0.5], rows: 1,
            cols: 32, groupSize: 32)
        XCTAssertEqual(Array(w.prefix(4)), [0.5, 1, 1.5, 2])
        XCTAssertEqual(Array(w.suffix(28)), [Float](repeating: -4, count: 28), "0x8 is -8")
        // Asymmetric nibbles are unsigned: (q - z) * s with z = 8.
        let u = try MLXPrim.dequantizeInt4(
            packed: [0xF0] + [UInt8](repeating: 0x88, count: 15), scales: [2], zeros: [8], rows: 1,
            cols: 32, groupSize: 32)
        XCTAssertEqual(Array(u.prefix(3)), [-16, 14, 0])
    }

    func testInt4MatchesReference() throws {
        var data = TestData(seed: 23)
        let rows = 3, cols = 128
        let w: [Float] = data.values(rows * cols, scale: 1.5)
        for group in [32, 64, 128] {
            for symmetric in [true, false] {
                let (packed, scales, zeros) = try MLXPrim.quantizeInt4(
                    w, rows: rows, cols: cols, groupSize: group, symmetric: symmetric)
                var codes: [Int] = [], wantScales: [Float] = [], wantZeros: [UInt8] = []
                for start in stride(from: 0, to: w.count, by: group) {
                    let slice = w[start..<start + group]
                    if symmetric {
                        let ref = symmetricReference(slice, qmax: 7)
                        codes += ref.q
                        wantScales.append(ref.s)
                    } else {
                        let ref = asymmetricReference(slice, qmin: 0, qmax: 15)
                        codes += ref.q
                        wantScales.append(ref.s)
                        wantZeros.append(UInt8(ref.z))
                    }
                }
                let what = "group \(group) symmetric \(symmetric)"
                XCTAssertEqual(scales, wantScales, what)
                XCTAssertEqual(zeros, symmetric ? nil : wantZeros, what)
                XCTAssertEqual(packed, packNibbles(codes), what)
            }
        }
    }

    func testInt4RoundTrip() throws {
        var data = TestData(seed: 24)
        let rows = 2, cols = 192, group = 64
        let w: [Float] = data.values(rows * cols, scale: 4)
        for symmetric in [true, false] {
            let (packed, scales, zeros) = try MLXPrim.quantizeInt4(
                w, rows: rows, cols: cols, groupSize: group, symmetric: symmetric)
            let back = try MLXPrim.dequantizeInt4(
                packed: packed, scales: scales, zeros: zeros, rows: rows, cols: cols, groupSize: group)
            for i in 0..<w.count {
                let g = i / group, s = Double(scales[g]), z = Double(zeros?[g] ?? 0)
                let nibble = Int(packed[i / 2] >> (i % 2 == 0 ? 0 : 4) & 0xF)
                let q = symmetric ? (nibble >= 8 ? nibble - 16 : nibble) : nibble
                XCTAssertEqual(back[i], Float((Double(q) - z) * s), "element \(i)")
                XCTAssertLessThanOrEqual(abs(Double(back[i]) - Double(w[i])), s / 2 * (1 + 1e-6),
                                         "symmetric \(symmetric) element \(i)")
            }
        }
    }

    func testInt4Linear() throws {
        var data = TestData(seed: 25)
        let out = 5, k = 96, group = 32
        let w: [Float] = data.values(out * k, scale: 1)
        let x: [Float] = data.values(2 * 3 * k, scale: 1)
        let bias: [Float] = data.values(out, scale: 1)
        for symmetric in [true, false] {
            let (packed, scales, zeros) = try MLXPrim.quantizeInt4(
                w, rows: out, cols: k, groupSize: group, symmetric: symmetric)
            let wHat = try MLXPrim.dequantizeInt4(
                packed: packed, scales: scales, zeros: zeros, rows: out, cols: k, groupSize: group)
            let y = try MLXPrim.int4Linear(
                x: x, xShape: [2, 3, k], packed: packed, scales: scales, zeros: zeros, out: out,
                in: k, groupSize: group, bias: bias)
            let ref = linearReference(x, rows: 6, wHat.map(Double.init), out: out, in: k, bias: bias)
            assertWithin(y, ref.values, bounds: ref.bounds, "int4 symmetric \(symmetric)")
        }
    }

    func testInt4BadInput() {
        let w = [Float](repeating: 1, count: 64)
        assertThrows(.invalidArgument, "group size 16") {
            try MLXPrim.quantizeInt4(w, rows: 2, cols: 32, groupSize: 16)
        }
        assertThrows(.invalidArgument, "cols not a multiple of the group") {
            try MLXPrim.quantizeInt4(w, rows: 1, cols: 64, groupSize: 128)
        }
        assertThrows(.invalidArgument, "odd cols") {
            try MLXPrim.quantizeInt4([Float](repeating: 1, count: 33), rows: 1, cols: 33, groupSize: 32)
        }
        assertThrows(.invalidArgument, "non-finite weight") {
            try MLXPrim.quantizeInt4([.infinity] + w.dropFirst(), rows: 2, cols: 32, groupSize: 32)
        }
        assertThrows(.shapeMismatch, "packed bytes") {
            try MLXPrim.dequantizeInt4(packed: [0x21], scales: [1], rows: 1, cols: 32, groupSize: 32)
        }
        assertThrows(.invalidArgument, "group size 0") {
            try MLXPrim.dequantizeInt4(packed: [UInt8](repeating: 0, count: 16), scales: [],
                                       rows: 1, cols: 32, groupSize: 0)
        }
        assertThrows(.shapeMismatch, "x's last axis is not in") {
            try MLXPrim.int4Linear(x: [Float](repeating: 1, count: 31), xShape: [1, 31],
                                   packed: [UInt8](repeating: 0, count: 16), scales: [1], out: 1,
                                   in: 32, groupSize: 32)
        }
        assertThrows(.invalidArgument, "int4 linear group size 48") {
            try MLXPrim.int4Linear(x: [Float](repeating: 1, count: 96), xShape: [1, 96],
                                   packed: [UInt8](repeating: 0, count: 48), scales: [1, 1], out: 1,
                                   in: 96, groupSize: 48)
        }
    }

    // MARK: MLX affine

    func testAffineLayoutTable() throws {
        // 4 bits: eight codes per word, element j at bits 4 (j % 8); w = s q + b.
        let words: [UInt32] = [0x7654_3210, 0xFEDC_BA98] + [UInt32](repeating: 0, count: 2)
        let w = try MLXPrim.dequantizeAffine(
            words: words, scales: [Float(0.5)], biases: [-1], rows: 1, cols: 32, groupSize: 32, bits: 4)
        XCTAssertEqual(Array(w.prefix(16)), (0..<16).map { Float($0) * 0.5 - 1 })
        XCTAssertEqual(Array(w.suffix(16)), [Float](repeating: -1, count: 16))
        // 8 bits: four codes per word, element j at bits 8 (j % 4).
        let bytes: [UInt32] = [0x0302_01FF] + [UInt32](repeating: 0, count: 7)
        let v = try MLXPrim.dequantizeAffine(
            words: bytes, scales: [Float(1)], biases: [0], rows: 1, cols: 32, groupSize: 32, bits: 8)
        XCTAssertEqual(Array(v.prefix(5)), [255, 1, 2, 3, 0])
    }

    func testAffineRoundTrip() throws {
        var data = TestData(seed: 26)
        let rows = 3, cols = 256
        let w: [Float] = data.values(rows * cols, scale: 2)
        for (group, bits) in [(32, 4), (64, 4), (128, 8), (64, 8)] {
            let (words, scales, biases) = try MLXPrim.quantizeAffine(
                w, rows: rows, cols: cols, groupSize: group, bits: bits)
            XCTAssertEqual(words.count, rows * cols * bits / 32)
            let back = try MLXPrim.dequantizeAffine(
                words: words, scales: scales, biases: biases, rows: rows, cols: cols,
                groupSize: group, bits: bits)
            for i in 0..<w.count {
                let r = i / cols, c = i % cols, g = i / group
                let q = affineCode(words, row: r, col: c, cols: cols, bits: bits)
                // The header's w = s q + b, each operation rounded to Float.
                XCTAssertEqual(back[i], Float(q) * scales[g] + biases[g],
                               "(\(group), \(bits)) element \(i)")
                // Codes are nearest on a grid of step |s|, clamped to the 2^bits codes; the
                // grid is stretched so that one range end is exact, so the other can be up
                // to one step off: within |s| (plus Float rounding).
                XCTAssertLessThanOrEqual(abs(Double(back[i]) - Double(w[i])),
                                         Double(abs(scales[g])) * (1 + 1e-5),
                                         "(\(group), \(bits)) element \(i)")
            }
        }
    }

    func testAffineLinear() throws {
        var data = TestData(seed: 27)
        let out = 6, k = 128
        let w: [Float] = data.values(out * k, scale: 1)
        let x: [Float] = data.values(4 * k, scale: 1)
        let bias: [Float] = data.values(out, scale: 1)
        for (group, bits) in [(64, 4), (32, 8)] {
            let (words, scales, biases) = try MLXPrim.quantizeAffine(
                w, rows: out, cols: k, groupSize: group, bits: bits)
            // f32(f32(q s) + b), the header's decoding.
            var wHat: [Double] = []
            for r in 0..<out {
                for c in 0..<k {
                    let g = (r * k + c) / group
                    let q = affineCode(words, row: r, col: c, cols: k, bits: bits)
                    wHat.append(Double(Float(q) * scales[g] + biases[g]))
                }
            }
            for b in [nil, bias] {
                let y = try MLXPrim.affineLinear(
                    x: x, xShape: [4, k], words: words, scales: scales, biases: biases, out: out,
                    in: k, groupSize: group, bits: bits, bias: b)
                let ref = linearReference(x, rows: 4, wHat, out: out, in: k, bias: b)
                assertWithin(y, ref.values, bounds: ref.bounds,
                             "affine \(group)/\(bits) bias \(b != nil)")
            }
        }
    }

    func testAffineBadInput() {
        let w = [Float](repeating: 1, count: 64)
        assertThrows(.invalidArgument, "3 bits") {
            try MLXPrim.quantizeAffine(w, rows: 1, cols: 64, groupSize: 64, bits: 3)
        }
        assertThrows(.invalidArgument, "group size 16") {
            try MLXPrim.quantizeAffine(w, rows: 2, cols: 32, groupSize: 16, bits: 4)
        }
        assertThrows(.invalidArgument, "non-finite weight") {
            try MLXPrim.quantizeAffine(
                [-.infinity] + w.dropFirst(), rows: 1, cols: 64, groupSize: 64)
        }
        assertThrows(.shapeMismatch, "words count") {
            try MLXPrim.dequantizeAffine(words: [0, 0], scales: [Float(1)], biases: [0], rows: 1,
                                         cols: 32, groupSize: 32, bits: 4)
        }
        assertThrows(.invalidArgument, "dequantize 2 bits") {
            try MLXPrim.dequantizeAffine(words: [0, 0], scales: [Float(1)], biases: [0], rows: 1,
                                         cols: 32, groupSize: 32, bits: 2)
        }
        assertThrows(.shapeMismatch, "bias length") {
            try MLXPrim.affineLinear(x: [Float](repeating: 1, count: 32), xShape: [1, 32],
                                     words: [0, 0, 0, 0], scales: [Float(1)], biases: [0], out: 1,
                                     in: 32, groupSize: 32, bits: 4, bias: [1, 2])
        }
    }
}
