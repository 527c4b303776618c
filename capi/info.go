package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"github.com/mlxprim/mlxprim/core/cpu"
	"github.com/mlxprim/mlxprim/core/errs"
)

// The library's version; it must equal the MLXP_VERSION_* macros of include/mlxprim.h
// (a test compares them).
const (
	versionMajor = 0
	versionMinor = 1
	versionPatch = 0
	abiVersion   = 0
)

var (
	versionString = staticString("0.1.0")
	featureString = staticString(cpu.Features())
	statusStrings = func() map[C.mlxp_status]*C.char {
		m := map[C.mlxp_status]*C.char{C.MLXP_OK: staticString("ok")}
		for k := errs.InvalidArgument; k <= errs.Internal; k++ {
			m[C.mlxp_status(k)] = staticString(k.String())
		}
		return m
	}()
	unknownStatus = staticString("unknown status")
	isaStrings    = map[cpu.ISA]*C.char{
		cpu.Generic: staticString(cpu.Generic.String()),
		cpu.AVX2:    staticString(cpu.AVX2.String()),
		cpu.AVX512:  staticString(cpu.AVX512.String()),
	}
)

//export mlxpgo_version
func mlxpgo_version(out *C.int32_t) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out_version is NULL")
	}
	*out = versionMajor*1000000 + versionMinor*1000 + versionPatch
	return C.MLXP_OK
}

//export mlxpgo_version_string
func mlxpgo_version_string(out **C.char) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out is NULL")
	}
	*out = versionString
	return C.MLXP_OK
}

//export mlxpgo_abi_version
func mlxpgo_abi_version(out *C.int32_t) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out_abi is NULL")
	}
	*out = abiVersion
	return C.MLXP_OK
}

//export mlxpgo_status_string
func mlxpgo_status_string(code C.mlxp_status, out **C.char) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out is NULL")
	}
	s, ok := statusStrings[code]
	if !ok {
		s = unknownStatus
	}
	*out = s
	return C.MLXP_OK
}

//export mlxpgo_cpu_features
func mlxpgo_cpu_features(out **C.char) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out is NULL")
	}
	*out = featureString
	return C.MLXP_OK
}

//export mlxpgo_cpu_isa
func mlxpgo_cpu_isa(out **C.char) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out is NULL")
	}
	*out = isaStrings[cpu.Selected()]
	return C.MLXP_OK
}

//export mlxpgo_set_num_threads
func mlxpgo_set_num_threads(n C.int32_t) (status C.mlxp_status) {
	defer guard(&status)
	return result(cpu.SetNumThreads(int(n)))
}

//export mlxpgo_get_num_threads
func mlxpgo_get_num_threads(out *C.int32_t) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out_n is NULL")
	}
	*out = C.int32_t(cpu.NumThreads())
	return C.MLXP_OK
}
