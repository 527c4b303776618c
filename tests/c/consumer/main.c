/* A downstream program: checks that header and library agree and runs softmax once. */
#include <math.h>
#include <stdio.h>

#include <mlxprim.h>

int main(void) {
    int32_t abi = -1, version = -1;
    if (mlxp_abi_version(&abi) != MLXP_OK || abi != MLXP_ABI_VERSION || mlxp_version(&version) != MLXP_OK ||
        version != MLXP_VERSION_NUMBER) {
        fprintf(stderr, "header/library mismatch: abi %d, version %d\n", (int)abi, (int)version);
        return 1;
    }
    /* softmax([0, ln 3]) = [1/4, 3/4] */
    float x[2] = {0.0f, (float)log(3.0)}, out[2];
    int64_t shape[1] = {2};
    mlxp_tensor tx = {x, {MLXP_DEVICE_CPU, 0}, 1, {MLXP_DTYPE_FLOAT, 32, 1}, shape, NULL, 0};
    mlxp_tensor to = {out, {MLXP_DEVICE_CPU, 0}, 1, {MLXP_DTYPE_FLOAT, 32, 1}, shape, NULL, 0};
    if (mlxp_softmax(&tx, &to, NULL) != MLXP_OK) {
        fprintf(stderr, "softmax: %s\n", mlxp_last_error());
        return 1;
    }
    if (fabs(out[0] - 0.25) > 1e-6 || fabs(out[1] - 0.75) > 1e-6) {
        fprintf(stderr, "softmax gave [%g, %g], want [0.25, 0.75]\n", (double)out[0], (double)out[1]);
        return 1;
    }
    printf("consumer: libmlxprim %d (ABI %d) ok\n", (int)version, (int)abi);
    return 0;
}
