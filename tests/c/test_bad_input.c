/*
 * test_bad_input.c — every documented error path of the C ABI.
 *
 * Each case checks:
 *   - the documented status code;
 *   - that mlxp_last_error() is a new, non-empty message (it differs from the message of
 *     a different failure made just before) that names the offending argument as a word;
 *   - that nothing was written: outputs (and in-place inputs) are filled with a sentinel
 *     before the call and compared byte for byte afterwards.
 * It also checks that messages are per thread and that successful calls keep them.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "badinput.h"
#include "mlxprim.h"
#include "testutil.h"

/* ---- simple functions -------------------------------------------------------------- */

static void test_simple_functions(void) {
    EXPECT(mlxp_version(NULL), MLXP_ERR_INVALID_ARGUMENT, "out_version");
    EXPECT(mlxp_version_string(NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    EXPECT(mlxp_abi_version(NULL), MLXP_ERR_INVALID_ARGUMENT, "out_abi");
    EXPECT(mlxp_status_string(MLXP_OK, NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    EXPECT(mlxp_cpu_features(NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    EXPECT(mlxp_cpu_isa(NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    EXPECT(mlxp_get_num_threads(NULL), MLXP_ERR_INVALID_ARGUMENT, "out_n");
    EXPECT(mlxp_softmax_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");
    EXPECT(mlxp_rms_norm_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");

    /* A rejected thread count leaves the setting unchanged. */
    int32_t n = 0;
    CHECK_OK(mlxp_set_num_threads(2));
    EXPECT(mlxp_set_num_threads(-1), MLXP_ERR_INVALID_ARGUMENT, "n");
    EXPECT(mlxp_set_num_threads(1025), MLXP_ERR_INVALID_ARGUMENT, "n");
    EXPECT(mlxp_set_num_threads(INT32_MIN), MLXP_ERR_INVALID_ARGUMENT, "n");
    CHECK_OK(mlxp_get_num_threads(&n));
    CHECK(n == 2, "num_threads changed by a rejected call: %d", n);
    CHECK_OK(mlxp_set_num_threads(0));

    /* Successful calls leave the last message as it was. */
    mlxp_version(NULL);
    char before[1100];
    snprintf(before, sizeof before, "%s", mlxp_last_error());
    int32_t v;
    const char* s;
    CHECK_OK(mlxp_version(&v));
    CHECK_OK(mlxp_status_string(3, &s));
    CHECK(strcmp(before, mlxp_last_error()) == 0, "a successful call changed last_error to '%s'", mlxp_last_error());
}

/* ---- softmax ----------------------------------------------------------------------- */

/* A valid 2x4 float32 problem; each case breaks one thing and restores it afterwards. */
typedef struct {
    float xbuf[12], xpristine[12];
    float obuf[8];
    int64_t xshape[2], oshape[2];
    mlxp_tensor x, out;
    mlxp_softmax_params p;
} sm_case;

static void sm_reset(sm_case* c) {
    for (int i = 0; i < 12; i++) c->xbuf[i] = (float)i * 0.25f;
    memcpy(c->xpristine, c->xbuf, sizeof c->xbuf);
    fill(c->obuf, sizeof c->obuf);
    c->xshape[0] = c->oshape[0] = 2;
    c->xshape[1] = c->oshape[1] = 4;
    c->x = tu_tensor(c->xbuf, TU_F32, 2, c->xshape, NULL);
    c->out = tu_tensor(c->obuf, TU_F32, 2, c->oshape, NULL);
    mlxp_softmax_params_init(&c->p);
}

/* Runs softmax on the (broken) case and checks status, message, the untouched output and
 * the unchanged input (which some cases alias as the output). */
#define SM_EXPECT(c, xp, op, pp, want, arg)                                                     \
    do {                                                                                        \
        EXPECT(mlxp_softmax((xp), (op), (pp)), (want), (arg));                                  \
        CHECK(untouched((c)->obuf, sizeof (c)->obuf), "line %d: softmax wrote out", __LINE__);  \
        CHECK(memcmp((c)->xbuf, (c)->xpristine, sizeof (c)->xbuf) == 0, "line %d: softmax changed x", __LINE__); \
        sm_reset(c);                                                                            \
    } while (0)

static void test_softmax(void) {
    sm_case c;
    sm_reset(&c);
    /* The valid case works (so each failure below is due to the one broken thing). */
    CHECK_OK(mlxp_softmax(&c.x, &c.out, &c.p));
    sm_reset(&c);

    SM_EXPECT(&c, NULL, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    SM_EXPECT(&c, &c.x, NULL, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    c.x.data = NULL;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.out.data = NULL;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    c.x.shape = NULL;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");

    /* ndim: 0 has no last axis (shape mismatch); negative or above MLXP_MAX_NDIM is invalid. */
    c.x.ndim = c.out.ndim = 0;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_SHAPE_MISMATCH, "x");
    c.x.ndim = MLXP_MAX_NDIM + 1;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.x.ndim = -1;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.out.ndim = MLXP_MAX_NDIM + 1;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");

    c.xshape[0] = c.oshape[0] = -2;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.oshape[1] = -4;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    c.xshape[1] = c.oshape[1] = 0; /* N == 0 */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_SHAPE_MISMATCH, "x");

    /* Sizes whose element count overflows int64, and strides whose reach does (256 * 2^56
     * is 2^64, which wraps to 0 in 64 bits). */
    c.xshape[0] = c.oshape[0] = INT64_C(1) << 40;
    c.xshape[1] = c.oshape[1] = INT64_C(1) << 40;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_OUT_OF_MEMORY, "x");
    {
        int64_t wrap[2] = {1, INT64_C(1) << 56};
        c.xshape[1] = c.oshape[1] = 257;
        c.x.strides = wrap;
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
        int64_t far[2] = {INT64_C(1) << 57, 1};
        c.x.strides = far;
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    }

    c.x.dtype.lanes = 2;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.out.dtype.lanes = 0;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    c.x.device.device_type = 2; /* DLPack's kDLCUDA */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "x");
    c.out.device.device_type = 0;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");

    /* dtypes: unknown codes and widths, and known dtypes softmax does not take. */
    static const uint8_t bad_dtypes[][2] = {{3, 32}, {5, 16}, {7, 32}, {200, 32}, {MLXP_DTYPE_FLOAT, 64},
                                            {MLXP_DTYPE_FLOAT, 8}, {MLXP_DTYPE_FLOAT, 24}, {MLXP_DTYPE_FLOAT, 0},
                                            {MLXP_DTYPE_BFLOAT, 32}, {MLXP_DTYPE_INT, 32}, {MLXP_DTYPE_INT, 8},
                                            {MLXP_DTYPE_INT, 4}, {MLXP_DTYPE_UINT, 8}, {MLXP_DTYPE_BOOL, 8}};
    for (size_t k = 0; k < sizeof bad_dtypes / sizeof bad_dtypes[0]; k++) {
        c.x.dtype.code = c.out.dtype.code = bad_dtypes[k][0];
        c.x.dtype.bits = c.out.dtype.bits = bad_dtypes[k][1];
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_UNSUPPORTED_DTYPE, "x");
    }
    c.out.dtype = tu_dtype(TU_F16); /* out's dtype differs from x's */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_UNSUPPORTED_DTYPE, "out");

    /* shapes */
    c.oshape[1] = 3;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_SHAPE_MISMATCH, "out");
    {
        int64_t flat[1] = {8};
        c.out.ndim = 1;
        c.out.shape = flat;
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_SHAPE_MISMATCH, "out");
    }

    /* params */
    c.p.struct_size = 0;
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    c.p.struct_size = 4; /* does not even cover struct_size itself */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    static const float bad_temps[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad_temps / sizeof bad_temps[0]; k++) {
        c.p.temperature = bad_temps[k];
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "temperature");
    }
    c.p.log = 2; /* documented values are 0 and 1 */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "log");

    /* Overlap other than "the very same tensor": out is x's buffer shifted by one element
     * or by a row, or the same memory read with other strides. */
    c.out.data = c.xbuf;
    c.out.byte_offset = sizeof(float);
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    c.out.data = c.xbuf;
    c.out.byte_offset = 4 * sizeof(float); /* out's first row is x's second row */
    SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    {
        int64_t colmajor[2] = {1, 2};
        c.out.data = c.xbuf;
        c.out.strides = colmajor;
        SM_EXPECT(&c, &c.x, &c.out, &c.p, MLXP_ERR_INVALID_ARGUMENT, "out");
    }
    /* An in-place call with a bad parameter leaves x as it was. */
    c.p.temperature = -1;
    SM_EXPECT(&c, &c.x, &c.x, &c.p, MLXP_ERR_INVALID_ARGUMENT, "temperature");
}

/* ---- rms_norm ---------------------------------------------------------------------- */

typedef struct {
    float xbuf[12], wbuf[4], rbuf[8], obuf[8], robuf[8];
    float pristine[24]; /* x, weight and residual as set by rn_reset */
    int64_t xshape[2], wshape[1], rshape[2], oshape[2], roshape[2];
    mlxp_tensor x, w, r, out, rout;
    mlxp_rms_norm_params p;
} rn_case;

static void rn_reset(rn_case* c) {
    for (int i = 0; i < 12; i++) c->xbuf[i] = (float)i - 5.5f;
    for (int i = 0; i < 4; i++) c->wbuf[i] = 1.0f + (float)i;
    for (int i = 0; i < 8; i++) c->rbuf[i] = 0.5f * (float)i;
    memcpy(c->pristine, c->xbuf, sizeof c->xbuf);
    memcpy(c->pristine + 12, c->wbuf, sizeof c->wbuf);
    memcpy(c->pristine + 16, c->rbuf, sizeof c->rbuf);
    fill(c->obuf, sizeof c->obuf);
    fill(c->robuf, sizeof c->robuf);
    c->xshape[0] = c->rshape[0] = c->oshape[0] = c->roshape[0] = 2;
    c->xshape[1] = c->rshape[1] = c->oshape[1] = c->roshape[1] = 4;
    c->wshape[0] = 4;
    c->x = tu_tensor(c->xbuf, TU_F32, 2, c->xshape, NULL);
    c->w = tu_tensor(c->wbuf, TU_F32, 1, c->wshape, NULL);
    c->r = tu_tensor(c->rbuf, TU_F32, 2, c->rshape, NULL);
    c->out = tu_tensor(c->obuf, TU_F32, 2, c->oshape, NULL);
    c->rout = tu_tensor(c->robuf, TU_F32, 2, c->roshape, NULL);
    mlxp_rms_norm_params_init(&c->p);
}

#define RN_CALL(c) mlxp_rms_norm(&(c)->x, &(c)->w, &(c)->r, &(c)->out, &(c)->rout, &(c)->p)

#define RN_EXPECT(c, call, want, arg)                                                               \
    do {                                                                                            \
        EXPECT(call, (want), (arg));                                                                \
        CHECK(untouched((c)->obuf, sizeof (c)->obuf), "line %d: rms_norm wrote out", __LINE__);     \
        CHECK(untouched((c)->robuf, sizeof (c)->robuf), "line %d: rms_norm wrote residual_out", __LINE__); \
        CHECK(memcmp((c)->xbuf, (c)->pristine, sizeof (c)->xbuf) == 0 &&                          \
                  memcmp((c)->wbuf, (c)->pristine + 12, sizeof (c)->wbuf) == 0 &&                  \
                  memcmp((c)->rbuf, (c)->pristine + 16, sizeof (c)->rbuf) == 0,                    \
              "line %d: rms_norm changed an input", __LINE__);                                     \
        rn_reset(c);                                                                                \
    } while (0)

static void test_rms_norm(void) {
    rn_case c;
    rn_reset(&c);
    CHECK_OK(RN_CALL(&c));
    rn_reset(&c);

    RN_EXPECT(&c, mlxp_rms_norm(NULL, &c.w, &c.r, &c.out, &c.rout, &c.p), MLXP_ERR_INVALID_ARGUMENT, "x");
    RN_EXPECT(&c, mlxp_rms_norm(&c.x, &c.w, &c.r, NULL, &c.rout, &c.p), MLXP_ERR_INVALID_ARGUMENT, "out");
    c.x.data = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "x");
    c.w.data = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "weight");
    c.r.data = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual");
    c.out.data = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "out");
    c.rout.data = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual_out");
    c.w.shape = NULL;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "weight");

    c.x.ndim = c.r.ndim = c.out.ndim = c.rout.ndim = 0;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "x");
    c.x.ndim = MLXP_MAX_NDIM + 1;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "x");
    c.r.ndim = MLXP_MAX_NDIM + 1;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual");
    c.xshape[0] = c.rshape[0] = c.oshape[0] = c.roshape[0] = -1;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "x");
    c.wshape[0] = -4;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "weight");
    c.xshape[1] = c.rshape[1] = c.oshape[1] = c.roshape[1] = c.wshape[0] = 0; /* D == 0 */
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "x");

    c.x.dtype.lanes = 4;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "x");
    c.w.dtype.lanes = 2;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "weight");
    c.rout.dtype.lanes = 2;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual_out");
    c.x.device.device_type = 2;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "x");
    c.r.device.device_type = 8; /* DLPack's kDLMetal */
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual");

    /* dtypes */
    c.x.dtype.code = c.out.dtype.code = c.rout.dtype.code = 3;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "x");
    c.x.dtype.bits = c.out.dtype.bits = c.rout.dtype.bits = 64;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "x");
    c.w.dtype.code = MLXP_DTYPE_INT;
    c.w.dtype.bits = 8;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "weight");
    c.r.dtype.bits = 64;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "residual");
    c.out.dtype = tu_dtype(TU_F16);
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "out");
    c.rout.dtype = tu_dtype(TU_BF16);
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_UNSUPPORTED_DTYPE, "residual_out");

    /* shapes */
    c.wshape[0] = 3;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "weight");
    {
        int64_t w2[2] = {1, 4};
        c.w.ndim = 2;
        c.w.shape = w2;
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "weight");
    }
    c.rshape[0] = 1;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "residual");
    c.oshape[1] = 5;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "out");
    c.roshape[0] = 3;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_SHAPE_MISMATCH, "residual_out");

    /* params */
    c.p.struct_size = 0;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    c.p.struct_size = 4;
    RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    static const float bad_eps[] = {-1e-6f, -INFINITY, INFINITY, NAN};
    for (size_t k = 0; k < sizeof bad_eps / sizeof bad_eps[0]; k++) {
        c.p.eps = bad_eps[k];
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "eps");
    }

    /* Overlap: out and residual_out the same memory; an output over x at another offset;
     * an output over the weight. */
    {
        c.rout.data = c.obuf;
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual_out");
        c.out.data = c.xbuf;
        c.out.byte_offset = sizeof(float);
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "out");
        c.rout.data = c.xbuf;
        c.rout.byte_offset = 4 * sizeof(float);
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "residual_out");
        int64_t w1[2] = {1, 4};
        c.out.data = c.wbuf; /* out's first row would be the weight */
        c.out.shape = w1;
        c.x.shape = w1;
        c.r.shape = w1;
        c.rout.shape = w1;
        RN_EXPECT(&c, RN_CALL(&c), MLXP_ERR_INVALID_ARGUMENT, "out");
    }

    /* In place (out = x, residual_out = residual) with a bad eps: x and residual unchanged. */
    c.p.eps = -1;
    RN_EXPECT(&c, mlxp_rms_norm(&c.x, &c.w, &c.r, &c.x, &c.r, &c.p), MLXP_ERR_INVALID_ARGUMENT, "eps");
}

