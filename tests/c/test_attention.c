/*
 * test_attention.c — mlxp_flash_attention, mlxp_sliding_window_attention,
 * mlxp_merge_attention_states, mlxp_alibi_slopes, mlxp_flash_attention_varlen,
 * mlxp_chunked_cross_attention, mlxp_flash_attention_rope, mlxp_flash_attention_backward,
 * mlxp_flash_attention_rope_backward, mlxp_flash_attention_bias_grad and
 * mlxp_flash_attention_varlen_backward through the C ABI, against a dense reference in
 * double written here from the header's formulas (the gradient ones are described above
 * their tests): every score is materialized, the masks are built explicitly (bottom-right
 * causal, window (left, right), key lengths, bias -Inf), then softmax with the optional
 * sink logit.
 *
 * Tolerance (see kernelutil.h for the float32 accumulation bound): the library forms
 * each logit in float32 from D products, so a logit is off by at most
 * acc_tol(D, scale * sum|q_d k_d|) plus a few ulps for the soft cap and ALiBi; a logit
 * error e changes each softmax weight by a relative e (twice, through the numerator and
 * the denominator), and the weighted sum of Lk values adds acc_tol(Lk, sum|p v|). So
 *   |out - ref| <= 2 * logit_err * max|v| + acc_tol(Lk, max|v|) + out_rtol(dt) * |ref|
 * and |lse - ref| <= 2 * logit_err + acc_tol(Lk, 1) * 2 (+ float32 rounding of lse).
 * logit_err uses the largest possible logit magnitude of the case (|q|, |k| < 1), doubled.
 */
#include <math.h>

#include "badinput.h"
#include "kernelutil.h"

/* ---- attention tensors: logical BSHD values in double, stored in any layout ------------- */

/* A 4-D tensor of logical shape [B, L, H, D] (BSHD), stored as BSHD or BHSD in dt, with
 * optional padding between rows and a non-unit innermost step (a strided view). */
typedef struct {
    int B, L, H, D;
    int layout;
    kbuf buf;
    int64_t shape[4], strides[4];
    mlxp_tensor t;
} atensor;

static void at_init(atensor* a, int B, int L, int H, int D, tu_dt dt, int layout, int step, int pad) {
    a->B = B, a->L = L, a->H = H, a->D = D, a->layout = layout;
    int64_t ph[4] = {B, layout == MLXP_LAYOUT_BSHD ? L : H, layout == MLXP_LAYOUT_BSHD ? H : L, D};
    memcpy(a->shape, ph, sizeof ph);
    a->strides[3] = step;
    a->strides[2] = (int64_t)D * step + pad;
    a->strides[1] = ph[2] * a->strides[2] + pad;
    a->strides[0] = ph[1] * a->strides[1];
    a->buf = kb_new(dt, ph[0] * a->strides[0]);
    kb_sentinel(&a->buf);
    a->t = kb_tensor(&a->buf, 4, a->shape, a->strides);
}

static int64_t at_off(const atensor* a, int b, int l, int h, int d) {
    if (a->layout == MLXP_LAYOUT_BSHD)
        return b * a->strides[0] + l * a->strides[1] + h * a->strides[2] + d * a->strides[3];
    return b * a->strides[0] + h * a->strides[1] + l * a->strides[2] + d * a->strides[3];
}

static double at_get(const atensor* a, int b, int l, int h, int d) { return kb_get(&a->buf, at_off(a, b, l, h, d)); }

static void at_fill(atensor* a, tu_rand* r, double lo, double hi) {
    for (int b = 0; b < a->B; b++)
        for (int l = 0; l < a->L; l++)
            for (int h = 0; h < a->H; h++)
                for (int d = 0; d < a->D; d++) kb_set(&a->buf, at_off(a, b, l, h, d), tu_uniform(r, lo, hi));
}

/* Whether every byte outside the tensor's elements still holds the sentinel. */
static int at_gaps_untouched(const atensor* a) {
    size_t es = tu_size(a->buf.dt);
    char* mark = calloc((size_t)a->buf.n, 1);
    for (int b = 0; b < a->B; b++)
        for (int l = 0; l < a->L; l++)
            for (int h = 0; h < a->H; h++)
                for (int d = 0; d < a->D; d++) mark[at_off(a, b, l, h, d)] = 1;
    int ok = 1;
    for (int64_t i = 0; i < a->buf.n && ok; i++)
        if (!mark[i]) ok = untouched((char*)a->buf.data + (size_t)i * es, es);
    free(mark);
    return ok;
}

static void at_free(atensor* a) { kb_free(&a->buf); }

/* ---- the reference --------------------------------------------------------------------- */

typedef struct {
    int causal, wl, wr; /* window (left, right), -1 unbounded */
    int sw;             /* >= 0: the sliding-window mask |i' - j| <= sw instead of (wl, wr) */
    double scale;       /* 0: 1/sqrt(D) */
    double softcap;
    const double* bias; /* [bB, bH, Lq, Lk] with bB in {1, B}, bH in {1, Hq}, or NULL */
    int bB, bH;
    const double* slopes;    /* [Hq] or NULL */
    const int32_t* klen;     /* [B] or NULL */
    const double* sinks;     /* [Hq] or NULL */
} refcfg;

static refcfg ref_default(void) {
    refcfg c;
    memset(&c, 0, sizeof c);
    c.causal = 1, c.wl = -1, c.wr = -1, c.sw = -1;
    return c;
}

/* out[b][i][h][e] (contiguous BSHD, Dv) and lse[b][h][i]. */
static void ref_attention(const atensor* q, const atensor* k, const atensor* v, const refcfg* c, double* out,
                          double* lse) {
    int B = q->B, Lq = q->L, Hq = q->H, D = q->D, Lk = k->L, Hkv = k->H, Dv = v->D;
    int off = Lk - Lq;
    double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)D);
    double* s = malloc(sizeof(double) * (size_t)Lk);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            for (int i = 0; i < Lq; i++) {
                int kh = h / (Hq / Hkv);
                int ip = i + off; /* the query's absolute position */
                double m = c->sinks ? c->sinks[h] : -INFINITY;
                for (int j = 0; j < Lk; j++) {
                    double x = 0;
                    for (int d = 0; d < D; d++) x += at_get(q, b, i, h, d) * at_get(k, b, j, kh, d);
                    x *= scale;
                    if (c->softcap > 0) x = c->softcap * tanh(x / c->softcap);
                    if (c->bias) {
                        int bb = c->bB == 1 ? 0 : b, bh = c->bH == 1 ? 0 : h;
                        x += c->bias[(((size_t)bb * c->bH + bh) * Lq + i) * Lk + j];
                    }
                    if (c->slopes) x += -c->slopes[h] * (double)(ip - j);
                    int visible = 1;
                    if (c->causal && j > ip) visible = 0;
                    if (c->sw >= 0) {
                        if (abs(ip - j) > c->sw) visible = 0;
                    } else {
                        if (c->wl >= 0 && j < ip - c->wl) visible = 0;
                        if (c->wr >= 0 && j > ip + c->wr) visible = 0;
                    }
                    if (c->klen && j >= c->klen[b]) visible = 0;
                    s[j] = visible ? x : -INFINITY;
                    if (s[j] > m) m = s[j];
                }
                double* o = out + (((size_t)b * Lq + i) * Hq + h) * Dv;
                for (int e = 0; e < Dv; e++) o[e] = 0;
                double* l = lse ? lse + ((size_t)b * Hq + h) * Lq + i : NULL;
                if (m == -INFINITY) { /* no visible key and no sink */
                    if (l) *l = -INFINITY;
                    continue;
                }
                double den = c->sinks ? exp(c->sinks[h] - m) : 0;
                for (int j = 0; j < Lk; j++) {
                    if (s[j] == -INFINITY) continue;
                    double p = exp(s[j] - m);
                    den += p;
                    for (int e = 0; e < Dv; e++) o[e] += p * at_get(v, b, j, kh, e);
                }
                for (int e = 0; e < Dv; e++) o[e] /= den;
                if (l) *l = m + log(den);
            }
    free(s);
}

/* ---- one flash-attention case ---------------------------------------------------------- */

typedef struct {
    const char* name;
    int B, Lq, Lk, Hq, Hkv, D, Dv;
    tu_dt qdt, kdt, vdt, odt;
    int layout;
    int qstep, qpad; /* strided q */
    int ostep, opad; /* strided out */
    refcfg ref;
    /* library-side optional tensors (the reference reads ref.*) */
    int bias_dims;   /* 0: none; 4: [bB, bH, Lq, Lk]; 2: [Lq, Lk] */
    tu_dt bias_dt;
    int with_lse;
    double max_logit; /* bound on |logit| used by the tolerance */
    int expect_empty_rows; /* the case has rows with no visible key and no sink */
} acase;

static double logit_err(const acase* c) {
    /* q.k of D products, each < 1, times the scale; soft cap / bias / ALiBi add ulps of
     * the logit's magnitude. */
    double sc = c->ref.scale != 0 ? c->ref.scale : 1.0 / sqrt((double)c->D);
    return 2 * (acc_tol(c->D, sc * c->D) + 8 * 0x1p-24 * c->max_logit);
}

static void run_flash(const acase* c, uint64_t seed) {
    tu_rand r = {seed};
    atensor q, k, v, o;
    at_init(&q, c->B, c->Lq, c->Hq, c->D, c->qdt, c->layout, c->qstep ? c->qstep : 1, c->qpad);
    at_init(&k, c->B, c->Lk, c->Hkv, c->D, c->kdt, c->layout, 1, 0);
    at_init(&v, c->B, c->Lk, c->Hkv, c->Dv, c->vdt, c->layout, 1, 0);
    at_init(&o, c->B, c->Lq, c->Hq, c->Dv, c->odt, c->layout, c->ostep ? c->ostep : 1, c->opad);
    at_fill(&q, &r, -1, 1);
    at_fill(&k, &r, -1, 1);
    at_fill(&v, &r, -1, 1);

    size_t nrow = (size_t)c->B * c->Hq * c->Lq;
    float* lse = malloc(sizeof(float) * nrow);
    fill(lse, sizeof(float) * nrow);
    int64_t lse_shape[3] = {c->B, c->Hq, c->Lq};
    mlxp_tensor tl = tu_tensor(lse, TU_F32, 3, lse_shape, NULL);

    mlxp_attention_params p;
    CHECK_OK(mlxp_attention_params_init(&p));
    p.scale = (float)c->ref.scale;
    p.causal = c->ref.causal;
    p.window_left = c->ref.wl;
    p.window_right = c->ref.wr;
    p.layout = c->layout;
    p.softcap = (float)c->ref.softcap;

    /* bias: stored in bias_dt; the reference reads the stored values */
    kbuf bias = kb_new(c->bias_dt, 1);
    int64_t bshape[4], bn = 0;
    mlxp_tensor tb;
    double* bias_ref = NULL;
    refcfg rc = c->ref;
    if (c->bias_dims) {
        bshape[0] = rc.bB, bshape[1] = rc.bH, bshape[2] = c->Lq, bshape[3] = c->Lk;
        bn = bshape[0] * bshape[1] * bshape[2] * bshape[3];
        kb_free(&bias);
        bias = kb_new(c->bias_dt, bn);
        bias_ref = malloc(sizeof(double) * (size_t)bn);
        for (int64_t i = 0; i < bn; i++) {
            /* every 7th entry masks */
            kb_set(&bias, i, i % 7 == 3 ? -INFINITY : tu_uniform(&r, -1, 1));
            bias_ref[i] = kb_get(&bias, i);
        }
        tb = c->bias_dims == 4 ? kb_tensor(&bias, 4, bshape, NULL) : kb_tensor(&bias, 2, bshape + 2, NULL);
        p.bias = &tb;
        rc.bias = bias_ref;
    }
    float slopes32[64], sinks32[64];
    int64_t hq_shape[1] = {c->Hq}, b_shape[1] = {c->B};
    mlxp_tensor ts = tu_tensor(slopes32, TU_F32, 1, hq_shape, NULL);
    mlxp_tensor tsk = tu_tensor(sinks32, TU_F32, 1, hq_shape, NULL);
    double slopes_d[64], sinks_d[64];
    if (rc.slopes) {
        CHECK_OK(mlxp_alibi_slopes(c->Hq, &ts));
        for (int h = 0; h < c->Hq; h++) slopes_d[h] = slopes32[h];
        p.alibi_slopes = &ts;
        rc.slopes = slopes_d;
    }
    if (rc.sinks) {
        for (int h = 0; h < c->Hq; h++) sinks_d[h] = sinks32[h] = (float)c->ref.sinks[h];
        p.sinks = &tsk;
        rc.sinks = sinks_d;
    }
    int32_t klen[16];
    mlxp_tensor tk = {0};
    if (rc.klen) {
        memcpy(klen, rc.klen, sizeof(int32_t) * (size_t)c->B);
        tk = tu_tensor(klen, TU_F32, 1, b_shape, NULL);
        tk.dtype.code = MLXP_DTYPE_INT;
        tk.dtype.bits = 32;
        p.key_lengths = &tk;
    }

    mlxp_status st = mlxp_flash_attention(&q.t, &k.t, &v.t, &o.t, c->with_lse ? &tl : NULL, &p);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", c->name, (int)st, mlxp_last_error());

    double* ro = malloc(sizeof(double) * nrow * (size_t)c->Dv);
    double* rl = malloc(sizeof(double) * nrow);
    ref_attention(&q, &k, &v, &rc, ro, rl);

    double le = logit_err(c);
    int bad = 0, nan = 0, empty = 0;
    double worst = 0;
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->Lq; i++)
            for (int h = 0; h < c->Hq; h++) {
                double lref = rl[((size_t)b * c->Hq + h) * c->Lq + i];
                for (int e = 0; e < c->Dv; e++) {
                    double got = at_get(&o, b, i, h, e);
                    double ref = ro[(((size_t)b * c->Lq + i) * c->Hq + h) * c->Dv + e];
                    double tol = 2 * le + acc_tol(c->Lk, 1.0) + out_rtol(c->odt) * fabs(ref);
                    if (isnan(got)) nan++;
                    if (lref == -INFINITY) {
                        if (got != 0.0) bad++; /* an empty row is exactly zero */
                    } else if (!near(got, ref, tol)) {
                        if (bad < 3)
                            fprintf(stderr, "  %s: out[%d,%d,%d,%d] = %.9g, ref %.9g, tol %.3g\n", c->name, b, i, h,
                                    e, got, ref, tol);
                        bad++;
                    }
                    if (fabs(got - ref) > worst && lref != -INFINITY) worst = fabs(got - ref);
                }
                if (!c->with_lse) continue;
                double lg = lse[((size_t)b * c->Hq + h) * c->Lq + i];
                if (isnan(lg)) nan++;
                if (lref == -INFINITY) {
                    empty++;
                    if (lg != -INFINITY) bad++;
                } else if (!near(lg, lref, 2 * le + 2 * acc_tol(c->Lk, 1.0) + 0x1p-23 * fabs(lref))) {
                    if (bad < 3) fprintf(stderr, "  %s: lse[%d,%d,%d] = %.9g, ref %.9g\n", c->name, b, h, i, lg, lref);
                    bad++;
                }
            }
    CHECK(bad == 0, "%s: %d mismatches (worst out error %.3g)", c->name, bad, worst);
    CHECK(nan == 0, "%s: %d NaN", c->name, nan);
    if (c->expect_empty_rows && c->with_lse) CHECK(empty > 0, "%s: expected rows with no visible key", c->name);
    CHECK(at_gaps_untouched(&o), "%s: out's padding was written", c->name);

    free(ro), free(rl), free(lse), free(bias_ref);
    kb_free(&bias);
    at_free(&q), at_free(&k), at_free(&v), at_free(&o);
}

static void test_flash(void) {
    static const double sinks4[4] = {0.5, -1.0, 2.0, -INFINITY};
    static const int32_t klen2[2] = {5, 0}; /* batch 1 has no keys at all */
    static const int32_t klen2b[2] = {9, 3};
    static const double alibi_marker[1] = {0}; /* non-NULL: use mlxp_alibi_slopes */
    static const double bias_marker[1] = {0};
    refcfg d = ref_default();
    refcfg nc = d;
    nc.causal = 0;

    acase cases[40];
    int n = 0;
#define BASE(nm) \
    (acase) { nm, 2, 5, 9, 4, 2, 16, 16, TU_F32, TU_F32, TU_F32, TU_F32, MLXP_LAYOUT_BSHD, 0, 0, 0, 0, d, 0, TU_F32, 1, 4, 0 }
    cases[n++] = BASE("gqa causal Lq<Lk");
    cases[n] = BASE("non-causal"), cases[n].ref = nc, n++;
    cases[n] = BASE("causal Lq>Lk (empty rows)"), cases[n].Lq = 7, cases[n].Lk = 4, cases[n].expect_empty_rows = 1, n++;
    cases[n] = BASE("Lq == Lk, Dv != D, MHA"), cases[n].Lq = 6, cases[n].Lk = 6, cases[n].Hkv = 4, cases[n].Dv = 8, n++;
    cases[n] = BASE("decode Lq=1 long Lk"), cases[n].Lq = 1, cases[n].Lk = 300, cases[n].B = 1, n++;
    cases[n] = BASE("prefill Lq=Lk=70 D=64"), cases[n].Lq = 70, cases[n].Lk = 70, cases[n].B = 1, cases[n].D = 64,
    cases[n].Dv = 64, n++;
    static const int windows[][3] = {{1, 2, 1}, {0, 0, 0}, {0, 3, -1}, {0, -1, 2}, {1, 0, 0}, {0, 2, 3}};
    for (int w = 0; w < 6; w++) {
        cases[n] = BASE("window (left, right)");
        cases[n].ref.causal = windows[w][0];
        cases[n].ref.wl = windows[w][1];
        cases[n].ref.wr = windows[w][2];
        cases[n].Lk = 11;
        if (windows[w][1] == 0 && windows[w][2] == 0 && !windows[w][0]) cases[n].Lq = 11;
        n++;
    }
    cases[n] = BASE("alibi"), cases[n].ref.slopes = alibi_marker, cases[n].max_logit = 16, n++;
    cases[n] = BASE("alibi non-causal"), cases[n].ref = nc, cases[n].ref.slopes = alibi_marker,
    cases[n].max_logit = 16, n++;
    cases[n] = BASE("bias [1,1,Lq,Lk] f32"), cases[n].ref = nc, cases[n].ref.bias = bias_marker, cases[n].ref.bB = 1,
    cases[n].ref.bH = 1, cases[n].bias_dims = 4, n++;
    cases[n] = BASE("bias [Lq,Lk] bf16 causal"), cases[n].ref.bias = bias_marker, cases[n].ref.bB = 1,
    cases[n].ref.bH = 1, cases[n].bias_dims = 2, cases[n].bias_dt = TU_BF16, n++;
    cases[n] = BASE("bias [B,Hq,Lq,Lk] f16"), cases[n].ref = nc, cases[n].ref.bias = bias_marker, cases[n].ref.bB = 2,
    cases[n].ref.bH = 4, cases[n].bias_dims = 4, cases[n].bias_dt = TU_F16, n++;
    cases[n] = BASE("key_lengths (one batch empty)"), cases[n].ref = nc, cases[n].ref.klen = klen2,
    cases[n].expect_empty_rows = 1, n++;
    cases[n] = BASE("key_lengths causal"), cases[n].ref.klen = klen2b, n++;
    cases[n] = BASE("softcap"), cases[n].ref.scale = 1.0, cases[n].ref.softcap = 2.0, cases[n].max_logit = 16, n++;
    cases[n] = BASE("explicit scale"), cases[n].ref.scale = 0.7, n++;
    cases[n] = BASE("sinks"), cases[n].ref.sinks = sinks4, n++;
    cases[n] = BASE("sinks with empty rows"), cases[n].ref.sinks = sinks4, cases[n].ref.klen = klen2, n++;
    cases[n] = BASE("everything"), cases[n].ref.sinks = sinks4, cases[n].ref.klen = klen2b, cases[n].ref.softcap = 3,
    cases[n].ref.slopes = alibi_marker, cases[n].ref.bias = bias_marker, cases[n].ref.bB = 1, cases[n].ref.bH = 1,
    cases[n].bias_dims = 4, cases[n].ref.wl = 4, cases[n].max_logit = 24, n++;
    cases[n] = BASE("BHSD"), cases[n].layout = MLXP_LAYOUT_BHSD, n++;
    cases[n] = BASE("BHSD window bias"), cases[n].layout = MLXP_LAYOUT_BHSD, cases[n].ref.wl = 2,
    cases[n].ref.bias = bias_marker, cases[n].ref.bB = 1, cases[n].ref.bH = 1, cases[n].bias_dims = 4, n++;
    cases[n] = BASE("f16 in, f32 out"), cases[n].qdt = cases[n].kdt = cases[n].vdt = TU_F16, n++;
    cases[n] = BASE("bf16 in, bf16 out"), cases[n].qdt = cases[n].kdt = cases[n].vdt = cases[n].odt = TU_BF16, n++;
    cases[n] = BASE("mixed f16/bf16/f32 -> f16"), cases[n].qdt = TU_F16, cases[n].kdt = TU_BF16,
    cases[n].odt = TU_F16, n++;
    cases[n] = BASE("strided q (padded rows, step 2)"), cases[n].qstep = 2, cases[n].qpad = 3, n++;
    cases[n] = BASE("strided q and out, BHSD, bf16"), cases[n].qstep = 3, cases[n].qpad = 1, cases[n].ostep = 2,
    cases[n].opad = 5, cases[n].layout = MLXP_LAYOUT_BHSD, cases[n].qdt = TU_BF16, n++;
    cases[n] = BASE("no lse"), cases[n].with_lse = 0, n++;
#undef BASE
    for (int i = 0; i < n; i++) run_flash(&cases[i], 1000 + (uint64_t)i);
}

