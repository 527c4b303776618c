/*
 * test_kernels.c — matmul, the linear layers, LayerNorm/GroupNorm, the normalization
 * backward passes, activations and GLU, against references written here from the header's
 * formulas in double (gated_linear_backward's reference from the chain rule, itself checked
 * by finite differences).
 *
 * Tolerances (kernelutil.h gives acc_tol and out_rtol):
 *   matmul, linear   acc_tol(K, |alpha| sum_k |a b|) + 2^-23 |beta c| + out_rtol(c) |ref|
 *   gated_linear     the two products' acc_tol, carried through act (|act'| <= 1.13) and
 *                    the product, + 16 * 2^-24 (|act(a)| + |a|) |u| for act itself
 *   gated_linear_backward  gate and up carry their acc_tol(in) into dgate and dup (through
 *                    |act'| <= 1.2 and |act''| <= 1), + 16 * 2^-24 (|dgate| + |gate| (1 +
 *                    |dout up|)) and likewise for dup, for act and act' themselves; dx and the
 *                    weight gradients add acc_tol of their own sums (2 hidden or rows terms)
 *                    to the carried bounds, + out_rtol |ref| (+ 2^-25 for float16, whose
 *                    subnormals round absolutely); zero rows give dw exactly 0
 *   norms            8 (D + 4) 2^-24 (1 + |xhat|) |w| + 2^-23 |b| + out_rtol |ref|: float32
 *                    statistics over D elements scale every xhat by at most that relative error
 *   backward         the same bound on each term of the formula, summed over the row (dx) or
 *                    over rows (dweight, dbias)
 *   activations      16 * 2^-24 (|ref| + |x| (1 + |dy|)) + out_rtol |ref| ("a few ulps" of
 *                    each float32 term; 1 + erf and 1 + tanh cancel for negative x)
 * residual_out values are an unfused add rounded to x's dtype and are compared bit for bit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernelutil.h"
#include "mlxprim.h"

static const double U = 0x1p-24;

/* ======================================================================================
 * matmul and the linear layers
 * ==================================================================================== */

/* op(A)[m, k] of a [.., M, K] (or [.., K, M] transposed) at batch offset; elements are
 * read through explicit strides. */
typedef struct {
    kbuf* b;
    int64_t rs, cs; /* strides of the stored matrix's two dims */
    int trans;
} matv;

static double mat_at(const matv* v, int64_t off, int64_t i, int64_t j) {
    /* (i, j) of op(X): stored (i, j) or, transposed, stored (j, i). */
    return v->trans ? kb_get(v->b, off + j * v->rs + i * v->cs) : kb_get(v->b, off + i * v->rs + j * v->cs);
}

/* One matmul problem: a batch [2, 1] broadcast against b's batch [3] into c [2, 3]. */
static void run_matmul(tu_dt dt, tu_dt cdt, int M, int N, int K, int ta, int tb, float alpha, float beta,
                       int strided_c, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "matmul %s->%s M%d N%d K%d ta%d tb%d a%g b%g%s", tu_dt_name[dt], tu_dt_name[cdt], M,
             N, K, ta, tb, (double)alpha, (double)beta, strided_c ? " strided c" : "");
    tu_rand r = {seed};
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int64_t ashape[4] = {2, 1, ar, ac}, bshape[3] = {3, br, bc}, cshape[4] = {2, 3, M, N};
    kbuf a = kb_new(dt, 2 * ar * ac), b = kb_new(dt, 3 * br * bc);
    /* c: contiguous, or every other column of a wider buffer (gaps must stay untouched). */
    int64_t cw = strided_c ? 2 * N : N;
    kbuf c = kb_new(cdt, 6 * M * cw);
    kb_fill(&a, &r, -1, 1);
    kb_fill(&b, &r, -1, 1);
    kb_fill(&c, &r, -1, 1);
    kbuf c0 = kb_new(cdt, c.n);
    memcpy(c0.data, c.data, (size_t)c.n * tu_size(cdt));
    int64_t cstrides[4] = {3 * M * cw, M * cw, cw, strided_c ? 2 : 1};
    mlxp_tensor tA = kb_tensor(&a, 4, ashape, NULL), tB = kb_tensor(&b, 3, bshape, NULL),
                tC = kb_tensor(&c, 4, cshape, cstrides);
    mlxp_matmul_params p;
    CHECK_OK(mlxp_matmul_params_init(&p));
    p.trans_a = ta, p.trans_b = tb, p.alpha = alpha, p.beta = beta;
    mlxp_status st = mlxp_matmul(&tA, &tB, &tC, &p);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());

    matv va = {&a, ac, 1, ta}, vb = {&b, bc, 1, tb};
    int bad = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double s = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        double t = mat_at(&va, i * ar * ac, m, k) * mat_at(&vb, j * br * bc, k, n);
                        s += t;
                        mag += fabs(t);
                    }
                    int64_t co = (i * 3 + j) * M * cw + m * cw + n * (strided_c ? 2 : 1);
                    double old = kb_get(&c0, co);
                    double ref = alpha * s + (beta != 0 ? beta * old : 0);
                    double tol = acc_tol(K, fabs(alpha) * mag) + 0x1p-23 * fabs(beta * old) + out_rtol(cdt) * fabs(ref);
                    double got = kb_get(&c, co);
                    if (!near(got, ref, tol) && bad++ < 3)
                        fprintf(stderr, "%s: c[%d,%d,%d,%d] = %.9g, want %.9g\n", name, i, j, m, n, got, ref);
                }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    if (strided_c) {
        int touched = 0;
        for (int64_t e = 1; e < c.n; e += 2) touched += memcmp((char*)c.data + e * tu_size(cdt),
                                                               (char*)c0.data + e * tu_size(cdt), tu_size(cdt)) != 0;
        CHECK(touched == 0, "%s: %d elements between c's columns changed", name, touched);
    }
    kb_free(&a), kb_free(&b), kb_free(&c), kb_free(&c0);
}

static void test_matmul(void) {
    mlxp_matmul_params d;
    CHECK_OK(mlxp_matmul_params_init(&d));
    CHECK(d.struct_size == sizeof d && d.trans_a == 0 && d.trans_b == 0 && d.alpha == 1.0f && d.beta == 0.0f,
          "matmul_params_init defaults");
    static const int sizes[3] = {1, 7, 33};
    uint64_t seed = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++) run_matmul(TU_F32, TU_F32, sizes[i], sizes[j], sizes[k], 0, 0, 1, 0, 0, seed++);
    for (int ta = 0; ta <= 1; ta++)
        for (int tb = 0; tb <= 1; tb++) {
            run_matmul(TU_F32, TU_F32, 7, 33, 7, ta, tb, -0.5f, 0.75f, 1, seed++);
            run_matmul(TU_BF16, TU_F32, 33, 7, 33, ta, tb, 2.0f, 0, 0, seed++);
            run_matmul(TU_F16, TU_F16, 7, 1, 33, ta, tb, 1.0f, -1.0f, 1, seed++);
            run_matmul(TU_F16, TU_BF16, 1, 33, 7, ta, tb, 1.5f, 0.5f, 0, seed++);
        }

    /* beta 0: c is never read, so NaN in c does not leak into the result. */
    {
        float a[2] = {1, 2}, b[2] = {3, 4}, c[1] = {NAN};
        int64_t as[2] = {1, 2}, bs[2] = {2, 1}, cs[2] = {1, 1};
        mlxp_tensor tA = tu_tensor(a, TU_F32, 2, as, NULL), tB = tu_tensor(b, TU_F32, 2, bs, NULL),
                    tC = tu_tensor(c, TU_F32, 2, cs, NULL);
        CHECK_OK(mlxp_matmul(&tA, &tB, &tC, NULL));
        CHECK(c[0] == 11.0f, "matmul with beta 0 read c: %g", (double)c[0]);
    }
    /* A caller built against an older header passes a shorter struct: fields past its
     * struct_size are not read (beta keeps its default 0, so c is not read either). */
    {
        float a[2] = {1, 2}, b[2] = {3, 4}, c[1] = {NAN};
        int64_t as[2] = {1, 2}, bs[2] = {2, 1}, cs[2] = {1, 1};
        mlxp_tensor tA = tu_tensor(a, TU_F32, 2, as, NULL), tB = tu_tensor(b, TU_F32, 2, bs, NULL),
                    tC = tu_tensor(c, TU_F32, 2, cs, NULL);
        mlxp_matmul_params p = d;
        p.alpha = 2.0f;
        p.beta = 5.0f;
        p.struct_size = offsetof(mlxp_matmul_params, beta);
        CHECK_OK(mlxp_matmul(&tA, &tB, &tC, &p));
        CHECK(c[0] == 22.0f, "matmul read beta past struct_size: %g", (double)c[0]);
    }
    /* A transposed a given as a strided view (no trans flag) equals trans_a. */
    {
        enum { M = 7, K = 33, N = 7 };
        tu_rand r = {55};
        kbuf at = kb_new(TU_F32, K * M), b = kb_new(TU_F32, K * N), c1 = kb_new(TU_F32, M * N), c2 = kb_new(TU_F32, M * N);
        kb_fill(&at, &r, -1, 1);
        kb_fill(&b, &r, -1, 1);
        int64_t atshape[2] = {K, M}, avshape[2] = {M, K}, avstrides[2] = {1, M}, bshape[2] = {K, N}, cshape[2] = {M, N};
        mlxp_tensor tAt = kb_tensor(&at, 2, atshape, NULL), tAv = kb_tensor(&at, 2, avshape, avstrides),
                    tB = kb_tensor(&b, 2, bshape, NULL), tC1 = kb_tensor(&c1, 2, cshape, NULL),
                    tC2 = kb_tensor(&c2, 2, cshape, NULL);
        mlxp_matmul_params p = d;
        p.trans_a = 1;
        CHECK_OK(mlxp_matmul(&tAt, &tB, &tC1, &p));
        CHECK_OK(mlxp_matmul(&tAv, &tB, &tC2, NULL));
        int bad = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double t = kb_get(&at, k * M + m) * kb_get(&b, k * N + n);
                    s += t, mag += fabs(t);
                }
                bad += !near(kb_get(&c1, m * N + n), s, acc_tol(K, mag)) + !near(kb_get(&c2, m * N + n), s, acc_tol(K, mag));
            }
        CHECK(bad == 0, "matmul strided a / trans_a: %d elements wrong", bad);
        kb_free(&at), kb_free(&b), kb_free(&c1), kb_free(&c2);
    }
}

