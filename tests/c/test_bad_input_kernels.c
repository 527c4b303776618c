/*
 * test_bad_input_kernels.c — documented error paths of matmul, the linear layers, the
 * gated MLP input and its backward pass, the norms and their backward passes, activations,
 * GLU, RoPE and quantization.
 *
 * Each function gets a valid problem (checked to succeed first); each case breaks one thing
 * and checks the status, a new message naming the argument (badinput.h), that every output
 * still holds its sentinel and that every input is unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badinput.h"
#include "mlxprim.h"
#include "testutil.h"

/* ---- a call: up to 9 tensor arguments and the scalar/params arguments -------------- */

enum { MAXARGS = 9, MAXBYTES = 4096 };

typedef struct {
    const char* name;
    int out;     /* an output: filled with the sentinel */
    int present; /* 0: passed as NULL */
    int64_t shape[4];
    unsigned char buf[MAXBYTES];
    unsigned char pristine[MAXBYTES];
    size_t nbytes;
    mlxp_tensor t;
} arg;

typedef struct kcall kcall;
typedef void (*setup_fn)(kcall*);
typedef mlxp_status (*invoke_fn)(kcall*);

struct kcall {
    const char* fn;
    int n;
    arg a[MAXARGS];
    int32_t act, group, bits; /* scalar arguments */
    mlxp_matmul_params mp;
    mlxp_norm_params np;
    mlxp_rope_params rp;
    int null_params;
    setup_fn setup;
    invoke_fn invoke;
};

/* dtype codes for the tensor helper */
enum { F32, F16, BF16, I8, U8, I32, I64, I4 };

static mlxp_dtype dtype_of(int k) {
    mlxp_dtype d = {MLXP_DTYPE_FLOAT, 32, 1};
    switch (k) {
        case F16: d.bits = 16; break;
        case BF16: d.code = MLXP_DTYPE_BFLOAT, d.bits = 16; break;
        case I8: d.code = MLXP_DTYPE_INT, d.bits = 8; break;
        case U8: d.code = MLXP_DTYPE_UINT, d.bits = 8; break;
        case I32: d.code = MLXP_DTYPE_INT, d.bits = 32; break;
        case I64: d.code = MLXP_DTYPE_INT, d.bits = 64; break;
        case I4: d.code = MLXP_DTYPE_INT, d.bits = 4; break;
    }
    return d;
}

/* Adds a tensor with valid contents: floats in [-1, 1) (positive for "scales"), int8 codes,
 * int4 bytes, zero points 1 (uint8) or 0 (int32), positions 0.., words of any bits. */
static arg* add(kcall* c, const char* name, int out, int k, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    arg* a = &c->a[c->n++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->out = out;
    a->present = 1;
    int64_t dims[4] = {d0, d1, d2, d3}, n = 1;
    for (int i = 0; i < ndim; i++) a->shape[i] = dims[i], n *= dims[i];
    mlxp_dtype dt = dtype_of(k);
    a->nbytes = (size_t)(n * dt.bits + 7) / 8;
    if (a->nbytes > MAXBYTES) {
        fprintf(stderr, "%s.%s: buffer too small\n", c->fn, name);
        abort();
    }
    a->t = tu_tensor(a->buf, TU_F32, ndim, a->shape, NULL);
    a->t.dtype = dt;
    int scales = strcmp(name, "scales") == 0;
    for (int64_t i = 0; i < n; i++) {
        float v = scales ? 0.5f + 0.01f * (float)(i % 5) : (float)((i * 7) % 16) / 8.0f - 1.0f + 0.0625f;
        switch (k) {
            case F32: tu_store(TU_F32, a->buf, i, v); break;
            case F16: tu_store(TU_F16, a->buf, i, v); break;
            case BF16: tu_store(TU_BF16, a->buf, i, v); break;
            case I8: ((int8_t*)a->buf)[i] = (int8_t)((i % 9) - 4); break;
            case U8: ((uint8_t*)a->buf)[i] = 1; break;
            case I32: ((int32_t*)a->buf)[i] = strcmp(name, "wq") == 0 ? (int32_t)(i * 2654435761u) : 0; break;
            case I64: ((int64_t*)a->buf)[i] = i; break;
            case I4: if (i % 2 == 0) a->buf[i / 2] = 0x2e; break;
        }
    }
    if (out) fill(a->buf, a->nbytes);
    memcpy(a->pristine, a->buf, a->nbytes);
    return a;
}

static arg* A(kcall* c, const char* name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->a[i].name, name) == 0) return &c->a[i];
    fprintf(stderr, "%s: no argument %s\n", c->fn, name);
    abort();
}

/* The tensor to pass for argument i: NULL when absent. */
static mlxp_tensor* T(kcall* c, int i) { return c->a[i].present ? &c->a[i].t : NULL; }

static void reset(kcall* c) {
    c->n = 0;
    c->act = MLXP_ACT_SILU;
    c->group = 32;
    c->bits = 4;
    c->null_params = 0;
    mlxp_matmul_params_init(&c->mp);
    mlxp_norm_params_init(&c->np);
    mlxp_rope_params_init(&c->rp);
    c->setup(c);
}

