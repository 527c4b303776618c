package kernels

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// RMSNormBackwardArgs are the tensors of RMSNormBackward. Weight, DResidualOut and
// DWeight are optional (nil means absent).
type RMSNormBackwardArgs struct {
	H            tensor.Tensor  // [..., D]: the rows the forward pass normalized (x, or its residual_out when a residual was fused)
	Weight       *tensor.Tensor // [D] as in the forward pass; 1 when absent
	DY           tensor.Tensor  // H's shape: the gradient of out
	DResidualOut *tensor.Tensor // H's shape: the gradient reaching residual_out from later layers; added to DX
	DX           tensor.Tensor  // H's shape: receives the gradient of h (which is also that of x and of residual)
	DWeight      *tensor.Tensor // [D]: receives the gradient of weight, summed over rows
	Eps          float32        // as in the forward pass
}

// RMSNormBackward computes the gradients of out = h * r * weight, r = 1/sqrt(mean(h^2) + eps),
// row by row (D = row length, g = dy * weight):
//
//	dx = r * g - h * r^3 * sum_j(g_j * h_j) / D   (+ d_residual_out)
//	dweight = sum over rows of dy * h * r
//
// Tensors may have any float dtypes and strides; DX may be H, DY or DResidualOut itself;
// DWeight overlaps nothing. Arithmetic is float32. DWeight is summed in fixed chunks of
// rows whose partial sums are added in chunk order, so it is the same for any thread
// count. dx of a row does not depend on the other rows.
func RMSNormBackward(a RMSNormBackwardArgs) error {
	if err := checkFloatRows("h", a.H); err != nil {
		return err
	}
	d := a.H.Shape[a.H.NDim()-1]
	params := []optTensor{{"weight", a.Weight}}
	grads := []optTensor{{"dweight", a.DWeight}}
	if err := checkParams(d, append(params, grads...)...); err != nil {
		return err
	}
	if err := checkNormBackward(a.H, a.DY, a.DResidualOut, a.DX, params, grads, a.Eps); err != nil {
		return err
	}
	w := loadVector(rowOps(), a.Weight, d)
	normBackwardRows(a.H, a.DY, a.DResidualOut, a.DX, []*tensor.Tensor{a.DWeight},
		func(k *rowKernels, dst, h, dy, tmp []float32, parts [][]float32) {
			// Two passes over the row: the sums, then dx and dweight's part. LayerNorm's
			// pass with mean 0 has xhat = h*r, so dx = g*r + xhat*(-r^2 c/d).
			ss, c := k.sumSqDot(h, dy, w)
			r := rstd(ss/float32(d), a.Eps)
			r64 := float64(r)
			k.normGrad(dst, parts[0], nil, h, dy, w, 0, r, r, float32(-r64*r64*float64(c)/float64(d)), 0)
		})
	return nil
}

// normBackwardRows is the row loop of RMSNormBackward and LayerNormBackward. For each row
// it loads h and dy and lets row write dx into dst (tmp is 2*D of scratch, parts the
// chunk's partial sums of the wanted parameter gradients), then adds d_residual_out and
// stores dx. The parameter gradients are summed over fixed chunks of rows and the
// partials added in chunk order. row's last kernel call, normGrad, writes dx:
// for a large float32 dx (and no d_residual_out, whose sum comes after) it is given the
// streaming one, which skips reading dx's lines before it overwrites them.
func normBackwardRows(h, dy tensor.Tensor, dres *tensor.Tensor, dx tensor.Tensor, gradOuts []*tensor.Tensor,
	row func(k *rowKernels, dst, h, dy, tmp []float32, parts [][]float32)) {
	k := rowOps()
	d := h.Shape[h.NDim()-1]
	hs, dys, dress, dxs := newRowIO(k, h), newRowIO(k, dy), optRowIO(k, dres), newRowIO(k, dx)
	grain, chunks := gradChunks(h.NumRows(), rowsPerChunk(d))
	pg := newParamGrads(chunks, d, gradOuts...)
	kdx := k
	if s := k.forOutput(dxs); s != k && dress == nil {
		c := *k
		c.normGrad = s.normGrad
		kdx = &c
	}
	cpu.ParallelFor(h.NumRows(), grain, func(lo, hi int) {
		buf := getScratch(6 * d)
		defer putScratch(buf)
		b := *buf
		hb, dyb, ob, rb, tmp := b[:d], b[d:2*d], b[2*d:3*d], b[3*d:4*d], b[4*d:]
		parts := make([][]float32, len(gradOuts))
		for i := range parts {
			parts[i] = pg.part(lo/grain, i)
		}
		for r := lo; r < hi; r++ {
			hv := hs.load(hs.offset(r), hb)
			dyv := dys.load(dys.offset(r), dyb)
			oo := dxs.offset(r)
			if dress == nil {
				o := dxs.dst(oo, ob)
				row(kdx, o, hv, dyv, tmp, parts)
				dxs.store(oo, o)
				continue
			}
			// dx may be d_residual_out itself: finish the norm's part in scratch first.
			row(k, ob, hv, dyv, tmp, parts)
			o := dxs.dst(oo, ob)
			k.add(o, ob, dress.load(dress.offset(r), rb))
			dxs.store(oo, o)
		}
	})
	pg.finish(k)
}
