/*
 * abi_layout.c — prints the size of every struct in mlxprim.h and the offset of each of
 * its fields, one per line:
 *
 *   mlxp_tensor.size 48
 *   mlxp_tensor.data 0
 *
 * check_abi_layout.cmake compares this with the header's struct list and with DLPack's
 * layout; other tests (Go) read the same output, so the format must not change.
 */
#include <stddef.h>
#include <stdio.h>

#include "mlxprim.h"

#define SIZE(T) printf(#T ".size %zu\n", sizeof(T))
#define FIELD(T, f) printf(#T "." #f " %zu\n", offsetof(T, f))

int main(void) {
    SIZE(mlxp_device);
    FIELD(mlxp_device, device_type);
    FIELD(mlxp_device, device_id);

    SIZE(mlxp_dtype);
    FIELD(mlxp_dtype, code);
    FIELD(mlxp_dtype, bits);
    FIELD(mlxp_dtype, lanes);

    SIZE(mlxp_tensor);
    FIELD(mlxp_tensor, data);
    FIELD(mlxp_tensor, device);
    FIELD(mlxp_tensor, ndim);
    FIELD(mlxp_tensor, dtype);
    FIELD(mlxp_tensor, shape);
    FIELD(mlxp_tensor, strides);
    FIELD(mlxp_tensor, byte_offset);

    SIZE(mlxp_softmax_params);
    FIELD(mlxp_softmax_params, struct_size);
    FIELD(mlxp_softmax_params, temperature);
    FIELD(mlxp_softmax_params, log);

    SIZE(mlxp_rms_norm_params);
    FIELD(mlxp_rms_norm_params, struct_size);
    FIELD(mlxp_rms_norm_params, eps);

    SIZE(mlxp_matmul_params);
    FIELD(mlxp_matmul_params, struct_size);
    FIELD(mlxp_matmul_params, trans_a);
    FIELD(mlxp_matmul_params, trans_b);
    FIELD(mlxp_matmul_params, alpha);
    FIELD(mlxp_matmul_params, beta);

    SIZE(mlxp_norm_params);
    FIELD(mlxp_norm_params, struct_size);
    FIELD(mlxp_norm_params, eps);
    FIELD(mlxp_norm_params, num_groups);

    SIZE(mlxp_rope_params);
    FIELD(mlxp_rope_params, struct_size);
    FIELD(mlxp_rope_params, base);
    FIELD(mlxp_rope_params, rotary_dim);
    FIELD(mlxp_rope_params, pairing);
    FIELD(mlxp_rope_params, layout);
    FIELD(mlxp_rope_params, scaling);
    FIELD(mlxp_rope_params, offset);
    FIELD(mlxp_rope_params, factor);
    FIELD(mlxp_rope_params, original_max_positions);
    FIELD(mlxp_rope_params, beta_fast);
    FIELD(mlxp_rope_params, beta_slow);
    FIELD(mlxp_rope_params, attention_factor);
    FIELD(mlxp_rope_params, mscale);
    FIELD(mlxp_rope_params, mscale_all_dim);
    FIELD(mlxp_rope_params, yarn_no_truncate);
    FIELD(mlxp_rope_params, low_freq_factor);
    FIELD(mlxp_rope_params, high_freq_factor);
    FIELD(mlxp_rope_params, seq_len);
    FIELD(mlxp_rope_params, inverse);

    SIZE(mlxp_attention_params);
    FIELD(mlxp_attention_params, struct_size);
    FIELD(mlxp_attention_params, scale);
    FIELD(mlxp_attention_params, causal);
    FIELD(mlxp_attention_params, window_left);
    FIELD(mlxp_attention_params, window_right);
    FIELD(mlxp_attention_params, layout);
    FIELD(mlxp_attention_params, softcap);
    FIELD(mlxp_attention_params, bias);
    FIELD(mlxp_attention_params, alibi_slopes);
    FIELD(mlxp_attention_params, key_lengths);
    FIELD(mlxp_attention_params, sinks);
    return 0;
}