/* ---- rng --------------------------------------------------------------------------- */

static void test_rng(void) {
    float buf[8], fresh[8];
    int64_t shape[1] = {8};
    mlxp_tensor t = tu_tensor(buf, TU_F32, 1, shape, NULL);

    EXPECT(mlxp_rng_create(1, NULL), MLXP_ERR_INVALID_ARGUMENT, "out_rng");

    mlxp_rng* r = NULL;
    CHECK_OK(mlxp_rng_create(77, &r));

    fill(buf, sizeof buf);
    EXPECT(mlxp_rng_uniform(NULL, &t), MLXP_ERR_INVALID_HANDLE, "rng");
    CHECK(untouched(buf, sizeof buf), "uniform(NULL rng) wrote");
    EXPECT(mlxp_rng_uniform(r, NULL), MLXP_ERR_INVALID_ARGUMENT, "out");

    /* Each broken output tensor is rejected, nothing is written and the stream does not
     * advance (checked below against a fresh generator). */
    struct {
        int what;
        mlxp_status want;
    } cases[] = {{0, MLXP_ERR_INVALID_ARGUMENT}, {1, MLXP_ERR_INVALID_ARGUMENT}, {2, MLXP_ERR_INVALID_ARGUMENT},
                 {3, MLXP_ERR_INVALID_ARGUMENT}, {4, MLXP_ERR_INVALID_ARGUMENT}, {5, MLXP_ERR_UNSUPPORTED_DTYPE},
                 {6, MLXP_ERR_UNSUPPORTED_DTYPE}, {7, MLXP_ERR_UNSUPPORTED_DTYPE}, {8, MLXP_ERR_INVALID_ARGUMENT}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t s[1] = {8};
        mlxp_tensor b = tu_tensor(buf, TU_F32, 1, s, NULL);
        switch (cases[k].what) {
            case 0: b.data = NULL; break;
            case 1: b.ndim = MLXP_MAX_NDIM + 1; break;
            case 2: s[0] = -8; break;
            case 3: b.dtype.lanes = 2; break;
            case 4: b.device.device_type = 2; break;
            case 5: b.dtype.code = MLXP_DTYPE_INT; break;
            case 6: b.dtype.bits = 64; break;
            case 7: b.dtype.code = 9; break;
            case 8: b.shape = NULL; break;
        }
        fill(buf, sizeof buf);
        EXPECT(mlxp_rng_uniform(r, &b), cases[k].want, "out");
        CHECK(untouched(buf, sizeof buf), "rejected uniform case %d wrote", cases[k].what);
    }
    mlxp_rng* r2 = NULL;
    CHECK_OK(mlxp_rng_create(77, &r2));
    mlxp_tensor tf = tu_tensor(fresh, TU_F32, 1, shape, NULL);
    CHECK_OK(mlxp_rng_uniform(r, &t));
    CHECK_OK(mlxp_rng_uniform(r2, &tf));
    CHECK(memcmp(buf, fresh, sizeof buf) == 0, "a rejected uniform call advanced the stream");

    /* Destroyed handles. */
    CHECK_OK(mlxp_rng_destroy(r));
    fill(buf, sizeof buf);
    EXPECT(mlxp_rng_uniform(r, &t), MLXP_ERR_INVALID_HANDLE, "rng");
    CHECK(untouched(buf, sizeof buf), "uniform on a destroyed handle wrote");
    EXPECT(mlxp_rng_destroy(r), MLXP_ERR_INVALID_HANDLE, "rng");
    EXPECT(mlxp_rng_destroy(r), MLXP_ERR_INVALID_HANDLE, "rng");
    /* Handle values are never reused. */
    mlxp_rng* r3 = NULL;
    CHECK_OK(mlxp_rng_create(77, &r3));
    CHECK(r3 != r, "a destroyed handle value was reused");
    EXPECT(mlxp_rng_uniform(r, &t), MLXP_ERR_INVALID_HANDLE, "rng");
    /* The live ones still work. */
    CHECK_OK(mlxp_rng_uniform(r3, &t));
    CHECK(memcmp(buf, fresh, sizeof buf) == 0, "a new handle with the same seed gave other values");

    /* Made-up handle values are reported, never followed. */
    mlxp_rng* fake[] = {(mlxp_rng*)(uintptr_t)0x1234, (mlxp_rng*)(uintptr_t)1, (mlxp_rng*)(void*)buf,
                        (mlxp_rng*)(uintptr_t)UINTPTR_MAX};
    for (size_t k = 0; k < sizeof fake / sizeof fake[0]; k++) {
        fill(buf, sizeof buf);
        EXPECT(mlxp_rng_uniform(fake[k], &t), MLXP_ERR_INVALID_HANDLE, "rng");
        CHECK(untouched(buf, sizeof buf), "uniform on a made-up handle wrote");
        EXPECT(mlxp_rng_destroy(fake[k]), MLXP_ERR_INVALID_HANDLE, "rng");
    }
    EXPECT(mlxp_rng_destroy(NULL), MLXP_OK, "rng");

    CHECK_OK(mlxp_rng_destroy(r2));
    CHECK_OK(mlxp_rng_destroy(r3));
}

