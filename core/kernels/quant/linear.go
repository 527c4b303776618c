package quant

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels"
	"github.com/mlxprim/mlxprim/core/tensor"
)

// Int8Linear computes y[..., r] = Σ_j x[..., j]·ŵ[r, j] + bias[r] with int8 weights
// quantized per output row: q Int8 [out, in] (row-major contiguous), scales Float32 [out],
// zeros Int32 [out] or nil (symmetric), ŵ = f32(q - z)·s, summed as s·Σ_j x·f32(q - z)
// (the scale multiplies each row's sum once). x [..., in] and y [..., out]
// are float32, float16 or bfloat16 with any strides and the same leading shape; bias
// [out] is optional (nil) and any float dtype. y may be the very same view as x (in
// place); any other overlap with an input is an error. Nothing is written on error.
func Int8Linear(x, q, scales tensor.Tensor, zeros, bias *tensor.Tensor, y tensor.Tensor) error {
	out, in, err := checkPackedWeights("q", q, tensor.Int8)
	if err != nil {
		return err
	}
	if err := checkInt8Params(out, scales, zeros); err != nil {
		return err
	}
	weights := []tensor.Named{{Name: "q", T: q}, {Name: "scales", T: scales}}
	if zeros != nil {
		weights = append(weights, tensor.Named{Name: "zeros", T: *zeros})
	}
	job, err := newLinearJob(x, y, bias, in, out, weights)
	if err != nil || job == nil {
		return err
	}
	ks := selectKernels()
	xs := job.loadX(ks, false)
	defer putFloats(xs)
	cpu.ParallelFor(out, rowGrain(out, in), func(lo, hi int) {
		if job.rows == 1 && ks.dotI8Run != nil && in%16 == 0 {
			// A single row of x: runs of rows per kernel call, not one call per row.
			sc := getScratch(0, 0)
			defer putScratch(sc)
			s, z, o := sc.i8s[:], sc.i8z[:], sc.runOut[:]
			for r := lo; r < hi; r += i8RunRows {
				n := min(i8RunRows, hi-r)
				for i := range n {
					s[i], z[i] = int8RowParams(r+i, scales, zeros)
				}
				ks.dotI8Run(*xs, unsafe.Add(q.Data, r*in), in, s[:n], z[:n], o[:n])
				for i, v := range o[:n] {
					job.store(0, r+i, v)
				}
			}
			return
		}
		row := func(r int) ([]int8, float32, int32) {
			s, z := int8RowParams(r, scales, zeros)
			return unsafe.Slice((*int8)(unsafe.Add(q.Data, r*in)), in), s, z
		}
		// One row of x goes row by row: pairs of weight rows would only reorder the
		// stream (measured 10-50% slower on AVX2).
		pairs := ks.dotI8Pair != nil && in%16 == 0 && job.rows >= 2
		var o []float32
		if pairs {
			sc := getScratch(0, 0)
			defer putScratch(sc)
			o = sc.runOut[:4]
		}
		if pairs {
			// Two weight rows against two rows of x at a time: each weight block is
			// dequantized once for both rows of x, each x block used by both weight rows
			// in one pass. The next band is prefetched while one is computed.
			xrow := func(m int) []float32 { return (*xs)[m*in : (m+1)*in] }
			job.bands(lo, hi, func(_, r1 int) { job.prefetchNext(q.Data, r1, bandRows, hi, in) },
				func(m, r int) {
					w0, s0, z0 := row(r)
					w1, s1, z1 := row(r + 1)
					ks.dotI8Pair((*xs)[m*in:], in, w0, w1, s0, s1, z0, z1, o)
					job.store(m, r, o[0])
					job.store(m+1, r, o[1])
					job.store(m, r+1, o[2])
					job.store(m+1, r+1, o[3])
				},
				func(m, r int) {
					w, s, z := row(r)
					job.store(m, r, ks.dotI8(xrow(m), w, s, z))
				})
			return
		}
		for r := lo; r < hi; r++ {
			job.prefetchNext(q.Data, r+1, 1, hi, in)
			w0, s0, z0 := row(r)
			for m := range job.rows {
				job.store(m, r, ks.dotI8((*xs)[m*in:(m+1)*in], w0, s0, z0))
			}
		}
	})
	return nil
}

