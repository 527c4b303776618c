package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/mlxprim/mlxprim/core/rng"
)

// rngHandle serializes calls on one generator: the header promises the handle is safe
// from any thread.
type rngHandle struct {
	mu  sync.Mutex
	gen *rng.Generator
}

//export mlxpgo_rng_create
func mlxpgo_rng_create(seed C.uint64_t, out **C.mlxp_rng) (status C.mlxp_status) {
	defer guard(&status)
	if out == nil {
		return invalid("out_rng is NULL")
	}
	token := handles.add(kindRng, &rngHandle{gen: rng.New(uint64(seed))})
	*(*uint64)(unsafe.Pointer(out)) = token // the token is stored as the pointer's bits
	return C.MLXP_OK
}

//export mlxpgo_rng_uniform
func mlxpgo_rng_uniform(h *C.mlxp_rng, out *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	obj, err := handles.get(kindRng, "rng", uint64(uintptr(unsafe.Pointer(h))))
	if err != nil {
		return fail(err)
	}
	t, err := tensorArg("out", out)
	if err != nil {
		return fail(err)
	}
	r := obj.(*rngHandle)
	r.mu.Lock()
	defer r.mu.Unlock()
	return result(r.gen.Uniform(t))
}

//export mlxpgo_rng_destroy
func mlxpgo_rng_destroy(h *C.mlxp_rng) (status C.mlxp_status) {
	defer guard(&status)
	if h == nil {
		return C.MLXP_OK
	}
	return result(handles.remove(kindRng, "rng", uint64(uintptr(unsafe.Pointer(h)))))
}
