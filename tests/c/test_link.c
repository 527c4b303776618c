/*
 * test_link.c — a C program linked against libmlxprim, checking the documented behavior
 * of every function against references written here from the header's formulas.
 *
 * Tolerances (|got - ref| <= atol + rtol * |ref|, ref computed in double from the exact
 * stored inputs):
 *   float32   rtol 2e-5     float32 accumulation over rows of <= 100 elements
 *   float16   rtol 2^-10    one rounding (2^-11) plus the float32 error
 *   bfloat16  rtol 2^-7     one rounding (2^-8) plus the float32 error
 *   atol 1e-6 for softmax and rms_norm, 1e-5 for log-softmax (values up to ~15 in size
 *   whose float32 difference of large terms loses ~1 ulp of 8).
 * Values the library computes exactly (residual sums, copies, random samples) are compared
 * bit for bit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlxprim.h"
#include "testutil.h"

static double rtol_of(tu_dt dt) {
    return dt == TU_F32 ? 2e-5 : dt == TU_F16 ? 0x1p-10 : 0x1p-7;
}

static int close_enough(double got, double ref, double atol, double rtol) {
    if (isnan(ref)) return isnan(got);
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

/* ---- the reference conversions themselves, on hand-checkable values ---------------- */

static void test_conversions(void) {
    CHECK(tu_f32_to_f16(1.0f) == 0x3c00, "f16(1)");
    CHECK(tu_f32_to_f16(-2.0f) == 0xc000, "f16(-2)");
    CHECK(tu_f32_to_f16(65504.0f) == 0x7bff, "f16(max)");
    CHECK(tu_f32_to_f16(65519.0f) == 0x7bff, "f16(65519) rounds down");
    CHECK(tu_f32_to_f16(65520.0f) == 0x7c00, "f16(65520) ties to Inf");
    CHECK(tu_f32_to_f16(0x1p-24f) == 0x0001, "f16 smallest subnormal");
    CHECK(tu_f32_to_f16(0x1p-25f) == 0x0000, "f16 half of smallest subnormal ties to 0");
    CHECK(tu_f32_to_f16(0x1.8p-24f) == 0x0002, "f16 1.5 units ties to 2");
    CHECK(tu_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00, "f16 tie to even (down)");
    CHECK(tu_f32_to_f16(1.0f + 0x1.8p-10f) == 0x3c02, "f16 tie to even (up)");
    CHECK(tu_f32_to_f16(0x1.ffcp-15f) == 0x0400, "f16 subnormal rounds up into the normals");
    CHECK((tu_f32_to_f16(NAN) & 0x7fff) > 0x7c00, "f16(NaN) is NaN");
    CHECK(tu_f32_to_f16(-INFINITY) == 0xfc00, "f16(-Inf)");
    CHECK(tu_f32_to_bf16(1.0f) == 0x3f80, "bf16(1)");
    CHECK(tu_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 tie to even (down)");
    CHECK(tu_f32_to_bf16(1.0f + 0x1.8p-7f) == 0x3f82, "bf16 tie to even (up)");
    CHECK(tu_f32_to_bf16(1.0f + 0x1.2p-8f) == 0x3f81, "bf16 above the tie rounds up");
    CHECK((tu_f32_to_bf16(NAN) & 0x7fff) > 0x7f80, "bf16(NaN) is NaN");
    CHECK(tu_f32_to_bf16(INFINITY) == 0x7f80, "bf16(Inf)");
    /* Every non-NaN half value survives a round trip through float32. */
    int f16_bad = 0, bf16_bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7fff) <= 0x7c00 && tu_f32_to_f16(tu_f16_to_f32((uint16_t)h)) != h) f16_bad++;
        if ((h & 0x7fff) <= 0x7f80 && tu_f32_to_bf16(tu_bf16_to_f32((uint16_t)h)) != h) bf16_bad++;
    }
    CHECK(f16_bad == 0, "%d float16 values do not round-trip", f16_bad);
    CHECK(bf16_bad == 0, "%d bfloat16 values do not round-trip", bf16_bad);
}

/* ---- version, errors, CPU, threads ------------------------------------------------- */

