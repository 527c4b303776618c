import CMLXPrim

extension MLXPrim {
    /// Softmax (or log-softmax) over the last axis of `x`, as `mlxp_softmax` defines it:
    /// with z = x / temperature per row, exp(z - max z) / sum exp(z - max z), or its log.
    ///
    /// - Parameters:
    ///   - x: row-major input with `shape`'s element count.
    ///   - shape: sizes, last axis reduced; at least one axis, last axis >= 1.
    ///   - temperature: divides the logits; finite and > 0.
    ///   - log: true for log-softmax.
    /// - Returns: an array of `x`'s shape.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (count or shape) or
    ///   `.invalidArgument` (temperature, negative or too many sizes).
    public static func softmax<T: MLXPrimElement>(
        _ x: [T], shape: [Int], temperature: Float = 1, log: Bool = false
    ) throws -> [T] {
        var output = [T](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { x in
            try output.withUnsafeMutableBufferPointer { out in
                try softmax(x, shape: shape, into: out, temperature: temperature, log: log)
            }
        }
        return output
    }

    /// Softmax (or log-softmax) of `x` written into `out`; see `softmax(_:shape:temperature:log:)`.
    /// `out` may be the same memory as `x` (in place); any other overlap is rejected.
    /// On failure `out` is left unchanged.
    public static func softmax<T: MLXPrimElement>(
        _ x: UnsafeBufferPointer<T>, shape: [Int], into out: UnsafeMutableBufferPointer<T>,
        temperature: Float = 1, log: Bool = false
    ) throws {
        try checkCount(x.count, "x", shape: shape)
        try checkCount(out.count, "out", shape: shape)
        var params = mlxp_softmax_params()
        try check(mlxp_softmax_params_init(&params))
        params.temperature = temperature
        params.log = log ? 1 : 0
        try withDims(shape) { dims in
            var xt = tensor(x.baseAddress, of: T.self, shape: dims)
            var ot = tensor(out.baseAddress, of: T.self, shape: dims)
            try check(mlxp_softmax(&xt, &ot, &params))
        }
    }
}