/* y = x w^T + bias, x [2, 3, in] (optionally a strided view), w [out, in]. */
static void run_linear(tu_dt dt, tu_dt bdt, tu_dt ydt, int in, int out, int with_bias, int strided_x, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "linear %s bias %s y %s in%d out%d%s%s", tu_dt_name[dt], tu_dt_name[bdt],
             tu_dt_name[ydt], in, out, with_bias ? "" : " nobias", strided_x ? " strided" : "");
    tu_rand r = {seed};
    int64_t xw = strided_x ? in + 3 : in;
    kbuf x = kb_new(dt, 6 * xw), w = kb_new(dt, out * in), b = kb_new(bdt, out), y = kb_new(ydt, 6 * out);
    kb_fill(&x, &r, -1, 1);
    kb_fill(&w, &r, -1, 1);
    kb_fill(&b, &r, -1, 1);
    kb_sentinel(&y);
    int64_t xshape[3] = {2, 3, in}, xstrides[3] = {3 * xw, xw, 1}, wshape[2] = {out, in}, bshape[1] = {out},
            yshape[3] = {2, 3, out};
    mlxp_tensor tx = kb_tensor(&x, 3, xshape, xstrides), tw = kb_tensor(&w, 2, wshape, NULL),
                tb = kb_tensor(&b, 1, bshape, NULL), ty = kb_tensor(&y, 3, yshape, NULL);
    mlxp_status st = mlxp_linear(&tx, &tw, with_bias ? &tb : NULL, &ty);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    int bad = 0;
    for (int row = 0; row < 6; row++)
        for (int o = 0; o < out; o++) {
            double s = with_bias ? kb_get(&b, o) : 0, mag = fabs(s);
            for (int j = 0; j < in; j++) {
                double t = kb_get(&x, row * xw + j) * kb_get(&w, o * in + j);
                s += t, mag += fabs(t);
            }
            double got = kb_get(&y, row * out + o);
            if (!near(got, s, acc_tol(in + 1, mag) + out_rtol(ydt) * fabs(s)) && bad++ < 3)
                fprintf(stderr, "%s: y[%d, %d] = %.9g, want %.9g\n", name, row, o, got, s);
        }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&x), kb_free(&w), kb_free(&b), kb_free(&y);
}

/* ---- activations: value and derivative in double ---------------------------------- */

static double act_ref(int act, double x) {
    switch (act) {
        case MLXP_ACT_SILU: return x / (1 + exp(-x));
        case MLXP_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
        default: return 0.5 * x * (1 + tanh(sqrt(2 / K_PI) * (x + 0.044715 * x * x * x)));
    }
}

/* d/dx of act_ref: silu' = s (1 + x (1 - s)); gelu' = Phi(x) + x phi(x);
 * gelu_tanh' = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
static double act_grad_ref(int act, double x) {
    switch (act) {
        case MLXP_ACT_SILU: {
            double s = 1 / (1 + exp(-x));
            return s * (1 + x * (1 - s));
        }
        case MLXP_ACT_GELU: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * K_PI);
        default: {
            double k = sqrt(2 / K_PI), t = tanh(k * (x + 0.044715 * x * x * x));
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
        }
    }
}

static const char* const act_name[4] = {"", "silu", "gelu", "gelu_tanh"};

/* out = act(x wg^T) * (x wu^T), x [5, in]. */
static void run_gated_linear(tu_dt dt, tu_dt odt, int act, int in, int hidden, uint64_t seed) {
    char name[96];
    snprintf(name, sizeof name, "gated_linear %s %s->%s in%d hidden%d", act_name[act], tu_dt_name[dt],
             tu_dt_name[odt], in, hidden);
    tu_rand r = {seed};
    kbuf x = kb_new(dt, 5 * in), wg = kb_new(dt, hidden * in), wu = kb_new(dt, hidden * in), o = kb_new(odt, 5 * hidden);
    kb_fill(&x, &r, -1, 1);
    kb_fill(&wg, &r, -1, 1);
    kb_fill(&wu, &r, -1, 1);
    kb_sentinel(&o);
    int64_t xshape[2] = {5, in}, wshape[2] = {hidden, in}, oshape[2] = {5, hidden};
    mlxp_tensor tx = kb_tensor(&x, 2, xshape, NULL), tg = kb_tensor(&wg, 2, wshape, NULL),
                tu = kb_tensor(&wu, 2, wshape, NULL), to = kb_tensor(&o, 2, oshape, NULL);
    mlxp_status st = mlxp_gated_linear(&tx, &tg, &tu, act, &to);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    int bad = 0;
    for (int row = 0; row < 5; row++)
        for (int h = 0; h < hidden; h++) {
            double a = 0, u = 0, ma = 0, mu = 0;
            for (int j = 0; j < in; j++) {
                double xv = kb_get(&x, row * in + j), ta = xv * kb_get(&wg, h * in + j), tu2 = xv * kb_get(&wu, h * in + j);
                a += ta, u += tu2, ma += fabs(ta), mu += fabs(tu2);
            }
            double fa = act_ref(act, a), ref = fa * u;
            double tol = 1.2 * acc_tol(in, ma) * fabs(u) + fabs(fa) * acc_tol(in, mu) + 16 * U * (fabs(fa) + fabs(a)) * fabs(u) +
                         out_rtol(odt) * fabs(ref);
            double got = kb_get(&o, row * hidden + h);
            if (!near(got, ref, tol) && bad++ < 3)
                fprintf(stderr, "%s: out[%d, %d] = %.9g, want %.9g\n", name, row, h, got, ref);
        }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&x), kb_free(&wg), kb_free(&wu), kb_free(&o);
}

static void test_linear(void) {
    static const int sizes[3] = {1, 7, 33};
    uint64_t seed = 500;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) run_linear(TU_F32, TU_F32, TU_F32, sizes[i], sizes[j], 1, i == 2, seed++);
    run_linear(TU_BF16, TU_F16, TU_BF16, 33, 7, 1, 1, seed++);
    run_linear(TU_F16, TU_F32, TU_F32, 7, 33, 0, 0, seed++);
    run_linear(TU_F16, TU_BF16, TU_F16, 33, 33, 1, 0, seed++);
    for (int act = MLXP_ACT_SILU; act <= MLXP_ACT_GELU_TANH; act++) {
        run_gated_linear(TU_F32, TU_F32, act, 33, 7, seed++);
        run_gated_linear(TU_F32, TU_BF16, act, 1, 33, seed++);
        run_gated_linear(TU_BF16, TU_F32, act, 7, 1, seed++);
        run_gated_linear(TU_F16, TU_F16, act, 33, 33, seed++);
    }
}

/* ======================================================================================
 * gated_linear_backward
 * ==================================================================================== */

/* Gradients of L = sum(dout * act(x wg^T) * (x wu^T)) in double by the chain rule, for
 * row-major x [rows, in], wg and wu [hidden, in], dout [rows, hidden]:
 *   gate = x wg^T, up = x wu^T, dgate = dout up act'(gate), dup = dout act(gate),
 *   dx = dgate wg + dup wu, dwg = dgate^T x, dwu = dup^T x.
 * When tdx, tdwg and tdwu are not NULL they receive each element's error bound for the
 * library's float32 arithmetic, before the rounding into the output (see the top). */
