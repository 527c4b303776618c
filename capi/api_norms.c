/* Public entry points of the normalization and activation ops; see api.c for why they
 * forward. */
#include "mlxprim.h"
#include "_cgo_export.h"

mlxp_status mlxp_norm_params_init(mlxp_norm_params* p) { return mlxpgo_norm_params_init(p); }

mlxp_status mlxp_layer_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                            const mlxp_tensor* bias, const mlxp_tensor* residual,
                            mlxp_tensor* out, mlxp_tensor* residual_out,
                            const mlxp_norm_params* params) {
    return mlxpgo_layer_norm((mlxp_tensor*)x, (mlxp_tensor*)weight, (mlxp_tensor*)bias,
                             (mlxp_tensor*)residual, out, residual_out, (mlxp_norm_params*)params);
}

mlxp_status mlxp_group_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                            const mlxp_tensor* bias, const mlxp_tensor* residual,
                            mlxp_tensor* out, mlxp_tensor* residual_out,
                            const mlxp_norm_params* params) {
    return mlxpgo_group_norm((mlxp_tensor*)x, (mlxp_tensor*)weight, (mlxp_tensor*)bias,
                             (mlxp_tensor*)residual, out, residual_out, (mlxp_norm_params*)params);
}

mlxp_status mlxp_rms_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                   const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                   mlxp_tensor* dx, mlxp_tensor* dweight,
                                   const mlxp_norm_params* params) {
    return mlxpgo_rms_norm_backward((mlxp_tensor*)h, (mlxp_tensor*)weight, (mlxp_tensor*)dy,
                                    (mlxp_tensor*)d_residual_out, dx, dweight,
                                    (mlxp_norm_params*)params);
}

mlxp_status mlxp_layer_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                     const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                     mlxp_tensor* dx, mlxp_tensor* dweight, mlxp_tensor* dbias,
                                     const mlxp_norm_params* params) {
    return mlxpgo_layer_norm_backward((mlxp_tensor*)h, (mlxp_tensor*)weight, (mlxp_tensor*)dy,
                                      (mlxp_tensor*)d_residual_out, dx, dweight, dbias,
                                      (mlxp_norm_params*)params);
}

mlxp_status mlxp_group_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                     const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                     mlxp_tensor* dx, mlxp_tensor* dweight, mlxp_tensor* dbias,
                                     const mlxp_norm_params* params) {
    return mlxpgo_group_norm_backward((mlxp_tensor*)h, (mlxp_tensor*)weight, (mlxp_tensor*)dy,
                                      (mlxp_tensor*)d_residual_out, dx, dweight, dbias,
                                      (mlxp_norm_params*)params);
}

mlxp_status mlxp_activation(int32_t activation, const mlxp_tensor* x, mlxp_tensor* out) {
    return mlxpgo_activation(activation, (mlxp_tensor*)x, out);
}

mlxp_status mlxp_activation_backward(int32_t activation, const mlxp_tensor* x,
                                     const mlxp_tensor* dy, mlxp_tensor* dx) {
    return mlxpgo_activation_backward(activation, (mlxp_tensor*)x, (mlxp_tensor*)dy, dx);
}

mlxp_status mlxp_glu(int32_t activation, const mlxp_tensor* gate, const mlxp_tensor* up,
                     mlxp_tensor* out) {
    return mlxpgo_glu(activation, (mlxp_tensor*)gate, (mlxp_tensor*)up, out);
}

mlxp_status mlxp_glu_backward(int32_t activation, const mlxp_tensor* gate,
                              const mlxp_tensor* up, const mlxp_tensor* dout,
                              mlxp_tensor* dgate, mlxp_tensor* dup) {
    return mlxpgo_glu_backward(activation, (mlxp_tensor*)gate, (mlxp_tensor*)up,
                               (mlxp_tensor*)dout, dgate, dup);
}
