/*
 * test_rope_quant.c — mlxp_rope and the quantization functions against references written
 * here from the header's formulas, in double.
 *
 * Tolerances (see kernelutil.h for the rule):
 *   rope       |got - ref| <= 4 * 2^-24 * (|x_a c| + |x_b s|) + out_rtol(dt) * |ref|, with c and
 *              s the float32 values of m cos and m sin (the header rounds them once); the
 *              pass-through dims are compared bit for bit.
 *   quantize   codes, scales and zero points equal the reference exactly (the header fixes
 *              the float64 arithmetic and the rounding); round trips are within half a step
 *              (int8, int4) or one step (affine, whose scale is adjusted to hit an edge).
 *   dequantize bit for bit (one float32 product, rounded once into w's dtype).
 *   linear     acc_tol(in, sum_j |x_j w^_j|) + out_rtol(y) * |ref| against sum_j x_j w^_j + bias
 *              in double, with w^ the reference dequantization.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernelutil.h"
#include "mlxprim.h"

/* ======================================================================================
 * RoPE
 * ==================================================================================== */

/* Inverse frequencies f_i (i < R/2) and attention factor m of each scaling variant, written
 * from the header and Hugging Face transformers' modeling_rope_utils.py:
 *   NONE        f_i = base^(-2i/R)
 *   LINEAR      f_i / s
 *   NTK         base' = base * s^(R/(R-2))
 *   DYNAMIC_NTK base' = base * (s L/O - (s-1))^(R/(R-2)), L = max(seq_len, O)
 *   LLAMA3      wavelength w = 2 pi / f_i; w < O/high: f_i; w > O/low: f_i / s; otherwise
 *               (1 - t) f_i / s + t f_i with t = (O/w - low) / (high - low)
 *   YaRN        d(rot) = R ln(O / (2 pi rot)) / (2 ln base); lo = floor(d(beta_fast)),
 *               hi = ceil(d(beta_slow)) (no floor/ceil when yarn_no_truncate), clamped to
 *               [0, R-1], hi += 0.001 when equal; ramp_i = clamp((i - lo) / (hi - lo), 0, 1);
 *               f_i = (f_i / s) ramp_i + f_i (1 - ramp_i)   (interpolated where ramp is 1,
 *               extrapolated where it is 0); m = attention_factor if set, else
 *               mscale(s, mscale) / mscale(s, mscale_all_dim) when both are set, else
 *               mscale(s, 1), with mscale(s, k) = 0.1 k ln(s) + 1 for s > 1, else 1. */
static double yarn_mscale(double s, double k) { return s <= 1 ? 1 : 0.1 * k * log(s) + 1; }

static double rope_inv_freq(const mlxp_rope_params* p, int R, double* f) {
    double base = p->base, s = p->factor, O = (double)p->original_max_positions;
    if (p->scaling == MLXP_ROPE_SCALING_NTK) base *= pow(s, (double)R / (R - 2));
    if (p->scaling == MLXP_ROPE_SCALING_DYNAMIC_NTK) {
        double L = p->seq_len > p->original_max_positions ? (double)p->seq_len : O;
        base *= pow(s * L / O - (s - 1), (double)R / (R - 2));
    }
    for (int i = 0; i < R / 2; i++) f[i] = pow(base, -2.0 * i / R);
    double m = 1;
    if (p->scaling == MLXP_ROPE_SCALING_LINEAR) {
        for (int i = 0; i < R / 2; i++) f[i] /= s;
    } else if (p->scaling == MLXP_ROPE_SCALING_LLAMA3) {
        for (int i = 0; i < R / 2; i++) {
            double w = 2 * K_PI / f[i];
            if (w < O / p->high_freq_factor) continue;
            if (w > O / p->low_freq_factor) {
                f[i] /= s;
            } else {
                double t = (O / w - p->low_freq_factor) / (p->high_freq_factor - p->low_freq_factor);
                f[i] = (1 - t) * f[i] / s + t * f[i];
            }
        }
    } else if (p->scaling == MLXP_ROPE_SCALING_YARN) {
        double bf = p->beta_fast != 0 ? p->beta_fast : 32, bs = p->beta_slow != 0 ? p->beta_slow : 1;
        double lo = R * log(O / (2 * K_PI * bf)) / (2 * log(base));
        double hi = R * log(O / (2 * K_PI * bs)) / (2 * log(base));
        if (!p->yarn_no_truncate) lo = floor(lo), hi = ceil(hi);
        if (lo < 0) lo = 0;
        if (hi > R - 1) hi = R - 1;
        if (lo == hi) hi += 0.001;
        for (int i = 0; i < R / 2; i++) {
            double ramp = fmin(fmax((i - lo) / (hi - lo), 0), 1);
            f[i] = f[i] / s * ramp + f[i] * (1 - ramp);
        }
        if (p->attention_factor != 0) {
            m = p->attention_factor;
        } else if (p->mscale != 0 && p->mscale_all_dim != 0) {
            m = yarn_mscale(s, p->mscale) / yarn_mscale(s, p->mscale_all_dim);
        } else {
            m = yarn_mscale(s, 1);
        }
    }
    return m;
}

/* One rope problem: q [B, S, Hq, D] and k [B, S, Hk, D] in layout order. */
typedef struct {
    const char* name;
    tu_dt qdt, kdt;
    int B, S, Hq, Hk, D;
    int pos_kind;    /* 0: NULL (offset + s), 1: int32 [S], 2: int64 [B, S] */
    int q_strided;   /* q read through a view with doubled head stride */
    int k_in_place;  /* k_out is k itself */
    int with_k;
    mlxp_rope_params p;
} rope_case;

