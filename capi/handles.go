package main

import (
	"sync"

	"github.com/mlxprim/mlxprim/core/errs"
)

// Handles given to C are opaque 64-bit tokens, never pointers, so the library never
// dereferences a value the caller hands back:
//
//	bits 63..48  magic 0x4D4C ("ML"): rejects values that were never handles
//	bits 47..40  kind: rejects a handle of another type
//	bits 39..0   serial number, never reused: rejects stale (destroyed) handles
//
// The magic also makes the token a non-canonical x86-64 / arm64 address, so a caller
// that dereferences it by mistake faults at once instead of corrupting memory.
const (
	handleMagic = 0x4D4C << 48
	magicMask   = 0xFFFF << 48
	serialMask  = 1<<40 - 1
)

// handleKind names the type of object a handle refers to.
type handleKind uint8

const (
	kindRng handleKind = 1
)

var kindNames = map[handleKind]string{kindRng: "mlxp_rng"}

// registry maps live tokens to their objects.
type registry struct {
	mu      sync.Mutex
	serial  uint64
	objects map[uint64]any
}

var handles = registry{objects: map[uint64]any{}}

// add registers obj and returns its new token.
func (r *registry) add(kind handleKind, obj any) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serial++
	token := handleMagic | uint64(kind)<<40 | r.serial&serialMask
	r.objects[token] = obj
	return token
}

// get returns the live object of the given kind behind token.
func (r *registry) get(kind handleKind, name string, token uint64) (any, error) {
	if err := checkToken(kind, name, token); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	obj, ok := r.objects[token]
	if !ok {
		return nil, errs.New(errs.InvalidHandle, "%s: %s handle was destroyed or never created", name, kindNames[kind])
	}
	return obj, nil
}

// remove unregisters token; the object is then unreachable from C.
func (r *registry) remove(kind handleKind, name string, token uint64) error {
	if err := checkToken(kind, name, token); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.objects[token]; !ok {
		return errs.New(errs.InvalidHandle, "%s: %s handle was already destroyed or never created", name, kindNames[kind])
	}
	delete(r.objects, token)
	return nil
}

func checkToken(kind handleKind, name string, token uint64) error {
	switch {
	case token == 0:
		return errs.New(errs.InvalidHandle, "%s is NULL", name)
	case token&magicMask != handleMagic:
		return errs.New(errs.InvalidHandle, "%s is not a libmlxprim handle", name)
	case handleKind(token>>40) != kind:
		got, ok := kindNames[handleKind(token>>40)]
		if !ok {
			got = "unknown"
		}
		return errs.New(errs.InvalidHandle, "%s is an %s handle, expected %s", name, got, kindNames[kind])
	}
	return nil
}
