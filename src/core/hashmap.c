/* hashmap.c: the fixed-capacity string and integer hash maps of core/hashmap.h (the tokenizer's
 * vocabulary, word cache and merge table). */
#include "core/hashmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a with a final fold of the high bits into the low ones the mask keeps. */
static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static size_t capacity_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1;
    return cap;
}

int gl_strmap_init(gl_strmap *m, size_t expected) {
    size_t cap = capacity_for(expected);
    m->keys = calloc(cap, sizeof *m->keys);
    m->key_lens = calloc(cap, sizeof *m->key_lens);
    m->values = calloc(cap, sizeof *m->values);
    m->cap = cap;
    m->count = 0;
    return m->keys && m->key_lens && m->values;
}

void gl_strmap_free(gl_strmap *m) {
    if (m->keys)
        for (size_t i = 0; i < m->cap; i++)
            free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t strmap_slot(const gl_strmap *m, const char *key, size_t len) {
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i] && !(m->key_lens[i] == len && !memcmp(m->keys[i], key, len)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int gl_strmap_get(const gl_strmap *m, const char *key, size_t len, int32_t *value) {
    size_t i = strmap_slot(m, key, len);
    if (!m->keys[i]) return 0;
    *value = m->values[i];
    return 1;
}

int gl_strmap_put(gl_strmap *m, const char *key, size_t len, int32_t value) {
    if ((m->count + 1) * 2 > m->cap) return 0;
    size_t i = strmap_slot(m, key, len);
    if (!m->keys[i]) {
        m->keys[i] = malloc(len + 1);
        if (!m->keys[i]) return 0;
        memcpy(m->keys[i], key, len);
        m->keys[i][len] = 0;
        m->key_lens[i] = len;
        m->count++;
    }
    m->values[i] = value;
    return 1;
}

int gl_u64map_init(gl_u64map *m, size_t expected) {
    size_t cap = capacity_for(expected);
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = malloc(cap * sizeof *m->values);
    m->cap = cap;
    m->count = 0;
    return m->keys && m->values;
}

void gl_u64map_free(gl_u64map *m) {
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

int gl_u64map_add(gl_u64map *m, uint64_t key, int64_t value) {
    uint64_t k = key + 1;
    size_t i = gl_hash_u64(k) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i]) return 0;
    if ((m->count + 1) * 2 > m->cap) return -1;
    m->keys[i] = k;
    m->values[i] = value;
    m->count++;
    return 1;
}
