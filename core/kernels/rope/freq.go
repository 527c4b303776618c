package rope

import (
	"math"

	"github.com/mlxprim/mlxprim/core/errs"
)

// Inverse frequencies of each scaling variant, in float64. The formulas follow the
// HuggingFace transformers functions named on each case (modeling_rope_utils.py), which
// compute the same expressions in float32; here every step is float64.

// InvFreq returns the R/2 inverse frequencies f_i (pair i rotates by position * f_i) for
// head dimension headDim after p's scaling, and the attention factor m that multiplies
// cos and sin (1 except for YaRN). R is p.RotaryDim, or headDim when it is 0.
func InvFreq(p Params, headDim int) (invFreq []float64, attentionFactor float64, err error) {
	r, err := checkFreqParams(p, headDim)
	if err != nil {
		return nil, 0, err
	}
	invFreq = make([]float64, r/2)
	return invFreq, invFreqInto(invFreq, p, r), nil
}

// invFreqInto writes the len(dst) = r/2 inverse frequencies into dst and returns the
// attention factor. p must have passed checkFreqParams.
func invFreqInto(dst []float64, p Params, r int) float64 {
	sc := p.Scaling
	base := p.Base
	switch sc.Kind {
	case NTK: // "NTK-aware": base * s^(R/(R-2)) (YaRN paper eq. 16)
		base *= math.Pow(sc.Factor, float64(r)/float64(r-2))
	case DynamicNTK: // _compute_dynamic_ntk_parameters
		l := float64(max(sc.SeqLen, sc.OriginalMaxPositions))
		o := float64(sc.OriginalMaxPositions)
		base *= math.Pow(sc.Factor*l/o-(sc.Factor-1), float64(r)/float64(r-2))
	}
	// _compute_default_rope_parameters: 1 / base^(2i/R).
	for i := range dst {
		dst[i] = 1 / math.Pow(base, float64(2*i)/float64(r))
	}
	switch sc.Kind {
	case Linear: // _compute_linear_scaling_rope_parameters: inv_freq /= factor
		for i := range dst {
			dst[i] /= sc.Factor
		}
	case YaRN:
		return yarn(dst, p.Base, r, sc)
	case Llama3:
		llama3(dst, sc)
	}
	return 1
}