/* Reference of one tensor: rotates src (double values, contiguous in layout order) into
 * ref and gives per-element tolerances. */
static void rope_ref(const rope_case* c, int H, tu_dt dt, const double* src, const int64_t* pos, double* ref,
                     double* tol, int* exact) {
    int R = c->p.rotary_dim ? c->p.rotary_dim : c->D;
    double f[512];
    double m = rope_inv_freq(&c->p, R, f);
    double sign = c->p.inverse ? -1 : 1;
    for (int b = 0; b < c->B; b++)
        for (int s = 0; s < c->S; s++)
            for (int h = 0; h < H; h++) {
                int64_t row = c->p.layout == MLXP_LAYOUT_BSHD ? ((int64_t)(b * c->S + s) * H + h)
                                                              : ((int64_t)(b * H + h) * c->S + s);
                const double* x = src + row * c->D;
                double* y = ref + row * c->D;
                double* t = tol + row * c->D;
                int* e = exact + row * c->D;
                double p = (double)(pos ? pos[b * c->S + s] : c->p.offset + s);
                for (int d = R; d < c->D; d++) y[d] = x[d], t[d] = 0, e[d] = 1;
                for (int i = 0; i < R / 2; i++) {
                    int ia = c->p.pairing == MLXP_ROPE_HALF ? i : 2 * i;
                    int ib = c->p.pairing == MLXP_ROPE_HALF ? i + R / 2 : 2 * i + 1;
                    double cs = (double)(float)(m * cos(p * f[i]));
                    double sn = sign * (double)(float)(m * sin(p * f[i]));
                    y[ia] = x[ia] * cs - x[ib] * sn;
                    y[ib] = x[ib] * cs + x[ia] * sn;
                    double mag = fabs(x[ia] * cs) + fabs(x[ib] * sn) + fabs(x[ib] * cs) + fabs(x[ia] * sn);
                    t[ia] = 4 * 0x1p-24 * mag + out_rtol(dt) * fabs(y[ia]);
                    t[ib] = 4 * 0x1p-24 * mag + out_rtol(dt) * fabs(y[ib]);
                    e[ia] = e[ib] = 0;
                }
            }
}

static void run_rope(rope_case* c, uint64_t seed) {
    tu_rand rng = {seed};
    int64_t mid1 = c->p.layout == MLXP_LAYOUT_BSHD ? c->S : c->Hq, mid2 = c->p.layout == MLXP_LAYOUT_BSHD ? c->Hq : c->S;
    int64_t kmid1 = c->p.layout == MLXP_LAYOUT_BSHD ? c->S : c->Hk, kmid2 = c->p.layout == MLXP_LAYOUT_BSHD ? c->Hk : c->S;
    int64_t qshape[4] = {c->B, mid1, mid2, c->D}, kshape[4] = {c->B, kmid1, kmid2, c->D};
    int64_t nq = c->B * c->S * c->Hq * c->D, nk = c->B * c->S * c->Hk * c->D;

    /* q: contiguous or every (b, mid1, mid2) row at twice the distance (gaps hold junk). */
    int64_t qstrides[4];
    contiguous_strides(4, qshape, qstrides);
    int64_t qfac = c->q_strided ? 2 : 1;
    if (c->q_strided)
        for (int d = 0; d < 3; d++) qstrides[d] *= 2;
    kbuf qb = kb_new(c->qdt, nq * qfac), qo = kb_new(c->qdt, nq), kb = kb_new(c->kdt, nk), ko = kb_new(c->kdt, nk);
    kb_fill(&qb, &rng, -2, 2);
    kb_fill(&kb, &rng, -2, 2);
    kb_sentinel(&qo);
    kb_sentinel(&ko);

    /* The values in layout order, as doubles. */
    double* qx = malloc(sizeof(double) * (size_t)nq);
    double* kx = malloc(sizeof(double) * (size_t)nk);
    for (int64_t r = 0; r < nq / c->D; r++)
        for (int d = 0; d < c->D; d++) qx[r * c->D + d] = kb_get(&qb, r * c->D * qfac + d);
    for (int64_t i = 0; i < nk; i++) kx[i] = kb_get(&kb, i);

    int32_t p32[64];
    int64_t p64[128];
    int64_t pos[128];
    int64_t pshape[2] = {c->B, c->S};
    mlxp_tensor pt;
    mlxp_tensor* ppos = NULL;
    for (int b = 0; b < c->B; b++)
        for (int s = 0; s < c->S; s++) {
            /* Positions out of order and far apart, so a wrong frequency shows. */
            int64_t v = c->pos_kind == 1 ? (int64_t)((s * 37) % 101) : (int64_t)(b * 1000 + s * s * 13 + 3);
            pos[b * c->S + s] = v;
            if (c->pos_kind == 1 && b == 0) p32[s] = (int32_t)v;
            p64[b * c->S + s] = v;
        }
    if (c->pos_kind == 1) {
        pt = tu_tensor(p32, TU_F32, 1, pshape + 1, NULL);
        pt.dtype.code = MLXP_DTYPE_INT;
        pt.dtype.bits = 32;
        ppos = &pt;
        for (int b = 1; b < c->B; b++)
            for (int s = 0; s < c->S; s++) pos[b * c->S + s] = pos[s];
    } else if (c->pos_kind == 2) {
        pt = tu_tensor(p64, TU_F32, 2, pshape, NULL);
        pt.dtype.code = MLXP_DTYPE_INT;
        pt.dtype.bits = 64;
        ppos = &pt;
    }

    mlxp_tensor tq = kb_tensor(&qb, 4, qshape, qstrides), tqo = kb_tensor(&qo, 4, qshape, NULL);
    mlxp_tensor tk = kb_tensor(&kb, 4, kshape, NULL), tko = kb_tensor(&ko, 4, kshape, NULL);
    mlxp_tensor* kout = c->k_in_place ? &tk : &tko;
    mlxp_status st = mlxp_rope(&tq, &tqo, c->with_k ? &tk : NULL, c->with_k ? kout : NULL, ppos, &c->p);
    CHECK(st == MLXP_OK, "rope %s: status %d (%s)", c->name, (int)st, mlxp_last_error());

    double* ref = malloc(sizeof(double) * (size_t)(nq > nk ? nq : nk));
    double* tol = malloc(sizeof(double) * (size_t)(nq > nk ? nq : nk));
    int* exact = malloc(sizeof(int) * (size_t)(nq > nk ? nq : nk));
    const int64_t* posp = c->pos_kind ? pos : NULL;
    rope_ref(c, c->Hq, c->qdt, qx, posp, ref, tol, exact);
    int bad = 0;
    for (int64_t i = 0; i < nq; i++) {
        double got = kb_get(&qo, i);
        int ok = exact[i] ? got == qx[i] : near(got, ref[i], tol[i]);
        if (!ok && bad++ < 3) fprintf(stderr, "rope %s: q[%lld] = %.9g, want %.9g\n", c->name, (long long)i, got, ref[i]);
    }
    CHECK(bad == 0, "rope %s: %d q elements wrong", c->name, bad);
    if (c->with_k) {
        rope_ref(c, c->Hk, c->kdt, kx, posp, ref, tol, exact);
        kbuf* kres = c->k_in_place ? &kb : &ko;
        bad = 0;
        for (int64_t i = 0; i < nk; i++) {
            double got = kb_get(kres, i);
            int ok = exact[i] ? got == kx[i] : near(got, ref[i], tol[i]);
            if (!ok && bad++ < 3) fprintf(stderr, "rope %s: k[%lld] = %.9g, want %.9g\n", c->name, (long long)i, got, ref[i]);
        }
        CHECK(bad == 0, "rope %s: %d k elements wrong", c->name, bad);
    }
    free(qx), free(kx), free(ref), free(tol), free(exact);
    kb_free(&qb), kb_free(&qo), kb_free(&kb), kb_free(&ko);
}

