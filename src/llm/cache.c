/* cache.c: the on-disk cache of chat answers, keyed by the sha256 of the request body, so re-runs
 * and --resume never pay twice. The body holds no key (keys travel in headers only). */
#include "llm/llm.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER_BYTES (16u << 20)

/* DIR/ab/abcdef....json for the body's digest; 0 when the path does not fit. */
static int entry_path(const char *dir, const char *body, char *out, size_t cap, char *sub,
                      size_t sub_cap) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(body, strlen(body), md, &n, EVP_sha256(), NULL)) return 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    int a = snprintf(sub, sub_cap, "%s/%.2s", dir, hex);
    int b = snprintf(out, cap, "%s/%s.json", sub, hex);
    return a > 0 && (size_t)a < sub_cap && b > 0 && (size_t)b < cap;
}

int gl_llm_cache_get(const char *dir, const char *body, char **answer, size_t *len) {
    char path[4096], sub[4096];
    *answer = NULL;
    if (!dir || !entry_path(dir, body, path, sizeof path, sub, sizeof sub)) return 0;
    gl_error e = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fclose(fp);
    return gl_read_file(path, MAX_ANSWER_BYTES, answer, len, &e) == GL_OK;
}

gl_status gl_llm_cache_put(const char *dir, const char *body, const char *answer, size_t len,
                           gl_error *err) {
    char path[4096], sub[4096];
    if (!entry_path(dir, body, path, sizeof path, sub, sizeof sub))
        return gl_fail(err, GL_ERR_ARG, "%s: the cache path is too long", dir);
    gl_status st = gl_make_dirs(sub, err);
    gl_atomic_file f;
    if (!st) st = gl_atomic_open(&f, path, err);
    if (st) return st;
    if (fwrite(answer, 1, len, f.fp) != len) {
        gl_atomic_abort(&f);
        return gl_fail(err, GL_ERR_IO, "%s: cannot write the cached answer", path);
    }
    return gl_atomic_commit(&f, err);
}
