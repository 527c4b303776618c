// Package rope applies rotary position embeddings (RoPE) to query and key tensors.
//
// For a token at position p, pair i of the rotary dims (x_a, x_b) becomes
//
//	x_a' = m * (x_a*cos(p*f_i) - x_b*sin(p*f_i))
//	x_b' = m * (x_b*cos(p*f_i) + x_a*sin(p*f_i))
//
// where f_i are the inverse frequencies of InvFreq (base^(-2i/R), changed by the scaling
// variant) and m is the attention factor (1 except for YaRN). Pairing says which dims
// form pair i. Angles p*f_i and their cos/sin are computed in float64; cos and sin (times
// m) are rounded once to float32, the rotation runs in float32 and each result is rounded
// once to the tensor's dtype.
//
// Each call computes cos/sin once per token (shared by all heads of q and k, and by the
// whole batch unless positions are given per batch) and then rotates every row
// (token, head) independently, so results are bit-identical for any thread
// count and any batch composition, and identical on every kernel path (the fast paths
// multiply and add in the same order and precision as the plain-Go definition).
package rope

import (
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Pairing says which rotary dims are rotated together.
type Pairing int

const (
	// Half pairs dim d with dim d + R/2 (GPT-NeoX, Llama; "rotate_half").
	Half Pairing = iota
	// Interleaved pairs dim 2d with dim 2d+1 (GPT-J; "rotate_every_two").
	Interleaved
)

// Layout is the order of the four dimensions of q and k.
type Layout int

const (
	// BSHD is [batch, seq, heads, head_dim], the default.
	BSHD Layout = iota
	// BHSD is [batch, heads, seq, head_dim].
	BHSD
)

// ScalingKind selects a context-extension variant of the inverse frequencies.
type ScalingKind int

const (
	// None leaves the frequencies base^(-2i/R) unchanged.
	None ScalingKind = iota
	// Linear divides every frequency by Factor, which equals dividing positions by
	// Factor (position interpolation; transformers' "linear").
	Linear
	// NTK replaces the base by base * Factor^(R/(R-2)) ("NTK-aware" scaling; YaRN paper
	// section 3.1). Needs R > 2.
	NTK
	// YaRN blends interpolated and original frequencies per pair with the ramp of the
	// reference implementation and scales cos/sin by the attention factor.
	YaRN
	// Llama3 divides low frequencies by Factor, keeps high ones and blends the band in
	// between (Llama 3.1's "llama3" rope type).
	Llama3
	// DynamicNTK is NTK with a factor that grows with the sequence length: the base
	// becomes base * (Factor*L/O - (Factor-1))^(R/(R-2)) with L = max(SeqLen, O) and
	// O = OriginalMaxPositions (transformers' "dynamic"). Needs R > 2.
	DynamicNTK
)

// Scaling configures a context-extension variant. Fields a kind does not use are ignored.
type Scaling struct {
	Kind ScalingKind
	// Factor is the context extension ratio s (> 0). Used by every kind except None.
	Factor float64
	// OriginalMaxPositions is the context length the model was trained with (> 0).
	// Used by YaRN, Llama3 and DynamicNTK.
	OriginalMaxPositions int

	// YaRN: BetaFast and BetaSlow bound the ramp in rotations over the original context;
	// 0 means the defaults 32 and 1.
	BetaFast, BetaSlow float64
	// YaRN: AttentionFactor multiplies cos and sin; 0 means the default: with Mscale and
	// MscaleAllDim both non-zero, mscale(Factor, Mscale) / mscale(Factor, MscaleAllDim)
	// (DeepSeek-V2/V3 configs), else mscale(Factor, 1), where
	// mscale(s, k) = 0.1*k*ln(s) + 1 for s > 1 and 1 otherwise. Must be >= 0.
	AttentionFactor float64
	// YaRN: Mscale and MscaleAllDim are the "mscale" and "mscale_all_dim" config entries
	// (0 = absent, else > 0). They only matter when AttentionFactor is 0.
	Mscale, MscaleAllDim float64
	// YaRN: NoTruncate keeps the ramp bounds fractional instead of rounding them outward
	// with floor/ceil (the "truncate": false config entry, e.g. gpt-oss).
	NoTruncate bool

	// Llama3: wavelengths above OriginalMaxPositions/LowFreqFactor are divided by Factor,
	// those below OriginalMaxPositions/HighFreqFactor are kept, those between are
	// blended. Need 0 < LowFreqFactor < HighFreqFactor (Llama 3.1 uses 1 and 4).
	LowFreqFactor, HighFreqFactor float64

	// DynamicNTK: SeqLen is the current sequence length (transformers uses the largest
	// position + 1). Values up to OriginalMaxPositions (including 0) leave the base
	// unchanged.
	SeqLen int
}

// Params configures Apply.
type Params struct {
	// Base is the frequency base (> 0); DefaultParams sets 10000.
	Base float64
	// RotaryDim R is how many leading dims of each head rotate; 0 means head_dim. It must
	// be even and at most head_dim; dims R..head_dim-1 pass through unchanged.
	RotaryDim int
	Pairing   Pairing
	Scaling   Scaling
	// Offset is the position of token s = 0 when no positions tensor is given (token s
	// has position Offset + s). Ignored when positions are given.
	Offset int
	Layout Layout
	// Inverse applies the transpose of the forward map: rotation by -angle, still scaled
	// by the attention factor m. It is the backward pass; it undoes Apply (up to
	// rounding) when m == 1, and otherwise turns the rotary dims into m^2 * x.
	Inverse bool
}

// DefaultParams returns base 10000, full rotary dim, Half pairing, no scaling, offset 0,
// BSHD layout, forward rotation.
func DefaultParams() Params { return Params{Base: 10000} }

// Apply rotates q and, when k is not nil, k by their tokens' positions and writes the
// results into qOut and kOut.
//
// Shapes (BSHD; BHSD swaps the middle two): q [B, S, Hq, D], k [B, S, Hk, D] with the
// same B, S and D; qOut and kOut have their input's shape and dtype. positions is nil
// (token s has position p.Offset + s) or an int32/int64 tensor [S] (shared by the batch)
// or [B, S]. Dtypes of q and k: float32, float16, bfloat16, each independently.
// Any strides are accepted. qOut may be q itself (the same view) and kOut k itself;
// otherwise no output may share memory with any tensor of the call. k and kOut are both
// nil or both given. On error nothing is written.
func Apply(q, qOut tensor.Tensor, k, kOut *tensor.Tensor, positions *tensor.Tensor, p Params) error {
	c, err := prepare(q, qOut, k, kOut, positions, p)
	if err != nil {
		return err
	}
	run(c)
	return nil
}

// Backward propagates gradients through Apply: dq = transpose(rotation) * dqOut, and
// likewise for dk, i.e. Apply with Inverse toggled. Arguments follow Apply's contract
// (dqOut in the place of q, dq in the place of qOut); dq may be dqOut itself.
func Backward(dqOut, dq tensor.Tensor, dkOut, dk *tensor.Tensor, positions *tensor.Tensor, p Params) error {
	p.Inverse = !p.Inverse
	return Apply(dqOut, dq, dkOut, dk, positions, p)
}