static void test_info(void) {
    int32_t v = -1, abi = -1;
    const char* s = NULL;
    CHECK_OK(mlxp_version(&v));
    CHECK(v == MLXP_VERSION_NUMBER, "version %d != %d", v, MLXP_VERSION_NUMBER);
    CHECK(v == MLXP_VERSION_MAJOR * 1000000 + MLXP_VERSION_MINOR * 1000 + MLXP_VERSION_PATCH,
          "version number formula");
    CHECK_OK(mlxp_version_string(&s));
    CHECK(s != NULL && strcmp(s, MLXP_VERSION_STRING) == 0, "version string %s", s ? s : "(null)");
    CHECK_OK(mlxp_abi_version(&abi));
    CHECK(abi == MLXP_ABI_VERSION, "abi %d != %d", abi, MLXP_ABI_VERSION);

    /* Nothing has failed on this thread yet. */
    CHECK(mlxp_last_error() != NULL && mlxp_last_error()[0] == '\0', "last_error before any failure: '%s'",
          mlxp_last_error());

    /* Each code has its own non-empty description; unknown codes say so and succeed. */
    const char* descs[10];
    for (int code = 0; code <= 9; code++) {
        descs[code] = NULL;
        CHECK_OK(mlxp_status_string(code, &descs[code]));
        CHECK(descs[code] != NULL && descs[code][0] != '\0', "status_string(%d) empty", code);
        for (int other = 0; other < code; other++) {
            CHECK(descs[code] && descs[other] && strcmp(descs[code], descs[other]) != 0,
                  "status_string(%d) == status_string(%d)", code, other);
        }
    }
    CHECK(descs[1] && strcmp(descs[1], "invalid argument") == 0, "status_string(1) = %s", descs[1]);
    s = NULL;
    CHECK_OK(mlxp_status_string(1000, &s));
    CHECK(s && strcmp(s, "unknown status") == 0, "status_string(1000) = %s", s ? s : "(null)");
    s = NULL;
    CHECK_OK(mlxp_status_string(-1, &s));
    CHECK(s && strcmp(s, "unknown status") == 0, "status_string(-1) = %s", s ? s : "(null)");

    /* Features: space-separated names out of the documented list. */
    const char* allowed = " sse4.2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512bf16 "
                          "avx512vnni neon ";
    const char* feats = NULL;
    CHECK_OK(mlxp_cpu_features(&feats));
    CHECK(feats != NULL, "cpu_features NULL");
    int has_avx2 = 0, has_fma = 0, has_avx512f = 0;
    if (feats) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", feats);
        for (char* tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
            char word[64];
            snprintf(word, sizeof word, " %s ", tok);
            CHECK(strstr(allowed, word) != NULL, "unknown cpu feature '%s'", tok);
            has_avx2 |= strcmp(tok, "avx2") == 0;
            has_fma |= strcmp(tok, "fma") == 0;
            has_avx512f |= strcmp(tok, "avx512f") == 0;
        }
    }
    const char* isa = NULL;
    CHECK_OK(mlxp_cpu_isa(&isa));
    CHECK(isa && (strcmp(isa, "generic") == 0 || strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0),
          "cpu_isa '%s'", isa ? isa : "(null)");
    /* The chosen path never exceeds what the CPU reports. */
    if (isa && strcmp(isa, "avx2") == 0) CHECK(has_avx2 && has_fma, "isa avx2 without avx2+fma: %s", feats);
    if (isa && strcmp(isa, "avx512") == 0) CHECK(has_avx512f, "isa avx512 without avx512f: %s", feats);
    /* MLXP_ISA lowers the path: generic always wins; avx2 gives avx2 or, without it, generic. */
    const char* forced = getenv("MLXP_ISA");
    if (forced && isa && strcmp(forced, "generic") == 0)
        CHECK(strcmp(isa, "generic") == 0, "MLXP_ISA=generic: %s", isa);
    if (forced && isa && strcmp(forced, "avx2") == 0)
        CHECK(strcmp(isa, has_avx2 && has_fma ? "avx2" : "generic") == 0, "MLXP_ISA=avx2: %s", isa);
    printf("cpu features: %s; isa: %s\n", feats ? feats : "", isa ? isa : "");

    int32_t n = 0;
    CHECK_OK(mlxp_set_num_threads(3));
    CHECK_OK(mlxp_get_num_threads(&n));
    CHECK(n == 3, "num_threads %d != 3", n);
    CHECK_OK(mlxp_set_num_threads(1024));
    CHECK_OK(mlxp_get_num_threads(&n));
    CHECK(n == 1024, "num_threads %d != 1024", n);
    CHECK_OK(mlxp_set_num_threads(0));
    CHECK_OK(mlxp_get_num_threads(&n));
    CHECK(n >= 1, "default num_threads %d", n);
}