static void test_rope(void) {
    mlxp_rope_params d;
    CHECK_OK(mlxp_rope_params_init(&d));
    CHECK(d.struct_size == sizeof d && d.base == 10000 && d.rotary_dim == 0 && d.pairing == MLXP_ROPE_HALF &&
              d.layout == MLXP_LAYOUT_BSHD && d.scaling == MLXP_ROPE_SCALING_NONE && d.offset == 0 && d.factor == 1 &&
              d.original_max_positions == 0 && d.beta_fast == 0 && d.beta_slow == 0 && d.attention_factor == 0 &&
              d.mscale == 0 && d.mscale_all_dim == 0 && d.yarn_no_truncate == 0 && d.low_freq_factor == 1 &&
              d.high_freq_factor == 4 && d.seq_len == 0 && d.inverse == 0,
          "rope_params_init defaults");

    rope_case cases[12];
    int n = 0;
    /* Half pairing, BSHD, offset positions, float32 q and bfloat16 k (GQA: one k head). */
    rope_case c0 = {"half/bshd/f32+bf16", TU_F32, TU_BF16, 2, 7, 3, 1, 16, 0, 0, 0, 1, d};
    c0.p.offset = 5;
    cases[n++] = c0;
    /* Interleaved, BHSD, partial rotary dim (dims 10..13 pass through), int32 positions [S],
     * float16 q, float32 k updated in place. */
    rope_case c1 = {"interleaved/bhsd/f16+f32/R10", TU_F16, TU_F32, 2, 7, 2, 3, 14, 1, 0, 1, 1, d};
    c1.p.pairing = MLXP_ROPE_INTERLEAVED;
    c1.p.layout = MLXP_LAYOUT_BHSD;
    c1.p.rotary_dim = 10;
    c1.p.base = 500;
    cases[n++] = c1;
    /* Strided q, int64 positions [B, S], q only. */
    rope_case c2 = {"half/strided/int64 pos", TU_F32, TU_F32, 3, 5, 2, 1, 8, 2, 1, 0, 0, d};
    cases[n++] = c2;
    /* The inverse rotation (the backward pass) of an interleaved bfloat16 case. */
    rope_case c3 = {"inverse/interleaved/bf16", TU_BF16, TU_BF16, 1, 9, 2, 2, 12, 2, 0, 0, 1, d};
    c3.p.pairing = MLXP_ROPE_INTERLEAVED;
    c3.p.inverse = 1;
    cases[n++] = c3;
    /* Scaling variants. */
    rope_case c4 = {"yarn", TU_F32, TU_F16, 2, 5, 2, 1, 32, 2, 0, 0, 1, d};
    c4.p.scaling = MLXP_ROPE_SCALING_YARN;
    c4.p.factor = 4;
    c4.p.original_max_positions = 2048;
    cases[n++] = c4;
    rope_case c5 = c4;
    c5.name = "yarn/no_truncate/mscale/inverse";
    c5.p.yarn_no_truncate = 1;
    c5.p.mscale = 0.707;
    c5.p.mscale_all_dim = 1.3;
    c5.p.beta_fast = 16;
    c5.p.beta_slow = 2;
    c5.p.inverse = 1;
    cases[n++] = c5;
    rope_case c6 = c4;
    c6.name = "yarn/attention_factor/interleaved";
    c6.p.attention_factor = 1.25;
    c6.p.pairing = MLXP_ROPE_INTERLEAVED;
    cases[n++] = c6;
    rope_case c7 = {"linear", TU_F32, TU_F32, 1, 6, 2, 2, 16, 2, 0, 0, 1, d};
    c7.p.scaling = MLXP_ROPE_SCALING_LINEAR;
    c7.p.factor = 2.5;
    cases[n++] = c7;
    rope_case c8 = c7;
    c8.name = "ntk";
    c8.p.scaling = MLXP_ROPE_SCALING_NTK;
    cases[n++] = c8;
    rope_case c9 = c7;
    c9.name = "dynamic_ntk";
    c9.p.scaling = MLXP_ROPE_SCALING_DYNAMIC_NTK;
    c9.p.original_max_positions = 1024;
    c9.p.seq_len = 4000;
    cases[n++] = c9;
    rope_case c10 = {"llama3", TU_F32, TU_F32, 1, 6, 1, 1, 64, 2, 0, 0, 1, d};
    c10.p.scaling = MLXP_ROPE_SCALING_LLAMA3;
    c10.p.factor = 8;
    c10.p.original_max_positions = 64; /* small, so the three frequency bands all occur at R = 64 */
    c10.p.base = 500000;
    cases[n++] = c10;
    for (int i = 0; i < n; i++) run_rope(&cases[i], 100 + (uint64_t)i);

    /* The YaRN reference itself: its ramp bounds for R = 32, O = 2048, base 1e4 are
     * lo = floor(4.03) = 4 and hi = ceil(10.05) = 11, so pair 3 is purely extrapolated
     * (f_3 unchanged), pair 11 purely interpolated (f_11 / s). */
    {
        double f[16], f0[16];
        mlxp_rope_params none = d;
        double m = rope_inv_freq(&c4.p, 32, f);
        rope_inv_freq(&none, 32, f0);
        CHECK(f[3] == f0[3] && fabs(f[11] - f0[11] / 4) < 1e-18 && f[7] < f0[7] && f[7] > f0[7] / 4,
              "yarn reference ramp");
        CHECK(fabs(m - (0.1 * log(4.0) + 1)) < 1e-15, "yarn reference m");
    }

    /* Forward then inverse in place gives the input back (m = 1), float32, BHSD. */
    {
        int64_t shape[4] = {2, 3, 5, 10};
        int64_t nelem = 2 * 3 * 5 * 10;
        kbuf x = kb_new(TU_F32, nelem);
        tu_rand r = {7};
        kb_fill(&x, &r, -3, 3);
        float* orig = malloc(sizeof(float) * (size_t)nelem);
        memcpy(orig, x.data, sizeof(float) * (size_t)nelem);
        mlxp_rope_params p = d;
        p.layout = MLXP_LAYOUT_BHSD;
        p.pairing = MLXP_ROPE_INTERLEAVED;
        p.offset = 300;
        mlxp_tensor t = kb_tensor(&x, 4, shape, NULL);
        CHECK_OK(mlxp_rope(&t, &t, NULL, NULL, NULL, &p));
        CHECK(memcmp(orig, x.data, sizeof(float) * (size_t)nelem) != 0, "rope forward changed nothing");
        p.inverse = 1;
        CHECK_OK(mlxp_rope(&t, &t, NULL, NULL, NULL, &p));
        /* Two float32 rotations: error <= 8 * 2^-24 * |x| per pair; 1e-6 * |x| bounds it. */
        int bad = 0;
        for (int64_t i = 0; i < nelem; i++)
            bad += !near(((float*)x.data)[i], orig[i], 4e-6 * 3);
        CHECK(bad == 0, "rope inverse(forward(x)) != x in %d elements", bad);
        free(orig);
        kb_free(&x);
    }
}

