/* error.c: the one error API (gl_error), the log level, and progress (a terminal bar or timed log
 * lines). Log level and progress settings are, with errors, the only process-wide state kept. */
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

/* Progress settings: log state like the level, set once by the CLI before a command runs. */
static const char *progress_name = "geolabel";
static double progress_interval_s = 10;

void gl_progress_configure(const char *name, double interval_s) {
    if (name) progress_name = name;
    if (interval_s >= 0) progress_interval_s = interval_s;
}

static void progress_bar(gl_progress *p, double rate, int final) {
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
}

/* One line a log file keeps: UTC time, who, how far, how fast, how long still. */
static void progress_line(gl_progress *p, double rate) {
    char when[32], eta[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (p->total > 0 && rate > 0 && p->done <= p->total) {
        long s = (long)((p->total - p->done) / rate + 0.5);
        snprintf(eta, sizeof eta, ", ETA %02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    if (p->total > 0)
        fprintf(stderr, "%s %s: %ld/%ld %s (%d%%), %.1f %s/s%s\n", when, progress_name, p->done,
                p->total, p->what, (int)(100.0 * p->done / p->total), rate, p->what, eta);
    else
        fprintf(stderr, "%s %s: %ld %s, %.1f %s/s\n", when, progress_name, p->done, p->what, rate,
                p->what);
    p->lines++;
}

static void progress_draw(gl_progress *p, int final) {
    double now = gl_now_seconds(), elapsed = now - p->start_s;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    if (p->tty)
        progress_bar(p, rate, final);
    else
        progress_line(p, rate);
    p->last_draw_s = now;
}

void gl_progress_begin(gl_progress *p, const char *what, long total) {
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    p->start_s = p->last_draw_s = gl_now_seconds();
    p->tty = isatty(2);
    p->enabled = log_level > GL_LOG_QUIET;
}

void gl_progress_add(gl_progress *p, long n) {
    if (!p) return;
    p->done += n;
    if (!p->enabled) return;
    double since = gl_now_seconds() - p->last_draw_s;
    if (p->tty ? since > 0.2 : since >= progress_interval_s) progress_draw(p, 0);
}

/* Off a terminal the last line is written only after others, so a short run stays quiet. */
void gl_progress_end(gl_progress *p) {
    if (p->enabled && (p->tty || p->lines)) progress_draw(p, 1);
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
