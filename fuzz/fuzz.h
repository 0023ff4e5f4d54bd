/* fuzz.h: what every libFuzzer harness in fuzz/ shares: a private scratch folder for the parsers
 * that read paths, quiet logging, and a tiny stored-zip writer for the pickle harness. */
#ifndef GEOLABEL_FUZZ_H
#define GEOLABEL_FUZZ_H

#include "geolabel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A per-process folder in /dev/shm (memory, so a write per input stays cheap) holding name. */
static inline const char *fuzz_path(const char *name) {
    static char dir[256], path[512];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/geolabel-fuzz-%d", base, (int)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0) abort();
        gl_log_set_level(GL_LOG_QUIET); /* bad rows warn per line; the fuzzer wants silence */
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Writes size bytes to the scratch file name and returns its path (abort on a full disk: that is
 * the machine's failure, not a finding). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) abort();
    return path;
}

static inline uint8_t *fuzz_le(uint8_t *p, uint64_t v, int k) {
    for (int b = 0; b < k; b++)
        *p++ = (uint8_t)(v >> (8 * b));
    return p;
}

/* A stored (uncompressed) zip of n entries, as torch.save lays one out; caller frees *out. */
static inline size_t fuzz_zip(const char *const *names, const uint8_t *const *datas,
                              const size_t *sizes, int n, uint8_t **out) {
    size_t cap = 22;
    for (int i = 0; i < n; i++)
        cap += 30 + 46 + 2 * strlen(names[i]) + sizes[i];
    uint8_t *z = malloc(cap), *p = z;
    size_t offs[16];
    uint32_t crcs[16];
    for (int i = 0; i < n && i < 16; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = (size_t)(p - z);
        crcs[i] = (uint32_t)crc32(0L, datas[i], (uInt)sizes[i]);
        p = fuzz_le(p, 0x04034b50, 4);
        p = fuzz_le(p, 20, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 4);
        p = fuzz_le(p, crcs[i], 4);
        p = fuzz_le(p, sizes[i], 4);
        p = fuzz_le(p, sizes[i], 4);
        p = fuzz_le(p, nl, 2);
        p = fuzz_le(p, 0, 2);
        memcpy(p, names[i], nl), p += nl;
        if (sizes[i]) memcpy(p, datas[i], sizes[i]), p += sizes[i];
    }
    size_t cd = (size_t)(p - z);
    for (int i = 0; i < n && i < 16; i++) {
        size_t nl = strlen(names[i]);
        p = fuzz_le(p, 0x02014b50, 4);
        p = fuzz_le(p, 20, 2);
        p = fuzz_le(p, 20, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 4);
        p = fuzz_le(p, crcs[i], 4);
        p = fuzz_le(p, sizes[i], 4);
        p = fuzz_le(p, sizes[i], 4);
        p = fuzz_le(p, nl, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 2);
        p = fuzz_le(p, 0, 4);
        p = fuzz_le(p, offs[i], 4);
        memcpy(p, names[i], nl), p += nl;
    }
    size_t cd_size = (size_t)(p - z) - cd;
    p = fuzz_le(p, 0x06054b50, 4);
    p = fuzz_le(p, 0, 2);
    p = fuzz_le(p, 0, 2);
    p = fuzz_le(p, n, 2);
    p = fuzz_le(p, n, 2);
    p = fuzz_le(p, cd_size, 4);
    p = fuzz_le(p, cd, 4);
    p = fuzz_le(p, 0, 2);
    *out = z;
    return (size_t)(p - z);
}

#ifdef GEOLABEL_TORCHZIP_H
/* Visits at most *budget of a checkpoint's objects (memo sharing makes the graph a DAG that can
 * be exponentially larger as a tree), copying every small tensor out as float32 (buf: 4096). */
static inline void fuzz_pth_walk(const gl_pth *p, const gl_py *v, int *budget, float *buf) {
    if (!v || --*budget < 0) return;
    if (v->kind == GL_PY_TENSOR && v->tensor->numel <= 4096) {
        gl_error err = {0};
        gl_pth_tensor_f32(p, "t", v->tensor, NULL, -1, buf, &err);
        return;
    }
    size_t n = v->kind == GL_PY_DICT                             ? 2 * v->len
               : v->kind == GL_PY_TUPLE || v->kind == GL_PY_LIST ? v->len
                                                                 : 0;
    for (size_t i = 0; i < n && i < 64; i++)
        fuzz_pth_walk(p, v->items[i], budget, buf);
}
#endif

#endif
