package main

/*
#include "mlxprim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/mlxprim/mlxprim/core/attention"
	"github.com/mlxprim/mlxprim/core/errs"
	"github.com/mlxprim/mlxprim/core/kernels/rope"
	"github.com/mlxprim/mlxprim/core/tensor"
)

//export mlxpgo_attention_params_init
func mlxpgo_attention_params_init(p *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	if p == nil {
		return invalid("p is NULL")
	}
	*p = C.mlxp_attention_params{
		struct_size:  C.size_t(unsafe.Sizeof(*p)),
		causal:       1,
		window_left:  -1,
		window_right: -1,
		layout:       C.MLXP_LAYOUT_BSHD,
	}
	return C.MLXP_OK
}

// attentionParams reads the fields the caller's struct_size covers over the defaults of
// mlxp_attention_params_init (causal, no window, BSHD).
func attentionParams(p *C.mlxp_attention_params) (attention.Params, error) {
	out := attention.DefaultParams()
	out.Causal = true
	if p == nil {
		return out, nil
	}
	if err := checkStructSize("params", p.struct_size); err != nil {
		return out, err
	}
	has := func(offset, size uintptr) bool { return paramsCover(p.struct_size, offset, size) }
	var err error
	if has(unsafe.Offsetof(p.scale), unsafe.Sizeof(p.scale)) {
		out.Scale = float32(p.scale)
	}
	if has(unsafe.Offsetof(p.causal), unsafe.Sizeof(p.causal)) {
		if out.Causal, err = boolField("causal", p.causal); err != nil {
			return out, err
		}
	}
	if has(unsafe.Offsetof(p.window_left), unsafe.Sizeof(p.window_left)) {
		out.WindowLeft = int(p.window_left)
	}
	if has(unsafe.Offsetof(p.window_right), unsafe.Sizeof(p.window_right)) {
		out.WindowRight = int(p.window_right)
	}
	if has(unsafe.Offsetof(p.layout), unsafe.Sizeof(p.layout)) {
		switch p.layout {
		case C.MLXP_LAYOUT_BSHD:
			out.Layout = attention.BSHD
		case C.MLXP_LAYOUT_BHSD:
			out.Layout = attention.BHSD
		default:
			return out, errs.New(errs.InvalidArgument, "params.layout: unknown layout %d", p.layout)
		}
	}
	if has(unsafe.Offsetof(p.softcap), unsafe.Sizeof(p.softcap)) {
		out.SoftCap = float32(p.softcap)
	}
	if has(unsafe.Offsetof(p.bias), unsafe.Sizeof(p.bias)) {
		if out.Bias, err = optionalTensorArg("params.bias", p.bias); err != nil {
			return out, err
		}
	}
	if has(unsafe.Offsetof(p.alibi_slopes), unsafe.Sizeof(p.alibi_slopes)) {
		if out.ALiBiSlopes, err = float32Values("params.alibi_slopes", p.alibi_slopes); err != nil {
			return out, err
		}
	}
	if has(unsafe.Offsetof(p.key_lengths), unsafe.Sizeof(p.key_lengths)) {
		if out.KeyLengths, err = int32Values("params.key_lengths", p.key_lengths); err != nil {
			return out, err
		}
	}
	if has(unsafe.Offsetof(p.sinks), unsafe.Sizeof(p.sinks)) {
		if out.Sinks, err = float32Values("params.sinks", p.sinks); err != nil {
			return out, err
		}
	}
	return out, nil
}

//export mlxpgo_alibi_slopes
func mlxpgo_alibi_slopes(numHeads C.int32_t, out *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	if numHeads < 1 {
		return invalid("num_heads must be at least 1, got %d", numHeads)
	}
	if out == nil {
		return invalid("out is NULL")
	}
	o, err := vectorArg("out", out, tensor.Float32)
	if err != nil {
		return fail(err)
	}
	if o.Shape[0] != int(numHeads) {
		return fail(errs.New(errs.ShapeMismatch, "out: shape %v, want [%d]", o.Shape, numHeads))
	}
	o.StoreRow(0, attention.ALiBiSlopes(int(numHeads)))
	return C.MLXP_OK
}

//export mlxpgo_flash_attention
func mlxpgo_flash_attention(q, k, v, out, lse *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out"}, q, k, v, out)
	if err != nil {
		return fail(err)
	}
	l, err := optionalTensorArg("lse", lse)
	if err != nil {
		return fail(err)
	}
	return result(attention.Forward(ts[0], ts[1], ts[2], ts[3], l, p))
}

//export mlxpgo_sliding_window_attention
func mlxpgo_sliding_window_attention(q, k, v *C.mlxp_tensor, window, causal C.int32_t, out *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	c, err := boolField("causal", causal)
	if err != nil {
		return fail(errs.New(errs.InvalidArgument, "causal must be 0 or 1, got %d", causal))
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out"}, q, k, v, out)
	if err != nil {
		return fail(err)
	}
	return result(attention.SlidingWindow(ts[0], ts[1], ts[2], ts[3], int(window), c, p))
}

//export mlxpgo_merge_attention_states
func mlxpgo_merge_attention_states(oA, lseA, oB, lseB, out, lseOut *C.mlxp_tensor) (status C.mlxp_status) {
	defer guard(&status)
	ts, err := tensorArgs([]string{"o_a", "lse_a", "o_b", "lse_b", "out"}, oA, lseA, oB, lseB, out)
	if err != nil {
		return fail(err)
	}
	lo, err := optionalTensorArg("lse_out", lseOut)
	if err != nil {
		return fail(err)
	}
	return result(attention.MergeStates(ts[0], ts[1], ts[2], ts[3], ts[4], lo))
}

//export mlxpgo_flash_attention_varlen
func mlxpgo_flash_attention_varlen(q, k, v, cuQ, cuK, out, lse *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out"}, q, k, v, out)
	if err != nil {
		return fail(err)
	}
	l, err := optionalTensorArg("lse", lse)
	if err != nil {
		return fail(err)
	}
	sq, sk, err := cuSeqlens(cuQ, cuK)
	if err != nil {
		return fail(err)
	}
	return result(attention.ForwardVarlen(ts[0], ts[1], ts[2], ts[3], l, sq, sk, p))
}

//export mlxpgo_chunked_cross_attention
func mlxpgo_chunked_cross_attention(q, k, v *C.mlxp_tensor, chunkSize, causal C.int32_t, out *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	if causal != 0 && causal != 1 {
		return invalid("causal must be 0 or 1, got %d", causal)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out"}, q, k, v, out)
	if err != nil {
		return fail(err)
	}
	return result(attention.ChunkedCrossAttention(ts[0], ts[1], ts[2], ts[3], int(chunkSize), causal == 1, p))
}

//export mlxpgo_flash_attention_rope
func mlxpgo_flash_attention_rope(q, k, v, out, lse *C.mlxp_tensor, rp *C.mlxp_rope_params, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, r, err := ropeAttentionParams(params, rp)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out"}, q, k, v, out)
	if err != nil {
		return fail(err)
	}
	l, err := optionalTensorArg("lse", lse)
	if err != nil {
		return fail(err)
	}
	return result(attention.ForwardRoPE(ts[0], ts[1], ts[2], ts[3], l, r, p))
}

// ropeAttentionParams reads the attention and rope parameters of a fused RoPE attention
// call, which uses the forward rotation only.
func ropeAttentionParams(params *C.mlxp_attention_params, rp *C.mlxp_rope_params) (attention.Params, rope.Params, error) {
	p, err := attentionParams(params)
	if err != nil {
		return p, rope.Params{}, err
	}
	r, err := ropeParams(rp)
	if err == nil && r.Inverse {
		err = errs.New(errs.InvalidArgument, "rope.inverse must be 0: attention uses the forward rotation")
	}
	return p, r, err
}

//export mlxpgo_flash_attention_rope_backward
func mlxpgo_flash_attention_rope_backward(q, k, v, out, dout, lse, dq, dk, dv *C.mlxp_tensor, rp *C.mlxp_rope_params, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, r, err := ropeAttentionParams(params, rp)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"}, q, k, v, out, dout, lse, dq, dk, dv)
	if err != nil {
		return fail(err)
	}
	return result(attention.BackwardRoPE(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6], ts[7], ts[8], r, p))
}

//export mlxpgo_flash_attention_backward
func mlxpgo_flash_attention_backward(q, k, v, out, dout, lse, dq, dk, dv *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"}, q, k, v, out, dout, lse, dq, dk, dv)
	if err != nil {
		return fail(err)
	}
	return result(attention.Backward(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6], ts[7], ts[8], p))
}

//export mlxpgo_flash_attention_bias_grad
func mlxpgo_flash_attention_bias_grad(q, k, v, out, dout, lse, dbias *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	if params == nil {
		return invalid("params must not be NULL: the bias comes from params->bias")
	}
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out", "dout", "lse", "dbias"}, q, k, v, out, dout, lse, dbias)
	if err != nil {
		return fail(err)
	}
	return result(attention.BiasGrad(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6], p))
}

//export mlxpgo_flash_attention_varlen_backward
func mlxpgo_flash_attention_varlen_backward(q, k, v, out, dout, lse, cuQ, cuK, dq, dk, dv *C.mlxp_tensor, params *C.mlxp_attention_params) (status C.mlxp_status) {
	defer guard(&status)
	p, err := attentionParams(params)
	if err != nil {
		return fail(err)
	}
	ts, err := tensorArgs([]string{"q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"}, q, k, v, out, dout, lse, dq, dk, dv)
	if err != nil {
		return fail(err)
	}
	sq, sk, err := cuSeqlens(cuQ, cuK)
	if err != nil {
		return fail(err)
	}
	return result(attention.BackwardVarlen(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], sq, sk, ts[6], ts[7], ts[8], p))
}

// cuSeqlens reads the cu_seqlens_q and cu_seqlens_k tensors of the varlen calls.
func cuSeqlens(cuQ, cuK *C.mlxp_tensor) (sq, sk []int32, err error) {
	if cuQ == nil || cuK == nil {
		return nil, nil, errs.New(errs.InvalidArgument, "cu_seqlens_q and cu_seqlens_k must not be NULL")
	}
	if sq, err = int32Values("cu_seqlens_q", cuQ); err != nil {
		return nil, nil, err
	}
	sk, err = int32Values("cu_seqlens_k", cuK)
	return sq, sk, err
}
