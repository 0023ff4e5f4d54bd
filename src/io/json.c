/* json.c: whole JSON files to cJSON objects and back, for configs and weight indexes: the size
 * cap, the parse and the top-level object check, and the atomic write, in one place. */
#include "io/json.h"

#include <stdlib.h>

gl_status gl_json_load_object(const char *path, size_t max_bytes, cJSON **root, gl_error *err) {
    char *text = NULL;
    size_t len = 0;
    *root = NULL;
    gl_status s = gl_read_file(path, max_bytes, &text, &len, err);
    if (s) return s;
    cJSON *r = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return gl_fail(err, GL_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *root = r;
    return GL_OK;
}

gl_status gl_json_write_file(const char *path, const cJSON *json, gl_error *err) {
    char *text = json ? cJSON_Print(json) : NULL;
    if (!text) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, path, err);
    if (!s) {
        int bad = fputs(text, f.fp) == EOF || fputc('\n', f.fp) == EOF;
        if (bad) {
            gl_atomic_abort(&f);
            s = gl_fail(err, GL_ERR_IO, "%s: write failed", path);
        } else {
            s = gl_atomic_commit(&f, err);
        }
    }
    free(text);
    return s;
}
