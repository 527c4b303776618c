/* Internal helpers of the C API, not part of mlxprim.h and not exported from the
 * library (the version script keeps only mlxp_* symbols). */
#ifndef MLXPRIM_CAPI_INTERNAL_H
#define MLXPRIM_CAPI_INTERNAL_H
#include <stddef.h>

/* Stores msg[0:len] (truncated to 1023 bytes) as the calling thread's last error. */
void mlxpi_set_last_error(const char* msg, size_t len);

#endif
