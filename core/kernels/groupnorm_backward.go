package kernels

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// GroupNormBackwardArgs are the tensors of GroupNormBackward. Weight, DResidualOut,
// DWeight and DBias are optional (nil means absent).
type GroupNormBackwardArgs struct {
	H            tensor.Tensor  // [N, C, *spatial]: what the forward pass normalized (x, or its residual_out when a residual was fused)
	Groups       int            // as in the forward pass
	Weight       *tensor.Tensor // [C] as in the forward pass; 1 when absent
	DY           tensor.Tensor  // H's shape: the gradient of out
	DResidualOut *tensor.Tensor // H's shape: the gradient reaching residual_out from later layers; added to DX
	DX           tensor.Tensor  // H's shape: receives the gradient of h (which is also that of x and of residual)
	DWeight      *tensor.Tensor // [C]: receives sum over samples and positions of dy * xhat
	DBias        *tensor.Tensor // [C]: receives sum over samples and positions of dy
	Eps          float32        // as in the forward pass
}

// GroupNormBackward computes the gradients of out = xhat * weight[c] + bias[c] with
// xhat = (h - mean) * r over each (sample, group), M elements per group:
//
//	g = dy * weight[c]
//	dx = r * (g - sum(g)/M - xhat * sum(g * xhat)/M)   (+ d_residual_out)
//	dweight[c] = sum of dy * xhat over samples and positions, dbias[c] = sum of dy
//
// Tensors may have any float dtypes and strides; DX may be H, DY or DResidualOut itself;
// DWeight and DBias overlap nothing. Arithmetic is float32. Group sums run over rows in
// order; the parameter gradients are summed in fixed chunks of groups added in chunk
// order, so every result is the same for any thread count.
func GroupNormBackward(a GroupNormBackwardArgs) error {
	if err := checkGroups("h", a.H, a.Groups); err != nil {
		return err
	}
	c := a.H.Shape[1]
	params := []optTensor{{"weight", a.Weight}}
	grads := []optTensor{{"dweight", a.DWeight}, {"dbias", a.DBias}}
	if err := checkParams(c, append(params, grads...)...); err != nil {
		return err
	}
	if err := checkNormBackward(a.H, a.DY, a.DResidualOut, a.DX, params, grads, a.Eps); err != nil {
		return err
	}
	k := rowOps()
	w := loadVector(k, a.Weight, c)
	l := newGroupLayout(a.Groups, &a.H, nil, &a.DY, a.DResidualOut, &a.DX)
	h, dy, dres, dx := optRowIO(k, l.ts[0]), optRowIO(k, l.ts[2]), optRowIO(k, l.ts[3]), optRowIO(k, l.ts[4])
	// A large float32 dx is written with non-temporal stores (no read of its lines first).
	axpbyDX := k.forOutput(dx).axpby
	if a.H.NumEl() == 0 {
		l.samples = 0 // nothing to normalize; the parameter gradients are zero
	}
	grain, chunks := gradChunks(l.numGroups(), l.grain())
	pg := newParamGrads(chunks, c, a.DWeight, a.DBias)
	count := float32(l.perGroup * l.rowsPerChannel * l.rowLen)
	cpu.ParallelFor(l.numGroups(), grain, func(lo, hi int) {
		n := l.rowLen
		buf := getScratch(6 * n)
		defer putScratch(buf)
		b := *buf
		s := l.sumRows(k, h, nil, b)
		dyb, xhat, ob := b[3*n:4*n], b[4*n:5*n], b[5*n:]
		dw, db := pg.part(lo/grain, 0), pg.part(lo/grain, 1)
		for gi := lo; gi < hi; gi++ {
			mean, r := l.stats(&s, gi, a.Eps)
			// Sums of g and g*xhat over the group, from per-row sums of dy and dy*xhat.
			var sg, sgx float32
			for row := l.firstRow(gi); row < l.firstRow(gi+1); row++ {
				k.scaleShift(xhat, s.h(row), mean, r, 0)
				dyv := dy.load(dy.offset(row), dyb)
				sdy, sdyx := k.sum(dyv), k.dot(dyv, xhat)
				ch := l.channel(row)
				if dw != nil {
					dw[ch] += sdyx
				}
				if db != nil {
					db[ch] += sdy
				}
				if w != nil {
					sdy, sdyx = sdy*w[ch], sdyx*w[ch]
				}
				sg += sdy
				sgx += sdyx
			}
			mg, mgx := sg/count, sgx/count
			for row := l.firstRow(gi); row < l.firstRow(gi+1); row++ {
				k.scaleShift(xhat, s.h(row), mean, r, 0)
				dyv := dy.load(dy.offset(row), dyb)
				rw := r
				if w != nil {
					rw = r * w[l.channel(row)]
				}
				oo := dx.offset(row)
				if dres == nil {
					o := dx.dst(oo, ob)
					axpbyDX(o, dyv, xhat, rw, -r*mgx, -r*mg)
					dx.store(oo, o)
					continue
				}
				// dx may be d_residual_out itself: finish the norm's part in scratch first.
				k.axpby(ob, dyv, xhat, rw, -r*mgx, -r*mg)
				o := dx.dst(oo, ob)
				k.add(o, ob, dres.load(dres.offset(row), s.rb))
				dx.store(oo, o)
			}
		}
	})
	pg.finish(k)
	return nil
}
