/* Public entry points of the RoPE and quantization ops; see api.c for why they forward. */
#include "mlxprim.h"
#include "_cgo_export.h"

mlxp_status mlxp_rope_params_init(mlxp_rope_params* p) { return mlxpgo_rope_params_init(p); }

mlxp_status mlxp_rope(const mlxp_tensor* q, mlxp_tensor* q_out, const mlxp_tensor* k,
                      mlxp_tensor* k_out, const mlxp_tensor* positions,
                      const mlxp_rope_params* params) {
    return mlxpgo_rope((mlxp_tensor*)q, q_out, (mlxp_tensor*)k, k_out, (mlxp_tensor*)positions,
                       (mlxp_rope_params*)params);
}

mlxp_status mlxp_quantize_int8(const mlxp_tensor* w, mlxp_tensor* q, mlxp_tensor* scales,
                               mlxp_tensor* zeros) {
    return mlxpgo_quantize_int8((mlxp_tensor*)w, q, scales, zeros);
}

mlxp_status mlxp_dequantize_int8(const mlxp_tensor* q, const mlxp_tensor* scales,
                                 const mlxp_tensor* zeros, mlxp_tensor* w) {
    return mlxpgo_dequantize_int8((mlxp_tensor*)q, (mlxp_tensor*)scales, (mlxp_tensor*)zeros, w);
}

mlxp_status mlxp_quantize_int4(const mlxp_tensor* w, int32_t group_size, mlxp_tensor* q,
                               mlxp_tensor* scales, mlxp_tensor* zeros) {
    return mlxpgo_quantize_int4((mlxp_tensor*)w, group_size, q, scales, zeros);
}

mlxp_status mlxp_dequantize_int4(const mlxp_tensor* q, const mlxp_tensor* scales,
                                 const mlxp_tensor* zeros, int32_t group_size,
                                 mlxp_tensor* w) {
    return mlxpgo_dequantize_int4((mlxp_tensor*)q, (mlxp_tensor*)scales, (mlxp_tensor*)zeros,
                                  group_size, w);
}

mlxp_status mlxp_quantize_affine(const mlxp_tensor* w, int32_t group_size, int32_t bits,
                                 mlxp_tensor* wq, mlxp_tensor* scales, mlxp_tensor* biases) {
    return mlxpgo_quantize_affine((mlxp_tensor*)w, group_size, bits, wq, scales, biases);
}

mlxp_status mlxp_dequantize_affine(const mlxp_tensor* wq, const mlxp_tensor* scales,
                                   const mlxp_tensor* biases, int32_t group_size,
                                   int32_t bits, mlxp_tensor* w) {
    return mlxpgo_dequantize_affine((mlxp_tensor*)wq, (mlxp_tensor*)scales, (mlxp_tensor*)biases,
                                    group_size, bits, w);
}

mlxp_status mlxp_int8_linear(const mlxp_tensor* x, const mlxp_tensor* q,
                             const mlxp_tensor* scales, const mlxp_tensor* zeros,
                             const mlxp_tensor* bias, mlxp_tensor* y) {
    return mlxpgo_int8_linear((mlxp_tensor*)x, (mlxp_tensor*)q, (mlxp_tensor*)scales,
                              (mlxp_tensor*)zeros, (mlxp_tensor*)bias, y);
}

mlxp_status mlxp_int4_linear(const mlxp_tensor* x, const mlxp_tensor* q,
                             const mlxp_tensor* scales, const mlxp_tensor* zeros,
                             int32_t group_size, const mlxp_tensor* bias, mlxp_tensor* y) {
    return mlxpgo_int4_linear((mlxp_tensor*)x, (mlxp_tensor*)q, (mlxp_tensor*)scales,
                              (mlxp_tensor*)zeros, group_size, (mlxp_tensor*)bias, y);
}

mlxp_status mlxp_affine_linear(const mlxp_tensor* x, const mlxp_tensor* wq,
                               const mlxp_tensor* scales, const mlxp_tensor* biases,
                               int32_t group_size, int32_t bits, const mlxp_tensor* bias,
                               mlxp_tensor* y) {
    return mlxpgo_affine_linear((mlxp_tensor*)x, (mlxp_tensor*)wq, (mlxp_tensor*)scales,
                                (mlxp_tensor*)biases, group_size, bits, (mlxp_tensor*)bias, y);
}
