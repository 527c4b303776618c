import CMLXPrim

/// The settings of a rotary position embedding: `mlxp_rope_params` with Swift types and the
/// header's defaults.
public struct RopeParams: Equatable, Sendable {
    /// Which rotary dims form a pair (MLXP_ROPE_*).
    public enum Pairing: Int32, Sendable {
        /// d and d + R/2 (GPT-NeoX, Llama: "rotate_half").
        case half = 0
        /// 2d and 2d + 1 (GPT-J: "rotate_every_two").
        case interleaved = 1
    }

    /// The order of the four dimensions of q and k (MLXP_LAYOUT_*).
    public enum Layout: Int32, Sendable {
        /// [batch, seq, heads, head_dim].
        case bshd = 0
        /// [batch, heads, seq, head_dim].
        case bhsd = 1
    }

    /// Context-extension variants of the frequencies (MLXP_ROPE_SCALING_*).
    public enum Scaling: Int32, Sendable {
        case none = 0
        /// Frequencies / factor (position interpolation).
        case linear = 1
        /// base * factor^(R/(R-2)) ("NTK-aware"); R > 2.
        case ntk = 2
        /// YaRN ramp, cos and sin times the attention factor; needs originalMaxPositions.
        case yarn = 3
        /// Llama 3.1; needs originalMaxPositions.
        case llama3 = 4
        /// NTK growing with seqLen; needs originalMaxPositions.
        case dynamicNTK = 5
    }

    /// Frequency base; > 0.
    public var base: Double = 10000
    /// R, the leading dims that rotate: even and <= head_dim; 0 means head_dim.
    public var rotaryDim: Int = 0
    public var pairing: Pairing = .half
    public var layout: Layout = .bshd
    public var scaling: Scaling = .none
    /// Position of token 0 when no positions are given.
    public var offset: Int = 0
    /// s, the context extension ratio (> 0); used by every scaling but `.none`.
    public var factor: Double = 1
    /// O, the trained context length; required by YaRN, Llama 3 and dynamic NTK.
    public var originalMaxPositions: Int = 0
    /// YaRN ramp bounds in rotations; 0 means 32 and 1.
    public var betaFast: Double = 0
    public var betaSlow: Double = 0
    /// YaRN's m; 0 means 0.1 ln(s) + 1 (or the ratio of the mscales when both are set).
    public var attentionFactor: Double = 0
    /// YaRN's "mscale" and "mscale_all_dim" config entries; 0 means absent.
    public var mscale: Double = 0
    public var mscaleAllDim: Double = 0
    /// YaRN: true rounds the ramp bounds with floor/ceil (the default); false keeps them
    /// fractional ("truncate": false).
    public var yarnTruncate: Bool = true
    /// Llama 3 band: 0 < lowFreqFactor < highFreqFactor.
    public var lowFreqFactor: Double = 1
    public var highFreqFactor: Double = 4
    /// Dynamic NTK: the current sequence length.
    public var seqLen: Int = 0
    /// true rotates by -angle: the backward pass (the gradient of the forward call).
    public var inverse: Bool = false

    public init(
        base: Double = 10000, rotaryDim: Int = 0, pairing: Pairing = .half,
        layout: Layout = .bshd, scaling: Scaling = .none, offset: Int = 0, factor: Double = 1,
        originalMaxPositions: Int = 0, inverse: Bool = false
    ) {
        self.base = base
        self.rotaryDim = rotaryDim
        self.pairing = pairing
        self.layout = layout
        self.scaling = scaling
        self.offset = offset
        self.factor = factor
        self.originalMaxPositions = originalMaxPositions
        self.inverse = inverse
    }

    /// The C struct, starting from mlxp_rope_params_init so struct_size is the library's.
    func cParams() throws -> mlxp_rope_params {
        var p = mlxp_rope_params()
        try check(mlxp_rope_params_init(&p))
        p.base = base
        // Out-of-range values become values the library rejects, never a trap.
        p.rotary_dim = Int32(clamping: rotaryDim)
        p.pairing = pairing.rawValue
        p.layout = layout.rawValue
        p.scaling = scaling.rawValue
        p.offset = Int64(offset)
        p.factor = factor
        p.original_max_positions = Int64(originalMaxPositions)
        p.beta_fast = betaFast
        p.beta_slow = betaSlow
        p.attention_factor = attentionFactor
        p.mscale = mscale
        p.mscale_all_dim = mscaleAllDim
        p.yarn_no_truncate = yarnTruncate ? 0 : 1
        p.low_freq_factor = lowFreqFactor
        p.high_freq_factor = highFreqFactor
        p.seq_len = Int64(seqLen)
        p.inverse = inverse ? 1 : 0
        return p
    }
}

