/* Public entry points of the attention ops; see api.c for why they forward. */
#include "mlxprim.h"
#include "_cgo_export.h"

mlxp_status mlxp_attention_params_init(mlxp_attention_params* p) {
    return mlxpgo_attention_params_init(p);
}

mlxp_status mlxp_alibi_slopes(int32_t num_heads, mlxp_tensor* out) {
    return mlxpgo_alibi_slopes(num_heads, out);
}

mlxp_status mlxp_flash_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                 const mlxp_tensor* v, mlxp_tensor* out, mlxp_tensor* lse,
                                 const mlxp_attention_params* params) {
    return mlxpgo_flash_attention((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v, out, lse,
                                  (mlxp_attention_params*)params);
}

mlxp_status mlxp_sliding_window_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                          const mlxp_tensor* v, int32_t window_size,
                                          int32_t causal, mlxp_tensor* out,
                                          const mlxp_attention_params* params) {
    return mlxpgo_sliding_window_attention((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v,
                                           window_size, causal, out,
                                           (mlxp_attention_params*)params);
}

mlxp_status mlxp_merge_attention_states(const mlxp_tensor* o_a, const mlxp_tensor* lse_a,
                                        const mlxp_tensor* o_b, const mlxp_tensor* lse_b,
                                        mlxp_tensor* out, mlxp_tensor* lse_out) {
    return mlxpgo_merge_attention_states((mlxp_tensor*)o_a, (mlxp_tensor*)lse_a,
                                         (mlxp_tensor*)o_b, (mlxp_tensor*)lse_b, out, lse_out);
}

mlxp_status mlxp_flash_attention_varlen(const mlxp_tensor* q, const mlxp_tensor* k,
                                        const mlxp_tensor* v, const mlxp_tensor* cu_seqlens_q,
                                        const mlxp_tensor* cu_seqlens_k, mlxp_tensor* out,
                                        mlxp_tensor* lse, const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_varlen((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v,
                                         (mlxp_tensor*)cu_seqlens_q, (mlxp_tensor*)cu_seqlens_k,
                                         out, lse, (mlxp_attention_params*)params);
}

mlxp_status mlxp_chunked_cross_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                         const mlxp_tensor* v, int32_t chunk_size,
                                         int32_t causal, mlxp_tensor* out,
                                         const mlxp_attention_params* params) {
    return mlxpgo_chunked_cross_attention((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v,
                                          chunk_size, causal, out, (mlxp_attention_params*)params);
}

mlxp_status mlxp_flash_attention_rope(const mlxp_tensor* q, const mlxp_tensor* k,
                                      const mlxp_tensor* v, mlxp_tensor* out, mlxp_tensor* lse,
                                      const mlxp_rope_params* rope,
                                      const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_rope((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v, out,
                                       lse, (mlxp_rope_params*)rope,
                                       (mlxp_attention_params*)params);
}

mlxp_status mlxp_flash_attention_backward(const mlxp_tensor* q, const mlxp_tensor* k,
                                          const mlxp_tensor* v, const mlxp_tensor* out,
                                          const mlxp_tensor* dout, const mlxp_tensor* lse,
                                          mlxp_tensor* dq, mlxp_tensor* dk, mlxp_tensor* dv,
                                          const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_backward((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v,
                                           (mlxp_tensor*)out, (mlxp_tensor*)dout,
                                           (mlxp_tensor*)lse, dq, dk, dv,
                                           (mlxp_attention_params*)params);
}

mlxp_status mlxp_flash_attention_bias_grad(const mlxp_tensor* q, const mlxp_tensor* k,
                                           const mlxp_tensor* v, const mlxp_tensor* out,
                                           const mlxp_tensor* dout, const mlxp_tensor* lse,
                                           mlxp_tensor* dbias,
                                           const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_bias_grad((mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v,
                                            (mlxp_tensor*)out, (mlxp_tensor*)dout,
                                            (mlxp_tensor*)lse, dbias,
                                            (mlxp_attention_params*)params);
}

mlxp_status mlxp_flash_attention_varlen_backward(
    const mlxp_tensor* q, const mlxp_tensor* k, const mlxp_tensor* v, const mlxp_tensor* out,
    const mlxp_tensor* dout, const mlxp_tensor* lse, const mlxp_tensor* cu_seqlens_q,
    const mlxp_tensor* cu_seqlens_k, mlxp_tensor* dq, mlxp_tensor* dk, mlxp_tensor* dv,
    const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_varlen_backward(
        (mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v, (mlxp_tensor*)out, (mlxp_tensor*)dout,
        (mlxp_tensor*)lse, (mlxp_tensor*)cu_seqlens_q, (mlxp_tensor*)cu_seqlens_k, dq, dk, dv,
        (mlxp_attention_params*)params);
}

mlxp_status mlxp_flash_attention_rope_backward(const mlxp_tensor* q, const mlxp_tensor* k,
                                               const mlxp_tensor* v, const mlxp_tensor* out,
                                               const mlxp_tensor* dout, const mlxp_tensor* lse,
                                               mlxp_tensor* dq, mlxp_tensor* dk,
                                               mlxp_tensor* dv, const mlxp_rope_params* rope,
                                               const mlxp_attention_params* params) {
    return mlxpgo_flash_attention_rope_backward(
        (mlxp_tensor*)q, (mlxp_tensor*)k, (mlxp_tensor*)v, (mlxp_tensor*)out, (mlxp_tensor*)dout,
        (mlxp_tensor*)lse, dq, dk, dv, (mlxp_rope_params*)rope, (mlxp_attention_params*)params);
}
