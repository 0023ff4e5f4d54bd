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

/* Little-endian fields of the given byte widths, one record. */
static inline uint8_t *fuzz_record(uint8_t *p, const uint64_t *v, const int *width, int n) {
    for (int i = 0; i < n; i++)
        for (int b = 0; b < width[i]; b++)
            *p++ = (uint8_t)(v[i] >> (8 * b));
    return p;
}

/* A stored (uncompressed) zip of n (at most 16) entries, as torch.save lays one out (APPNOTE
 * 4.3.7, 4.3.12, 4.3.16); caller frees *out. */
static inline size_t fuzz_zip(const char *const *names, const uint8_t *const *datas,
                              const size_t *sizes, int n, uint8_t **out) {
    static const int local_w[] = {4, 2, 2, 2, 4, 4, 4, 4, 2, 2};
    static const int central_w[] = {4, 2, 2, 2, 2, 4, 4, 4, 4, 2, 2, 2, 2, 2, 4, 4};
    static const int end_w[] = {4, 2, 2, 2, 2, 4, 4, 2};
    size_t cap = 22;
    for (int i = 0; i < n; i++)
        cap += 30 + 46 + 2 * strlen(names[i]) + sizes[i];
    uint8_t *z = malloc(cap), *p = z;
    uint64_t offs[16], crcs[16];
    n = n < 16 ? n : 16;
    for (int i = 0; i < n; i++) {
        uint64_t nl = strlen(names[i]);
        offs[i] = (uint64_t)(p - z);
        crcs[i] = crc32(0L, datas[i], (uInt)sizes[i]);
        const uint64_t v[] = {0x04034b50, 20, 0, 0, 0, crcs[i], sizes[i], sizes[i], nl, 0};
        p = fuzz_record(p, v, local_w, 10);
        memcpy(p, names[i], nl), p += nl;
        if (sizes[i]) memcpy(p, datas[i], sizes[i]), p += sizes[i];
    }
    uint64_t cd = (uint64_t)(p - z);
    for (int i = 0; i < n; i++) {
        uint64_t nl = strlen(names[i]);
        const uint64_t v[] = {0x02014b50, 20, 20, 0, 0, 0, crcs[i], sizes[i],
                              sizes[i],   nl, 0,  0, 0, 0, 0,       offs[i]};
        p = fuzz_record(p, v, central_w, 16);
        memcpy(p, names[i], nl), p += nl;
    }
    const uint64_t end[] = {0x06054b50, 0, 0, (uint64_t)n, (uint64_t)n, (uint64_t)(p - z) - cd,
                            cd,         0};
    p = fuzz_record(p, end, end_w, 8);
    *out = z;
    return (size_t)(p - z);
}

#ifdef GEOLABEL_TORCHZIP_H
/* Visits at most *budget of a checkpoint's objects, at most 64 deep (memo sharing makes the graph
 * a DAG that can be exponentially larger as a tree, or a cycle: a list may hold itself), copying
 * every small tensor out as float32 (buf: 4096). */
static inline void fuzz_pth_walk(const gl_pth *p, const gl_py *v, int depth, int *budget,
                                 float *buf) {
    if (!v || depth > 64 || --*budget < 0) return;
    if (v->kind == GL_PY_TENSOR && v->tensor->numel <= 4096) {
        gl_error err = {0};
        gl_pth_tensor_f32(p, "t", v->tensor, NULL, -1, buf, &err);
        return;
    }
    size_t n = v->kind == GL_PY_DICT                             ? 2 * v->len
               : v->kind == GL_PY_TUPLE || v->kind == GL_PY_LIST ? v->len
                                                                 : 0;
    for (size_t i = 0; i < n && i < 64; i++)
        fuzz_pth_walk(p, v->items[i], depth + 1, budget, buf);
}
#endif

#endif