/* Checks that no output was written and no input changed. */
static void check_untouched(kcall* c, int line) {
    for (int i = 0; i < c->n; i++) {
        arg* a = &c->a[i];
        if (a->out)
            CHECK(untouched(a->buf, a->nbytes), "line %d: %s wrote %s", line, c->fn, a->name);
        else
            CHECK(memcmp(a->buf, a->pristine, a->nbytes) == 0, "line %d: %s changed %s", line, c->fn, a->name);
    }
}

#define KEXPECT(c, want, argname)                                                    \
    do {                                                                             \
        EXPECT((c)->invoke(c), (want), (argname));                                   \
        check_untouched((c), __LINE__);                                              \
        reset(c);                                                                    \
    } while (0)

/* The valid problem runs (so that each failure below comes from the one broken thing). */
static void expect_valid(kcall* c) {
    reset(c);
    mlxp_status st = c->invoke(c);
    CHECK(st == MLXP_OK, "%s: the valid problem fails: %d (%s)", c->fn, (int)st, mlxp_last_error());
    reset(c);
}

/* Cases every function gets: a NULL required tensor, NULL data, a wrong shape (first dim
 * of `shape_arg` changed), an unaccepted dtype (int8 for floats, float32 for integer
 * tensors) and, for outputs, overlap with the first input. */
static void common_cases(kcall* c, const char* required, const char* shape_arg, mlxp_status shape_status,
                         const char* dtype_arg) {
    expect_valid(c);
    A(c, required)->present = 0;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, required);
    A(c, required)->t.data = NULL;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, required);
    A(c, shape_arg)->shape[0] += 1;
    KEXPECT(c, shape_status, shape_arg);
    arg* d = A(c, dtype_arg);
    d->t.dtype = d->t.dtype.code == MLXP_DTYPE_FLOAT || d->t.dtype.code == MLXP_DTYPE_BFLOAT ? dtype_of(I8) : dtype_of(F32);
    KEXPECT(c, MLXP_ERR_UNSUPPORTED_DTYPE, dtype_arg);
    A(c, dtype_arg)->t.dtype.code = 9; /* no such dtype code */
    KEXPECT(c, MLXP_ERR_UNSUPPORTED_DTYPE, dtype_arg);
}

/* An output placed over the first input shifted by one element. */
static void overlap_case(kcall* c, const char* out) {
    arg* o = A(c, out);
    o->t.data = c->a[0].buf;
    o->t.byte_offset = 4;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, out);
}

/* ---- matmul, linear, gated_linear and its backward ---------------------------------- */

static void mm_setup(kcall* c) {
    add(c, "a", 0, F32, 3, 2, 3, 5, 0);
    add(c, "b", 0, F32, 3, 1, 5, 4, 0);
    add(c, "c", 1, F32, 3, 2, 3, 4, 0);
}
static mlxp_status mm_invoke(kcall* c) { return mlxp_matmul(T(c, 0), T(c, 1), T(c, 2), c->null_params ? NULL : &c->mp); }

static void test_matmul(void) {
    kcall c = {.fn = "matmul", .setup = mm_setup, .invoke = mm_invoke};
    common_cases(&c, "a", "a", MLXP_ERR_SHAPE_MISMATCH, "a");
    A(&c, "c")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "c");
    A(&c, "b")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "b");
    A(&c, "b")->shape[1] = 6; /* inner sizes differ */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "b");
    A(&c, "c")->shape[2] = 5;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "c");
    A(&c, "a")->t.ndim = 1; /* ndim < 2 */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "a");
    A(&c, "b")->t.dtype = dtype_of(F16); /* a and b differ */
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "b");
    A(&c, "c")->t.dtype = dtype_of(I32);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "c");
    c.mp.struct_size = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    c.mp.trans_a = 2;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "trans_a");
    c.mp.trans_b = -1;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "trans_b");
    c.mp.alpha = NAN;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "alpha");
    c.mp.beta = INFINITY;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "beta");
    overlap_case(&c, "c");
    EXPECT(mlxp_matmul_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");
}

static void lin_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 8, 0, 0);
    add(c, "w", 0, F32, 2, 5, 8, 0, 0);
    add(c, "bias", 0, F32, 1, 5, 0, 0, 0);
    add(c, "y", 1, F32, 2, 3, 5, 0, 0);
}
static mlxp_status lin_invoke(kcall* c) { return mlxp_linear(T(c, 0), T(c, 1), T(c, 2), T(c, 3)); }

static void test_linear(void) {
    kcall c = {.fn = "linear", .setup = lin_setup, .invoke = lin_invoke};
    common_cases(&c, "x", "y", MLXP_ERR_SHAPE_MISMATCH, "w");
    A(&c, "w")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "w");
    A(&c, "y")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "y");
    A(&c, "w")->shape[1] = 7; /* in differs */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "w");
    A(&c, "bias")->shape[0] = 4;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "bias");
    A(&c, "y")->shape[1] = 4;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "y");
    A(&c, "bias")->t.dtype = dtype_of(I8);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "bias");
    A(&c, "w")->t.dtype = dtype_of(BF16); /* x and w differ */
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "w");
    overlap_case(&c, "y");
}

static void gl_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 8, 0, 0);
    add(c, "w_gate", 0, F32, 2, 6, 8, 0, 0);
    add(c, "w_up", 0, F32, 2, 6, 8, 0, 0);
    add(c, "out", 1, F32, 2, 3, 6, 0, 0);
}
static mlxp_status gl_invoke(kcall* c) { return mlxp_gated_linear(T(c, 0), T(c, 1), T(c, 2), c->act, T(c, 3)); }