/* ---- softmax ----------------------------------------------------------------------- */

/* Double-precision softmax of one row from the header's formula. */
static void ref_softmax(const double* x, int64_t n, double temperature, int log_flag, double* out) {
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = fmax(m, x[j] / temperature);
    double sum = 0;
    for (int64_t j = 0; j < n; j++) sum += exp(x[j] / temperature - m);
    for (int64_t j = 0; j < n; j++) {
        double z = x[j] / temperature - m;
        out[j] = log_flag ? z - log(sum) : exp(z) / sum;
    }
}

/*
 * Runs softmax on an R x N input stored with element strides (xs0, xs1) at element
 * offset xoff of a larger buffer (negative strides allowed), into a contiguous output or,
 * when in_place, into x itself; compares every element with the reference.
 */
static void check_softmax_case(tu_dt dt, int64_t rows, int64_t n, int64_t xs0, int64_t xs1, int64_t xoff,
                               float temperature, int log_flag, int in_place, uint64_t seed) {
    /* The buffer must hold every addressed element: offsets xoff + i*xs0 + j*xs1. */
    int64_t span = xoff + 1;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++)
            if (xoff + i * xs0 + j * xs1 + 1 > span) span = xoff + i * xs0 + j * xs1 + 1;
    size_t es = tu_size(dt);
    void* xbuf = calloc((size_t)span, es);
    void* obuf = calloc((size_t)(rows * n), es);
    double* xin = malloc(sizeof(double) * (size_t)(rows * n));
    double* ref = malloc(sizeof(double) * (size_t)(rows * n));
    tu_rand r = {seed};
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            float v = (float)tu_uniform(&r, -4.0, 4.0);
            tu_store(dt, xbuf, xoff + i * xs0 + j * xs1, v);
            xin[i * n + j] = tu_load(dt, xbuf, xoff + i * xs0 + j * xs1); /* the stored value */
        }
    for (int64_t i = 0; i < rows; i++) ref_softmax(xin + i * n, n, temperature, log_flag, ref + i * n);

    int64_t shape[2] = {rows, n};
    int64_t xstrides[2] = {xs0, xs1};
    mlxp_tensor x = tu_tensor(xbuf, dt, 2, shape, xstrides);
    x.byte_offset = (uint64_t)xoff * es;
    mlxp_tensor out = in_place ? x : tu_tensor(obuf, dt, 2, shape, NULL);
    mlxp_softmax_params p;
    CHECK_OK(mlxp_softmax_params_init(&p));
    p.temperature = temperature;
    p.log = log_flag;
    mlxp_status st = mlxp_softmax(&x, &out, &p);
    CHECK(st == MLXP_OK, "softmax %s %lldx%lld strides (%lld,%lld) in_place=%d: status %d (%s)", tu_dt_name[dt],
          (long long)rows, (long long)n, (long long)xs0, (long long)xs1, in_place, (int)st, mlxp_last_error());

    double atol = log_flag ? 1e-5 : 1e-6, rtol = rtol_of(dt);
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            double got = in_place ? tu_load(dt, xbuf, xoff + i * xs0 + j * xs1) : tu_load(dt, obuf, i * n + j);
            double want = ref[i * n + j];
            if (!close_enough(got, want, atol, rtol)) {
                if (bad++ < 3)
                    fprintf(stderr, "  softmax [%lld,%lld] got %.9g want %.9g\n", (long long)i, (long long)j, got,
                            want);
            }
            if (fabs(got - want) > worst) worst = fabs(got - want);
        }
    CHECK(bad == 0, "softmax %s %lldx%lld T=%g log=%d strides (%lld,%lld) in_place=%d: %d elements off, worst %.3g",
          tu_dt_name[dt], (long long)rows, (long long)n, (double)temperature, log_flag, (long long)xs0,
          (long long)xs1, in_place, bad, worst);
    free(xbuf);
    free(obuf);
    free(xin);
    free(ref);
}

