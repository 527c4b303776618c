import CMLXPrim

// LayerNorm, GroupNorm and the normalization backward passes. The forward ops share
// rmsNorm's fused residual: h = x (+ residual, rounded to T); `residualSum` receives h.
// The backward ops take h (x, or the forward call's residualSum) and return dx, which is
// also the gradient of x and of the residual.

/// mlxp_layer_norm and mlxp_group_norm take the same arguments.
private typealias NormForward = (
    UnsafePointer<mlxp_tensor>?, UnsafePointer<mlxp_tensor>?, UnsafePointer<mlxp_tensor>?,
    UnsafePointer<mlxp_tensor>?, UnsafeMutablePointer<mlxp_tensor>?,
    UnsafeMutablePointer<mlxp_tensor>?, UnsafePointer<mlxp_norm_params>?
) -> mlxp_status

/// mlxp_layer_norm_backward and mlxp_group_norm_backward take the same arguments.
private typealias NormBackward = (
    UnsafePointer<mlxp_tensor>?, UnsafePointer<mlxp_tensor>?, UnsafePointer<mlxp_tensor>?,
    UnsafePointer<mlxp_tensor>?, UnsafeMutablePointer<mlxp_tensor>?,
    UnsafeMutablePointer<mlxp_tensor>?, UnsafeMutablePointer<mlxp_tensor>?,
    UnsafePointer<mlxp_norm_params>?
) -> mlxp_status

extension MLXPrim {
    // MARK: - Forward

    /// Layer normalization over the last axis with optional affine parameters and a fused
    /// residual add, as `mlxp_layer_norm` defines it: per row of h,
    /// (h - mean) / sqrt(var + eps) * weight + bias (biased variance).
    ///
    /// - Parameters:
    ///   - x: row-major input with `shape`'s element count; shape [..., D], D >= 1.
    ///   - weight, bias: D values each, or nil for 1 and 0.
    ///   - residual: added to `x` before normalizing, with `x`'s count, or nil.
    ///   - eps: added to the variance; finite and >= 0.
    /// - Returns: the normalized output and, when `residual` was given, the sum h.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument` (eps, sizes).
    public static func layerNorm<T: MLXPrimElement>(
        _ x: [T], shape: [Int], weight: [T]? = nil, bias: [T]? = nil, residual: [T]? = nil,
        eps: Float = 1e-5
    ) throws -> (output: [T], residualSum: [T]?) {
        try normForward(
            mlxp_layer_norm, x, shape: shape, weight: weight, bias: bias, residual: residual,
            eps: eps, numGroups: 1)
    }

    /// Layer normalization written into caller memory; see
    /// `layerNorm(_:shape:weight:bias:residual:eps:)`. `out` and `residualSum` may each be
    /// the same memory as `x` or `residual`, but not each other. On failure nothing changes.
    public static func layerNorm<T: MLXPrimElement>(
        _ x: UnsafeBufferPointer<T>, shape: [Int], weight: UnsafeBufferPointer<T>? = nil,
        bias: UnsafeBufferPointer<T>? = nil, residual: UnsafeBufferPointer<T>? = nil,
        eps: Float = 1e-5, into out: UnsafeMutableBufferPointer<T>,
        residualSum: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try normForward(
            mlxp_layer_norm, x, shape: shape, weight: weight, bias: bias, residual: residual,
            eps: eps, numGroups: 1, into: out, residualSum: residualSum)
    }

    /// Group normalization of a channels-first tensor, as `mlxp_group_norm` defines it: for
    /// each sample and group of C / numGroups channels, statistics over those channels and
    /// all positions; then (h - mean) / sqrt(var + eps) * weight[c] + bias[c].
    ///
    /// - Parameters:
    ///   - x: [N, C, spatial...] with `shape`'s element count.
    ///   - numGroups: G >= 1, dividing C.
    ///   - weight, bias: C values each, or nil.
    ///   - residual: added to `x` before normalizing, or nil.
    /// - Returns: the normalized output and, when `residual` was given, the sum h.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (including G not dividing C) or
    ///   `.invalidArgument` (G < 1, eps, sizes).
    public static func groupNorm<T: MLXPrimElement>(
        _ x: [T], shape: [Int], numGroups: Int, weight: [T]? = nil, bias: [T]? = nil,
        residual: [T]? = nil, eps: Float = 1e-5
    ) throws -> (output: [T], residualSum: [T]?) {
        try normForward(
            mlxp_group_norm, x, shape: shape, weight: weight, bias: bias, residual: residual,
            eps: eps, numGroups: numGroups)
    }

