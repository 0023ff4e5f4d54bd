/* run.h: what the run/ files and their callers in label/ share: run manifests as JSON. */
#ifndef GEOLABEL_RUN_H
#define GEOLABEL_RUN_H

#include "geolabel.h"

#include <cjson/cJSON.h>

/* Writes m as the manifest beside output (gl_run_manifest_path), atomically. m stays the
 * caller's. */
gl_status gl_run_manifest_save(const char *output, const cJSON *m, gl_error *err);

#endif
