/* csv.c: a streaming RFC 4180 reader shared by every command that reads CSV (labels, truth,
 * gazetteer, galleries, metadata). One row is held at a time; fields point into its buffer. */
#include "geolabel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A single field or row beyond this is treated as a corrupt file, not a reason to eat memory. */
#define CSV_MAX_ROW_BYTES (16u << 20)

struct gl_csv {
    FILE *fp;
    char *path;
    long line, next_line;
    char *buf; /* the current row's fields, NUL-separated */
    size_t buf_len, buf_cap;
    size_t *offsets; /* field start offsets into buf */
    int n_fields, cap_fields;
    char **header;
    int n_header;
};

static int buf_push(gl_csv *c, char ch) {
    if (c->buf_len + 1 >= c->buf_cap) {
        if (c->buf_cap >= CSV_MAX_ROW_BYTES) return -1;
        size_t cap = c->buf_cap ? c->buf_cap * 2 : 256;
        char *b = realloc(c->buf, cap);
        if (!b) return -1;
        c->buf = b;
        c->buf_cap = cap;
    }
    c->buf[c->buf_len++] = ch;
    return 0;
}

static int field_start(gl_csv *c) {
    if (c->n_fields == c->cap_fields) {
        int cap = c->cap_fields ? c->cap_fields * 2 : 16;
        size_t *o = realloc(c->offsets, (size_t)cap * sizeof *o);
        if (!o) return -1;
        c->offsets = o;
        c->cap_fields = cap;
    }
    c->offsets[c->n_fields++] = c->buf_len;
    return 0;
}

/* Reads one row into buf/offsets. Returns 1, 0 at EOF before any character, -1 on error. */
static int read_row(gl_csv *c, gl_error *err) {
    c->buf_len = 0;
    c->n_fields = 0;
    int ch = getc(c->fp);
    if (ch == EOF) return 0;
    c->line = c->next_line;
    if (field_start(c)) goto nomem;
    int quoted = 0, was_quoted = 0;
    for (;; ch = getc(c->fp)) {
        if (ch == EOF) {
            if (quoted) {
                gl_fail(err, GL_ERR_FORMAT, "%s:%ld: unterminated quoted field", c->path, c->line);
                return -1;
            }
            break;
        }
        if (quoted) {
            if (ch == '"') {
                int next = getc(c->fp);
                if (next == '"') {
                    if (buf_push(c, '"')) goto nomem;
                    continue;
                }
                quoted = 0;
                ungetc(next, c->fp);
                continue;
            }
            if (ch == '\n') c->next_line++;
            if (buf_push(c, (char)ch)) goto nomem;
            continue;
        }
        if (ch == '"' && c->buf_len == c->offsets[c->n_fields - 1] && !was_quoted) {
            quoted = was_quoted = 1;
            continue;
        }
        if (ch == ',') {
            if (buf_push(c, 0) || field_start(c)) goto nomem;
            was_quoted = 0;
            continue;
        }
        if (ch == '\r') {
            int next = getc(c->fp);
            if (next != '\n') ungetc(next, c->fp);
            ch = '\n';
        }
        if (ch == '\n') {
            c->next_line++;
            break;
        }
        if (buf_push(c, (char)ch)) goto nomem;
    }
    if (buf_push(c, 0)) goto nomem;
    return 1;
nomem:
    gl_fail(err, GL_ERR_LIMIT, "%s:%ld: row too long or out of memory", c->path, c->line);
    return -1;
}

gl_csv *gl_csv_open(const char *path, int has_header, gl_error *err) {
    gl_csv *c = calloc(1, sizeof *c);
    if (!c) {
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    c->path = strdup(path);
    c->next_line = 1;
    c->fp = fopen(path, "rb");
    if (!c->fp) {
        gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        gl_csv_free(c);
        return NULL;
    }
    if (!has_header) return c;
    int r = read_row(c, err);
    if (r <= 0) {
        if (r == 0) gl_fail(err, GL_ERR_FORMAT, "%s: empty file, expected a header row", path);
        gl_csv_free(c);
        return NULL;
    }
    /* Tolerate a UTF-8 byte-order mark before the first header name. */
    if (!strncmp(c->buf, "\xEF\xBB\xBF", 3)) memmove(c->buf, c->buf + 3, c->buf_len - 3);
    c->header = calloc((size_t)c->n_fields, sizeof *c->header);
    for (int i = 0; c->header && i < c->n_fields; i++)
        c->header[i] = strdup(gl_csv_field(c, i));
    c->n_header = c->header ? c->n_fields : 0;
    return c;
}

void gl_csv_free(gl_csv *c) {
    if (!c) return;
    if (c->fp) fclose(c->fp);
    for (int i = 0; i < c->n_header; i++)
        free(c->header[i]);
    free(c->header);
    free(c->buf);
    free(c->offsets);
    free(c->path);
    free(c);
}

int gl_csv_next(gl_csv *c, gl_error *err) {
    for (;;) {
        int r = read_row(c, err);
        if (r <= 0) return r;
        /* A blank line is not a row. */
        if (c->n_fields == 1 && c->buf[0] == 0) continue;
        return 1;
    }
}

int gl_csv_field_count(const gl_csv *c) {
    return c->n_fields;
}

const char *gl_csv_field(const gl_csv *c, int i) {
    if (i < 0 || i >= c->n_fields) return "";
    return c->buf + c->offsets[i];
}

int gl_csv_column(const gl_csv *c, const char *name) {
    for (int i = 0; i < c->n_header; i++)
        if (!strcmp(c->header[i], name)) return i;
    return -1;
}

long gl_csv_line(const gl_csv *c) {
    return c->line;
}
const char *gl_csv_path(const gl_csv *c) {
    return c->path;
}
