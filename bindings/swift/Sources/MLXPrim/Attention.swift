import CMLXPrim

/// The options of `flashAttention` and `slidingWindowAttention`: `mlxp_attention_params`
/// with Swift types and the header's defaults.
///
/// Logits are formed in the header's order: scale * q.k, soft cap, bias, ALiBi, then the
/// masks (causal, window, key lengths). Causal masking and the window are bottom-right
/// aligned: query i sits at position i' = i + (Lk - Lq).
public struct AttentionParams: Equatable, Sendable {
    /// The order of the four dimensions of q, k, v and the output (MLXP_LAYOUT_*).
    public typealias Layout = RopeParams.Layout

    /// Multiplies q.k; finite. 0 means 1/sqrt(head_dim).
    public var scale: Float = 0
    /// true: query i sees key j only when j <= i + (Lk - Lq).
    public var causal: Bool = true
    /// Keys before (left) and after (right) the diagonal that stay visible; -1 means all.
    public var windowLeft: Int = -1
    public var windowRight: Int = -1
    public var layout: Layout = .bshd
    /// > 0: logits become softcap * tanh(logit / softcap) (Gemma 2); 0 means none.
    public var softcap: Float = 0
    /// An additive logit bias broadcastable (NumPy rules) to [B, Hq, Lq, Lk] whatever the
    /// layout, with its shape in `biasShape`; -Inf entries mask. nil means none.
    public var bias: [Float]? = nil
    public var biasShape: [Int]? = nil
    /// Hq ALiBi slopes: logits get -slope[h] * (i' - j). `MLXPrim.alibiSlopes(numHeads:)`
    /// gives the standard ones. nil means no ALiBi.
    public var alibiSlopes: [Float]? = nil
    /// B lengths: keys at or beyond keyLengths[b] are masked (padding). nil means all Lk.
    public var keyLengths: [Int32]? = nil
    /// Hq logits, one per head, added to the softmax denominator and carrying no value
    /// (attention sinks). nil means none.
    public var sinks: [Float]? = nil

    public init(
        scale: Float = 0, causal: Bool = true, windowLeft: Int = -1, windowRight: Int = -1,
        layout: Layout = .bshd, softcap: Float = 0, bias: [Float]? = nil,
        biasShape: [Int]? = nil, alibiSlopes: [Float]? = nil, keyLengths: [Int32]? = nil,
        sinks: [Float]? = nil
    ) {
        self.scale = scale
        self.causal = causal
        self.windowLeft = windowLeft
        self.windowRight = windowRight
        self.layout = layout
        self.softcap = softcap
        self.bias = bias
        self.biasShape = biasShape
        self.alibiSlopes = alibiSlopes
        self.keyLengths = keyLengths
        self.sinks = sinks
    }

    /// Calls body with the C struct (from mlxp_attention_params_init, so struct_size is the
    /// library's) whose optional tensors point into this value's arrays for the call.
    func withCParams<R>(
        _ t: TensorArena, _ body: (UnsafePointer<mlxp_attention_params>) throws -> R
    ) throws -> R {
        if let bias {
            guard let biasShape else {
                throw MLXPrimError(
                    status: .invalidArgument, message: "attention: bias needs biasShape")
            }
            try checkCount(bias.count, "bias", shape: biasShape)
        }
        var p = mlxp_attention_params()
        try check(mlxp_attention_params_init(&p))
        p.scale = scale
        p.causal = causal ? 1 : 0
        // Out-of-range values become values the library rejects, never a trap.
        p.window_left = Int32(clamping: windowLeft)
        p.window_right = Int32(clamping: windowRight)
        p.layout = layout.rawValue
        p.softcap = softcap
        return try withOptionalBuffer(bias) { bias in
            try withOptionalBuffer(alibiSlopes) { slopes in
                try withOptionalBuffer(keyLengths) { lengths in
                    try withOptionalBuffer(sinks) { sinks in
                        p.bias = bias.map { UnsafePointer(t.tensor($0, biasShape!)) }
                        p.alibi_slopes = t.vector(slopes).map { UnsafePointer($0) }
                        p.key_lengths = lengths.map {
                            UnsafePointer(t.tensor($0.baseAddress, .int32, [$0.count]))
                        }
                        p.sinks = t.vector(sinks).map { UnsafePointer($0) }
                        return try withUnsafePointer(to: p) { try body($0) }
                    }
                }
            }
        }
    }
}

extension MLXPrim {
    /// The standard ALiBi slopes of Press et al. for `numHeads` heads, as
    /// `mlxp_alibi_slopes` defines them (with the interpolation for head counts that are
    /// not powers of two): for 8 heads 2^-1, 2^-2, ..., 2^-8.
    /// - Throws: `.invalidArgument` when numHeads < 1.
    public static func alibiSlopes(numHeads: Int) throws -> [Float] {
        var slopes = [Float](repeating: 0, count: max(numHeads, 0))
        try slopes.withUnsafeMutableBufferPointer { out in
            try withTensors { t in
                try check(mlxp_alibi_slopes(Int32(clamping: numHeads), t.vector(out)))
            }
        }
        return slopes
    }