static void test_gated_linear(void) {
    kcall c = {.fn = "gated_linear", .setup = gl_setup, .invoke = gl_invoke};
    common_cases(&c, "w_up", "out", MLXP_ERR_SHAPE_MISMATCH, "x");
    A(&c, "x")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "x");
    A(&c, "out")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "out");
    A(&c, "w_up")->shape[0] = 5;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "w_up");
    A(&c, "out")->shape[1] = 5;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "out");
    A(&c, "w_gate")->t.dtype = dtype_of(F16);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "w_gate");
    static const int32_t bad_act[] = {0, 4, -1, 1000};
    for (size_t k = 0; k < sizeof bad_act / sizeof bad_act[0]; k++) {
        c.act = bad_act[k];
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "activation");
    }
    overlap_case(&c, "out");
}

static void glb_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 8, 0, 0);
    add(c, "w_gate", 0, F32, 2, 6, 8, 0, 0);
    add(c, "w_up", 0, BF16, 2, 6, 8, 0, 0);
    add(c, "dout", 0, F16, 2, 3, 6, 0, 0);
    add(c, "dx", 1, F32, 2, 3, 8, 0, 0);
    add(c, "dw_gate", 1, F32, 2, 6, 8, 0, 0);
    add(c, "dw_up", 1, BF16, 2, 6, 8, 0, 0);
}
static mlxp_status glb_invoke(kcall* c) {
    return mlxp_gated_linear_backward(T(c, 0), T(c, 1), T(c, 2), T(c, 3), c->act, T(c, 4), T(c, 5), T(c, 6));
}

static void test_gated_linear_backward(void) {
    kcall c = {.fn = "gated_linear_backward", .setup = glb_setup, .invoke = glb_invoke};
    /* NULL x, NULL x data, dout with a row too many, w_up int8 and an unknown dtype code */
    common_cases(&c, "x", "dout", MLXP_ERR_SHAPE_MISMATCH, "w_up");
    static const char* const inputs[] = {"w_gate", "w_up", "dout"};
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        A(&c, inputs[k])->present = 0;
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, inputs[k]);
    }
    static const int32_t bad_act[] = {0, 4, -1, INT32_MIN};
    for (size_t k = 0; k < sizeof bad_act / sizeof bad_act[0]; k++) {
        c.act = bad_act[k];
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "activation");
    }
    A(&c, "x")->t.ndim = 0;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "x");
    A(&c, "w_gate")->shape[1] = 7; /* in differs from x's */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "w_gate");
    A(&c, "w_up")->shape[0] = 5; /* hidden differs from w_gate's */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "w_up");
    A(&c, "w_up")->shape[1] = 7;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "w_up");
    A(&c, "dout")->shape[1] = 5;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dout");
    A(&c, "dout")->t.ndim = 1; /* [3]: x's leading dims without hidden */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dout");
    A(&c, "dx")->shape[1] = 7;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dx");
    A(&c, "dx")->shape[0] = 2;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dx");
    A(&c, "dw_gate")->shape[0] = 5;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dw_gate");
    A(&c, "dw_up")->shape[1] = 7;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dw_up");
    A(&c, "dx")->t.dtype = dtype_of(I32);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "dx");
    A(&c, "dw_up")->t.dtype = dtype_of(I8);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "dw_up");
    A(&c, "dout")->t.dtype = dtype_of(U8);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "dout");
    overlap_case(&c, "dx"); /* dx over x shifted by one element */
    A(&c, "dx")->t.data = A(&c, "x")->buf; /* no in-place: dx may not be x itself either */
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dx");
    A(&c, "dw_gate")->t.data = A(&c, "w_gate")->buf;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dw_gate");
    A(&c, "dw_up")->t.data = A(&c, "dw_gate")->buf; /* dw_up the same memory as dw_gate */
    A(&c, "dw_up")->t.dtype = dtype_of(F32);
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dw_up");
    A(&c, "dw_up")->t.data = A(&c, "dw_gate")->buf + 2; /* dw_up over dw_gate, one element on */
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dw_up");
    A(&c, "dw_gate")->t.data = A(&c, "dx")->buf; /* two outputs over the same memory */
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dw_gate");
    /* The same failures with only one gradient requested. */
    A(&c, "dw_gate")->present = 0, A(&c, "dw_up")->present = 0;
    A(&c, "dx")->shape[1] = 9;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dx");
    A(&c, "dx")->present = 0;
    A(&c, "dw_up")->t.dtype = dtype_of(I32);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "dw_up");
}

/* ---- norms -------------------------------------------------------------------------- */

static void ln_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 6, 0, 0);
    add(c, "weight", 0, F32, 1, 6, 0, 0, 0);
    add(c, "bias", 0, F16, 1, 6, 0, 0, 0);
    add(c, "residual", 0, BF16, 2, 3, 6, 0, 0);
    add(c, "out", 1, F32, 2, 3, 6, 0, 0);
    add(c, "residual_out", 1, F32, 2, 3, 6, 0, 0);
}
static mlxp_status ln_invoke(kcall* c) {
    return mlxp_layer_norm(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5), c->null_params ? NULL : &c->np);
}