static void test_softmax(void) {
    static const int64_t sizes[] = {1, 3, 8, 17, 64, 100};
    for (int dt = TU_F32; dt <= TU_BF16; dt++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            uint64_t seed = 1000 + (uint64_t)(dt * 100) + k;
            check_softmax_case((tu_dt)dt, 5, n, n, 1, 0, 1.0f, 0, 0, seed);      /* contiguous */
            check_softmax_case((tu_dt)dt, 5, n, n, 1, 0, 0.7f, 1, 0, seed + 1);  /* log, temperature */
            check_softmax_case((tu_dt)dt, 3, n, 1, 3, 2, 2.5f, 0, 0, seed + 2);  /* transposed view */
            check_softmax_case((tu_dt)dt, 4, n, 2 * n + 5, 2, 7, 1.0f, 1, 0, seed + 3); /* gaps */
            check_softmax_case((tu_dt)dt, 3, n, n, -1, n - 1, 1.0f, 0, 0, seed + 4); /* reversed rows */
            check_softmax_case((tu_dt)dt, 4, n, n, 1, 0, 1.3f, 0, 1, seed + 5);  /* in place */
            check_softmax_case((tu_dt)dt, 4, n, 2 * n + 1, 2, 0, 1.0f, 1, 1, seed + 6); /* strided in place */
        }
    }

    /* Hand-checkable rows: a uniform row, a row with -Inf entries, an all -Inf row (NaN),
     * a row holding +Inf (NaN), and NULL params meaning defaults. */
    {
        float x[4][4] = {{2, 2, 2, 2}, {0, -INFINITY, 0, -INFINITY}, {-INFINITY, -INFINITY, -INFINITY, -INFINITY},
                         {1, INFINITY, 0, 0}};
        float out[4][4];
        int64_t shape[2] = {4, 4};
        mlxp_tensor tx = tu_tensor(x, TU_F32, 2, shape, NULL);
        mlxp_tensor to = tu_tensor(out, TU_F32, 2, shape, NULL);
        CHECK_OK(mlxp_softmax(&tx, &to, NULL));
        for (int j = 0; j < 4; j++) CHECK(out[0][j] == 0.25f, "uniform row [%d] = %g", j, (double)out[0][j]);
        CHECK(out[1][0] == 0.5f && out[1][1] == 0.0f && out[1][2] == 0.5f && out[1][3] == 0.0f,
              "-Inf entries: %g %g %g %g", (double)out[1][0], (double)out[1][1], (double)out[1][2],
              (double)out[1][3]);
        for (int j = 0; j < 4; j++) CHECK(isnan(out[2][j]), "all -Inf row [%d] = %g (want NaN)", j, (double)out[2][j]);
        for (int j = 0; j < 4; j++) CHECK(isnan(out[3][j]), "+Inf row [%d] = %g (want NaN)", j, (double)out[3][j]);
    }

    /* A 3-d input [2, 3, 5] is 6 rows of 5. */
    {
        float x[30], out[30];
        double xd[30], ref[30];
        tu_rand r = {7};
        for (int i = 0; i < 30; i++) xd[i] = x[i] = (float)tu_uniform(&r, -3, 3);
        for (int i = 0; i < 6; i++) ref_softmax(xd + 5 * i, 5, 1.0, 0, ref + 5 * i);
        int64_t shape[3] = {2, 3, 5};
        mlxp_tensor tx = tu_tensor(x, TU_F32, 3, shape, NULL);
        mlxp_tensor to = tu_tensor(out, TU_F32, 3, shape, NULL);
        CHECK_OK(mlxp_softmax(&tx, &to, NULL));
        int bad = 0;
        for (int i = 0; i < 30; i++) bad += !close_enough(out[i], ref[i], 1e-6, 2e-5);
        CHECK(bad == 0, "3-d softmax: %d elements off", bad);
    }

    /* Zero rows: accepted, nothing written. */
    {
        float out[4] = {-7, -7, -7, -7};
        int64_t shape[2] = {0, 4};
        mlxp_tensor tx = tu_tensor(out, TU_F32, 2, shape, NULL);
        mlxp_tensor to = tu_tensor(out, TU_F32, 2, shape, NULL);
        CHECK_OK(mlxp_softmax(&tx, &to, NULL));
        CHECK(out[0] == -7 && out[1] == -7 && out[2] == -7 && out[3] == -7, "zero-row softmax wrote");
    }

    /* Deterministic for any thread count, and batch invariant: a large batch computed with
     * 1 and with 4 threads is bit-identical, and each row equals that row computed alone. */
    {
        enum { R = 64, N = 777 };
        float* x = malloc(sizeof(float) * R * N);
        float* a = malloc(sizeof(float) * R * N);
        float* b = malloc(sizeof(float) * R * N);
        float row[N];
        tu_rand r = {99};
        for (int i = 0; i < R * N; i++) x[i] = (float)tu_uniform(&r, -8, 8);
        int64_t shape[2] = {R, N}, rshape[2] = {1, N};
        mlxp_tensor tx = tu_tensor(x, TU_F32, 2, shape, NULL);
        mlxp_tensor ta = tu_tensor(a, TU_F32, 2, shape, NULL);
        mlxp_tensor tb = tu_tensor(b, TU_F32, 2, shape, NULL);
        CHECK_OK(mlxp_set_num_threads(1));
        CHECK_OK(mlxp_softmax(&tx, &ta, NULL));
        CHECK_OK(mlxp_set_num_threads(4));
        CHECK_OK(mlxp_softmax(&tx, &tb, NULL));
        CHECK(memcmp(a, b, sizeof(float) * R * N) == 0, "softmax differs between 1 and 4 threads");
        int differ = 0;
        for (int i = 0; i < R; i += 13) {
            mlxp_tensor txr = tu_tensor(x + (size_t)i * N, TU_F32, 2, rshape, NULL);
            mlxp_tensor tor = tu_tensor(row, TU_F32, 2, rshape, NULL);
            CHECK_OK(mlxp_softmax(&txr, &tor, NULL));
            differ += memcmp(row, a + (size_t)i * N, sizeof row) != 0;
        }
        CHECK(differ == 0, "%d rows differ when computed alone (batch invariance)", differ);
        CHECK_OK(mlxp_set_num_threads(0));
        free(x);
        free(a);
        free(b);
    }
}

