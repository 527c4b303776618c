//go:build !amd64 || purego

package quant

import "github.com/mlxprim/mlxprim/core/cpu"

// kernelsFor returns the plain-Go kernels: this build has no assembly.
func kernelsFor(cpu.ISA) *kernelSet { return &genericKernels }