/* ---- ALiBi slopes ---------------------------------------------------------------------- */

/* Press et al. (github.com/ofirpress/attention_with_linear_biases): for n a power of two,
 * slope_i = (2^(-8/n))^(i+1); otherwise the slopes of the closest lower power of two m,
 * followed by every other slope of 2m (indices 0, 2, ...) until n are taken. */
static void press_slopes(int n, double* out) {
    int m = 1;
    while (m * 2 <= n) m *= 2;
    for (int i = 0; i < m; i++) out[i] = pow(pow(2.0, -8.0 / m), i + 1);
    for (int i = 0; i < n - m; i++) out[m + i] = pow(pow(2.0, -8.0 / (2 * m)), 2 * i + 1);
}

static void test_alibi_slopes(void) {
    int counts[] = {1, 2, 4, 8, 12, 6};
    for (int c = 0; c < 6; c++) {
        int n = counts[c];
        float got[16];
        double ref[16];
        int64_t shape[1] = {n};
        mlxp_tensor t = tu_tensor(got, TU_F32, 1, shape, NULL);
        CHECK_OK(mlxp_alibi_slopes(n, &t));
        press_slopes(n, ref);
        for (int i = 0; i < n; i++)
            /* float32 rounding of the exact slope, half an ulp, doubled */
            CHECK(fabs(got[i] - ref[i]) <= 0x1p-23 * ref[i], "alibi_slopes(%d)[%d] = %.9g, Press et al. %.9g", n, i,
                  (double)got[i], ref[i]);
    }
    /* The values the literature lists: 8 heads 1/2 .. 1/256; 12 heads adds 2^-0.5, 2^-1.5, ... */
    float s8[8], s12[12];
    int64_t n8[1] = {8}, n12[1] = {12};
    mlxp_tensor t8 = tu_tensor(s8, TU_F32, 1, n8, NULL), t12 = tu_tensor(s12, TU_F32, 1, n12, NULL);
    CHECK_OK(mlxp_alibi_slopes(8, &t8));
    CHECK_OK(mlxp_alibi_slopes(12, &t12));
    CHECK(s8[0] == 0.5f && s8[7] == 0x1p-8f, "alibi 8: %g .. %g", (double)s8[0], (double)s8[7]);
    CHECK(fabs(s12[8] - sqrt(0.5)) < 1e-7 && fabs(s12[11] - pow(2, -3.5)) < 1e-7, "alibi 12 tail: %g %g",
          (double)s12[8], (double)s12[11]);
    /* strided out */
    float wide[24];
    fill(wide, sizeof wide);
    int64_t st[1] = {2};
    mlxp_tensor tw = tu_tensor(wide, TU_F32, 1, n12, st);
    CHECK_OK(mlxp_alibi_slopes(12, &tw));
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= wide[2 * i] == s12[i] && untouched(&wide[2 * i + 1], sizeof(float));
    CHECK(ok, "alibi_slopes with stride 2");
}

/* ---- sliding window -------------------------------------------------------------------- */

static void test_sliding_window(void) {
    struct {
        int Lq, Lk, w, causal, layout;
        tu_dt dt;
    } cs[] = {
        {9, 9, 2, 1, MLXP_LAYOUT_BSHD, TU_F32}, {9, 9, 2, 0, MLXP_LAYOUT_BSHD, TU_F32},
        {4, 13, 3, 1, MLXP_LAYOUT_BSHD, TU_F32}, {4, 13, 0, 0, MLXP_LAYOUT_BSHD, TU_F32},
        {6, 6, 1, 0, MLXP_LAYOUT_BHSD, TU_BF16}, {64, 64, 5, 1, MLXP_LAYOUT_BSHD, TU_F16},
        {7, 3, 1, 1, MLXP_LAYOUT_BSHD, TU_F32}, /* rows beyond the keys' reach are empty */
    };
    for (int c = 0; c < (int)(sizeof cs / sizeof cs[0]); c++) {
        tu_rand r = {77 + (uint64_t)c};
        atensor q, k, v, o;
        int B = 2, Hq = 4, Hkv = 2, D = 16;
        at_init(&q, B, cs[c].Lq, Hq, D, cs[c].dt, cs[c].layout, 1, 0);
        at_init(&k, B, cs[c].Lk, Hkv, D, cs[c].dt, cs[c].layout, 1, 0);
        at_init(&v, B, cs[c].Lk, Hkv, D, cs[c].dt, cs[c].layout, 1, 0);
        at_init(&o, B, cs[c].Lq, Hq, D, TU_F32, cs[c].layout, 1, 0);
        at_fill(&q, &r, -1, 1), at_fill(&k, &r, -1, 1), at_fill(&v, &r, -1, 1);
        mlxp_attention_params p;
        mlxp_attention_params_init(&p);
        p.layout = cs[c].layout;
        p.window_left = 1; /* replaced by window_size, as the header says */
        CHECK_OK(mlxp_sliding_window_attention(&q.t, &k.t, &v.t, cs[c].w, cs[c].causal, &o.t, &p));
        refcfg rc = ref_default();
        rc.causal = cs[c].causal;
        rc.sw = cs[c].w;
        size_t nrow = (size_t)B * cs[c].Lq * Hq;
        double* ro = malloc(sizeof(double) * nrow * D);
        double* rl = malloc(sizeof(double) * nrow);
        ref_attention(&q, &k, &v, &rc, ro, rl);
        /* tolerance as in the file comment, with |logit| <= sqrt(D) */
        double tol = 4 * (acc_tol(D, 0.25 * D) + 8 * 0x1p-24 * 4) + acc_tol(cs[c].Lk, 1.0);
        int bad = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < cs[c].Lq; i++)
                for (int h = 0; h < Hq; h++)
                    for (int e = 0; e < D; e++) {
                        double got = at_get(&o, b, i, h, e), ref = ro[(((size_t)b * cs[c].Lq + i) * Hq + h) * D + e];
                        if (!(fabs(got - ref) <= tol + 0x1p-23 * fabs(ref))) bad++;
                    }
        CHECK(bad == 0, "sliding window case %d (Lq %d Lk %d w %d causal %d): %d mismatches", c, cs[c].Lq, cs[c].Lk,
              cs[c].w, cs[c].causal, bad);
        free(ro), free(rl);
        at_free(&q), at_free(&k), at_free(&v), at_free(&o);
    }
}

/* ---- merge ----------------------------------------------------------------------------- */

static mlxp_tensor view_keys(atensor* a, int64_t* shape, int j0, int len) {
    /* BSHD contiguous: keys j0 .. j0+len-1 of every batch, as a view with the same strides */
    mlxp_tensor t = a->t;
    memcpy(shape, a->shape, sizeof a->shape);
    shape[1] = len;
    t.shape = shape;
    t.byte_offset = (uint64_t)j0 * (uint64_t)a->strides[1] * tu_size(a->buf.dt);
    return t;
}