/* ======================================================================================
 * Quantization
 * ==================================================================================== */

static double rint_even(double v) { return nearbyint(v); } /* default rounding mode: ties to even */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Reference quantization of one row (int8) or group (int4) of n weights, from the header
 * (s rounded once to float32, codes by round-half-even of w/s in float64):
 *   symmetric:  s = max|w| / qmax,  q = clamp(round(w/s), -qmax, qmax)
 *   asymmetric: lo = min(0, min w), hi = max(0, max w), s = (hi-lo)/levels,
 *               z = clamp(round(zlo - lo/s), zmin, zmax), q = clamp(round(w/s) + z, qmin, qmaxa)
 * Returns 0 for a degenerate span (all weights equal), whose codes the header leaves to the
 * library (it promises only that they dequantize exactly to the value). */
static int quant_ref(const double* w, int n, int asym, int bits, float* s_out, int* z_out, int* q) {
    double mn = w[0], mx = w[0], a = 0;
    for (int j = 0; j < n; j++) mn = fmin(mn, w[j]), mx = fmax(mx, w[j]), a = fmax(a, fabs(w[j]));
    if (mn == mx) return 0;
    if (!asym) {
        double qmax = bits == 8 ? 127 : 7;
        float s = (float)(a / qmax);
        for (int j = 0; j < n; j++) q[j] = (int)clampd(rint_even(w[j] / s), -qmax, qmax);
        *s_out = s;
        *z_out = 0;
        return 1;
    }
    double lo = fmin(0, mn), hi = fmax(0, mx);
    if (bits == 8) {
        float s = (float)((hi - lo) / 255);
        int z = (int)clampd(rint_even(-128 - lo / s), -128, 127);
        for (int j = 0; j < n; j++) q[j] = (int)clampd(rint_even(w[j] / s) + z, -128, 127);
        *s_out = s;
        *z_out = z;
    } else {
        float s = (float)((hi - lo) / 15);
        int z = (int)clampd(rint_even(-lo / s), 0, 15);
        for (int j = 0; j < n; j++) q[j] = (int)clampd(rint_even(w[j] / s) + z, 0, 15);
        *s_out = s;
        *z_out = z;
    }
    return 1;
}

