import CMLXPrim

extension MLXPrim {
    /// RMS normalization over the last axis with an optional fused residual add, as
    /// `mlxp_rms_norm` defines it: h = x (+ residual, rounded to T), then per row
    /// h / sqrt(mean(h^2) + eps) * weight.
    ///
    /// - Parameters:
    ///   - x: row-major input with `shape`'s element count.
    ///   - shape: sizes [..., D]; at least one axis, D >= 1.
    ///   - weight: D per-channel scales, or nil for 1.
    ///   - residual: added to `x` before normalizing, with `x`'s count, or nil.
    ///   - eps: added to the mean square; finite and >= 0.
    /// - Returns: the normalized output and, when `residual` was given, the sum h (the next
    ///   layer's residual stream); both of `x`'s shape.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (a count or the weight length) or
    ///   `.invalidArgument` (eps, negative or too many sizes).
    public static func rmsNorm<T: MLXPrimElement>(
        _ x: [T], shape: [Int], weight: [T]? = nil, residual: [T]? = nil, eps: Float = 1e-6
    ) throws -> (output: [T], residualSum: [T]?) {
        var output = [T](repeating: 0, count: x.count)
        var residualSum = residual.map { _ in [T](repeating: 0, count: x.count) }
        try x.withUnsafeBufferPointer { x in
            try withOptionalBuffer(weight) { weight in
                try withOptionalBuffer(residual) { residual in
                    try output.withUnsafeMutableBufferPointer { out in
                        try withOptionalMutableBuffer(&residualSum) { sum in
                            try rmsNorm(
                                x, shape: shape, weight: weight, residual: residual, eps: eps,
                                into: out, residualSum: sum)
                        }
                    }
                }
            }
        }
        return (output, residualSum)
    }

    /// RMS normalization of `x` written into `out`; see `rmsNorm(_:shape:weight:residual:eps:)`.
    /// `residualSum`, when given, receives h. `out` and `residualSum` may each be the same
    /// memory as `x` or `residual` (in place), but not each other; any other overlap is
    /// rejected. On failure no output is changed.
    public static func rmsNorm<T: MLXPrimElement>(
        _ x: UnsafeBufferPointer<T>, shape: [Int], weight: UnsafeBufferPointer<T>? = nil,
        residual: UnsafeBufferPointer<T>? = nil, eps: Float = 1e-6,
        into out: UnsafeMutableBufferPointer<T>,
        residualSum: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try checkCount(x.count, "x", shape: shape)
        try checkCount(out.count, "out", shape: shape)
        if let residual {
            try checkCount(residual.count, "residual", shape: shape)
        }
        if let residualSum {
            try checkCount(residualSum.count, "residualSum", shape: shape)
        }
        var params = mlxp_rms_norm_params()
        try check(mlxp_rms_norm_params_init(&params))
        params.eps = eps
        // The weight is described with its own length, so the library reports a wrong one.
        try withDims(shape) { dims in
            try withDims([weight?.count ?? 0]) { weightDims in
                var xt = tensor(x.baseAddress, of: T.self, shape: dims)
                var ot = tensor(out.baseAddress, of: T.self, shape: dims)
                var wt = weight.map { tensor($0.baseAddress, of: T.self, shape: weightDims) }
                var rt = residual.map { tensor($0.baseAddress, of: T.self, shape: dims) }
                var st = residualSum.map { tensor($0.baseAddress, of: T.self, shape: dims) }
                try withOptionalPointer(to: &wt) { wt in
                    try withOptionalPointer(to: &rt) { rt in
                        try withOptionalPointer(to: &st) { st in
                            try check(mlxp_rms_norm(&xt, wt, rt, &ot, st, &params))
                        }
                    }
                }
            }
        }
    }
}