static void test_merge(void) {
    int B = 2, Lq = 5, Lk = 12, Hq = 4, Hkv = 2, D = 16;
    tu_rand r = {4242};
    atensor q, k, v, oa, ob, o2;
    at_init(&q, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
    at_init(&k, B, Lk, Hkv, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
    at_init(&v, B, Lk, Hkv, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
    at_init(&oa, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
    at_init(&ob, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
    at_init(&o2, B, Lq, Hq, D, TU_BF16, MLXP_LAYOUT_BSHD, 1, 0);
    at_fill(&q, &r, -1, 1), at_fill(&k, &r, -1, 1), at_fill(&v, &r, -1, 1);
    size_t nrow = (size_t)B * Hq * Lq;
    float *la = malloc(4 * nrow), *lb = malloc(4 * nrow), *lo = malloc(4 * nrow);
    int64_t lshape[3] = {B, Hq, Lq};
    mlxp_tensor tla = tu_tensor(la, TU_F32, 3, lshape, NULL), tlb = tu_tensor(lb, TU_F32, 3, lshape, NULL),
                tlo = tu_tensor(lo, TU_F32, 3, lshape, NULL);
    mlxp_attention_params p;
    mlxp_attention_params_init(&p);
    p.causal = 0; /* the halves are disjoint key sets; causality would move with each half's Lk */
    int64_t ska[4], skb[4], sva[4], svb[4];
    mlxp_tensor ka = view_keys(&k, ska, 0, Lk / 2), kb2 = view_keys(&k, skb, Lk / 2, Lk - Lk / 2);
    mlxp_tensor va = view_keys(&v, sva, 0, Lk / 2), vb = view_keys(&v, svb, Lk / 2, Lk - Lk / 2);
    CHECK_OK(mlxp_flash_attention(&q.t, &ka, &va, &oa.t, &tla, &p));
    CHECK_OK(mlxp_flash_attention(&q.t, &kb2, &vb, &ob.t, &tlb, &p));

    refcfg rc = ref_default();
    rc.causal = 0;
    double* ro = malloc(sizeof(double) * nrow * D);
    double* rl = malloc(sizeof(double) * nrow);
    ref_attention(&q, &k, &v, &rc, ro, rl);
    /* flash tolerance of each half (file comment) plus the merge's float64 arithmetic */
    double tol = 4 * (acc_tol(D, 0.25 * D) + 8 * 0x1p-24 * 4) + acc_tol(Lk, 1.0);

    /* out of place, bf16 out */
    CHECK_OK(mlxp_merge_attention_states(&oa.t, &tla, &ob.t, &tlb, &o2.t, &tlo));
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Lq; i++)
            for (int h = 0; h < Hq; h++) {
                for (int e = 0; e < D; e++) {
                    double ref = ro[(((size_t)b * Lq + i) * Hq + h) * D + e];
                    if (!near(at_get(&o2, b, i, h, e), ref, tol + out_rtol(TU_BF16) * fabs(ref))) bad++;
                }
                size_t li = ((size_t)b * Hq + h) * Lq + i;
                if (!near(lo[li], rl[li], tol + 0x1p-22 * fabs(rl[li]))) bad++;
            }
    CHECK(bad == 0, "merge (bf16 out) vs full attention: %d mismatches", bad);

    /* in place: out = o_a, lse_out = lse_a */
    CHECK_OK(mlxp_merge_attention_states(&oa.t, &tla, &ob.t, &tlb, &oa.t, &tla));
    bad = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Lq; i++)
            for (int h = 0; h < Hq; h++) {
                for (int e = 0; e < D; e++) {
                    double ref = ro[(((size_t)b * Lq + i) * Hq + h) * D + e];
                    if (!near(at_get(&oa, b, i, h, e), ref, tol + 0x1p-23 * fabs(ref))) bad++;
                }
                size_t li = ((size_t)b * Hq + h) * Lq + i;
                if (!near(la[li], rl[li], tol + 0x1p-22 * fabs(rl[li]))) bad++;
            }
    CHECK(bad == 0, "merge in place vs full attention: %d mismatches", bad);

    /* -Inf sides, hand-made: row 0 only a, row 1 only b, row 2 neither, row 3 both. The
     * reference is the header's formula in double. */
    float sa[4 * 2] = {1, 2, 3, 4, 5, 6, -7, 8}, sb[4 * 2] = {-1, 0.5f, 9, 10, 11, 12, 0.25f, -2};
    float qa[4] = {0.3f, -INFINITY, -INFINITY, 1.5f}, qb[4] = {-INFINITY, 2.0f, -INFINITY, -0.5f};
    float mo[8], ml[4];
    fill(mo, sizeof mo), fill(ml, sizeof ml);
    int64_t os[4] = {1, 4, 1, 2}, ls[3] = {1, 1, 4};
    mlxp_tensor ta = tu_tensor(sa, TU_F32, 4, os, NULL), tb = tu_tensor(sb, TU_F32, 4, os, NULL),
                tqa = tu_tensor(qa, TU_F32, 3, ls, NULL), tqb = tu_tensor(qb, TU_F32, 3, ls, NULL),
                tmo = tu_tensor(mo, TU_F32, 4, os, NULL), tml = tu_tensor(ml, TU_F32, 3, ls, NULL);
    CHECK_OK(mlxp_merge_attention_states(&ta, &tqa, &tb, &tqb, &tmo, &tml));
    bad = 0;
    for (int i = 0; i < 4; i++) {
        double a = qa[i], b = qb[i], m = fmax(a, b);
        for (int e = 0; e < 2; e++) {
            double ref = 0;
            if (m != -INFINITY) {
                double wa = exp(a - m), wb = exp(b - m);
                ref = (wa * sa[2 * i + e] + wb * sb[2 * i + e]) / (wa + wb);
            }
            if (!near(mo[2 * i + e], ref, 0x1p-23 * fabs(ref)) || isnan(mo[2 * i + e])) bad++;
        }
        double lref = m == -INFINITY ? -INFINITY : m + log(exp(a - m) + exp(b - m));
        if (lref == -INFINITY ? ml[i] != -INFINITY : !near(ml[i], lref, 0x1p-23 * fabs(lref))) bad++;
    }
    CHECK(bad == 0, "merge with -Inf sides: %d mismatches", bad);
    CHECK(mo[0] == sa[0] && mo[3] == sb[3] && mo[4] == 0 && mo[5] == 0 && ml[2] == -INFINITY,
          "merge: one-sided rows copy, empty rows are zero with lse -Inf");

    free(la), free(lb), free(lo), free(ro), free(rl);
    at_free(&q), at_free(&k), at_free(&v), at_free(&oa), at_free(&ob), at_free(&o2);
}

/* ---- bad input ------------------------------------------------------------------------- */

static void test_bad_input(void) {
    /* valid shapes: q [1,3,4,8], k/v [1,5,2,8], out [1,3,4,8], lse [1,4,3] */
    float qd[96], kd[80], vd[80], od[96], ld[12], other[96];
    for (int i = 0; i < 96; i++) qd[i] = other[i] = 0.01f * (float)i;
    for (int i = 0; i < 80; i++) kd[i] = vd[i] = 0.02f * (float)i;
    int64_t qs[4] = {1, 3, 4, 8}, ks[4] = {1, 5, 2, 8}, k3[4] = {1, 5, 3, 8}, kd6[4] = {1, 5, 2, 6},
            ls[3] = {1, 4, 3}, s3d[3] = {3, 4, 8};
    mlxp_tensor q = tu_tensor(qd, TU_F32, 4, qs, NULL), k = tu_tensor(kd, TU_F32, 4, ks, NULL),
                v = tu_tensor(vd, TU_F32, 4, ks, NULL), o = tu_tensor(od, TU_F32, 4, qs, NULL),
                l = tu_tensor(ld, TU_F32, 3, ls, NULL);
    mlxp_tensor kh3 = tu_tensor(kd, TU_F32, 4, k3, NULL), vh3 = tu_tensor(vd, TU_F32, 4, k3, NULL);
    mlxp_tensor kdim = tu_tensor(kd, TU_F32, 4, kd6, NULL);
    mlxp_tensor q3 = tu_tensor(qd, TU_F32, 3, s3d, NULL);
    mlxp_attention_params p;
#define RESET()                                                                  \
    do {                                                                         \
        fill(od, sizeof od), fill(ld, sizeof ld);                                \
        mlxp_attention_params_init(&p);                                          \
    } while (0)
#define UNCHANGED(what) CHECK(untouched(od, sizeof od) && untouched(ld, sizeof ld), "%s: output written", what)

    RESET();
    CHECK_OK(mlxp_flash_attention(&q, &k, &v, &o, &l, &p)); /* the baseline is valid */

    RESET(); EXPECT(mlxp_flash_attention(NULL, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "q"); UNCHANGED("q NULL");
    RESET(); EXPECT(mlxp_flash_attention(&q, NULL, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "k"); UNCHANGED("k NULL");
    RESET(); EXPECT(mlxp_flash_attention(&q, &k, NULL, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "v"); UNCHANGED("v NULL");
    RESET(); EXPECT(mlxp_flash_attention(&q, &k, &v, NULL, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "out");
    CHECK(untouched(ld, sizeof ld), "out NULL: lse written");
    RESET(); EXPECT(mlxp_flash_attention(&q, &kh3, &vh3, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "k");
        UNCHANGED("Hq % Hkv");
    RESET(); EXPECT(mlxp_flash_attention(&q, &kdim, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "k");
        UNCHANGED("head dim");
    RESET(); EXPECT(mlxp_flash_attention(&q3, &k, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "q"); UNCHANGED("ndim");
    RESET(); p.window_left = -2;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "window_left");
        UNCHANGED("window_left -2");
    RESET(); p.window_right = -5;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "window_right");
        UNCHANGED("window_right -5");
    RESET(); p.causal = 2;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "causal"); UNCHANGED("causal 2");
    RESET(); p.layout = 7;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "layout"); UNCHANGED("layout 7");
    RESET(); p.softcap = -1;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "softcap");
        UNCHANGED("softcap -1");
    RESET(); p.scale = NAN;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "scale"); UNCHANGED("scale NaN");
    RESET(); p.struct_size = 0;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "struct_size");
        UNCHANGED("struct_size 0");

    int32_t kl_bad_len[2] = {5, 5}, kl_range[1] = {6};
    float kl_f32[1] = {5};
    int64_t n1[1] = {1}, n2[1] = {2}, n3[1] = {3};
    mlxp_tensor tkl2 = tu_tensor(kl_bad_len, TU_F32, 1, n2, NULL), tklr = tu_tensor(kl_range, TU_F32, 1, n1, NULL),
                tklf = tu_tensor(kl_f32, TU_F32, 1, n1, NULL);
    tkl2.dtype.code = tklr.dtype.code = MLXP_DTYPE_INT;
    RESET(); p.key_lengths = &tkl2;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "key_lengths");
        UNCHANGED("key_lengths length 2");
    RESET(); p.key_lengths = &tklf;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_UNSUPPORTED_DTYPE, "key_lengths");
        UNCHANGED("key_lengths float32");
    RESET(); p.key_lengths = &tklr;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_INVALID_ARGUMENT, "key_lengths");
        UNCHANGED("key_lengths 6 > Lk");
    float sl3[3] = {0.5f, 0.25f, 0.125f};
    mlxp_tensor tsl3 = tu_tensor(sl3, TU_F32, 1, n3, NULL);
    RESET(); p.alibi_slopes = &tsl3;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "alibi_slopes");
        UNCHANGED("alibi_slopes length 3");
    RESET(); p.sinks = &tsl3;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "sinks");
        UNCHANGED("sinks length 3");
    float bd[2 * 5] = {0};
    int64_t bs[2] = {2, 5}; /* Lq is 3: [2, 5] does not broadcast to [1, 4, 3, 5] */
    mlxp_tensor tbias = tu_tensor(bd, TU_F32, 2, bs, NULL);
    RESET(); p.bias = &tbias;
    EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &l, &p), MLXP_ERR_SHAPE_MISMATCH, "bias"); UNCHANGED("bias shape");
    int64_t lbad[3] = {1, 3, 4};
    mlxp_tensor tlb = tu_tensor(ld, TU_F32, 3, lbad, NULL);
    RESET(); EXPECT(mlxp_flash_attention(&q, &k, &v, &o, &tlb, &p), MLXP_ERR_SHAPE_MISMATCH, "lse");
        UNCHANGED("lse shape");
    mlxp_tensor oq = tu_tensor(qd, TU_F32, 4, qs, NULL);
    memcpy(od, qd, sizeof od);
    mlxp_attention_params_init(&p);
    EXPECT(mlxp_flash_attention(&q, &k, &v, &oq, NULL, &p), MLXP_ERR_INVALID_ARGUMENT, "out");
    CHECK(memcmp(qd, other, sizeof qd) == 0, "out overlapping q: q written");

    /* sliding window */
    RESET(); EXPECT(mlxp_sliding_window_attention(NULL, &k, &v, 2, 1, &o, &p), MLXP_ERR_INVALID_ARGUMENT, "q");
        UNCHANGED("swa q NULL");
    RESET(); EXPECT(mlxp_sliding_window_attention(&q, &k, &v, -1, 1, &o, &p), MLXP_ERR_INVALID_ARGUMENT,
                    "window_size");
        UNCHANGED("window_size -1");
    RESET(); EXPECT(mlxp_sliding_window_attention(&q, &k, &v, 2, 2, &o, &p), MLXP_ERR_INVALID_ARGUMENT, "causal");
        UNCHANGED("swa causal 2");

    /* alibi slopes */
    float sl[4];
    int64_t n4[1] = {4};
    mlxp_tensor tsl = tu_tensor(sl, TU_F32, 1, n4, NULL);
    fill(sl, sizeof sl);
    EXPECT(mlxp_alibi_slopes(0, &tsl), MLXP_ERR_INVALID_ARGUMENT, "num_heads");
    EXPECT(mlxp_alibi_slopes(-3, &tsl), MLXP_ERR_INVALID_ARGUMENT, "num_heads");
    EXPECT(mlxp_alibi_slopes(4, NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    EXPECT(mlxp_alibi_slopes(3, &tsl), MLXP_ERR_SHAPE_MISMATCH, "out");
    mlxp_tensor tslh = tu_tensor(sl, TU_F16, 1, n4, NULL);
    EXPECT(mlxp_alibi_slopes(4, &tslh), MLXP_ERR_UNSUPPORTED_DTYPE, "out");
    CHECK(untouched(sl, sizeof sl), "alibi_slopes failures wrote out");
    EXPECT(mlxp_attention_params_init(NULL), MLXP_ERR_INVALID_ARGUMENT, "p");

    /* merge */
    float m1[8], m2[8], mo[8], la[4], lb[4], lo[4];
    for (int i = 0; i < 8; i++) m1[i] = m2[i] = (float)i;
    for (int i = 0; i < 4; i++) la[i] = lb[i] = 0.5f;
    int64_t ms[4] = {1, 2, 2, 2}, mls[3] = {1, 2, 2}, mlbad[3] = {1, 2, 3};
    mlxp_tensor ta = tu_tensor(m1, TU_F32, 4, ms, NULL), tb = tu_tensor(m2, TU_F32, 4, ms, NULL),
                tmo = tu_tensor(mo, TU_F32, 4, ms, NULL), tla = tu_tensor(la, TU_F32, 3, mls, NULL),
                tlbb = tu_tensor(lb, TU_F32, 3, mls, NULL), tlo = tu_tensor(lo, TU_F32, 3, mls, NULL),
                tlbad = tu_tensor(lb, TU_F32, 3, mlbad, NULL);
#define MUNCHANGED(what) CHECK(untouched(mo, sizeof mo) && untouched(lo, sizeof lo), "%s: output written", what)
    fill(mo, sizeof mo), fill(lo, sizeof lo);
    EXPECT(mlxp_merge_attention_states(NULL, &tla, &tb, &tlbb, &tmo, &tlo), MLXP_ERR_INVALID_ARGUMENT, "o_a");
    MUNCHANGED("o_a NULL");
    EXPECT(mlxp_merge_attention_states(&ta, &tla, &tb, NULL, &tmo, &tlo), MLXP_ERR_INVALID_ARGUMENT, "lse_b");
    MUNCHANGED("lse_b NULL");
    EXPECT(mlxp_merge_attention_states(&ta, &tla, &tb, &tlbad, &tmo, &tlo), MLXP_ERR_SHAPE_MISMATCH, "lse_b");
    MUNCHANGED("lse_b shape");
    mlxp_tensor tlah = tu_tensor(la, TU_F16, 3, mls, NULL);
    EXPECT(mlxp_merge_attention_states(&ta, &tlah, &tb, &tlbb, &tmo, &tlo), MLXP_ERR_UNSUPPORTED_DTYPE, "lse_a");
    MUNCHANGED("lse_a f16");
    /* out overlapping o_b but not equal to it */
    mlxp_tensor tshift = tb;
    int64_t ms1[4] = {1, 2, 2, 2};
    tshift.shape = ms1;
    tshift.byte_offset = 4;
    float big[9] = {0};
    memcpy(big, m2, sizeof m2);
    tshift.data = big;
    mlxp_tensor tbig = tu_tensor(big, TU_F32, 4, ms, NULL);
    float before[9];
    memcpy(before, big, sizeof big);
    EXPECT(mlxp_merge_attention_states(&ta, &tla, &tbig, &tlbb, &tshift, NULL), MLXP_ERR_INVALID_ARGUMENT, "out");
    CHECK(memcmp(before, big, sizeof big) == 0, "merge: partially overlapping out was written");
#undef MUNCHANGED
#undef RESET
#undef UNCHANGED
}

/* ---- varlen, chunked and rope-fused attention ------------------------------------------ */

/* The tolerance of run_flash for one output element (see the comment at the top). */
static double out_tol(int D, int Lk, double max_logit, double ref) {
    acase c;
    memset(&c, 0, sizeof c);
    c.D = D, c.max_logit = max_logit;
    return 2 * logit_err(&c) + acc_tol(Lk, 1.0) + out_rtol(TU_F32) * fabs(ref);
}

/* Three packed sequences (one with Lq != Lk), GQA: each sequence's rows equal
 * mlxp_flash_attention on that sequence alone bit for bit, and the reference within
 * run_flash's tolerance. */
static void test_varlen(void) {
    enum { NS = 3, HQ = 4, HKV = 2, D = 16, DV = 8 };
    static const int lq[NS] = {3, 2, 5}, lk[NS] = {3, 6, 5};
    int32_t cuq[NS + 1] = {0}, cuk[NS + 1] = {0};
    for (int s = 0; s < NS; s++) cuq[s + 1] = cuq[s] + lq[s], cuk[s + 1] = cuk[s] + lk[s];
    int tq = cuq[NS], tk = cuk[NS];
    for (int causal = 0; causal <= 1; causal++) {
        tu_rand r = {4242 + (uint64_t)causal};
        atensor q[NS], k[NS], v[NS], o[NS];
        float* pq = malloc(sizeof(float) * (size_t)tq * HQ * D);
        float* pk = malloc(sizeof(float) * (size_t)tk * HKV * D);
        float* pv = malloc(sizeof(float) * (size_t)tk * HKV * DV);
        float* po = malloc(sizeof(float) * (size_t)tq * HQ * DV);
        float* pl = malloc(sizeof(float) * (size_t)HQ * tq);
        fill(po, sizeof(float) * (size_t)tq * HQ * DV);
        fill(pl, sizeof(float) * (size_t)HQ * tq);
        for (int s = 0; s < NS; s++) {
            /* contiguous [1, L, H, D]: the packed rows are a plain copy */
            at_init(&q[s], 1, lq[s], HQ, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&k[s], 1, lk[s], HKV, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&v[s], 1, lk[s], HKV, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&o[s], 1, lq[s], HQ, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_fill(&q[s], &r, -1, 1), at_fill(&k[s], &r, -1, 1), at_fill(&v[s], &r, -1, 1);
            memcpy(pq + (size_t)cuq[s] * HQ * D, q[s].buf.data, sizeof(float) * (size_t)lq[s] * HQ * D);
            memcpy(pk + (size_t)cuk[s] * HKV * D, k[s].buf.data, sizeof(float) * (size_t)lk[s] * HKV * D);
            memcpy(pv + (size_t)cuk[s] * HKV * DV, v[s].buf.data, sizeof(float) * (size_t)lk[s] * HKV * DV);
        }
        int64_t sq[3] = {tq, HQ, D}, sk[3] = {tk, HKV, D}, sv[3] = {tk, HKV, DV}, so[3] = {tq, HQ, DV},
                sl[2] = {HQ, tq}, sc[1] = {NS + 1};
        mlxp_tensor tq_ = tu_tensor(pq, TU_F32, 3, sq, NULL), tk_ = tu_tensor(pk, TU_F32, 3, sk, NULL),
                    tv_ = tu_tensor(pv, TU_F32, 3, sv, NULL), to_ = tu_tensor(po, TU_F32, 3, so, NULL),
                    tl_ = tu_tensor(pl, TU_F32, 2, sl, NULL), tcq = tu_tensor(cuq, TU_F32, 1, sc, NULL),
                    tck = tu_tensor(cuk, TU_F32, 1, sc, NULL);
        tcq.dtype.code = tck.dtype.code = MLXP_DTYPE_INT;
        mlxp_attention_params p;
        CHECK_OK(mlxp_attention_params_init(&p));
        p.causal = causal;
        CHECK_OK(mlxp_flash_attention_varlen(&tq_, &tk_, &tv_, &tcq, &tck, &to_, &tl_, &p));

        int same = 1, bad = 0;
        for (int s = 0; s < NS; s++) {
            float* lse1 = malloc(sizeof(float) * (size_t)HQ * lq[s]);
            int64_t ls1[3] = {1, HQ, lq[s]};
            mlxp_tensor tl1 = tu_tensor(lse1, TU_F32, 3, ls1, NULL);
            CHECK_OK(mlxp_flash_attention(&q[s].t, &k[s].t, &v[s].t, &o[s].t, &tl1, &p));
            same &= memcmp(po + (size_t)cuq[s] * HQ * DV, o[s].buf.data, sizeof(float) * (size_t)lq[s] * HQ * DV) == 0;
            for (int h = 0; h < HQ; h++)
                same &= memcmp(pl + (size_t)h * tq + cuq[s], lse1 + (size_t)h * lq[s], sizeof(float) * (size_t)lq[s]) == 0;

            refcfg rc = ref_default();
            rc.causal = causal;
            double* ro = malloc(sizeof(double) * (size_t)lq[s] * HQ * DV);
            double* rl = malloc(sizeof(double) * (size_t)lq[s] * HQ);
            ref_attention(&q[s], &k[s], &v[s], &rc, ro, rl);
            for (int i = 0; i < lq[s]; i++)
                for (int h = 0; h < HQ; h++) {
                    for (int e = 0; e < DV; e++) {
                        double ref = ro[((size_t)i * HQ + h) * DV + e];
                        double got = po[((size_t)(cuq[s] + i) * HQ + h) * DV + e];
                        if (!near(got, ref, out_tol(D, lk[s], 4, ref))) bad++;
                    }
                    double lref = rl[(size_t)h * lq[s] + i], lg = pl[(size_t)h * tq + cuq[s] + i];
                    if (!near(lg, lref, 2 * out_tol(D, lk[s], 4, 0) + 0x1p-23 * fabs(lref))) bad++;
                }
            free(ro), free(rl), free(lse1);
            at_free(&q[s]), at_free(&k[s]), at_free(&v[s]), at_free(&o[s]);
        }
        CHECK(same, "varlen (causal %d): rows differ from mlxp_flash_attention on each sequence alone", causal);
        CHECK(bad == 0, "varlen (causal %d): %d mismatches against the reference", causal, bad);
        free(pq), free(pk), free(pv), free(po), free(pl);
    }
}

static void test_varlen_bad_input(void) {
    /* valid: two sequences, q [3, 2, 4], k/v [5, 1, 4], out [3, 2, 4], lse [2, 3] */
    float qd[24], kd[20], vd[20], od[24], ld[6];
    for (int i = 0; i < 24; i++) qd[i] = 0.03f * (float)i;
    for (int i = 0; i < 20; i++) kd[i] = vd[i] = 0.02f * (float)i;
    int64_t qs[3] = {3, 2, 4}, ks[3] = {5, 1, 4}, ls[2] = {2, 3}, c3[1] = {3}, c4[1] = {4}, c2[1] = {2};
    mlxp_tensor q = tu_tensor(qd, TU_F32, 3, qs, NULL), k = tu_tensor(kd, TU_F32, 3, ks, NULL),
                v = tu_tensor(vd, TU_F32, 3, ks, NULL), o = tu_tensor(od, TU_F32, 3, qs, NULL),
                l = tu_tensor(ld, TU_F32, 2, ls, NULL);
    int32_t cq[3] = {0, 1, 3}, ck[3] = {0, 2, 5};
    int32_t cq_start[3] = {1, 1, 3}, cq_decr[4] = {0, 2, 1, 3}, ck_4[4] = {0, 1, 2, 5}, ck_last[3] = {0, 2, 4},
            ck_short[2] = {0, 5};
    int64_t cq64[3] = {0, 1, 3};
    float cqf[3] = {0, 1, 3};
#define I32(name, data, shape)                                  \
    mlxp_tensor name = tu_tensor(data, TU_F32, 1, shape, NULL); \
    name.dtype.code = MLXP_DTYPE_INT
    I32(tcq, cq, c3); I32(tck, ck, c3); I32(tcq_start, cq_start, c3); I32(tcq_decr, cq_decr, c4);
    I32(tck_4, ck_4, c4); I32(tck_last, ck_last, c3); I32(tck_short, ck_short, c2);
#undef I32
    mlxp_tensor tcq64 = tu_tensor(cq64, TU_F32, 1, c3, NULL), tcqf = tu_tensor(cqf, TU_F32, 1, c3, NULL);
    tcq64.dtype.code = MLXP_DTYPE_INT, tcq64.dtype.bits = 64;
    mlxp_attention_params p;
#define RESET()                                                                  \
    do {                                                                         \
        fill(od, sizeof od), fill(ld, sizeof ld);                                \
        mlxp_attention_params_init(&p);                                          \
    } while (0)
#define UNCHANGED(what) CHECK(untouched(od, sizeof od) && untouched(ld, sizeof ld), "%s: output written", what)
#define VARLEN(cu_q, cu_k) mlxp_flash_attention_varlen(&q, &k, &v, cu_q, cu_k, &o, &l, &p)
    RESET(); CHECK_OK(VARLEN(&tcq, &tck)); /* the baseline is valid */
    RESET(); EXPECT(VARLEN(&tcq_start, &tck), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_q"); UNCHANGED("cu_q[0] = 1");
    RESET(); EXPECT(VARLEN(&tcq_decr, &tck_4), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_q"); UNCHANGED("cu_q decreasing");
    RESET(); EXPECT(VARLEN(&tcq, &tck_last), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_k"); UNCHANGED("cu_k last != 5");
    RESET(); EXPECT(VARLEN(&tcq, &tck_short), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_k");
        UNCHANGED("cu_k shorter than cu_q");
    RESET(); EXPECT(VARLEN(&tcq64, &tck), MLXP_ERR_UNSUPPORTED_DTYPE, "cu_seqlens_q"); UNCHANGED("cu_q int64");
    RESET(); EXPECT(VARLEN(&tcq, &tcqf), MLXP_ERR_UNSUPPORTED_DTYPE, "cu_seqlens_k"); UNCHANGED("cu_k float32");
    RESET(); EXPECT(VARLEN(NULL, &tck), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_q"); UNCHANGED("cu_q NULL");
    float bd[15] = {0};
    int64_t bs[2] = {3, 5};
    mlxp_tensor tb = tu_tensor(bd, TU_F32, 2, bs, NULL);
    int32_t kl[2] = {1, 3};
    int64_t n2[1] = {2};
    mlxp_tensor tkl = tu_tensor(kl, TU_F32, 1, n2, NULL);
    tkl.dtype.code = MLXP_DTYPE_INT;
    RESET(); p.bias = &tb; EXPECT(VARLEN(&tcq, &tck), MLXP_ERR_INVALID_ARGUMENT, "bias"); UNCHANGED("varlen bias");
    RESET(); p.key_lengths = &tkl;
    EXPECT(VARLEN(&tcq, &tck), MLXP_ERR_INVALID_ARGUMENT, "key_lengths"); UNCHANGED("varlen key_lengths");
    RESET(); p.layout = MLXP_LAYOUT_BHSD;
    EXPECT(VARLEN(&tcq, &tck), MLXP_ERR_INVALID_ARGUMENT, "layout"); UNCHANGED("varlen BHSD");
#undef VARLEN

    /* chunked cross attention: q [1,3,2,4] against k/v [1,5,1,4] */
    int64_t q4[4] = {1, 3, 2, 4}, k4[4] = {1, 5, 1, 4};
    mlxp_tensor q_ = tu_tensor(qd, TU_F32, 4, q4, NULL), k_ = tu_tensor(kd, TU_F32, 4, k4, NULL),
                v_ = tu_tensor(vd, TU_F32, 4, k4, NULL), o_ = tu_tensor(od, TU_F32, 4, q4, NULL);
    RESET(); CHECK_OK(mlxp_chunked_cross_attention(&q_, &k_, &v_, 2, 0, &o_, &p));
    RESET(); EXPECT(mlxp_chunked_cross_attention(&q_, &k_, &v_, 2, 2, &o_, &p), MLXP_ERR_INVALID_ARGUMENT, "causal");
        UNCHANGED("chunked causal 2");
    RESET(); EXPECT(mlxp_chunked_cross_attention(&q_, &k_, &v_, -1, 0, &o_, &p), MLXP_ERR_INVALID_ARGUMENT,
                    "chunk_size");
        UNCHANGED("chunk_size -1");

    /* rope-fused attention */
    int64_t l4[3] = {1, 2, 3};
    mlxp_tensor l_ = tu_tensor(ld, TU_F32, 3, l4, NULL);
    mlxp_rope_params rp;
    mlxp_rope_params_init(&rp);
    RESET(); CHECK_OK(mlxp_flash_attention_rope(&q_, &k_, &v_, &o_, &l_, &rp, &p));
    rp.inverse = 1;
    RESET(); EXPECT(mlxp_flash_attention_rope(&q_, &k_, &v_, &o_, &l_, &rp, &p), MLXP_ERR_INVALID_ARGUMENT, "inverse");
        UNCHANGED("rope inverse 1");
#undef RESET
#undef UNCHANGED
}

/* Chunked cross attention: bit for bit mlxp_flash_attention when chunk_size >= Lk
 * (including 0 = 1024), within tolerance of the reference otherwise. Each chunk's result
 * carries run_flash's error bound and its lse the lse bound; the float64 merge is a convex
 * combination whose weights move by the lse errors, so the bound used is the output bound
 * plus twice the lse bound. */
static void test_chunked(void) {
    static const struct {
        int B, Lq, Lk, Hq, Hkv, D;
    } shapes[] = {{2, 5, 23, 4, 2, 16}, {1, 3, 1100, 2, 1, 8}};
    static const int chunks[] = {1, 7, 0, -2 /* Lk */, -3 /* Lk + 9 */};
    for (int sh = 0; sh < 2; sh++) {
        int B = shapes[sh].B, Lq = shapes[sh].Lq, Lk = shapes[sh].Lk, Hq = shapes[sh].Hq, Hkv = shapes[sh].Hkv,
            D = shapes[sh].D;
        tu_rand r = {777 + (uint64_t)sh};
        atensor q, k, v, o, of;
        at_init(&q, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
        at_init(&k, B, Lk, Hkv, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
        at_init(&v, B, Lk, Hkv, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
        at_init(&o, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
        at_init(&of, B, Lq, Hq, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
        at_fill(&q, &r, -1, 1), at_fill(&k, &r, -1, 1), at_fill(&v, &r, -1, 1);
        size_t n = (size_t)B * Lq * Hq * D;
        double* ro = malloc(sizeof(double) * n);
        for (int causal = 0; causal <= 1; causal++) {
            mlxp_attention_params p;
            CHECK_OK(mlxp_attention_params_init(&p));
            p.causal = causal;
            CHECK_OK(mlxp_flash_attention(&q.t, &k.t, &v.t, &of.t, NULL, &p));
            p.causal = !causal; /* the causal argument replaces it */
            refcfg rc = ref_default();
            rc.causal = causal;
            ref_attention(&q, &k, &v, &rc, ro, NULL);
            for (int c = 0; c < 5; c++) {
                int cs = chunks[c] == -2 ? Lk : chunks[c] == -3 ? Lk + 9 : chunks[c];
                kb_sentinel(&o.buf);
                mlxp_status st = mlxp_chunked_cross_attention(&q.t, &k.t, &v.t, cs, causal, &o.t, &p);
                CHECK(st == MLXP_OK, "chunked Lk %d chunk %d: status %d (%s)", Lk, cs, (int)st, mlxp_last_error());
                int whole = cs >= Lk || (cs == 0 && 1024 >= Lk);
                if (whole)
                    CHECK(memcmp(o.buf.data, of.buf.data, sizeof(float) * n) == 0,
                          "chunked Lk %d chunk %d causal %d: differs from mlxp_flash_attention", Lk, cs, causal);
                int bad = 0;
                for (size_t i = 0; i < n; i++) {
                    double lse_tol = 2 * out_tol(D, Lk, 4, 0) + 0x1p-23 * (log((double)Lk) + 4);
                    double tol = out_tol(D, Lk, 4, ro[i]) + 2 * lse_tol;
                    double got = kb_get(&o.buf, (int64_t)i);
                    if (!near(got, ro[i], tol)) {
                        if (bad < 3)
                            fprintf(stderr, "  chunked Lk %d chunk %d: out[%zu] = %.9g, ref %.9g, tol %.3g\n", Lk, cs,
                                    i, got, ro[i], tol);
                        bad++;
                    }
                }
                CHECK(bad == 0, "chunked Lk %d chunk %d causal %d: %d mismatches", Lk, cs, causal, bad);
            }
        }
        free(ro);
        at_free(&q), at_free(&k), at_free(&v), at_free(&o), at_free(&of);
    }
}

/* mlxp_flash_attention_rope equals mlxp_rope on copies (explicit positions: key j at
 * offset + j, query i at offset + (Lk - Lq) + i) followed by mlxp_flash_attention, bit for
 * bit; q and k are left unchanged. */
static void test_attention_rope(void) {
    static const struct {
        int pairing, layout, rotary_dim, scaling, null_rope;
        int64_t offset;
        int Lq, Lk;
        tu_dt dt;
    } cases[] = {
        {MLXP_ROPE_HALF, MLXP_LAYOUT_BSHD, 0, MLXP_ROPE_SCALING_NONE, 0, 5, 3, 7, TU_F32},
        {MLXP_ROPE_INTERLEAVED, MLXP_LAYOUT_BSHD, 0, MLXP_ROPE_SCALING_NONE, 0, 5, 3, 7, TU_F32},
        {MLXP_ROPE_HALF, MLXP_LAYOUT_BHSD, 12, MLXP_ROPE_SCALING_LINEAR, 0, 11, 4, 9, TU_F32},
        {MLXP_ROPE_INTERLEAVED, MLXP_LAYOUT_BHSD, 12, MLXP_ROPE_SCALING_LINEAR, 0, 0, 6, 6, TU_F32},
        {MLXP_ROPE_HALF, MLXP_LAYOUT_BSHD, 0, MLXP_ROPE_SCALING_NONE, 0, 2, 2, 5, TU_BF16},
        {MLXP_ROPE_INTERLEAVED, MLXP_LAYOUT_BSHD, 0, MLXP_ROPE_SCALING_NONE, 0, 2, 2, 5, TU_F16},
        {MLXP_ROPE_HALF, MLXP_LAYOUT_BSHD, 0, MLXP_ROPE_SCALING_NONE, 1, 0, 5, 5, TU_F32},
    };
    enum { B = 2, HQ = 4, HKV = 2, D = 16 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int Lq = cases[c].Lq, Lk = cases[c].Lk, layout = cases[c].layout;
        tu_dt dt = cases[c].dt;
        tu_rand r = {1000 + c};
        atensor q, k, v, qr, kr, o1, o2;
        at_init(&q, B, Lq, HQ, D, dt, layout, 1, 0);
        at_init(&k, B, Lk, HKV, D, dt, layout, 1, 0);
        at_init(&v, B, Lk, HKV, D, TU_F32, layout, 1, 0);
        at_init(&qr, B, Lq, HQ, D, dt, layout, 1, 0);
        at_init(&kr, B, Lk, HKV, D, dt, layout, 1, 0);
        at_init(&o1, B, Lq, HQ, D, TU_F32, layout, 1, 0);
        at_init(&o2, B, Lq, HQ, D, TU_F32, layout, 1, 0);
        at_fill(&q, &r, -1, 1), at_fill(&k, &r, -1, 1), at_fill(&v, &r, -1, 1);
        size_t qbytes = (size_t)q.buf.n * tu_size(dt), kbytes = (size_t)k.buf.n * tu_size(dt);
        void* q0 = malloc(qbytes);
        void* k0 = malloc(kbytes);
        memcpy(q0, q.buf.data, qbytes), memcpy(k0, k.buf.data, kbytes);

        mlxp_rope_params rp;
        CHECK_OK(mlxp_rope_params_init(&rp));
        rp.pairing = cases[c].pairing;
        rp.rotary_dim = cases[c].rotary_dim;
        rp.scaling = cases[c].scaling;
        if (rp.scaling == MLXP_ROPE_SCALING_LINEAR) rp.factor = 2;
        rp.offset = cases[c].offset;
        /* the separate calls: explicit positions, the tensors' own layout */
        mlxp_rope_params sep = rp;
        sep.offset = 0;
        sep.layout = layout;
        int64_t pq_[16], pk_[16];
        for (int i = 0; i < Lq; i++) pq_[i] = cases[c].offset + (Lk - Lq) + i;
        for (int j = 0; j < Lk; j++) pk_[j] = cases[c].offset + j;
        int64_t nq[1] = {Lq}, nk[1] = {Lk};
        mlxp_tensor tpq = tu_tensor(pq_, TU_F32, 1, nq, NULL), tpk = tu_tensor(pk_, TU_F32, 1, nk, NULL);
        tpq.dtype.code = tpk.dtype.code = MLXP_DTYPE_INT;
        tpq.dtype.bits = tpk.dtype.bits = 64;
        CHECK_OK(mlxp_rope(&q.t, &qr.t, NULL, NULL, &tpq, &sep));
        CHECK_OK(mlxp_rope(&k.t, &kr.t, NULL, NULL, &tpk, &sep));

        mlxp_attention_params p;
        CHECK_OK(mlxp_attention_params_init(&p));
        p.layout = layout;
        float l1[B * HQ * 8], l2[B * HQ * 8];
        int64_t ls[3] = {B, HQ, Lq};
        mlxp_tensor tl1 = tu_tensor(l1, TU_F32, 3, ls, NULL), tl2 = tu_tensor(l2, TU_F32, 3, ls, NULL);
        CHECK_OK(mlxp_flash_attention(&qr.t, &kr.t, &v.t, &o1.t, &tl1, &p));
        /* rope's layout is ignored: params->layout applies */
        rp.layout = layout == MLXP_LAYOUT_BSHD ? MLXP_LAYOUT_BHSD : MLXP_LAYOUT_BSHD;
        mlxp_status st = mlxp_flash_attention_rope(&q.t, &k.t, &v.t, &o2.t, &tl2, cases[c].null_rope ? NULL : &rp, &p);
        CHECK(st == MLXP_OK, "attention_rope case %zu: status %d (%s)", c, (int)st, mlxp_last_error());
        size_t obytes = (size_t)o1.buf.n * sizeof(float), lbytes = sizeof(float) * (size_t)B * HQ * Lq;
        CHECK(memcmp(o1.buf.data, o2.buf.data, obytes) == 0 && memcmp(l1, l2, lbytes) == 0,
              "attention_rope case %zu (%s, pairing %d, layout %d): differs from mlxp_rope then mlxp_flash_attention",
              c, tu_dt_name[dt], cases[c].pairing, layout);
        CHECK(memcmp(q0, q.buf.data, qbytes) == 0 && memcmp(k0, k.buf.data, kbytes) == 0,
              "attention_rope case %zu: q or k was written", c);
        free(q0), free(k0);
        at_free(&q), at_free(&k), at_free(&v), at_free(&qr), at_free(&kr), at_free(&o1), at_free(&o2);
    }
}

/* ---- backward -------------------------------------------------------------------------- */

/* mlxp_flash_attention_backward against gradients in double derived here by the chain rule
 * through out = softmax(x) v with x = cap(scale q.k) + bias + ALiBi and masks (sinks only in
 * the denominator). The reference gradients are themselves checked by a central finite
 * difference of the loss sum(out * dout) on a few elements of q, k and v.
 *
 * Tolerance: the library works in float32 from its own float32 out and lse, over at most
 * 12 keys and 16 head dims with every value in [-1, 1]; each gradient is a sum of at most
 * 2 * 12 * 16 float32 products of O(1) terms (errors ~ 1e-7 observed), so
 * |got - ref| <= 2e-5 * (1 + |ref|) (about 160 float32 ulps of 1), plus out_rtol(dt) * |ref|
 * when the gradient is stored as bfloat16. Rows with no visible
 * key must give dq exactly 0. Finite differences (h = 1e-5, all in double): truncation
 * h^2 * f''' and cancellation 1e-16 / h are both far below 1e-6 * (1 + |g|). */

typedef struct {
    int B, Lq, Lk, Hq, Hkv, D, Dv;
    int causal, wl, wr;
    double scale, softcap; /* scale 0: 1/sqrt(D) */
    const double* slopes;  /* [Hq] or NULL */
    const int32_t* klen;   /* [B] or NULL */
    const double* sinks;   /* [Hq] or NULL */
    const double* bias;    /* the full [B, Hq, Lq, Lk] bias (broadcast already applied) or NULL */
} bcfg;

/* q [B,Lq,Hq,D], k [B,Lk,Hkv,D], v [B,Lk,Hkv,Dv], dout and out [B,Lq,Hq,Dv], contiguous
 * BSHD. Computes out; when dq is not NULL also dq, dk, dv and empty[b,h,i] (no visible key
 * and no sink weight), and when dx is not NULL (it needs dq) dL/dx [B,Hq,Lq,Lk] for the
 * logits x: the gradient of a full additive bias, P * (dout.v_j - dout.out), 0 where masked. */
static void ref_backward(const bcfg* c, const double* q, const double* k, const double* v, const double* dout,
                         double* out, double* dq, double* dk, double* dv, char* empty, double* dx) {
    int Lq = c->Lq, Lk = c->Lk, Hq = c->Hq, Hkv = c->Hkv, D = c->D, Dv = c->Dv, off = Lk - Lq;
    double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)D);
    double* s = malloc(sizeof(double) * 3 * ((size_t)Lk + 1));
    double *x = s + Lk + 1, *p = x + Lk + 1;
    if (dq) {
        memset(dq, 0, sizeof(double) * (size_t)c->B * Lq * Hq * D);
        memset(dk, 0, sizeof(double) * (size_t)c->B * Lk * Hkv * D);
        memset(dv, 0, sizeof(double) * (size_t)c->B * Lk * Hkv * Dv);
    }
    if (dx) memset(dx, 0, sizeof(double) * (size_t)c->B * Hq * Lq * Lk);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < Hq; h++)
            for (int i = 0; i < Lq; i++) {
                int kh = h / (Hq / Hkv), ip = i + off;
                const double* qi = q + (((size_t)b * Lq + i) * Hq + h) * D;
                const double* gi = dout + (((size_t)b * Lq + i) * Hq + h) * Dv;
                double* oi = out + (((size_t)b * Lq + i) * Hq + h) * Dv;
                double m = c->sinks ? c->sinks[h] : -INFINITY;
                for (int j = 0; j < Lk; j++) {
                    const double* kj = k + (((size_t)b * Lk + j) * Hkv + kh) * D;
                    s[j] = 0;
                    for (int d = 0; d < D; d++) s[j] += qi[d] * kj[d];
                    s[j] *= scale;
                    x[j] = c->softcap > 0 ? c->softcap * tanh(s[j] / c->softcap) : s[j];
                    if (c->bias) x[j] += c->bias[(((size_t)b * Hq + h) * Lq + i) * Lk + j];
                    if (c->slopes) x[j] += -c->slopes[h] * (double)(ip - j);
                    int vis = !(c->causal && j > ip) && !(c->wl >= 0 && j < ip - c->wl) &&
                              !(c->wr >= 0 && j > ip + c->wr) && !(c->klen && j >= c->klen[b]);
                    if (!vis) x[j] = -INFINITY;
                    if (x[j] > m) m = x[j];
                }
                for (int e = 0; e < Dv; e++) oi[e] = 0;
                int no_key = 1;
                for (int j = 0; j < Lk; j++) no_key &= x[j] == -INFINITY;
                if (empty) empty[((size_t)b * Hq + h) * Lq + i] = (char)no_key;
                if (m == -INFINITY) continue;
                double den = c->sinks ? exp(c->sinks[h] - m) : 0;
                for (int j = 0; j < Lk; j++) den += p[j] = x[j] == -INFINITY ? 0 : exp(x[j] - m);
                for (int j = 0; j < Lk; j++) {
                    p[j] /= den;
                    const double* vj = v + (((size_t)b * Lk + j) * Hkv + kh) * Dv;
                    for (int e = 0; e < Dv; e++) oi[e] += p[j] * vj[e];
                }
                if (!dq) continue;
                double di = 0; /* rowsum(dout * out) */
                for (int e = 0; e < Dv; e++) di += gi[e] * oi[e];
                for (int j = 0; j < Lk; j++) {
                    if (p[j] == 0) continue;
                    const double* kj = k + (((size_t)b * Lk + j) * Hkv + kh) * D;
                    const double* vj = v + (((size_t)b * Lk + j) * Hkv + kh) * Dv;
                    double* dkj = dk + (((size_t)b * Lk + j) * Hkv + kh) * D;
                    double* dvj = dv + (((size_t)b * Lk + j) * Hkv + kh) * Dv;
                    double dp = 0;
                    for (int e = 0; e < Dv; e++) dp += gi[e] * vj[e], dvj[e] += p[j] * gi[e];
                    double ds = p[j] * (dp - di);
                    if (dx) dx[(((size_t)b * Hq + h) * Lq + i) * Lk + j] = ds;
                    if (c->softcap > 0) {
                        double t = tanh(s[j] / c->softcap);
                        ds *= 1 - t * t;
                    }
                    double* dqi = dq + (((size_t)b * Lq + i) * Hq + h) * D;
                    for (int d = 0; d < D; d++) dqi[d] += scale * ds * kj[d], dkj[d] += scale * ds * qi[d];
                }
            }
    free(s);
}

static double ref_loss(const bcfg* c, const double* q, const double* k, const double* v, const double* dout,
                       double* out) {
    ref_backward(c, q, k, v, dout, out, NULL, NULL, NULL, NULL, NULL);
    double l = 0;
    for (size_t i = 0; i < (size_t)c->B * c->Lq * c->Hq * c->Dv; i++) l += out[i] * dout[i];
    return l;
}

/* Central differences of the loss on three elements each of q, k and v. */
static void check_ref_fd(const char* name, const bcfg* c, double* q, double* k, double* v, const double* dout,
                         const double* dq, const double* dk, const double* dv, tu_rand* r) {
    size_t nq = (size_t)c->B * c->Lq * c->Hq * c->D, nk = (size_t)c->B * c->Lk * c->Hkv * c->D,
           nv = (size_t)c->B * c->Lk * c->Hkv * c->Dv;
    double* out = malloc(sizeof(double) * (size_t)c->B * c->Lq * c->Hq * c->Dv);
    double* xs[3] = {q, k, v};
    const double* gs[3] = {dq, dk, dv};
    size_t ns[3] = {nq, nk, nv};
    const double h = 1e-5;
    int bad = 0;
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 3; s++) {
            size_t idx = (size_t)tu_uniform(r, 0, (double)ns[t]) % ns[t];
            double x0 = xs[t][idx];
            xs[t][idx] = x0 + h;
            double lp = ref_loss(c, q, k, v, dout, out);
            xs[t][idx] = x0 - h;
            double lm = ref_loss(c, q, k, v, dout, out);
            xs[t][idx] = x0;
            double fd = (lp - lm) / (2 * h), g = gs[t][idx];
            if (!near(fd, g, 1e-6 * (1 + fabs(g)))) {
                fprintf(stderr, "  %s: d%c[%zu] reference %.12g, finite difference %.12g\n", name, "qkv"[t], idx, g,
                        fd);
                bad++;
            }
        }
    CHECK(bad == 0, "%s: reference gradient disagrees with finite differences", name);
    free(out);
}

static void at_to_double(const atensor* a, double* x) {
    for (int b = 0; b < a->B; b++)
        for (int l = 0; l < a->L; l++)
            for (int h = 0; h < a->H; h++)
                for (int d = 0; d < a->D; d++) *x++ = at_get(a, b, l, h, d);
}

/* Compares a gradient tensor with the reference (contiguous BSHD doubles). */
static int grad_mismatches(const char* name, const char* what, const atensor* a, const double* ref) {
    int bad = 0;
    double rt = a->buf.dt == TU_F32 ? 0 : out_rtol(a->buf.dt);
    for (int b = 0; b < a->B; b++)
        for (int l = 0; l < a->L; l++)
            for (int h = 0; h < a->H; h++)
                for (int d = 0; d < a->D; d++) {
                    double g = *ref++, got = at_get(a, b, l, h, d);
                    if (!near(got, g, 2e-5 * (1 + fabs(g)) + rt * fabs(g))) {
                        if (bad < 3)
                            fprintf(stderr, "  %s: %s[%d,%d,%d,%d] = %.9g, ref %.9g\n", name, what, b, l, h, d, got,
                                    g);
                        bad++;
                    }
                }
    return bad;
}

/* The library's parameters for a bcfg, with the float32 tensors they point to. */
typedef struct {
    mlxp_attention_params p;
    float slopes32[8], sinks32[8];
    int32_t klen[8];
    double slopes_d[8], sinks_d[8];
    int64_t hq_shape[1], b_shape[1];
    mlxp_tensor ts, tsk, tk;
} bparams;

/* Fills bp from c (ALiBi slopes from mlxp_alibi_slopes when alibi) and points c's slopes
 * and sinks at the float32 values the library reads. The bias is left to the caller. */
static void bparams_init(bparams* bp, bcfg* c, int layout, int alibi) {
    mlxp_attention_params* p = &bp->p;
    CHECK_OK(mlxp_attention_params_init(p));
    p->scale = (float)c->scale;
    p->causal = c->causal;
    p->window_left = c->wl;
    p->window_right = c->wr;
    p->layout = layout;
    p->softcap = (float)c->softcap;
    bp->hq_shape[0] = c->Hq, bp->b_shape[0] = c->B;
    bp->ts = tu_tensor(bp->slopes32, TU_F32, 1, bp->hq_shape, NULL);
    bp->tsk = tu_tensor(bp->sinks32, TU_F32, 1, bp->hq_shape, NULL);
    if (alibi) {
        CHECK_OK(mlxp_alibi_slopes(c->Hq, &bp->ts));
        for (int h = 0; h < c->Hq; h++) bp->slopes_d[h] = bp->slopes32[h];
        p->alibi_slopes = &bp->ts;
        c->slopes = bp->slopes_d;
    }
    if (c->sinks) {
        for (int h = 0; h < c->Hq; h++) bp->sinks_d[h] = bp->sinks32[h] = (float)c->sinks[h];
        p->sinks = &bp->tsk;
        c->sinks = bp->sinks_d;
    }
    if (c->klen) {
        memcpy(bp->klen, c->klen, sizeof(int32_t) * (size_t)c->B);
        bp->tk = tu_tensor(bp->klen, TU_F32, 1, bp->b_shape, NULL);
        bp->tk.dtype.code = MLXP_DTYPE_INT;
        p->key_lengths = &bp->tk;
    }
}

typedef struct {
    const char* name;
    bcfg c;
    tu_dt dt; /* q, k, v, dout and the gradients; out is float32 */
    int layout;
    int alibi;
    int expect_empty; /* the case has rows with no visible key */
    int bias;         /* an additive [Lq, Lk] bias, random, with some -inf entries */
} bcase;

/* The inputs of a gradient call: q, k, v and dout of dtype dt filled from r, out float32
 * (sentinel-filled; the forward call writes it), all in layout with the given step and
 * padding (see at_init). */
static void grad_inputs_init(atensor* q, atensor* k, atensor* v, atensor* o, atensor* dO, const bcfg* c,
                             tu_dt dt, int layout, int step, int pad, tu_rand* r) {
    at_init(q, c->B, c->Lq, c->Hq, c->D, dt, layout, step, pad);
    at_init(k, c->B, c->Lk, c->Hkv, c->D, dt, layout, step, pad);
    at_init(v, c->B, c->Lk, c->Hkv, c->Dv, dt, layout, step, pad);
    at_init(o, c->B, c->Lq, c->Hq, c->Dv, TU_F32, layout, step, pad);
    at_init(dO, c->B, c->Lq, c->Hq, c->Dv, dt, layout, step, pad);
    at_fill(q, r, -1, 1), at_fill(k, r, -1, 1), at_fill(v, r, -1, 1), at_fill(dO, r, -1, 1);
}

static void run_backward(const bcase* bc, uint64_t seed) {
    bcfg c = bc->c;
    tu_rand r = {seed};
    atensor q, k, v, o, dO, dq, dk, dv;
    grad_inputs_init(&q, &k, &v, &o, &dO, &c, bc->dt, bc->layout, 1, 0, &r);
    at_init(&dq, c.B, c.Lq, c.Hq, c.D, bc->dt, bc->layout, 1, 0);
    at_init(&dk, c.B, c.Lk, c.Hkv, c.D, bc->dt, bc->layout, 1, 0);
    at_init(&dv, c.B, c.Lk, c.Hkv, c.Dv, bc->dt, bc->layout, 1, 0);

    size_t nrow = (size_t)c.B * c.Hq * c.Lq;
    float* lse = malloc(sizeof(float) * nrow);
    int64_t lse_shape[3] = {c.B, c.Hq, c.Lq};
    mlxp_tensor tl = tu_tensor(lse, TU_F32, 3, lse_shape, NULL);

    bparams bp;
    bparams_init(&bp, &c, bc->layout, bc->alibi);
    mlxp_attention_params* p = &bp.p;
    float* bias32 = NULL;
    double* bias_d = NULL;
    int64_t bias_shape[2] = {c.Lq, c.Lk};
    mlxp_tensor tb = {0};
    if (bc->bias) {
        size_t ne = (size_t)c.Lq * c.Lk;
        bias32 = malloc(sizeof(float) * ne);
        bias_d = malloc(sizeof(double) * nrow * (size_t)c.Lk); /* broadcast to [B, Hq, Lq, Lk] */
        for (size_t e = 0; e < ne; e++) {
            bias32[e] = (float)tu_uniform(&r, -1, 1);
            if (e % 7 == 3) bias32[e] = -INFINITY; /* a bias can mask keys too */
        }
        for (size_t e = 0; e < nrow * (size_t)c.Lk; e++) bias_d[e] = bias32[e % ne];
        tb = tu_tensor(bias32, TU_F32, 2, bias_shape, NULL);
        p->bias = &tb;
        c.bias = bias_d;
    }

    CHECK_OK(mlxp_flash_attention(&q.t, &k.t, &v.t, &o.t, &tl, p));
    mlxp_status st = mlxp_flash_attention_backward(&q.t, &k.t, &v.t, &o.t, &dO.t, &tl, &dq.t, &dk.t, &dv.t, p);
    CHECK(st == MLXP_OK, "%s: backward status %d (%s)", bc->name, (int)st, mlxp_last_error());

    size_t nq = (size_t)c.B * c.Lq * c.Hq * c.D, nk = (size_t)c.B * c.Lk * c.Hkv * c.D,
           nv = (size_t)c.B * c.Lk * c.Hkv * c.Dv, no = (size_t)c.B * c.Lq * c.Hq * c.Dv;
    double *xq = malloc(sizeof(double) * nq), *xk = malloc(sizeof(double) * nk), *xv = malloc(sizeof(double) * nv),
           *xg = malloc(sizeof(double) * no), *xo = malloc(sizeof(double) * no), *gq = malloc(sizeof(double) * nq),
           *gk = malloc(sizeof(double) * nk), *gv = malloc(sizeof(double) * nv);
    char* empty = malloc(nrow);
    at_to_double(&q, xq), at_to_double(&k, xk), at_to_double(&v, xv), at_to_double(&dO, xg);
    ref_backward(&c, xq, xk, xv, xg, xo, gq, gk, gv, empty, NULL);
    check_ref_fd(bc->name, &c, xq, xk, xv, xg, gq, gk, gv, &r);

    int bad = grad_mismatches(bc->name, "dq", &dq, gq) + grad_mismatches(bc->name, "dk", &dk, gk) +
              grad_mismatches(bc->name, "dv", &dv, gv);
    CHECK(bad == 0, "%s: %d gradient mismatches", bc->name, bad);

    /* rows with no visible key: dq exactly 0 */
    int nempty = 0, nonzero = 0;
    for (int b = 0; b < c.B; b++)
        for (int h = 0; h < c.Hq; h++)
            for (int i = 0; i < c.Lq; i++) {
                if (!empty[((size_t)b * c.Hq + h) * c.Lq + i]) continue;
                nempty++;
                for (int d = 0; d < c.D; d++) nonzero += at_get(&dq, b, i, h, d) != 0.0;
            }
    CHECK(nonzero == 0, "%s: %d dq entries of rows with no visible key are not 0", bc->name, nonzero);
    if (bc->expect_empty) CHECK(nempty > 0, "%s: expected rows with no visible key", bc->name);

    free(xq), free(xk), free(xv), free(xg), free(xo), free(gq), free(gk), free(gv), free(empty), free(lse);
    free(bias32), free(bias_d);
    at_free(&q), at_free(&k), at_free(&v), at_free(&o), at_free(&dO), at_free(&dq), at_free(&dk), at_free(&dv);
}

static void test_backward(void) {
    static const double sinks4[4] = {0.5, -1.0, 2.0, -INFINITY};
    static const int32_t klen_empty[2] = {6, 0}; /* batch 1 has no keys: its dq is 0 */
    /* GQA (Hq 4, Hkv 2), causal with Lq 5 < Lk 9, D 16, Dv 8, BSHD float32 */
    const bcase base = {"gqa causal Lq<Lk", {2, 5, 9, 4, 2, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
                        TU_F32, MLXP_LAYOUT_BSHD, 0, 0, 0};
    bcase cases[12];
    int n = 0;
    cases[n++] = base;
    cases[n] = base, cases[n].name = "causal Lq>Lk (empty rows)", cases[n].c.Lq = 7, cases[n].c.Lk = 4,
    cases[n].expect_empty = 1, n++;
    cases[n] = base, cases[n].name = "window (3, 1) non-causal", cases[n].c.causal = 0, cases[n].c.wl = 3,
    cases[n].c.wr = 1, cases[n].c.Lq = 6, cases[n].c.Lk = 8, n++;
    cases[n] = base, cases[n].name = "alibi", cases[n].alibi = 1, n++;
    cases[n] = base, cases[n].name = "key_lengths {6, 0}", cases[n].c.causal = 0, cases[n].c.klen = klen_empty,
    cases[n].expect_empty = 1, n++;
    cases[n] = base, cases[n].name = "softcap 1", cases[n].c.softcap = 1.0, cases[n].c.scale = 0.5, n++;
    cases[n] = base, cases[n].name = "sinks", cases[n].c.sinks = sinks4, n++;
    cases[n] = base, cases[n].name = "BHSD", cases[n].layout = MLXP_LAYOUT_BHSD, cases[n].c.Lk = 12, n++;
    cases[n] = base, cases[n].name = "bf16", cases[n].dt = TU_BF16, n++;
    cases[n] = base, cases[n].name = "bias", cases[n].bias = 1, n++;
    cases[n] = base, cases[n].name = "bias alibi softcap", cases[n].bias = 1, cases[n].alibi = 1,
    cases[n].c.softcap = 2.0, n++;
    for (int i = 0; i < n; i++) run_backward(&cases[i], 5000 + (uint64_t)i);
}

/* A small valid gradient call for the bad-input tests: q [1,3,4,8], k/v [1,5,2,8],
 * out/dout [1,3,4,8], lse [1,4,3], all float32; q0 keeps q's bytes to check that q is
 * never written. The tensors point into the struct, which must not move. */
typedef struct {
    float qd[96], kd[80], vd[80], od[96], gd[96], ld[12], dqd[96], dkd[80], dvd[80], q0[96];
    int64_t qs[4], ks[4], ls[3];
    mlxp_tensor q, k, v, o, g, l, dq, dk, dv, dq_on_q;
} small_grad;

static void small_grad_init(small_grad* s) {
    for (int i = 0; i < 96; i++) s->qd[i] = 0.01f * (float)i, s->gd[i] = 0.02f * (float)(i % 11) - 0.1f;
    for (int i = 0; i < 80; i++) s->kd[i] = s->vd[i] = 0.02f * (float)(i % 13);
    const int64_t qs[4] = {1, 3, 4, 8}, ks[4] = {1, 5, 2, 8}, ls[3] = {1, 4, 3};
    memcpy(s->qs, qs, sizeof qs), memcpy(s->ks, ks, sizeof ks), memcpy(s->ls, ls, sizeof ls);
    s->q = tu_tensor(s->qd, TU_F32, 4, s->qs, NULL), s->k = tu_tensor(s->kd, TU_F32, 4, s->ks, NULL);
    s->v = tu_tensor(s->vd, TU_F32, 4, s->ks, NULL), s->o = tu_tensor(s->od, TU_F32, 4, s->qs, NULL);
    s->g = tu_tensor(s->gd, TU_F32, 4, s->qs, NULL), s->l = tu_tensor(s->ld, TU_F32, 3, s->ls, NULL);
    s->dq = tu_tensor(s->dqd, TU_F32, 4, s->qs, NULL), s->dk = tu_tensor(s->dkd, TU_F32, 4, s->ks, NULL);
    s->dv = tu_tensor(s->dvd, TU_F32, 4, s->ks, NULL), s->dq_on_q = tu_tensor(s->qd, TU_F32, 4, s->qs, NULL);
    memcpy(s->q0, s->qd, sizeof s->qd);
}

/* small_grad_reset fills the gradients with the sentinel; small_grad_unchanged reports
 * whether they (and q) are as that left them. */
static void small_grad_reset(small_grad* s) {
    fill(s->dqd, sizeof s->dqd), fill(s->dkd, sizeof s->dkd), fill(s->dvd, sizeof s->dvd);
}

static int small_grad_unchanged(const small_grad* s) {
    return untouched(s->dqd, sizeof s->dqd) && untouched(s->dkd, sizeof s->dkd) &&
           untouched(s->dvd, sizeof s->dvd) && memcmp(s->qd, s->q0, sizeof s->qd) == 0;
}

static void test_backward_bad_input(void) {
    small_grad s;
    small_grad_init(&s);
    int64_t gs_bad[4] = {1, 3, 4, 7};
    mlxp_tensor g_bad = tu_tensor(s.gd, TU_F32, 4, gs_bad, NULL);
    float bd[15] = {0};
    int64_t bs[2] = {2, 5}; /* does not broadcast to [1, 4, 3, 5] */
    mlxp_tensor tb = tu_tensor(bd, TU_F32, 2, bs, NULL);
    mlxp_attention_params p;
    CHECK_OK(mlxp_attention_params_init(&p));
    CHECK_OK(mlxp_flash_attention(&s.q, &s.k, &s.v, &s.o, &s.l, &p));
#define RESET() (small_grad_reset(&s), mlxp_attention_params_init(&p))
#define UNCHANGED(what) CHECK(small_grad_unchanged(&s), "%s: output written", what)
#define BWD(dout_, lse_, dq_) mlxp_flash_attention_backward(&s.q, &s.k, &s.v, &s.o, dout_, lse_, dq_, &s.dk, &s.dv, &p)
    RESET(); CHECK_OK(BWD(&s.g, &s.l, &s.dq)); /* the baseline is valid */
    RESET(); p.bias = &tb; EXPECT(BWD(&s.g, &s.l, &s.dq), MLXP_ERR_SHAPE_MISMATCH, "bias"); UNCHANGED("backward bias shape");
    RESET(); EXPECT(BWD(&s.g, &s.l, NULL), MLXP_ERR_INVALID_ARGUMENT, "dq"); UNCHANGED("dq NULL");
    RESET(); EXPECT(BWD(&g_bad, &s.l, &s.dq), MLXP_ERR_SHAPE_MISMATCH, "dout"); UNCHANGED("dout shape");
    RESET(); EXPECT(BWD(&s.g, NULL, &s.dq), MLXP_ERR_INVALID_ARGUMENT, "lse"); UNCHANGED("lse NULL");
    RESET(); EXPECT(BWD(&s.g, &s.l, &s.dq_on_q), MLXP_ERR_INVALID_ARGUMENT, "dq"); UNCHANGED("dq overlapping q");
#undef BWD
#undef RESET
#undef UNCHANGED
}

/* ---- RoPE-fused backward --------------------------------------------------------------- */

/* mlxp_flash_attention_rope_backward against the chain rule in double. q and k are rotated
 * here from the RoPE formula with scaling NONE: f_i = base^(-2i/R), pair i is (i, i + R/2)
 * (half) or (2i, 2i + 1) (interleaved), dims from R on pass through; key j has position
 * offset + j and query i offset + (Lk - Lq) + i. ref_backward gives dq', dk' and dv for the
 * rotated inputs, and the transposed rotation brings dq' and dk' back to the unrotated
 * inputs: (ga, gb) at angle t -> (ga cos t + gb sin t, -ga sin t + gb cos t). A central
 * difference of the loss through the rotation checks this reference on a few elements.
 *
 * Every case also equals, bit for bit, the composition the header describes: mlxp_rope on
 * copies of q and k, mlxp_flash_attention_backward into float32 dq' and dk', mlxp_rope with
 * inverse = 1 in place on those, then one rounding to the gradients' dtype.
 *
 * Tolerance: grad_mismatches's 2e-5 * (1 + |ref|), plus out_rtol(bf16) * |ref| for the one
 * rounding of bfloat16 gradients. The rotations add a few float32 ulps of O(1) values (cos
 * and sin rounded to float32, one rotation of the inputs and one of dq' and dk'), far
 * inside it. With bfloat16 q and k the rotated inputs are rounded to bfloat16 before the
 * logits, which a double reference cannot follow within that bound: that case is checked
 * by the composition alone. */

typedef struct {
    const char* name;
    bcfg c;          /* shapes and masks; no bias, ALiBi, sinks or key lengths */
    int layout;
    int pairing;
    int rotary_dim;  /* 0: D */
    double base;     /* 0: the default 10000 */
    int64_t offset;
    tu_dt dt, gdt;   /* q, k, v and dout; dq, dk and dv (out is float32) */
    int defaults;    /* rope and params are the defaults: also called with both NULL */
} rbcase;

/* Rotates x (contiguous BSHD doubles [B, L, H, D]) in place, token l at position pos0 + l;
 * sign -1 applies the transpose (the rotation by -angle). */
static void rope_ref(const rbcase* rc, double* x, int L, int H, int64_t pos0, int sign) {
    int D = rc->c.D, R = rc->rotary_dim ? rc->rotary_dim : D, half = rc->pairing == MLXP_ROPE_HALF;
    double base = rc->base != 0 ? rc->base : 10000;
    for (int b = 0; b < rc->c.B; b++)
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) {
                double* row = x + (((size_t)b * L + l) * H + h) * D;
                for (int i = 0; i < R / 2; i++) {
                    int ia = half ? i : 2 * i, ib = half ? i + R / 2 : 2 * i + 1;
                    double t = (double)(pos0 + l) * pow(base, -2.0 * i / R);
                    double cs = cos(t), sn = sign * sin(t), a = row[ia], g = row[ib];
                    row[ia] = a * cs - g * sn;
                    row[ib] = g * cs + a * sn;
                }
            }
}

/* The reference for unrotated q and k (contiguous BSHD doubles): out, and when dq is not
 * NULL the gradients dq, dk (rotated back) and dv. */
static void rope_ref_backward(const rbcase* rc, const double* q, const double* k, const double* v,
                              const double* dout, double* out, double* dq, double* dk, double* dv) {
    const bcfg* c = &rc->c;
    size_t nq = (size_t)c->B * c->Lq * c->Hq * c->D, nk = (size_t)c->B * c->Lk * c->Hkv * c->D;
    int64_t kpos = rc->offset, qpos = rc->offset + (c->Lk - c->Lq);
    double *qr = malloc(sizeof(double) * nq), *kr = malloc(sizeof(double) * nk);
    memcpy(qr, q, sizeof(double) * nq), memcpy(kr, k, sizeof(double) * nk);
    rope_ref(rc, qr, c->Lq, c->Hq, qpos, 1);
    rope_ref(rc, kr, c->Lk, c->Hkv, kpos, 1);
    ref_backward(c, qr, kr, v, dout, out, dq, dk, dv, NULL, NULL);
    if (dq) {
        rope_ref(rc, dq, c->Lq, c->Hq, qpos, -1);
        rope_ref(rc, dk, c->Lk, c->Hkv, kpos, -1);
    }
    free(qr), free(kr);
}

/* Central differences (as check_ref_fd) of sum(out * dout) through the rotation, on three
 * elements each of the unrotated q and k. */
static void check_rope_ref_fd(const rbcase* rc, double* q, double* k, const double* v, const double* dout,
                              const double* dq, const double* dk, tu_rand* r) {
    const bcfg* c = &rc->c;
    size_t no = (size_t)c->B * c->Lq * c->Hq * c->Dv;
    size_t ns[2] = {(size_t)c->B * c->Lq * c->Hq * c->D, (size_t)c->B * c->Lk * c->Hkv * c->D};
    double* xs[2] = {q, k};
    const double* gs[2] = {dq, dk};
    double* out = malloc(sizeof(double) * no);
    const double h = 1e-5;
    int bad = 0;
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 3; s++) {
            size_t idx = (size_t)tu_uniform(r, 0, (double)ns[t]) % ns[t];
            double x0 = xs[t][idx], lp = 0, lm = 0;
            xs[t][idx] = x0 + h;
            rope_ref_backward(rc, q, k, v, dout, out, NULL, NULL, NULL);
            for (size_t i = 0; i < no; i++) lp += out[i] * dout[i];
            xs[t][idx] = x0 - h;
            rope_ref_backward(rc, q, k, v, dout, out, NULL, NULL, NULL);
            for (size_t i = 0; i < no; i++) lm += out[i] * dout[i];
            xs[t][idx] = x0;
            double fd = (lp - lm) / (2 * h), g = gs[t][idx];
            if (!near(fd, g, 1e-6 * (1 + fabs(g)))) {
                fprintf(stderr, "  %s: d%c[%zu] reference %.12g, finite difference %.12g\n", rc->name, "qk"[t], idx,
                        g, fd);
                bad++;
            }
        }
    CHECK(bad == 0, "%s: reference gradient disagrees with finite differences", rc->name);
    free(out);
}

/* Whether g holds the values of f32 (a float32 tensor of the same layout), each rounded
 * once to g's dtype: bit for bit. */
static int same_rounded(const atensor* g, const atensor* f32) {
    kbuf t = kb_new(g->buf.dt, g->buf.n);
    for (int64_t i = 0; i < t.n; i++) kb_set(&t, i, kb_get(&f32->buf, i));
    int same = memcmp(t.data, g->buf.data, (size_t)t.n * tu_size(t.dt)) == 0;
    kb_free(&t);
    return same;
}

static void run_rope_backward(const rbcase* rc, uint64_t seed) {
    bcfg c = rc->c;
    tu_rand r = {seed};
    atensor q, k, v, o, dO, dq, dk, dv, qr, kr, dq32, dk32, dvc;
    grad_inputs_init(&q, &k, &v, &o, &dO, &c, rc->dt, rc->layout, 1, 0, &r);
    at_init(&dq, c.B, c.Lq, c.Hq, c.D, rc->gdt, rc->layout, 1, 0);
    at_init(&dk, c.B, c.Lk, c.Hkv, c.D, rc->gdt, rc->layout, 1, 0);
    at_init(&dv, c.B, c.Lk, c.Hkv, c.Dv, rc->gdt, rc->layout, 1, 0);
    size_t qbytes = (size_t)q.buf.n * tu_size(rc->dt), kbytes = (size_t)k.buf.n * tu_size(rc->dt);
    void* q0 = malloc(qbytes);
    void* k0 = malloc(kbytes);
    memcpy(q0, q.buf.data, qbytes), memcpy(k0, k.buf.data, kbytes);

    size_t nrow = (size_t)c.B * c.Hq * c.Lq;
    float* lse = malloc(sizeof(float) * nrow);
    int64_t lse_shape[3] = {c.B, c.Hq, c.Lq};
    mlxp_tensor tl = tu_tensor(lse, TU_F32, 3, lse_shape, NULL);
    bparams bp;
    bparams_init(&bp, &c, rc->layout, 0);
    mlxp_rope_params rp;
    CHECK_OK(mlxp_rope_params_init(&rp));
    rp.pairing = rc->pairing;
    rp.rotary_dim = rc->rotary_dim;
    if (rc->base != 0) rp.base = rc->base;
    rp.offset = rc->offset;
    /* the separate calls below rotate in the tensors' own layout; the fused calls ignore
     * rope's layout (params->layout applies), so it is set to the other one there */
    mlxp_rope_params sq = rp, sk = rp;
    sq.layout = sk.layout = rc->layout;
    sq.offset = rc->offset + (c.Lk - c.Lq);
    rp.layout = rc->layout == MLXP_LAYOUT_BSHD ? MLXP_LAYOUT_BHSD : MLXP_LAYOUT_BSHD;

    CHECK_OK(mlxp_flash_attention_rope(&q.t, &k.t, &v.t, &o.t, &tl, &rp, &bp.p));
    mlxp_status st =
        mlxp_flash_attention_rope_backward(&q.t, &k.t, &v.t, &o.t, &dO.t, &tl, &dq.t, &dk.t, &dv.t, &rp, &bp.p);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", rc->name, (int)st, mlxp_last_error());
    CHECK(memcmp(q0, q.buf.data, qbytes) == 0 && memcmp(k0, k.buf.data, kbytes) == 0, "%s: q or k was written",
          rc->name);

    if (rc->dt == TU_F32) {
        size_t nq = (size_t)c.B * c.Lq * c.Hq * c.D, nk = (size_t)c.B * c.Lk * c.Hkv * c.D,
               nv = (size_t)c.B * c.Lk * c.Hkv * c.Dv, no = (size_t)c.B * c.Lq * c.Hq * c.Dv;
        double *xq = malloc(sizeof(double) * nq), *xk = malloc(sizeof(double) * nk),
               *xv = malloc(sizeof(double) * nv), *xg = malloc(sizeof(double) * no),
               *xo = malloc(sizeof(double) * no), *gq = malloc(sizeof(double) * nq),
               *gk = malloc(sizeof(double) * nk), *gv = malloc(sizeof(double) * nv);
        at_to_double(&q, xq), at_to_double(&k, xk), at_to_double(&v, xv), at_to_double(&dO, xg);
        rope_ref_backward(rc, xq, xk, xv, xg, xo, gq, gk, gv);
        check_rope_ref_fd(rc, xq, xk, xv, xg, gq, gk, &r);
        int bad = grad_mismatches(rc->name, "dq", &dq, gq) + grad_mismatches(rc->name, "dk", &dk, gk) +
                  grad_mismatches(rc->name, "dv", &dv, gv);
        CHECK(bad == 0, "%s: %d gradient mismatches", rc->name, bad);
        free(xq), free(xk), free(xv), free(xg), free(xo), free(gq), free(gk), free(gv);
    }

    /* the composition: rope on copies, the plain backward into float32, inverse rope in place */
    at_init(&qr, c.B, c.Lq, c.Hq, c.D, rc->dt, rc->layout, 1, 0);
    at_init(&kr, c.B, c.Lk, c.Hkv, c.D, rc->dt, rc->layout, 1, 0);
    at_init(&dq32, c.B, c.Lq, c.Hq, c.D, TU_F32, rc->layout, 1, 0);
    at_init(&dk32, c.B, c.Lk, c.Hkv, c.D, TU_F32, rc->layout, 1, 0);
    at_init(&dvc, c.B, c.Lk, c.Hkv, c.Dv, rc->gdt, rc->layout, 1, 0);
    CHECK_OK(mlxp_rope(&q.t, &qr.t, NULL, NULL, NULL, &sq));
    CHECK_OK(mlxp_rope(&k.t, &kr.t, NULL, NULL, NULL, &sk));
    CHECK_OK(mlxp_flash_attention_backward(&qr.t, &kr.t, &v.t, &o.t, &dO.t, &tl, &dq32.t, &dk32.t, &dvc.t, &bp.p));
    sq.inverse = sk.inverse = 1;
    CHECK_OK(mlxp_rope(&dq32.t, &dq32.t, NULL, NULL, NULL, &sq));
    CHECK_OK(mlxp_rope(&dk32.t, &dk32.t, NULL, NULL, NULL, &sk));
    CHECK(same_rounded(&dq, &dq32) && same_rounded(&dk, &dk32) &&
              memcmp(dv.buf.data, dvc.buf.data, (size_t)dv.buf.n * tu_size(rc->gdt)) == 0,
          "%s: differs from mlxp_rope, mlxp_flash_attention_backward, then mlxp_rope with inverse = 1", rc->name);

    if (rc->defaults) { /* NULL rope and params: the same bits (dq32, dk32, dvc reused) */
        kb_sentinel(&dq32.buf), kb_sentinel(&dk32.buf), kb_sentinel(&dvc.buf);
        st = mlxp_flash_attention_rope_backward(&q.t, &k.t, &v.t, &o.t, &dO.t, &tl, &dq32.t, &dk32.t, &dvc.t, NULL,
                                                NULL);
        CHECK(st == MLXP_OK, "%s: NULL rope and params: status %d (%s)", rc->name, (int)st, mlxp_last_error());
        CHECK(same_rounded(&dq, &dq32) && same_rounded(&dk, &dk32) &&
                  memcmp(dv.buf.data, dvc.buf.data, (size_t)dv.buf.n * tu_size(rc->gdt)) == 0,
              "%s: NULL rope and params differ from the explicit defaults", rc->name);
    }

    free(q0), free(k0), free(lse);
    at_free(&q), at_free(&k), at_free(&v), at_free(&o), at_free(&dO), at_free(&dq), at_free(&dk), at_free(&dv);
    at_free(&qr), at_free(&kr), at_free(&dq32), at_free(&dk32), at_free(&dvc);
}

static void test_rope_backward(void) {
    /* bcfg: B, Lq, Lk, Hq, Hkv, D, Dv, causal, wl, wr, scale, softcap, slopes, klen, sinks, bias */
    const rbcase cases[] = {
        {"rope backward prefill causal half BSHD (defaults)",
         {2, 7, 7, 4, 4, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BSHD, MLXP_ROPE_HALF, 0, 0, 0, TU_F32, TU_F32, 1},
        {"rope backward decode Lq 3 < Lk 12 offset 17 interleaved",
         {2, 3, 12, 4, 4, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BSHD, MLXP_ROPE_INTERLEAVED, 0, 0, 17, TU_F32, TU_F32, 0},
        {"rope backward GQA BHSD rotary_dim 8 < D 16 base 500",
         {2, 5, 9, 4, 2, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BHSD, MLXP_ROPE_HALF, 8, 500, 3, TU_F32, TU_F32, 0},
        {"rope backward interleaved rotary_dim 6 < D 12 window non-causal",
         {1, 6, 8, 2, 1, 12, 12, 0, 2, 1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BSHD, MLXP_ROPE_INTERLEAVED, 6, 0, 5, TU_F32, TU_F32, 0},
        {"rope backward bf16 gradients", {2, 5, 9, 4, 2, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BSHD, MLXP_ROPE_HALF, 0, 0, 4, TU_F32, TU_BF16, 0},
        {"rope backward bf16 inputs and gradients (composition only)",
         {2, 4, 6, 4, 2, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
         MLXP_LAYOUT_BHSD, MLXP_ROPE_INTERLEAVED, 0, 0, 2, TU_BF16, TU_BF16, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_rope_backward(&cases[i], 7000 + (uint64_t)i);
}

static void test_rope_backward_bad_input(void) {
    small_grad s;
    small_grad_init(&s);
    float base[96 + 80 + 80];
    int64_t qs_bad[4] = {1, 3, 4, 7};
    mlxp_tensor dq_bad = tu_tensor(s.dqd, TU_F32, 4, qs_bad, NULL);
    mlxp_attention_params p;
    mlxp_rope_params rp;
    CHECK_OK(mlxp_attention_params_init(&p));
    CHECK_OK(mlxp_rope_params_init(&rp));
    CHECK_OK(mlxp_flash_attention_rope(&s.q, &s.k, &s.v, &s.o, &s.l, &rp, &p));
#define RESET() (small_grad_reset(&s), mlxp_attention_params_init(&p), mlxp_rope_params_init(&rp))
#define UNCHANGED(what) CHECK(small_grad_unchanged(&s), "%s: output written", what)
#define RBWD(dq_, rope_, params_) \
    mlxp_flash_attention_rope_backward(&s.q, &s.k, &s.v, &s.o, &s.g, &s.l, dq_, &s.dk, &s.dv, rope_, params_)
    RESET(); CHECK_OK(RBWD(&s.dq, &rp, &p)); /* the baseline is valid and writes all three */
    CHECK(!untouched(s.dqd, sizeof s.dqd) && !untouched(s.dkd, sizeof s.dkd) && !untouched(s.dvd, sizeof s.dvd),
          "rope backward baseline: a gradient was not written");
    memcpy(base, s.dqd, sizeof s.dqd), memcpy(base + 96, s.dkd, sizeof s.dkd), memcpy(base + 176, s.dvd, sizeof s.dvd);
    RESET(); CHECK_OK(RBWD(&s.dq, NULL, NULL)); /* NULL rope and params: the defaults */
    CHECK(memcmp(base, s.dqd, sizeof s.dqd) == 0 && memcmp(base + 96, s.dkd, sizeof s.dkd) == 0 &&
              memcmp(base + 176, s.dvd, sizeof s.dvd) == 0,
          "rope backward: NULL rope and params differ from the defaults");
    RESET(); rp.inverse = 1; EXPECT(RBWD(&s.dq, &rp, &p), MLXP_ERR_INVALID_ARGUMENT, "inverse");
        UNCHANGED("rope backward inverse 1");
    RESET(); rp.rotary_dim = 5; EXPECT(RBWD(&s.dq, &rp, &p), MLXP_ERR_INVALID_ARGUMENT, "rotary_dim");
        UNCHANGED("rope backward odd rotary_dim");
    RESET(); EXPECT(RBWD(&dq_bad, &rp, &p), MLXP_ERR_SHAPE_MISMATCH, "dq"); UNCHANGED("rope backward dq shape");
    RESET(); EXPECT(RBWD(&s.dq_on_q, &rp, &p), MLXP_ERR_INVALID_ARGUMENT, "dq"); UNCHANGED("rope backward dq on q");
#undef RBWD
#undef RESET
#undef UNCHANGED
}

/* ---- bias gradient --------------------------------------------------------------------- */

/* mlxp_flash_attention_bias_grad against dL/dx of ref_backward (x the logits, which a full
 * [B, Hq, Lq, Lk] bias enters one to one) summed over the dimensions along which the bias
 * broadcasts: full, [1,Hq,Lq,Lk], [Lq,Lk], [B,1,1,Lk] (key padding), [Lk], 0-D and
 * [B,Hq,Lq,1]. The reference dL/dx is itself checked by central finite differences of the
 * loss on every element of a full bias (test_bias_grad_reference). Each case also runs
 * with 1 and with 2 threads and must give the same bytes.
 *
 * Tolerance: q, k, v, dout in [-1, 1], D <= 16, Dv = 8, out float32. A term
 * P_ij (dout_i.v_j - dout_i.out_i) carries the float32 error of two dot products of Dv
 * products and the relative float32 error of P (logit and lse, ~1e-6); a query row's P
 * sums to at most 1, so its terms together are off by at most 2e-5 (the backward test's
 * bound). An element summing N terms from R query rows (R = N / Lk when the bias is
 * broadcast along the keys, else N) adds the float32 accumulation of the N terms:
 *   |got - ref| <= 2e-5 * R + acc_tol(N, sum |term|) + out_rtol(dt) * |ref|
 * where out_rtol is 0 for a float32 dbias and, for bfloat16, half a bfloat16 ulp
 * (2^-8 relative) doubled for a float32 sum next to a rounding boundary. An element whose
 * terms are all masked (no visible key, or a -Inf bias entry) must be exactly 0. */

/* Central differences of the loss on every element of the full bias that c->bias points
 * to (bias, perturbed in place and restored), against dx. */
static void check_ref_bias_fd(const char* name, const bcfg* c, double* bias, const double* q, const double* k,
                              const double* v, const double* dout, const double* dx) {
    double* out = malloc(sizeof(double) * (size_t)c->B * c->Lq * c->Hq * c->Dv);
    const double h = 1e-5;
    int bad = 0;
    for (size_t e = 0; e < (size_t)c->B * c->Hq * c->Lq * c->Lk; e++) {
        double x0 = bias[e];
        bias[e] = x0 + h;
        double lp = ref_loss(c, q, k, v, dout, out);
        bias[e] = x0 - h;
        double lm = ref_loss(c, q, k, v, dout, out);
        bias[e] = x0;
        double fd = (lp - lm) / (2 * h);
        if (!near(fd, dx[e], 1e-6 * (1 + fabs(dx[e])))) {
            if (bad < 3)
                fprintf(stderr, "  %s: dx[%zu] reference %.12g, finite difference %.12g\n", name, e, dx[e], fd);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d elements of the reference dL/dx disagree with finite differences", name, bad);
    free(out);
}

/* The reference dL/dx on a small case with every feature at once (GQA, causal, window,
 * soft cap, ALiBi, sinks, key lengths, a full bias with -Inf entries), all in double. */
static void test_bias_grad_reference(void) {
    static const double slopes[4] = {0.5, 0.25, 0.125, 0.0625}, sinks[4] = {0.5, -1.0, 2.0, -INFINITY};
    static const int32_t klen[2] = {6, 2};
    const bcfg c0 = {2, 4, 6, 4, 2, 8, 8, 1, 3, -1, 0.7, 1.5, slopes, klen, sinks, NULL};
    bcfg c = c0;
    tu_rand r = {7100};
    size_t nq = (size_t)c.B * c.Lq * c.Hq * c.D, nk = (size_t)c.B * c.Lk * c.Hkv * c.D,
           nv = (size_t)c.B * c.Lk * c.Hkv * c.Dv, no = (size_t)c.B * c.Lq * c.Hq * c.Dv,
           nx = (size_t)c.B * c.Hq * c.Lq * c.Lk;
    double *q = malloc(sizeof(double) * nq), *k = malloc(sizeof(double) * nk), *v = malloc(sizeof(double) * nv),
           *g = malloc(sizeof(double) * no), *out = malloc(sizeof(double) * no), *dq = malloc(sizeof(double) * nq),
           *dk = malloc(sizeof(double) * nk), *dv = malloc(sizeof(double) * nv), *bias = malloc(sizeof(double) * nx),
           *dx = malloc(sizeof(double) * nx);
    for (size_t i = 0; i < nq; i++) q[i] = tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < nk; i++) k[i] = tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < nv; i++) v[i] = tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < no; i++) g[i] = tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < nx; i++) bias[i] = i % 7 == 3 ? -INFINITY : tu_uniform(&r, -1, 1);
    c.bias = bias;
    ref_backward(&c, q, k, v, g, out, dq, dk, dv, NULL, dx);
    int nonzero = 0;
    for (size_t i = 0; i < nx; i++) nonzero += dx[i] != 0.0;
    CHECK(nonzero > (int)nx / 4, "bias grad reference: only %d of %zu dL/dx are not 0", nonzero, nx);
    check_ref_bias_fd("bias grad reference", &c, bias, q, k, v, g, dx);
    free(q), free(k), free(v), free(g), free(out), free(dq), free(dk), free(dv), free(bias), free(dx);
}

/* A tensor of the bias's shape (0..4 dims), contiguous or with padded rows and step 2. */
typedef struct {
    int ndim;
    int64_t shape[4], strides[4], cstrides[4]; /* cstrides: row-major contiguous */
    int64_t numel;
    kbuf buf;
    mlxp_tensor t;
} btensor;

static void bt_init(btensor* a, int ndim, const int64_t* shape, tu_dt dt, int strided) {
    a->ndim = ndim;
    a->numel = 1;
    int64_t last = 0; /* the largest element offset */
    for (int d = ndim - 1; d >= 0; d--) {
        a->shape[d] = shape[d];
        a->strides[d] = d == ndim - 1 ? 1 + strided : a->strides[d + 1] * shape[d + 1] + 3 * strided;
        a->numel *= shape[d];
        last += (shape[d] - 1) * a->strides[d];
    }
    contiguous_strides(ndim, a->shape, a->cstrides);
    a->buf = kb_new(dt, last + 1);
    kb_sentinel(&a->buf);
    a->t = kb_tensor(&a->buf, ndim, ndim ? a->shape : NULL, strided ? a->strides : NULL);
}

/* Storage offset of the element with row-major index e. */
static int64_t bt_off(const btensor* a, int64_t e) {
    int64_t o = 0;
    for (int d = 0; d < a->ndim; d++) o += (e / a->cstrides[d]) % a->shape[d] * a->strides[d];
    return o;
}

/* Row-major index of the element that position (b, h, i, j) of [B, Hq, Lq, Lk] reads: the
 * shape is aligned right and its size-1 dimensions broadcast. */
static int64_t bt_index(const btensor* a, int b, int h, int i, int j) {
    const int f[4] = {b, h, i, j};
    int64_t e = 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] > 1) e += f[4 - a->ndim + d] * a->cstrides[d];
    return e;
}

/* Whether every byte outside the tensor's elements still holds the sentinel. */
static int bt_gaps_untouched(const btensor* a) {
    size_t es = tu_size(a->buf.dt);
    char* mark = calloc((size_t)a->buf.n, 1);
    for (int64_t e = 0; e < a->numel; e++) mark[bt_off(a, e)] = 1;
    int ok = 1;
    for (int64_t i = 0; i < a->buf.n && ok; i++)
        if (!mark[i]) ok = untouched((char*)a->buf.data + (size_t)i * es, es);
    free(mark);
    return ok;
}

typedef struct {
    const char* name;
    bcfg c;         /* c.bias is built by the test */
    int bndim;      /* the bias's shape */
    int64_t bshape[4];
    int mask;       /* -Inf bias entries: 0 none; 1 every 7th; 2 the last 2 + 3b keys of batch b
                       (a [B,1,1,Lk] key-padding bias) */
    tu_dt dt, bdt, gdt; /* q, k, v, dout; bias; dbias (out is float32) */
    int layout;
    int strided;    /* q, k, v, out, dout, bias and dbias with padded rows and step 2 */
    int alibi;
    int expect_zero; /* some dbias elements have every term masked */
} gcase;

static void run_bias_grad(const gcase* gc, uint64_t seed) {
    bcfg c = gc->c;
    tu_rand r = {seed};
    int step = 1 + gc->strided, pad = 3 * gc->strided;
    atensor q, k, v, o, dO;
    grad_inputs_init(&q, &k, &v, &o, &dO, &c, gc->dt, gc->layout, step, pad, &r);

    btensor bias, db;
    bt_init(&bias, gc->bndim, gc->bshape, gc->bdt, gc->strided);
    bt_init(&db, gc->bndim, gc->bshape, gc->gdt, gc->strided);
    double* bvals = malloc(sizeof(double) * (size_t)bias.numel); /* the stored values, row-major */
    for (int64_t e = 0; e < bias.numel; e++) {
        double x = tu_uniform(&r, -1, 1);
        if (gc->mask == 1 && e % 7 == 3) x = -INFINITY;
        if (gc->mask == 2 && e % c.Lk >= c.Lk - 2 - 3 * (e / c.Lk)) x = -INFINITY;
        kb_set(&bias.buf, bt_off(&bias, e), x);
        bvals[e] = kb_get(&bias.buf, bt_off(&bias, e));
    }

    size_t nrow = (size_t)c.B * c.Hq * c.Lq, nx = nrow * (size_t)c.Lk;
    float* lse = malloc(sizeof(float) * nrow);
    int64_t lse_shape[3] = {c.B, c.Hq, c.Lq};
    mlxp_tensor tl = tu_tensor(lse, TU_F32, 3, lse_shape, NULL);
    bparams bp;
    bparams_init(&bp, &c, gc->layout, gc->alibi);
    bp.p.bias = &bias.t;

    /* the forward call, then the bias gradient with 1 and with 2 threads */
    CHECK_OK(mlxp_flash_attention(&q.t, &k.t, &v.t, &o.t, &tl, &bp.p));
    int32_t threads0 = 0;
    CHECK_OK(mlxp_get_num_threads(&threads0));
    CHECK_OK(mlxp_set_num_threads(1));
    mlxp_status st = mlxp_flash_attention_bias_grad(&q.t, &k.t, &v.t, &o.t, &dO.t, &tl, &db.t, &bp.p);
    CHECK(st == MLXP_OK, "%s: status %d (%s)", gc->name, (int)st, mlxp_last_error());
    size_t nbytes = (size_t)db.buf.n * tu_size(gc->gdt);
    void* one_thread = malloc(nbytes);
    memcpy(one_thread, db.buf.data, nbytes);
    CHECK_OK(mlxp_set_num_threads(2));
    st = mlxp_flash_attention_bias_grad(&q.t, &k.t, &v.t, &o.t, &dO.t, &tl, &db.t, &bp.p);
    CHECK(st == MLXP_OK && memcmp(one_thread, db.buf.data, nbytes) == 0, "%s: dbias differs between 1 and 2 threads",
          gc->name);
    CHECK_OK(mlxp_set_num_threads(threads0));

    /* the reference: dL/dx of the full broadcast bias, summed into the bias's shape */
    size_t nq = (size_t)c.B * c.Lq * c.Hq * c.D, nk = (size_t)c.B * c.Lk * c.Hkv * c.D,
           nv = (size_t)c.B * c.Lk * c.Hkv * c.Dv, no = nrow * (size_t)c.Dv;
    double *xq = malloc(sizeof(double) * nq), *xk = malloc(sizeof(double) * nk), *xv = malloc(sizeof(double) * nv),
           *xg = malloc(sizeof(double) * no), *xo = malloc(sizeof(double) * no), *gq = malloc(sizeof(double) * nq),
           *gk = malloc(sizeof(double) * nk), *gv = malloc(sizeof(double) * nv),
           *full = malloc(sizeof(double) * nx), *dx = malloc(sizeof(double) * nx),
           *want = calloc((size_t)bias.numel, sizeof(double)), *mag = calloc((size_t)bias.numel, sizeof(double));
    at_to_double(&q, xq), at_to_double(&k, xk), at_to_double(&v, xv), at_to_double(&dO, xg);
    size_t x = 0;
    for (int b = 0; b < c.B; b++)
        for (int h = 0; h < c.Hq; h++)
            for (int i = 0; i < c.Lq; i++)
                for (int j = 0; j < c.Lk; j++) full[x++] = bvals[bt_index(&bias, b, h, i, j)];
    c.bias = full;
    ref_backward(&c, xq, xk, xv, xg, xo, gq, gk, gv, NULL, dx);
    x = 0;
    for (int b = 0; b < c.B; b++)
        for (int h = 0; h < c.Hq; h++)
            for (int i = 0; i < c.Lq; i++)
                for (int j = 0; j < c.Lk; j++, x++) {
                    int64_t e = bt_index(&bias, b, h, i, j);
                    want[e] += dx[x], mag[e] += fabs(dx[x]);
                }

    /* terms per element, and query rows per element (the keys sum too when the bias has
     * no key axis) */
    double nterms = (double)nx / (double)bias.numel;
    int key_axis = bias.ndim > 0 && bias.shape[bias.ndim - 1] > 1;
    double rows = key_axis ? nterms : nterms / c.Lk;
    double rt = gc->gdt == TU_F32 ? 0 : out_rtol(gc->gdt);
    int bad = 0, zeros = 0, nan = 0;
    double worst = 0; /* the largest error as a fraction of its tolerance */
    for (int64_t e = 0; e < bias.numel; e++) {
        double got = kb_get(&db.buf, bt_off(&db, e));
        nan += isnan(got);
        if (mag[e] == 0) { /* every term masked */
            zeros++;
            if (got != 0.0) {
                if (bad < 3) fprintf(stderr, "  %s: dbias[%lld] = %.9g, want exactly 0\n", gc->name, (long long)e, got);
                bad++;
            }
            continue;
        }
        double tol = 2e-5 * rows + acc_tol((int64_t)nterms, mag[e]) + rt * fabs(want[e]);
        if (fabs(got - want[e]) / tol > worst) worst = fabs(got - want[e]) / tol;
        if (!near(got, want[e], tol)) {
            if (bad < 3)
                fprintf(stderr, "  %s: dbias[%lld] = %.9g, ref %.9g, tol %.3g\n", gc->name, (long long)e, got, want[e],
                        tol);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d dbias mismatches (worst error %.2f of its tolerance)", gc->name, bad, worst);
    CHECK(nan == 0, "%s: %d NaN", gc->name, nan);
    if (gc->expect_zero) CHECK(zeros > 0, "%s: expected dbias elements with every term masked", gc->name);
    CHECK(bt_gaps_untouched(&db), "%s: dbias's padding was written", gc->name);

    free(xq), free(xk), free(xv), free(xg), free(xo), free(gq), free(gk), free(gv), free(full), free(dx);
    free(want), free(mag), free(bvals), free(lse), free(one_thread);
    kb_free(&bias.buf), kb_free(&db.buf);
    at_free(&q), at_free(&k), at_free(&v), at_free(&o), at_free(&dO);
}

static void test_bias_grad(void) {
    static const double sinks4[4] = {0.5, -1.0, 2.0, -INFINITY};
    static const int32_t klen_empty[2] = {6, 0}; /* batch 1 has no keys */
    test_bias_grad_reference();
    /* GQA (Hq 4, Hkv 2), causal with Lq 5 < Lk 9, D 16, Dv 8, BSHD float32, full bias */
    const gcase base = {"full [B,Hq,Lq,Lk]", {2, 5, 9, 4, 2, 16, 8, 1, -1, -1, 0, 0, NULL, NULL, NULL, NULL},
                        4, {2, 4, 5, 9}, 1, TU_F32, TU_F32, TU_F32, MLXP_LAYOUT_BSHD, 0, 0, 1};
    gcase cases[12];
    int n = 0;
    cases[n++] = base;
    cases[n] = base, cases[n].name = "[1,Hq,Lq,Lk] over the batch, non-causal, key_lengths {6, 0}",
    cases[n].bshape[0] = 1, cases[n].mask = 0, cases[n].c.causal = 0, cases[n].c.klen = klen_empty, n++;
    cases[n] = base, cases[n].name = "[Lq,Lk] window (3, 1) non-causal, softcap", cases[n].bndim = 2,
    cases[n].bshape[0] = 6, cases[n].bshape[1] = 8, cases[n].c.Lq = 6, cases[n].c.Lk = 8, cases[n].c.causal = 0,
    cases[n].c.wl = 3, cases[n].c.wr = 1, cases[n].c.softcap = 1.0, cases[n].c.scale = 0.5, n++;
    cases[n] = base, cases[n].name = "[B,1,1,Lk] key padding, alibi", cases[n].bshape[1] = 1,
    cases[n].bshape[2] = 1, cases[n].mask = 2, cases[n].alibi = 1, n++;
    cases[n] = base, cases[n].name = "[Lk] Lk 200 (two key blocks), sinks", cases[n].bndim = 1,
    cases[n].bshape[0] = 200, cases[n].c.B = 1, cases[n].c.Lq = 3, cases[n].c.Lk = 200, cases[n].mask = 0,
    cases[n].c.sinks = sinks4, cases[n].expect_zero = 0, n++;
    cases[n] = base, cases[n].name = "0-D, sinks, window (2, -1)", cases[n].bndim = 0, cases[n].mask = 0,
    cases[n].c.sinks = sinks4, cases[n].c.wl = 2, cases[n].expect_zero = 0, n++;
    cases[n] = base, cases[n].name = "[B,Hq,Lq,1] sinks, alibi, key_lengths {6, 0}", cases[n].bshape[3] = 1,
    cases[n].mask = 0, cases[n].c.sinks = sinks4, cases[n].alibi = 1, cases[n].c.klen = klen_empty, n++;
    cases[n] = base, cases[n].name = "full, BHSD, every tensor strided", cases[n].layout = MLXP_LAYOUT_BHSD,
    cases[n].strided = 1, n++;
    cases[n] = base, cases[n].name = "[Lq,Lk] Lk 140, bf16 q/k/v/dout, f16 bias, bf16 dbias", cases[n].bndim = 2,
    cases[n].bshape[0] = 4, cases[n].bshape[1] = 140, cases[n].c.B = 1, cases[n].c.Lq = 4, cases[n].c.Lk = 140,
    cases[n].dt = TU_BF16, cases[n].bdt = TU_F16, cases[n].gdt = TU_BF16, n++;
    for (int i = 0; i < n; i++) run_bias_grad(&cases[i], 7200 + (uint64_t)i);
}

static void test_bias_grad_bad_input(void) {
    /* small_grad's call with a bias and dbias [3,5] */
    small_grad s;
    small_grad_init(&s);
    float bd[15], dbd[15], b0[15];
    int32_t dbi[15];
    for (int i = 0; i < 15; i++) bd[i] = 0.1f * (float)(i % 4) - 0.2f;
    int64_t bs[2] = {3, 5}, bs_t[2] = {5, 3}, bs_3d[3] = {1, 3, 5};
    mlxp_tensor tb = tu_tensor(bd, TU_F32, 2, bs, NULL), db = tu_tensor(dbd, TU_F32, 2, bs, NULL),
                db_t = tu_tensor(dbd, TU_F32, 2, bs_t, NULL), db_3d = tu_tensor(dbd, TU_F32, 3, bs_3d, NULL),
                db_i32 = tu_tensor(dbi, TU_F32, 2, bs, NULL), db_on_bias = tu_tensor(bd, TU_F32, 2, bs, NULL),
                db_on_q = tu_tensor(s.qd, TU_F32, 2, bs, NULL);
    db_i32.dtype.code = MLXP_DTYPE_INT;
    mlxp_attention_params p;
    CHECK_OK(mlxp_attention_params_init(&p));
    p.bias = &tb;
    CHECK_OK(mlxp_flash_attention(&s.q, &s.k, &s.v, &s.o, &s.l, &p));
    memcpy(b0, bd, sizeof bd);
#define RESET()                                      \
    do {                                             \
        fill(dbd, sizeof dbd), fill(dbi, sizeof dbi); \
        mlxp_attention_params_init(&p);              \
        p.bias = &tb;                                \
    } while (0)
#define UNCHANGED(what)                                                                                        \
    CHECK(untouched(dbd, sizeof dbd) && untouched(dbi, sizeof dbi) && memcmp(s.qd, s.q0, sizeof s.qd) == 0 && \
              memcmp(bd, b0, sizeof bd) == 0,                                                                \
          "%s: output written", what)
#define BGRAD(dbias_, params_) mlxp_flash_attention_bias_grad(&s.q, &s.k, &s.v, &s.o, &s.g, &s.l, dbias_, params_)
    RESET(); CHECK_OK(BGRAD(&db, &p)); /* the baseline is valid */
    CHECK(!untouched(dbd, sizeof dbd), "bias grad baseline: dbias not written");
    RESET(); EXPECT(BGRAD(&db, NULL), MLXP_ERR_INVALID_ARGUMENT, "params"); UNCHANGED("bias grad params NULL");
    RESET(); p.bias = NULL; EXPECT(BGRAD(&db, &p), MLXP_ERR_INVALID_ARGUMENT, "bias"); UNCHANGED("bias grad bias NULL");
    RESET(); EXPECT(BGRAD(&db_t, &p), MLXP_ERR_SHAPE_MISMATCH, "dbias"); UNCHANGED("dbias [5,3] for bias [3,5]");
    RESET(); EXPECT(BGRAD(&db_3d, &p), MLXP_ERR_SHAPE_MISMATCH, "dbias"); UNCHANGED("dbias [1,3,5] for bias [3,5]");
    RESET(); EXPECT(BGRAD(&db_i32, &p), MLXP_ERR_UNSUPPORTED_DTYPE, "dbias"); UNCHANGED("dbias int32");
    RESET(); EXPECT(BGRAD(&db_on_bias, &p), MLXP_ERR_INVALID_ARGUMENT, "dbias"); UNCHANGED("dbias on the bias");
    RESET(); EXPECT(BGRAD(&db_on_q, &p), MLXP_ERR_INVALID_ARGUMENT, "dbias"); UNCHANGED("dbias overlapping q");
    RESET(); EXPECT(BGRAD(NULL, &p), MLXP_ERR_INVALID_ARGUMENT, "dbias"); UNCHANGED("dbias NULL");
#undef BGRAD
#undef RESET
#undef UNCHANGED
}

/* ---- varlen backward ------------------------------------------------------------------- */

/* mlxp_flash_attention_varlen_backward on four packed sequences, GQA, causal: Lq < Lk, no
 * queries (its keys must get dk = dv = 0), no keys (its dq must be 0) and Lq > Lk (causal
 * rows with no visible key). Each sequence's dq, dk, dv equal mlxp_flash_attention_backward
 * on that sequence alone (after mlxp_flash_attention on it alone) bit for bit, and the
 * reference gradients of ref_backward within run_backward's tolerance. The gradients start
 * as sentinel bytes, so a row left unwritten shows up. */
static void test_varlen_backward(void) {
    enum { NS = 4, HQ = 4, HKV = 2, D = 16, DV = 8 };
    static const int lq[NS] = {3, 0, 4, 6}, lk[NS] = {7, 5, 0, 4};
    static const struct {
        const char* name;
        int wl;
        double softcap;
        int alibi, sinks;
    } cfgs[] = {{"varlen backward causal", -1, 0, 0, 0},
                {"varlen backward causal window softcap alibi sinks", 2, 1.5, 1, 1}};
    int32_t cuq[NS + 1] = {0}, cuk[NS + 1] = {0};
    for (int s = 0; s < NS; s++) cuq[s + 1] = cuq[s] + lq[s], cuk[s + 1] = cuk[s] + lk[s];
    const int tq = cuq[NS], tk = cuk[NS];
    const size_t nq = (size_t)tq * HQ * D, nk = (size_t)tk * HKV * D, nv = (size_t)tk * HKV * DV,
                 no = (size_t)tq * HQ * DV, nl = (size_t)HQ * tq;
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const char* name = cfgs[ci].name;
        tu_rand r = {6100 + (uint64_t)ci};
        float *pq = malloc(sizeof(float) * nq), *pk = malloc(sizeof(float) * nk), *pv = malloc(sizeof(float) * nv),
              *pdo = malloc(sizeof(float) * no), *po = malloc(sizeof(float) * no), *pl = malloc(sizeof(float) * nl),
              *pdq = malloc(sizeof(float) * nq), *pdk = malloc(sizeof(float) * nk), *pdv = malloc(sizeof(float) * nv);
        atensor q[NS], k[NS], v[NS], dO[NS];
        for (int s = 0; s < NS; s++) {
            /* contiguous [1, L, H, D]: the packed rows are a plain copy */
            at_init(&q[s], 1, lq[s], HQ, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&k[s], 1, lk[s], HKV, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&v[s], 1, lk[s], HKV, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&dO[s], 1, lq[s], HQ, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_fill(&q[s], &r, -1, 1), at_fill(&k[s], &r, -1, 1), at_fill(&v[s], &r, -1, 1);
            at_fill(&dO[s], &r, -1, 1);
            memcpy(pq + (size_t)cuq[s] * HQ * D, q[s].buf.data, sizeof(float) * (size_t)lq[s] * HQ * D);
            memcpy(pk + (size_t)cuk[s] * HKV * D, k[s].buf.data, sizeof(float) * (size_t)lk[s] * HKV * D);
            memcpy(pv + (size_t)cuk[s] * HKV * DV, v[s].buf.data, sizeof(float) * (size_t)lk[s] * HKV * DV);
            memcpy(pdo + (size_t)cuq[s] * HQ * DV, dO[s].buf.data, sizeof(float) * (size_t)lq[s] * HQ * DV);
        }
        fill(pdq, sizeof(float) * nq), fill(pdk, sizeof(float) * nk), fill(pdv, sizeof(float) * nv);
        int64_t sq[3] = {tq, HQ, D}, sk[3] = {tk, HKV, D}, sv[3] = {tk, HKV, DV}, so[3] = {tq, HQ, DV},
                sl[2] = {HQ, tq}, sc[1] = {NS + 1}, hq_shape[1] = {HQ};
        mlxp_tensor tq_ = tu_tensor(pq, TU_F32, 3, sq, NULL), tk_ = tu_tensor(pk, TU_F32, 3, sk, NULL),
                    tv_ = tu_tensor(pv, TU_F32, 3, sv, NULL), tdo = tu_tensor(pdo, TU_F32, 3, so, NULL),
                    to_ = tu_tensor(po, TU_F32, 3, so, NULL), tl_ = tu_tensor(pl, TU_F32, 2, sl, NULL),
                    tdq = tu_tensor(pdq, TU_F32, 3, sq, NULL), tdk = tu_tensor(pdk, TU_F32, 3, sk, NULL),
                    tdv = tu_tensor(pdv, TU_F32, 3, sv, NULL), tcq = tu_tensor(cuq, TU_F32, 1, sc, NULL),
                    tck = tu_tensor(cuk, TU_F32, 1, sc, NULL);
        tcq.dtype.code = tck.dtype.code = MLXP_DTYPE_INT;

        mlxp_attention_params p;
        CHECK_OK(mlxp_attention_params_init(&p));
        p.window_left = cfgs[ci].wl;
        p.softcap = (float)cfgs[ci].softcap;
        float slopes32[HQ], sinks32[HQ] = {0.5f, -1.0f, 2.0f, 0.0f};
        double slopes_d[HQ], sinks_d[HQ];
        mlxp_tensor ts = tu_tensor(slopes32, TU_F32, 1, hq_shape, NULL),
                    tsk = tu_tensor(sinks32, TU_F32, 1, hq_shape, NULL);
        bcfg c = {1, 0, 0, HQ, HKV, D, DV, 1, cfgs[ci].wl, -1, 0, cfgs[ci].softcap, NULL, NULL, NULL, NULL};
        if (cfgs[ci].alibi) {
            CHECK_OK(mlxp_alibi_slopes(HQ, &ts));
            for (int h = 0; h < HQ; h++) slopes_d[h] = slopes32[h];
            p.alibi_slopes = &ts;
            c.slopes = slopes_d;
        }
        if (cfgs[ci].sinks) {
            for (int h = 0; h < HQ; h++) sinks_d[h] = sinks32[h];
            p.sinks = &tsk;
            c.sinks = sinks_d;
        }
        CHECK_OK(mlxp_flash_attention_varlen(&tq_, &tk_, &tv_, &tcq, &tck, &to_, &tl_, &p));
        mlxp_status st = mlxp_flash_attention_varlen_backward(&tq_, &tk_, &tv_, &to_, &tdo, &tl_, &tcq, &tck, &tdq,
                                                              &tdk, &tdv, &p);
        CHECK(st == MLXP_OK, "%s: status %d (%s)", name, (int)st, mlxp_last_error());

        int same = 1, bad = 0;
        for (int s = 0; s < NS; s++) {
            atensor o, dq, dk, dv;
            at_init(&o, 1, lq[s], HQ, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&dq, 1, lq[s], HQ, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&dk, 1, lk[s], HKV, D, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            at_init(&dv, 1, lk[s], HKV, DV, TU_F32, MLXP_LAYOUT_BSHD, 1, 0);
            float* lse1 = malloc(sizeof(float) * ((size_t)HQ * lq[s] + 1));
            int64_t ls1[3] = {1, HQ, lq[s]};
            mlxp_tensor tl1 = tu_tensor(lse1, TU_F32, 3, ls1, NULL);
            CHECK_OK(mlxp_flash_attention(&q[s].t, &k[s].t, &v[s].t, &o.t, &tl1, &p));
            st = mlxp_flash_attention_backward(&q[s].t, &k[s].t, &v[s].t, &o.t, &dO[s].t, &tl1, &dq.t, &dk.t,
                                               &dv.t, &p);
            CHECK(st == MLXP_OK, "%s: sequence %d alone: status %d (%s)", name, s, (int)st, mlxp_last_error());
            size_t bq = sizeof(float) * (size_t)lq[s] * HQ * D, bk = sizeof(float) * (size_t)lk[s] * HKV * D,
                   bv = sizeof(float) * (size_t)lk[s] * HKV * DV;
            int eq = memcmp(pdq + (size_t)cuq[s] * HQ * D, dq.buf.data, bq) == 0 &&
                     memcmp(pdk + (size_t)cuk[s] * HKV * D, dk.buf.data, bk) == 0 &&
                     memcmp(pdv + (size_t)cuk[s] * HKV * DV, dv.buf.data, bv) == 0;
            if (!eq) fprintf(stderr, "  %s: sequence %d (Lq %d, Lk %d) differs\n", name, s, lq[s], lk[s]);
            same &= eq;

            c.Lq = lq[s], c.Lk = lk[s];
            size_t mq = (size_t)lq[s] * HQ * D + 1, mk = (size_t)lk[s] * HKV * D + 1, mv = (size_t)lk[s] * HKV * DV + 1,
                   mo = (size_t)lq[s] * HQ * DV + 1;
            double *xq = malloc(sizeof(double) * mq), *xk = malloc(sizeof(double) * mk),
                   *xv = malloc(sizeof(double) * mv), *xg = malloc(sizeof(double) * mo),
                   *xo = malloc(sizeof(double) * mo), *gq = malloc(sizeof(double) * mq),
                   *gk = malloc(sizeof(double) * mk), *gv = malloc(sizeof(double) * mv);
            at_to_double(&q[s], xq), at_to_double(&k[s], xk), at_to_double(&v[s], xv), at_to_double(&dO[s], xg);
            ref_backward(&c, xq, xk, xv, xg, xo, gq, gk, gv, NULL, NULL);
            bad += grad_mismatches(name, "dq", &dq, gq) + grad_mismatches(name, "dk", &dk, gk) +
                   grad_mismatches(name, "dv", &dv, gv);
            free(xq), free(xk), free(xv), free(xg), free(xo), free(gq), free(gk), free(gv), free(lse1);
            at_free(&o), at_free(&dq), at_free(&dk), at_free(&dv);
        }
        CHECK(same, "%s: gradients differ from mlxp_flash_attention_backward on each sequence alone", name);
        CHECK(bad == 0, "%s: %d mismatches against the reference", name, bad);
        /* sequence 1 has no queries: its keys get no gradient; sequence 2 has no keys */
        int nonzero = 0;
        for (size_t i = (size_t)cuk[1] * HKV * D; i < (size_t)cuk[2] * HKV * D; i++) nonzero += pdk[i] != 0.0f;
        for (size_t i = (size_t)cuk[1] * HKV * DV; i < (size_t)cuk[2] * HKV * DV; i++) nonzero += pdv[i] != 0.0f;
        for (size_t i = (size_t)cuq[2] * HQ * D; i < (size_t)cuq[3] * HQ * D; i++) nonzero += pdq[i] != 0.0f;
        CHECK(nonzero == 0, "%s: %d gradients of an empty side are not 0", name, nonzero);
        for (int s = 0; s < NS; s++) at_free(&q[s]), at_free(&k[s]), at_free(&v[s]), at_free(&dO[s]);
        free(pq), free(pk), free(pv), free(pdo), free(po), free(pl), free(pdq), free(pdk), free(pdv);
    }
}

static void test_varlen_backward_bad_input(void) {
    /* valid: two sequences, q/out/dout/dq [3, 2, 4], k/v/dk/dv [5, 1, 4], lse [2, 3] */
    float qd[24], kd[20], vd[20], od[24], gd[24], ld[6], dqd[24], dkd[20], dvd[20], q0[24];
    for (int i = 0; i < 24; i++) qd[i] = 0.03f * (float)i, gd[i] = 0.02f * (float)(i % 7) - 0.05f;
    for (int i = 0; i < 20; i++) kd[i] = vd[i] = 0.02f * (float)i;
    int64_t qs[3] = {3, 2, 4}, ks[3] = {5, 1, 4}, ks_bad[3] = {4, 1, 4}, ls[2] = {2, 3}, c3[1] = {3},
            c2[1] = {2};
    mlxp_tensor q = tu_tensor(qd, TU_F32, 3, qs, NULL), k = tu_tensor(kd, TU_F32, 3, ks, NULL),
                v = tu_tensor(vd, TU_F32, 3, ks, NULL), o = tu_tensor(od, TU_F32, 3, qs, NULL),
                g = tu_tensor(gd, TU_F32, 3, qs, NULL), l = tu_tensor(ld, TU_F32, 2, ls, NULL),
                dq = tu_tensor(dqd, TU_F32, 3, qs, NULL), dk = tu_tensor(dkd, TU_F32, 3, ks, NULL),
                dv = tu_tensor(dvd, TU_F32, 3, ks, NULL), dk_bad = tu_tensor(dkd, TU_F32, 3, ks_bad, NULL),
                dq_on_q = tu_tensor(qd, TU_F32, 3, qs, NULL);
    int32_t cq[3] = {0, 1, 3}, ck[3] = {0, 2, 5}, cq_start[3] = {1, 1, 3}, ck_last[3] = {0, 2, 4}, ck_short[2] = {0, 5};
#define I32(name, data, shape)                                  \
    mlxp_tensor name = tu_tensor(data, TU_F32, 1, shape, NULL); \
    name.dtype.code = MLXP_DTYPE_INT
    I32(tcq, cq, c3); I32(tck, ck, c3); I32(tcq_start, cq_start, c3); I32(tck_last, ck_last, c3);
    I32(tck_short, ck_short, c2);
#undef I32
    float bd[15] = {0};
    int64_t bs[2] = {3, 5};
    mlxp_tensor tb = tu_tensor(bd, TU_F32, 2, bs, NULL);
    mlxp_attention_params p;
    CHECK_OK(mlxp_attention_params_init(&p));
    CHECK_OK(mlxp_flash_attention_varlen(&q, &k, &v, &tcq, &tck, &o, &l, &p));
    memcpy(q0, qd, sizeof qd);
#define RESET()                                                              \
    do {                                                                     \
        fill(dqd, sizeof dqd), fill(dkd, sizeof dkd), fill(dvd, sizeof dvd); \
        mlxp_attention_params_init(&p);                                      \
    } while (0)
#define UNCHANGED(what)                                                                              \
    CHECK(untouched(dqd, sizeof dqd) && untouched(dkd, sizeof dkd) && untouched(dvd, sizeof dvd) && \
              memcmp(qd, q0, sizeof qd) == 0,                                                        \
          "%s: output written", what)
#define VBWD(cu_q, cu_k, lse_, dq_, dk_) \
    mlxp_flash_attention_varlen_backward(&q, &k, &v, &o, &g, lse_, cu_q, cu_k, dq_, dk_, &dv, &p)
    RESET(); CHECK_OK(VBWD(&tcq, &tck, &l, &dq, &dk)); /* the baseline is valid */
    RESET(); EXPECT(VBWD(&tcq_start, &tck, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_q");
        UNCHANGED("varlen backward cu_q[0] = 1");
    RESET(); EXPECT(VBWD(&tcq, &tck_last, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_k");
        UNCHANGED("varlen backward cu_k last != 5");
    RESET(); EXPECT(VBWD(&tcq, &tck_short, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_k");
        UNCHANGED("varlen backward cu_k shorter than cu_q");
    RESET(); EXPECT(VBWD(NULL, &tck, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "cu_seqlens_q");
        UNCHANGED("varlen backward cu_q NULL");
    RESET(); EXPECT(VBWD(&tcq, &tck, &l, &dq, &dk_bad), MLXP_ERR_SHAPE_MISMATCH, "dk");
        UNCHANGED("varlen backward dk shape");
    RESET(); EXPECT(VBWD(&tcq, &tck, NULL, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "lse");
        UNCHANGED("varlen backward lse NULL");
    RESET(); EXPECT(VBWD(&tcq, &tck, &l, &dq_on_q, &dk), MLXP_ERR_INVALID_ARGUMENT, "dq");
        UNCHANGED("varlen backward dq overlapping q");
    RESET(); p.bias = &tb; EXPECT(VBWD(&tcq, &tck, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "bias");
        UNCHANGED("varlen backward bias");
    RESET(); p.layout = MLXP_LAYOUT_BHSD; EXPECT(VBWD(&tcq, &tck, &l, &dq, &dk), MLXP_ERR_INVALID_ARGUMENT, "layout");
        UNCHANGED("varlen backward BHSD");
#undef VBWD
#undef RESET
#undef UNCHANGED
}

int main(void) {
    test_alibi_slopes();
    test_flash();
    test_sliding_window();
    test_merge();
    test_bad_input();
    test_varlen();
    test_varlen_bad_input();
    test_chunked();
    test_attention_rope();
    test_backward();
    test_backward_bad_input();
    test_rope_backward();
    test_rope_backward_bad_input();
    test_bias_grad();
    test_bias_grad_bad_input();
    test_varlen_backward();
    test_varlen_backward_bad_input();
    return tu_finish("test_attention");
}