static void gn_setup(kcall* c) {
    add(c, "x", 0, F32, 3, 2, 6, 3, 0);
    add(c, "weight", 0, F32, 1, 6, 0, 0, 0);
    add(c, "bias", 0, F32, 1, 6, 0, 0, 0);
    add(c, "residual", 0, F16, 3, 2, 6, 3, 0);
    add(c, "out", 1, F32, 3, 2, 6, 3, 0);
    add(c, "residual_out", 1, F32, 3, 2, 6, 3, 0);
    c->np.num_groups = 3;
}
static mlxp_status gn_invoke(kcall* c) {
    return mlxp_group_norm(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5), c->null_params ? NULL : &c->np);
}

static void norm_forward_cases(kcall* c, int group) {
    common_cases(c, "x", "weight", MLXP_ERR_SHAPE_MISMATCH, "x");
    A(c, "out")->present = 0;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "out");
    A(c, "bias")->t.data = NULL;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "bias");
    A(c, "bias")->shape[0] = 5;
    KEXPECT(c, MLXP_ERR_SHAPE_MISMATCH, "bias");
    A(c, "residual")->shape[1] = 5;
    KEXPECT(c, MLXP_ERR_SHAPE_MISMATCH, "residual");
    A(c, "out")->shape[0] = 1;
    KEXPECT(c, MLXP_ERR_SHAPE_MISMATCH, "out");
    A(c, "residual_out")->t.dtype = dtype_of(F16); /* outputs have x's dtype */
    KEXPECT(c, MLXP_ERR_UNSUPPORTED_DTYPE, "residual_out");
    A(c, "bias")->t.dtype = dtype_of(I32);
    KEXPECT(c, MLXP_ERR_UNSUPPORTED_DTYPE, "bias");
    A(c, "residual_out")->t.data = A(c, "out")->buf; /* out and residual_out the same memory */
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "residual_out");
    c->np.struct_size = 0;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    c->np.eps = -1e-5f;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "eps");
    c->np.eps = NAN;
    KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "eps");
    overlap_case(c, "out");
    if (group) {
        c->np.num_groups = 0;
        KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "num_groups");
        c->np.num_groups = -2;
        KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "num_groups");
        c->np.num_groups = 4; /* does not divide C = 6: x's channels do not split */
        KEXPECT(c, MLXP_ERR_SHAPE_MISMATCH, "x");
        A(c, "x")->t.ndim = 1;
        KEXPECT(c, MLXP_ERR_SHAPE_MISMATCH, "x");
    }
}

static void test_norms(void) {
    kcall c = {.fn = "layer_norm", .setup = ln_setup, .invoke = ln_invoke};
    norm_forward_cases(&c, 0);
    kcall g = {.fn = "group_norm", .setup = gn_setup, .invoke = gn_invoke};
    norm_forward_cases(&g, 1);
    EXPECT(mlxp_norm_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");
}

/* Backward: h, weight, dy, d_residual_out, dx, dweight, dbias (kind 0: no dbias). */
static int bw_kind;
static void bw_setup(kcall* c) {
    if (bw_kind == 2) {
        add(c, "h", 0, F32, 3, 2, 4, 3, 0);
        add(c, "weight", 0, F32, 1, 4, 0, 0, 0);
        add(c, "dy", 0, F16, 3, 2, 4, 3, 0);
        add(c, "d_residual_out", 0, F32, 3, 2, 4, 3, 0);
        add(c, "dx", 1, F32, 3, 2, 4, 3, 0);
        add(c, "dweight", 1, F32, 1, 4, 0, 0, 0);
        add(c, "dbias", 1, F32, 1, 4, 0, 0, 0);
        c->np.num_groups = 2;
    } else {
        add(c, "h", 0, F32, 2, 3, 6, 0, 0);
        add(c, "weight", 0, BF16, 1, 6, 0, 0, 0);
        add(c, "dy", 0, F32, 2, 3, 6, 0, 0);
        add(c, "d_residual_out", 0, F32, 2, 3, 6, 0, 0);
        add(c, "dx", 1, F16, 2, 3, 6, 0, 0);
        add(c, "dweight", 1, F32, 1, 6, 0, 0, 0);
        if (bw_kind == 1) add(c, "dbias", 1, F32, 1, 6, 0, 0, 0);
    }
}
static mlxp_status bw_invoke(kcall* c) {
    const mlxp_norm_params* p = c->null_params ? NULL : &c->np;
    if (bw_kind == 0) return mlxp_rms_norm_backward(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5), p);
    if (bw_kind == 1) return mlxp_layer_norm_backward(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5), T(c, 6), p);
    return mlxp_group_norm_backward(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5), T(c, 6), p);
}

static void test_norm_backward(void) {
    static const char* const names[3] = {"rms_norm_backward", "layer_norm_backward", "group_norm_backward"};
    for (bw_kind = 0; bw_kind < 3; bw_kind++) {
        kcall c = {.fn = names[bw_kind], .setup = bw_setup, .invoke = bw_invoke};
        common_cases(&c, "dy", "dy", MLXP_ERR_SHAPE_MISMATCH, "h");
        A(&c, "h")->present = 0;
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "h");
        A(&c, "dx")->present = 0;
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dx");
        A(&c, "dweight")->shape[0] += 1;
        KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dweight");
        A(&c, "d_residual_out")->shape[0] += 1;
        KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "d_residual_out");
        A(&c, "weight")->t.dtype = dtype_of(U8);
        KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "weight");
        A(&c, "dx")->t.dtype = dtype_of(I8);
        KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "dx");
        c.np.struct_size = 0;
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
        c.np.eps = -INFINITY;
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "eps");
        A(&c, "dweight")->t.data = A(&c, "dx")->buf; /* two outputs over the same memory */
        KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "dweight");
        overlap_case(&c, "dx");
        if (bw_kind == 1) {
            A(&c, "dbias")->shape[0] = 2;
            KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "dbias");
        }
        if (bw_kind == 2) {
            c.np.num_groups = 3; /* does not divide C = 4: h's channels do not split */
            KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "h");
            c.np.num_groups = 0;
            KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "num_groups");
        }
    }
}