// Int4Linear computes y[..., r] = Σ_j x[..., j]·ŵ[r, j] + bias[r] with int4 weights
// quantized per group of group (32, 64 or 128) elements: q Int4 [out, in], scales
// Float32 [out, in/group], zeros Uint8 [out, in/group] or nil (symmetric, two's
// complement nibbles); ŵ as DequantizeInt4 gives it (the AVX2 and AVX-512 kernels sum
// s·Σq·x, less z·s·Σx, per group, equal up to float32 rounding; the AVX-512 ones first
// round x to 23 bits per cell of 8 elements, see kernelSet). x, y and bias are as for
// Int8Linear.
func Int4Linear(x, q, scales tensor.Tensor, zeros *tensor.Tensor, group int, bias *tensor.Tensor, y tensor.Tensor) error {
	out, in, err := checkMatrix("q", q, tensor.Int4)
	if err != nil {
		return err
	}
	if in == 0 {
		return errs.New(errs.ShapeMismatch, "q: in_features must be positive")
	}
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkInt4Params(out, in, group, q, scales, zeros); err != nil {
		return err
	}
	weights := []tensor.Named{{Name: "q", T: q}, {Name: "scales", T: scales}}
	if zeros != nil {
		weights = append(weights, tensor.Named{Name: "zeros", T: *zeros})
	}
	job, err := newLinearJob(x, y, bias, in, out, weights)
	if err != nil || job == nil {
		return err
	}
	ks := selectKernels()
	xs := job.loadX(ks, true)
	defer putFloats(xs)
	ng, shift := in/group, uint(bits.TrailingZeros(uint(group))-5)
	kind := i4Sym
	if zeros != nil {
		kind = i4Asym
	}
	cpu.ParallelFor(out, rowGrain(out, in/2), func(lo, hi int) {
		sc := getScratch(bandRows*17*ng+4, bandRows*ng)
		defer putScratch(sc)
		// prep readies weight row r in scratch slot i.
		for i := range bandRows {
			sc.rows[i] = i4Row{kind: kind, shift: shift, tab: sc.f[i*17*ng : i*17*ng+16*ng]}
		}
		prep := func(i, r int) (*i4Row, []byte) {
			row := &sc.rows[i]
			row.s = rowF32(ks, scales, r, sc.f[i*17*ng+16*ng:(i+1)*17*ng])
			if zeros != nil {
				row.z = rowU8(*zeros, r, sc.b[i*ng:(i+1)*ng])
			}
			ks.prepI4(row)
			return row, unsafe.Slice((*byte)(unsafe.Add(q.Data, r*in/2)), in/2)
		}
		if job.runsI4Possible(ks, in) {
			run := &sc.run
			*run = i4Run{kind: kind, shift: shift, in: in, wld: in / 2}
			sbuf, cbuf := sc.runBufs(ng)
			job.runsI4(ks, *xs, lo, hi, run, sc.runOut[:], func(r, n int) {
				run.w = unsafe.Add(q.Data, r*in/2)
				run.s, run.sld = i4Params(ks, scales, r, n, ng, sbuf)
				if zeros != nil {
					for i := range n {
						s := unsafe.Slice((*float32)(unsafe.Add(run.s, i*run.sld)), ng)
						asymOffsets(cbuf[i*ng:(i+1)*ng], s, rowU8(*zeros, r+i, sc.b[:ng]))
					}
					run.c, run.cld = unsafe.Pointer(&cbuf[0]), ng*4
				}
			})
			return
		}
		job.linesI4(ks, *xs, lo, hi, prep, sc.f[bandRows*17*ng:])
	})
	return nil
}