/* ---- rms_norm ---------------------------------------------------------------------- */

/*
 * One rms_norm case on rows x d. x, residual and weight may have their own dtypes; out and
 * residual_out have x's. x is read through element strides (xs0, xs1) at offset xoff.
 * mode: 0 plain; 1 with residual and residual_out; 2 residual_out without residual (copy);
 *       3 in place (out = x) with residual, residual_out = residual (in place too).
 */
static void check_rms_case(tu_dt dt, tu_dt wdt, tu_dt rdt, int64_t rows, int64_t d, int64_t xs0, int64_t xs1,
                           int64_t xoff, int use_weight, int mode, float eps, uint64_t seed) {
    size_t es = tu_size(dt);
    int64_t span = xoff + 1;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++)
            if (xoff + i * xs0 + j * xs1 + 1 > span) span = xoff + i * xs0 + j * xs1 + 1;
    void* xbuf = calloc((size_t)span, es);
    void* obuf = calloc((size_t)(rows * d), es);
    void* robuf = calloc((size_t)(rows * d), es);
    void* rbuf = calloc((size_t)(rows * d), tu_size(rdt));
    void* wbuf = calloc((size_t)d, tu_size(wdt));
    double* h = malloc(sizeof(double) * (size_t)(rows * d));
    double* ref = malloc(sizeof(double) * (size_t)(rows * d));
    double* w = malloc(sizeof(double) * (size_t)d);
    int with_res = mode == 1 || mode == 3;
    tu_rand r = {seed};
    for (int64_t j = 0; j < d; j++) {
        tu_store(wdt, wbuf, j, (float)tu_uniform(&r, 0.5, 1.5));
        w[j] = use_weight ? tu_load(wdt, wbuf, j) : 1.0;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            int64_t xi = xoff + i * xs0 + j * xs1;
            tu_store(dt, xbuf, xi, (float)tu_uniform(&r, -3, 3));
            double xv = tu_load(dt, xbuf, xi);
            if (with_res) {
                /* A residual on the grid k/64, exact in every dtype, so h is one rounding of
                 * the exact sum whichever dtypes x and the residual are stored in. */
                float rv = (float)floor(tu_uniform(&r, -64, 64)) / 64.0f;
                tu_store(rdt, rbuf, i * d + j, rv);
                double rvd = tu_load(rdt, rbuf, i * d + j);
                h[i * d + j] = tu_round(dt, (float)(xv + rvd)); /* the add, rounded to out's dtype */
            } else {
                h[i * d + j] = xv;
            }
        }
    for (int64_t i = 0; i < rows; i++) {
        double ms = 0;
        for (int64_t j = 0; j < d; j++) ms += h[i * d + j] * h[i * d + j];
        double inv = 1.0 / sqrt(ms / (double)d + (double)eps);
        for (int64_t j = 0; j < d; j++) ref[i * d + j] = h[i * d + j] * inv * w[j];
    }

    int64_t shape[2] = {rows, d}, wshape[1] = {d};
    int64_t xstrides[2] = {xs0, xs1};
    mlxp_tensor x = tu_tensor(xbuf, dt, 2, shape, xstrides);
    x.byte_offset = (uint64_t)xoff * es;
    mlxp_tensor wt = tu_tensor(wbuf, wdt, 1, wshape, NULL);
    mlxp_tensor res = tu_tensor(rbuf, rdt, 2, shape, NULL);
    mlxp_tensor out = tu_tensor(obuf, dt, 2, shape, NULL);
    mlxp_tensor rout = tu_tensor(robuf, dt, 2, shape, NULL);
    mlxp_tensor* res_p = with_res ? &res : NULL;
    mlxp_tensor* rout_p = mode == 0 ? NULL : &rout;
    mlxp_tensor* out_p = &out;
    if (mode == 3) {
        out_p = &x;      /* out is x itself */
        rout_p = &res;   /* residual_out is residual itself (same dtype as x in this mode) */
    }
    mlxp_rms_norm_params p;
    CHECK_OK(mlxp_rms_norm_params_init(&p));
    p.eps = eps;
    mlxp_status st = mlxp_rms_norm(&x, use_weight ? &wt : NULL, res_p, out_p, rout_p, &p);
    CHECK(st == MLXP_OK, "rms_norm %s mode %d: status %d (%s)", tu_dt_name[dt], mode, (int)st, mlxp_last_error());

    double rtol = rtol_of(dt);
    int bad = 0, bad_h = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            double got = mode == 3 ? tu_load(dt, xbuf, xoff + i * xs0 + j * xs1) : tu_load(dt, obuf, i * d + j);
            if (!close_enough(got, ref[i * d + j], 1e-6, rtol)) {
                if (bad++ < 3)
                    fprintf(stderr, "  rms_norm [%lld,%lld] got %.9g want %.9g\n", (long long)i, (long long)j, got,
                            ref[i * d + j]);
            }
            if (mode != 0) {
                double hg = mode == 3 ? tu_load(rdt, rbuf, i * d + j) : tu_load(dt, robuf, i * d + j);
                bad_h += hg != h[i * d + j]; /* exact: one rounding of an exactly known value */
            }
        }
    CHECK(bad == 0, "rms_norm %s (w %s%s, r %s) %lldx%lld strides (%lld,%lld) mode %d eps %g: %d elements off",
          tu_dt_name[dt], tu_dt_name[wdt], use_weight ? "" : " unused", tu_dt_name[rdt], (long long)rows, (long long)d,
          (long long)xs0, (long long)xs1, mode, (double)eps, bad);
    CHECK(bad_h == 0, "rms_norm %s mode %d: residual_out differs from x (+ residual) in %d elements", tu_dt_name[dt],
          mode, bad_h);
    free(xbuf);
    free(obuf);
    free(robuf);
    free(rbuf);
    free(wbuf);
    free(h);
    free(ref);
    free(w);
}

