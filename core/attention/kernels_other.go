//go:build !amd64 || purego

package attention

// No assembly on this platform or build: only the generic kernels exist.
var avx512Kernels, avx2Kernels *kernels
