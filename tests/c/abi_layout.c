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
    return 0;
}
