/* run.h: what the run/ files share: the manifest's members in order (manifest.c owns them; the
 * shard checks in shard_set.c read them), and which members are records rather than settings. */
#ifndef GEOLABEL_RUN_H
#define GEOLABEL_RUN_H

#include "geolabel.h"

struct gl_manifest {
    char **keys, **values; /* [n], in the order they were set */
    char *json;            /* [n]: 1 when the value is JSON text (an object, array or number) */
    int n;
};

/* Members that record what a run did rather than how it labels ("inputs": this output's input
 * list; "merged_shards"): never compared, on resume or between shards. */
int gl_manifest_recorded_only(const char *key);
/* Members added after outputs existed without them: the value such an older output was made with
 * ("compute_dtype": every run before --dtype computed in f32), so it still resumes and merges.
 * NULL for other keys. */
const char *gl_manifest_absent_means(const char *key);

#endif
