/* demo.c — softmax and RMSNorm on a tiny input with libmlxprim.
 * Build: cc demo.c $(pkg-config --cflags --libs mlxprim) -o demo */
#include <stdio.h>

#include <mlxprim.h>

/* A row-major float32 CPU tensor over caller memory (laid out like DLPack's DLTensor). */
static mlxp_tensor f32_tensor(float* data, int32_t ndim, int64_t* shape) {
    mlxp_tensor t = {data, {MLXP_DEVICE_CPU, 0}, ndim, {MLXP_DTYPE_FLOAT, 32, 1}, shape, NULL, 0};
    return t;
}

static void print_row(const char* name, const float* v, int n) {
    printf("%-9s", name);
    for (int i = 0; i < n; i++) printf(" %8.5f", v[i]);
    printf("\n");
}

int main(void) {
    float x[2][4] = {{1, 2, 3, 4}, {-1, 0, 1, 8}};
    float probs[2][4], normed[2][4];
    float weight[4] = {1.0f, 0.5f, 2.0f, 1.0f};
    int64_t shape[2] = {2, 4}, wshape[1] = {4};
    mlxp_tensor tx = f32_tensor(&x[0][0], 2, shape);
    mlxp_tensor tp = f32_tensor(&probs[0][0], 2, shape);
    mlxp_tensor tn = f32_tensor(&normed[0][0], 2, shape);
    mlxp_tensor tw = f32_tensor(weight, 1, wshape);

    mlxp_softmax_params sp;
    mlxp_softmax_params_init(&sp);
    sp.temperature = 2.0f;
    if (mlxp_softmax(&tx, &tp, &sp) != MLXP_OK) {
        fprintf(stderr, "softmax failed: %s\n", mlxp_last_error());
        return 1;
    }
    /* NULL params: eps = 1e-6 */
    if (mlxp_rms_norm(&tx, &tw, NULL, &tn, NULL, NULL) != MLXP_OK) {
        fprintf(stderr, "rms_norm failed: %s\n", mlxp_last_error());
        return 1;
    }
    for (int r = 0; r < 2; r++) {
        print_row("x", x[r], 4);
        print_row("softmax", probs[r], 4);
        print_row("rms_norm", normed[r], 4);
    }
    /* Errors come back as a status plus a per-thread message. */
    mlxp_status st = mlxp_softmax(&tx, NULL, NULL);
    printf("softmax(x, NULL) -> %d: %s\n", (int)st, mlxp_last_error());
    return st == MLXP_ERR_INVALID_ARGUMENT ? 0 : 1;
}
