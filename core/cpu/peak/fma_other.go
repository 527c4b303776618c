//go:build !amd64 || purego

package peak

import "github.com/mlxprim/mlxprim/core/cpu"

// paths lists the kernel paths this build has loops for: only the plain-Go one.
func paths() []cpu.ISA { return []cpu.ISA{cpu.Generic} }

// fmaLoop returns the plain-Go loop: the only path without assembly.
func fmaLoop(cpu.ISA) (fmaFunc, int) { return fmaGeneric, genericLanes }