// i4RunRows and i8RunRows are how many weight rows one dotI4Run or dotI8Run call covers.
const (
	i4RunRows = 32
	i8RunRows = 32
)

// runsI4Possible reports whether the rows of x can go through runsI4: the path has
// dotI4Run, the rows are whole blocks of 128 weights, and there is one row of x or the
// path prefers runs for several (i4RunsAnyRows).
func (j *linearJob) runsI4Possible(ks *kernelSet, in int) bool {
	return (j.rows == 1 || ks.i4RunsAnyRows) && ks.dotI4Run != nil && in%128 == 0
}

// runsI4 computes outputs [lo, hi) for every row of x (xs, each row as prepXI4 laid it
// out) through ks.dotI4Run, i4RunRows weight rows per call, with one Go call per run and
// row of x rather than per output; set points run at rows [r, r+n). The run's weights
// (64 KiB at 4096 inputs) stay in L2 for the rows of x after the first.
func (j *linearJob) runsI4(ks *kernelSet, xs []float32, lo, hi int, run *i4Run, out []float32, set func(r, n int)) {
	n := j.xLen(ks, true)
	for r := lo; r < hi; r += i4RunRows {
		k := min(i4RunRows, hi-r)
		set(r, k)
		m := 0
		for ; ks.dotI4Run2 != nil && m+2 <= j.rows; m += 2 {
			ks.dotI4Run2(xs[m*n:(m+2)*n], n, run, out[:2*k])
			for i := range k {
				j.store(m, r+i, out[i])
				j.store(m+1, r+i, out[k+i])
			}
		}
		for ; m < j.rows; m++ {
			ks.dotI4Run(xs[m*n:(m+1)*n], run, out[:k])
			for i, v := range out[:k] {
				j.store(m, r+i, v)
			}
		}
	}
}

// i4Params returns rows [r, r+n) of the per-group parameters t ([out, ng]) as an i4Run
// wants them, with the bytes between rows: t itself when its rows are contiguous float32,
// else the rows widened into buf (n·ng floats).
func i4Params(ks *kernelSet, t tensor.Tensor, r, n, ng int, buf []float32) (unsafe.Pointer, int) {
	if t.DType == tensor.Float32 && t.Strides[1] == 1 {
		return unsafe.Add(t.Data, r*t.Strides[0]*4), t.Strides[0] * 4
	}
	if half := t.DType == tensor.Float16 || t.DType == tensor.BFloat16; half && t.Strides[1] == 1 && t.Strides[0] == ng {
		// Adjacent rows of halves: one conversion for all n (per row, the calls cost
		// more than the conversions of a 64-group row).
		src := unsafe.Slice((*uint16)(unsafe.Add(t.Data, r*ng*2)), n*ng)
		if t.DType == tensor.Float16 {
			ks.widenF16(buf[:n*ng], src)
		} else {
			ks.widenBF16(buf[:n*ng], src)
		}
		return unsafe.Pointer(&buf[0]), ng * 4
	}
	for i := range n {
		rowF32(ks, t, r+i, buf[i*ng:(i+1)*ng])
	}
	return unsafe.Pointer(&buf[0]), ng * 4
}

// bandRows is how many weight rows bands takes at a time.
const bandRows = 16

