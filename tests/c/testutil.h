/*
 * testutil.h — small helpers shared by the C tests: check macros with a pass/fail count,
 * float16/bfloat16 conversions (round to nearest even, written here from the IEEE 754
 * definitions so they are independent of the library), a Philox-4x32-10 reference, and
 * tensor construction.
 */
#ifndef MLXP_TESTUTIL_H
#define MLXP_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlxprim.h"

/* ---- checks ------------------------------------------------------------------------- */

static int tu_passed = 0;
static int tu_failed = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            tu_passed++;                                                        \
        } else {                                                                \
            tu_failed++;                                                        \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Checks that a call succeeded; prints the library's message when it did not. */
#define CHECK_OK(call)                                                          \
    do {                                                                        \
        mlxp_status st_ = (call);                                               \
        CHECK(st_ == MLXP_OK, "%s returned %d (%s)", #call, (int)st_,           \
              mlxp_last_error());                                               \
    } while (0)

/* Prints the summary line and gives the process exit code. */
static inline int tu_finish(const char* name) {
    printf("%s: %d passed, %d failed\n", name, tu_passed, tu_failed);
    return tu_failed == 0 ? 0 : 1;
}

/* ---- float16 / bfloat16 ------------------------------------------------------------- */

static inline uint32_t tu_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float tu_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float32 -> IEEE binary16, round to nearest even, NaN stays NaN (quiet), Inf stays Inf. */
static inline uint16_t tu_f32_to_f16(float f) {
    uint32_t x = tu_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) { /* Inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u));
    }
    if (a >= 0x477ff000u) { /* >= 65520: the tie above 65504 rounds to even, i.e. Inf */
        return (uint16_t)(sign | 0x7c00u);
    }
    int32_t e = (int32_t)(a >> 23) - 127;
    if (e >= -14) { /* normal binary16 */
        uint32_t mant = a & 0x7fffffu;
        uint32_t h = ((uint32_t)(e + 15) << 10) | (mant >> 13);
        uint32_t rem = mant & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent */
        return (uint16_t)(sign | h);
    }
    if (e < -25) return sign; /* below half the smallest subnormal */
    /* Subnormal result: the unit is 2^-24 and the value is mant * 2^(e-23). */
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    int shift = -(e + 1); /* 14..24 */
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static inline float tu_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f) return tu_bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        float v = ldexpf((float)m, -24); /* exact: m < 2^10 */
        return sign ? -v : v;
    }
    return tu_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

/* float32 -> bfloat16 (the top 16 bits), round to nearest even, NaN stays NaN (quiet). */
static inline uint16_t tu_f32_to_bf16(float f) {
    uint32_t x = tu_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static inline float tu_bf16_to_f32(uint16_t b) { return tu_bits_f32((uint32_t)b << 16); }

/* ---- dtypes the float ops take ------------------------------------------------------ */

typedef enum { TU_F32, TU_F16, TU_BF16 } tu_dt;

static const char* const tu_dt_name[] = {"float32", "float16", "bfloat16"};

static inline mlxp_dtype tu_dtype(tu_dt dt) {
    mlxp_dtype d;
    d.code = dt == TU_BF16 ? MLXP_DTYPE_BFLOAT : MLXP_DTYPE_FLOAT;
    d.bits = dt == TU_F32 ? 32 : 16;
    d.lanes = 1;
    return d;
}

static inline size_t tu_size(tu_dt dt) { return dt == TU_F32 ? 4 : 2; }

/* Rounds a float32 value to dt (once) and back: the value the library stores for it. */
static inline float tu_round(tu_dt dt, float v) {
    if (dt == TU_F16) return tu_f16_to_f32(tu_f32_to_f16(v));
    if (dt == TU_BF16) return tu_bf16_to_f32(tu_f32_to_bf16(v));
    return v;
}

static inline void tu_store(tu_dt dt, void* base, int64_t i, float v) {
    if (dt == TU_F32) {
        ((float*)base)[i] = v;
    } else {
        ((uint16_t*)base)[i] = dt == TU_F16 ? tu_f32_to_f16(v) : tu_f32_to_bf16(v);
    }
}

static inline float tu_load(tu_dt dt, const void* base, int64_t i) {
    if (dt == TU_F32) return ((const float*)base)[i];
    uint16_t h = ((const uint16_t*)base)[i];
    return dt == TU_F16 ? tu_f16_to_f32(h) : tu_bf16_to_f32(h);
}

/* ---- tensors ------------------------------------------------------------------------ */

static inline mlxp_tensor tu_tensor(void* data, tu_dt dt, int32_t ndim, int64_t* shape,
                                    int64_t* strides) {
    mlxp_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = MLXP_DEVICE_CPU;
    t.device.device_id = 0;
    t.ndim = ndim;
    t.dtype = tu_dtype(dt);
    t.shape = shape;
    t.strides = strides;
    t.byte_offset = 0;
    return t;
}

/* Deterministic test data: a 64-bit LCG mapped to [lo, hi). */
typedef struct {
    uint64_t s;
} tu_rand;

static inline double tu_uniform(tu_rand* r, double lo, double hi) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(r->s >> 11) * 0x1p-53;
}

/* ---- Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3") -- */

static inline void tu_philox(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* Word i of the stream of seed (block i/4, word i%4), as the header specifies. */
static inline uint32_t tu_philox_word(uint64_t seed, uint64_t i) {
    uint64_t block = i / 4;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    tu_philox(ctr, key, out);
    return out[i % 4];
}

#endif /* MLXP_TESTUTIL_H */