static void glb_ref(int act, int64_t rows, int64_t in, int64_t hidden, const double* x, const double* wg,
                    const double* wu, const double* dout, double* dx, double* dwg, double* dwu, double* tdx,
                    double* tdwg, double* tdwu) {
    size_t nh = (size_t)(rows * hidden > 0 ? rows * hidden : 1);
    double *dg = calloc(nh, sizeof(double)), *du = calloc(nh, sizeof(double));
    double *eg = calloc(nh, sizeof(double)), *eu = calloc(nh, sizeof(double));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < hidden; h++) {
            double g = 0, u = 0, mg = 0, mu = 0;
            for (int64_t j = 0; j < in; j++) {
                double tg = x[r * in + j] * wg[h * in + j], tu2 = x[r * in + j] * wu[h * in + j];
                g += tg, u += tu2, mg += fabs(tg), mu += fabs(tu2);
            }
            int64_t i = r * hidden + h;
            double d = dout[i], a = act_ref(act, g), ap = act_grad_ref(act, g);
            dg[i] = d * u * ap;
            du[i] = d * a;
            /* float32 gate and up are off by at most errg, erru; that moves act by
             * |act'| errg <= 1.2 errg and act' by |act''| errg <= errg; act and act' are
             * a few float32 ulps themselves (as act_tol). */
            double errg = acc_tol(in, mg), erru = acc_tol(in, mu);
            eg[i] = fabs(d) * (fabs(ap) * erru + fabs(u) * errg) + 16 * U * (fabs(dg[i]) + fabs(g) * (1 + fabs(d * u)));
            eu[i] = 1.2 * fabs(d) * errg + 16 * U * (fabs(du[i]) + fabs(g) * (1 + fabs(d)));
        }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < in; j++) {
            double s = 0, mag = 0, prop = 0;
            for (int64_t h = 0; h < hidden; h++) {
                int64_t i = r * hidden + h;
                double t1 = dg[i] * wg[h * in + j], t2 = du[i] * wu[h * in + j];
                s += t1 + t2, mag += fabs(t1) + fabs(t2);
                prop += eg[i] * fabs(wg[h * in + j]) + eu[i] * fabs(wu[h * in + j]);
            }
            dx[r * in + j] = s;
            if (tdx) tdx[r * in + j] = acc_tol(2 * hidden, mag) + prop;
        }
    for (int64_t h = 0; h < hidden; h++)
        for (int64_t j = 0; j < in; j++) {
            double sg = 0, su = 0, mg = 0, mu = 0, pg = 0, pu = 0;
            for (int64_t r = 0; r < rows; r++) {
                int64_t i = r * hidden + h;
                double xv = x[r * in + j];
                sg += dg[i] * xv, mg += fabs(dg[i] * xv), pg += eg[i] * fabs(xv);
                su += du[i] * xv, mu += fabs(du[i] * xv), pu += eu[i] * fabs(xv);
            }
            dwg[h * in + j] = sg, dwu[h * in + j] = su;
            if (tdwg) tdwg[h * in + j] = acc_tol(rows, mg) + pg;
            if (tdwu) tdwu[h * in + j] = acc_tol(rows, mu) + pu;
        }
    free(dg), free(du), free(eg), free(eu);
}

/* The forward loss L = sum(dout * act(x wg^T) * (x wu^T)) in double. */
static double glb_loss(int act, int64_t rows, int64_t in, int64_t hidden, const double* x, const double* wg,
                       const double* wu, const double* dout) {
    double L = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < hidden; h++) {
            double g = 0, u = 0;
            for (int64_t j = 0; j < in; j++) g += x[r * in + j] * wg[h * in + j], u += x[r * in + j] * wu[h * in + j];
            L += dout[r * hidden + h] * act_ref(act, g) * u;
        }
    return L;
}

/* The reference's gradients are the analytic ones: central differences of glb_loss (step
 * 1e-6, truncation ~1e-13, rounding ~1e-10) agree with every entry of dx, dw_gate and
 * dw_up to 1e-8 (1 + |g|). This checks the reference, not the library. */
static void check_glb_reference(void) {
    enum { R = 2, IN = 3, H = 2 };
    tu_rand rnd = {77};
    int bad = 0;
    for (int act = MLXP_ACT_SILU; act <= MLXP_ACT_GELU_TANH; act++) {
        double x[R * IN], wg[H * IN], wu[H * IN], dout[R * H], dx[R * IN], dwg[H * IN], dwu[H * IN];
        for (int i = 0; i < R * IN; i++) x[i] = tu_uniform(&rnd, -1.5, 1.5);
        for (int i = 0; i < H * IN; i++) wg[i] = tu_uniform(&rnd, -1.5, 1.5), wu[i] = tu_uniform(&rnd, -1.5, 1.5);
        for (int i = 0; i < R * H; i++) dout[i] = tu_uniform(&rnd, -1, 1);
        glb_ref(act, R, IN, H, x, wg, wu, dout, dx, dwg, dwu, NULL, NULL, NULL);
        double* params[3] = {x, wg, wu};
        const double* grads[3] = {dx, dwg, dwu};
        const int sizes[3] = {R * IN, H * IN, H * IN};
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < sizes[p]; i++) {
                double v = params[p][i];
                params[p][i] = v + 1e-6;
                double lp = glb_loss(act, R, IN, H, x, wg, wu, dout);
                params[p][i] = v - 1e-6;
                double lm = glb_loss(act, R, IN, H, x, wg, wu, dout);
                params[p][i] = v;
                double fd = (lp - lm) / 2e-6;
                if (fabs(fd - grads[p][i]) > 1e-8 * (1 + fabs(grads[p][i])) && bad++ < 3)
                    fprintf(stderr, "gated_linear_backward reference %s: arg %d [%d] %.12g, finite difference %.12g\n",
                            act_name[act], p, i, grads[p][i], fd);
            }
    }
    CHECK(bad == 0, "gated_linear_backward reference vs finite differences: %d entries differ", bad);
}

typedef struct {
    int act;
    tu_dt x, w, dout, dx, dw; /* dtypes of x; w_gate and w_up; dout; dx; dw_gate and dw_up */
    int ndim;                 /* x's: 1, 2 or 3 */
    int64_t lead[2];          /* x's ndim - 1 leading dims */
    int64_t in, hidden;
    int strided;              /* x and dx strided views with gaps, dw_up stored column-major */
    int no_dx, no_dw;         /* pass NULL for dx; for dw_gate and dw_up */
    int threads;              /* also run with 1 and 2 threads and compare bit for bit */
} glb_case;