static mlxp_tensor int_tensor(void* data, uint8_t code, uint8_t bits, int32_t ndim, int64_t* shape) {
    mlxp_tensor t = tu_tensor(data, TU_F32, ndim, shape, NULL);
    t.dtype.code = code;
    t.dtype.bits = bits;
    return t;
}

/* Weights [out, in] with one degenerate row/group of zeros and one of a constant, and a
 * row with a wide range. */
static void make_weights(kbuf* w, int out, int in, tu_rand* r) {
    kb_fill(w, r, -1, 1);
    for (int j = 0; j < in; j++) {
        if (out > 1) kb_set(w, 1 * in + j, 0.0);                   /* all zeros */
        if (out > 2) kb_set(w, 2 * in + j, j < in / 2 ? 2.5 : -0.75); /* constant per group half */
        if (out > 3) kb_set(w, 3 * in + j, (j % 5) * 30.0 + 0.125);  /* non-negative, wide */
    }
}

/* Reference linear layer: y[b, r] = sum_j x[b, j] wh[r, j] + bias[r], checked element-wise. */
static void check_linear(const char* name, const kbuf* x, int64_t rows, int in, const double* wh, int out,
                         const kbuf* bias, const kbuf* y) {
    int bad = 0;
    for (int64_t b = 0; b < rows; b++)
        for (int r = 0; r < out; r++) {
            double ref = bias ? kb_get(bias, r) : 0, mag = bias ? fabs(kb_get(bias, r)) : 0;
            for (int j = 0; j < in; j++) {
                double t = kb_get(x, b * in + j) * wh[(int64_t)r * in + j];
                ref += t;
                mag += fabs(t);
            }
            double got = kb_get(y, b * out + r);
            if (!near(got, ref, acc_tol(in, mag) + out_rtol(y->dt) * fabs(ref)) && bad++ < 3)
                fprintf(stderr, "%s: y[%lld, %d] = %.9g, want %.9g\n", name, (long long)b, r, got, ref);
        }
    CHECK(bad == 0, "%s: %d outputs wrong", name, bad);
}

static void test_int8(tu_dt wdt, int asym, uint64_t seed) {
    enum { OUT = 7, IN = 33 };
    char name[64];
    snprintf(name, sizeof name, "int8 %s %s", tu_dt_name[wdt], asym ? "asym" : "sym");
    tu_rand r = {seed};
    kbuf w = kb_new(wdt, OUT * IN), wd = kb_new(wdt, OUT * IN);
    make_weights(&w, OUT, IN, &r);
    int8_t q[OUT * IN];
    float scales[OUT];
    int32_t zeros[OUT];
    int64_t wshape[2] = {OUT, IN}, sshape[1] = {OUT};
    mlxp_tensor tw = kb_tensor(&w, 2, wshape, NULL), twd = kb_tensor(&wd, 2, wshape, NULL);
    mlxp_tensor tq = int_tensor(q, MLXP_DTYPE_INT, 8, 2, wshape);
    mlxp_tensor ts = tu_tensor(scales, TU_F32, 1, sshape, NULL);
    mlxp_tensor tz = int_tensor(zeros, MLXP_DTYPE_INT, 32, 1, sshape);
    CHECK_OK(mlxp_quantize_int8(&tw, &tq, &ts, asym ? &tz : NULL));
    CHECK_OK(mlxp_dequantize_int8(&tq, &ts, asym ? &tz : NULL, &twd));

    double wr[IN] = {0}, wh[OUT * IN];
    int qr[IN];
    int bad_codes = 0, bad_deq = 0, bad_trip = 0;
    for (int o = 0; o < OUT; o++) {
        for (int j = 0; j < IN; j++) wr[j] = kb_get(&w, o * IN + j);
        float s;
        int z;
        int regular = quant_ref(wr, IN, asym, 8, &s, &z, qr);
        int zz = asym ? zeros[o] : 0;
        if (regular) {
            bad_codes += scales[o] != s || zz != z;
            for (int j = 0; j < IN; j++) bad_codes += q[o * IN + j] != qr[j];
        }
        for (int j = 0; j < IN; j++) {
            /* w^ = (q - z) * s: one float32 product, rounded once to w's dtype. */
            float deq = (float)(q[o * IN + j] - zz) * scales[o];
            wh[o * IN + j] = deq;
            bad_deq += kb_get(&wd, o * IN + j) != (double)tu_round(wdt, deq);
            /* Half a step (plus the float32 product's rounding); degenerate rows exactly. */
            double lim = regular ? 0.5 * scales[o] * (1 + 1e-6) : 0;
            bad_trip += fabs(deq - wr[j]) > lim;
        }
    }
    CHECK(bad_codes == 0, "%s: %d codes/scales/zeros differ from the reference", name, bad_codes);
    CHECK(bad_deq == 0, "%s: %d dequantized weights differ", name, bad_deq);
    CHECK(bad_trip == 0, "%s: %d round trips off by more than half a step", name, bad_trip);

    /* int8_linear: x [3, 1, IN] (3-D), bias, y in another dtype. */
    tu_dt ydt = wdt == TU_F32 ? TU_BF16 : TU_F32;
    kbuf x = kb_new(wdt, 3 * IN), bias = kb_new(TU_F32, OUT), y = kb_new(ydt, 3 * OUT);
    kb_fill(&x, &r, -1, 1);
    kb_fill(&bias, &r, -0.5, 0.5);
    int64_t xshape[3] = {3, 1, IN}, yshape[3] = {3, 1, OUT};
    mlxp_tensor tx = kb_tensor(&x, 3, xshape, NULL), tb = kb_tensor(&bias, 1, sshape, NULL),
                ty = kb_tensor(&y, 3, yshape, NULL);
    CHECK_OK(mlxp_int8_linear(&tx, &tq, &ts, asym ? &tz : NULL, &tb, &ty));
    check_linear(name, &x, 3, IN, wh, OUT, &bias, &y);
    kb_free(&w), kb_free(&wd), kb_free(&x), kb_free(&bias), kb_free(&y);
}

