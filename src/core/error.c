/* error.c: the one error API (gl_error), the log level, and the terminal progress line.
 * The log level is, with errors, the only process-wide state the library keeps. */
#include "core/progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static gl_log_level log_level = GL_LOG_WARN;

gl_status gl_fail(gl_error *err, gl_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

gl_status gl_error_prefix(gl_error *err, const char *fmt, ...) {
    if (!err) return GL_ERR_INTERNAL;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1;
    memcpy(err->msg, prefix, n);
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof err->msg - 1 - n) rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = 0;
    return err->code;
}

void gl_error_clear(gl_error *err) {
    if (!err) return;
    err->code = GL_OK;
    err->msg[0] = 0;
}

const char *gl_status_name(gl_status code) {
    switch (code) {
    case GL_OK:
        return "ok";
    case GL_ERR_ARG:
        return "bad argument";
    case GL_ERR_IO:
        return "i/o error";
    case GL_ERR_FORMAT:
        return "bad format";
    case GL_ERR_SHAPE:
        return "shape mismatch";
    case GL_ERR_NOMEM:
        return "out of memory";
    case GL_ERR_NET:
        return "network error";
    case GL_ERR_UNSUPPORTED:
        return "unsupported";
    case GL_ERR_LIMIT:
        return "size limit exceeded";
    case GL_ERR_PARTIAL:
        return "some inputs failed";
    case GL_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}

void gl_log_set_level(gl_log_level level) {
    log_level = level;
}
gl_log_level gl_log_get_level(void) {
    return log_level;
}

void gl_log(gl_log_level level, const char *fmt, ...) {
    if (level > log_level) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("geolabel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double gl_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void progress_draw(gl_progress *p, int final) {
    double now = gl_now_seconds(), elapsed = now - p->start_s;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    if (p->total > 0) {
        double eta = rate > 0 ? (p->total - p->done) / rate : 0;
        int width = 30, filled = (int)(width * (double)p->done / (double)p->total);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %ld/%ld %s  %.1f/s  ETA %.0fs ", bar, p->done, p->total, p->what,
                rate, eta);
    } else {
        fprintf(stderr, "\r%ld %s  %.1f/s ", p->done, p->what, rate);
    }
    if (final) fputc('\n', stderr);
    p->last_draw_s = now;
}

void gl_progress_begin(gl_progress *p, const char *what, long total) {
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    p->start_s = gl_now_seconds();
    p->enabled = isatty(2) && log_level > GL_LOG_QUIET;
}

void gl_progress_add(gl_progress *p, long n) {
    if (!p) return;
    p->done += n;
    if (p->enabled && gl_now_seconds() - p->last_draw_s > 0.2) progress_draw(p, 0);
}

void gl_progress_end(gl_progress *p) {
    if (p->enabled) progress_draw(p, 1);
}

gl_progress *gl_progress_new(const char *what, long total) {
    gl_progress *p = malloc(sizeof *p);
    if (p) gl_progress_begin(p, what, total);
    return p;
}

void gl_progress_free(gl_progress *p) {
    if (!p) return;
    gl_progress_end(p);
    free(p);
}