/* Strides of a [..., n] view whose rows are rs elements apart and columns cs apart. */
static void row_view_strides(int ndim, const int64_t* shape, int64_t rs, int64_t cs, int64_t* strides) {
    strides[ndim - 1] = cs;
    if (ndim >= 2) strides[ndim - 2] = rs;
    for (int d = ndim - 3; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
}

/* Output value as a float at the reference's tolerance for its dtype: the float32 bound,
 * the single rounding, and half float16's smallest subnormal step for tiny values. */
static double glb_out_tol(double tol32, double ref, tu_dt dt) {
    return tol32 + out_rtol(dt) * fabs(ref) + (dt == TU_F16 ? 0x1p-25 : 0);
}

static void run_gated_linear_backward(const glb_case* c, uint64_t seed) {
    char name[200], shp[48] = "";
    int64_t rows = 1, in = c->in, hid = c->hidden;
    int64_t xshape[3], oshape[3], wshape[2] = {hid, in};
    for (int d = 0; d < c->ndim - 1; d++) {
        xshape[d] = oshape[d] = c->lead[d], rows *= c->lead[d];
        snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%lld,", (long long)c->lead[d]);
    }
    xshape[c->ndim - 1] = in, oshape[c->ndim - 1] = hid;
    snprintf(name, sizeof name, "gated_linear_backward %s x %s w %s dout %s dx %s dw %s x [%s%lld] hidden%lld%s%s%s",
             act_name[c->act], tu_dt_name[c->x], tu_dt_name[c->w], tu_dt_name[c->dout], tu_dt_name[c->dx],
             tu_dt_name[c->dw], shp, (long long)in, (long long)hid, c->strided ? " strided" : "",
             c->no_dx ? " no dx" : "", c->no_dw ? " no dw" : "");
    tu_rand r = {seed};
    /* x[r, j] at r xrs + j xcs, dx[r, j] at r grs + j gcs; the strided views leave gaps. */
    int64_t xcs = c->strided ? 2 : 1, xrs = c->strided ? 2 * in + 3 : in;
    int64_t gcs = c->strided ? 3 : 1, grs = c->strided ? 3 * in + 2 : in;
    int64_t xstr[3], gstr[3], wtstr[2] = {1, hid};
    row_view_strides(c->ndim, xshape, xrs, xcs, xstr);
    row_view_strides(c->ndim, xshape, grs, gcs, gstr);
    kbuf x = kb_new(c->x, rows * xrs), wg = kb_new(c->w, hid * in), wu = kb_new(c->w, hid * in),
         dout = kb_new(c->dout, rows * hid), dx = kb_new(c->dx, rows * grs), dwg = kb_new(c->dw, hid * in),
         dwu = kb_new(c->dw, hid * in);
    kb_fill(&x, &r, -1, 1);
    kb_fill(&wg, &r, -1, 1);
    kb_fill(&wu, &r, -1, 1);
    kb_fill(&dout, &r, -1, 1);
    kb_sentinel(&dx), kb_sentinel(&dwg), kb_sentinel(&dwu);
    mlxp_tensor tx = kb_tensor(&x, c->ndim, xshape, c->strided ? xstr : NULL), tg = kb_tensor(&wg, 2, wshape, NULL),
                tu = kb_tensor(&wu, 2, wshape, NULL), tdo = kb_tensor(&dout, c->ndim, oshape, NULL),
                tdx = kb_tensor(&dx, c->ndim, xshape, c->strided ? gstr : NULL),
                tdwg = kb_tensor(&dwg, 2, wshape, NULL), tdwu = kb_tensor(&dwu, 2, wshape, c->strided ? wtstr : NULL);
    mlxp_status st = mlxp_gated_linear_backward(&tx, &tg, &tu, &tdo, c->act, c->no_dx ? NULL : &tdx,
                                                c->no_dw ? NULL : &tdwg, c->no_dw ? NULL : &tdwu);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());

    /* The inputs as the library read them, row-major, and the reference. */
    size_t nx = (size_t)(rows * in > 0 ? rows * in : 1), nw = (size_t)(hid * in > 0 ? hid * in : 1),
           nd = (size_t)(rows * hid > 0 ? rows * hid : 1);
    double *xd = malloc(nx * sizeof(double)), *wgd = malloc(nw * sizeof(double)), *wud = malloc(nw * sizeof(double));
    double *dod = malloc(nd * sizeof(double)), *rdx = malloc(nx * sizeof(double)), *tdx_ = malloc(nx * sizeof(double));
    double *rdwg = malloc(nw * sizeof(double)), *rdwu = malloc(nw * sizeof(double));
    double *tdwg_ = malloc(nw * sizeof(double)), *tdwu_ = malloc(nw * sizeof(double));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < in; j++) xd[i * in + j] = kb_get(&x, i * xrs + j * xcs);
    for (int64_t i = 0; i < hid * in; i++) wgd[i] = kb_get(&wg, i), wud[i] = kb_get(&wu, i);
    for (int64_t i = 0; i < rows * hid; i++) dod[i] = kb_get(&dout, i);
    glb_ref(c->act, rows, in, hid, xd, wgd, wud, dod, rdx, rdwg, rdwu, tdx_, tdwg_, tdwu_);

    int bad = 0;
    if (!c->no_dx) {
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < in; j++) {
                double ref = rdx[i * in + j], got = kb_get(&dx, i * grs + j * gcs);
                if (!near(got, ref, glb_out_tol(tdx_[i * in + j], ref, c->dx)) && bad++ < 3)
                    fprintf(stderr, "%s: dx[%lld, %lld] = %.9g, want %.9g\n", name, (long long)i, (long long)j, got,
                            ref);
            }
        /* Elements between dx's rows and columns keep the sentinel. */
        int touched = 0;
        for (int64_t e = 0; e < dx.n; e++) {
            int64_t col = e % grs;
            if (col % gcs == 0 && col / gcs < in) continue;
            unsigned char* p = (unsigned char*)dx.data + e * (int64_t)tu_size(c->dx);
            for (size_t k = 0; k < tu_size(c->dx); k++) touched += p[k] != 0x5a;
        }
        CHECK(touched == 0, "%s: %d bytes between dx's elements changed", name, touched);
    }
    if (!c->no_dw) {
        int zeros = 0;
        for (int64_t h = 0; h < hid; h++)
            for (int64_t j = 0; j < in; j++) {
                double refg = rdwg[h * in + j], refu = rdwu[h * in + j];
                double gotg = kb_get(&dwg, h * in + j), gotu = kb_get(&dwu, c->strided ? j * hid + h : h * in + j);
                int ok = near(gotg, refg, glb_out_tol(tdwg_[h * in + j], refg, c->dw)) &&
                         near(gotu, refu, glb_out_tol(tdwu_[h * in + j], refu, c->dw));
                if (!ok && bad++ < 3)
                    fprintf(stderr, "%s: dw_gate[%lld, %lld] = %.9g (want %.9g), dw_up %.9g (want %.9g)\n", name,
                            (long long)h, (long long)j, gotg, refg, gotu, refu);
                zeros += gotg == 0 && gotu == 0;
            }
        /* No rows: the sums are empty and both weight gradients are exactly zero. */
        if (rows == 0)
            CHECK(zeros == hid * in, "%s: %lld of %lld dw entries are not 0", name, (long long)(hid * in - zeros),
                  (long long)(hid * in));
    }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);

    /* The same call with 1 and with 2 threads writes the same bits. */
    if (c->threads) {
        int32_t threads0 = 0;
        CHECK_OK(mlxp_get_num_threads(&threads0));
        kbuf out[2][3];
        for (int t = 0; t < 2; t++) {
            CHECK_OK(mlxp_set_num_threads(t + 1));
            out[t][0] = kb_new(c->dx, dx.n), out[t][1] = kb_new(c->dw, dwg.n), out[t][2] = kb_new(c->dw, dwu.n);
            tdx.data = out[t][0].data, tdwg.data = out[t][1].data, tdwu.data = out[t][2].data;
            CHECK_OK(mlxp_gated_linear_backward(&tx, &tg, &tu, &tdo, c->act, &tdx, &tdwg, &tdwu));
        }
        CHECK_OK(mlxp_set_num_threads(threads0));
        for (int k = 0; k < 3; k++) {
            size_t bytes = (size_t)out[0][k].n * tu_size(out[0][k].dt);
            CHECK(memcmp(out[0][k].data, out[1][k].data, bytes) == 0, "%s: output %d differs between 1 and 2 threads",
                  name, k);
            kb_free(&out[0][k]), kb_free(&out[1][k]);
        }
    }
    free(xd), free(wgd), free(wud), free(dod), free(rdx), free(tdx_), free(rdwg), free(rdwu), free(tdwg_), free(tdwu_);
    kb_free(&x), kb_free(&wg), kb_free(&wu), kb_free(&dout), kb_free(&dx), kb_free(&dwg), kb_free(&dwu);
}

