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

// Declaring the same functions again with C linkage is allowed only if the header gave
// them C linkage too.
extern "C" mlxp_status mlxp_version(int32_t* out_version);
extern "C" mlxp_status mlxp_rng_destroy(mlxp_rng* rng);

int check_constants();
int check_constants() {
    return MLXP_OK + MLXP_ERR_INTERNAL + MLXP_DEVICE_CPU + MLXP_DTYPE_BOOL + MLXP_MAX_NDIM + MLXP_ABI_VERSION;
}
