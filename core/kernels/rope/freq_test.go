package rope

import (
	"fmt"
	"math"
	"testing"

	"github.com/mlxprim/mlxprim/core/errs"
)

// closeRel reports whether got is within rel of want (relative to |want|).
func closeRel(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

// TestInvFreqHandTables checks small cases whose values follow by hand from the formulas
// (each derivation is in the comment). Tolerance 1e-14 relative: a few float64 ulps.
func TestInvFreqHandTables(t *testing.T) {
	const ln4 = 1.3862943611198906
	// Llama3 case below: wavelengths 2pi*[1, 10, 100, 1000] against O/hf = 16 and
	// O/lf = 64: pair 0 is kept, pair 1 (62.83) blends with g = (64/(20 pi) - 1)/3,
	// pairs 2 and 3 are divided by 8.
	g := (64/(20*math.Pi) - 1) / 3
	cases := []struct {
		name    string
		p       Params
		headDim int
		want    []float64
		m       float64
	}{
		// 10000^(-2i/4) for i = 0, 1.
		{"default", DefaultParams(), 4, []float64{1, 0.01}, 1},
		// Partial rotary: the exponent uses R = 4, not head_dim 8.
		{"partial", Params{Base: 10000, RotaryDim: 4}, 8, []float64{1, 0.01}, 1},
		// Linear factor 2 halves every frequency.
		{"linear", Params{Base: 10000, Scaling: Scaling{Kind: Linear, Factor: 2}}, 4, []float64{0.5, 0.005}, 1},
		// NTK: base' = 10000 * 4^(4/2) = 160000, 160000^(-1/2) = 1/400.
		{"ntk", Params{Base: 10000, Scaling: Scaling{Kind: NTK, Factor: 4}}, 4, []float64{1, 0.0025}, 1},
		// Dynamic: L = 200, O = 100, s = 2: base' = 10000 * (2*2 - 1)^2 = 90000 -> 1/300.
		{"dynamic", Params{Base: 10000, Scaling: Scaling{Kind: DynamicNTK, Factor: 2, OriginalMaxPositions: 100, SeqLen: 200}}, 4, []float64{1, 1.0 / 300}, 1},
		// Dynamic below the original length: the ratio is 1, the base is unchanged.
		{"dynamic short", Params{Base: 10000, Scaling: Scaling{Kind: DynamicNTK, Factor: 2, OriginalMaxPositions: 100, SeqLen: 50}}, 4, []float64{1, 0.01}, 1},
		// YaRN, head_dim 8, s = 4, O = 16: idx(32) = 8 ln(16/(64 pi)) / (2 ln 10000) = -1.099
		// -> floor -2 -> lo 0; idx(1) = 8 ln(16/(2 pi)) / (2 ln 10000) = 0.406 -> hi 1.
		// Ramp (i - 0)/1 = 0, 1, 1, 1: pair 0 keeps 1, the others are divided by 4.
		// m = 1 + 0.1 ln 4.
		{"yarn O=16", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 16, BetaFast: 32, BetaSlow: 1}}, 8,
			[]float64{1, 0.025, 0.0025, 0.00025}, 1 + 0.1*ln4},
		// Same with O = 1000: idx(32) = 0.697 -> lo 0, idx(1) = 2.202 -> hi 3; ramp i/3:
		// pair 1 = 0.1*(2/3) + 0.025*(1/3) = 0.075, pair 2 = 0.01/3 + 0.0025*(2/3) = 0.005.
		{"yarn O=1000", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 1000}}, 8,
			[]float64{1, 0.075, 0.005, 0.00025}, 1 + 0.1*ln4},
		// An explicit attention factor replaces the default; the frequencies do not change.
		{"yarn attention", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 16, AttentionFactor: 0.7}}, 8,
			[]float64{1, 0.025, 0.0025, 0.00025}, 0.7},
		// Equal mscale and mscale_all_dim (DeepSeek-V3 style) give exactly 1.
		{"yarn mscale", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 16, Mscale: 0.707, MscaleAllDim: 0.707}}, 8,
			[]float64{1, 0.025, 0.0025, 0.00025}, 1},
		// mscale 1 over mscale_all_dim 0.5 at s = 4: (1 + 0.1 ln 4) / (1 + 0.05 ln 4).
		{"yarn mscale ratio", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 4, OriginalMaxPositions: 16, Mscale: 1, MscaleAllDim: 0.5}}, 8,
			[]float64{1, 0.025, 0.0025, 0.00025}, (1 + 0.1*ln4) / (1 + 0.05*ln4)},
		// A factor <= 1 has attention factor 1.
		{"yarn s<1", Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: 0.5, OriginalMaxPositions: 16}}, 8,
			[]float64{1, 0.2, 0.02, 0.002}, 1},
		{"llama3", Params{Base: 10000, Scaling: Scaling{Kind: Llama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}}, 8,
			[]float64{1, 0.1 * ((1-g)/8 + g), 0.00125, 0.000125}, 1},
	}
	for _, c := range cases {
		inv, m, err := InvFreq(c.p, c.headDim)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(inv) != len(c.want) {
			t.Fatalf("%s: %d frequencies, want %d", c.name, len(inv), len(c.want))
		}
		for i := range inv {
			if !closeRel(inv[i], c.want[i], 1e-14) {
				t.Errorf("%s: f[%d] = %.17g, want %.17g", c.name, i, inv[i], c.want[i])
			}
		}
		if !closeRel(m, c.m, 1e-15) {
			t.Errorf("%s: attention factor %.17g, want %.17g", c.name, m, c.m)
		}
	}
}