static void test_gated_linear_backward(void) {
    check_glb_reference();
    uint64_t seed = 3000;
    /* in 37, 21, 19, 1 are not multiples of 16 (vector tails); 64 is. */
    for (int act = MLXP_ACT_SILU; act <= MLXP_ACT_GELU_TANH; act++) {
        const glb_case cases[] = {
            {.act = act, .x = TU_F32, .w = TU_F32, .dout = TU_F32, .dx = TU_F32, .dw = TU_F32, .ndim = 2, .lead = {5},
             .in = 37, .hidden = 19},
            {.act = act, .x = TU_BF16, .w = TU_BF16, .dout = TU_BF16, .dx = TU_F32, .dw = TU_F32, .ndim = 3,
             .lead = {2, 3}, .in = 21, .hidden = 17},
            {.act = act, .x = TU_F32, .w = TU_F32, .dout = TU_BF16, .dx = TU_F16, .dw = TU_F16, .ndim = 1, .in = 37,
             .hidden = 23},
            {.act = act, .x = TU_F32, .w = TU_F32, .dout = TU_F32, .dx = TU_F32, .dw = TU_F32, .ndim = 3,
             .lead = {2, 2}, .in = 19, .hidden = 9, .strided = 1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_gated_linear_backward(&cases[i], seed++);
    }
    const glb_case cases[] = {
        /* strided bfloat16 x into a float16 dx */
        {.act = MLXP_ACT_GELU, .x = TU_BF16, .w = TU_BF16, .dout = TU_F32, .dx = TU_F16, .dw = TU_BF16, .ndim = 2,
         .lead = {6}, .in = 21, .hidden = 11, .strided = 1},
        /* every tensor its own dtype */
        {.act = MLXP_ACT_SILU, .x = TU_BF16, .w = TU_F32, .dout = TU_F16, .dx = TU_F16, .dw = TU_BF16, .ndim = 2,
         .lead = {3}, .in = 64, .hidden = 33},
        /* only dx; only dw */
        {.act = MLXP_ACT_GELU_TANH, .x = TU_F16, .w = TU_F16, .dout = TU_F32, .dx = TU_BF16, .ndim = 3, .lead = {2, 2},
         .in = 37, .hidden = 13, .no_dw = 1},
        {.act = MLXP_ACT_GELU, .x = TU_F32, .w = TU_BF16, .dout = TU_F32, .dw = TU_F32, .ndim = 2, .lead = {7},
         .in = 19, .hidden = 21, .no_dx = 1},
        {.act = MLXP_ACT_SILU, .x = TU_F32, .w = TU_F32, .dout = TU_F32, .dx = TU_F32, .ndim = 2, .lead = {4}, .in = 21,
         .hidden = 5, .no_dw = 1, .strided = 1},
        /* in 1, hidden 1 */
        {.act = MLXP_ACT_GELU_TANH, .ndim = 2, .lead = {4}, .in = 1, .hidden = 1},
        /* zero rows: dw comes out all zero (over a sentinel), dx has nothing to write */
        {.act = MLXP_ACT_SILU, .dw = TU_F32, .ndim = 2, .lead = {0}, .in = 37, .hidden = 5},
        {.act = MLXP_ACT_GELU, .x = TU_BF16, .w = TU_BF16, .dw = TU_BF16, .dx = TU_F16, .ndim = 3, .lead = {3, 0},
         .in = 5, .hidden = 7, .strided = 1},
        /* hidden 0: the sums over hidden are empty and dx comes out exactly 0 */
        {.act = MLXP_ACT_GELU_TANH, .x = TU_BF16, .w = TU_BF16, .dx = TU_BF16, .ndim = 2, .lead = {3}, .in = 7,
         .hidden = 0, .strided = 1},
        /* large enough to split across threads */
        {.act = MLXP_ACT_GELU, .ndim = 2, .lead = {64}, .in = 45, .hidden = 40, .threads = 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_gated_linear_backward(&cases[i], seed++);
}

/* ======================================================================================
 * LayerNorm and GroupNorm (forward)
 * ==================================================================================== */

/* Normalizes `rows` groups; group g has n elements at index idx(g, e); channel(g, e) picks
 * the weight/bias entry. Shared by the LayerNorm and GroupNorm references. */
typedef struct {
    int64_t rows, n;
    int64_t (*idx)(const void* ctx, int64_t g, int64_t e);
    int64_t (*chan)(const void* ctx, int64_t g, int64_t e);
    const void* ctx;
} norm_geom;

typedef struct {
    tu_dt xdt, wdt, bdt, rdt;
    int with_w, with_b, with_res, with_rout, in_place;
    float eps;
} norm_opts;

/* Checks out (and residual_out) of a forward norm call: x, res, w, b are the inputs as the
 * library read them (res may be NULL), out/rout the results, all contiguous element-indexed
 * by geom. */
static void check_norm_forward(const char* name, const norm_geom* gm, const norm_opts* o, const kbuf* x,
                               const kbuf* res, const kbuf* w, const kbuf* b, const kbuf* out, const kbuf* rout) {
    int bad = 0, bad_rout = 0;
    double* h = malloc(sizeof(double) * (size_t)gm->n);
    for (int64_t g = 0; g < gm->rows; g++) {
        double mean = 0, var = 0;
        for (int64_t e = 0; e < gm->n; e++) {
            int64_t i = gm->idx(gm->ctx, g, e);
            /* h = x + residual as an unfused add rounded to x's dtype */
            h[e] = res ? (double)tu_round(o->xdt, (float)kb_get(x, i) + (float)kb_get(res, i)) : kb_get(x, i);
            mean += h[e];
        }
        mean /= (double)gm->n;
        for (int64_t e = 0; e < gm->n; e++) var += (h[e] - mean) * (h[e] - mean);
        var /= (double)gm->n;
        double rs = 1 / sqrt(var + o->eps);
        for (int64_t e = 0; e < gm->n; e++) {
            int64_t i = gm->idx(gm->ctx, g, e), c = gm->chan(gm->ctx, g, e);
            double xh = (h[e] - mean) * rs, wv = w ? kb_get(w, c) : 1, bv = b ? kb_get(b, c) : 0;
            double ref = xh * wv + bv;
            double tol = 8 * (double)(gm->n + 4) * U * (1 + fabs(xh)) * fabs(wv) + 2 * U * fabs(bv) + out_rtol(o->xdt) * fabs(ref);
            double got = kb_get(out, i);
            if (!near(got, ref, tol) && bad++ < 3)
                fprintf(stderr, "%s: out[%lld] = %.9g, want %.9g\n", name, (long long)i, got, ref);
            if (rout) bad_rout += kb_get(rout, i) != h[e];
        }
    }
    free(h);
    CHECK(bad == 0, "%s: %d out elements wrong", name, bad);
    CHECK(bad_rout == 0, "%s: %d residual_out elements differ from x + residual", name, bad_rout);
}

typedef struct {
    int64_t D;
} ln_ctx;

static int64_t ln_idx(const void* ctx, int64_t g, int64_t e) { return g * ((const ln_ctx*)ctx)->D + e; }
static int64_t ln_chan(const void* ctx, int64_t g, int64_t e) { (void)ctx, (void)g; return e; }

typedef struct {
    int64_t C, G, S; /* channels, groups, spatial size */
} gn_ctx;

/* group g = (sample n, group q): its elements are channels q*C/G .. of sample n, every
 * spatial position. */
static int64_t gn_idx(const void* ctx, int64_t g, int64_t e) {
    const gn_ctx* c = ctx;
    int64_t n = g / c->G, q = g % c->G, cpg = c->C / c->G;
    return (n * c->C + q * cpg + e / c->S) * c->S + e % c->S;
}
static int64_t gn_chan(const void* ctx, int64_t g, int64_t e) {
    const gn_ctx* c = ctx;
    return (g % c->G) * (c->C / c->G) + e / c->S;
}

/* layer_norm or group_norm on x of shape `shape` (contiguous), options o. */
static void run_norm(int group, int32_t ndim, int64_t* shape, int G, const norm_opts* o, uint64_t seed) {
    char name[128];
    snprintf(name, sizeof name, "%s %s w%d(%s) b%d(%s) res%d(%s) rout%d inplace%d", group ? "group_norm" : "layer_norm",
             tu_dt_name[o->xdt], o->with_w, tu_dt_name[o->wdt], o->with_b, tu_dt_name[o->bdt], o->with_res,
             tu_dt_name[o->rdt], o->with_rout, o->in_place);
    tu_rand r = {seed};
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t C = group ? shape[1] : shape[ndim - 1];
    /* The residual has x's dtype when it is also an output (in place). */
    tu_dt rdt = o->in_place ? o->xdt : o->rdt;
    kbuf x = kb_new(o->xdt, n), res = kb_new(rdt, n), w = kb_new(o->wdt, C), b = kb_new(o->bdt, C);
    kbuf out = kb_new(o->xdt, n), rout = kb_new(o->xdt, n);
    kb_fill(&x, &r, -1.5, 2);
    kb_fill(&res, &r, -1, 1);
    kb_fill(&w, &r, 0.5, 1.5);
    kb_fill(&b, &r, -1, 1);
    kb_sentinel(&out);
    kb_sentinel(&rout);
    kbuf x0 = kb_new(o->xdt, n), res0 = kb_new(rdt, n);
    memcpy(x0.data, x.data, (size_t)n * tu_size(o->xdt));
    memcpy(res0.data, res.data, (size_t)n * tu_size(rdt));
    int64_t cshape[1] = {C};
    mlxp_tensor tx = kb_tensor(&x, ndim, shape, NULL), tr = kb_tensor(&res, ndim, shape, NULL),
                tw = kb_tensor(&w, 1, cshape, NULL), tb = kb_tensor(&b, 1, cshape, NULL),
                to = kb_tensor(&out, ndim, shape, NULL), tro = kb_tensor(&rout, ndim, shape, NULL);
    mlxp_norm_params p;
    CHECK_OK(mlxp_norm_params_init(&p));
    p.eps = o->eps;
    p.num_groups = G;
    /* In place: out is x and residual_out is the residual. */
    mlxp_tensor* po = o->in_place ? &tx : &to;
    mlxp_tensor* pro = o->with_rout ? (o->in_place ? &tr : &tro) : NULL;
    mlxp_status st = group ? mlxp_group_norm(&tx, o->with_w ? &tw : NULL, o->with_b ? &tb : NULL,
                                             o->with_res ? &tr : NULL, po, pro, &p)
                           : mlxp_layer_norm(&tx, o->with_w ? &tw : NULL, o->with_b ? &tb : NULL,
                                             o->with_res ? &tr : NULL, po, pro, &p);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());

    ln_ctx lc = {C};
    gn_ctx gc = {C, G, group ? n / (shape[0] * C) : 1};
    norm_geom gm;
    if (group) {
        gm.rows = shape[0] * G, gm.n = n / (shape[0] * G), gm.idx = gn_idx, gm.chan = gn_chan, gm.ctx = &gc;
    } else {
        gm.rows = n / C, gm.n = C, gm.idx = ln_idx, gm.chan = ln_chan, gm.ctx = &lc;
    }
    kbuf* pout = o->in_place ? &x : &out;
    kbuf* prout = o->with_rout ? (o->in_place ? &res : &rout) : NULL;
    check_norm_forward(name, &gm, o, &x0, o->with_res ? &res0 : NULL, o->with_w ? &w : NULL, o->with_b ? &b : NULL,
                       pout, prout);
    if (!o->in_place && !o->with_rout) {
        kb_sentinel(&x0); /* reuse as a sentinel pattern */
        CHECK(memcmp(rout.data, x0.data, (size_t)n * tu_size(o->xdt)) == 0, "%s: residual_out written", name);
    }
    kb_free(&x), kb_free(&res), kb_free(&w), kb_free(&b), kb_free(&out), kb_free(&rout), kb_free(&x0), kb_free(&res0);
}

static void test_norms(void) {
    mlxp_norm_params d;
    CHECK_OK(mlxp_norm_params_init(&d));
    CHECK(d.struct_size == sizeof d && d.eps == 1e-5f && d.num_groups == 1, "norm_params_init defaults");
    uint64_t seed = 900;
    static const int64_t Ds[3] = {1, 7, 33};
    for (int i = 0; i < 3; i++) {
        int64_t shape[3] = {2, 3, Ds[i]};
        norm_opts o = {TU_F32, TU_F32, TU_F32, TU_F32, 1, 1, 1, 1, 0, 1e-5f};
        run_norm(0, 3, shape, 1, &o, seed++);
        norm_opts o2 = {TU_BF16, TU_F32, TU_F16, TU_F16, 1, 1, 1, 1, 0, 1e-3f};
        run_norm(0, 3, shape, 1, &o2, seed++);
        norm_opts o3 = {TU_F16, TU_F16, TU_F16, TU_F16, 0, 0, 0, 0, 0, 0.0f};
        if (Ds[i] > 1) run_norm(0, 3, shape, 1, &o3, seed++); /* eps 0 needs a nonzero variance */
        norm_opts o4 = {TU_F32, TU_BF16, TU_F32, TU_F32, 1, 0, 1, 1, 1, 1e-5f};
        run_norm(0, 3, shape, 1, &o4, seed++);
    }
    /* GroupNorm: x [N, C, H, W] and [N, C]; G = 1, 3 and C (instance norm). */
    {
        int64_t s4[4] = {2, 6, 3, 5}, s2[2] = {3, 6}, s3[3] = {1, 9, 7};
        norm_opts o = {TU_F32, TU_F32, TU_F32, TU_F32, 1, 1, 0, 0, 0, 1e-5f};
        run_norm(1, 4, s4, 3, &o, seed++);
        run_norm(1, 4, s4, 1, &o, seed++);
        run_norm(1, 4, s4, 6, &o, seed++);
        run_norm(1, 3, s3, 3, &o, seed++);
        norm_opts o2 = {TU_F16, TU_BF16, TU_F32, TU_BF16, 1, 1, 1, 1, 0, 1e-4f};
        run_norm(1, 4, s4, 2, &o2, seed++);
        run_norm(1, 2, s2, 3, &o2, seed++);
        norm_opts o3 = {TU_BF16, TU_F32, TU_F32, TU_BF16, 1, 0, 1, 1, 1, 1e-5f};
        run_norm(1, 4, s4, 3, &o3, seed++);
    }
    /* A strided x: LayerNorm over the columns of a transposed view. */
    {
        enum { R = 5, D = 7 };
        tu_rand r = {77};
        kbuf xt = kb_new(TU_F32, D * R), x = kb_new(TU_F32, R * D), out = kb_new(TU_F32, R * D);
        kb_fill(&xt, &r, -2, 2);
        for (int i = 0; i < R; i++)
            for (int j = 0; j < D; j++) kb_set(&x, i * D + j, kb_get(&xt, j * R + i));
        int64_t shape[2] = {R, D}, strides[2] = {1, R};
        mlxp_tensor tx = kb_tensor(&xt, 2, shape, strides), to = kb_tensor(&out, 2, shape, NULL);
        CHECK_OK(mlxp_layer_norm(&tx, NULL, NULL, NULL, &to, NULL, NULL));
        ln_ctx lc = {D};
        norm_geom gm = {R, D, ln_idx, ln_chan, &lc};
        norm_opts o = {TU_F32, TU_F32, TU_F32, TU_F32, 0, 0, 0, 0, 0, 1e-5f};
        check_norm_forward("layer_norm strided x (default eps)", &gm, &o, &x, NULL, NULL, NULL, &out, NULL);
        kb_free(&xt), kb_free(&x), kb_free(&out);
    }
}

/* ======================================================================================
 * Normalization backward passes
 * ==================================================================================== */

/* kind 0: rms_norm, 1: layer_norm, 2: group_norm. h, dy, dres contiguous with shape;
 * checks dx, dweight and dbias against the header's formulas:
 *   rms:   r = 1/sqrt(mean(h^2) + eps), g = dy w, dx = r g - h r^3 mean(g h) (+ dres),
 *          dweight = sum_rows dy h r
 *   layer/group (per group): xhat = (h - mean) r, r = 1/sqrt(var + eps), g = dy w,
 *          dx = r (g - mean(g) - xhat mean(g xhat)) (+ dres), dweight = sum dy xhat,
 *          dbias = sum dy. */
static void run_norm_backward(int kind, int32_t ndim, int64_t* shape, int G, tu_dt hdt, tu_dt dydt, tu_dt dxdt,
                              int with_w, int with_dres, int dx_is_dy, int null_params, uint64_t seed) {
    static const char* const kn[3] = {"rms_norm_backward", "layer_norm_backward", "group_norm_backward"};
    char name[128];
    snprintf(name, sizeof name, "%s h %s dy %s dx %s w%d dres%d inplace%d G%d", kn[kind], tu_dt_name[hdt],
             tu_dt_name[dydt], tu_dt_name[dxdt], with_w, with_dres, dx_is_dy, G);
    tu_rand r = {seed};
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    int64_t C = kind == 2 ? shape[1] : shape[ndim - 1];
    if (dx_is_dy) dxdt = dydt;
    kbuf h = kb_new(hdt, n), dy = kb_new(dydt, n), dres = kb_new(TU_F32, n), w = kb_new(TU_F32, C);
    kbuf dx = kb_new(dxdt, n), dw = kb_new(TU_F32, C), db = kb_new(TU_F32, C);
    kb_fill(&h, &r, -1.5, 2);
    kb_fill(&dy, &r, -1, 1);
    kb_fill(&dres, &r, -1, 1);
    kb_fill(&w, &r, 0.5, 1.5);
    kb_sentinel(&dx);
    kb_sentinel(&dw);
    kb_sentinel(&db);
    kbuf dy0 = kb_new(dydt, n);
    memcpy(dy0.data, dy.data, (size_t)n * tu_size(dydt));
    int64_t cshape[1] = {C};
    mlxp_tensor th = kb_tensor(&h, ndim, shape, NULL), tdy = kb_tensor(&dy, ndim, shape, NULL),
                tdr = kb_tensor(&dres, ndim, shape, NULL), tw = kb_tensor(&w, 1, cshape, NULL),
                tdx = kb_tensor(&dx, ndim, shape, NULL), tdw = kb_tensor(&dw, 1, cshape, NULL),
                tdb = kb_tensor(&db, 1, cshape, NULL);
    mlxp_norm_params p;
    CHECK_OK(mlxp_norm_params_init(&p));
    p.eps = 1e-3f;
    p.num_groups = G;
    const mlxp_norm_params* pp = null_params ? NULL : &p;
    /* NULL params: eps 1e-6 for RMSNorm, 1e-5 otherwise (num_groups 1). */
    double eps = null_params ? (kind == 0 ? (double)1e-6f : (double)1e-5f) : (double)p.eps;
    mlxp_tensor* pdx = dx_is_dy ? &tdy : &tdx;
    mlxp_status st;
    if (kind == 0)
        st = mlxp_rms_norm_backward(&th, with_w ? &tw : NULL, &tdy, with_dres ? &tdr : NULL, pdx, &tdw, pp);
    else if (kind == 1)
        st = mlxp_layer_norm_backward(&th, with_w ? &tw : NULL, &tdy, with_dres ? &tdr : NULL, pdx, &tdw, &tdb, pp);
    else
        st = mlxp_group_norm_backward(&th, with_w ? &tw : NULL, &tdy, with_dres ? &tdr : NULL, pdx, &tdw, &tdb, pp);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());

    ln_ctx lc = {C};
    gn_ctx gc = {C, G, kind == 2 ? n / (shape[0] * C) : 1};
    norm_geom gm;
    if (kind == 2) {
        gm.rows = shape[0] * G, gm.n = n / (shape[0] * G), gm.idx = gn_idx, gm.chan = gn_chan, gm.ctx = &gc;
    } else {
        gm.rows = n / C, gm.n = C, gm.idx = ln_idx, gm.chan = ln_chan, gm.ctx = &lc;
    }
    double* rdw = calloc((size_t)C, sizeof(double));
    double* rdb = calloc((size_t)C, sizeof(double));
    double* mdw = calloc((size_t)C, sizeof(double)); /* magnitudes, for the tolerance */
    double* mdb = calloc((size_t)C, sizeof(double));
    double* xh = malloc(sizeof(double) * (size_t)gm.n);
    double* gg = malloc(sizeof(double) * (size_t)gm.n);
    kbuf* rdx = dx_is_dy ? &dy : &dx;
    int bad = 0;
    double nn = (double)gm.n;
    for (int64_t g = 0; g < gm.rows; g++) {
        double mean = 0, var = 0, ms = 0;
        for (int64_t e = 0; e < gm.n; e++) {
            double v = kb_get(&h, gm.idx(gm.ctx, g, e));
            mean += v, ms += v * v;
        }
        mean /= nn, ms /= nn;
        for (int64_t e = 0; e < gm.n; e++) {
            double v = kb_get(&h, gm.idx(gm.ctx, g, e)) - mean;
            var += v * v;
        }
        var /= nn;
        double rs = kind == 0 ? 1 / sqrt(ms + eps) : 1 / sqrt(var + eps);
        double mg = 0, mgx = 0, mag = 0;
        for (int64_t e = 0; e < gm.n; e++) {
            int64_t i = gm.idx(gm.ctx, g, e), c = gm.chan(gm.ctx, g, e);
            double hv = kb_get(&h, i), dv = kb_get(&dy0, i);
            xh[e] = kind == 0 ? hv * rs : (hv - mean) * rs;
            gg[e] = dv * (with_w ? kb_get(&w, c) : 1);
            mg += gg[e], mgx += gg[e] * xh[e], mag += fabs(gg[e]) * (1 + fabs(xh[e]));
            rdw[c] += dv * xh[e], mdw[c] += fabs(dv * xh[e]);
            rdb[c] += dv, mdb[c] += fabs(dv);
        }
        mg /= nn, mgx /= nn, mag /= nn;
        for (int64_t e = 0; e < gm.n; e++) {
            int64_t i = gm.idx(gm.ctx, g, e);
            /* rms: r g - h r^3 mean(g h) = r (g - xhat mean(g xhat)) with xhat = h r */
            double ref = kind == 0 ? rs * (gg[e] - xh[e] * mgx) : rs * (gg[e] - mg - xh[e] * mgx);
            double dr = with_dres ? kb_get(&dres, i) : 0;
            ref += dr;
            double tol = 8 * (nn + 4) * U * rs * (fabs(gg[e]) + mag * (1 + fabs(xh[e]))) + 2 * U * fabs(dr) +
                         out_rtol(dxdt) * fabs(ref);
            double got = kb_get(rdx, i);
            if (!near(got, ref, tol) && bad++ < 3)
                fprintf(stderr, "%s: dx[%lld] = %.9g, want %.9g\n", name, (long long)i, got, ref);
        }
    }
    CHECK(bad == 0, "%s: %d dx elements wrong", name, bad);
    int bad_w = 0, bad_b = 0;
    int64_t terms = gm.rows * gm.n / C;
    for (int64_t c = 0; c < C; c++) {
        double tw_ = 8 * (double)(gm.n + terms + 4) * U * mdw[c];
        if (!near(kb_get(&dw, c), rdw[c], tw_) && bad_w++ < 3)
            fprintf(stderr, "%s: dweight[%lld] = %.9g, want %.9g\n", name, (long long)c, kb_get(&dw, c), rdw[c]);
        if (kind != 0 && !near(kb_get(&db, c), rdb[c], acc_tol(terms, mdb[c])) && bad_b++ < 3)
            fprintf(stderr, "%s: dbias[%lld] = %.9g, want %.9g\n", name, (long long)c, kb_get(&db, c), rdb[c]);
    }
    CHECK(bad_w == 0, "%s: %d dweight elements wrong", name, bad_w);
    CHECK(bad_b == 0, "%s: %d dbias elements wrong", name, bad_b);
    free(rdw), free(rdb), free(mdw), free(mdb), free(xh), free(gg);
    kb_free(&h), kb_free(&dy), kb_free(&dres), kb_free(&w), kb_free(&dx), kb_free(&dw), kb_free(&db), kb_free(&dy0);
}

/* The backward formulas of the header are the analytic gradients: a central finite
 * difference of the forward pass in double (LayerNorm, one row, weight, loss sum(dy*out))
 * agrees with them to 1e-6. This checks the reference, not the library. */
static void check_backward_reference(void) {
    enum { D = 7 };
    double h[D], dy[D], w[D];
    tu_rand r = {3};
    for (int j = 0; j < D; j++) h[j] = tu_uniform(&r, -1, 1), dy[j] = tu_uniform(&r, -1, 1), w[j] = tu_uniform(&r, 0.5, 1.5);
    double eps = 1e-3;
#define LN_LOSS(hv, out)                                                                     \
    do {                                                                                     \
        double m_ = 0, v_ = 0;                                                               \
        for (int j_ = 0; j_ < D; j_++) m_ += (hv)[j_] / D;                                   \
        for (int j_ = 0; j_ < D; j_++) v_ += ((hv)[j_] - m_) * ((hv)[j_] - m_) / D;          \
        (out) = 0;                                                                           \
        for (int j_ = 0; j_ < D; j_++) (out) += dy[j_] * ((hv)[j_] - m_) / sqrt(v_ + eps) * w[j_]; \
    } while (0)
    double mean = 0, var = 0;
    for (int j = 0; j < D; j++) mean += h[j] / D;
    for (int j = 0; j < D; j++) var += (h[j] - mean) * (h[j] - mean) / D;
    double rs = 1 / sqrt(var + eps), mg = 0, mgx = 0;
    for (int j = 0; j < D; j++) mg += dy[j] * w[j] / D, mgx += dy[j] * w[j] * (h[j] - mean) * rs / D;
    int bad = 0;
    for (int j = 0; j < D; j++) {
        double hp[D], hm[D], lp, lm;
        memcpy(hp, h, sizeof h), memcpy(hm, h, sizeof h);
        hp[j] += 1e-6, hm[j] -= 1e-6;
        LN_LOSS(hp, lp);
        LN_LOSS(hm, lm);
        double fd = (lp - lm) / 2e-6, an = rs * (dy[j] * w[j] - mg - (h[j] - mean) * rs * mgx);
        bad += fabs(fd - an) > 1e-6;
    }
#undef LN_LOSS
    CHECK(bad == 0, "layer_norm backward formula vs finite differences: %d entries differ", bad);
}

static void test_norm_backward(void) {
    check_backward_reference();
    uint64_t seed = 1300;
    static const int64_t Ds[3] = {1, 7, 33};
    for (int kind = 0; kind <= 1; kind++)
        for (int i = 0; i < 3; i++) {
            int64_t shape[2] = {5, Ds[i]};
            if (kind == 1 && Ds[i] == 1) continue; /* one element: xhat is 0, nothing to test */
            run_norm_backward(kind, 2, shape, 1, TU_F32, TU_F32, TU_F32, 1, 1, 0, 0, seed++);
            run_norm_backward(kind, 2, shape, 1, TU_BF16, TU_F32, TU_F16, 1, 0, 0, 0, seed++);
            run_norm_backward(kind, 2, shape, 1, TU_F16, TU_F16, TU_F16, 0, 1, 1, 0, seed++);
            run_norm_backward(kind, 2, shape, 1, TU_F32, TU_F32, TU_F32, 1, 0, 0, 1, seed++);
        }
    int64_t s4[4] = {2, 6, 3, 5}, s3[3] = {3, 4, 7};
    run_norm_backward(2, 4, s4, 3, TU_F32, TU_F32, TU_F32, 1, 1, 0, 0, seed++);
    run_norm_backward(2, 4, s4, 6, TU_F32, TU_BF16, TU_F32, 1, 0, 0, 0, seed++);
    run_norm_backward(2, 3, s3, 2, TU_F16, TU_F32, TU_BF16, 0, 1, 0, 0, seed++);
    run_norm_backward(2, 3, s3, 1, TU_F32, TU_F32, TU_F32, 1, 0, 1, 1, seed++);
}

/* ======================================================================================
 * Activations and GLU
 * ==================================================================================== */

/* x spans [-6, 6] plus exact points; n elements in a [n] view. */
static void fill_act_input(kbuf* x, tu_rand* r) {
    kb_fill(x, r, -6, 6);
    static const double pts[] = {0, -0.0, 1, -1, 0.5, -3, 3};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0] && (int64_t)i < x->n; i++) kb_set(x, (int64_t)i, pts[i]);
}