// bands walks the outputs [lo, hi) of every row of x in bands of bandRows weight rows:
// each pair of x rows meets the whole band while it is in L1, and the band's weights stay
// in L2 for the next pair (taking every x row for each pair of weight rows instead read
// all the x rows from L2 for each pair). start(r0, r1) readies weight rows [r0, r1);
// quad(m, r) computes x rows m, m+1 against weight rows r, r+1, and single(m, r) one
// output, for the rows left over. The kernels give an output the same bits either way.
func (j *linearJob) bands(lo, hi int, start func(r0, r1 int), quad, single func(m, r int)) {
	for r0 := lo; r0 < hi; r0 += bandRows {
		r1 := min(r0+bandRows, hi)
		start(r0, r1)
		for m := 0; m < j.rows; m += 2 {
			for r := r0; r < r1; r += 2 {
				if m+1 < j.rows && r+1 < r1 {
					quad(m, r)
					continue
				}
				for k := m; k < min(m+2, j.rows); k++ {
					for c := r; c < min(r+2, r1); c++ {
						single(k, c)
					}
				}
			}
		}
	}
}

// linesI4 computes outputs [lo, hi) for every row of x, the weight rows readied by prep:
// a single row of x one weight row at a time (rowI4), several in bands. out is scratch of
// four floats.
func (j *linearJob) linesI4(ks *kernelSet, xs []float32, lo, hi int, prep func(i, r int) (*i4Row, []byte), out []float32) {
	if j.rows == 1 {
		for r := lo; r < hi; r++ {
			j.rowI4(ks, xs, r, prep)
		}
		return
	}
	n := j.xLen(ks, true)
	var rows [bandRows]*i4Row
	var ws [bandRows][]byte
	r0 := 0
	j.bands(lo, hi,
		func(a, b int) {
			r0 = a
			for i := range b - a {
				rows[i], ws[i] = prep(i, a+i)
			}
		},
		func(m, r int) {
			i := r - r0
			ks.dotI4Pair(xs[m*n:], n, ws[i], ws[i+1], rows[i], rows[i+1], out[:2], out[2:4])
			j.store(m, r, out[0])
			j.store(m+1, r, out[1])
			j.store(m, r+1, out[2])
			j.store(m+1, r+1, out[3])
		},
		func(m, r int) { j.store(m, r, ks.dotI4(xs[m*n:], ws[r-r0], rows[r-r0])) })
}

// rowI4 computes output column r for a single row of x: dotI4 one weight row at a time
// streams the weights from memory fastest.
func (j *linearJob) rowI4(ks *kernelSet, xs []float32, r int, prep func(i, r int) (*i4Row, []byte)) {
	row, w := prep(0, r)
	j.store(0, r, ks.dotI4(xs, w, row))
}

// prefetchNext asks for weight rows [next, next+n) (of rowBytes each from base, below hi)
// while the rows before them are computed. With several rows of x a weight row is used
// long enough that the next ones arrive in time (10-25% faster at 8 rows of x); a single
// row of x streams the weights, which the hardware prefetches by itself.
func (j *linearJob) prefetchNext(base unsafe.Pointer, next, n, hi, rowBytes int) {
	if j.rows > 1 && next < hi {
		kernels.Prefetch(uintptr(base)+uintptr(next*rowBytes), min(n, hi-next)*rowBytes)
	}
}