// TestInvFreqMatchesFormulas compares InvFreq with the test's own float64 formulas
// (refInvFreq) over a grid of head dims, bases, factors and context lengths. Tolerance
// 1e-12 relative: the two compute powers through different float64 expressions.
func TestInvFreqMatchesFormulas(t *testing.T) {
	for _, r := range []int{4, 6, 16, 64, 80, 128, 256} {
		for _, base := range []float64{10000, 500000, 1e6} {
			for _, f := range []float64{0.5, 2, 4, 8, 16, 40} {
				for _, o := range []int{256, 2048, 4096, 8192, 32768} {
					for _, sc := range []Scaling{
						{Kind: None},
						{Kind: Linear, Factor: f},
						{Kind: NTK, Factor: f},
						{Kind: DynamicNTK, Factor: f, OriginalMaxPositions: o, SeqLen: 3 * o},
						{Kind: YaRN, Factor: f, OriginalMaxPositions: o},
						{Kind: YaRN, Factor: f, OriginalMaxPositions: o, BetaFast: 16, BetaSlow: 2, NoTruncate: true},
						{Kind: YaRN, Factor: f, OriginalMaxPositions: o, Mscale: 1, MscaleAllDim: 0.8},
						{Kind: Llama3, Factor: f, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: o},
					} {
						p := Params{Base: base, Scaling: sc}
						inv, m, err := InvFreq(p, r)
						if err != nil {
							t.Fatal(err)
						}
						want, wantM := refInvFreq(p, r)
						name := fmt.Sprintf("R=%d base=%v %+v", r, base, sc)
						for i := range want {
							if !closeRel(inv[i], want[i], 1e-12) {
								t.Fatalf("%s: f[%d] = %.17g, want %.17g", name, i, inv[i], want[i])
							}
						}
						if !closeRel(m, wantM, 1e-14) {
							t.Fatalf("%s: attention factor %v, want %v", name, m, wantM)
						}
					}
				}
			}
		}
	}
}

// TestYaRNMeaning checks YaRN against the paper's description: a pair that turns more
// than beta_fast times over the original context keeps its frequency (extrapolation), a
// pair that turns fewer than beta_slow times is divided by the factor (interpolation),
// and frequencies in between lie between the two. Pair i turns O * f_i / (2 pi) times.
func TestYaRNMeaning(t *testing.T) {
	for _, r := range []int{32, 64, 128} {
		for _, o := range []int{2048, 4096, 32768} {
			const s = 16.0
			p := Params{Base: 10000, Scaling: Scaling{Kind: YaRN, Factor: s, OriginalMaxPositions: o}}
			inv, _, err := InvFreq(p, r)
			if err != nil {
				t.Fatal(err)
			}
			plain, _, _ := InvFreq(Params{Base: 10000}, r)
			for i, f := range inv {
				turns := float64(o) * plain[i] / (2 * math.Pi)
				switch {
				case turns > 32 && f != plain[i]:
					t.Errorf("R=%d O=%d pair %d turns %.1f times: %v, want the original %v", r, o, i, turns, f, plain[i])
				case turns < 1 && !closeRel(f, plain[i]/s, 1e-15):
					t.Errorf("R=%d O=%d pair %d turns %.3f times: %v, want %v", r, o, i, turns, f, plain[i]/s)
				case f > plain[i] || f < plain[i]/s*(1-1e-15):
					t.Errorf("R=%d O=%d pair %d: %v outside [%v, %v]", r, o, i, f, plain[i]/s, plain[i])
				}
			}
		}
	}
}

func TestInvFreqErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		p       Params
		headDim int
		kind    errs.Kind
	}{
		{"head_dim 0", DefaultParams(), 0, errs.ShapeMismatch},
		{"odd head_dim", DefaultParams(), 7, errs.InvalidArgument},
		{"odd rotary", Params{Base: 10000, RotaryDim: 5}, 8, errs.InvalidArgument},
		{"rotary > head", Params{Base: 10000, RotaryDim: 10}, 8, errs.InvalidArgument},
		{"base 0", Params{}, 8, errs.InvalidArgument},
		{"ntk R=2", Params{Base: 10000, Scaling: Scaling{Kind: NTK, Factor: 2}}, 2, errs.InvalidArgument},
		{"unknown kind", Params{Base: 10000, Scaling: Scaling{Kind: 42, Factor: 2}}, 8, errs.InvalidArgument},
	} {
		if _, _, err := InvFreq(c.p, c.headDim); errs.KindOf(err) != c.kind {
			t.Errorf("%s: got %v, want kind %v", c.name, err, c.kind)
		}
	}
}
