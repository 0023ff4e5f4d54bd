/* harness.h: the tiny test harness every tests/test_*.c includes (header-only, one per binary).
 * A test is a function; it fails if any CHECK in it fails, or if it ran no check and did not SKIP.
 * main() ends with T_SUMMARY(), whose line tests/run.sh reads: "N passed, N failed, N skipped". */
#ifndef GEOLABEL_TEST_HARNESS_H
#define GEOLABEL_TEST_HARNESS_H

#include "geolabel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_skipped, t_current_failed, t_current_checks, t_current_skipped;
static const char *t_current;

/* Fixtures live beside the repository: ../shared/fixtures, or $GEOLABEL_SHARED/fixtures. */
static inline const char *t_shared(void) {
    const char *s = getenv("GEOLABEL_SHARED");
    return s ? s : "../shared";
}
/* Formats a path under shared/ into a static rotating buffer. */
static inline const char *t_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *t_path(const char *fmt, ...) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    int n = snprintf(b, sizeof bufs[0], "%s/", t_shared());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

/* Debian's python3 (numpy, GDAL, PIL), the independent reference many tests consult. */
static inline const char *t_python(void) {
    const char *p = getenv("PY");
    return p && *p ? p : "/usr/bin/python3";
}

/* Writes a small text file in the test's working directory; returns 1 on success. */
static inline int t_write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (!fp) return 0;
    fputs(text, fp);
    return fclose(fp) == 0;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        t_current_checks++;                                                                        \
        if (!(cond)) {                                                                             \
            t_current_failed++;                                                                    \
            fprintf(stderr, "  FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, t_current, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Asserts a library call succeeded, printing its error otherwise. */
#define CHECK_OK(call, errp)                                                                       \
    do {                                                                                           \
        gl_status s_ = (call);                                                                     \
        CHECK(s_ == GL_OK, "%s -> %s", #call, (errp)->msg);                                        \
    } while (0)

/* Element-wise |got-exp| <= atol + rtol*|exp|; reports the worst element. Returns max |diff|. */
static inline double t_check_close(const char *what, const float *got, const float *exp, size_t n,
                                   double atol, double rtol, const char *file, int line) {
    double worst = 0, worst_excess = -1;
    size_t at = 0;
    t_current_checks++;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - exp[i]);
        if (!(d == d) || isnan(got[i])) d = INFINITY;
        if (d > worst) worst = d;
        double excess = d - (atol + rtol * fabs((double)exp[i]));
        if (excess > worst_excess) {
            worst_excess = excess;
            at = i;
        }
    }
    if (worst_excess > 0) {
        t_current_failed++;
        fprintf(stderr, "  FAIL %s:%d [%s] %s: element %zu got %.8g expected %.8g (max |d| %.3g)\n",
                file, line, t_current, what, at, got[at], exp[at], worst);
    }
    return worst;
}
#define CHECK_CLOSE(what, got, exp, n, atol, rtol)                                                 \
    t_check_close(what, got, exp, n, atol, rtol, __FILE__, __LINE__)

/* Ends the current test as skipped, visibly, with the reason: for a dependency that cannot be met
 * here (a missing tool or service), never for a failure of the code under test. tests/run.sh
 * counts skips and fails unless GEOLABEL_ALLOW_SKIP=1. Usable only inside a test function. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        t_current_skipped = 1;                                                                     \
        printf("skip %s: ", t_current);                                                            \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
        return;                                                                                    \
    } while (0)

/* A test that neither checked anything nor skipped is a failure: it proved nothing. */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        t_current = #fn;                                                                           \
        t_current_failed = t_current_checks = t_current_skipped = 0;                               \
        fn();                                                                                      \
        if (!t_current_failed && !t_current_skipped && !t_current_checks) {                        \
            fprintf(stderr, "  FAIL [%s] ran no check\n", #fn);                                    \
            t_current_failed = 1;                                                                  \
        }                                                                                          \
        if (t_current_failed) {                                                                    \
            t_failed++;                                                                            \
            printf("not ok %s\n", #fn);                                                            \
        } else if (t_current_skipped) {                                                            \
            t_skipped++;                                                                           \
        } else {                                                                                   \
            t_passed++;                                                                            \
            printf("ok %s\n", #fn);                                                                \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* A program that ran no test at all fails too. */
#define T_SUMMARY()                                                                                \
    do {                                                                                           \
        if (t_passed + t_failed + t_skipped == 0) {                                                \
            fprintf(stderr, "  FAIL no test ran\n");                                               \
            t_failed = 1;                                                                          \
        }                                                                                          \
        printf("%d passed, %d failed, %d skipped\n", t_passed, t_failed, t_skipped);               \
        return t_failed ? 1 : 0;                                                                   \
    } while (0)

#endif
