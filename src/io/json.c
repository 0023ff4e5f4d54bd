/* json.c: whole JSON files to cJSON objects, for configs and weight indexes: the size cap, the
 * parse and the top-level object check in one place. */
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
