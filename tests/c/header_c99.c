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
                               offsetof(mlxp_rms_norm_params, struct_size) == 0);

/* Taking each function's address with its documented type catches a changed signature. */
mlxp_status (*const check_softmax)(const mlxp_tensor*, mlxp_tensor*, const mlxp_softmax_params*) = mlxp_softmax;
mlxp_status (*const check_rms_norm)(const mlxp_tensor*, const mlxp_tensor*, const mlxp_tensor*, mlxp_tensor*,
                                    mlxp_tensor*, const mlxp_rms_norm_params*) = mlxp_rms_norm;
mlxp_status (*const check_uniform)(mlxp_rng*, mlxp_tensor*) = mlxp_rng_uniform;
const char* (*const check_last_error)(void) = mlxp_last_error;

int check_constants(void);
int check_constants(void) {
    return MLXP_OK + MLXP_ERR_INTERNAL + MLXP_DEVICE_CPU + MLXP_DTYPE_BOOL + MLXP_MAX_NDIM + MLXP_ABI_VERSION +
           MLXP_VERSION_NUMBER;
}
