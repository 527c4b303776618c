//go:build !amd64 || purego

package peak

import "github.com/mlxprim/mlxprim/core/cpu"

// sum64 returns the checksum of b with the plain-Go loop: the only path without assembly.
func sum64(_ cpu.ISA, b []byte) uint64 { return sumGeneric(b) }