static void test_rms_norm(void) {
    static const int64_t sizes[] = {1, 5, 16, 31, 100};
    for (int dt = TU_F32; dt <= TU_BF16; dt++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t d = sizes[k];
            tu_dt t = (tu_dt)dt;
            uint64_t seed = 5000 + (uint64_t)(dt * 100) + k * 10;
            check_rms_case(t, t, t, 4, d, d, 1, 0, 1, 0, 1e-6f, seed);            /* plain, weight */
            check_rms_case(t, t, t, 4, d, d, 1, 0, 0, 0, 1e-2f, seed + 1);        /* no weight, big eps */
            check_rms_case(t, t, t, 3, d, 1, 3, 1, 1, 0, 1e-6f, seed + 2);        /* transposed view */
            check_rms_case(t, t, t, 3, d, d, -1, d - 1, 1, 1, 1e-5f, seed + 3);   /* reversed, residual */
            check_rms_case(t, t, t, 4, d, 2 * d + 3, 2, 5, 1, 2, 1e-6f, seed + 4); /* strided, copy out */
            check_rms_case(t, t, t, 4, d, d, 1, 0, 1, 3, 1e-6f, seed + 5);        /* in place */
            check_rms_case(t, t, t, 4, d, 2 * d, 2, 1, 1, 3, 1e-6f, seed + 6);    /* strided in place */
            /* weight and residual in the other dtypes */
            tu_dt o1 = (tu_dt)((dt + 1) % 3), o2 = (tu_dt)((dt + 2) % 3);
            check_rms_case(t, o1, o2, 3, d, d, 1, 0, 1, 1, 1e-6f, seed + 7);
            check_rms_case(t, o2, o1, 3, d, d, 1, 0, 1, 1, 1e-6f, seed + 8);
        }
    }

    /* Hand-checkable: x = [3, 4], no weight, eps 0: rms = sqrt(12.5), out = x / rms. */
    {
        float x[2] = {3, 4}, out[2];
        int64_t shape[1] = {2};
        mlxp_rms_norm_params p;
        CHECK_OK(mlxp_rms_norm_params_init(&p));
        CHECK(p.eps == 1e-6f, "default eps %g", (double)p.eps);
        p.eps = 0;
        mlxp_tensor tx = tu_tensor(x, TU_F32, 1, shape, NULL);
        mlxp_tensor to = tu_tensor(out, TU_F32, 1, shape, NULL);
        CHECK_OK(mlxp_rms_norm(&tx, NULL, NULL, &to, NULL, &p));
        CHECK(close_enough(out[0], 3 / sqrt(12.5), 0, 1e-6) && close_enough(out[1], 4 / sqrt(12.5), 0, 1e-6),
              "rms_norm([3,4]) = [%g, %g]", (double)out[0], (double)out[1]);
        /* NULL params: eps 1e-6 */
        CHECK_OK(mlxp_rms_norm(&tx, NULL, NULL, &to, NULL, NULL));
        CHECK(close_enough(out[0], 3 / sqrt(12.5 + 1e-6), 0, 1e-6), "rms_norm NULL params: %g", (double)out[0]);
    }

    /* Zero rows: accepted, nothing written. */
    {
        float buf[3] = {5, 5, 5};
        int64_t shape[2] = {0, 3};
        mlxp_tensor t = tu_tensor(buf, TU_F32, 2, shape, NULL);
        mlxp_tensor o = tu_tensor(buf, TU_F32, 2, shape, NULL);
        CHECK_OK(mlxp_rms_norm(&t, NULL, NULL, &o, NULL, NULL));
        CHECK(buf[0] == 5 && buf[1] == 5 && buf[2] == 5, "zero-row rms_norm wrote");
    }
}

