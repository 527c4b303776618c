// header_cxx11.cpp — mlxprim.h must compile as C++11 (-std=c++11 -pedantic-errors -Wall
// -Wextra -Werror), with C linkage for every function.
#include "mlxprim.h"

#include <cstddef>
#include <type_traits>

static_assert(sizeof(mlxp_tensor) == 6 * sizeof(void*), "mlxp_tensor is laid out as DLTensor");
static_assert(offsetof(mlxp_tensor, byte_offset) == 5 * sizeof(void*), "byte_offset is the last field");
static_assert(sizeof(mlxp_device) == 8 && sizeof(mlxp_dtype) == 4, "DLDevice / DLDataType sizes");
static_assert(std::is_standard_layout<mlxp_tensor>::value && std::is_trivial<mlxp_tensor>::value,
              "mlxp_tensor is a plain C struct");
static_assert(std::is_same<decltype(&mlxp_softmax),
                           mlxp_status (*)(const mlxp_tensor*, mlxp_tensor*, const mlxp_softmax_params*)>::value,
              "mlxp_softmax signature");
static_assert(std::is_same<decltype(&mlxp_last_error), const char* (*)()>::value, "mlxp_last_error signature");
static_assert(std::is_same<decltype(&mlxp_matmul_params_init), mlxp_status (*)(mlxp_matmul_params*)>::value,
              "mlxp_matmul_params_init signature");
static_assert(std::is_same<decltype(&mlxp_matmul), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, const mlxp_matmul_params*)>::value,
              "mlxp_matmul signature");
static_assert(std::is_same<decltype(&mlxp_linear), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_linear signature");
static_assert(std::is_same<decltype(&mlxp_gated_linear), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, mlxp_tensor*)>::value,
              "mlxp_gated_linear signature");
static_assert(std::is_same<decltype(&mlxp_norm_params_init), mlxp_status (*)(mlxp_norm_params*)>::value,
              "mlxp_norm_params_init signature");
static_assert(std::is_same<decltype(&mlxp_layer_norm), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*)>::value,
              "mlxp_layer_norm signature");
static_assert(std::is_same<decltype(&mlxp_group_norm), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*)>::value,
              "mlxp_group_norm signature");
static_assert(std::is_same<decltype(&mlxp_rms_norm_backward), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*)>::value,
              "mlxp_rms_norm_backward signature");
static_assert(std::is_same<decltype(&mlxp_layer_norm_backward), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*)>::value,
              "mlxp_layer_norm_backward signature");
static_assert(std::is_same<decltype(&mlxp_group_norm_backward), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_norm_params*)>::value,
              "mlxp_group_norm_backward signature");
