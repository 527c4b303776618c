/* The public entry points. Each matches its prototype in mlxprim.h exactly (the compiler
 * checks it here) and forwards to the Go function exported as mlxpgo_<name>. The Go
 * toolchain writes its own prototypes without const, so the forwarding casts qualifiers
 * only; the Go side never writes through a const argument. */
#include "mlxprim.h"
#include "_cgo_export.h"

mlxp_status mlxp_version(int32_t* out_version) { return mlxpgo_version(out_version); }

mlxp_status mlxp_version_string(const char** out) { return mlxpgo_version_string((char**)out); }

mlxp_status mlxp_abi_version(int32_t* out_abi) { return mlxpgo_abi_version(out_abi); }

mlxp_status mlxp_status_string(mlxp_status status, const char** out) {
    return mlxpgo_status_string(status, (char**)out);
}

mlxp_status mlxp_cpu_features(const char** out) { return mlxpgo_cpu_features((char**)out); }

mlxp_status mlxp_cpu_isa(const char** out) { return mlxpgo_cpu_isa((char**)out); }

mlxp_status mlxp_set_num_threads(int32_t n) { return mlxpgo_set_num_threads(n); }

mlxp_status mlxp_get_num_threads(int32_t* out_n) { return mlxpgo_get_num_threads(out_n); }

mlxp_status mlxp_softmax_params_init(mlxp_softmax_params* p) {
    return mlxpgo_softmax_params_init(p);
}

mlxp_status mlxp_softmax(const mlxp_tensor* x, mlxp_tensor* out,
                         const mlxp_softmax_params* params) {
    return mlxpgo_softmax((mlxp_tensor*)x, out, (mlxp_softmax_params*)params);
}

mlxp_status mlxp_rms_norm_params_init(mlxp_rms_norm_params* p) {
    return mlxpgo_rms_norm_params_init(p);
}

mlxp_status mlxp_rms_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                          const mlxp_tensor* residual, mlxp_tensor* out,
                          mlxp_tensor* residual_out, const mlxp_rms_norm_params* params) {
    return mlxpgo_rms_norm((mlxp_tensor*)x, (mlxp_tensor*)weight, (mlxp_tensor*)residual, out,
                           residual_out, (mlxp_rms_norm_params*)params);
}

mlxp_status mlxp_rng_create(uint64_t seed, mlxp_rng** out_rng) {
    return mlxpgo_rng_create(seed, out_rng);
}

mlxp_status mlxp_rng_uniform(mlxp_rng* rng, mlxp_tensor* out) { return mlxpgo_rng_uniform(rng, out); }

mlxp_status mlxp_rng_destroy(mlxp_rng* rng) { return mlxpgo_rng_destroy(rng); }