static double act_tol(double ref, double x, double dy, tu_dt odt) {
    return 16 * U * (fabs(ref) + fabs(x) * (1 + fabs(dy))) + out_rtol(odt) * fabs(ref);
}

static void run_activation(int act, tu_dt xdt, tu_dt odt, int64_t n, int mode, uint64_t seed) {
    /* mode 0: contiguous out; 1: in place (odt = xdt); 2: x read backwards (negative stride) */
    char name[96];
    snprintf(name, sizeof name, "activation %s %s->%s n%lld mode%d", act_name[act], tu_dt_name[xdt], tu_dt_name[odt],
             (long long)n, mode);
    if (mode == 1) odt = xdt;
    tu_rand r = {seed};
    kbuf x = kb_new(xdt, n), o = kb_new(odt, n), x0 = kb_new(xdt, n);
    fill_act_input(&x, &r);
    memcpy(x0.data, x.data, (size_t)n * tu_size(xdt));
    kb_sentinel(&o);
    int64_t shape[1] = {n}, neg[1] = {-1};
    mlxp_tensor tx = kb_tensor(&x, 1, shape, mode == 2 ? neg : NULL), to = kb_tensor(&o, 1, shape, NULL);
    if (mode == 2) tx.byte_offset = (uint64_t)(n - 1) * tu_size(xdt);
    mlxp_status st = mlxp_activation(act, &tx, mode == 1 ? &tx : &to);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    kbuf* res = mode == 1 ? &x : &o;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double xv = kb_get(&x0, mode == 2 ? n - 1 - i : i), ref = act_ref(act, xv), got = kb_get(res, i);
        if (!near(got, ref, act_tol(ref, xv, 0, odt)) && bad++ < 3)
            fprintf(stderr, "%s: act(%.9g) = %.9g, want %.9g\n", name, xv, got, ref);
    }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&x), kb_free(&o), kb_free(&x0);
}

