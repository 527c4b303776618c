/*
 * badinput.h — shared by the bad-input tests: a failing call is checked for
 *   - the documented status code;
 *   - a new, non-empty mlxp_last_error() (it differs from the message of a different
 *     failure made just before) that names the offending argument as a word;
 * and buffers filled with a sentinel show that nothing was written.
 */
#ifndef MLXP_BADINPUT_H
#define MLXP_BADINPUT_H

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mlxprim.h"
#include "testutil.h"

/* ---- message checks ---------------------------------------------------------------- */

static int is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Whether msg contains word as a whole identifier ("out" does not match "residual_out"). */
static int mentions(const char* msg, const char* word) {
    size_t n = strlen(word);
    for (const char* p = strstr(msg, word); p; p = strstr(p + 1, word)) {
        if ((p == msg || !is_ident(p[-1])) && !is_ident(p[n])) return 1;
    }
    return 0;
}

/* Makes a different failure first, so that the message read after the call under test can
 * only have come from that call. Returns a copy of the primer's message. */
static void prime(const char* arg, char* primer, size_t cap) {
    if (strcmp(arg, "out_n") == 0) {
        mlxp_abi_version(NULL);
    } else {
        mlxp_get_num_threads(NULL);
    }
    snprintf(primer, cap, "%s", mlxp_last_error());
}

static void expect_status(mlxp_status got, mlxp_status want, const char* arg, const char* primer, const char* what,
                          int line) {
    const char* msg = mlxp_last_error();
    CHECK(got == want, "line %d: %s: status %d, want %d (message: %s)", line, what, (int)got, (int)want,
          msg ? msg : "(null)");
    if (want == MLXP_OK) return;
    CHECK(msg != NULL && msg[0] != '\0', "line %d: %s: empty last_error", line, what);
    if (msg == NULL) return;
    CHECK(strcmp(msg, primer) != 0, "line %d: %s: last_error not set by this call (still '%s')", line, what, msg);
    CHECK(mentions(msg, arg), "line %d: %s: last_error '%s' does not name '%s'", line, what, msg, arg);
}

/* EXPECT(call, status, "arg"): runs call after a primer failure and checks it. */
#define EXPECT(call, want, arg)                                                 \
    do {                                                                        \
        char primer_[1100];                                                     \
        prime((arg), primer_, sizeof primer_);                                  \
        mlxp_status got_ = (call);                                              \
        expect_status(got_, (want), (arg), primer_, #call, __LINE__);           \
    } while (0)

/* ---- buffers with sentinels -------------------------------------------------------- */

enum { SENT = 0x5a };

static void fill(void* p, size_t n) { memset(p, SENT, n); }

static int untouched(const void* p, size_t n) {
    const unsigned char* b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != SENT) return 0;
    return 1;
}

#endif /* MLXP_BADINPUT_H */
