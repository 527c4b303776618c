/*
 * kernelutil.h — helpers for the kernel correctness tests (test_rope_quant.c,
 * test_kernels.c): dtype-aware buffers, strided element offsets and the tolerance rule.
 *
 * Tolerance rule (|got - ref| <= tol): ref is computed in double from the exact stored
 * inputs. A float32 accumulation of n terms has an error of at most gamma_n * sum|terms|
 * with gamma_n = n * 2^-24 / (1 - n * 2^-24) (Higham, "Accuracy and Stability of Numerical
 * Algorithms", 3.1); the tests use acc_tol(n, mag) = (n + 4) * 2^-24 * mag where mag is the
 * sum of the magnitudes of the terms (the +4 covers a few extra float32 operations around
 * the sum). Rounding once into the output dtype adds out_rtol(dt) * |ref|: 2^-24 float32,
 * 2^-11 float16, 2^-8 bfloat16 (half an ulp), doubled to allow the float32 value to sit on
 * the other side of a rounding boundary.
 */
#ifndef MLXP_KERNELUTIL_H
#define MLXP_KERNELUTIL_H

#include "testutil.h"

/* pi to double precision (M_PI is not ISO C). */
#define K_PI 3.14159265358979323846

static inline double out_rtol(tu_dt dt) { return dt == TU_F32 ? 0x1p-23 : dt == TU_F16 ? 0x1p-10 : 0x1p-7; }

static inline double acc_tol(int64_t n, double mag) { return (double)(n + 4) * 0x1p-24 * mag; }

static inline int near(double got, double ref, double tol) {
    if (isnan(ref)) return isnan(got);
    return fabs(got - ref) <= tol;
}

/* A buffer of n elements of dt with its float values mirrored in double (the stored,
 * already rounded values: what the library reads). */
typedef struct {
    tu_dt dt;
    int64_t n;
    void* data;
} kbuf;

static inline kbuf kb_new(tu_dt dt, int64_t n) {
    kbuf b;
    b.dt = dt;
    b.n = n;
    b.data = calloc((size_t)(n > 0 ? n : 1), tu_size(dt));
    return b;
}

static inline void kb_free(kbuf* b) {
    free(b->data);
    b->data = NULL;
}

static inline void kb_set(kbuf* b, int64_t i, double v) { tu_store(b->dt, b->data, i, (float)v); }

static inline double kb_get(const kbuf* b, int64_t i) { return (double)tu_load(b->dt, b->data, i); }

/* Fills with uniform values in [lo, hi), stored (rounded) in the buffer's dtype. */
static inline void kb_fill(kbuf* b, tu_rand* r, double lo, double hi) {
    for (int64_t i = 0; i < b->n; i++) kb_set(b, i, tu_uniform(r, lo, hi));
}

/* Fills every byte with 0x5a so an untouched element is recognizable. */
static inline void kb_sentinel(kbuf* b) { memset(b->data, 0x5a, (size_t)b->n * tu_size(b->dt)); }

/* Row-major contiguous strides of shape. */
static inline void contiguous_strides(int32_t ndim, const int64_t* shape, int64_t* strides) {
    int64_t s = 1;
    for (int32_t d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

/* Element offset of the multi-index idx (in elements). */
static inline int64_t elem_off(int32_t ndim, const int64_t* idx, const int64_t* strides) {
    int64_t o = 0;
    for (int32_t d = 0; d < ndim; d++) o += idx[d] * strides[d];
    return o;
}

static inline mlxp_tensor kb_tensor(kbuf* b, int32_t ndim, int64_t* shape, int64_t* strides) {
    return tu_tensor(b->data, b->dt, ndim, shape, strides);
}

#endif /* MLXP_KERNELUTIL_H */
