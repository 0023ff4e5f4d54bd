/* journal.c: the append-only record of a long run, one checksummed line per record, grouped by
 * unit (one input), so a run killed at any moment resumes from its last complete unit. */
#include "geolabel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* The file: the line "geolabel-journal 1", then records "T CCCCCCCC PAYLOAD\n": T the type, C the
 * CRC-32 of the escaped payload in hex, the payload with '\\', '\n' and '\r' escaped. Types:
 * M the manifest (JSON, once, second line); B a unit begins (payload: key TAB header);
 * R a record of the current unit; D the unit is complete; X the unit is abandoned (its B and Rs
 * do not count). A record cut short by a kill lacks its '\n' or fails its CRC: only the last
 * line may be so, and it is dropped. */
#define JOURNAL_MAGIC "geolabel-journal 1\n"
#define JOURNAL_MAX_LINE (64 << 20)

struct gl_journal {
    char *path;
    FILE *fp;
    char **done; /* keys of complete units, sorted, for gl_journal_is_done */
    int n_done, cap_done;
    int in_unit;
    int lock_fd; /* holds an flock: two runs into one output would interleave their records */
    double last_sync;
};

static gl_status put_line(FILE *fp, char type, const char *payload, const char *path,
                          gl_error *err) {
    size_t n = strlen(payload), k = 0;
    char *esc = malloc(2 * n + 1);
    if (!esc) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        char c = payload[i];
        if (c == '\\' || c == '\n' || c == '\r') {
            esc[k++] = '\\';
            esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        } else {
            esc[k++] = c;
        }
    }
    esc[k] = 0;
    unsigned long crc = crc32(0L, (const unsigned char *)esc, (unsigned)k);
    int bad = fprintf(fp, "%c %08lx %s\n", type, crc, esc) < 0;
    free(esc);
    if (bad || ferror(fp))
        return gl_fail(err, GL_ERR_IO, "%s: cannot write the journal: %s", path, strerror(errno));
    return GL_OK;
}

/* Parses one line (without its '\n') in place: 1 and *type, *payload (unescaped) when whole. */
static int parse_line(char *line, size_t len, char *type, char **payload) {
    if (len < 11 || line[1] != ' ' || line[10] != ' ') return 0;
    char hex[9];
    memcpy(hex, line + 2, 8);
    hex[8] = 0;
    char *end;
    unsigned long want = strtoul(hex, &end, 16);
    if (*end) return 0;
    char *p = line + 11;
    size_t n = len - 11;
    if (crc32(0L, (const unsigned char *)p, (unsigned)n) != want) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\') {
            p[k++] = p[i];
            continue;
        }
        if (++i >= n) return 0;
        p[k++] = p[i] == 'n' ? '\n' : p[i] == 'r' ? '\r' : p[i];
    }
    p[k] = 0;
    *type = line[0];
    *payload = p;
    return 1;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gl_status add_done(gl_journal *j, const char *key, gl_error *err) {
    if (j->n_done == j->cap_done) {
        int c = j->cap_done ? j->cap_done * 2 : 64;
        char **g = realloc(j->done, (size_t)c * sizeof *g);
        if (!g) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", j->path);
        j->done = g;
        j->cap_done = c;
    }
    if (!(j->done[j->n_done] = strdup(key)))
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", j->path);
    j->n_done++;
    return GL_OK;
}

/* Streams the journal at path: the manifest to on_manifest, then every complete unit to the
 * callbacks (those may be NULL). *valid_bytes gets the length of the part made of whole
 * records; a torn or corrupt last line is left out of it, anywhere else it is an error. */
typedef struct {
    gl_status (*manifest)(void *ctx, const char *json, gl_error *err);
    gl_status (*unit)(void *ctx, const char *key, const char *header, gl_error *err);
    gl_status (*record)(void *ctx, const char *text, gl_error *err);
    gl_status (*unit_end)(void *ctx, const char *key, gl_error *err);
    void *ctx;
} reader;

/* Units are replayed only once their D is seen, so their records are re-read from the file:
 * memory stays one line, whatever a unit's size. */
