/*
 * test_dlopen.c — loads libmlxprim at run time, as a plugin host or an FFI would.
 *
 * Usage: test_dlopen /path/to/libmlxprim.so /path/to/mlxprim.h
 *
 * Every function named in the header is looked up with dlsym; the typed table below must
 * cover exactly the header's functions (so it cannot go stale), and a few are called and
 * checked. This program is not linked against the library.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlxprim.h"
#include "testutil.h"

/* The functions of mlxprim.h; __typeof__ gives each pointer the header's exact type. */
#define MLXP_FUNCTIONS(X)                                                        \
    X(mlxp_version) X(mlxp_version_string) X(mlxp_abi_version) X(mlxp_last_error) \
    X(mlxp_status_string) X(mlxp_cpu_features) X(mlxp_cpu_isa)                    \
    X(mlxp_set_num_threads) X(mlxp_get_num_threads) X(mlxp_softmax_params_init)   \
    X(mlxp_softmax) X(mlxp_rms_norm_params_init) X(mlxp_rms_norm)                 \
    X(mlxp_rng_create) X(mlxp_rng_uniform) X(mlxp_rng_destroy)                    \
    X(mlxp_matmul_params_init) X(mlxp_matmul) X(mlxp_linear) X(mlxp_gated_linear) X(mlxp_gated_linear_backward) \
    X(mlxp_norm_params_init) X(mlxp_layer_norm) X(mlxp_group_norm)                \
    X(mlxp_rms_norm_backward) X(mlxp_layer_norm_backward)                         \
    X(mlxp_group_norm_backward) X(mlxp_activation) X(mlxp_activation_backward)    \
    X(mlxp_glu) X(mlxp_glu_backward) X(mlxp_rope_params_init) X(mlxp_rope)        \
    X(mlxp_quantize_int8) X(mlxp_dequantize_int8) X(mlxp_quantize_int4)           \
    X(mlxp_dequantize_int4) X(mlxp_quantize_affine) X(mlxp_dequantize_affine)     \
    X(mlxp_int8_linear) X(mlxp_int4_linear) X(mlxp_affine_linear)                 \
    X(mlxp_attention_params_init) X(mlxp_alibi_slopes) X(mlxp_flash_attention)    \
    X(mlxp_sliding_window_attention) X(mlxp_merge_attention_states)              \
    X(mlxp_flash_attention_varlen) X(mlxp_chunked_cross_attention)               \
    X(mlxp_flash_attention_rope) X(mlxp_flash_attention_backward)                 \
    X(mlxp_flash_attention_varlen_backward) X(mlxp_flash_attention_bias_grad)     \
    X(mlxp_flash_attention_rope_backward)

typedef struct {
#define FIELD(name) __typeof__(name)* name;
    MLXP_FUNCTIONS(FIELD)
#undef FIELD
} api_table;

static const char* const table_names[] = {
#define NAME(name) #name,
    MLXP_FUNCTIONS(NAME)
#undef NAME
};
enum { TABLE_SIZE = sizeof table_names / sizeof table_names[0] };

/* ---- the function names declared in the header ------------------------------------- */

static char* read_file(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Blanks comments and preprocessor lines, then collects each identifier "mlxp_..." that
 * is followed by "(": the function declarations. Returns the number of names. */
static int header_functions(char* src, char names[][64], int cap) {
    for (char* p = src; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char* end = strstr(p + 2, "*/");
            char* stop = end ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n') *p = ' ';
            p--;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++) *p = ' ';
            p--;
        } else if (*p == '#' && (p == src || p[-1] == '\n')) {
            for (; *p && !(*p == '\n' && p[-1] != '\\'); p++) *p = ' ';
            p--;
        }
    }
    int n = 0;
    for (char* p = strstr(src, "mlxp_"); p; p = strstr(p + 1, "mlxp_")) {
        if (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
        size_t len = 0;
        while (isalnum((unsigned char)p[len]) || p[len] == '_') len++;
        const char* q = p + len;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
        if (*q != '(' || len >= 64) continue;
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= strncmp(names[i], p, len) == 0 && names[i][len] == '\0';
        if (!dup && n < cap) {
            memcpy(names[n], p, len);
            names[n][len] = '\0';
            n++;
        }
    }
    return n;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY HEADER\n", argv[0]);
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen(%s): %s\n", argv[1], dlerror());
        return 1;
    }

    char* header = read_file(argv[2]);
    CHECK(header != NULL, "cannot read %s", argv[2]);
    if (!header) return tu_finish("test_dlopen");
    char names[256][64];
    int n = header_functions(header, names, 256);
    free(header);
    CHECK(n > 0, "no functions found in %s", argv[2]);

    /* Every header function resolves, and the typed table covers exactly those. */
    for (int i = 0; i < n; i++) {
        CHECK(dlsym(lib, names[i]) != NULL, "dlsym(%s) failed: %s", names[i], dlerror());
        int in_table = 0;
        for (int k = 0; k < TABLE_SIZE; k++) in_table |= strcmp(table_names[k], names[i]) == 0;
        CHECK(in_table, "%s is declared in the header but missing from this test's table", names[i]);
    }
    CHECK(n == TABLE_SIZE, "header declares %d functions, table has %d", n, (int)TABLE_SIZE);
    CHECK(TABLE_SIZE == 54, "the typed table has %d functions, the ABI 54", (int)TABLE_SIZE);

    api_table api;
