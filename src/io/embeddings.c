/* embeddings.c: writing embedding sets as .npy arrays or as Geograph-style JSONL (base64 of
 * little-endian float32 per line). Both are written atomically. */
#include "geolabel.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static gl_status write_jsonl(const char *path, const char *const *ids, const float *embeds, int n,
                             int dim, gl_error *err) {
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, path, err);
    if (s) return s;
    for (int i = 0; i < n && !s; i++) {
        /* float32 is little-endian on every target we build for, so the bytes go out as they are */
        char *b64 = gl_base64_encode(embeds + (size_t)i * dim, sizeof(float) * (size_t)dim);
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (b64 && o && cJSON_AddStringToObject(o, "id", ids[i]) &&
            cJSON_AddStringToObject(o, "embeddings", b64))
            line = cJSON_PrintUnformatted(o);
        if (line)
            fprintf(f.fp, "%s\n", line);
        else
            s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
        cJSON_free(line);
        cJSON_Delete(o);
        free(b64);
    }
    if (s) {
        gl_atomic_abort(&f);
        return s;
    }
    return gl_atomic_commit(&f, err);
}

gl_status gl_embeddings_write(const char *path, const char *const *ids, const float *embeds, int n,
                              int dim, gl_error *err) {
    if (gl_path_has_suffix(path, ".npy")) {
        int64_t shape[2] = {n, dim};
        return gl_npy_write_f32(path, embeds, shape, 2, err);
    }
    if (gl_path_has_suffix(path, ".jsonl")) return write_jsonl(path, ids, embeds, n, dim, err);
    return gl_fail(err, GL_ERR_ARG, "%s: output must end in .npy or .jsonl", path);
}