    /// Group normalization written into caller memory; see
    /// `groupNorm(_:shape:numGroups:weight:bias:residual:eps:)`. Aliasing as `layerNorm`.
    public static func groupNorm<T: MLXPrimElement>(
        _ x: UnsafeBufferPointer<T>, shape: [Int], numGroups: Int,
        weight: UnsafeBufferPointer<T>? = nil, bias: UnsafeBufferPointer<T>? = nil,
        residual: UnsafeBufferPointer<T>? = nil, eps: Float = 1e-5,
        into out: UnsafeMutableBufferPointer<T>, residualSum: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try normForward(
            mlxp_group_norm, x, shape: shape, weight: weight, bias: bias, residual: residual,
            eps: eps, numGroups: numGroups, into: out, residualSum: residualSum)
    }

    // MARK: - Backward

    /// Gradients of `rmsNorm`, as `mlxp_rms_norm_backward` defines them: with
    /// r = 1/sqrt(mean(h^2) + eps) and g = dy * weight per row,
    /// dx = r g - h r^3 mean(g h) (+ dResidualOut), dweight = sum over rows of dy h r.
    ///
    /// - Parameters:
    ///   - h: the forward input (x, or the forward call's residual sum); shape [..., D].
    ///   - weight: as in the forward call, or nil.
    ///   - dy: gradient of the output, h's shape.
    ///   - dResidualOut: gradient reaching the forward residual sum from later layers, or nil.
    ///   - eps: as in the forward call.
    /// - Returns: dx (h's shape) and dweight (D values).
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument`.
    public static func rmsNormBackward<T: MLXPrimElement>(
        h: [T], shape: [Int], weight: [T]? = nil, dy: [T], dResidualOut: [T]? = nil,
        eps: Float = 1e-6
    ) throws -> (dx: [T], dweight: [T]) {
        var dx = [T](repeating: 0, count: h.count)
        var dweight = [T](repeating: 0, count: max(shape.last ?? 0, 0))
        try h.withUnsafeBufferPointer { h in
            try withOptionalBuffer(weight) { weight in
                try dy.withUnsafeBufferPointer { dy in
                    try withOptionalBuffer(dResidualOut) { dResidualOut in
                        try dx.withUnsafeMutableBufferPointer { dx in
                            try dweight.withUnsafeMutableBufferPointer { dweight in
                                try rmsNormBackward(
                                    h: h, shape: shape, weight: weight, dy: dy,
                                    dResidualOut: dResidualOut, eps: eps, dx: dx, dweight: dweight)
                            }
                        }
                    }
                }
            }
        }
        return (dx, dweight)
    }

    /// RMSNorm gradients written into caller memory; see
    /// `rmsNormBackward(h:shape:weight:dy:dResidualOut:eps:)`. `dx` may be `dy` itself;
    /// `dweight` nil skips the weight gradient. On failure nothing changes.
    public static func rmsNormBackward<T: MLXPrimElement>(
        h: UnsafeBufferPointer<T>, shape: [Int], weight: UnsafeBufferPointer<T>? = nil,
        dy: UnsafeBufferPointer<T>, dResidualOut: UnsafeBufferPointer<T>? = nil,
        eps: Float = 1e-6, dx: UnsafeMutableBufferPointer<T>,
        dweight: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try checkCount(h.count, "h", shape: shape)
        try checkCount(dy.count, "dy", shape: shape)
        try checkCount(dx.count, "dx", shape: shape)
        if let dResidualOut {
            try checkCount(dResidualOut.count, "dResidualOut", shape: shape)
        }
        var params = try normParams(eps: eps, numGroups: 1)
        try withTensors { t in
            try check(mlxp_rms_norm_backward(
                t.tensor(h, shape), t.vector(weight), t.tensor(dy, shape),
                dResidualOut.map { t.tensor($0, shape) }, t.tensor(dx, shape), t.vector(dweight),
                &params))
        }
    }

    /// Gradients of `layerNorm`, as `mlxp_layer_norm_backward` defines them: with
    /// xhat = (h - mean) r, r = 1/sqrt(var + eps) and g = dy * weight per row,
    /// dx = r (g - mean(g) - xhat mean(g xhat)) (+ dResidualOut),
    /// dweight = sum over rows of dy xhat, dbias = sum over rows of dy.
    ///
    /// - Parameters: as `rmsNormBackward`; the bias does not enter the gradients.
    /// - Returns: dx (h's shape), dweight and dbias (D values each).
    public static func layerNormBackward<T: MLXPrimElement>(
        h: [T], shape: [Int], weight: [T]? = nil, dy: [T], dResidualOut: [T]? = nil,
        eps: Float = 1e-5
    ) throws -> (dx: [T], dweight: [T], dbias: [T]) {
        try normBackward(
            mlxp_layer_norm_backward, h: h, shape: shape, channels: shape.last ?? 0,
            weight: weight, dy: dy, dResidualOut: dResidualOut, eps: eps, numGroups: 1)
    }

    /// LayerNorm gradients written into caller memory; see
    /// `layerNormBackward(h:shape:weight:dy:dResidualOut:eps:)`. `dx` may be `dy` itself;
    /// nil `dweight` or `dbias` skips that gradient. On failure nothing changes.
    public static func layerNormBackward<T: MLXPrimElement>(
        h: UnsafeBufferPointer<T>, shape: [Int], weight: UnsafeBufferPointer<T>? = nil,
        dy: UnsafeBufferPointer<T>, dResidualOut: UnsafeBufferPointer<T>? = nil,
        eps: Float = 1e-5, dx: UnsafeMutableBufferPointer<T>,
        dweight: UnsafeMutableBufferPointer<T>? = nil, dbias: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try normBackward(
            mlxp_layer_norm_backward, h: h, shape: shape, weight: weight, dy: dy,
            dResidualOut: dResidualOut, eps: eps, numGroups: 1, dx: dx, dweight: dweight,
            dbias: dbias)
    }

    /// Gradients of `groupNorm`, as `mlxp_group_norm_backward` defines them: the layerNorm
    /// formula per (sample, group); dweight and dbias summed over samples and positions.
    ///
    /// - Parameters: h and dy [N, C, spatial...]; `numGroups` as in the forward call.
    /// - Returns: dx (h's shape), dweight and dbias (C values each).
    public static func groupNormBackward<T: MLXPrimElement>(
        h: [T], shape: [Int], numGroups: Int, weight: [T]? = nil, dy: [T],
        dResidualOut: [T]? = nil, eps: Float = 1e-5
    ) throws -> (dx: [T], dweight: [T], dbias: [T]) {
        try normBackward(
            mlxp_group_norm_backward, h: h, shape: shape, channels: shape.count > 1 ? shape[1] : 0,
            weight: weight, dy: dy, dResidualOut: dResidualOut, eps: eps, numGroups: numGroups)
    }

    /// GroupNorm gradients written into caller memory; see
    /// `groupNormBackward(h:shape:numGroups:weight:dy:dResidualOut:eps:)`.
    public static func groupNormBackward<T: MLXPrimElement>(
        h: UnsafeBufferPointer<T>, shape: [Int], numGroups: Int,
        weight: UnsafeBufferPointer<T>? = nil, dy: UnsafeBufferPointer<T>,
        dResidualOut: UnsafeBufferPointer<T>? = nil, eps: Float = 1e-5,
        dx: UnsafeMutableBufferPointer<T>, dweight: UnsafeMutableBufferPointer<T>? = nil,
        dbias: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        try normBackward(
            mlxp_group_norm_backward, h: h, shape: shape, weight: weight, dy: dy,
            dResidualOut: dResidualOut, eps: eps, numGroups: numGroups, dx: dx, dweight: dweight,
            dbias: dbias)
    }

    // MARK: - Shared marshalling

    private static func normParams(eps: Float, numGroups: Int) throws -> mlxp_norm_params {
        var params = mlxp_norm_params()
        try check(mlxp_norm_params_init(&params))
        params.eps = eps
        // An out-of-range count becomes a value the library rejects, never a trap.
        params.num_groups = Int32(clamping: numGroups)
        return params
    }

    private static func normForward<T: MLXPrimElement>(
        _ op: NormForward, _ x: [T], shape: [Int], weight: [T]?, bias: [T]?, residual: [T]?,
        eps: Float, numGroups: Int
    ) throws -> (output: [T], residualSum: [T]?) {
        var output = [T](repeating: 0, count: x.count)
        var residualSum = residual.map { _ in [T](repeating: 0, count: x.count) }
        try x.withUnsafeBufferPointer { x in
            try withOptionalBuffer(weight) { weight in
                try withOptionalBuffer(bias) { bias in
                    try withOptionalBuffer(residual) { residual in
                        try output.withUnsafeMutableBufferPointer { out in
                            try withOptionalMutableBuffer(&residualSum) { sum in
                                try normForward(
                                    op, x, shape: shape, weight: weight, bias: bias,
                                    residual: residual, eps: eps, numGroups: numGroups, into: out,
                                    residualSum: sum)
                            }
                        }
                    }
                }
            }
        }
        return (output, residualSum)
    }

    private static func normForward<T: MLXPrimElement>(
        _ op: NormForward, _ x: UnsafeBufferPointer<T>, shape: [Int],
        weight: UnsafeBufferPointer<T>?, bias: UnsafeBufferPointer<T>?,
        residual: UnsafeBufferPointer<T>?, eps: Float, numGroups: Int,
        into out: UnsafeMutableBufferPointer<T>, residualSum: UnsafeMutableBufferPointer<T>?
    ) throws {
        try checkCount(x.count, "x", shape: shape)
        try checkCount(out.count, "out", shape: shape)
        if let residual {
            try checkCount(residual.count, "residual", shape: shape)
        }
        if let residualSum {
            try checkCount(residualSum.count, "residualSum", shape: shape)
        }
        var params = try normParams(eps: eps, numGroups: numGroups)
        // weight and bias are described with their own lengths: the library checks them.
        try withTensors { t in
            try check(op(
                t.tensor(x, shape), t.vector(weight), t.vector(bias),
                residual.map { t.tensor($0, shape) }, t.tensor(out, shape),
                residualSum.map { t.tensor($0, shape) }, &params))
        }
    }

    private static func normBackward<T: MLXPrimElement>(
        _ op: NormBackward, h: [T], shape: [Int], channels: Int, weight: [T]?, dy: [T],
        dResidualOut: [T]?, eps: Float, numGroups: Int
    ) throws -> (dx: [T], dweight: [T], dbias: [T]) {
        var dx = [T](repeating: 0, count: h.count)
        var dweight = [T](repeating: 0, count: max(channels, 0))
        var dbias = dweight
        try h.withUnsafeBufferPointer { h in
            try withOptionalBuffer(weight) { weight in
                try dy.withUnsafeBufferPointer { dy in
                    try withOptionalBuffer(dResidualOut) { dResidualOut in
                        try dx.withUnsafeMutableBufferPointer { dx in
                            try dweight.withUnsafeMutableBufferPointer { dweight in
                                try dbias.withUnsafeMutableBufferPointer { dbias in
                                    try normBackward(
                                        op, h: h, shape: shape, weight: weight, dy: dy,
                                        dResidualOut: dResidualOut, eps: eps,
                                        numGroups: numGroups, dx: dx, dweight: dweight,
                                        dbias: dbias)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dweight, dbias)
    }

    private static func normBackward<T: MLXPrimElement>(
        _ op: NormBackward, h: UnsafeBufferPointer<T>, shape: [Int],
        weight: UnsafeBufferPointer<T>?, dy: UnsafeBufferPointer<T>,
        dResidualOut: UnsafeBufferPointer<T>?, eps: Float, numGroups: Int,
        dx: UnsafeMutableBufferPointer<T>, dweight: UnsafeMutableBufferPointer<T>?,
        dbias: UnsafeMutableBufferPointer<T>?
    ) throws {
        try checkCount(h.count, "h", shape: shape)
        try checkCount(dy.count, "dy", shape: shape)
        try checkCount(dx.count, "dx", shape: shape)
        if let dResidualOut {
            try checkCount(dResidualOut.count, "dResidualOut", shape: shape)
        }
        var params = try normParams(eps: eps, numGroups: numGroups)
        try withTensors { t in
            try check(op(
                t.tensor(h, shape), t.vector(weight), t.tensor(dy, shape),
                dResidualOut.map { t.tensor($0, shape) }, t.tensor(dx, shape), t.vector(dweight),
                t.vector(dbias), &params))
        }
    }
}
