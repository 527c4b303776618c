import CMLXPrim

// Weight quantization and weight-only quantized linear layers (the "Quantization" section
// of mlxprim.h, which gives every format's formulas). A weight matrix is [rows, cols] =
// [out, in], quantized along cols. Quantized weights are row-major:
//   int8:   q [rows, cols] Int8, scales [rows] Float, zeros [rows] Int32 (asymmetric only)
//   int4:   packed (rows * cols) / 2 bytes, element 2i in the low nibble of byte i;
//           scales [rows, cols / groupSize] Float, zeros the same shape in UInt8
//   affine: MLX's mx.quantize layout, words [rows, cols * bits / 32] UInt32 (passed to the
//           library as int32 with the same bits), scales and biases [rows, cols / groupSize]
//           in the weights' type.

extension MLXPrim {
    // MARK: - int8, per row

    /// Per-row int8 quantization, as `mlxp_quantize_int8` defines it.
    ///
    /// - Parameters:
    ///   - w: [rows, cols] finite weights.
    ///   - symmetric: true for w^ = q * s with q in [-127, 127]; false for an asymmetric
    ///     grid with a zero point per row, w^ = (q - z) * s.
    /// - Returns: q [rows, cols], scales [rows] and, when not symmetric, zeros [rows].
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument` (non-finite weight).
    public static func quantizeInt8<T: MLXPrimElement>(
        _ w: [T], rows: Int, cols: Int, symmetric: Bool = true
    ) throws -> (q: [Int8], scales: [Float], zeros: [Int32]?) {
        var q = [Int8](repeating: 0, count: try elementCount([rows, cols], "q"))
        var scales = [Float](repeating: 0, count: max(rows, 0))
        var zeros: [Int32]? = symmetric ? nil : [Int32](repeating: 0, count: max(rows, 0))
        try w.withUnsafeBufferPointer { w in
            try q.withUnsafeMutableBufferPointer { q in
                try scales.withUnsafeMutableBufferPointer { scales in
                    try withOptionalMutableBuffer(&zeros) { zeros in
                        try quantizeInt8(
                            w, rows: rows, cols: cols, q: q, scales: scales, zeros: zeros)
                    }
                }
            }
        }
        return (q, scales, zeros)
    }

    /// Per-row int8 quantization into caller memory; symmetric when `zeros` is nil. The
    /// outputs must not overlap `w` or each other. On failure nothing is written.
    public static func quantizeInt8<T: MLXPrimElement>(
        _ w: UnsafeBufferPointer<T>, rows: Int, cols: Int, q: UnsafeMutableBufferPointer<Int8>,
        scales: UnsafeMutableBufferPointer<Float>, zeros: UnsafeMutableBufferPointer<Int32>? = nil
    ) throws {
        let shape = [rows, cols]
        try checkCount(w.count, "w", shape: shape)
        try checkCount(q.count, "q", shape: shape)
        try withTensors { t in
            try check(mlxp_quantize_int8(
                t.tensor(w, shape), t.tensor(q.baseAddress, .int8, shape), t.vector(scales),
                zeros.map { t.tensor($0.baseAddress, .int32, [$0.count]) }))
        }
    }

    /// w^ = (q - zeros) * scales per row (zeros 0 when nil), as `mlxp_dequantize_int8`
    /// defines it, rounded once into T.
    public static func dequantizeInt8<T: MLXPrimElement>(
        q: [Int8], scales: [Float], zeros: [Int32]? = nil, rows: Int, cols: Int,
        as _: T.Type = Float.self
    ) throws -> [T] {
        var w = [T](repeating: 0, count: try elementCount([rows, cols], "w"))
        try q.withUnsafeBufferPointer { q in
            try scales.withUnsafeBufferPointer { scales in
                try withOptionalBuffer(zeros) { zeros in
                    try w.withUnsafeMutableBufferPointer { w in
                        try dequantizeInt8(
                            q: q, scales: scales, zeros: zeros, rows: rows, cols: cols, into: w)
                    }
                }
            }
        }
        return w
    }

    /// int8 dequantization into `w` ([rows, cols]). On failure `w` is left unchanged.
    public static func dequantizeInt8<T: MLXPrimElement>(
        q: UnsafeBufferPointer<Int8>, scales: UnsafeBufferPointer<Float>,
        zeros: UnsafeBufferPointer<Int32>? = nil, rows: Int, cols: Int,
        into w: UnsafeMutableBufferPointer<T>
    ) throws {
        let shape = [rows, cols]
        try checkCount(q.count, "q", shape: shape)
        try checkCount(w.count, "w", shape: shape)
        try withTensors { t in
            try check(mlxp_dequantize_int8(
                t.tensor(q.baseAddress, .int8, shape), t.vector(scales),
                zeros.map { t.tensor($0.baseAddress, .int32, [$0.count]) }, t.tensor(w, shape)))
        }
    }

    /// y = x w^T + bias with int8 per-row weights, as `mlxp_int8_linear` defines it: the
    /// weights are decoded inside the dot products, accumulated in float32, one rounding.
    ///
    /// - Parameters:
    ///   - x: [..., in].
    ///   - q, scales, zeros: as `quantizeInt8` returns them for a [out, in] weight.
    ///   - bias: `out` values, or nil.
    /// - Returns: y [..., out].
    public static func int8Linear<T: MLXPrimElement>(
        x: [T], xShape: [Int], q: [Int8], scales: [Float], zeros: [Int32]? = nil,
        out outFeatures: Int, in inFeatures: Int, bias: [T]? = nil
    ) throws -> [T] {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        var y = [T](repeating: 0, count: try elementCount(yShape, "y"))
        try x.withUnsafeBufferPointer { x in
            try q.withUnsafeBufferPointer { q in
                try scales.withUnsafeBufferPointer { scales in
                    try withOptionalBuffer(zeros) { zeros in
                        try withOptionalBuffer(bias) { bias in
                            try y.withUnsafeMutableBufferPointer { y in
                                try int8Linear(
                                    x: x, xShape: xShape, q: q, scales: scales, zeros: zeros,
                                    out: outFeatures, in: inFeatures, bias: bias, into: y)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// int8 linear layer written into `y` ([..., out]), which may be `x` itself when
    /// in == out. On failure `y` is left unchanged.
    public static func int8Linear<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], q: UnsafeBufferPointer<Int8>,
        scales: UnsafeBufferPointer<Float>, zeros: UnsafeBufferPointer<Int32>? = nil,
        out outFeatures: Int, in inFeatures: Int, bias: UnsafeBufferPointer<T>? = nil,
        into y: UnsafeMutableBufferPointer<T>
    ) throws {
        let yShape = Array(xShape.dropLast()) + [outFeatures], qShape = [outFeatures, inFeatures]
        try checkCount(x.count, "x", shape: xShape)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(y.count, "y", shape: yShape)
        try withTensors { t in
            try check(mlxp_int8_linear(
                t.tensor(x, xShape), t.tensor(q.baseAddress, .int8, qShape), t.vector(scales),
                zeros.map { t.tensor($0.baseAddress, .int32, [$0.count]) }, t.vector(bias),
                t.tensor(y, yShape)))
        }
    }

    // MARK: - int4, per group

    /// Per-group int4 quantization with low-nibble-first packing, as `mlxp_quantize_int4`
    /// defines it.
    ///
    /// - Parameters:
    ///   - w: [rows, cols] finite weights; cols even and a multiple of `groupSize`.
    ///   - groupSize: 32, 64 or 128.
    ///   - symmetric: true for two's-complement nibbles q in [-7, 7], w^ = q * s; false for
    ///     unsigned nibbles with a zero point per group, w^ = (q - z) * s.
    /// - Returns: the packed codes ((rows * cols) / 2 bytes), scales [rows, cols / groupSize]
    ///   and, when not symmetric, zeros of the scales' shape.
    /// - Throws: `MLXPrimError` with `.invalidArgument` (group size, odd cols, non-finite
    ///   weight) or `.shapeMismatch`.
    public static func quantizeInt4<T: MLXPrimElement>(
        _ w: [T], rows: Int, cols: Int, groupSize: Int, symmetric: Bool = true
    ) throws -> (packed: [UInt8], scales: [Float], zeros: [UInt8]?) {
        let groupsShape = [rows, groupCount(cols, groupSize)]
        var packed = [UInt8](repeating: 0, count: try int4Bytes(rows, cols))
        var scales = [Float](repeating: 0, count: try elementCount(groupsShape, "scales"))
        var zeros: [UInt8]? = symmetric ? nil : [UInt8](repeating: 0, count: scales.count)
        try w.withUnsafeBufferPointer { w in
            try packed.withUnsafeMutableBufferPointer { packed in
                try scales.withUnsafeMutableBufferPointer { scales in
                    try withOptionalMutableBuffer(&zeros) { zeros in
                        try quantizeInt4(
                            w, rows: rows, cols: cols, groupSize: groupSize, packed: packed,
                            scales: scales, zeros: zeros)
                    }
                }
            }
        }
        return (packed, scales, zeros)
    }

    /// Per-group int4 quantization into caller memory; symmetric when `zeros` is nil. The
    /// outputs must not overlap `w` or each other. On failure nothing is written.
    public static func quantizeInt4<T: MLXPrimElement>(
        _ w: UnsafeBufferPointer<T>, rows: Int, cols: Int, groupSize: Int,
        packed: UnsafeMutableBufferPointer<UInt8>, scales: UnsafeMutableBufferPointer<Float>,
        zeros: UnsafeMutableBufferPointer<UInt8>? = nil
    ) throws {
        let shape = [rows, cols], groupsShape = [rows, groupCount(cols, groupSize)]
        try checkCount(w.count, "w", shape: shape)
        try checkInt4Bytes(packed.count, rows, cols)
        try checkCount(scales.count, "scales", shape: groupsShape)
        if let zeros {
            try checkCount(zeros.count, "zeros", shape: groupsShape)
        }
        try withTensors { t in
            try check(mlxp_quantize_int4(
                t.tensor(w, shape), Int32(clamping: groupSize),
                t.tensor(packed.baseAddress, .int4, shape), t.tensor(scales, groupsShape),
                zeros.map { t.tensor($0.baseAddress, .uint8, groupsShape) }))
        }
    }

    /// The inverse of `quantizeInt4`, as `mlxp_dequantize_int4` defines it: w^ = (q - z) * s
    /// per group (z = 0 and two's-complement nibbles when zeros is nil), rounded into T.
    public static func dequantizeInt4<T: MLXPrimElement>(
        packed: [UInt8], scales: [Float], zeros: [UInt8]? = nil, rows: Int, cols: Int,
        groupSize: Int, as _: T.Type = Float.self
    ) throws -> [T] {
        var w = [T](repeating: 0, count: try elementCount([rows, cols], "w"))
        try packed.withUnsafeBufferPointer { packed in
            try scales.withUnsafeBufferPointer { scales in
                try withOptionalBuffer(zeros) { zeros in
                    try w.withUnsafeMutableBufferPointer { w in
                        try dequantizeInt4(
                            packed: packed, scales: scales, zeros: zeros, rows: rows, cols: cols,
                            groupSize: groupSize, into: w)
                    }
                }
            }
        }
        return w
    }

    /// int4 dequantization into `w` ([rows, cols]). On failure `w` is left unchanged.
    public static func dequantizeInt4<T: MLXPrimElement>(
        packed: UnsafeBufferPointer<UInt8>, scales: UnsafeBufferPointer<Float>,
        zeros: UnsafeBufferPointer<UInt8>? = nil, rows: Int, cols: Int, groupSize: Int,
        into w: UnsafeMutableBufferPointer<T>
    ) throws {
        let shape = [rows, cols], groupsShape = [rows, groupCount(cols, groupSize)]
        try checkInt4Bytes(packed.count, rows, cols)
        try checkCount(scales.count, "scales", shape: groupsShape)
        if let zeros {
            try checkCount(zeros.count, "zeros", shape: groupsShape)
        }
        try checkCount(w.count, "w", shape: shape)
        try withTensors { t in
            try check(mlxp_dequantize_int4(
                t.tensor(packed.baseAddress, .int4, shape), t.tensor(scales, groupsShape),
                zeros.map { t.tensor($0.baseAddress, .uint8, groupsShape) },
                Int32(clamping: groupSize), t.tensor(w, shape)))
        }
    }

    /// y = x w^T + bias with int4 per-group weights, as `mlxp_int4_linear` defines it.
    ///
    /// - Parameters: x [..., in]; packed, scales and zeros as `quantizeInt4` returns them for
    ///   a [out, in] weight; bias `out` values or nil.
    /// - Returns: y [..., out].
    public static func int4Linear<T: MLXPrimElement>(
        x: [T], xShape: [Int], packed: [UInt8], scales: [Float], zeros: [UInt8]? = nil,
        out outFeatures: Int, in inFeatures: Int, groupSize: Int, bias: [T]? = nil
    ) throws -> [T] {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        var y = [T](repeating: 0, count: try elementCount(yShape, "y"))
        try x.withUnsafeBufferPointer { x in
            try packed.withUnsafeBufferPointer { packed in
                try scales.withUnsafeBufferPointer { scales in
                    try withOptionalBuffer(zeros) { zeros in
                        try withOptionalBuffer(bias) { bias in
                            try y.withUnsafeMutableBufferPointer { y in
                                try int4Linear(
                                    x: x, xShape: xShape, packed: packed, scales: scales,
                                    zeros: zeros, out: outFeatures, in: inFeatures,
                                    groupSize: groupSize, bias: bias, into: y)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// int4 linear layer written into `y` ([..., out]), which may be `x` itself when
    /// in == out. On failure `y` is left unchanged.
    public static func int4Linear<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], packed: UnsafeBufferPointer<UInt8>,
        scales: UnsafeBufferPointer<Float>, zeros: UnsafeBufferPointer<UInt8>? = nil,
        out outFeatures: Int, in inFeatures: Int, groupSize: Int,
        bias: UnsafeBufferPointer<T>? = nil, into y: UnsafeMutableBufferPointer<T>
    ) throws {
        let yShape = Array(xShape.dropLast()) + [outFeatures], qShape = [outFeatures, inFeatures]
        let groupsShape = [outFeatures, groupCount(inFeatures, groupSize)]
        try checkCount(x.count, "x", shape: xShape)
        try checkInt4Bytes(packed.count, outFeatures, inFeatures)
        try checkCount(scales.count, "scales", shape: groupsShape)
        if let zeros {
            try checkCount(zeros.count, "zeros", shape: groupsShape)
        }
        try checkCount(y.count, "y", shape: yShape)
        try withTensors { t in
            try check(mlxp_int4_linear(
                t.tensor(x, xShape), t.tensor(packed.baseAddress, .int4, qShape),
                t.tensor(scales, groupsShape),
                zeros.map { t.tensor($0.baseAddress, .uint8, groupsShape) },
                Int32(clamping: groupSize), t.vector(bias), t.tensor(y, yShape)))
        }
    }

    // MARK: - MLX affine

    /// MLX's affine quantization (mx.quantize(w, group_size, bits)), as
    /// `mlxp_quantize_affine` defines it: w^ = scales * q + biases with unsigned q.
    ///
    /// - Parameters:
    ///   - w: [rows, cols] finite weights, cols a multiple of `groupSize`.
    ///   - groupSize: 32, 64 or 128.
    ///   - bits: 4 or 8.
    /// - Returns: words [rows, cols * bits / 32] (element j of a row in word j / (32 / bits)
    ///   at bit bits * (j % (32 / bits))), scales and biases [rows, cols / groupSize].
    public static func quantizeAffine<T: MLXPrimElement>(
        _ w: [T], rows: Int, cols: Int, groupSize: Int = 64, bits: Int = 4
    ) throws -> (words: [UInt32], scales: [T], biases: [T]) {
        let groupsShape = [rows, groupCount(cols, groupSize)]
        var words = [UInt32](
            repeating: 0, count: try elementCount([rows, wordCount(cols, bits)], "words"))
        var scales = [T](repeating: 0, count: try elementCount(groupsShape, "scales"))
        var biases = scales
        try w.withUnsafeBufferPointer { w in
            try words.withUnsafeMutableBufferPointer { words in
                try scales.withUnsafeMutableBufferPointer { scales in
                    try biases.withUnsafeMutableBufferPointer { biases in
                        try quantizeAffine(
                            w, rows: rows, cols: cols, groupSize: groupSize, bits: bits,
                            words: words, scales: scales, biases: biases)
                    }
                }
            }
        }
        return (words, scales, biases)
    }

    /// MLX affine quantization into caller memory. The outputs must not overlap `w` or each
    /// other. On failure nothing is written.
    public static func quantizeAffine<T: MLXPrimElement>(
        _ w: UnsafeBufferPointer<T>, rows: Int, cols: Int, groupSize: Int, bits: Int,
        words: UnsafeMutableBufferPointer<UInt32>, scales: UnsafeMutableBufferPointer<T>,
        biases: UnsafeMutableBufferPointer<T>
    ) throws {
        let shape = [rows, cols], wordsShape = [rows, wordCount(cols, bits)]
        let groupsShape = [rows, groupCount(cols, groupSize)]
        try checkCount(w.count, "w", shape: shape)
        try checkCount(words.count, "words", shape: wordsShape)
        try checkCount(scales.count, "scales", shape: groupsShape)
        try checkCount(biases.count, "biases", shape: groupsShape)
        try withTensors { t in
            try check(mlxp_quantize_affine(
                t.tensor(w, shape), Int32(clamping: groupSize), Int32(clamping: bits),
                t.tensor(words.baseAddress, .int32, wordsShape), t.tensor(scales, groupsShape),
                t.tensor(biases, groupsShape)))
        }
    }

    /// mx.dequantize, bit for bit, as `mlxp_dequantize_affine` defines it:
    /// w = scales * q + biases with each operation rounded to T.
    public static func dequantizeAffine<T: MLXPrimElement>(
        words: [UInt32], scales: [T], biases: [T], rows: Int, cols: Int, groupSize: Int = 64,
        bits: Int = 4
    ) throws -> [T] {
        var w = [T](repeating: 0, count: try elementCount([rows, cols], "w"))
        try words.withUnsafeBufferPointer { words in
            try scales.withUnsafeBufferPointer { scales in
                try biases.withUnsafeBufferPointer { biases in
                    try w.withUnsafeMutableBufferPointer { w in
                        try dequantizeAffine(
                            words: words, scales: scales, biases: biases, rows: rows, cols: cols,
                            groupSize: groupSize, bits: bits, into: w)
                    }
                }
            }
        }
        return w
    }

    /// MLX affine dequantization into `w` ([rows, cols]). On failure `w` is left unchanged.
    public static func dequantizeAffine<T: MLXPrimElement>(
        words: UnsafeBufferPointer<UInt32>, scales: UnsafeBufferPointer<T>,
        biases: UnsafeBufferPointer<T>, rows: Int, cols: Int, groupSize: Int, bits: Int,
        into w: UnsafeMutableBufferPointer<T>
    ) throws {
        let shape = [rows, cols], wordsShape = [rows, wordCount(cols, bits)]
        let groupsShape = [rows, groupCount(cols, groupSize)]
        try checkCount(words.count, "words", shape: wordsShape)
        try checkCount(scales.count, "scales", shape: groupsShape)
        try checkCount(biases.count, "biases", shape: groupsShape)
        try checkCount(w.count, "w", shape: shape)
        try withTensors { t in
            try check(mlxp_dequantize_affine(
                t.tensor(words.baseAddress, .int32, wordsShape), t.tensor(scales, groupsShape),
                t.tensor(biases, groupsShape), Int32(clamping: groupSize), Int32(clamping: bits),
                t.tensor(w, shape)))
        }
    }

    /// y = x w^T + bias with weights in MLX's affine format, as `mlxp_affine_linear` defines
    /// it (weights decoded as f32(f32(q * s) + b)).
    ///
    /// - Parameters: x [..., in]; words, scales and biases as `quantizeAffine` returns them
    ///   for a [out, in] weight; bias `out` values or nil.
    /// - Returns: y [..., out].
    public static func affineLinear<T: MLXPrimElement>(
        x: [T], xShape: [Int], words: [UInt32], scales: [T], biases: [T],
        out outFeatures: Int, in inFeatures: Int, groupSize: Int = 64, bits: Int = 4,
        bias: [T]? = nil
    ) throws -> [T] {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        var y = [T](repeating: 0, count: try elementCount(yShape, "y"))
        try x.withUnsafeBufferPointer { x in
            try words.withUnsafeBufferPointer { words in
                try scales.withUnsafeBufferPointer { scales in
                    try biases.withUnsafeBufferPointer { biases in
                        try withOptionalBuffer(bias) { bias in
                            try y.withUnsafeMutableBufferPointer { y in
                                try affineLinear(
                                    x: x, xShape: xShape, words: words, scales: scales,
                                    biases: biases, out: outFeatures, in: inFeatures,
                                    groupSize: groupSize, bits: bits, bias: bias, into: y)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// MLX affine linear layer written into `y` ([..., out]), which may be `x` itself when
    /// in == out. On failure `y` is left unchanged.
    public static func affineLinear<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], words: UnsafeBufferPointer<UInt32>,
        scales: UnsafeBufferPointer<T>, biases: UnsafeBufferPointer<T>, out outFeatures: Int,
        in inFeatures: Int, groupSize: Int, bits: Int, bias: UnsafeBufferPointer<T>? = nil,
        into y: UnsafeMutableBufferPointer<T>
    ) throws {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        let wordsShape = [outFeatures, wordCount(inFeatures, bits)]
        let groupsShape = [outFeatures, groupCount(inFeatures, groupSize)]
        try checkCount(x.count, "x", shape: xShape)
        try checkCount(words.count, "words", shape: wordsShape)
        try checkCount(scales.count, "scales", shape: groupsShape)
        try checkCount(biases.count, "biases", shape: groupsShape)
        try checkCount(y.count, "y", shape: yShape)
        try withTensors { t in
            try check(mlxp_affine_linear(
                t.tensor(x, xShape), t.tensor(words.baseAddress, .int32, wordsShape),
                t.tensor(scales, groupsShape), t.tensor(biases, groupsShape),
                Int32(clamping: groupSize), Int32(clamping: bits), t.vector(bias),
                t.tensor(y, yShape)))
        }
    }
}

// MARK: - Sizes of the quantized layouts

/// cols / groupSize: the groups per row. A group size the library rejects (< 1) gives 0,
/// never a trap; the library then reports it.
private func groupCount(_ cols: Int, _ groupSize: Int) -> Int {
    groupSize > 0 ? cols / groupSize : 0
}

/// cols * bits / 32: the 32-bit words per row of MLX's layout (0 for sizes the library
/// rejects anyway).
private func wordCount(_ cols: Int, _ bits: Int) -> Int {
    let (bitsPerRow, overflow) = cols.multipliedReportingOverflow(by: bits)
    return overflow || bits < 1 ? 0 : bitsPerRow / 32
}

/// The bytes of a packed int4 [rows, cols] matrix: two codes per byte. An odd element count
/// (odd cols, which the library rejects) rounds up.
private func int4Bytes(_ rows: Int, _ cols: Int) throws -> Int {
    (try elementCount([rows, cols], "packed") + 1) / 2
}

/// The binding's check that a packed int4 buffer holds a [rows, cols] matrix.
private func checkInt4Bytes(_ count: Int, _ rows: Int, _ cols: Int) throws {
    guard rows >= 0, cols >= 0 else {
        return  // the library rejects negative sizes
    }
    let bytes = try int4Bytes(rows, cols)
    guard count == bytes else {
        throw MLXPrimError(
            status: .shapeMismatch,
            message: "packed has \(count) bytes but an int4 [\(rows), \(cols)] matrix "
                + "needs \(bytes)")
    }
}