static void test_int4(tu_dt wdt, int asym, int group, uint64_t seed) {
    enum { OUT = 5, IN = 128 };
    char name[64];
    snprintf(name, sizeof name, "int4 %s %s g%d", tu_dt_name[wdt], asym ? "asym" : "sym", group);
    tu_rand r = {seed};
    int G = IN / group;
    kbuf w = kb_new(wdt, OUT * IN), wd = kb_new(wdt, OUT * IN);
    make_weights(&w, OUT, IN, &r);
    uint8_t q[OUT * IN / 2];
    float scales[OUT * 4];
    uint8_t zeros[OUT * 4];
    int64_t wshape[2] = {OUT, IN}, sshape[2] = {OUT, G};
    mlxp_tensor tw = kb_tensor(&w, 2, wshape, NULL), twd = kb_tensor(&wd, 2, wshape, NULL);
    mlxp_tensor tq = int_tensor(q, MLXP_DTYPE_INT, 4, 2, wshape);
    mlxp_tensor ts = tu_tensor(scales, TU_F32, 2, sshape, NULL);
    mlxp_tensor tz = int_tensor(zeros, MLXP_DTYPE_UINT, 8, 2, sshape);
    CHECK_OK(mlxp_quantize_int4(&tw, group, &tq, &ts, asym ? &tz : NULL));
    CHECK_OK(mlxp_dequantize_int4(&tq, &ts, asym ? &tz : NULL, group, &twd));

    double* wh = malloc(sizeof(double) * OUT * IN);
    int bad_codes = 0, bad_deq = 0, bad_trip = 0;
    for (int o = 0; o < OUT; o++)
        for (int g = 0; g < G; g++) {
            double wr[128] = {0};
            int qr[128];
            for (int j = 0; j < group; j++) wr[j] = kb_get(&w, o * IN + g * group + j);
            float s;
            int z;
            int regular = quant_ref(wr, group, asym, 4, &s, &z, qr);
            float sg = scales[o * G + g];
            int zg = asym ? zeros[o * G + g] : 0;
            for (int j = 0; j < group; j++) {
                int e = o * IN + g * group + j;
                /* element e of the row-major matrix: byte e/2, low nibble when e is even */
                int nib = (q[e / 2] >> (4 * (e % 2))) & 0xf;
                int code = asym ? nib : (nib >= 8 ? nib - 16 : nib);
                if (regular) bad_codes += code != qr[j];
                float deq = (float)(code - zg) * sg;
                wh[e] = deq;
                bad_deq += kb_get(&wd, e) != (double)tu_round(wdt, deq);
                double lim = regular ? 0.5 * sg * (1 + 1e-6) : 0;
                bad_trip += fabs(deq - wr[j]) > lim;
            }
            if (regular) bad_codes += sg != s || zg != z;
        }
    CHECK(bad_codes == 0, "%s: %d codes/scales/zeros differ from the reference", name, bad_codes);
    CHECK(bad_deq == 0, "%s: %d dequantized weights differ", name, bad_deq);
    CHECK(bad_trip == 0, "%s: %d round trips off by more than half a step", name, bad_trip);

    tu_dt ydt = wdt == TU_F16 ? TU_F16 : TU_F32;
    kbuf x = kb_new(wdt, 7 * IN), y = kb_new(ydt, 7 * OUT);
    kb_fill(&x, &r, -1, 1);
    int64_t xshape[2] = {7, IN}, yshape[2] = {7, OUT};
    mlxp_tensor tx = kb_tensor(&x, 2, xshape, NULL), ty = kb_tensor(&y, 2, yshape, NULL);
    CHECK_OK(mlxp_int4_linear(&tx, &tq, &ts, asym ? &tz : NULL, group, NULL, &ty));
    check_linear(name, &x, 7, IN, wh, OUT, NULL, &y);
    free(wh);
    kb_free(&w), kb_free(&wd), kb_free(&x), kb_free(&y);
}