#define LOAD(name)                                                         \
    do {                                                                   \
        void* sym_ = dlsym(lib, #name);                                    \
        CHECK(sym_ != NULL, "dlsym(%s) failed", #name);                    \
        if (!sym_) return tu_finish("test_dlopen");                        \
        memcpy(&api.name, &sym_, sizeof sym_); /* object to function pointer, as POSIX allows */ \
    } while (0);
    MLXP_FUNCTIONS(LOAD)
#undef LOAD

    int32_t v = -1, abi = -1;
    CHECK(api.mlxp_version(&v) == MLXP_OK && v == MLXP_VERSION_NUMBER, "version %d", v);
    CHECK(api.mlxp_abi_version(&abi) == MLXP_OK && abi == MLXP_ABI_VERSION, "abi %d", abi);
    const char* s = NULL;
    CHECK(api.mlxp_version_string(&s) == MLXP_OK && s && strcmp(s, MLXP_VERSION_STRING) == 0, "version string");
    CHECK(api.mlxp_status_string(MLXP_ERR_INVALID_HANDLE, &s) == MLXP_OK && s && s[0], "status_string");

    /* softmax of [1, 2, 3] against its closed form (float32 tolerance 1e-6). */
    float x[3] = {1, 2, 3}, out[3];
    int64_t shape[1] = {3};
    mlxp_tensor tx = tu_tensor(x, TU_F32, 1, shape, NULL);
    mlxp_tensor to = tu_tensor(out, TU_F32, 1, shape, NULL);
    CHECK(api.mlxp_softmax(&tx, &to, NULL) == MLXP_OK, "softmax: %s", api.mlxp_last_error());
    double z = exp(1.0) + exp(2.0) + exp(3.0);
    for (int j = 0; j < 3; j++)
        CHECK(fabs(out[j] - exp(j + 1.0) / z) < 1e-6, "softmax[%d] = %.9g, want %.9g", j, (double)out[j],
              exp(j + 1.0) / z);

    /* rms_norm of [3, 4] with weight [2, 0.5] and eps 0: [3, 4] / sqrt(12.5) * w. */
    float w[2] = {2, 0.5f}, xn[2] = {3, 4}, on[2];
    int64_t s2[1] = {2};
    mlxp_tensor txn = tu_tensor(xn, TU_F32, 1, s2, NULL);
    mlxp_tensor tw = tu_tensor(w, TU_F32, 1, s2, NULL);
    mlxp_tensor ton = tu_tensor(on, TU_F32, 1, s2, NULL);
    mlxp_rms_norm_params p;
    CHECK(api.mlxp_rms_norm_params_init(&p) == MLXP_OK, "rms_norm_params_init");
    p.eps = 0;
    CHECK(api.mlxp_rms_norm(&txn, &tw, NULL, &ton, NULL, &p) == MLXP_OK, "rms_norm: %s", api.mlxp_last_error());
    CHECK(fabs(on[0] - 6 / sqrt(12.5)) < 1e-6 && fabs(on[1] - 2 / sqrt(12.5)) < 1e-6, "rms_norm = [%g, %g]",
          (double)on[0], (double)on[1]);

    /* A failure through the loaded library sets its message. */
    CHECK(api.mlxp_softmax(NULL, &to, NULL) == MLXP_ERR_INVALID_ARGUMENT, "softmax(NULL)");
    CHECK(api.mlxp_last_error()[0] != '\0', "empty last_error after a failure");

    /* rng: the first sample of seed 0 is word 0 of Philox-4x32-10 at counter 0, key 0. */
    mlxp_rng* r = NULL;
    float u[4];
    int64_t s4[1] = {4};
    mlxp_tensor tu = tu_tensor(u, TU_F32, 1, s4, NULL);
    CHECK(api.mlxp_rng_create(0, &r) == MLXP_OK, "rng_create");
    CHECK(api.mlxp_rng_uniform(r, &tu) == MLXP_OK, "rng_uniform: %s", api.mlxp_last_error());
    CHECK(u[0] == (float)(0x6627e8d5u >> 8) * 0x1p-24f, "first sample %.9g", (double)u[0]);
    CHECK(api.mlxp_rng_destroy(r) == MLXP_OK, "rng_destroy");
    CHECK(api.mlxp_rng_destroy(r) == MLXP_ERR_INVALID_HANDLE, "second rng_destroy");

    int32_t threads = 0;
    CHECK(api.mlxp_set_num_threads(2) == MLXP_OK && api.mlxp_get_num_threads(&threads) == MLXP_OK && threads == 2,
          "threads %d", threads);
    const char* isa = NULL;
    CHECK(api.mlxp_cpu_isa(&isa) == MLXP_OK && isa && isa[0], "cpu_isa");
    CHECK(api.mlxp_cpu_features(&s) == MLXP_OK && s, "cpu_features");
    mlxp_softmax_params sp;
    CHECK(api.mlxp_softmax_params_init(&sp) == MLXP_OK && sp.temperature == 1.0f && sp.log == 0 &&
              sp.struct_size == sizeof sp,
          "softmax_params_init");

    /* A kernel added later in the ABI: a 2x2 matmul through the table, and the defaults of
     * the new parameter structs. */
    float ma[4] = {1, 2, 3, 4}, mb[4] = {5, 6, 7, 8}, mc[4];
    int64_t m22[2] = {2, 2};
    mlxp_tensor tma = tu_tensor(ma, TU_F32, 2, m22, NULL), tmb = tu_tensor(mb, TU_F32, 2, m22, NULL),
                tmc = tu_tensor(mc, TU_F32, 2, m22, NULL);
    CHECK(api.mlxp_matmul(&tma, &tmb, &tmc, NULL) == MLXP_OK, "matmul: %s", api.mlxp_last_error());
    CHECK(mc[0] == 19 && mc[1] == 22 && mc[2] == 43 && mc[3] == 50, "matmul = [%g %g %g %g]", (double)mc[0],
          (double)mc[1], (double)mc[2], (double)mc[3]);
    mlxp_norm_params np;
    mlxp_rope_params rp;
    CHECK(api.mlxp_norm_params_init(&np) == MLXP_OK && np.struct_size == sizeof np && np.num_groups == 1,
          "norm_params_init");
    CHECK(api.mlxp_rope_params_init(&rp) == MLXP_OK && rp.struct_size == sizeof rp && rp.base == 10000,
          "rope_params_init");
    mlxp_attention_params ap;
    CHECK(api.mlxp_attention_params_init(&ap) == MLXP_OK && ap.struct_size == sizeof ap && ap.causal == 1 &&
              ap.window_left == -1 && ap.window_right == -1 && ap.layout == MLXP_LAYOUT_BSHD && ap.bias == NULL,
          "attention_params_init");
    /* ALiBi for 2 heads: 2^-4, 2^-8 (exact in float32). */
    float slopes[2];
    int64_t sl2[1] = {2};
    mlxp_tensor tsl = tu_tensor(slopes, TU_F32, 1, sl2, NULL);
    CHECK(api.mlxp_alibi_slopes(2, &tsl) == MLXP_OK && slopes[0] == 0x1p-4f && slopes[1] == 0x1p-8f,
          "alibi_slopes(2) = [%g %g]", (double)slopes[0], (double)slopes[1]);

    /* A second dlopen of the same path returns the same, still working, library. */
    void* again = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(again != NULL && dlsym(again, "mlxp_version") == dlsym(lib, "mlxp_version"), "second dlopen");
    if (again) dlclose(again);
    CHECK(api.mlxp_version(&v) == MLXP_OK, "library unusable after a balanced dlopen/dlclose");
    return tu_finish("test_dlopen");
}
