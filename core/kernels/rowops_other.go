//go:build !amd64 || purego

package kernels

import "github.com/mlxprim/mlxprim/core/cpu"

// kernelsFor returns the plain-Go row kernels: this build has no assembly.
func kernelsFor(cpu.ISA) *rowKernels { return &genericKernels }

// prefetchLines is a cache hint; without assembly there is none to give.
func prefetchLines(p uintptr, n int) {}