/* The packing table: a hand-made int4 matrix with every nibble value, scale 1. */
static void test_int4_packing(void) {
    enum { IN = 32 };
    uint8_t q[IN / 2];
    for (int i = 0; i < IN / 2; i++) q[i] = (uint8_t)((i & 0xf) | (((15 - i) & 0xf) << 4));
    float s[1] = {1.0f};
    uint8_t z[1] = {3};
    float w[IN];
    int64_t wshape[2] = {1, IN}, sshape[2] = {1, 1};
    mlxp_tensor tq = int_tensor(q, MLXP_DTYPE_INT, 4, 2, wshape);
    mlxp_tensor ts = tu_tensor(s, TU_F32, 2, sshape, NULL), tz = int_tensor(z, MLXP_DTYPE_UINT, 8, 2, sshape);
    mlxp_tensor tw = tu_tensor(w, TU_F32, 2, wshape, NULL);
    /* symmetric: element 2i = low nibble of byte i = i (two's complement), element 2i+1 =
     * high nibble = 15 - i; nibble 0x8 is -8, 0xf is -1. */
    static const float sym_value[16] = {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1};
    CHECK_OK(mlxp_dequantize_int4(&tq, &ts, NULL, 32, &tw));
    int bad = 0;
    for (int i = 0; i < IN / 2; i++) bad += w[2 * i] != sym_value[i] || w[2 * i + 1] != sym_value[15 - i];
    CHECK(bad == 0, "int4 symmetric packing table: %d elements wrong", bad);
    /* asymmetric: unsigned nibbles minus the zero point 3. */
    CHECK_OK(mlxp_dequantize_int4(&tq, &ts, &tz, 32, &tw));
    bad = 0;
    for (int i = 0; i < IN / 2; i++) bad += w[2 * i] != (float)(i - 3) || w[2 * i + 1] != (float)(15 - i - 3);
    CHECK(bad == 0, "int4 asymmetric packing table: %d elements wrong", bad);

    /* Quantizing a ramp: w[j] = j - 7 for j < 15 gives codes j - 7 (symmetric, max|w| = 7
     * so s = 1), packed low nibble first. */
    float ramp[IN];
    for (int j = 0; j < IN; j++) ramp[j] = (float)((j % 15) - 7);
    float sc[1];
    uint8_t qq[IN / 2];
    tw = tu_tensor(ramp, TU_F32, 2, wshape, NULL);
    tq = int_tensor(qq, MLXP_DTYPE_INT, 4, 2, wshape);
    ts = tu_tensor(sc, TU_F32, 2, sshape, NULL);
    CHECK_OK(mlxp_quantize_int4(&tw, 32, &tq, &ts, NULL));
    CHECK(sc[0] == 1.0f, "ramp scale %g", (double)sc[0]);
    bad = 0;
    for (int i = 0; i < IN / 2; i++) {
        int lo = ((2 * i) % 15) - 7, hi = ((2 * i + 1) % 15) - 7;
        bad += qq[i] != (uint8_t)((lo & 0xf) | ((hi & 0xf) << 4));
    }
    CHECK(bad == 0, "int4 ramp packing: %d bytes wrong", bad);
}

/* MLX affine: words hold element j of a row at bit bits*(j % (32/bits)) of word
 * j / (32/bits); w^ = scales * q + biases (each operation rounded to the scales' dtype). */
static void test_affine(tu_dt wdt, int bits, int group, uint64_t seed) {
    enum { OUT = 3, IN = 128 };
    char name[64];
    snprintf(name, sizeof name, "affine %s b%d g%d", tu_dt_name[wdt], bits, group);
    tu_rand r = {seed};
    int G = IN / group, per = 32 / bits, words = IN / per;
    kbuf w = kb_new(wdt, OUT * IN), wd = kb_new(wdt, OUT * IN), sc = kb_new(wdt, OUT * G), bi = kb_new(wdt, OUT * G);
    kb_fill(&w, &r, -1, 1);
    for (int j = 0; j < IN; j++) kb_set(&w, 1 * IN + j, j * 0.01 + 0.5); /* one all-positive row */
    uint32_t wq[OUT * 32];
    int64_t wshape[2] = {OUT, IN}, qshape[2] = {OUT, words}, sshape[2] = {OUT, G};
    mlxp_tensor tw = kb_tensor(&w, 2, wshape, NULL), twd = kb_tensor(&wd, 2, wshape, NULL);
    mlxp_tensor tq = int_tensor(wq, MLXP_DTYPE_INT, 32, 2, qshape);
    mlxp_tensor ts = kb_tensor(&sc, 2, sshape, NULL), tb = kb_tensor(&bi, 2, sshape, NULL);
    CHECK_OK(mlxp_quantize_affine(&tw, group, bits, &tq, &ts, &tb));
    CHECK_OK(mlxp_dequantize_affine(&tq, &ts, &tb, group, bits, &twd));

    double* wh = malloc(sizeof(double) * OUT * IN);
    int bad_deq = 0, bad_trip = 0;
    for (int o = 0; o < OUT; o++)
        for (int j = 0; j < IN; j++) {
            uint32_t q = (wq[o * words + j / per] >> (bits * (j % per))) & ((1u << bits) - 1);
            float s = (float)kb_get(&sc, o * G + j / group), b = (float)kb_get(&bi, o * G + j / group);
            float deq = tu_round(wdt, tu_round(wdt, (float)q * s) + b);
            bad_deq += kb_get(&wd, o * IN + j) != (double)deq;
            /* The linear layers decode as f32(f32(q*s) + b) with s and b widened. */
            wh[o * IN + j] = (double)((float)q * s + b);
            /* Within one step of the weight (MLX moves the scale so a group edge is exact),
             * plus the rounding of the half-type scale and bias. */
            double lim = fabs(s) * (1 + 1e-6) + 2 * out_rtol(wdt) * (fabs(b) + fabs(s) * ((1 << bits) - 1));
            bad_trip += fabs(wh[o * IN + j] - kb_get(&w, o * IN + j)) > lim;
        }
    CHECK(bad_deq == 0, "%s: %d dequantized weights differ from scales*q + biases", name, bad_deq);
    CHECK(bad_trip == 0, "%s: %d round trips off by more than one step", name, bad_trip);

    kbuf x = kb_new(wdt, 2 * IN), y = kb_new(TU_F32, 2 * OUT), bias = kb_new(TU_BF16, OUT);
    kb_fill(&x, &r, -1, 1);
    kb_fill(&bias, &r, -1, 1);
    int64_t xshape[2] = {2, IN}, yshape[2] = {2, OUT}, bshape[1] = {OUT};
    mlxp_tensor tx = kb_tensor(&x, 2, xshape, NULL), ty = kb_tensor(&y, 2, yshape, NULL),
                tbias = kb_tensor(&bias, 1, bshape, NULL);
    CHECK_OK(mlxp_affine_linear(&tx, &tq, &ts, &tb, group, bits, &tbias, &ty));
    check_linear(name, &x, 2, IN, wh, OUT, &bias, &y);
    free(wh);
    kb_free(&w), kb_free(&wd), kb_free(&sc), kb_free(&bi), kb_free(&x), kb_free(&y), kb_free(&bias);
}