/* ---- activations and GLU ------------------------------------------------------------ */

static void act_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 5, 0, 0);
    add(c, "out", 1, BF16, 2, 3, 5, 0, 0);
}
static mlxp_status act_invoke(kcall* c) { return mlxp_activation(c->act, T(c, 0), T(c, 1)); }

static void actb_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 3, 5, 0, 0);
    add(c, "dy", 0, F16, 2, 3, 5, 0, 0);
    add(c, "dx", 1, F32, 2, 3, 5, 0, 0);
}
static mlxp_status actb_invoke(kcall* c) { return mlxp_activation_backward(c->act, T(c, 0), T(c, 1), T(c, 2)); }

static void glu_setup(kcall* c) {
    add(c, "gate", 0, F32, 2, 3, 5, 0, 0);
    add(c, "up", 0, BF16, 2, 3, 5, 0, 0);
    add(c, "out", 1, F32, 2, 3, 5, 0, 0);
}
static mlxp_status glu_invoke(kcall* c) { return mlxp_glu(c->act, T(c, 0), T(c, 1), T(c, 2)); }

static void glub_setup(kcall* c) {
    add(c, "gate", 0, F32, 1, 9, 0, 0, 0);
    add(c, "up", 0, F32, 1, 9, 0, 0, 0);
    add(c, "dout", 0, F16, 1, 9, 0, 0, 0);
    add(c, "dgate", 1, F32, 1, 9, 0, 0, 0);
    add(c, "dup", 1, F32, 1, 9, 0, 0, 0);
}
static mlxp_status glub_invoke(kcall* c) { return mlxp_glu_backward(c->act, T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4)); }

static void bad_activations(kcall* c) {
    static const int32_t bad_act[] = {0, 4, -3, INT32_MAX};
    for (size_t k = 0; k < sizeof bad_act / sizeof bad_act[0]; k++) {
        c->act = bad_act[k];
        KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "activation");
    }
}

static void test_activations(void) {
    kcall a = {.fn = "activation", .setup = act_setup, .invoke = act_invoke};
    common_cases(&a, "x", "out", MLXP_ERR_SHAPE_MISMATCH, "x");
    A(&a, "out")->present = 0;
    KEXPECT(&a, MLXP_ERR_INVALID_ARGUMENT, "out");
    A(&a, "out")->t.dtype = dtype_of(I32);
    KEXPECT(&a, MLXP_ERR_UNSUPPORTED_DTYPE, "out");
    bad_activations(&a);
    overlap_case(&a, "out");

    kcall b = {.fn = "activation_backward", .setup = actb_setup, .invoke = actb_invoke};
    common_cases(&b, "dy", "dx", MLXP_ERR_SHAPE_MISMATCH, "dy");
    A(&b, "x")->present = 0;
    KEXPECT(&b, MLXP_ERR_INVALID_ARGUMENT, "x");
    A(&b, "dx")->present = 0;
    KEXPECT(&b, MLXP_ERR_INVALID_ARGUMENT, "dx");
    A(&b, "dy")->shape[1] = 4;
    KEXPECT(&b, MLXP_ERR_SHAPE_MISMATCH, "dy");
    bad_activations(&b);
    overlap_case(&b, "dx");

    kcall g = {.fn = "glu", .setup = glu_setup, .invoke = glu_invoke};
    common_cases(&g, "up", "out", MLXP_ERR_SHAPE_MISMATCH, "gate");
    A(&g, "gate")->present = 0;
    KEXPECT(&g, MLXP_ERR_INVALID_ARGUMENT, "gate");
    A(&g, "out")->present = 0;
    KEXPECT(&g, MLXP_ERR_INVALID_ARGUMENT, "out");
    A(&g, "up")->shape[1] = 6;
    KEXPECT(&g, MLXP_ERR_SHAPE_MISMATCH, "up");
    A(&g, "up")->t.dtype = dtype_of(I64);
    KEXPECT(&g, MLXP_ERR_UNSUPPORTED_DTYPE, "up");
    bad_activations(&g);
    overlap_case(&g, "out");

    kcall gb = {.fn = "glu_backward", .setup = glub_setup, .invoke = glub_invoke};
    common_cases(&gb, "dout", "up", MLXP_ERR_SHAPE_MISMATCH, "dout");
    A(&gb, "dgate")->present = 0;
    KEXPECT(&gb, MLXP_ERR_INVALID_ARGUMENT, "dgate");
    A(&gb, "dup")->present = 0;
    KEXPECT(&gb, MLXP_ERR_INVALID_ARGUMENT, "dup");
    A(&gb, "dup")->t.data = A(&gb, "dgate")->buf; /* dgate and dup must be distinct */
    KEXPECT(&gb, MLXP_ERR_INVALID_ARGUMENT, "dup");
    A(&gb, "dgate")->shape[0] = 8;
    KEXPECT(&gb, MLXP_ERR_SHAPE_MISMATCH, "dgate");
    bad_activations(&gb);
    overlap_case(&gb, "dgate");
}

