/* gvl.c: GeoVision Labeler's texts, word for word (vision.py, classifier.py, cluster.py), and its
 * reading of the answers: description cleaning, class matching, cluster lines. */
#include "llm/llm.h"

#include "core/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- small strings */

typedef struct {
    gl_buf b;
    int failed; /* sticky: the string is abandoned after the first failure */
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (!b->failed && gl_buf_append(&b->b, s, n)) b->failed = 1;
}

static void sb_add(sbuf *b, const char *s) {
    sb_addn(b, s, strlen(s));
}

static void sb_join(sbuf *b, const char *const *items, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sb_add(b, ", ");
        sb_add(b, items[i]);
    }
}

/* The string built, or NULL (and nothing leaked) when memory ran out. */
static char *sb_take(sbuf *b) {
    if (b->failed || !b->b.data) {
        free(b->b.data);
        return b->failed ? NULL : strdup("");
    }
    return b->b.data;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0) out = NULL;
    va_end(ap);
    return out;
}

/* Python's str.strip() over ASCII whitespace: the start and length of what remains. */
static const char *strip(const char *s, size_t *n) {
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t k = strlen(s);
    while (k && isspace((unsigned char)s[k - 1]))
        k--;
    *n = k;
    return s;
}

/* Lower-cased (Unicode, code point by code point, as Python's str.lower() mostly does).
 * Invalid UTF-8 bytes are kept as they are. malloc'ed. */
static char *lower(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(n * 4 + 1), *o = out;
    if (!out) return NULL;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (*p) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, -1, &cp);
        if (k <= 0) {
            *o++ = (char)*p++;
            continue;
        }
        o += utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)o);
        p += k;
    }
    *o = 0;
    return out;
}

/* 1 when a and b are equal ignoring case. */
static int equal_nocase(const char *a, const char *b) {
    char *x = lower(a), *y = lower(b);
    int eq = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return eq;
}

/* ---------------------------------------------------------------- vision.py */

int gl_gvl_vision_parts(const char *context, const char *prompt, const char *input_path,
                        const char *const *classes, int n_classes, int include_filename,
                        int include_classes, char *parts[4]) {
    size_t cn;
    const char *c = strip(context ? context : GL_GVL_CONTEXT, &cn);
    if (cn && c[cn - 1] == '.') cn--;
    int n = 0;
    parts[n++] = dup_printf("%.*s. ", (int)cn, c);
    if (include_filename) {
        const char *base = gl_path_base_name(input_path);
        parts[n++] = dup_printf("The file name with geo-information is %.*s. ",
                                (int)strcspn(base, "."), base);
    }
    if (include_classes) {
        sbuf b = {0};
        sb_add(&b, "The image belongs to one of the following classes: ");
        sb_join(&b, classes, n_classes);
        sb_add(&b, ". ");
        parts[n++] = sb_take(&b);
    }
    parts[n++] = strdup(prompt ? prompt : GL_GVL_VISION_PROMPT);
    for (int i = 0; i < n; i++) {
        if (parts[i]) continue;
        for (int k = 0; k < n; k++)
            free(parts[k]);
        return 0;
    }
    return n;
}

/* The end of the first "<..>..<..>" starting at s[0] == '<' on one line, or NULL. Each ".*?" is
 * the shortest run, and none crosses a newline, as Python's re does without DOTALL. */
static const char *tag_pair_end(const char *s) {
    const char *p = s + 1;
    for (int part = 0; part < 3; part++) {
        char want = part == 1 ? '<' : '>';
        while (*p && *p != '\n' && *p != want)
            p++;
        if (*p != want) return NULL;
        p++;
    }
    return p;
}

static void remove_all(char *s, const char *what) {
    size_t n = strlen(what);
    char *hit;
    while ((hit = strstr(s, what)))
        memmove(hit, hit + n, strlen(hit + n) + 1);
}

char *gl_gvl_clean_description(const char *text, const char *prompt) {
    char *t = strdup(text ? text : "");
    if (!t) return NULL;
    char *w = t;
    for (const char *r = t; *r;) {
        const char *end = *r == '<' ? tag_pair_end(r) : NULL;
        if (end)
            r = end;
        else
            *w++ = *r++;
    }
    *w = 0;
    /* vision.py removes these two after the tags, in this order. */
    remove_all(t, "user\n\n");
    remove_all(t, "assistant\n\n");
    char *low = lower(t), *lp = lower(prompt ? prompt : GL_GVL_VISION_PROMPT);
    free(t);
    if (!low || !lp) {
        free(low);
        free(lp);
        return NULL;
    }
    /* ^.*?prompt: the first occurrence, with no newline before it. */
    const char *from = low, *hit = *lp ? strstr(low, lp) : NULL;
    if (hit && !memchr(low, '\n', (size_t)(hit - low))) from = hit + strlen(lp);
    size_t n;
    const char *s = strip(from, &n);
    char *out = strndup(s, n);
    free(low);
    free(lp);
    return out;
}

/* ---------------------------------------------------------------- classifier.py */