static_assert(std::is_same<decltype(&mlxp_activation), mlxp_status (*)(int32_t, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_activation signature");
static_assert(std::is_same<decltype(&mlxp_activation_backward), mlxp_status (*)(int32_t, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_activation_backward signature");
static_assert(std::is_same<decltype(&mlxp_glu), mlxp_status (*)(int32_t, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_glu signature");
static_assert(std::is_same<decltype(&mlxp_glu_backward), mlxp_status (*)(int32_t, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_glu_backward signature");
static_assert(std::is_same<decltype(&mlxp_rope_params_init), mlxp_status (*)(mlxp_rope_params*)>::value,
              "mlxp_rope_params_init signature");
static_assert(std::is_same<decltype(&mlxp_rope), mlxp_status (*)(const mlxp_tensor*, mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, const mlxp_tensor*, const mlxp_rope_params*)>::value,
              "mlxp_rope signature");
static_assert(std::is_same<decltype(&mlxp_quantize_int8), mlxp_status (*)(const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_quantize_int8 signature");
static_assert(std::is_same<decltype(&mlxp_dequantize_int8), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_dequantize_int8 signature");
static_assert(std::is_same<decltype(&mlxp_quantize_int4), mlxp_status (*)(const mlxp_tensor*, int32_t, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_quantize_int4 signature");
static_assert(std::is_same<decltype(&mlxp_dequantize_int4), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, mlxp_tensor*)>::value,
              "mlxp_dequantize_int4 signature");
static_assert(std::is_same<decltype(&mlxp_quantize_affine), mlxp_status (*)(const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_quantize_affine signature");
static_assert(std::is_same<decltype(&mlxp_dequantize_affine), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*)>::value,
              "mlxp_dequantize_affine signature");
static_assert(std::is_same<decltype(&mlxp_int8_linear), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_int8_linear signature");
static_assert(std::is_same<decltype(&mlxp_int4_linear), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_int4_linear signature");
static_assert(std::is_same<decltype(&mlxp_affine_linear), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, const mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_affine_linear signature");
static_assert(std::is_same<decltype(&mlxp_attention_params_init), mlxp_status (*)(mlxp_attention_params*)>::value,
              "mlxp_attention_params_init signature");
static_assert(std::is_same<decltype(&mlxp_alibi_slopes), mlxp_status (*)(int32_t, mlxp_tensor*)>::value,
              "mlxp_alibi_slopes signature");
static_assert(std::is_same<decltype(&mlxp_flash_attention), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_flash_attention signature");
static_assert(std::is_same<decltype(&mlxp_sliding_window_attention), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_sliding_window_attention signature");
static_assert(std::is_same<decltype(&mlxp_flash_attention_varlen), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_flash_attention_varlen signature");
static_assert(std::is_same<decltype(&mlxp_chunked_cross_attention), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, int32_t, int32_t, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_chunked_cross_attention signature");
static_assert(std::is_same<decltype(&mlxp_flash_attention_rope), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_rope_params*, const mlxp_attention_params*)>::value,
              "mlxp_flash_attention_rope signature");
static_assert(std::is_same<decltype(&mlxp_flash_attention_backward), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_flash_attention_backward signature");
static_assert(std::is_same<decltype(&mlxp_flash_attention_varlen_backward), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, mlxp_tensor*, const mlxp_attention_params*)>::value,
              "mlxp_flash_attention_varlen_backward signature");
static_assert(std::is_same<decltype(&mlxp_merge_attention_states), mlxp_status (*)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*, mlxp_tensor*)>::value,
              "mlxp_merge_attention_states signature");
static_assert(std::is_standard_layout<mlxp_matmul_params>::value && std::is_standard_layout<mlxp_norm_params>::value &&
                  std::is_standard_layout<mlxp_rope_params>::value &&
                  std::is_standard_layout<mlxp_attention_params>::value,
              "parameter structs are plain C structs");
static_assert(MLXP_ACT_SILU == 1 && MLXP_ACT_GELU == 2 && MLXP_ACT_GELU_TANH == 3, "activation values");
static_assert(MLXP_ROPE_HALF == 0 && MLXP_ROPE_INTERLEAVED == 1 && MLXP_LAYOUT_BSHD == 0 && MLXP_LAYOUT_BHSD == 1,
              "rope pairing and layout values");
static_assert(MLXP_ROPE_SCALING_NONE == 0 && MLXP_ROPE_SCALING_LINEAR == 1 && MLXP_ROPE_SCALING_NTK == 2 &&
                  MLXP_ROPE_SCALING_YARN == 3 && MLXP_ROPE_SCALING_LLAMA3 == 4 && MLXP_ROPE_SCALING_DYNAMIC_NTK == 5,
              "rope scaling values");

// Declaring the same functions again with C linkage is allowed only if the header gave
// them C linkage too.
extern "C" mlxp_status mlxp_version(int32_t* out_version);
extern "C" mlxp_status mlxp_rng_destroy(mlxp_rng* rng);
extern "C" mlxp_status mlxp_matmul_params_init(mlxp_matmul_params* p);
extern "C" mlxp_status mlxp_rope(const mlxp_tensor* q, mlxp_tensor* q_out, const mlxp_tensor* k, mlxp_tensor* k_out,
                                 const mlxp_tensor* positions, const mlxp_rope_params* params);
extern "C" mlxp_status mlxp_merge_attention_states(const mlxp_tensor* o_a, const mlxp_tensor* lse_a,
                                                   const mlxp_tensor* o_b, const mlxp_tensor* lse_b,
                                                   mlxp_tensor* out, mlxp_tensor* lse_out);

extern "C" mlxp_status mlxp_flash_attention_rope(const mlxp_tensor* q, const mlxp_tensor* k, const mlxp_tensor* v,
                                                 mlxp_tensor* out, mlxp_tensor* lse, const mlxp_rope_params* rope,
                                                 const mlxp_attention_params* params);

extern "C" mlxp_status mlxp_flash_attention_backward(const mlxp_tensor* q, const mlxp_tensor* k, const mlxp_tensor* v,
                                                     const mlxp_tensor* out, const mlxp_tensor* dout,
                                                     const mlxp_tensor* lse, mlxp_tensor* dq, mlxp_tensor* dk,
                                                     mlxp_tensor* dv, const mlxp_attention_params* params);
extern "C" mlxp_status mlxp_flash_attention_varlen_backward(
    const mlxp_tensor* q, const mlxp_tensor* k, const mlxp_tensor* v, const mlxp_tensor* out,
    const mlxp_tensor* dout, const mlxp_tensor* lse, const mlxp_tensor* cu_seqlens_q,
    const mlxp_tensor* cu_seqlens_k, mlxp_tensor* dq, mlxp_tensor* dk, mlxp_tensor* dv,
    const mlxp_attention_params* params);

int check_constants();
int check_constants() {
    return MLXP_OK + MLXP_ERR_INTERNAL + MLXP_DEVICE_CPU + MLXP_DTYPE_BOOL + MLXP_MAX_NDIM + MLXP_ABI_VERSION;
}
