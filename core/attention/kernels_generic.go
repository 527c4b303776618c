package attention

import "math"

// genericKernels is the plain-Go definition of every kernel (and the test oracle).
var genericKernels = kernels{scores: scoresGeneric, expSum: expSumGeneric, accum: accumGeneric, scaleDiv: scaleDivGeneric,
	scores2: pairScores(scoresGeneric), accum2: pairAccum(accumGeneric), accum4: quadAccum(accumGeneric), axpyRows: axpyRowsGeneric,
	axpyRows2: axpyRows2Generic, softCap: softCapGeneric, tanhDiv: tanhDivGeneric}

// scoresGeneric: each dot product accumulates over d in increasing order.
func scoresGeneric(s, q, k []float32, ks int, scale float32) float32 {
	mx := float32(math.Inf(-1))
	for j := range s {
		kr := k[j*ks : j*ks+len(q)]
		var acc float32
		for d, qv := range q {
			acc += qv * kr[d]
		}
		v := acc * scale
		s[j] = v
		if v > mx || v != v {
			mx = v
		}
	}
	return mx
}

func expSumGeneric(x []float32, m float32) float32 {
	var sum float32
	for j, v := range x {
		e := expf(v - m)
		x[j] = e
		sum += e
	}
	return sum
}

func accumGeneric(o, p, v []float32, vs int) {
	for j, pj := range p {
		vr := v[j*vs : j*vs+len(o)]
		for d, x := range vr {
			o[d] += pj * x
		}
	}
}

func scaleDivGeneric(o []float32, scale, l float32) {
	for d := range o {
		o[d] = float32(o[d]*scale) / l
	}
}

// expf is exp in float32 (correctly rounded via float64); exp(-Inf) = 0.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

func axpyRowsGeneric(dst []float32, ld int, a, x []float32) {
	for j, aj := range a {
		row := dst[j*ld : j*ld+len(x)]
		for d, v := range x {
			row[d] += aj * v
		}
	}
}

func axpyRows2Generic(dst []float32, ld int, a1, x1, a2, x2 []float32) {
	for j, aj := range a1 {
		row, bj := dst[j*ld:j*ld+len(x1)], a2[j]
		for d, v := range x1 {
			row[d] += aj * v
			row[d] += bj * x2[d]
		}
	}
}