/* ---- rope --------------------------------------------------------------------------- */

static void rope_setup(kcall* c) {
    add(c, "q", 0, F32, 4, 2, 3, 2, 8);
    add(c, "q_out", 1, F32, 4, 2, 3, 2, 8);
    add(c, "k", 0, BF16, 4, 2, 3, 1, 8);
    add(c, "k_out", 1, BF16, 4, 2, 3, 1, 8);
    add(c, "positions", 0, I64, 2, 2, 3, 0, 0);
}
static mlxp_status rope_invoke(kcall* c) {
    return mlxp_rope(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), c->null_params ? NULL : &c->rp);
}

static void test_rope(void) {
    kcall c = {.fn = "rope", .setup = rope_setup, .invoke = rope_invoke};
    common_cases(&c, "q", "k", MLXP_ERR_SHAPE_MISMATCH, "q");
    A(&c, "q_out")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "q_out");
    A(&c, "k_out")->present = 0; /* k without k_out */
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "k_out");
    A(&c, "q_out")->shape[3] = 6;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "q_out");
    A(&c, "k")->shape[3] = 6; /* D differs */
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "k");
    A(&c, "q")->t.ndim = 3;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "q");
    A(&c, "positions")->shape[1] = 4;
    KEXPECT(&c, MLXP_ERR_SHAPE_MISMATCH, "positions");
    A(&c, "positions")->t.dtype = dtype_of(F32);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "positions");
    A(&c, "k_out")->t.dtype = dtype_of(F32); /* k_out has k's dtype */
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "k_out");
    c.rp.struct_size = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "struct_size");
    c.rp.rotary_dim = 5;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "rotary_dim");
    c.rp.rotary_dim = 10;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "rotary_dim");
    c.rp.pairing = 2;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "pairing");
    c.rp.layout = -1;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "layout");
    c.rp.scaling = 6;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "scaling");
    c.rp.base = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "base");
    c.rp.scaling = MLXP_ROPE_SCALING_LINEAR;
    c.rp.factor = -2;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "factor");
    c.rp.scaling = MLXP_ROPE_SCALING_YARN; /* original_max_positions not set */
    c.rp.factor = 4;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "original_max_positions");
    c.rp.scaling = MLXP_ROPE_SCALING_YARN;
    c.rp.original_max_positions = 64;
    c.rp.beta_fast = -1;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "beta_fast");
    c.rp.scaling = MLXP_ROPE_SCALING_LLAMA3;
    c.rp.original_max_positions = 64;
    c.rp.low_freq_factor = 4, c.rp.high_freq_factor = 1;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "low_freq_factor");
    c.rp.inverse = 2;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "inverse");
    c.rp.yarn_no_truncate = -1;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "yarn_no_truncate");
    overlap_case(&c, "q_out");
    A(&c, "k_out")->t.data = A(&c, "q_out")->buf; /* q_out and k_out overlap */
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "k_out");
    EXPECT(mlxp_rope_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");
}

/* ---- quantization ------------------------------------------------------------------- */

static void q8_setup(kcall* c) {
    add(c, "w", 0, F32, 2, 3, 8, 0, 0);
    add(c, "q", 1, I8, 2, 3, 8, 0, 0);
    add(c, "scales", 1, F32, 1, 3, 0, 0, 0);
    add(c, "zeros", 1, I32, 1, 3, 0, 0, 0);
}
static mlxp_status q8_invoke(kcall* c) { return mlxp_quantize_int8(T(c, 0), T(c, 1), T(c, 2), T(c, 3)); }

static void dq8_setup(kcall* c) {
    add(c, "q", 0, I8, 2, 3, 8, 0, 0);
    add(c, "scales", 0, F32, 1, 3, 0, 0, 0);
    add(c, "zeros", 0, I32, 1, 3, 0, 0, 0);
    add(c, "w", 1, BF16, 2, 3, 8, 0, 0);
}
static mlxp_status dq8_invoke(kcall* c) { return mlxp_dequantize_int8(T(c, 0), T(c, 1), T(c, 2), T(c, 3)); }

static void q4_setup(kcall* c) {
    add(c, "w", 0, F16, 2, 3, 64, 0, 0);
    add(c, "q", 1, I4, 2, 3, 64, 0, 0);
    add(c, "scales", 1, F32, 2, 3, 2, 0, 0);
    add(c, "zeros", 1, U8, 2, 3, 2, 0, 0);
}
static mlxp_status q4_invoke(kcall* c) { return mlxp_quantize_int4(T(c, 0), c->group, T(c, 1), T(c, 2), T(c, 3)); }

static void dq4_setup(kcall* c) {
    add(c, "q", 0, I4, 2, 3, 64, 0, 0);
    add(c, "scales", 0, F32, 2, 3, 2, 0, 0);
    add(c, "zeros", 0, U8, 2, 3, 2, 0, 0);
    add(c, "w", 1, F32, 2, 3, 64, 0, 0);
}
static mlxp_status dq4_invoke(kcall* c) { return mlxp_dequantize_int4(T(c, 0), T(c, 1), T(c, 2), c->group, T(c, 3)); }

