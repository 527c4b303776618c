import CMLXPrim

extension MLXPrim {
    /// The activation functions of `activation`, `glu`, `gatedLinear` and
    /// `gatedLinearBackward` (MLXP_ACT_*).
    public enum Activation: Int32, Sendable, CaseIterable {
        /// x * sigmoid(x) (SwiGLU as a gate).
        case silu = 1
        /// x/2 * (1 + erf(x/sqrt(2))), exact.
        case gelu = 2
        /// x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
        case geluTanh = 3
    }

    /// Batched matrix multiply, as `mlxp_matmul` defines it: alpha * op(a) op(b), with
    /// float32 accumulation and one rounding into T.
    ///
    /// - Parameters:
    ///   - a: [..., M, K], or [..., K, M] with `transA`.
    ///   - b: [..., K, N], or [..., N, K] with `transB`.
    ///   - alpha: scales the product; finite.
    /// - Returns: the product and its shape [batch..., M, N], where the batch dimensions of
    ///   `a` and `b` broadcast by NumPy's rules.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (a count, fewer than 2 axes, batch
    ///   dimensions that do not broadcast, inner sizes that differ) or `.invalidArgument`.
    public static func matmul<T: MLXPrimElement>(
        _ a: [T], shape aShape: [Int], _ b: [T], shape bShape: [Int],
        transA: Bool = false, transB: Bool = false, alpha: Float = 1
    ) throws -> (values: [T], shape: [Int]) {
        let cShape = try matmulShape(aShape, bShape, transA: transA, transB: transB)
        var c = [T](repeating: 0, count: try elementCount(cShape, "c"))
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try c.withUnsafeMutableBufferPointer { c in
                    try matmul(
                        a, shape: aShape, b, shape: bShape, into: c, shape: cShape,
                        transA: transA, transB: transB, alpha: alpha)
                }
            }
        }
        return (c, cShape)
    }

    /// c = alpha * op(a) op(b) + beta * c, written into caller memory; see
    /// `matmul(_:shape:_:shape:transA:transB:alpha:)`. With beta 0 the old `c` is never read.
    /// `c` must not overlap `a` or `b`. On failure `c` is left unchanged.
    public static func matmul<T: MLXPrimElement>(
        _ a: UnsafeBufferPointer<T>, shape aShape: [Int], _ b: UnsafeBufferPointer<T>,
        shape bShape: [Int], into c: UnsafeMutableBufferPointer<T>, shape cShape: [Int],
        transA: Bool = false, transB: Bool = false, alpha: Float = 1, beta: Float = 0
    ) throws {
        try checkCount(a.count, "a", shape: aShape)
        try checkCount(b.count, "b", shape: bShape)
        try checkCount(c.count, "c", shape: cShape)
        var params = mlxp_matmul_params()
        try check(mlxp_matmul_params_init(&params))
        params.trans_a = transA ? 1 : 0
        params.trans_b = transB ? 1 : 0
        params.alpha = alpha
        params.beta = beta
        try withTensors { t in
            try check(mlxp_matmul(t.tensor(a, aShape), t.tensor(b, bShape), t.tensor(c, cShape),
                                  &params))
        }
    }

    /// A linear layer, as `mlxp_linear` defines it: y = x weight^T + bias, accumulated in
    /// float32 (bias added in float32) and rounded once into T.
    ///
    /// - Parameters:
    ///   - x: [..., in] with `xShape`'s element count.
    ///   - weight: [out, in], row-major.
    ///   - bias: `out` values, or nil.
    /// - Returns: y of shape [..., out] (x's leading dimensions).
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (a count, x's last axis is not `in`,
    ///   bias length) or `.invalidArgument`.
    public static func linear<T: MLXPrimElement>(
        x: [T], xShape: [Int], weight: [T], out outFeatures: Int, in inFeatures: Int,
        bias: [T]? = nil
    ) throws -> [T] {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        var y = [T](repeating: 0, count: try elementCount(yShape, "y"))
        try x.withUnsafeBufferPointer { x in
            try weight.withUnsafeBufferPointer { weight in
                try withOptionalBuffer(bias) { bias in
                    try y.withUnsafeMutableBufferPointer { y in
                        try linear(
                            x: x, xShape: xShape, weight: weight, out: outFeatures,
                            in: inFeatures, bias: bias, into: y)
                    }
                }
            }
        }
        return y
    }

    /// y = x weight^T + bias written into `y` ([..., out]); see
    /// `linear(x:xShape:weight:out:in:bias:)`. `y` must not overlap the inputs. On failure
    /// `y` is left unchanged.
    public static func linear<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], weight: UnsafeBufferPointer<T>,
        out outFeatures: Int, in inFeatures: Int, bias: UnsafeBufferPointer<T>? = nil,
        into y: UnsafeMutableBufferPointer<T>
    ) throws {
        let yShape = Array(xShape.dropLast()) + [outFeatures]
        try checkCount(x.count, "x", shape: xShape)
        try checkCount(weight.count, "weight", shape: [outFeatures, inFeatures])
        try checkCount(y.count, "y", shape: yShape)
        try withTensors { t in
            try check(mlxp_linear(
                t.tensor(x, xShape), t.tensor(weight, [outFeatures, inFeatures]), t.vector(bias),
                t.tensor(y, yShape)))
        }
    }

    /// The fused gated MLP input, as `mlxp_gated_linear` defines it:
    /// act(x gate^T) * (x up^T), both products in float32, one rounding into T.
    ///
    /// - Parameters:
    ///   - x: [..., in].
    ///   - gate, up: [hidden, in] each, row-major.
    ///   - activation: `.silu` (SwiGLU), `.gelu` or `.geluTanh` (GeGLU).
    /// - Returns: [..., hidden] (x's leading dimensions).
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument`.
    public static func gatedLinear<T: MLXPrimElement>(
        x: [T], xShape: [Int], gate: [T], up: [T], hidden: Int, in inFeatures: Int,
        activation: Activation = .silu
    ) throws -> [T] {
        let outShape = Array(xShape.dropLast()) + [hidden]
        var out = [T](repeating: 0, count: try elementCount(outShape, "out"))
        try x.withUnsafeBufferPointer { x in
            try gate.withUnsafeBufferPointer { gate in
                try up.withUnsafeBufferPointer { up in
                    try out.withUnsafeMutableBufferPointer { out in
                        try gatedLinear(
                            x: x, xShape: xShape, gate: gate, up: up, hidden: hidden,
                            in: inFeatures, activation: activation, into: out)
                    }
                }
            }
        }
        return out
    }

    /// act(x gate^T) * (x up^T) written into `out` ([..., hidden]); see
    /// `gatedLinear(x:xShape:gate:up:hidden:in:activation:)`. `out` must not overlap the
    /// inputs. On failure `out` is left unchanged.
    public static func gatedLinear<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], gate: UnsafeBufferPointer<T>,
        up: UnsafeBufferPointer<T>, hidden: Int, in inFeatures: Int,
        activation: Activation = .silu, into out: UnsafeMutableBufferPointer<T>
    ) throws {
        let weightShape = [hidden, inFeatures]
        let outShape = Array(xShape.dropLast()) + [hidden]
        try checkCount(x.count, "x", shape: xShape)
        try checkCount(gate.count, "gate", shape: weightShape)
        try checkCount(up.count, "up", shape: weightShape)
        try checkCount(out.count, "out", shape: outShape)
        try withTensors { t in
            try check(mlxp_gated_linear(
                t.tensor(x, xShape), t.tensor(gate, weightShape), t.tensor(up, weightShape),
                activation.rawValue, t.tensor(out, outShape)))
        }
    }

    /// Gradients of `gatedLinear`, as `mlxp_gated_linear_backward` defines them: with
    /// g = x gate^T and u = x up^T recomputed in float32,
    /// dg = dout * u * act'(g), du = dout * act(g);
    /// dx = dg gate + du up, dgate = dg^T x, dup = du^T x (summed over every row of x),
    /// in float32 with one rounding into T.
    ///
    /// - Parameters:
    ///   - x, gate, up, hidden, in, activation: exactly as given to the forward call.
    ///   - dout: the gradient of the output, [..., hidden] (x's leading dimensions).
    ///   - returnDX, returnDGate, returnDUp: false skips that gradient (it is not computed).
    /// - Returns: dx (x's shape) and dgate, dup ([hidden, in] each, the gradients of the
    ///   weights `gate` and `up`); nil where skipped.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (a count, x's last axis is not `in`)
    ///   or `.invalidArgument`.
    public static func gatedLinearBackward<T: MLXPrimElement>(
        x: [T], xShape: [Int], gate: [T], up: [T], dout: [T], hidden: Int, in inFeatures: Int,
        activation: Activation = .silu, returnDX: Bool = true, returnDGate: Bool = true,
        returnDUp: Bool = true
    ) throws -> (dx: [T]?, dgate: [T]?, dup: [T]?) {
        let xCount = try elementCount(xShape, "dx")
        let weightCount = try elementCount([hidden, inFeatures], "dgate")
        var dx = returnDX ? [T](repeating: 0, count: xCount) : nil
        var dgate = returnDGate ? [T](repeating: 0, count: weightCount) : nil
        var dup = returnDUp ? [T](repeating: 0, count: weightCount) : nil
        try x.withUnsafeBufferPointer { x in
            try gate.withUnsafeBufferPointer { gate in
                try up.withUnsafeBufferPointer { up in
                    try dout.withUnsafeBufferPointer { dout in
                        try withOptionalMutableBuffer(&dx) { dx in
                            try withOptionalMutableBuffer(&dgate) { dgate in
                                try withOptionalMutableBuffer(&dup) { dup in
                                    try gatedLinearBackward(
                                        x: x, xShape: xShape, gate: gate, up: up, dout: dout,
                                        hidden: hidden, in: inFeatures, activation: activation,
                                        dx: dx, dgate: dgate, dup: dup)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dgate, dup)
    }

    /// Gated MLP gradients written into caller memory; see the array form of
    /// `gatedLinearBackward`. `dx` holds x's element count, `dgate` and `dup` hidden * in
    /// each; nil skips that gradient. They may not overlap each other or any input. On
    /// failure nothing is written.
    public static func gatedLinearBackward<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, xShape: [Int], gate: UnsafeBufferPointer<T>,
        up: UnsafeBufferPointer<T>, dout: UnsafeBufferPointer<T>, hidden: Int,
        in inFeatures: Int, activation: Activation = .silu,
        dx: UnsafeMutableBufferPointer<T>? = nil, dgate: UnsafeMutableBufferPointer<T>? = nil,
        dup: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        let weightShape = [hidden, inFeatures]
        let doutShape = Array(xShape.dropLast()) + [hidden]
        try checkCount(x.count, "x", shape: xShape)
        try checkCount(gate.count, "gate", shape: weightShape)
        try checkCount(up.count, "up", shape: weightShape)
        try checkCount(dout.count, "dout", shape: doutShape)
        if let dx {
            try checkCount(dx.count, "dx", shape: xShape)
        }
        if let dgate {
            try checkCount(dgate.count, "dgate", shape: weightShape)
        }
        if let dup {
            try checkCount(dup.count, "dup", shape: weightShape)
        }
        try withTensors { t in
            try check(mlxp_gated_linear_backward(
                t.tensor(x, xShape), t.tensor(gate, weightShape), t.tensor(up, weightShape),
                t.tensor(dout, doutShape), activation.rawValue, dx.map { t.tensor($0, xShape) },
                dgate.map { t.tensor($0, weightShape) }, dup.map { t.tensor($0, weightShape) }))
        }
    }

    /// The output shape of a matmul: the broadcast batch dimensions, then [M, N]. Only what
    /// is needed to size the result is checked here; the library checks the rest (K).
    static func matmulShape(
        _ aShape: [Int], _ bShape: [Int], transA: Bool, transB: Bool
    ) throws -> [Int] {
        guard aShape.count >= 2, bShape.count >= 2 else {
            throw MLXPrimError(
                status: .shapeMismatch,
                message: "matmul: a \(aShape) and b \(bShape) need at least 2 dimensions each")
        }
        let m = transA ? aShape[aShape.count - 1] : aShape[aShape.count - 2]
        let n = transB ? bShape[bShape.count - 2] : bShape[bShape.count - 1]
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let aPadded = Array(repeating: 1, count: rank - aBatch.count) + aBatch
        let bPadded = Array(repeating: 1, count: rank - bBatch.count) + bBatch
        var batch: [Int] = []
        for (da, db) in zip(aPadded, bPadded) {
            switch (da, db) {
            case _ where da == db || db == 1: batch.append(da)
            case _ where da == 1: batch.append(db)
            case _ where da < 0 || db < 0: batch.append(min(da, db))  // the library rejects it
            default:
                throw MLXPrimError(
                    status: .shapeMismatch,
                    message: "matmul: batch dimensions of a \(aShape) and b \(bShape) "
                        + "do not broadcast")
            }
        }
        return batch + [m, n]
    }
}
