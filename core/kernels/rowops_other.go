//go:build !amd64 || purego

package kernels

import "github.com/mlxprim/mlxprim/core/cpu"

// kernelsFor returns the plain-Go row kernels: this build has no assembly.
func kernelsFor(cpu.ISA) *rowKernels { return &genericKernels }

// Prefetch is a cache hint (see rowops_amd64.go); without assembly there is none to give.
func Prefetch(addr uintptr, n int) {}