static void qa_setup(kcall* c) {
    add(c, "w", 0, F32, 2, 2, 64, 0, 0);
    add(c, "wq", 1, I32, 2, 2, 8, 0, 0);
    add(c, "scales", 1, F32, 2, 2, 2, 0, 0);
    add(c, "biases", 1, F32, 2, 2, 2, 0, 0);
}
static mlxp_status qa_invoke(kcall* c) { return mlxp_quantize_affine(T(c, 0), c->group, c->bits, T(c, 1), T(c, 2), T(c, 3)); }

static void dqa_setup(kcall* c) {
    add(c, "wq", 0, I32, 2, 2, 8, 0, 0);
    add(c, "scales", 0, BF16, 2, 2, 2, 0, 0);
    add(c, "biases", 0, BF16, 2, 2, 2, 0, 0);
    add(c, "w", 1, BF16, 2, 2, 64, 0, 0);
}
static mlxp_status dqa_invoke(kcall* c) {
    return mlxp_dequantize_affine(T(c, 0), T(c, 1), T(c, 2), c->group, c->bits, T(c, 3));
}

static void l8_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 2, 8, 0, 0);
    add(c, "q", 0, I8, 2, 3, 8, 0, 0);
    add(c, "scales", 0, F32, 1, 3, 0, 0, 0);
    add(c, "zeros", 0, I32, 1, 3, 0, 0, 0);
    add(c, "bias", 0, F32, 1, 3, 0, 0, 0);
    add(c, "y", 1, F32, 2, 2, 3, 0, 0);
}
static mlxp_status l8_invoke(kcall* c) { return mlxp_int8_linear(T(c, 0), T(c, 1), T(c, 2), T(c, 3), T(c, 4), T(c, 5)); }

static void l4_setup(kcall* c) {
    add(c, "x", 0, BF16, 2, 2, 64, 0, 0);
    add(c, "q", 0, I4, 2, 3, 64, 0, 0);
    add(c, "scales", 0, F32, 2, 3, 2, 0, 0);
    add(c, "zeros", 0, U8, 2, 3, 2, 0, 0);
    add(c, "bias", 0, F32, 1, 3, 0, 0, 0);
    add(c, "y", 1, F32, 2, 2, 3, 0, 0);
}
static mlxp_status l4_invoke(kcall* c) {
    return mlxp_int4_linear(T(c, 0), T(c, 1), T(c, 2), T(c, 3), c->group, T(c, 4), T(c, 5));
}

static void la_setup(kcall* c) {
    add(c, "x", 0, F32, 2, 2, 64, 0, 0);
    add(c, "wq", 0, I32, 2, 3, 8, 0, 0);
    add(c, "scales", 0, F32, 2, 3, 2, 0, 0);
    add(c, "biases", 0, F32, 2, 3, 2, 0, 0);
    add(c, "bias", 0, F32, 1, 3, 0, 0, 0);
    add(c, "y", 1, F16, 2, 2, 3, 0, 0);
}
static mlxp_status la_invoke(kcall* c) {
    return mlxp_affine_linear(T(c, 0), T(c, 1), T(c, 2), T(c, 3), c->group, c->bits, T(c, 4), T(c, 5));
}

/* group_size 48 and other unsupported sizes; bits 3 and others. */
static void bad_group(kcall* c) {
    static const int32_t groups[] = {48, 0, -32, 16, 256};
    for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
        c->group = groups[k];
        KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "group_size");
    }
}
static void bad_bits(kcall* c) {
    static const int32_t bits[] = {3, 0, 2, 16, -4};
    for (size_t k = 0; k < sizeof bits / sizeof bits[0]; k++) {
        c->bits = bits[k];
        KEXPECT(c, MLXP_ERR_INVALID_ARGUMENT, "bits");
    }
}

