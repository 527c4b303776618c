// Package attention computes scaled dot-product attention on the CPU, FlashAttention
// style: queries are processed in tiles of rows, keys and values in tiles of columns,
// with an online softmax (running maximum and sum, rescaled accumulator), so no score
// matrix is ever materialized and the extra memory is O(rows * head_dim) per worker.
//
// # Determinism
//
// Every query row gets arithmetic of its own, from fixed boundaries counted from key 0:
// keys are grouped in tiles of tileKeys and tiles in chunks of chunkKeys. Within a
// chunk the row folds its visible keys tile by tile with the online softmax; the chunks'
// partial states are then merged in increasing order. Prefill (one worker walks all
// chunks of a row) and decode (chunks of one row run on different workers, flash-decoding
// style, then merge) perform the very same arithmetic, so a row's result is bit-identical
// for any thread count, any batch composition, any query tiling, and whether it is
// computed alone (Lq = 1 with the matching causal offset) or inside a long prefill. On
// the AVX-512 path many rows are computed together, 16 to a vector (tiles.go), but no
// sum ever mixes two rows, and the row kernels used for small items give the same bits.
// Results differ between ISA paths (Generic, AVX2, AVX-512) only by rounding; the
// AVX-512 path forms Scale * dot(q, k) as dot(Scale * q, k).
//
// # Order of the logit terms
//
// For query i (absolute position i' = i + Lk - Lq) and key j:
//
//	x = Scale * dot(q_i, k_j)
//	x = SoftCap * tanh(x / SoftCap)        when SoftCap > 0 (Gemma 2)
//	x = x + Bias[b, h, i, j]               when Bias is set
//	x = x - slope_h * (i' - j)             when ALiBi slopes are set
//	x = -Inf                               when j is masked (causal, window, key length)
//
// as Gemma 2 and FlashAttention do: the soft cap applies to the scaled dot product only,
// and additive terms and masks come after it. tanh is computed in float64 and rounded
// once to float32, within 1 ulp of the exact value, with the same bits on every path
// (softcap.go); each other operation is rounded to float32 on its own.
package attention

import (
	"math"

	"github.com/mlxprim/mlxprim/core/tensor"
)

// Layout names the axis order of the q, k, v and out tensors.
type Layout int

// The accepted layouts. The head dimension is always last.
const (
	BSHD Layout = iota // [batch, seq, heads, head_dim] (default)
	BHSD               // [batch, heads, seq, head_dim]
)

// Params are the options of Forward. Start from DefaultParams.
type Params struct {
	// Scale multiplies q·k; 0 means 1/sqrt(head_dim). Must be finite.
	Scale float32
	// Causal masks key j for query i unless j <= i + (Lk - Lq) (bottom-right aligned).
	Causal bool
	// WindowLeft, WindowRight bound a local window around i' = i + (Lk - Lq): key j is
	// visible iff i' - WindowLeft <= j <= i' + WindowRight. -1 means unbounded on that
	// side; values below -1 are invalid.
	WindowLeft, WindowRight int
	// Layout of q, k, v and out (BSHD or BHSD); any strides are accepted.
	Layout Layout
	// ALiBiSlopes adds -slope[h] * (i' - j) to the logits of query head h; nil means no
	// ALiBi, otherwise its length is Hq. ALiBiSlopes(hq) gives the standard slopes.
	ALiBiSlopes []float32
	// Bias is an additive logit bias of any float dtype, broadcastable (NumPy rules) to
	// [B, Hq, Lq, Lk] whatever the layout; -Inf entries mask. nil means none.
	Bias *tensor.Tensor
	// KeyLengths[b] is the number of valid keys of batch b (0..Lk); keys at or beyond it
	// are masked. nil means all Lk keys are valid.
	KeyLengths []int32
	// SoftCap, when > 0, maps the scaled logit x to SoftCap * tanh(x / SoftCap) before
	// bias, ALiBi and masks. 0 means none; negative or non-finite is invalid.
	SoftCap float32
	// Sinks, when set (length Hq), adds one logit per head to the softmax denominator
	// that carries no value (attention sinks as in gpt-oss). The LSE then includes it.
	Sinks []float32
}

// DefaultParams returns the defaults: scale 1/sqrt(head_dim), no mask, unbounded window,
// BSHD layout, no ALiBi, bias, key lengths, soft cap or sinks.
func DefaultParams() Params {
	return Params{WindowLeft: -1, WindowRight: -1, Layout: BSHD}
}

// ALiBiSlopes returns the standard ALiBi slopes of Press et al. for hq heads: for a power
// of two n, slope h = 2^(-8(h+1)/n); otherwise the slopes of the largest power of two
// n < hq, followed by every other slope of 2n (the interpolation of the reference
// implementation). hq < 1 gives nil.
func ALiBiSlopes(hq int) []float32 {
	if hq < 1 {
		return nil
	}
	pow2 := func(n int) []float64 {
		s := make([]float64, n)
		for h := range s {
			s[h] = math.Pow(2, -8*float64(h+1)/float64(n))
		}
		return s
	}
	n := 1
	for n*2 <= hq {
		n *= 2
	}
	s := pow2(n)
	if n < hq {
		extra := pow2(2 * n)
		for i := 0; len(s) < hq; i += 2 {
			s = append(s, extra[i])
		}
	}
	out := make([]float32, hq)
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// Forward computes out = softmax(scale * q k^T + masks) v per batch and query head.
//
// Shapes (BSHD; BHSD swaps the seq and heads axes of all four tensors):
// q [B, Lq, Hq, D], k [B, Lk, Hkv, D], v [B, Lk, Hkv, Dv], out [B, Lq, Hq, Dv], with
// Hq % Hkv == 0 (query head h reads KV head h / (Hq/Hkv)). Any float dtype per tensor;
// arithmetic is float32. lse, when not nil, is float32 [B, Hq, Lq] and receives the
// natural log of each row's softmax denominator (including the scale, masks and sinks).
// A row with no visible key gets zeros and lse = -Inf (or the sink logit with Sinks).
// out must not overlap q, k, v, lse or the bias. On error nothing is written.
func Forward(q, k, v, out tensor.Tensor, lse *tensor.Tensor, p Params) error {
	pl, err := newPlan(q, k, v, out, lse, p)
	if err != nil {
		return err
	}
	pl.run()
	return nil
}

// SlidingWindow is Forward with the local window of the Python original: query i sees key
// j iff |i' - j| <= window, and also j <= i' when causal, where i' = i + (Lk - Lq) (i'
// = i when Lq == Lk). p's Causal and window fields are replaced; the work done is
// proportional to the window, since key tiles outside it are skipped. No LSE is
// returned; call Forward with the equivalent window to get one.
func SlidingWindow(q, k, v, out tensor.Tensor, window int, causal bool, p Params) error {
	if window < 0 {
		return errInvalid("window_size: %d is negative", window)
	}
	p.Causal = causal
	p.WindowLeft, p.WindowRight = window, window
	if causal {
		p.WindowRight = 0
	}
	return Forward(q, k, v, out, nil, p)
}
