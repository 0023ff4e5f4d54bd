/* shard.c: which shard of a split run owns an input or a tile (a stable hash of its path), and the
 * shard number read from "i/n" or from a scheduler's array-task environment. */
#include "geolabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t gl_shard_hash(const char *key) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: byte order independent, no seed */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    /* FNV's low bits follow the last bytes closely (paths differing in one digit); SplitMix64's
     * finaliser spreads every input bit over the bits that % count reads. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

int gl_shard_owns_input(const gl_shard *s, const char *path) {
    if (!s || s->count <= 1 || s->by == GL_SHARD_BY_TILE) return 1;
    return (int)(gl_shard_hash(path) % (uint64_t)s->count) == s->index;
}

int gl_shard_owns_tile(const gl_shard *s, const char *path, int row, int col) {
    if (!s || s->count <= 1 || s->by != GL_SHARD_BY_TILE) return 1;
    size_t n = strlen(path) + 32;
    char stack[512], *key = n <= sizeof stack ? stack : malloc(n);
    if (!key) return (int)(gl_shard_hash(path) % (uint64_t)s->count) == s->index;
    snprintf(key, n, "%s#%d,%d", path, row, col);
    int owns = (int)(gl_shard_hash(key) % (uint64_t)s->count) == s->index;
    if (key != stack) free(key);
    return owns;
}

/* A whole decimal number in [min, max], or -1. */
static long parse_count(const char *v, long min, long max) {
    if (!v || !*v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < min || x > max ? -1 : x;
}

gl_status gl_shard_parse(const char *spec, gl_shard *s, gl_error *err) {
    const char *slash = spec ? strchr(spec, '/') : NULL;
    char head[32];
    if (!slash || (size_t)(slash - spec) >= sizeof head)
        return gl_fail(err, GL_ERR_ARG, "--shard takes i/n, e.g. 0/4, not '%s'", spec ? spec : "");
    memcpy(head, spec, (size_t)(slash - spec));
    head[slash - spec] = 0;
    long i = parse_count(head, 0, GL_SHARD_MAX - 1), n = parse_count(slash + 1, 1, GL_SHARD_MAX);
    if (i < 0 || n < 0 || i >= n)
        return gl_fail(err, GL_ERR_ARG, "--shard takes i/n with 0 <= i < n <= %d, not '%s'",
                       GL_SHARD_MAX, spec);
    s->index = (int)i;
    s->count = (int)n;
    return GL_OK;
}

static const char *plain_getenv(const char *name) {
    return getenv(name);
}

/* Slurm numbers array tasks as the user wrote the range (--array=1-4 gives 1..4); the shard is the
 * offset from the smallest, and the count is the task count, or max - min + 1 on Slurm versions
 * that do not export the count. A stepped range (--array=0-10:2) cannot be a dense 0..n-1. */
static gl_status from_slurm(const char *(*env)(const char *), gl_shard *s, gl_error *err) {
    const char *id_s = env("SLURM_ARRAY_TASK_ID"), *count_s = env("SLURM_ARRAY_TASK_COUNT");
    const char *min_s = env("SLURM_ARRAY_TASK_MIN"), *max_s = env("SLURM_ARRAY_TASK_MAX");
    long id = parse_count(id_s, 0, 1L << 30), min = min_s ? parse_count(min_s, 0, 1L << 30) : 0;
    long max = max_s ? parse_count(max_s, 0, 1L << 30) : -1;
    long count =
        count_s ? parse_count(count_s, 1, GL_SHARD_MAX) : (max >= min ? max - min + 1 : -1);
    if (id < 0 || min < 0 || count < 1 || count > GL_SHARD_MAX)
        return gl_fail(err, GL_ERR_ARG,
                       "SLURM_ARRAY_TASK_ID=%s with SLURM_ARRAY_TASK_COUNT=%s, "
                       "SLURM_ARRAY_TASK_MIN=%s, SLURM_ARRAY_TASK_MAX=%s do not make a shard i/n; "
                       "pass --shard i/n",
                       id_s, count_s ? count_s : "(unset)", min_s ? min_s : "(unset)",
                       max_s ? max_s : "(unset)");
    if (id - min >= count || (max >= 0 && max - min + 1 != count))
        return gl_fail(err, GL_ERR_ARG,
                       "Slurm array task %ld of a %ld-task array from %ld to %s is not a dense "
                       "0..n-1 range (a stepped or sparse --array?); pass --shard i/n",
                       id, count, min, max_s ? max_s : "?");
    s->index = (int)(id - min);
    s->count = (int)count;
    return GL_OK;
}

gl_status gl_shard_from_env(const char *(*env)(const char *name), int count_hint, gl_shard *s,
                            int *found, gl_error *err) {
    if (!env) env = plain_getenv;
    *found = 0;
    const char *v;
    if ((v = env("SLURM_ARRAY_TASK_ID")) && *v) {
        *found = 1;
        return from_slurm(env, s, err);
    }
    if ((v = env("JOB_COMPLETION_INDEX")) && *v) {
        *found = 1;
        long i = parse_count(v, 0, GL_SHARD_MAX - 1);
        if (count_hint < 1)
            return gl_fail(err, GL_ERR_ARG,
                           "JOB_COMPLETION_INDEX=%s (a Kubernetes indexed job) needs "
                           "--shard-count N, the job's completions",
                           v);
        if (i < 0 || i >= count_hint)
            return gl_fail(err, GL_ERR_ARG,
                           "JOB_COMPLETION_INDEX=%s is not a shard of --shard-count %d", v,
                           count_hint);
        s->index = (int)i;
        s->count = count_hint;
        return GL_OK;
    }
    if ((v = env("AWS_BATCH_JOB_ARRAY_INDEX")) && *v) {
        *found = 1;
        const char *n_s = env("AWS_BATCH_JOB_ARRAY_SIZE");
        long i = parse_count(v, 0, GL_SHARD_MAX - 1), n = parse_count(n_s, 1, GL_SHARD_MAX);
        if (i < 0 || n < 1 || i >= n)
            return gl_fail(err, GL_ERR_ARG,
                           "AWS_BATCH_JOB_ARRAY_INDEX=%s with AWS_BATCH_JOB_ARRAY_SIZE=%s is not a "
                           "shard i/n; pass --shard i/n",
                           v, n_s ? n_s : "(unset)");
        s->index = (int)i;
        s->count = (int)n;
        return GL_OK;
    }
    return GL_OK;
}