// AffineLinear computes y[..., r] = Σ_j x[..., j]·ŵ[r, j] + bias[r] with weights in MLX's
// affine format (see QuantizeAffine): wq Int32 [out, in*bits/32] (row-major contiguous),
// scales and biases [out, in/group] of one float dtype, bits 4 or 8, group 32, 64 or 128;
// ŵ = f32(f32(q·s) + b) with s and b widened to float32 (the AVX2 and AVX-512 4-bit
// kernels sum s·Σq·x + b·Σx per group instead, equal up to float32 rounding, the AVX-512
// ones from x rounded as for Int4Linear). x, y and bias are as for Int8Linear.
func AffineLinear(x, wq, scales, biases tensor.Tensor, group, nbits int, bias *tensor.Tensor, y tensor.Tensor) error {
	if err := checkBits(nbits); err != nil {
		return err
	}
	out, words, err := checkPackedWeights("wq", wq, tensor.Int32)
	if err != nil {
		return err
	}
	in := words * 32 / nbits
	if err := checkGroup(group, in); err != nil {
		return err
	}
	if err := checkAffineParams(out, in, group, nbits, wq, scales, biases); err != nil {
		return err
	}
	weights := []tensor.Named{{Name: "wq", T: wq}, {Name: "scales", T: scales}, {Name: "biases", T: biases}}
	job, err := newLinearJob(x, y, bias, in, out, weights)
	if err != nil || job == nil {
		return err
	}
	ks := selectKernels()
	xs := job.loadX(ks, nbits == 4)
	defer putFloats(xs)
	ng, rowBytes := in/group, in*nbits/8
	shift := uint(bits.TrailingZeros(uint(group)) - 5)
	cpu.ParallelFor(out, rowGrain(out, rowBytes), func(lo, hi int) {
		sc := getScratch(bandRows*18*ng+4, bandRows*rowBytes)
		defer putScratch(sc)
		// prep readies weight row r in scratch slot i.
		for i := range bandRows {
			sc.rows[i] = i4Row{kind: i4Affine, shift: shift, tab: sc.f[i*18*ng : i*18*ng+16*ng]}
		}
		prep := func(i, r int) (*i4Row, []byte) {
			row, f := &sc.rows[i], sc.f[i*18*ng:(i+1)*18*ng]
			row.s, row.b = rowF32(ks, scales, r, f[16*ng:17*ng]), rowF32(ks, biases, r, f[17*ng:])
			w := rowBytesLE(unsafe.Add(wq.Data, r*rowBytes), rowBytes, sc.b[i*rowBytes:(i+1)*rowBytes])
			if nbits == 4 {
				ks.prepI4(row)
			}
			return row, w
		}
		if nbits == 4 && job.runsI4Possible(ks, in) {
			run := &sc.run
			*run = i4Run{kind: i4Affine, shift: shift, in: in, wld: rowBytes}
			sbuf, cbuf := sc.runBufs(ng)
			job.runsI4(ks, *xs, lo, hi, run, sc.runOut[:], func(r, n int) {
				// dotI4Run exists on little-endian CPUs only, where the words are the bytes.
				run.w = unsafe.Add(wq.Data, r*rowBytes)
				run.s, run.sld = i4Params(ks, scales, r, n, ng, sbuf)
				run.c, run.cld = i4Params(ks, biases, r, n, ng, cbuf)
			})
			return
		}
		if nbits == 4 {
			job.linesI4(ks, *xs, lo, hi, prep, sc.f[bandRows*18*ng:])
			return
		}
		for r := lo; r < hi; r++ {
			row, w := prep(0, r)
			for m := range job.rows {
				job.store(m, r, ks.dotU8((*xs)[m*in:(m+1)*in], w, row.s, row.b, shift+5))
			}
		}
	})
	return nil
}

// linearJob holds what every linear layer shares: the activations, the output and the
// optional bias, already validated.
type linearJob struct {
	x, y    tensor.Tensor
	in, out int
	rows    int       // rows of x (and y)
	bias    []float32 // widened bias, or nil
	yRow    []int     // element offset of each row of y
	yStep   int       // stride of y's last axis
}

