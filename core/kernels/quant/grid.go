package quant

import "math"

// The integer grids shared by the int8 and int4 formats. Each function quantizes one row
// (int8) or group (int4) v into codes and returns its scale (and zero point); see the
// package documentation for the formulas.

// quantSym fills codes with round(v/s) clamped to [-qmax, qmax] and returns s.
func quantSym(v []float32, qmax int, codes []int) (s float32) {
	_, _, amax, constant := rowStats(v)
	if constant {
		return quantConstant(v[0], -qmax, codes)
	}
	s = fitScale(max(float32(amax/float64(qmax)), minScale), qmax)
	for i, x := range v {
		codes[i] = roundClamp(float64(x)/float64(s), -qmax, qmax)
	}
	return s
}

// quantAsym fills codes with round(v/s) + z clamped to [qmin, qmax] and returns s and z.
// The range is widened to include zero so that z lies in [qmin, qmax].
func quantAsym(v []float32, qmin, qmax int, codes []int) (s float32, z int) {
	lo, hi, _, constant := rowStats(v)
	if constant {
		s = quantConstant(v[0], qmin, codes)
		if v[0] < 0 && qmin == 0 {
			z = 1 // no negative code: put the zero point one step above q = 0
		}
		return s, z
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	s = max(float32((hi-lo)/float64(qmax-qmin)), minScale)
	z = roundClamp(float64(qmin)-lo/float64(s), qmin, qmax)
	// At the top of the float32 range the rounded zero point can put an extreme code's
	// value one step beyond ±MaxFloat32: such codes are not used.
	for isInf32(float32(qmin-z) * s) {
		qmin++
	}
	for isInf32(float32(qmax-z) * s) {
		qmax--
	}
	for i, x := range v {
		codes[i] = min(max(int(math.RoundToEven(float64(x)/float64(s)))+z, qmin), qmax)
	}
	return s, z
}

func isInf32(v float32) bool { return math.IsInf(float64(v), 0) }

// quantConstant handles a row whose elements all equal c: s = |c| (1 when c is 0) and
// codes one step from the zero point on c's side, so the row dequantizes exactly to c.
// qmin is the lowest code; when it is 0 a negative c is coded 0 (with zero point 1).
func quantConstant(c float32, qmin int, codes []int) float32 {
	code, s := 0, float32(1)
	switch {
	case c > 0:
		code, s = 1, c
	case c < 0:
		code, s = -1, -c
		if qmin == 0 {
			code = 0
		}
	}
	for i := range codes {
		codes[i] = code
	}
	return s
}

// fitScale lowers s by one ulp when span·s, the largest code magnitude times s, would
// round to infinity in float32 (rows reaching the top of the float32 range), so every
// code dequantizes to a finite value.
func fitScale(s float32, span int) float32 {
	if math.IsInf(float64(float32(float64(span)*float64(s))), 0) {
		s = math.Nextafter32(s, 0)
	}
	return s
}