// yarn writes YaRN's frequencies into inv and returns the attention factor
// (_compute_yarn_parameters; the original jquesnelle/yarn code is the same).
func yarn(inv []float64, base float64, r int, sc Scaling) float64 {
	betaFast, betaSlow := orDefault(sc.BetaFast, 32), orDefault(sc.BetaSlow, 1)
	// find_correction_dim: the pair index whose wavelength fits `rot` times into the
	// original context.
	corrDim := func(rot float64) float64 {
		return float64(r) * math.Log(float64(sc.OriginalMaxPositions)/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	// find_correction_range: floor/ceil unless truncation is off, clamped to [0, R-1].
	low, high := corrDim(betaFast), corrDim(betaSlow)
	if !sc.NoTruncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = max(low, 0), min(high, float64(r-1))
	// linear_ramp_factor over the R/2 pairs.
	if low == high {
		high += 0.001 // as the reference: avoid a zero-width ramp
	}
	for i := range inv {
		posFreq := math.Pow(base, float64(2*i)/float64(r))
		extrapolated, interpolated := 1/posFreq, 1/(sc.Factor*posFreq)
		ramp := min(max((float64(i)-low)/(high-low), 0), 1)
		extrapolationFactor := 1 - ramp
		inv[i] = interpolated*(1-extrapolationFactor) + extrapolated*extrapolationFactor
	}
	if sc.AttentionFactor != 0 {
		return sc.AttentionFactor
	}
	if sc.Mscale != 0 && sc.MscaleAllDim != 0 {
		return yarnMscale(sc.Factor, sc.Mscale) / yarnMscale(sc.Factor, sc.MscaleAllDim)
	}
	return yarnMscale(sc.Factor, 1)
}

// yarnMscale is get_mscale: 0.1*k*ln(s) + 1 for s > 1, else 1.
func yarnMscale(s, k float64) float64 {
	if s <= 1 {
		return 1
	}
	return 0.1*k*math.Log(s) + 1
}

// llama3 applies _compute_llama3_parameters to the default frequencies inv.
func llama3(inv []float64, sc Scaling) {
	old := float64(sc.OriginalMaxPositions)
	lowFreqWavelen := old / sc.LowFreqFactor
	highFreqWavelen := old / sc.HighFreqFactor
	for i, f := range inv {
		wavelen := 2 * math.Pi / f
		switch {
		case wavelen < highFreqWavelen: // high frequency: kept
		case wavelen > lowFreqWavelen: // low frequency: interpolated
			inv[i] = f / sc.Factor
		default: // in between: smooth blend
			smooth := (old/wavelen - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
			inv[i] = (1-smooth)*f/sc.Factor + smooth*f
		}
	}
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// checkFreqParams validates what the frequencies depend on and returns the rotary dim R.
func checkFreqParams(p Params, headDim int) (int, error) {
	if headDim <= 0 {
		return 0, errs.New(errs.ShapeMismatch, "head_dim must be positive, got %d", headDim)
	}
	if !positiveFinite(p.Base) {
		return 0, errs.New(errs.InvalidArgument, "base must be positive and finite, got %v", p.Base)
	}
	r := p.RotaryDim
	if r == 0 {
		r = headDim
	}
	switch {
	case r < 0:
		return 0, errs.New(errs.InvalidArgument, "rotary_dim must be >= 0, got %d", p.RotaryDim)
	case r > headDim:
		return 0, errs.New(errs.InvalidArgument, "rotary_dim %d exceeds head_dim %d", r, headDim)
	case r%2 != 0:
		return 0, errs.New(errs.InvalidArgument, "rotary_dim must be even, got %d", r)
	}
	return r, checkScaling(p.Scaling, p.Base, r)
}

func checkScaling(sc Scaling, base float64, r int) error {
	if sc.Kind == None {
		return nil
	}
	if sc.Kind < None || sc.Kind > DynamicNTK {
		return errs.New(errs.InvalidArgument, "scaling: unknown kind %d", sc.Kind)
	}
	if !positiveFinite(sc.Factor) {
		return errs.New(errs.InvalidArgument, "scaling: factor must be positive and finite, got %v", sc.Factor)
	}
	if sc.Kind == Linear {
		return nil
	}
	if sc.Kind == NTK || sc.Kind == DynamicNTK {
		if r <= 2 {
			return errs.New(errs.InvalidArgument, "scaling: NTK needs rotary_dim > 2, got %d", r)
		}
		if sc.Kind == NTK {
			return nil
		}
	}
	if sc.OriginalMaxPositions <= 0 {
		return errs.New(errs.InvalidArgument, "scaling: original_max_positions must be positive, got %d", sc.OriginalMaxPositions)
	}
	switch sc.Kind {
	case DynamicNTK:
		if sc.SeqLen < 0 {
			return errs.New(errs.InvalidArgument, "scaling: seq_len must be >= 0, got %d", sc.SeqLen)
		}
	case YaRN:
		if base == 1 {
			return errs.New(errs.InvalidArgument, "scaling: YaRN needs base != 1")
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"beta_fast", sc.BetaFast}, {"beta_slow", sc.BetaSlow}, {"attention_factor", sc.AttentionFactor},
			{"mscale", sc.Mscale}, {"mscale_all_dim", sc.MscaleAllDim}} {
			if !(f.v >= 0) || math.IsInf(f.v, 0) {
				return errs.New(errs.InvalidArgument, "scaling: %s must be >= 0 and finite, got %v", f.name, f.v)
			}
		}
	case Llama3:
		if !positiveFinite(sc.LowFreqFactor) || !positiveFinite(sc.HighFreqFactor) || !(sc.HighFreqFactor > sc.LowFreqFactor) {
			return errs.New(errs.InvalidArgument, "scaling: Llama3 needs 0 < low_freq_factor < high_freq_factor, got %v and %v",
				sc.LowFreqFactor, sc.HighFreqFactor)
		}
	}
	return nil
}

func positiveFinite(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