char *gl_gvl_classifier_prompt(const char *description, const char *const *classes, int n,
                               const char *tile_name) {
    sbuf b = {0};
    sb_add(&b, "Given a text describing a place, output one of the following classes: ");
    sb_join(&b, classes, n);
    sb_add(&b, ". ");
    if (tile_name) {
        sb_add(&b, "Use the filename [");
        sb_add(&b, tile_name);
        sb_add(&b, "] to locate the place and use that in your prediction. ");
    }
    sb_add(&b, "Don't output anything else but one of the classes. Description: ");
    sb_add(&b, description ? description : "");
    sb_add(&b, ". Class: ");
    return sb_take(&b);
}

int gl_gvl_match_class(const char *answer, const char *const *classes, int n) {
    size_t len;
    const char *a = strip(answer ? answer : "", &len);
    char *s = strndup(a, len);
    if (!s) return -1;
    if (len && strchr(".,!?", s[len - 1])) s[--len] = 0;
    size_t k;
    const char *t = strip(s, &k);
    char *clean = strndup(t, k);
    free(s);
    if (!clean) return -1;
    int found = -1;
    for (int i = 0; i < n && found < 0; i++)
        if (!strcmp(clean, classes[i])) found = i;
    for (int i = 0; i < n && found < 0; i++)
        if (equal_nocase(clean, classes[i])) found = i;
    free(clean);
    return found;
}

/* ---------------------------------------------------------------- cluster.py */

char *gl_gvl_cluster_names_prompt(const char *const *classes, int n, int n_clusters) {
    sbuf b = {0};
    char num[32];
    snprintf(num, sizeof num, "%d", n_clusters);
    sb_add(&b, "Cluster the following list of classes into ");
    sb_add(&b, num);
    sb_add(&b, " clusters based on their semantic similarity. Provide a name for each cluster and "
               "list the classes under each cluster. Here is the list of classes:\n\n");
    sb_join(&b, classes, n);
    sb_add(&b, "\n\nOutput the result in the following format:\nCluster_1: [Suggested name]\n"
               "Cluster_2: [Suggested name]\n...\nDon't output anything else but the clusters' "
               "names.");
    return sb_take(&b);
}

char *gl_gvl_cluster_assign_prompt(const char *const *names, int n_names, const char *class_name) {
    sbuf b = {0};
    sb_add(&b, "Classify the following class into one of the categories: ");
    sb_join(&b, names, n_names);
    sb_add(&b, ". Here is the class:\n\n");
    sb_add(&b, class_name);
    sb_add(&b, "\n\nOutput the result in the following format:\nCat: [Category name]\n...\n"
               "Don't output anything else but the categories.");
    return sb_take(&b);
}

/* The text between the first ':' and the next one (Python's s.split(":")[1]); NULL without ':'. */
static char *second_field(const char *line, size_t len) {
    const char *c = memchr(line, ':', len);
    if (!c) return NULL;
    c++;
    const char *e = memchr(c, ':', len - (size_t)(c - line));
    return strndup(c, e ? (size_t)(e - c) : len - (size_t)(c - line));
}

gl_status gl_gvl_parse_cluster_names(const char *answer, char ***names, int *n, gl_error *err) {
    *names = NULL;
    *n = 0;
    size_t alen;
    const char *a = strip(answer ? answer : "", &alen);
    int cap = 0;
    for (size_t at = 0; at < alen;) {
        size_t len = 0;
        while (at + len < alen && a[at + len] != '\n')
            len++;
        const char *line = a + at;
        at += len + 1;
        if (len < 8 || strncmp(line, "Cluster_", 8)) continue;
        char *f = second_field(line, len);
        if (!f) continue;
        char *w = f;
        for (const char *r = f; *r; r++)
            if (isalnum((unsigned char)*r) || *r == '_' || isspace((unsigned char)*r)) *w++ = *r;
        *w = 0;
        size_t k;
        const char *s = strip(f, &k);
        char *name = k ? strndup(s, k) : NULL;
        free(f);
        int dup = 0;
        for (int i = 0; name && i < *n && !dup; i++)
            dup = !strcmp((*names)[i], name);
        if (!name || dup) {
            free(name);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **g = realloc(*names, (size_t)cap * sizeof *g);
            if (!g) {
                free(name);
                gl_strings_free(*names, *n);
                *names = NULL, *n = 0;
                return gl_fail(err, GL_ERR_NOMEM, "llm: out of memory");
            }
            *names = g;
        }
        (*names)[(*n)++] = name;
    }
    return GL_OK;
}

int gl_gvl_parse_cluster_choice(const char *answer, const char *const *names, int n) {
    size_t alen;
    const char *a = strip(answer ? answer : "", &alen);
    char *f = second_field(a, alen);
    if (!f) return -1;
    size_t k;
    const char *s = strip(f, &k);
    char *pick = strndup(s, k), *lp = pick ? lower(pick) : NULL;
    free(f);
    int found = -1;
    for (int i = 0; pick && i < n && found < 0; i++)
        if (!strcmp(pick, names[i])) found = i;
    for (int i = 0; pick && i < n && found < 0; i++)
        if (equal_nocase(pick, names[i])) found = i;
    /* cluster.py's last resort: one name inside the other, first in order. An empty pick is
     * inside every name, so it matches none here. */
    for (int i = 0; lp && *lp && i < n && found < 0; i++) {
        char *ln = lower(names[i]);
        if (ln && (strstr(ln, lp) || strstr(lp, ln))) found = i;
        free(ln);
    }
    free(pick);
    free(lp);
    return found;
}