    /// Scaled dot-product attention, as `mlxp_flash_attention` defines it:
    /// softmax(scale * q k^T + bias + ALiBi + masks) v, in float32 with one rounding into T.
    /// A query that sees no key gets zeros (lse -Inf, or its head's sink logit).
    ///
    /// - Parameters:
    ///   - q: [B, Lq, Hq, D] (or [B, Hq, Lq, D] with layout `.bhsd`).
    ///   - k: [B, Lk, Hkv, D] with Hq % Hkv == 0; query head h reads KV head h / (Hq/Hkv).
    ///   - v: [B, Lk, Hkv, Dv].
    ///   - params: scale, masks, layout and the optional bias, ALiBi, key lengths, sinks.
    ///   - returnLSE: true also returns the natural log of each row's softmax denominator.
    /// - Returns: the output, its shape ([B, Lq, Hq, Dv] or [B, Hq, Lq, Dv]) and, with
    ///   `returnLSE`, the lse as [B, Hq, Lq].
    /// - Throws: `MLXPrimError` with `.shapeMismatch` (a count, ndim, Hq % Hkv, head dims,
    ///   lengths of the optional arrays) or `.invalidArgument` (window below -1, scale, cap,
    ///   a key length outside 0...Lk).
    public static func flashAttention<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        params: AttentionParams = .init(), returnLSE: Bool = false
    ) throws -> (output: [T], shape: [Int], lse: [Float]?) {
        let outShape = attentionOutputShape(qShape, vShape)
        var output = [T](repeating: 0, count: try elementCount(outShape, "out"))
        var lse: [Float]? = nil
        if returnLSE {
            lse = [Float](repeating: 0, count: try elementCount(
                attentionLSEShape(qShape, params.layout), "lse"))
        }
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try output.withUnsafeMutableBufferPointer { out in
                        try withOptionalMutableBuffer(&lse) { lse in
                            try flashAttention(
                                q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                                params: params, into: out, lse: lse)
                        }
                    }
                }
            }
        }
        return (output, outShape, lse)
    }

    /// Attention written into caller memory; see
    /// `flashAttention(q:qShape:k:kShape:v:vShape:params:returnLSE:)`. `out` holds the
    /// output's elements, `lse` (or nil) B * Hq * Lq values; neither may overlap another
    /// buffer of the call. On failure nothing is written.
    public static func flashAttention<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], params: AttentionParams = .init(),
        into out: UnsafeMutableBufferPointer<T>, lse: UnsafeMutableBufferPointer<Float>? = nil
    ) throws {
        let outShape = attentionOutputShape(qShape, vShape)
        let lseShape = attentionLSEShape(qShape, params.layout)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        try checkCount(out.count, "out", shape: outShape)
        if let lse {
            try checkCount(lse.count, "lse", shape: lseShape)
        }
        try withTensors { t in
            try params.withCParams(t) { p in
                try check(mlxp_flash_attention(
                    t.tensor(q, qShape), t.tensor(k, kShape), t.tensor(v, vShape),
                    t.tensor(out, outShape), lse.map { t.tensor($0, lseShape) }, p))
            }
        }
    }

    /// Gradients of `flashAttention`, as `mlxp_flash_attention_backward` defines them
    /// (FlashAttention-2 style: the probabilities are recomputed from the saved lse). With
    /// P = exp(x - lse) for the forward logits x:
    /// dv = P^T dout, dS = P * (dout v^T - rowsum(dout * out)) (times 1 - tanh^2(s / cap)
    /// with a soft cap), dq = scale dS k, dk = scale dS^T q. With grouped-query heads dk
    /// and dv sum over the query heads sharing a KV head; the bias and sinks are constants
    /// (`flashAttentionBiasGrad` gives the bias's gradient; the sinks get none); a row with
    /// no visible key gives dq = 0.
    ///
    /// - Parameters:
    ///   - q, k, v, params: exactly as given to the forward call.
    ///   - out, lse: the forward call's output and lse (`returnLSE: true`, [B, Hq, Lq]).
    ///   - dout: the gradient of the output, in out's shape.
    /// - Returns: dq, dk and dv in the shapes of q, k and v.
    /// - Throws: as `flashAttention`.
    public static func flashAttentionBackward<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        out: [T], dout: [T], lse: [Float], params: AttentionParams = .init()
    ) throws -> (dq: [T], dk: [T], dv: [T]) {
        try newGradients(qShape, kShape, vShape) { dq, dk, dv in
            try withGradInputs(q, k, v, out, dout, lse) { q, k, v, out, dout, lse in
                try flashAttentionBackward(
                    q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                    out: out, dout: dout, lse: lse, params: params, dq: dq, dk: dk, dv: dv)
            }
        }
    }

    /// Attention gradients written into caller memory; see
    /// `flashAttentionBackward(q:qShape:k:kShape:v:vShape:out:dout:lse:params:)`. dq, dk and
    /// dv hold q's, k's and v's element counts and may not overlap each other or any input.
    /// On failure nothing is written.
    public static func flashAttentionBackward<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], out: UnsafeBufferPointer<T>,
        dout: UnsafeBufferPointer<T>, lse: UnsafeBufferPointer<Float>,
        params: AttentionParams = .init(), dq: UnsafeMutableBufferPointer<T>,
        dk: UnsafeMutableBufferPointer<T>, dv: UnsafeMutableBufferPointer<T>
    ) throws {
        try attentionBackward(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, out: out,
            dout: dout, lse: lse, params: params, dq: dq, dk: dk, dv: dv
        ) { t, p in
            mlxp_flash_attention_backward(
                t.q, t.k, t.v, t.out, t.dout, t.lse, t.dq, t.dk, t.dv, p)
        }
    }

    /// The gradient of the additive bias of `flashAttention`, as
    /// `mlxp_flash_attention_bias_grad` defines it. With P = exp(x - lse) for the forward
    /// logits x: dL/dx = P * (dout v^T - rowsum(dout * out)), which is the dS of
    /// `flashAttentionBackward` before the scale and the soft cap's derivative (the bias is
    /// added after the cap); dbias sums it over the dimensions along which the bias is
    /// broadcast to [B, Hq, Lq, Lk]. Masked keys and rows with no visible key add nothing.
    /// Bit-identical for any thread count.
    ///
    /// - Parameters:
    ///   - q, k, v, params: exactly as given to the forward call; params.bias must be set.
    ///   - out, lse: the forward call's output and lse (`returnLSE: true`, [B, Hq, Lq]).
    ///   - dout: the gradient of the output, in out's shape.
    /// - Returns: dbias in the bias's shape (`params.biasShape`).
    /// - Throws: as `flashAttention`; `.invalidArgument` when params.bias is nil.
    public static func flashAttentionBiasGrad<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        out: [T], dout: [T], lse: [Float], params: AttentionParams
    ) throws -> [Float] {
        // Without a bias there is nothing to allocate; the library reports the missing bias.
        var dbias = [Float](repeating: 0, count: try elementCount(
            params.biasShape ?? [0], "dbias"))
        try withGradInputs(q, k, v, out, dout, lse) { q, k, v, out, dout, lse in
            try dbias.withUnsafeMutableBufferPointer { dbias in
                try flashAttentionBiasGrad(
                    q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                    out: out, dout: dout, lse: lse, params: params, dbias: dbias)
            }
        }
        return dbias
    }

    /// The bias gradient written into caller memory; see
    /// `flashAttentionBiasGrad(q:qShape:k:kShape:v:vShape:out:dout:lse:params:)`. dbias
    /// holds the bias's element count and may not overlap any input (the bias included).
    /// On failure nothing is written.
    public static func flashAttentionBiasGrad<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], out: UnsafeBufferPointer<T>,
        dout: UnsafeBufferPointer<T>, lse: UnsafeBufferPointer<Float>,
        params: AttentionParams, dbias: UnsafeMutableBufferPointer<Float>
    ) throws {
        let outShape = attentionOutputShape(qShape, vShape)
        let lseShape = attentionLSEShape(qShape, params.layout)
        // dbias has the bias's shape; without a bias (or its shape) the library or
        // `withCParams` reports that, so dbias is then passed as a plain vector.
        let dbiasShape = (params.bias == nil ? nil : params.biasShape) ?? [dbias.count]
        try checkGradInputCounts(
            q, qShape, k, kShape, v, vShape, out, dout, outShape, lse, lseShape)
        try checkCount(dbias.count, "dbias", shape: dbiasShape)
        try withTensors { t in
            try params.withCParams(t) { p in
                try check(mlxp_flash_attention_bias_grad(
                    t.tensor(q, qShape), t.tensor(k, kShape), t.tensor(v, vShape),
                    t.tensor(out, outShape), t.tensor(dout, outShape), t.tensor(lse, lseShape),
                    t.tensor(dbias, dbiasShape), p))
            }
        }
    }

    /// Sliding-window attention, as `mlxp_sliding_window_attention` defines it: query i
    /// sees key j iff |i + (Lk - Lq) - j| <= windowSize, and also j <= i + (Lk - Lq) when
    /// `causal`. `windowSize` and `causal` replace the params' causal and window fields;
    /// the rest (scale, layout, bias, ALiBi, key lengths, sinks, cap) apply as in
    /// `flashAttention`.
    /// - Returns: the output and its shape, as `flashAttention`.
    /// - Throws: as `flashAttention`; `.invalidArgument` when windowSize < 0.
    public static func slidingWindowAttention<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        windowSize: Int, causal: Bool, params: AttentionParams = .init()
    ) throws -> (output: [T], shape: [Int]) {
        let outShape = attentionOutputShape(qShape, vShape)
        var output = [T](repeating: 0, count: try elementCount(outShape, "out"))
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try output.withUnsafeMutableBufferPointer { out in
                        try slidingWindowAttention(
                            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                            windowSize: windowSize, causal: causal, params: params, into: out)
                    }
                }
            }
        }
        return (output, outShape)
    }

    /// Sliding-window attention written into `out`; see
    /// `slidingWindowAttention(q:qShape:k:kShape:v:vShape:windowSize:causal:params:)`.
    /// `out` must not overlap the inputs. On failure nothing is written.
    public static func slidingWindowAttention<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], windowSize: Int, causal: Bool,
        params: AttentionParams = .init(), into out: UnsafeMutableBufferPointer<T>
    ) throws {
        let outShape = attentionOutputShape(qShape, vShape)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        try checkCount(out.count, "out", shape: outShape)
        try withTensors { t in
            try params.withCParams(t) { p in
                try check(mlxp_sliding_window_attention(
                    t.tensor(q, qShape), t.tensor(k, kShape), t.tensor(v, vShape),
                    Int32(clamping: windowSize), causal ? 1 : 0, t.tensor(out, outShape), p))
            }
        }
    }

    /// Attention over a packed batch of sequences of different lengths, without padding, as
    /// `mlxp_flash_attention_varlen` defines it: sequence b owns query rows
    /// cuSeqlensQ[b] ..< cuSeqlensQ[b+1] and key rows cuSeqlensK[b] ..< cuSeqlensK[b+1] and is
    /// attended alone (masks, window and ALiBi aligned bottom-right to its own lengths), so
    /// its rows equal `flashAttention` on that sequence by itself, bit for bit.
    ///
    /// - Parameters:
    ///   - q: [totalQ, Hq, D]; k: [totalK, Hkv, D]; v: [totalK, Hkv, Dv].
    ///   - cuSeqlensQ, cuSeqlensK: numSequences + 1 offsets each, starting at 0,
    ///     non-decreasing, ending at totalQ and totalK.
    ///   - params: as `flashAttention`, but the layout must be `.bshd` and bias and
    ///     keyLengths nil (the lengths are the cu_seqlens).
    ///   - returnLSE: true also returns the lse as [Hq, totalQ].
    /// - Returns: the output, its shape [totalQ, Hq, Dv] and, with `returnLSE`, the lse.
    /// - Throws: as `flashAttention`; `.invalidArgument` for inconsistent cu_seqlens.
    public static func flashAttentionVarlen<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        cuSeqlensQ: [Int32], cuSeqlensK: [Int32], params: AttentionParams = .init(),
        returnLSE: Bool = false
    ) throws -> (output: [T], shape: [Int], lse: [Float]?) {
        let (outShape, lseShape) = varlenShapes(qShape, vShape)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        var output = [T](repeating: 0, count: try elementCount(outShape, "out"))
        var lse: [Float]? = nil
        if returnLSE {
            lse = [Float](repeating: 0, count: try elementCount(lseShape, "lse"))
        }
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try cuSeqlensQ.withUnsafeBufferPointer { cuQ in
                        try cuSeqlensK.withUnsafeBufferPointer { cuK in
                            try output.withUnsafeMutableBufferPointer { out in
                                try withOptionalMutableBuffer(&lse) { lse in
                                    try withTensors { t in
                                        try params.withCParams(t) { p in
                                            try check(mlxp_flash_attention_varlen(
                                                t.tensor(q, qShape), t.tensor(k, kShape),
                                                t.tensor(v, vShape),
                                                t.tensor(cuQ.baseAddress, .int32, [cuQ.count]),
                                                t.tensor(cuK.baseAddress, .int32, [cuK.count]),
                                                t.tensor(out, outShape),
                                                lse.map { t.tensor($0, lseShape) }, p))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, outShape, lse)
    }

    /// Gradients of `flashAttentionVarlen`, as `mlxp_flash_attention_varlen_backward`
    /// defines them: each sequence's dq, dk and dv are those of `flashAttentionBackward` on
    /// that sequence by itself, bit for bit (a sequence's keys get no gradient from another
    /// sequence's queries; the keys of a sequence with no queries get zeros).
    ///
    /// - Parameters:
    ///   - q, k, v, cuSeqlensQ, cuSeqlensK, params: exactly as given to the forward call.
    ///   - out, lse: the forward call's output ([totalQ, Hq, Dv]) and lse (`returnLSE: true`,
    ///     [Hq, totalQ]).
    ///   - dout: the gradient of the output, in out's shape.
    /// - Returns: dq, dk and dv in the shapes of q, k and v.
    /// - Throws: as `flashAttentionBackward`; `.invalidArgument` for inconsistent cu_seqlens.
    public static func flashAttentionVarlenBackward<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        out: [T], dout: [T], lse: [Float], cuSeqlensQ: [Int32], cuSeqlensK: [Int32],
        params: AttentionParams = .init()
    ) throws -> (dq: [T], dk: [T], dv: [T]) {
        try newGradients(qShape, kShape, vShape) { dq, dk, dv in
            try withGradInputs(q, k, v, out, dout, lse) { q, k, v, out, dout, lse in
                try flashAttentionVarlenBackward(
                    q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                    out: out, dout: dout, lse: lse, cuSeqlensQ: cuSeqlensQ,
                    cuSeqlensK: cuSeqlensK, params: params, dq: dq, dk: dk, dv: dv)
            }
        }
    }

    /// Packed attention gradients written into caller memory; see the array form of
    /// `flashAttentionVarlenBackward`. dq, dk and dv hold q's, k's and v's element counts
    /// and may not overlap each other or any input. On failure nothing is written.
    public static func flashAttentionVarlenBackward<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], out: UnsafeBufferPointer<T>,
        dout: UnsafeBufferPointer<T>, lse: UnsafeBufferPointer<Float>, cuSeqlensQ: [Int32],
        cuSeqlensK: [Int32], params: AttentionParams = .init(),
        dq: UnsafeMutableBufferPointer<T>, dk: UnsafeMutableBufferPointer<T>,
        dv: UnsafeMutableBufferPointer<T>
    ) throws {
        let (outShape, lseShape) = varlenShapes(qShape, vShape)
        try checkGradInputCounts(
            q, qShape, k, kShape, v, vShape, out, dout, outShape, lse, lseShape)
        try checkCount(dq.count, "dq", shape: qShape)
        try checkCount(dk.count, "dk", shape: kShape)
        try checkCount(dv.count, "dv", shape: vShape)
        try cuSeqlensQ.withUnsafeBufferPointer { cuQ in
            try cuSeqlensK.withUnsafeBufferPointer { cuK in
                try withTensors { t in
                    try params.withCParams(t) { p in
                        try check(mlxp_flash_attention_varlen_backward(
                            t.tensor(q, qShape), t.tensor(k, kShape), t.tensor(v, vShape),
                            t.tensor(out, outShape), t.tensor(dout, outShape),
                            t.tensor(lse, lseShape),
                            t.tensor(cuQ.baseAddress, .int32, [cuQ.count]),
                            t.tensor(cuK.baseAddress, .int32, [cuK.count]),
                            t.tensor(dq, qShape), t.tensor(dk, kShape), t.tensor(dv, vShape), p))
                    }
                }
            }
        }
    }

    /// Attention over a long key axis computed `chunkSize` keys at a time, as
    /// `mlxp_chunked_cross_attention` defines it: each chunk's normalized partial result is
    /// merged in increasing chunk order in float64, with extra memory of two outputs
    /// whatever Lk. Masks, ALiBi, bias, key lengths and cap keep their meaning over the whole
    /// key axis; sinks are added once. With chunkSize >= Lk the result is `flashAttention`'s
    /// bit for bit; otherwise it differs only by rounding.
    ///
    /// - Parameters:
    ///   - chunkSize: keys per chunk, >= 0; 0 means 1024.
    ///   - causal: replaces the params' causal field (cross attention is usually false).
    ///   - the rest as `flashAttention`.
    /// - Returns: the output and its shape, as `flashAttention`.
    /// - Throws: as `flashAttention`; `.invalidArgument` when chunkSize < 0.
    public static func chunkedCrossAttention<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        chunkSize: Int, causal: Bool, params: AttentionParams = .init()
    ) throws -> (output: [T], shape: [Int]) {
        let outShape = attentionOutputShape(qShape, vShape)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        var output = [T](repeating: 0, count: try elementCount(outShape, "out"))
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try output.withUnsafeMutableBufferPointer { out in
                        try withTensors { t in
                            try params.withCParams(t) { p in
                                // Out-of-range sizes become values the library rejects.
                                try check(mlxp_chunked_cross_attention(
                                    t.tensor(q, qShape), t.tensor(k, kShape),
                                    t.tensor(v, vShape), Int32(clamping: chunkSize),
                                    causal ? 1 : 0, t.tensor(out, outShape), p))
                            }
                        }
                    }
                }
            }
        }
        return (output, outShape)
    }

    /// `flashAttention` with rotary embeddings applied to q and k as they are read (q and k
    /// are left unchanged), as `mlxp_flash_attention_rope` defines it: equals `rope` on q
    /// and on k followed by `flashAttention`, bit for bit. Key j has position
    /// rope.offset + j and query i position rope.offset + (Lk - Lq) + i (bottom-right, as
    /// in decoding the last Lq of Lk tokens).
    ///
    /// - Parameters:
    ///   - rope: frequencies, rotaryDim, pairing, scaling and offset; its layout is ignored
    ///     (params.layout applies to every tensor) and inverse must be false.
    ///   - the rest as `flashAttention`.
    /// - Returns: as `flashAttention`.
    /// - Throws: as `flashAttention` and `rope`.
    public static func flashAttentionRope<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        rope: RopeParams = RopeParams(), params: AttentionParams = .init(),
        returnLSE: Bool = false
    ) throws -> (output: [T], shape: [Int], lse: [Float]?) {
        let outShape = attentionOutputShape(qShape, vShape)
        let lseShape = attentionLSEShape(qShape, params.layout)
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        var output = [T](repeating: 0, count: try elementCount(outShape, "out"))
        var lse: [Float]? = nil
        if returnLSE {
            lse = [Float](repeating: 0, count: try elementCount(lseShape, "lse"))
        }
        var r = try rope.cParams()
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try output.withUnsafeMutableBufferPointer { out in
                        try withOptionalMutableBuffer(&lse) { lse in
                            try withTensors { t in
                                try params.withCParams(t) { p in
                                    try check(mlxp_flash_attention_rope(
                                        t.tensor(q, qShape), t.tensor(k, kShape),
                                        t.tensor(v, vShape), t.tensor(out, outShape),
                                        lse.map { t.tensor($0, lseShape) }, &r, p))
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, outShape, lse)
    }

    /// Gradients of `flashAttentionRope` with respect to the unrotated q and k, and v, as
    /// `mlxp_flash_attention_rope_backward` defines them. With R_q and R_k the forward call's
    /// rotations (key j at position rope.offset + j, query i at
    /// rope.offset + (Lk - Lq) + i, bottom-right) and dq', dk', dv the gradients
    /// `flashAttentionBackward` gives for the rotated inputs R_q q and R_k k (rotated into T,
    /// as the forward call does): dq = R_q^T dq', dk = R_k^T dk'. dq' and dk' stay float32
    /// until their one rounding into T. Bit-identical for any thread count.
    ///
    /// - Parameters:
    ///   - q, k, v, rope, params: exactly as given to the forward call (rope's layout is
    ///     ignored and inverse must be false).
    ///   - out, lse: the forward call's output and lse (`returnLSE: true`, [B, Hq, Lq]).
    ///   - dout: the gradient of the output, in out's shape.
    /// - Returns: dq, dk and dv in the shapes of q, k and v.
    /// - Throws: as `flashAttentionBackward` and `rope`.
    public static func flashAttentionRopeBackward<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T], kShape: [Int], v: [T], vShape: [Int],
        out: [T], dout: [T], lse: [Float], rope: RopeParams = RopeParams(),
        params: AttentionParams = .init()
    ) throws -> (dq: [T], dk: [T], dv: [T]) {
        try newGradients(qShape, kShape, vShape) { dq, dk, dv in
            try withGradInputs(q, k, v, out, dout, lse) { q, k, v, out, dout, lse in
                try flashAttentionRopeBackward(
                    q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape,
                    out: out, dout: dout, lse: lse, rope: rope, params: params, dq: dq,
                    dk: dk, dv: dv)
            }
        }
    }

    /// Fused RoPE attention gradients written into caller memory; see
    /// `flashAttentionRopeBackward(q:qShape:k:kShape:v:vShape:out:dout:lse:rope:params:)`.
    /// dq, dk and dv hold q's, k's and v's element counts and may not overlap each other or
    /// any input. On failure nothing is written.
    public static func flashAttentionRopeBackward<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], out: UnsafeBufferPointer<T>,
        dout: UnsafeBufferPointer<T>, lse: UnsafeBufferPointer<Float>,
        rope: RopeParams = RopeParams(), params: AttentionParams = .init(),
        dq: UnsafeMutableBufferPointer<T>, dk: UnsafeMutableBufferPointer<T>,
        dv: UnsafeMutableBufferPointer<T>
    ) throws {
        var r = try rope.cParams()
        try attentionBackward(
            q: q, qShape: qShape, k: k, kShape: kShape, v: v, vShape: vShape, out: out,
            dout: dout, lse: lse, params: params, dq: dq, dk: dk, dv: dv
        ) { t, p in
            mlxp_flash_attention_rope_backward(
                t.q, t.k, t.v, t.out, t.dout, t.lse, t.dq, t.dk, t.dv, &r, p)
        }
    }

    /// Combines two partial attention results over disjoint key sets (split-KV, a shared
    /// prefix), as `mlxp_merge_attention_states` defines it: with m = max(lseA, lseB),
    /// out = (e^(lseA-m) oA + e^(lseB-m) oB) / (e^(lseA-m) + e^(lseB-m)) and
    /// lse = m + log(e^(lseA-m) + e^(lseB-m)), in float64. A side with lse -Inf contributes
    /// nothing; both -Inf give zeros and -Inf.
    ///
    /// - Parameters:
    ///   - oA, oB: [B, L, H, D] each (`shape`), e.g. `flashAttention` outputs in BSHD.
    ///   - lseA, lseB: [B, H, L] each, the matching `flashAttention` lse.
    /// - Returns: the merged output ([B, L, H, D]) and lse ([B, H, L]).
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument`.
    public static func mergeAttentionStates<T: MLXPrimElement>(
        oA: [T], lseA: [Float], oB: [T], lseB: [Float], shape: [Int]
    ) throws -> (output: [T], lse: [Float]) {
        var output = [T](repeating: 0, count: try elementCount(shape, "out"))
        var lse: [Float]? = [Float](
            repeating: 0, count: try elementCount(mergeLSEShape(shape), "lse"))
        try oA.withUnsafeBufferPointer { oA in
            try lseA.withUnsafeBufferPointer { lseA in
                try oB.withUnsafeBufferPointer { oB in
                    try lseB.withUnsafeBufferPointer { lseB in
                        try output.withUnsafeMutableBufferPointer { out in
                            try withOptionalMutableBuffer(&lse) { lse in
                                try mergeAttentionStates(
                                    oA: oA, lseA: lseA, oB: oB, lseB: lseB, shape: shape,
                                    into: out, lse: lse)
                            }
                        }
                    }
                }
            }
        }
        return (output, lse!)
    }

    /// The merge written into caller memory; see
    /// `mergeAttentionStates(oA:lseA:oB:lseB:shape:)`. `out` may be `oA` or `oB` itself and
    /// `lse` (nil to skip) may be `lseA` or `lseB` itself; other overlaps are rejected. On
    /// failure nothing is written.
    public static func mergeAttentionStates<T: MLXPrimElement>(
        oA: UnsafeBufferPointer<T>, lseA: UnsafeBufferPointer<Float>, oB: UnsafeBufferPointer<T>,
        lseB: UnsafeBufferPointer<Float>, shape: [Int], into out: UnsafeMutableBufferPointer<T>,
        lse: UnsafeMutableBufferPointer<Float>? = nil
    ) throws {
        let lseShape = mergeLSEShape(shape)
        try checkCount(oA.count, "oA", shape: shape)
        try checkCount(oB.count, "oB", shape: shape)
        try checkCount(out.count, "out", shape: shape)
        try checkCount(lseA.count, "lseA", shape: lseShape)
        try checkCount(lseB.count, "lseB", shape: lseShape)
        if let lse {
            try checkCount(lse.count, "lse", shape: lseShape)
        }
        try withTensors { t in
            try check(mlxp_merge_attention_states(
                t.tensor(oA, shape), t.tensor(lseA, lseShape), t.tensor(oB, shape),
                t.tensor(lseB, lseShape), t.tensor(out, shape), lse.map { t.tensor($0, lseShape) }))
        }
    }

    /// q's shape with v's head dim last. A shape that is not 4-D is passed on unchanged for
    /// the library to reject.
    private static func attentionOutputShape(_ qShape: [Int], _ vShape: [Int]) -> [Int] {
        guard qShape.count == 4, vShape.count == 4 else {
            return qShape
        }
        return Array(qShape.dropLast()) + [vShape[3]]
    }

    /// [B, Hq, Lq] from q's shape in either layout.
    private static func attentionLSEShape(
        _ qShape: [Int], _ layout: AttentionParams.Layout
    ) -> [Int] {
        guard qShape.count == 4 else {
            return qShape
        }
        return layout == .bshd ? [qShape[0], qShape[2], qShape[1]] : Array(qShape.prefix(3))
    }

    /// The varlen output's [totalQ, Hq, Dv] and lse's [Hq, totalQ] from q's and v's shapes.
    /// Shapes that are not 3-D are passed on unchanged for the library to reject.
    private static func varlenShapes(
        _ qShape: [Int], _ vShape: [Int]
    ) -> (out: [Int], lse: [Int]) {
        guard qShape.count == 3, vShape.count == 3 else {
            return (qShape, qShape)
        }
        return ([qShape[0], qShape[1], vShape[2]], [qShape[1], qShape[0]])
    }

    /// [B, H, L] from [B, L, H, D].
    private static func mergeLSEShape(_ shape: [Int]) -> [Int] {
        guard shape.count == 4 else {
            return shape
        }
        return [shape[0], shape[2], shape[1]]
    }

    /// Calls body with buffer pointers to the arrays every gradient call reads: the
    /// forward call's inputs, its output and lse, and dout.
    private static func withGradInputs<T, R>(
        _ q: [T], _ k: [T], _ v: [T], _ out: [T], _ dout: [T], _ lse: [Float],
        _ body: (
            UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeBufferPointer<T>,
            UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeBufferPointer<Float>
        ) throws -> R
    ) rethrows -> R {
        try q.withUnsafeBufferPointer { q in
            try k.withUnsafeBufferPointer { k in
                try v.withUnsafeBufferPointer { v in
                    try out.withUnsafeBufferPointer { out in
                        try dout.withUnsafeBufferPointer { dout in
                            try lse.withUnsafeBufferPointer { lse in
                                try body(q, k, v, out, dout, lse)
                            }
                        }
                    }
                }
            }
        }
    }

    /// New dq, dk and dv of q's, k's and v's element counts, filled by body.
    private static func newGradients<T: MLXPrimElement>(
        _ qShape: [Int], _ kShape: [Int], _ vShape: [Int],
        _ body: (
            UnsafeMutableBufferPointer<T>, UnsafeMutableBufferPointer<T>,
            UnsafeMutableBufferPointer<T>
        ) throws -> Void
    ) throws -> (dq: [T], dk: [T], dv: [T]) {
        var dq = [T](repeating: 0, count: try elementCount(qShape, "dq"))
        var dk = [T](repeating: 0, count: try elementCount(kShape, "dk"))
        var dv = [T](repeating: 0, count: try elementCount(vShape, "dv"))
        try dq.withUnsafeMutableBufferPointer { dq in
            try dk.withUnsafeMutableBufferPointer { dk in
                try dv.withUnsafeMutableBufferPointer { dv in
                    try body(dq, dk, dv)
                }
            }
        }
        return (dq, dk, dv)
    }

    /// The descriptors of a gradient call, in the header's argument order.
    private typealias GradTensors = (
        q: UnsafeMutablePointer<mlxp_tensor>, k: UnsafeMutablePointer<mlxp_tensor>,
        v: UnsafeMutablePointer<mlxp_tensor>, out: UnsafeMutablePointer<mlxp_tensor>,
        dout: UnsafeMutablePointer<mlxp_tensor>, lse: UnsafeMutablePointer<mlxp_tensor>,
        dq: UnsafeMutablePointer<mlxp_tensor>, dk: UnsafeMutablePointer<mlxp_tensor>,
        dv: UnsafeMutablePointer<mlxp_tensor>
    )

    /// Checks the element counts of a gradient call's inputs against their shapes (dout
    /// has out's shape).
    private static func checkGradInputCounts<T: MLXPrimElement>(
        _ q: UnsafeBufferPointer<T>, _ qShape: [Int], _ k: UnsafeBufferPointer<T>,
        _ kShape: [Int], _ v: UnsafeBufferPointer<T>, _ vShape: [Int],
        _ out: UnsafeBufferPointer<T>, _ dout: UnsafeBufferPointer<T>, _ outShape: [Int],
        _ lse: UnsafeBufferPointer<Float>, _ lseShape: [Int]
    ) throws {
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(k.count, "k", shape: kShape)
        try checkCount(v.count, "v", shape: vShape)
        try checkCount(out.count, "out", shape: outShape)
        try checkCount(dout.count, "dout", shape: outShape)
        try checkCount(lse.count, "lse", shape: lseShape)
    }

    /// A gradient call over caller memory with q, k, v, out, dout and lse as
    /// `flashAttentionBackward` takes them: checks every buffer's count against its shape,
    /// then passes `call` the descriptors and the C attention parameters and checks its
    /// status.
    private static func attentionBackward<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>, kShape: [Int],
        v: UnsafeBufferPointer<T>, vShape: [Int], out: UnsafeBufferPointer<T>,
        dout: UnsafeBufferPointer<T>, lse: UnsafeBufferPointer<Float>, params: AttentionParams,
        dq: UnsafeMutableBufferPointer<T>, dk: UnsafeMutableBufferPointer<T>,
        dv: UnsafeMutableBufferPointer<T>,
        _ call: (GradTensors, UnsafePointer<mlxp_attention_params>) -> mlxp_status
    ) throws {
        let outShape = attentionOutputShape(qShape, vShape)
        let lseShape = attentionLSEShape(qShape, params.layout)
        try checkGradInputCounts(
            q, qShape, k, kShape, v, vShape, out, dout, outShape, lse, lseShape)
        try checkCount(dq.count, "dq", shape: qShape)
        try checkCount(dk.count, "dk", shape: kShape)
        try checkCount(dv.count, "dv", shape: vShape)
        try withTensors { t in
            try params.withCParams(t) { p in
                try check(call((
                    t.tensor(q, qShape), t.tensor(k, kShape), t.tensor(v, vShape),
                    t.tensor(out, outShape), t.tensor(dout, outShape), t.tensor(lse, lseShape),
                    t.tensor(dq, qShape), t.tensor(dk, kShape), t.tensor(dv, vShape)
                ), p))
            }
        }
    }
}
