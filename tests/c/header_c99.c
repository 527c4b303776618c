/*
 * header_c99.c — mlxprim.h must compile as strict C99 (-std=c99 -pedantic-errors -Wall
 * -Wextra -Werror). It also checks, at compile time, the DLPack layout and that each
 * declaration has the type the documentation promises.
 */
#include "mlxprim.h"

#include <stddef.h>

/* C99 has no _Static_assert: a negative array size fails the compile instead. */
#define STATIC_CHECK(name, cond) typedef char static_check_##name[(cond) ? 1 : -1]

STATIC_CHECK(tensor_size, sizeof(mlxp_tensor) == 6 * sizeof(void*));
STATIC_CHECK(tensor_dtype, offsetof(mlxp_tensor, dtype) == sizeof(void*) + 12);
STATIC_CHECK(device_size, sizeof(mlxp_device) == 8);
STATIC_CHECK(dtype_size, sizeof(mlxp_dtype) == 4);
STATIC_CHECK(status_size, sizeof(mlxp_status) == 4);
STATIC_CHECK(params_first, offsetof(mlxp_softmax_params, struct_size) == 0 &&
                               offsetof(mlxp_rms_norm_params, struct_size) == 0 &&
                               offsetof(mlxp_matmul_params, struct_size) == 0 &&
                               offsetof(mlxp_norm_params, struct_size) == 0 &&
                               offsetof(mlxp_rope_params, struct_size) == 0 &&
                               offsetof(mlxp_attention_params, struct_size) == 0);

/* Taking each function's address with its documented type catches a changed signature. */
mlxp_status (*const check_softmax)(const mlxp_tensor*, mlxp_tensor*, const mlxp_softmax_params*) = mlxp_softmax;
mlxp_status (*const check_rms_norm)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*,
                                    mlxp_tensor*, const mlxp_rms_norm_params*) = mlxp_rms_norm;
mlxp_status (*const check_uniform)(mlxp_rng*, mlxp_tensor*) = mlxp_rng_uniform;
const char* (*const check_last_error)(void) = mlxp_last_error;
mlxp_status (*const check_matmul_params_init)(mlxp_matmul_params*) = mlxp_matmul_params_init;
mlxp_status (*const check_matmul)(const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, const mlxp_matmul_params*) = mlxp_matmul;
mlxp_status (*const check_linear)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*) = mlxp_linear;
mlxp_status (*const check_gated_linear_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_gated_linear_backward;
mlxp_status (*const check_gated_linear)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, mlxp_tensor*) = mlxp_gated_linear;
mlxp_status (*const check_norm_params_init)(mlxp_norm_params*) = mlxp_norm_params_init;
mlxp_status (*const check_layer_norm)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*) = mlxp_layer_norm;
mlxp_status (*const check_group_norm)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*) = mlxp_group_norm;
mlxp_status (*const check_rms_norm_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*) = mlxp_rms_norm_backward;
mlxp_status (*const check_layer_norm_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*) = mlxp_layer_norm_backward;
mlxp_status (*const check_group_norm_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*) = mlxp_group_norm_backward;
mlxp_status (*const check_activation)(int32_t, const mlxp_tensor*, mlxp_tensor*) = mlxp_activation;
mlxp_status (*const check_activation_backward)(int32_t, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*) = mlxp_activation_backward;
mlxp_status (*const check_glu)(int32_t, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*) = mlxp_glu;
mlxp_status (*const check_glu_backward)(int32_t, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_glu_backward;
mlxp_status (*const check_rope_params_init)(mlxp_rope_params*) = mlxp_rope_params_init;
mlxp_status (*const check_rope)(const mlxp_tensor*, mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, const mlxp_tensor*, const mlxp_rope_params*) = mlxp_rope;
mlxp_status (*const check_quantize_int8)(const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_quantize_int8;
mlxp_status (*const check_dequantize_int8)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*) = mlxp_dequantize_int8;
mlxp_status (*const check_quantize_int4)(const mlxp_tensor*, int32_t, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_quantize_int4;
mlxp_status (*const check_dequantize_int4)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, mlxp_tensor*) = mlxp_dequantize_int4;
mlxp_status (*const check_quantize_affine)(const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_quantize_affine;
mlxp_status (*const check_dequantize_affine)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*) = mlxp_dequantize_affine;
mlxp_status (*const check_int8_linear)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*) = mlxp_int8_linear;
mlxp_status (*const check_int4_linear)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, const mlxp_tensor*, mlxp_tensor*) = mlxp_int4_linear;
mlxp_status (*const check_affine_linear)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, const mlxp_tensor*, mlxp_tensor*) = mlxp_affine_linear;
mlxp_status (*const check_attention_params_init)(mlxp_attention_params*) = mlxp_attention_params_init;
mlxp_status (*const check_alibi_slopes)(int32_t, mlxp_tensor*) = mlxp_alibi_slopes;
mlxp_status (*const check_flash_attention)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*) = mlxp_flash_attention;
mlxp_status (*const check_sliding_window_attention)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, const mlxp_attention_params*) = mlxp_sliding_window_attention;
mlxp_status (*const check_flash_attention_varlen)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*) = mlxp_flash_attention_varlen;
mlxp_status (*const check_chunked_cross_attention)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, const mlxp_attention_params*) = mlxp_chunked_cross_attention;
mlxp_status (*const check_flash_attention_rope)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_rope_params*, const mlxp_attention_params*) = mlxp_flash_attention_rope;
mlxp_status (*const check_flash_attention_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*) = mlxp_flash_attention_backward;
mlxp_status (*const check_flash_attention_bias_grad)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*) = mlxp_flash_attention_bias_grad;
mlxp_status (*const check_flash_attention_varlen_backward)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*) = mlxp_flash_attention_varlen_backward;
mlxp_status (*const check_merge_attention_states)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*) = mlxp_merge_attention_states;

int check_constants(void);
int check_constants(void) {
    return MLXP_OK + MLXP_ERR_INTERNAL + MLXP_DEVICE_CPU + MLXP_DTYPE_BOOL + MLXP_MAX_NDIM + MLXP_ABI_VERSION +
           MLXP_VERSION_NUMBER + MLXP_ACT_SILU + MLXP_ACT_GELU + MLXP_ACT_GELU_TANH + MLXP_ROPE_HALF +
           MLXP_ROPE_INTERLEAVED + MLXP_LAYOUT_BSHD + MLXP_LAYOUT_BHSD + MLXP_ROPE_SCALING_NONE +
           MLXP_ROPE_SCALING_LINEAR + MLXP_ROPE_SCALING_NTK + MLXP_ROPE_SCALING_YARN + MLXP_ROPE_SCALING_LLAMA3 +
           MLXP_ROPE_SCALING_DYNAMIC_NTK;
}