static gl_status read_journal(const char *path, const reader *rd, long *valid_bytes,
                              gl_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return gl_fail(err, GL_ERR_IO, "%s: cannot open the journal: %s", path, strerror(errno));
    char *line = NULL, *key = NULL, *header = NULL;
    size_t cap = 0;
    ssize_t len;
    long good = 0, unit_start = -1, unit_body = -1;
    gl_status st = GL_OK;
    int lineno = 0, torn = 0;
    while (!st && (len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (torn) {
            st = gl_fail(err, GL_ERR_FORMAT, "%s:%d: a corrupt record before the end", path,
                         lineno - 1);
            break;
        }
        if (lineno == 1 && line[len - 1] != '\n' && !strncmp(line, JOURNAL_MAGIC, (size_t)len)) {
            torn = 1; /* killed while writing the first line */
            continue;
        }
        if (lineno == 1) {
            if (strcmp(line, JOURNAL_MAGIC)) {
                st = gl_fail(err, GL_ERR_FORMAT, "%s: not a geolabel journal", path);
                break;
            }
            good = len;
            continue;
        }
        char type, *payload;
        if (line[len - 1] != '\n' || len > JOURNAL_MAX_LINE ||
            !parse_line(line, (size_t)len - 1, &type, &payload)) {
            torn = 1; /* only acceptable as the very last line */
            continue;
        }
        long here = ftell(fp);
        if (type == 'M' && lineno == 2) {
            if (rd->manifest) st = rd->manifest(rd->ctx, payload, err);
        } else if (type == 'B') {
            free(key), free(header);
            char *tab = strchr(payload, '\t');
            if (tab) *tab = 0;
            key = strdup(payload);
            header = strdup(tab ? tab + 1 : "");
            if (!key || !header) st = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
            unit_start = good;
            unit_body = here;
        } else if (type == 'R' && unit_start >= 0) {
            /* replayed at D */
        } else if (type == 'X' && unit_start >= 0) {
            unit_start = unit_body = -1;
        } else if (type == 'D' && unit_start >= 0) {
            if (rd->unit) st = rd->unit(rd->ctx, key, header, err);
            if (!st && rd->record) { /* the unit's records, read again from its start */
                FILE *again = fopen(path, "rb");
                if (!again || fseek(again, unit_body, SEEK_SET))
                    st = gl_fail(err, GL_ERR_IO, "%s: cannot re-read: %s", path, strerror(errno));
                char *l2 = NULL;
                size_t c2 = 0;
                ssize_t n2;
                while (!st && ftell(again) < good && (n2 = getline(&l2, &c2, again)) > 0) {
                    char t2, *p2;
                    if (parse_line(l2, (size_t)n2 - 1, &t2, &p2) && t2 == 'R')
                        st = rd->record(rd->ctx, p2, err);
                }
                free(l2);
                if (again) fclose(again);
            }
            if (!st && rd->unit_end) st = rd->unit_end(rd->ctx, key, err);
            unit_start = unit_body = -1;
        } else {
            st = gl_fail(err, GL_ERR_FORMAT, "%s:%d: unexpected '%c' record", path, lineno, type);
        }
        if (!st) good = here;
        /* A unit begun but not finished is not part of the valid prefix. */
    }
    if (!st && lineno == 0) st = gl_fail(err, GL_ERR_FORMAT, "%s: an empty journal", path);
    if (!st && valid_bytes) *valid_bytes = unit_start >= 0 ? unit_start : good;
    free(line), free(key), free(header);
    fclose(fp);
    return st;
}

typedef struct {
    gl_journal *j;
    const gl_manifest *want;
    int force, seen_manifest;
} open_ctx;

static gl_status check_manifest(void *ctx, const char *json, gl_error *err) {
    open_ctx *o = ctx;
    o->seen_manifest = 1;
    gl_manifest *have = gl_manifest_from_json(json, o->j->path, err);
    if (!have) return err->code;
    gl_status st =
        o->force ? GL_OK
                 : gl_manifest_require(o->want, have, o->j->path, "--force resumes anyway", err);
    gl_manifest_free(have);
    return st;
}

static gl_status note_done(void *ctx, const char *key, const char *header, gl_error *err) {
    (void)header;
    return add_done(((open_ctx *)ctx)->j, key, err);
}

static gl_status start_file(gl_journal *j, const gl_manifest *m, gl_error *err) {
    if (!(j->fp = fopen(j->path, "wb")))
        return gl_fail(err, GL_ERR_IO, "%s: cannot create the journal: %s", j->path,
                       strerror(errno));
    char *json = gl_manifest_to_json(m, err);
    if (!json) return err->code;
    gl_status st = fputs(JOURNAL_MAGIC, j->fp) < 0
                       ? gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", j->path, strerror(errno))
                       : put_line(j->fp, 'M', json, j->path, err);
    free(json);
    if (!st && fflush(j->fp))
        st = gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", j->path, strerror(errno));
    return st;
}

gl_journal *gl_journal_open(const char *path, const gl_manifest *m, int resume, int force,
                            gl_error *err) {
    gl_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    j->lock_fd = -1;
    gl_status st = GL_OK;
    struct stat sb;
    int existed = stat(path, &sb) == 0 && sb.st_size > 0; /* empty: killed before a byte */
    j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot open the journal: %s", path, strerror(errno));
    else if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0)
        st = gl_fail(err, GL_ERR_IO, "%s: another run is writing this output (%s)", path,
                     strerror(errno));
    if (!st && resume && existed) {
        open_ctx o = {.j = j, .want = m, .force = force};
        reader rd = {.manifest = check_manifest, .unit = note_done, .ctx = &o};
        long valid = 0;
        st = read_journal(path, &rd, &valid, err);
        /* Drop the torn tail and the unfinished unit, then append after them. */
        if (!st && !o.seen_manifest) { /* killed before its manifest was whole: start over */
            st = start_file(j, m, err);
        } else {
            if (!st && truncate(path, valid) != 0)
                st = gl_fail(err, GL_ERR_IO, "%s: cannot cut the torn tail: %s", path,
                             strerror(errno));
            if (!st && !(j->fp = fopen(path, "ab")))
                st = gl_fail(err, GL_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
        }
        if (j->n_done) qsort(j->done, (size_t)j->n_done, sizeof *j->done, cmp_key);
    } else if (!st) {
        st = start_file(j, m, err);
    }
    j->last_sync = gl_now_seconds();
    if (st) {
        gl_journal_free(j);
        return NULL;
    }
    return j;
}

int gl_journal_is_done(const gl_journal *j, const char *key) {
    return j->n_done && bsearch(&key, j->done, (size_t)j->n_done, sizeof *j->done, cmp_key) != NULL;
}

int gl_journal_done_count(const gl_journal *j) {
    return j->n_done;
}

const char *gl_journal_done_key(const gl_journal *j, int i) {
    return i >= 0 && i < j->n_done ? j->done[i] : NULL;
}

gl_status gl_journal_begin(gl_journal *j, const char *key, const char *header, gl_error *err) {
    size_t n = strlen(key) + strlen(header ? header : "") + 2;
    char *p = malloc(n);
    if (!p) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", j->path);
    snprintf(p, n, "%s\t%s", key, header ? header : "");
    gl_status st = put_line(j->fp, 'B', p, j->path, err);
    free(p);
    j->in_unit = !st;
    return st;
}

gl_status gl_journal_add(gl_journal *j, const char *text, gl_error *err) {
    return put_line(j->fp, 'R', text, j->path, err);
}

/* Whole units reach the disk at their end: a kill loses at most the unit in flight. The data
 * are synced (power loss) at most every few seconds, which costs little. */
static gl_status flush(gl_journal *j, gl_error *err) {
    int bad = fflush(j->fp) != 0;
    double now = gl_now_seconds();
    if (!bad && now - j->last_sync > 5.0) {
        bad = fdatasync(fileno(j->fp)) != 0;
        j->last_sync = now;
    }
    if (bad) return gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", j->path, strerror(errno));
    return GL_OK;
}

gl_status gl_journal_end(gl_journal *j, gl_error *err) {
    gl_status st = put_line(j->fp, 'D', "", j->path, err);
    j->in_unit = 0;
    return st ? st : flush(j, err);
}

gl_status gl_journal_abandon(gl_journal *j, gl_error *err) {
    if (!j->in_unit) return GL_OK;
    gl_status st = put_line(j->fp, 'X', "", j->path, err);
    j->in_unit = 0;
    return st ? st : flush(j, err);
}

gl_status gl_journal_close(gl_journal *j, gl_error *err) {
    gl_status st = GL_OK;
    if (j->fp && (fflush(j->fp) != 0 || fsync(fileno(j->fp)) != 0))
        st = gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", j->path, strerror(errno));
    if (j->fp && fclose(j->fp) != 0 && !st)
        st = gl_fail(err, GL_ERR_IO, "%s: cannot close: %s", j->path, strerror(errno));
    j->fp = NULL;
    return st;
}

gl_status gl_journal_replay(const char *path, gl_journal_visitor *v, gl_error *err) {
    reader rd = {.unit = v->unit, .record = v->record, .unit_end = v->unit_end, .ctx = v->ctx};
    return read_journal(path, &rd, NULL, err);
}

gl_manifest *gl_journal_manifest(const char *path, gl_error *err) {
    gl_manifest *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        gl_fail(err, GL_ERR_IO, "%s: cannot open the journal: %s", path, strerror(errno));
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, fp);
    int ok = len > 0 && !strcmp(line, JOURNAL_MAGIC);
    char type, *payload;
    if (ok && (len = getline(&line, &cap, fp)) > 0 && line[len - 1] == '\n' &&
        parse_line(line, (size_t)len - 1, &type, &payload) && type == 'M')
        out = gl_manifest_from_json(payload, path, err);
    else
        gl_fail(err, GL_ERR_FORMAT, "%s: no manifest in the journal", path);
    free(line);
    fclose(fp);
    return out;
}

void gl_journal_free(gl_journal *j) {
    if (!j) return;
    if (j->fp) fclose(j->fp);
    if (j->lock_fd >= 0) close(j->lock_fd);
    for (int i = 0; i < j->n_done; i++)
        free(j->done[i]);
    free(j->done);
    free(j->path);
    free(j);
}
