package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
)

//export mlxpgo_rope_params_init
func mlxpgo_rope_params_init(p *C.mlxp_rope_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	d := rope.DefaultParams()
	*p = C.mlxp_rope_params{
		struct_size:      C.size_t(unsafe.Sizeof(*p)),
		base:             C.double(d.Base),
		factor:           1,
		low_freq_factor:  1,
		high_freq_factor: 4,
	}
	return C.MLXP_OK
}

// ropeParams reads the fields the caller's struct_size covers over the defaults of
// mlxp_rope_params_init.
func ropeParams(p *C.mlxp_rope_params) (rope.Params, error) {
	out := rope.DefaultParams()
	out.Scaling.Factor, out.Scaling.LowFreqFactor, out.Scaling.HighFreqFactor = 1, 1, 4
	if p == nil {
		return out, nil
	}
	if err := checkStructSize("params", p.struct_size); err != nil {
		return out, err
	}
	has := func(offset, size uintptr) bool { return paramsCover(p.struct_size, offset, size) }
	if has(unsafe.Offsetof(p.base), unsafe.Sizeof(p.base)) {
		out.Base = float64(p.base)
	}
	if has(unsafe.Offsetof(p.rotary_dim), unsafe.Sizeof(p.rotary_dim)) {
		out.RotaryDim = int(p.rotary_dim)
	}
	if has(unsafe.Offsetof(p.pairing), unsafe.Sizeof(p.pairing)) {
		out.Pairing = rope.Pairing(p.pairing)
	}
	if has(unsafe.Offsetof(p.layout), unsafe.Sizeof(p.layout)) {
		out.Layout = rope.Layout(p.layout)
	}
	if has(unsafe.Offsetof(p.scaling), unsafe.Sizeof(p.scaling)) {
		out.Scaling.Kind = rope.ScalingKind(p.scaling)
	}
	if has(unsafe.Offsetof(p.offset), unsafe.Sizeof(p.offset)) {
		out.Offset = int(p.offset)
	}
	if has(unsafe.Offsetof(p.factor), unsafe.Sizeof(p.factor)) {
		out.Scaling.Factor = float64(p.factor)
	}
	if has(unsafe.Offsetof(p.original_max_positions), unsafe.Sizeof(p.original_max_positions)) {
		out.Scaling.OriginalMaxPositions = int(p.original_max_positions)
	}
	if has(unsafe.Offsetof(p.beta_fast), unsafe.Sizeof(p.beta_fast)) {
		out.Scaling.BetaFast = float64(p.beta_fast)
	}
	if has(unsafe.Offsetof(p.beta_slow), unsafe.Sizeof(p.beta_slow)) {
		out.Scaling.BetaSlow = float64(p.beta_slow)
	}
	if has(unsafe.Offsetof(p.attention_factor), unsafe.Sizeof(p.attention_factor)) {
		out.Scaling.AttentionFactor = float64(p.attention_factor)
	}
	if has(unsafe.Offsetof(p.mscale), unsafe.Sizeof(p.mscale)) {
		out.Scaling.Mscale = float64(p.mscale)
	}
	if has(unsafe.Offsetof(p.mscale_all_dim), unsafe.Sizeof(p.mscale_all_dim)) {
		out.Scaling.MscaleAllDim = float64(p.mscale_all_dim)
	}
	if has(unsafe.Offsetof(p.yarn_no_truncate), unsafe.Sizeof(p.yarn_no_truncate)) {
		v, err := boolField("yarn_no_truncate", p.yarn_no_truncate)
		if err != nil {
			return out, err
		}
		out.Scaling.NoTruncate = v
	}
	if has(unsafe.Offsetof(p.low_freq_factor), unsafe.Sizeof(p.low_freq_factor)) {
		out.Scaling.LowFreqFactor = float64(p.low_freq_factor)
	}
	if has(unsafe.Offsetof(p.high_freq_factor), unsafe.Sizeof(p.high_freq_factor)) {
		out.Scaling.HighFreqFactor = float64(p.high_freq_factor)
	}
	if has(unsafe.Offsetof(p.seq_len), unsafe.Sizeof(p.seq_len)) {
		out.Scaling.SeqLen = int(p.seq_len)
	}
	if has(unsafe.Offsetof(p.inverse), unsafe.Sizeof(p.inverse)) {
		v, err := boolField("inverse", p.inverse)
		if err != nil {
			return out, err
		}
		out.Inverse = v
	}
	return out, nil
}

//export mlxpgo_rope
func mlxpgo_rope(q, qOut, k, kOut, positions *C.mlxp_tensor, params *C.mlxp_rope_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := ropeParams(params)
	if err != nil {
		return fail(err)
	}
	qt, err := tensorArg("q", q)
	if err != nil {
		return fail(err)
	}
	qo, err := tensorArg("q_out", qOut)
	if err != nil {
		return fail(err)
	}
	if (k == nil) != (kOut == nil) {
		return fail(errs.New(errs.InvalidArgument, "k and k_out must both be given or both be NULL"))
	}
	kt, err := optionalTensorArg("k", k)
	if err != nil {
		return fail(err)
	}
	ko, err := optionalTensorArg("k_out", kOut)
	if err != nil {
		return fail(err)
	}
	pos, err := optionalTensorArg("positions", positions)
	if err != nil {
		return fail(err)
	}
	return result(rope.Apply(qt, qo, kt, ko, pos, p))
}