static void test_quant(void) {
    kcall c = {.fn = "quantize_int8", .setup = q8_setup, .invoke = q8_invoke};
    common_cases(&c, "w", "scales", MLXP_ERR_SHAPE_MISMATCH, "w");
    A(&c, "q")->present = 0;
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "q");
    A(&c, "q")->t.dtype = dtype_of(U8);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "q");
    A(&c, "zeros")->t.dtype = dtype_of(I8);
    KEXPECT(&c, MLXP_ERR_UNSUPPORTED_DTYPE, "zeros");
    ((float*)A(&c, "w")->buf)[5] = NAN; /* weights must be finite */
    memcpy(A(&c, "w")->pristine, A(&c, "w")->buf, A(&c, "w")->nbytes);
    KEXPECT(&c, MLXP_ERR_INVALID_ARGUMENT, "w");
    overlap_case(&c, "q");

    kcall d = {.fn = "dequantize_int8", .setup = dq8_setup, .invoke = dq8_invoke};
    common_cases(&d, "q", "scales", MLXP_ERR_SHAPE_MISMATCH, "q");
    A(&d, "scales")->present = 0;
    KEXPECT(&d, MLXP_ERR_INVALID_ARGUMENT, "scales");
    A(&d, "w")->shape[1] = 7;
    KEXPECT(&d, MLXP_ERR_SHAPE_MISMATCH, "w");
    A(&d, "scales")->t.dtype = dtype_of(F16);
    KEXPECT(&d, MLXP_ERR_UNSUPPORTED_DTYPE, "scales");

    kcall q4 = {.fn = "quantize_int4", .setup = q4_setup, .invoke = q4_invoke};
    common_cases(&q4, "w", "scales", MLXP_ERR_SHAPE_MISMATCH, "w");
    bad_group(&q4);
    A(&q4, "zeros")->t.dtype = dtype_of(I32);
    KEXPECT(&q4, MLXP_ERR_UNSUPPORTED_DTYPE, "zeros");
    A(&q4, "q")->t.dtype = dtype_of(I8);
    KEXPECT(&q4, MLXP_ERR_UNSUPPORTED_DTYPE, "q");
    /* odd in: w [3, 63] (and a matching 63-wide q) */
    A(&q4, "w")->shape[1] = 63;
    KEXPECT(&q4, MLXP_ERR_INVALID_ARGUMENT, "w");
    /* in a multiple of 2 but not of group_size: w and q [3, 48], scales [3, 2] */
    A(&q4, "w")->shape[1] = 48;
    A(&q4, "q")->shape[1] = 48;
    KEXPECT(&q4, MLXP_ERR_INVALID_ARGUMENT, "group_size");
    {
        int64_t strides[2] = {1, 3}; /* an int4 tensor must be row-major contiguous */
        A(&q4, "q")->t.strides = strides;
        KEXPECT(&q4, MLXP_ERR_INVALID_ARGUMENT, "q");
    }

    kcall d4 = {.fn = "dequantize_int4", .setup = dq4_setup, .invoke = dq4_invoke};
    common_cases(&d4, "q", "scales", MLXP_ERR_SHAPE_MISMATCH, "scales");
    bad_group(&d4);
    A(&d4, "w")->present = 0;
    KEXPECT(&d4, MLXP_ERR_INVALID_ARGUMENT, "w");
    A(&d4, "q")->shape[1] = 63; /* odd innermost int4 size */
    KEXPECT(&d4, MLXP_ERR_INVALID_ARGUMENT, "q");

    kcall qa = {.fn = "quantize_affine", .setup = qa_setup, .invoke = qa_invoke};
    common_cases(&qa, "w", "biases", MLXP_ERR_SHAPE_MISMATCH, "w");
    bad_group(&qa);
    bad_bits(&qa);
    A(&qa, "wq")->shape[1] = 16; /* 8-bit words for bits 4 */
    KEXPECT(&qa, MLXP_ERR_SHAPE_MISMATCH, "wq");
    A(&qa, "scales")->t.dtype = dtype_of(F16); /* scales have w's dtype */
    KEXPECT(&qa, MLXP_ERR_UNSUPPORTED_DTYPE, "scales");
    overlap_case(&qa, "scales");

    kcall da = {.fn = "dequantize_affine", .setup = dqa_setup, .invoke = dqa_invoke};
    common_cases(&da, "wq", "biases", MLXP_ERR_SHAPE_MISMATCH, "wq");
    bad_group(&da);
    bad_bits(&da);
    A(&da, "biases")->t.dtype = dtype_of(F32); /* biases have the scales' dtype */
    KEXPECT(&da, MLXP_ERR_UNSUPPORTED_DTYPE, "biases");

    kcall l8 = {.fn = "int8_linear", .setup = l8_setup, .invoke = l8_invoke};
    common_cases(&l8, "x", "scales", MLXP_ERR_SHAPE_MISMATCH, "x");
    A(&l8, "y")->present = 0;
    KEXPECT(&l8, MLXP_ERR_INVALID_ARGUMENT, "y");
    A(&l8, "bias")->shape[0] = 4;
    KEXPECT(&l8, MLXP_ERR_SHAPE_MISMATCH, "bias");
    A(&l8, "y")->shape[1] = 4;
    KEXPECT(&l8, MLXP_ERR_SHAPE_MISMATCH, "y");
    {
        int64_t strides[2] = {1, 3}; /* quantized weights must be row-major contiguous */
        A(&l8, "q")->t.strides = strides;
        KEXPECT(&l8, MLXP_ERR_INVALID_ARGUMENT, "q");
    }
    overlap_case(&l8, "y");

    kcall l4 = {.fn = "int4_linear", .setup = l4_setup, .invoke = l4_invoke};
    common_cases(&l4, "q", "scales", MLXP_ERR_SHAPE_MISMATCH, "x");
    bad_group(&l4);
    A(&l4, "zeros")->shape[1] = 1;
    KEXPECT(&l4, MLXP_ERR_SHAPE_MISMATCH, "zeros");
    /* odd in_features: x [2, 63] and q [3, 63] */
    A(&l4, "x")->shape[1] = 63;
    A(&l4, "q")->shape[1] = 63;
    KEXPECT(&l4, MLXP_ERR_INVALID_ARGUMENT, "q");
    overlap_case(&l4, "y");

    kcall la = {.fn = "affine_linear", .setup = la_setup, .invoke = la_invoke};
    common_cases(&la, "wq", "biases", MLXP_ERR_SHAPE_MISMATCH, "x");
    bad_group(&la);
    bad_bits(&la);
    A(&la, "x")->shape[1] = 32; /* x's in differs from wq's */
    KEXPECT(&la, MLXP_ERR_SHAPE_MISMATCH, "x");
    overlap_case(&la, "y");
}

int main(void) {
    test_matmul();
    test_linear();
    test_gated_linear();
    test_gated_linear_backward();
    test_norms();
    test_norm_backward();
    test_activations();
    test_rope();
    test_quant();
    return tu_finish("test_bad_input_kernels");
}
