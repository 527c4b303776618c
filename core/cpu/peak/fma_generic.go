package peak

// genericLanes is the number of independent chains of fmaGeneric.
const genericLanes = 8

// fmaGeneric is the plain-Go loop: n iterations of acc[i] = float32(m*acc[i]) + c for the
// 8 lanes. The explicit conversion rounds the product, so the compiler never fuses it
// and every platform computes the same (unfused) values.
func fmaGeneric(acc []float32, m, c float32, n int) {
	acc = acc[:genericLanes]
	a0, a1, a2, a3, a4, a5, a6, a7 := acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
	for range n {
		a0 = float32(m*a0) + c
		a1 = float32(m*a1) + c
		a2 = float32(m*a2) + c
		a3 = float32(m*a3) + c
		a4 = float32(m*a4) + c
		a5 = float32(m*a5) + c
		a6 = float32(m*a6) + c
		a7 = float32(m*a7) + c
	}
	acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7] = a0, a1, a2, a3, a4, a5, a6, a7
}