/* dx = dy act'(x); mode 0: separate dx; 1: dx is dy; 2: dx is x. */
static void run_activation_backward(int act, tu_dt xdt, tu_dt dydt, tu_dt dxdt, int mode, uint64_t seed) {
    enum { N = 33 };
    char name[96];
    snprintf(name, sizeof name, "activation_backward %s x %s dy %s dx %s mode%d", act_name[act], tu_dt_name[xdt],
             tu_dt_name[dydt], tu_dt_name[dxdt], mode);
    tu_rand r = {seed};
    if (mode == 1) dxdt = dydt;
    if (mode == 2) dxdt = xdt;
    kbuf x = kb_new(xdt, N), dy = kb_new(dydt, N), dx = kb_new(dxdt, N);
    fill_act_input(&x, &r);
    kb_fill(&dy, &r, -2, 2);
    kb_sentinel(&dx);
    double xv[N], dv[N];
    for (int i = 0; i < N; i++) xv[i] = kb_get(&x, i), dv[i] = kb_get(&dy, i);
    int64_t shape[3] = {3, 1, 11};
    mlxp_tensor tx = kb_tensor(&x, 3, shape, NULL), tdy = kb_tensor(&dy, 3, shape, NULL),
                tdx = kb_tensor(&dx, 3, shape, NULL);
    mlxp_status st = mlxp_activation_backward(act, &tx, &tdy, mode == 1 ? &tdy : mode == 2 ? &tx : &tdx);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    kbuf* res = mode == 1 ? &dy : mode == 2 ? &x : &dx;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double ref = dv[i] * act_grad_ref(act, xv[i]), got = kb_get(res, i);
        if (!near(got, ref, act_tol(ref, xv[i], dv[i], dxdt)) && bad++ < 3)
            fprintf(stderr, "%s: dx at x=%.9g dy=%.9g: %.9g, want %.9g\n", name, xv[i], dv[i], got, ref);
    }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&x), kb_free(&dy), kb_free(&dx);
}