/* ---- rng --------------------------------------------------------------------------- */

static void test_rng(void) {
    /* The Philox reference against Random123's published known-answer vectors. */
    {
        static const uint32_t kat[3][10] = {
            {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
            {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
             0xa20bc7c6, 0x6d5451fd},
            {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
             0x5001e420, 0x24126ea1},
        };
        for (int k = 0; k < 3; k++) {
            uint32_t out[4];
            tu_philox(kat[k], kat[k] + 4, out);
            CHECK(memcmp(out, kat[k] + 6, sizeof out) == 0, "philox reference KAT %d", k);
        }
    }

    const uint64_t seed = 0x0123456789abcdefull;
    enum { N = 1003 };
    float* a = malloc(sizeof(float) * N);
    float* b = malloc(sizeof(float) * N);
    int64_t shape[1] = {N};
    mlxp_rng* r1 = NULL;
    mlxp_rng* r2 = NULL;
    CHECK_OK(mlxp_rng_create(seed, &r1));
    CHECK_OK(mlxp_rng_create(seed, &r2));
    CHECK(r1 != NULL && r2 != NULL && r1 != r2, "rng handles %p %p", (void*)r1, (void*)r2);
    mlxp_tensor ta = tu_tensor(a, TU_F32, 1, shape, NULL);
    mlxp_tensor tb = tu_tensor(b, TU_F32, 1, shape, NULL);
    CHECK_OK(mlxp_rng_uniform(r1, &ta));
    CHECK_OK(mlxp_rng_uniform(r2, &tb));
    CHECK(memcmp(a, b, sizeof(float) * N) == 0, "same seed, different values");
    int out_of_range = 0, mismatch = 0;
    double mean = 0;
    for (int i = 0; i < N; i++) {
        out_of_range += !(a[i] >= 0.0f && a[i] < 1.0f);
        float want = (float)(tu_philox_word(seed, (uint64_t)i) >> 8) * 0x1p-24f;
        mismatch += a[i] != want;
        mean += a[i];
    }
    CHECK(out_of_range == 0, "%d samples outside [0,1)", out_of_range);
    CHECK(mismatch == 0, "%d samples differ from Philox-4x32-10 (w >> 8) * 2^-24", mismatch);
    mean /= N;
    CHECK(fabs(mean - 0.5) < 0.05, "mean of %d samples %g", N, mean);

    /* The stream advances by ceil(numel/4) blocks per call: N = 1003 used 251 blocks. */
    CHECK_OK(mlxp_rng_uniform(r1, &ta));
    mismatch = 0;
    for (int i = 0; i < N; i++)
        mismatch += a[i] != (float)(tu_philox_word(seed, 251 * 4 + (uint64_t)i) >> 8) * 0x1p-24f;
    CHECK(mismatch == 0, "second call is not blocks 251..: %d differ", mismatch);
    CHECK(memcmp(a, b, sizeof(float) * N) != 0, "second call repeated the first");

    /* A different seed gives a different stream. */
    mlxp_rng* r3 = NULL;
    CHECK_OK(mlxp_rng_create(seed + 1, &r3));
    CHECK_OK(mlxp_rng_uniform(r3, &ta));
    CHECK(memcmp(a, b, sizeof(float) * N) != 0, "seed+1 gave the same values");

    /* Strided output is filled in row-major order of the shape: a [3,5] column-major view. */
    {
        mlxp_rng* r = NULL;
        float buf[15];
        int64_t s2[2] = {3, 5}, st2[2] = {1, 3};
        CHECK_OK(mlxp_rng_create(42, &r));
        mlxp_tensor t = tu_tensor(buf, TU_F32, 2, s2, st2);
        CHECK_OK(mlxp_rng_uniform(r, &t));
        int bad = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
                bad += buf[i + 3 * j] != (float)(tu_philox_word(42, (uint64_t)(i * 5 + j)) >> 8) * 0x1p-24f;
        CHECK(bad == 0, "strided uniform: %d elements not in row-major stream order", bad);
        /* A scalar (0 dims) takes one sample and one block. */
        float scalar = -1;
        mlxp_tensor ts = tu_tensor(&scalar, TU_F32, 0, NULL, NULL);
        CHECK_OK(mlxp_rng_uniform(r, &ts));
        CHECK(scalar == (float)(tu_philox_word(42, 4 * 4) >> 8) * 0x1p-24f, "scalar sample %g", (double)scalar);
        CHECK_OK(mlxp_rng_destroy(r));
    }

    /* float16 / bfloat16: the float32 sample rounded once (may reach 1.0). */
    for (int dt = TU_F16; dt <= TU_BF16; dt++) {
        mlxp_rng* r = NULL;
        uint16_t buf[257];
        int64_t s1[1] = {257};
        CHECK_OK(mlxp_rng_create(seed, &r));
        mlxp_tensor t = tu_tensor(buf, (tu_dt)dt, 1, s1, NULL);
        CHECK_OK(mlxp_rng_uniform(r, &t));
        int bad = 0, range = 0;
        for (int i = 0; i < 257; i++) {
            float f = (float)(tu_philox_word(seed, (uint64_t)i) >> 8) * 0x1p-24f;
            uint16_t want = dt == TU_F16 ? tu_f32_to_f16(f) : tu_f32_to_bf16(f);
            bad += buf[i] != want;
            float got = tu_load((tu_dt)dt, buf, i);
            range += !(got >= 0.0f && got <= 1.0f);
        }
        CHECK(bad == 0, "%s uniform: %d samples differ from the rounded float32 sample", tu_dt_name[dt], bad);
        CHECK(range == 0, "%s uniform: %d samples outside [0,1]", tu_dt_name[dt], range);
        CHECK_OK(mlxp_rng_destroy(r));
    }

    CHECK_OK(mlxp_rng_destroy(r1));
    CHECK_OK(mlxp_rng_destroy(r2));
    CHECK_OK(mlxp_rng_destroy(r3));
    CHECK_OK(mlxp_rng_destroy(NULL));
    free(a);
    free(b);
}

int main(void) {
    test_conversions();
    test_info();
    test_softmax();
    test_rms_norm();
    test_rng();
    return tu_finish("test_link");
}