/* ---- per-thread messages ----------------------------------------------------------- */

typedef struct {
    int id;
    char initial[1100];
    char final[1100];
    int wrong;
} thread_result;

static const char* const thread_args[] = {"x", "out", "weight", "residual_out"};

/* Fails many times with one argument of its own and records what it sees. */
static void* thread_main(void* arg) {
    thread_result* res = arg;
    snprintf(res->initial, sizeof res->initial, "%s", mlxp_last_error());
    float buf[4] = {1, 2, 3, 4}, obuf[4];
    int64_t shape[1] = {4}, bad_w[1] = {3};
    for (int i = 0; i < 200; i++) {
        mlxp_tensor x = tu_tensor(buf, TU_F32, 1, shape, NULL);
        mlxp_tensor o = tu_tensor(obuf, TU_F32, 1, shape, NULL);
        mlxp_tensor w = tu_tensor(buf, TU_F32, 1, bad_w, NULL);
        mlxp_tensor ro = tu_tensor(obuf, TU_F32, 1, shape, NULL);
        switch (res->id) {
            case 0: mlxp_softmax(NULL, &o, NULL); break;
            case 1: mlxp_softmax(&x, NULL, NULL); break;
            case 2: mlxp_rms_norm(&x, &w, NULL, &o, NULL, NULL); break;
            default: mlxp_rms_norm(&x, NULL, NULL, &o, &ro, NULL); break; /* same memory */
        }
        res->wrong += !mentions(mlxp_last_error(), thread_args[res->id]);
    }
    snprintf(res->final, sizeof res->final, "%s", mlxp_last_error());
    return NULL;
}