/* out = act(gate) up; mode 0: separate out; 1: out is gate; 2: out is up. */
static void run_glu(int act, tu_dt gdt, tu_dt udt, tu_dt odt, int mode, uint64_t seed) {
    enum { N = 35 };
    char name[96];
    snprintf(name, sizeof name, "glu %s gate %s up %s out %s mode%d", act_name[act], tu_dt_name[gdt], tu_dt_name[udt],
             tu_dt_name[odt], mode);
    tu_rand r = {seed};
    if (mode == 1) odt = gdt;
    if (mode == 2) odt = udt;
    kbuf g = kb_new(gdt, N), u = kb_new(udt, N), o = kb_new(odt, N);
    fill_act_input(&g, &r);
    kb_fill(&u, &r, -2, 2);
    kb_sentinel(&o);
    double gv[N], uv[N];
    for (int i = 0; i < N; i++) gv[i] = kb_get(&g, i), uv[i] = kb_get(&u, i);
    int64_t shape[2] = {5, 7};
    mlxp_tensor tg = kb_tensor(&g, 2, shape, NULL), tu = kb_tensor(&u, 2, shape, NULL), to = kb_tensor(&o, 2, shape, NULL);
    mlxp_status st = mlxp_glu(act, &tg, &tu, mode == 1 ? &tg : mode == 2 ? &tu : &to);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    kbuf* res = mode == 1 ? &g : mode == 2 ? &u : &o;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double ref = act_ref(act, gv[i]) * uv[i], got = kb_get(res, i);
        if (!near(got, ref, act_tol(ref, gv[i], uv[i], odt)) && bad++ < 3)
            fprintf(stderr, "%s: [%d] = %.9g, want %.9g\n", name, i, got, ref);
    }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&g), kb_free(&u), kb_free(&o);
}

/* dgate = dout up act'(gate), dup = dout act(gate); in_place: dgate is gate, dup is up. */
static void run_glu_backward(int act, tu_dt dt, tu_dt gdt, int in_place, uint64_t seed) {
    enum { N = 33 };
    char name[96];
    snprintf(name, sizeof name, "glu_backward %s %s grads %s inplace%d", act_name[act], tu_dt_name[dt],
             tu_dt_name[gdt], in_place);
    tu_rand r = {seed};
    if (in_place) gdt = dt;
    kbuf g = kb_new(dt, N), u = kb_new(dt, N), dout = kb_new(TU_F32, N), dg = kb_new(gdt, N), du = kb_new(gdt, N);
    fill_act_input(&g, &r);
    kb_fill(&u, &r, -2, 2);
    kb_fill(&dout, &r, -1, 1);
    kb_sentinel(&dg);
    kb_sentinel(&du);
    double gv[N], uv[N], dv[N];
    for (int i = 0; i < N; i++) gv[i] = kb_get(&g, i), uv[i] = kb_get(&u, i), dv[i] = kb_get(&dout, i);
    int64_t shape[1] = {N};
    mlxp_tensor tg = kb_tensor(&g, 1, shape, NULL), tu = kb_tensor(&u, 1, shape, NULL),
                tdo = kb_tensor(&dout, 1, shape, NULL), tdg = kb_tensor(&dg, 1, shape, NULL),
                tdu = kb_tensor(&du, 1, shape, NULL);
    mlxp_status st = mlxp_glu_backward(act, &tg, &tu, &tdo, in_place ? &tg : &tdg, in_place ? &tu : &tdu);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());
    kbuf* rg = in_place ? &g : &dg;
    kbuf* ru = in_place ? &u : &du;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double refg = dv[i] * uv[i] * act_grad_ref(act, gv[i]), refu = dv[i] * act_ref(act, gv[i]);
        double gotg = kb_get(rg, i), gotu = kb_get(ru, i);
        int ok = near(gotg, refg, act_tol(refg, gv[i], fabs(dv[i] * uv[i]), gdt)) &&
                 near(gotu, refu, act_tol(refu, gv[i], fabs(dv[i]), gdt));
        if (!ok && bad++ < 3)
            fprintf(stderr, "%s: [%d] dgate %.9g (want %.9g), dup %.9g (want %.9g)\n", name, i, gotg, refg, gotu, refu);
    }
    CHECK(bad == 0, "%s: %d elements wrong", name, bad);
    kb_free(&g), kb_free(&u), kb_free(&dout), kb_free(&dg), kb_free(&du);
}

static void test_activations(void) {
    uint64_t seed = 2000;
    for (int act = MLXP_ACT_SILU; act <= MLXP_ACT_GELU_TANH; act++) {
        run_activation(act, TU_F32, TU_F32, 33, 0, seed++);
        run_activation(act, TU_F32, TU_F32, 1, 0, seed++);
        run_activation(act, TU_F32, TU_F32, 257, 2, seed++);
        run_activation(act, TU_F16, TU_F32, 33, 0, seed++);
        run_activation(act, TU_F32, TU_BF16, 7, 0, seed++);
        run_activation(act, TU_BF16, TU_BF16, 33, 1, seed++);
        run_activation_backward(act, TU_F32, TU_F32, TU_F32, 0, seed++);
        run_activation_backward(act, TU_F16, TU_BF16, TU_F32, 0, seed++);
        run_activation_backward(act, TU_F32, TU_F32, TU_F32, 1, seed++);
        run_activation_backward(act, TU_BF16, TU_F32, TU_F32, 2, seed++);
        run_glu(act, TU_F32, TU_F32, TU_F32, 0, seed++);
        run_glu(act, TU_BF16, TU_F16, TU_F32, 0, seed++);
        run_glu(act, TU_F32, TU_F32, TU_F32, 1, seed++);
        run_glu(act, TU_F16, TU_F16, TU_F16, 2, seed++);
        run_glu_backward(act, TU_F32, TU_F32, 0, seed++);
        run_glu_backward(act, TU_BF16, TU_F32, 0, seed++);
        run_glu_backward(act, TU_F16, TU_F16, 1, seed++);
    }
    /* The references themselves on known values: silu(1) = 1/(1+e^-1), gelu(1) = Phi(1),
     * gelu(-3) = -3 Phi(-3), and the derivatives by central differences. */
    CHECK(fabs(act_ref(MLXP_ACT_SILU, 1) - 0.7310585786300049) < 1e-15, "silu reference");
    CHECK(fabs(act_ref(MLXP_ACT_GELU, 1) - 0.8413447460685429) < 1e-15, "gelu reference");
    CHECK(fabs(act_ref(MLXP_ACT_GELU, -3) + 3 * 0.0013498980316301) < 1e-15, "gelu(-3) reference");
    int bad = 0;
    for (int act = 1; act <= 3; act++)
        for (double x = -5; x <= 5; x += 0.37)
            bad += fabs((act_ref(act, x + 1e-6) - act_ref(act, x - 1e-6)) / 2e-6 - act_grad_ref(act, x)) > 1e-8;
    CHECK(bad == 0, "activation derivative references vs finite differences: %d differ", bad);
}

int main(void) {
    const char* isa = "?";
    mlxp_cpu_isa(&isa);
    printf("test_kernels: kernel path %s\n", isa);
    test_matmul();
    test_linear();
    test_gated_linear_backward();
    test_norms();
    test_norm_backward();
    test_activations();
    return tu_finish("test_kernels");
}