// newLinearJob validates x, y and bias against the weights' in and out. It returns a nil
// job (and no error) when there is nothing to compute.
func newLinearJob(x, y tensor.Tensor, bias *tensor.Tensor, in, out int, weights []tensor.Named) (*linearJob, error) {
	if err := checkFloat("x", x); err != nil {
		return nil, err
	}
	if x.NDim() == 0 || x.Shape[x.NDim()-1] != in {
		return nil, errs.New(errs.ShapeMismatch, "x: shape %v, want [..., %d] (in_features)", x.Shape, in)
	}
	if err := checkFloat("y", y); err != nil {
		return nil, err
	}
	want := append(append([]int{}, x.Shape[:x.NDim()-1]...), out)
	if err := checkShape("y", y, want...); err != nil {
		return nil, err
	}
	inputs := weights
	if bias != nil {
		if err := checkFloat("bias", *bias); err != nil {
			return nil, err
		}
		if err := checkShape("bias", *bias, out); err != nil {
			return nil, err
		}
		inputs = append(inputs, tensor.Named{Name: "bias", T: *bias})
	}
	// y may be x itself (x is read in full before y is written), nothing else.
	if err := checkOutputs([]tensor.Named{{Name: "y", T: y}}, inputs); err != nil {
		return nil, err
	}
	if err := tensor.CheckOutputOverlap(tensor.Named{Name: "y", T: y}, tensor.Named{Name: "x", T: x}); err != nil {
		return nil, err
	}
	j := &linearJob{x: x, y: y, in: in, out: out, rows: x.NumRows(), yStep: y.Strides[y.NDim()-1]}
	if j.rows == 0 || out == 0 {
		return nil, nil
	}
	if bias != nil {
		j.bias = make([]float32, out)
		bias.LoadRow(0, j.bias)
	}
	j.yRow = make([]int, j.rows)
	for m := range j.yRow {
		j.yRow[m] = y.RowOffset(m)
	}
	return j, nil
}

// loadX widens every row of x to float32 into a pooled buffer, one row after another,
// each of len xLen(ks, fourBit): as the 4-bit kernels read it (prepXI4) when fourBit.
func (j *linearJob) loadX(ks *kernelSet, fourBit bool) *[]float32 {
	n := j.xLen(ks, fourBit)
	xs := getFloats(j.rows * n)
	var tmp []float32
	if fourBit {
		buf := getFloats(j.in) // pooled: a call allocates nothing once warm
		defer putFloats(buf)
		tmp = *buf
	}
	step := j.x.Strides[j.x.NDim()-1]
	for m := range j.rows {
		dst := (*xs)[m*n : (m+1)*n]
		src := dst[:j.in]
		if fourBit {
			src = tmp
		}
		off := j.x.RowOffset(m)
		if step == 1 && j.x.DType != tensor.Float32 {
			half := unsafe.Slice((*uint16)(unsafe.Add(j.x.Data, off*2)), j.in)
			if j.x.DType == tensor.Float16 {
				ks.widenF16(src, half)
			} else {
				ks.widenBF16(src, half)
			}
		} else {
			j.x.LoadRow(off, src)
		}
		if fourBit {
			ks.prepXI4(dst, src)
		}
	}
	return xs
}

// xLen is the length of one row of loadX's buffer.
func (j *linearJob) xLen(ks *kernelSet, fourBit bool) int {
	if fourBit {
		return ks.i4XLen(j.in)
	}
	return j.in
}

// store writes y[m, r] = v + bias[r], rounded once to y's dtype.
func (j *linearJob) store(m, r int, v float32) {
	if j.bias != nil {
		v += j.bias[r]
	}
	storeF32(j.y, j.yRow[m]+r*j.yStep, v)
}

// checkPackedWeights validates a row-major contiguous weight matrix [out, cols] of dtype
// dt with cols > 0.
func checkPackedWeights(name string, t tensor.Tensor, dt tensor.DType) (out, cols int, err error) {
	out, cols, err = checkMatrix(name, t, dt)
	if err != nil {
		return 0, 0, err
	}
	if cols == 0 {
		return 0, 0, errs.New(errs.ShapeMismatch, "%s: in_features must be positive", name)
	}
	return out, cols, checkContiguous(name, t)
}

// rowGrain is how many of the out weight rows one parallel chunk covers: a quarter of
// each thread's share, so that every thread reads long contiguous runs of weights, one
// sequential stream the hardware prefetches well (chunks of 32 KiB dealt out in turn
// measured 40% slower on a matrix-vector product), and at least 32 KiB. Results do not
// depend on it: each output element is computed by the same kernel whatever its chunk.
func rowGrain(out, rowBytes int) int {
	return max((32<<10)/max(rowBytes, 1), (out+4*cpu.NumThreads()-1)/(4*cpu.NumThreads()), 1)
}