static void test_threads(void) {
    mlxp_rms_norm_params p;
    mlxp_rms_norm_params_init(&p);
    p.eps = NAN;
    float x[2] = {1, 2};
    int64_t shape[1] = {2};
    mlxp_tensor tx = tu_tensor(x, TU_F32, 1, shape, NULL);
    CHECK(mlxp_rms_norm(&tx, NULL, NULL, &tx, NULL, &p) == MLXP_ERR_INVALID_ARGUMENT, "eps NaN accepted");
    char mine[1100];
    snprintf(mine, sizeof mine, "%s", mlxp_last_error());
    CHECK(mentions(mine, "eps"), "main message '%s'", mine);

    enum { T = 4 };
    pthread_t th[T];
    thread_result res[T];
    for (int i = 0; i < T; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].id = i;
        CHECK(pthread_create(&th[i], NULL, thread_main, &res[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        CHECK(res[i].initial[0] == '\0', "thread %d started with message '%s'", i, res[i].initial);
        CHECK(res[i].wrong == 0, "thread %d saw %d messages not naming '%s'", i, res[i].wrong, thread_args[i]);
        CHECK(mentions(res[i].final, thread_args[i]) && strcmp(res[i].final, mine) != 0, "thread %d final '%s'", i,
              res[i].final);
    }
    CHECK(strcmp(mine, mlxp_last_error()) == 0, "other threads changed the main thread's message to '%s'",
          mlxp_last_error());
}

int main(void) {
    test_simple_functions();
    test_softmax();
    test_rms_norm();
    test_rng();
    test_threads();
    return tu_finish("test_bad_input");
}