/* The affine word layout on a hand-made matrix: scale 1, bias 0, so w^ = q. */
static void test_affine_packing(void) {
    enum { IN = 32 };
    for (int bits = 4; bits <= 8; bits += 4) {
        int per = 32 / bits;
        uint32_t wq[IN / 4] = {0};
        for (int j = 0; j < IN; j++) wq[j / per] |= (uint32_t)((j * 7 + 3) % (1 << bits)) << (bits * (j % per));
        float s[1] = {1}, b[1] = {0}, w[IN];
        int64_t qshape[2] = {1, IN / per}, sshape[2] = {1, 1}, wshape[2] = {1, IN};
        mlxp_tensor tq = int_tensor(wq, MLXP_DTYPE_INT, 32, 2, qshape);
        mlxp_tensor ts = tu_tensor(s, TU_F32, 2, sshape, NULL), tb = tu_tensor(b, TU_F32, 2, sshape, NULL);
        mlxp_tensor tw = tu_tensor(w, TU_F32, 2, wshape, NULL);
        CHECK_OK(mlxp_dequantize_affine(&tq, &ts, &tb, 32, bits, &tw));
        int bad = 0;
        for (int j = 0; j < IN; j++) bad += w[j] != (float)((j * 7 + 3) % (1 << bits));
        CHECK(bad == 0, "affine %d-bit word layout: %d elements wrong", bits, bad);
    }
}

/* A strided x and y == x in place for the quantized linear layers (in == out). */
static void test_quant_linear_views(void) {
    enum { N = 32 };
    tu_rand r = {99};
    kbuf w = kb_new(TU_F32, N * N);
    kb_fill(&w, &r, -1, 1);
    int8_t q[N * N];
    float s[N];
    int64_t wshape[2] = {N, N}, sshape[1] = {N};
    mlxp_tensor tw = kb_tensor(&w, 2, wshape, NULL), tq = int_tensor(q, MLXP_DTYPE_INT, 8, 2, wshape);
    mlxp_tensor ts = tu_tensor(s, TU_F32, 1, sshape, NULL);
    CHECK_OK(mlxp_quantize_int8(&tw, &tq, &ts, NULL));
    double wh[N * N];
    for (int i = 0; i < N * N; i++) wh[i] = (double)((float)q[i] * s[i / N]);

    /* x: rows 0, 2, 4 of a [6, N] buffer, read backwards along in (negative stride). */
    kbuf xb = kb_new(TU_F32, 6 * N), x = kb_new(TU_F32, 3 * N), y = kb_new(TU_F32, 3 * N);
    kb_fill(&xb, &r, -1, 1);
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < N; j++) kb_set(&x, b * N + j, kb_get(&xb, 2 * b * N + (N - 1 - j)));
    int64_t xshape[2] = {3, N}, xstrides[2] = {2 * N, -1};
    mlxp_tensor tx = tu_tensor(xb.data, TU_F32, 2, xshape, xstrides);
    tx.byte_offset = (N - 1) * sizeof(float);
    mlxp_tensor ty = kb_tensor(&y, 2, xshape, NULL);
    CHECK_OK(mlxp_int8_linear(&tx, &tq, &ts, NULL, NULL, &ty));
    check_linear("int8 strided x", &x, 3, N, wh, N, NULL, &y);

    /* in place: y is x itself. */
    kbuf xi = kb_new(TU_F32, 3 * N);
    memcpy(xi.data, x.data, sizeof(float) * 3 * N);
    mlxp_tensor txi = kb_tensor(&xi, 2, xshape, NULL);
    CHECK_OK(mlxp_int8_linear(&txi, &tq, &ts, NULL, NULL, &txi));
    check_linear("int8 in place", &x, 3, N, wh, N, NULL, &xi);
    kb_free(&w), kb_free(&xb), kb_free(&x), kb_free(&y), kb_free(&xi);
}

static void test_quant(void) {
    uint64_t seed = 1000;
    for (int dt = TU_F32; dt <= TU_BF16; dt++)
        for (int asym = 0; asym <= 1; asym++) test_int8((tu_dt)dt, asym, seed++);
    for (int dt = TU_F32; dt <= TU_BF16; dt++)
        for (int asym = 0; asym <= 1; asym++)
            for (int g = 32; g <= 128; g *= 2) test_int4((tu_dt)dt, asym, g, seed++);
    test_int4_packing();
    for (int dt = TU_F32; dt <= TU_BF16; dt++)
        for (int bits = 4; bits <= 8; bits += 4)
            for (int g = 32; g <= 128; g *= 2) test_affine((tu_dt)dt, bits, g, seed++);
    test_affine_packing();
    test_quant_linear_views();
}

int main(void) {
    const char* isa = "?";
    mlxp_cpu_isa(&isa);
    printf("test_rope_quant: kernel path %s\n", isa);
    test_rope();
    test_quant();
    return tu_finish("test_rope_quant");
}