extension MLXPrim {
    /// Rotary position embeddings for q and, optionally, k in one call, as `mlxp_rope`
    /// defines them (angles in float64, rotation in float32, one rounding into T).
    ///
    /// - Parameters:
    ///   - q: [B, S, Hq, D] (or [B, Hq, S, D] with layout `.bhsd`).
    ///   - k: [B, S, Hk, D] with q's B, S and D, or nil; `kShape` with it.
    ///   - positions: the tokens' positions, S values shared by the batch or B * S values
    ///     ([B, S]); nil means offset + s for token s.
    ///   - params: frequencies, pairing, layout and scaling.
    /// - Returns: the rotated q, and the rotated k when k was given.
    /// - Throws: `MLXPrimError` with `.shapeMismatch` or `.invalidArgument` (bad params).
    public static func rope<T: MLXPrimElement>(
        q: [T], qShape: [Int], k: [T]? = nil, kShape: [Int]? = nil, positions: [Int32]? = nil,
        params: RopeParams = RopeParams()
    ) throws -> (q: [T], k: [T]?) {
        var qOut = [T](repeating: 0, count: q.count)
        var kOut = k.map { [T](repeating: 0, count: $0.count) }
        try q.withUnsafeBufferPointer { q in
            try withOptionalBuffer(k) { k in
                try withOptionalBuffer(positions) { positions in
                    try qOut.withUnsafeMutableBufferPointer { qOut in
                        try withOptionalMutableBuffer(&kOut) { kOut in
                            try rope(
                                q: q, qShape: qShape, k: k, kShape: kShape, positions: positions,
                                params: params, qOut: qOut, kOut: kOut)
                        }
                    }
                }
            }
        }
        return (qOut, kOut)
    }

    /// Rotary position embeddings written into `qOut` (and `kOut`); see
    /// `rope(q:qShape:k:kShape:positions:params:)`. `qOut` may be `q` and `kOut` may be `k`
    /// (in place); `k`, `kShape` and `kOut` are all given or all nil. On failure nothing
    /// changes.
    public static func rope<T: MLXPrimElement>(
        q: UnsafeBufferPointer<T>, qShape: [Int], k: UnsafeBufferPointer<T>? = nil,
        kShape: [Int]? = nil, positions: UnsafeBufferPointer<Int32>? = nil,
        params: RopeParams = RopeParams(), qOut: UnsafeMutableBufferPointer<T>,
        kOut: UnsafeMutableBufferPointer<T>? = nil
    ) throws {
        guard (k == nil) == (kShape == nil), (k == nil) == (kOut == nil) else {
            throw MLXPrimError(
                status: .invalidArgument, message: "rope: give k, kShape and kOut together or none")
        }
        try checkCount(q.count, "q", shape: qShape)
        try checkCount(qOut.count, "qOut", shape: qShape)
        if let k, let kShape, let kOut {
            try checkCount(k.count, "k", shape: kShape)
            try checkCount(kOut.count, "kOut", shape: kShape)
        }
        var p = try params.cParams()
        let positionsShape = positions.map {
            ropePositionsShape(count: $0.count, qShape, params.layout)
        }
        try withTensors { t in
            try check(mlxp_rope(
                t.tensor(q, qShape), t.tensor(qOut, qShape),
                k.map { t.tensor($0, kShape!) }, kOut.map { t.tensor($0, kShape!) },
                positions.map { t.tensor($0.baseAddress, .int32, positionsShape!) }, &p))
        }
    }

    /// [B, S] when the count is B * S for a batch of more than one; otherwise the count as
    /// one axis (S values shared by the batch), which the library checks against S.
    private static func ropePositionsShape(
        count: Int, _ qShape: [Int], _ layout: RopeParams.Layout
    ) -> [Int] {
        guard qShape.count == 4 else {
            return [count]
        }
        let batch = qShape[0], seq = layout == .bshd ? qShape[1] : qShape[2]
        let (product, overflow) = batch.multipliedReportingOverflow(by: seq)
        if batch > 1, seq >= 0, !overflow, count == product {
            return [batch, seq]
        }
        return [count]
    }
}
