/* Public entry points of the matrix multiply and linear ops; see api.c for why they
 * forward. */
#include "mlxprim.h"
#include "_cgo_export.h"

mlxp_status mlxp_matmul_params_init(mlxp_matmul_params* p) { return mlxpgo_matmul_params_init(p); }

mlxp_status mlxp_matmul(const mlxp_tensor* a, const mlxp_tensor* b, mlxp_tensor* c,
                        const mlxp_matmul_params* params) {
    return mlxpgo_matmul((mlxp_tensor*)a, (mlxp_tensor*)b, c, (mlxp_matmul_params*)params);
}

mlxp_status mlxp_linear(const mlxp_tensor* x, const mlxp_tensor* w, const mlxp_tensor* bias,
                        mlxp_tensor* y) {
    return mlxpgo_linear((mlxp_tensor*)x, (mlxp_tensor*)w, (mlxp_tensor*)bias, y);
}

mlxp_status mlxp_gated_linear(const mlxp_tensor* x, const mlxp_tensor* w_gate,
                              const mlxp_tensor* w_up, int32_t activation, mlxp_tensor* out) {
    return mlxpgo_gated_linear((mlxp_tensor*)x, (mlxp_tensor*)w_gate, (mlxp_tensor*)w_up,
                               activation, out);
}

mlxp_status mlxp_gated_linear_backward(const mlxp_tensor* x, const mlxp_tensor* w_gate,
                                       const mlxp_tensor* w_up, const mlxp_tensor* dout,
                                       int32_t activation, mlxp_tensor* dx,
                                       mlxp_tensor* dw_gate, mlxp_tensor* dw_up) {
    return mlxpgo_gated_linear_backward((mlxp_tensor*)x, (mlxp_tensor*)w_gate,
                                        (mlxp_tensor*)w_up, (mlxp_tensor*)dout, activation, dx,
                                        dw_gate, dw_up);
}
