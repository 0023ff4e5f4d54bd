/* hashmap.h: two small open-addressing hash maps (power-of-two capacity, linear probing) sized up
 * front for a known number of entries: byte-string keys to int32, and uint64 keys to int64. They
 * never grow: a put beyond half full fails, so the caller's size estimate is the memory bound.
 * Ownership: the maps own their arrays and (gl_strmap) copies of the keys; free with *_free. */
#ifndef GEOLABEL_HASHMAP_H
#define GEOLABEL_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **keys; /* NUL-terminated copies; NULL marks an empty slot */
    size_t *key_lens;
    int32_t *values;
    size_t cap, count;
} gl_strmap;

/* Room for `expected` entries; 0 when out of memory (the map is then safe to free). */
int gl_strmap_init(gl_strmap *m, size_t expected);
void gl_strmap_free(gl_strmap *m);
/* 1 and *value when key (len bytes, may hold NUL) is present, else 0. */
int gl_strmap_get(const gl_strmap *m, const char *key, size_t len, int32_t *value);
/* Inserts or overwrites; 0 when the map is half full or out of memory. */
int gl_strmap_put(gl_strmap *m, const char *key, size_t len, int32_t value);

typedef struct {
    uint64_t *keys; /* key + 1; 0 marks an empty slot (so UINT64_MAX cannot be a key) */
    int64_t *values;
    size_t cap, count;
} gl_u64map;

int gl_u64map_init(gl_u64map *m, size_t expected);
void gl_u64map_free(gl_u64map *m);
/* 1 and *value when key is present, else 0. */
static inline int gl_u64map_get(const gl_u64map *m, uint64_t key, int64_t *value);
/* Inserts key when absent (1); keeps the first value of a repeated key (0); -1 when full. */
int gl_u64map_add(gl_u64map *m, uint64_t key, int64_t value);

/* The hash both maps use for integers: the 64-bit finaliser of MurmurHash3. Inline: BPE's inner
 * loop looks pairs up. */
static inline uint64_t gl_hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static inline int gl_u64map_get(const gl_u64map *m, uint64_t key, int64_t *value) {
    uint64_t k = key + 1;
    for (size_t i = gl_hash_u64(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == k) {
            *value = m->values[i];
            return 1;
        }
    return 0;
}

#endif
