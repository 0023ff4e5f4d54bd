/* json.h: reading a whole JSON file whose top level must be an object (configs, indexes), with a
 * size cap checked before reading, and writing one (configs a model folder ships). */
#ifndef GEOLABEL_JSON_H
#define GEOLABEL_JSON_H

#include "geolabel.h"

#include <cjson/cJSON.h>

/* *root is the parsed object (free with cJSON_Delete); on failure NULL and err names the file. */
gl_status gl_json_load_object(const char *path, size_t max_bytes, cJSON **root, gl_error *err);

/* Writes json pretty-printed (cJSON_Print) with a final newline, atomically; json NULL (a failed
 * build) is out of memory. On failure the previous file is kept and err names path. */
gl_status gl_json_write_file(const char *path, const cJSON *json, gl_error *err);

#endif