// rowF32 returns row r of a float matrix as float32: a view when it is contiguous
// float32, otherwise widened into buf.
func rowF32(ks *kernelSet, t tensor.Tensor, r int, buf []float32) []float32 {
	off, step := r*t.Strides[0], t.Strides[1]
	switch {
	case step == 1 && t.DType == tensor.Float32:
		return unsafe.Slice((*float32)(unsafe.Add(t.Data, off*4)), len(buf))
	case step == 1 && t.DType == tensor.Float16:
		ks.widenF16(buf, unsafe.Slice((*uint16)(unsafe.Add(t.Data, off*2)), len(buf)))
	case step == 1 && t.DType == tensor.BFloat16:
		ks.widenBF16(buf, unsafe.Slice((*uint16)(unsafe.Add(t.Data, off*2)), len(buf)))
	default:
		t.LoadRow(off, buf)
	}
	return buf
}

// rowU8 returns row r of a Uint8 matrix: a view when contiguous, otherwise copied to buf.
func rowU8(t tensor.Tensor, r int, buf []byte) []byte {
	n := t.Shape[1]
	if t.Strides[1] == 1 {
		return unsafe.Slice((*byte)(unsafe.Add(t.Data, r*t.Strides[0])), n)
	}
	for g := range n {
		buf[g] = *(*byte)(unsafe.Add(t.Data, elemOffset(t, r, g)))
	}
	return buf[:n]
}

// littleEndian reports the byte order of this machine: MLX's words are read as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// rowBytesLE returns n bytes of 32-bit words at p in little-endian order: a view on
// little-endian machines, a converted copy in buf otherwise.
func rowBytesLE(p unsafe.Pointer, n int, buf []byte) []byte {
	src := unsafe.Slice((*byte)(p), n)
	if littleEndian {
		return src
	}
	for i := 0; i < n; i += 4 {
		binary.LittleEndian.PutUint32(buf[i:], binary.NativeEndian.Uint32(src[i:]))
	}
	return buf[:n]
}

// scratch is per-chunk working memory, pooled so that steady-state calls do not allocate.
type scratch struct {
	f    []float32
	b    []byte
	rows [bandRows]i4Row

	// runsI4's run, its parameter rows (when widened or computed) and its results (for
	// two rows of x; also the int8 kernels' results); the int8 runs' scales and zero
	// points.
	run        i4Run
	runS, runC []float32
	runOut     [2 * max(i4RunRows, i8RunRows)]float32
	i8s        [i8RunRows]float32
	i8z        [i8RunRows]int32
}

// runBufs returns room for i4RunRows rows of ng scales and of ng offsets.
func (sc *scratch) runBufs(ng int) (s, c []float32) {
	if n := i4RunRows * ng; cap(sc.runS) < n {
		sc.runS, sc.runC = make([]float32, n), make([]float32, n)
	}
	return sc.runS[:i4RunRows*ng], sc.runC[:i4RunRows*ng]
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch(nf, nb int) *scratch {
	sc := scratchPool.Get().(*scratch)
	if cap(sc.f) < nf {
		sc.f = make([]float32, nf)
	}
	if cap(sc.b) < nb {
		sc.b = make([]byte, nb)
	}
	sc.f, sc.b = sc.f[:nf], sc.b[:nb]
	return sc
}

// putScratch returns sc to the pool without keeping references to caller memory.
func putScratch(sc *scratch) {
	sc.rows, sc.run = [bandRows]i4Row{}, i4Run{}
	scratchPool.Put(sc)
}

var floatsPool = sync.Pool{New: func() any { return new([]float32) }}

func getFloats(n int) *[]float32 {
	p := floatsPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func putFloats(p *[]float32) { floatsPool.Put(p) }
