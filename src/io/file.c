/* file.c: whole-file reads with a size cap, atomic outputs (temp + rename), CSV fields, mkdir -p,
 * the shipped data folder, base names and suffixes: the file plumbing every subsystem shares. */
#include "geolabel.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

gl_status gl_read_file(const char *path, size_t max_bytes, char **out, size_t *len, gl_error *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return gl_fail(err, GL_ERR_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(fp);
        return gl_fail(err, GL_ERR_LIMIT, "%s: %lld bytes is over the %zu-byte limit", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return gl_fail(err, GL_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    if (n && fread(buf, 1, n, fp) != n) {
        free(buf);
        fclose(fp);
        return gl_fail(err, GL_ERR_IO, "%s: short read", path);
    }
    fclose(fp);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return GL_OK;
}

static int readable(const char *dir, const char *rel, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s", dir, rel);
    return n > 0 && (size_t)n < cap && access(out, R_OK) == 0;
}

gl_status gl_data_path(const char *rel, char *out, size_t cap, gl_error *err) {
    const char *env = getenv("GEOLABEL_DATA");
    if (env && *env) {
        if (readable(env, rel, out, cap)) return GL_OK;
        return gl_fail(err, GL_ERR_IO, "%s/%s: not found ($GEOLABEL_DATA)", env, rel);
    }
    /* A binary run from build/ (or a test from build/tests/) finds the source tree's data/. */
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *const ups[] = {"/../data", "/../../data", "/../share/geolabel"};
        for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++) {
            snprintf(dir, sizeof dir, "%s%s", exe, ups[i]);
            if (readable(dir, rel, out, cap)) return GL_OK;
        }
    }
    if (readable("/usr/share/geolabel", rel, out, cap)) return GL_OK;
    return gl_fail(err, GL_ERR_IO,
                   "%s: shipped data not found (set $GEOLABEL_DATA to the folder holding it)", rel);
}

gl_status gl_make_dirs(const char *path, gl_error *err) {
    char buf[4096];
    if ((size_t)snprintf(buf, sizeof buf, "%s", path) >= sizeof buf)
        return gl_fail(err, GL_ERR_ARG, "%s: path is too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return gl_fail(err, GL_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
        if (!c) return GL_OK;
        *p = c;
    }
}

gl_status gl_atomic_open(gl_atomic_file *f, const char *path, gl_error *err) {
    memset(f, 0, sizeof *f);
    size_t n = strlen(path) + 32;
    f->path = strdup(path);
    f->tmp_path = malloc(n);
    if (!f->path || !f->tmp_path) {
        gl_atomic_abort(f);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) {
        gl_status s = gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", f->tmp_path, strerror(errno));
        gl_atomic_abort(f);
        return s;
    }
    return GL_OK;
}

gl_status gl_atomic_commit(gl_atomic_file *f, gl_error *err) {
    gl_status s = GL_OK;
    int failed = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    failed |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (failed) {
        s = gl_fail(err, GL_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
    } else if (rename(f->tmp_path, f->path) != 0) {
        s = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", f->path, strerror(errno));
    }
    gl_atomic_abort(f);
    return s;
}

void gl_atomic_abort(gl_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->path);
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
}

void gl_csv_write_field(FILE *fp, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

const char *gl_path_base_name(const char *path) {
    /* The last segment; a URL's query may hold '/', so the search stops at its '?' or '#'. */
    const char *end = gl_path_is_gdal_virtual(path) ? strpbrk(path, "?#") : NULL;
    const char *s = path, *p;
    for (p = path; *p && (!end || p < end); p++)
        if (*p == '/') s = p + 1;
    return s;
}

int gl_path_has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && !strcasecmp(path + n - k, suffix);
}
