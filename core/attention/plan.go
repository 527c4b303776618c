package attention

import (
	"math"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// view is a q/k/v/out tensor seen as [B, S, H, D] whatever its layout: element
// (b, s, h, d) lives at element offset b*sb + s*ss + h*sh + d*sd.
type view struct {
	t              tensor.Tensor // the BSHD-ordered view (Shape and Strides permuted)
	sb, ss, sh, sd int
}

func (w view) off(b, s, h int) int { return b*w.sb + s*w.ss + h*w.sh }

// plan is a validated call: sizes, views and options, fixed before any work starts.
type plan struct {
	q, k, v, o   view
	lse          *tensor.Tensor
	bias         *tensor.Tensor // broadcast to [B, Hq, Lq, Lk]
	B, Lq, Lk    int
	Hq, Hkv, grp int
	D, Dv        int
	dp, dvp      int // D and Dv rounded up to a multiple of 16 (kernel width)
	offset       int // Lk - Lq: absolute position of query 0
	scale, cap   float32
	causal       bool
	left, right  int
	alibi, sinks []float32
	keyLen       []int32
	elementwise  bool // soft cap, bias or ALiBi: logits need a pass in Go
	kDirect      bool // k rows are used in place (float32, unit stride, D%16 == 0)
	vDirect      bool
	kRows        bool // k rows can feed the tile kernels' scores in place (float32, unit stride)
	kern         *kernels
}

func errInvalid(format string, args ...any) error {
	return errs.New(errs.InvalidArgument, format, args...)
}

func errShape(format string, args ...any) error {
	return errs.New(errs.ShapeMismatch, format, args...)
}

// asBSHD validates a 4-D float tensor and returns its BSHD view.
func asBSHD(name string, t tensor.Tensor, layout Layout) (view, error) {
	if err := t.Validate(name); err != nil {
		return view{}, err
	}
	if !t.DType.IsFloat() {
		return view{}, errs.New(errs.UnsupportedDtype, "%s: dtype %v is not a float type", name, t.DType)
	}
	if t.NDim() != 4 {
		return view{}, errShape("%s: expected 4 dimensions, got shape %v", name, t.Shape)
	}
	sh, st := t.Shape, t.Strides
	if layout == BHSD {
		sh = []int{sh[0], sh[2], sh[1], sh[3]}
		st = []int{st[0], st[2], st[1], st[3]}
	}
	v := tensor.Tensor{Data: t.Data, DType: t.DType, Shape: sh, Strides: st}
	return view{t: v, sb: st[0], ss: st[1], sh: st[2], sd: st[3]}, nil
}

// newPlan validates every argument before anything is written.
func newPlan(q, k, v, out tensor.Tensor, lse *tensor.Tensor, p Params) (*plan, error) {
	if p.Layout != BSHD && p.Layout != BHSD {
		return nil, errInvalid("layout: unknown value %d", p.Layout)
	}
	var pl plan
	var err error
	if pl.q, err = asBSHD("q", q, p.Layout); err != nil {
		return nil, err
	}
	if pl.k, err = asBSHD("k", k, p.Layout); err != nil {
		return nil, err
	}
	if pl.v, err = asBSHD("v", v, p.Layout); err != nil {
		return nil, err
	}
	if pl.o, err = asBSHD("out", out, p.Layout); err != nil {
		return nil, err
	}
	qs, ks, vs, os := pl.q.t.Shape, pl.k.t.Shape, pl.v.t.Shape, pl.o.t.Shape
	pl.B, pl.Lq, pl.Hq, pl.D = qs[0], qs[1], qs[2], qs[3]
	pl.Lk, pl.Hkv, pl.Dv = ks[1], ks[2], vs[3]
	switch {
	case ks[0] != pl.B:
		return nil, errShape("k: batch %d differs from q's %d", ks[0], pl.B)
	case ks[3] != pl.D:
		return nil, errShape("k: head dim %d differs from q's %d", ks[3], pl.D)
	case vs[0] != pl.B || vs[1] != pl.Lk || vs[2] != pl.Hkv:
		return nil, errShape("v: shape %v does not match k's %v (batch, seq, heads)", v.Shape, k.Shape)
	case os[0] != pl.B || os[1] != pl.Lq || os[2] != pl.Hq || os[3] != pl.Dv:
		return nil, errShape("out: shape %v, expected q's batch, seq and heads with v's head dim", out.Shape)
	case pl.D == 0 || pl.Dv == 0:
		return nil, errShape("q, v: head dim must be at least 1")
	case pl.Hkv == 0 || pl.Hq%pl.Hkv != 0:
		return nil, errShape("k: %d KV heads do not divide %d query heads", pl.Hkv, pl.Hq)
	}
	pl.grp = pl.Hq / pl.Hkv
	pl.offset = pl.Lk - pl.Lq
	if lse != nil {
		if err := lse.Validate("lse"); err != nil {
			return nil, err
		}
		if lse.DType != tensor.Float32 {
			return nil, errs.New(errs.UnsupportedDtype, "lse: dtype %v, expected float32", lse.DType)
		}
		if lse.NDim() != 3 || lse.Shape[0] != pl.B || lse.Shape[1] != pl.Hq || lse.Shape[2] != pl.Lq {
			return nil, errShape("lse: shape %v, expected [%d %d %d]", lse.Shape, pl.B, pl.Hq, pl.Lq)
		}
		pl.lse = lse
	}
	if err := checkOverlaps(q, k, v, out, lse); err != nil {
		return nil, err
	}
	if err := pl.setOptions(p); err != nil {
		return nil, err
	}
	if p.Bias != nil {
		bias := tensor.Named{Name: "bias", T: *p.Bias}
		if err := tensor.CheckOutputOverlap(tensor.Named{Name: "out", T: out}, bias); err != nil {
			return nil, err
		}
		if lse != nil {
			if err := tensor.CheckOutputOverlap(tensor.Named{Name: "lse", T: *lse}, bias); err != nil {
				return nil, err
			}
		}
	}
	pl.dp, pl.dvp = roundUp(pl.D, 16), roundUp(pl.Dv, 16)
	pl.kDirect = direct(pl.k, pl.D)
	pl.vDirect = direct(pl.v, pl.Dv)
	pl.kRows = pl.k.t.DType == tensor.Float32 && pl.k.sd == 1 && pl.k.ss >= 0
	pl.kern = selectKernels()
	return &pl, nil
}

// direct reports whether rows of w can feed the kernels in place.
func direct(w view, d int) bool {
	return w.t.DType == tensor.Float32 && w.sd == 1 && d%16 == 0 && w.ss > 0
}

func checkOverlaps(q, k, v, out tensor.Tensor, lse *tensor.Tensor) error {
	ins := []tensor.Named{{Name: "q", T: q}, {Name: "k", T: k}, {Name: "v", T: v}}
	if lse != nil {
		if err := tensor.CheckOutputOverlap(tensor.Named{Name: "lse", T: *lse}, append(ins, tensor.Named{Name: "out", T: out})...); err != nil {
			return err
		}
	}
	// out may not even be the same view as an input: rows are read while others are written.
	for _, in := range ins {
		if tensor.SameView(out, in.T) && out.NumEl() > 0 {
			return errInvalid("out overlaps %s", in.Name)
		}
	}
	return tensor.CheckOutputOverlap(tensor.Named{Name: "out", T: out}, ins...)
}

// setOptions validates and records the Params fields.
func (pl *plan) setOptions(p Params) error {
	pl.scale = p.Scale
	if pl.scale == 0 {
		pl.scale = float32(1 / math.Sqrt(float64(pl.D)))
	}
	if isBad(pl.scale) {
		return errInvalid("scale: %v is not finite", p.Scale)
	}
	if p.WindowLeft < -1 {
		return errInvalid("window_left: %d, must be >= -1", p.WindowLeft)
	}
	if p.WindowRight < -1 {
		return errInvalid("window_right: %d, must be >= -1", p.WindowRight)
	}
	pl.causal, pl.left, pl.right = p.Causal, p.WindowLeft, p.WindowRight
	if p.SoftCap < 0 || isBad(p.SoftCap) {
		return errInvalid("softcap: %v must be finite and >= 0", p.SoftCap)
	}
	pl.cap = p.SoftCap
	if p.ALiBiSlopes != nil {
		if len(p.ALiBiSlopes) != pl.Hq {
			return errShape("alibi_slopes: length %d, expected Hq = %d", len(p.ALiBiSlopes), pl.Hq)
		}
		for h, s := range p.ALiBiSlopes {
			if isBad(s) {
				return errInvalid("alibi_slopes: slope %d is not finite", h)
			}
		}
		pl.alibi = p.ALiBiSlopes
	}
	if p.Sinks != nil {
		if len(p.Sinks) != pl.Hq {
			return errShape("sinks: length %d, expected Hq = %d", len(p.Sinks), pl.Hq)
		}
		for h, s := range p.Sinks {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 1) {
				return errInvalid("sinks: sink %d is NaN or +Inf", h)
			}
		}
		pl.sinks = p.Sinks
	}
	if p.KeyLengths != nil {
		if len(p.KeyLengths) != pl.B {
			return errShape("key_lengths: length %d, expected B = %d", len(p.KeyLengths), pl.B)
		}
		for b, n := range p.KeyLengths {
			if n < 0 || int(n) > pl.Lk {
				return errInvalid("key_lengths: entry %d is %d, outside 0..%d", b, n, pl.Lk)
			}
		}
		pl.keyLen = p.KeyLengths
	}
	if p.Bias != nil {
		if err := p.Bias.Validate("bias"); err != nil {
			return err
		}
		if !p.Bias.DType.IsFloat() {
			return errs.New(errs.UnsupportedDtype, "bias: dtype %v is not a float type", p.Bias.DType)
		}
		if p.Bias.NDim() > 4 {
			return errShape("bias: shape %v has more than 4 dimensions", p.Bias.Shape)
		}
		bt, err := tensor.BroadcastTo("bias", *p.Bias, []int{pl.B, pl.Hq, pl.Lq, pl.Lk})
		if err != nil {
			return err
		}
		pl.bias = &bt
	}
	pl.elementwise = pl.cap > 0 || pl.bias != nil || pl.alibi != nil
	return nil
}

func isBad(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// keyRange returns the half-open range [lo, hi) of keys visible to query i of batch b
// (empty when lo >= hi). Both ends are non-decreasing in i.
func (pl *plan) keyRange(b, i int) (lo, hi int) {
	ip := i + pl.offset
	lo, hi = 0, pl.Lk
	if pl.keyLen != nil {
		hi = int(pl.keyLen[b])
	}
	if pl.causal {
		hi = min(hi, ip+1)
	}
	if pl.right >= 0 {
		hi = min(hi, ip+pl.right+1)
	}
	if pl.left >= 0 {
		lo = max(lo, ip-pl.left)
	}
	return lo, hi
}
