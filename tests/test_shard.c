/* test_shard.c: shard assignment (run/shard.c): a partition of the inputs for n = 1, 2, 7, tiles
 * likewise, the published FNV-1a constants under the mixer, "i/n" parsing and the schedulers'
 * environment variables. */
#include "harness.h"

#include <stdint.h>

/* SplitMix64's finaliser (Steele, Lea, Flood 2014), written out here from its published
 * constants: the hash must be FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
 * followed by it. */
static uint64_t mix(uint64_t h) {
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static void test_hash_vectors(void) {
    /* FNV-1a 64 test vectors from the FNV reference page (Noll): "", "a", "foobar". */
    CHECK(gl_shard_hash("") == mix(0xcbf29ce484222325ULL), "empty");
    CHECK(gl_shard_hash("a") == mix(0xaf63dc4c8601ec8cULL), "a");
    CHECK(gl_shard_hash("foobar") == mix(0x85944171f73967e8ULL), "foobar");
}

static void test_partition(void) {
    enum { N = 1000 };
    static char paths[N][64];
    for (int i = 0; i < N; i++)
        snprintf(paths[i], sizeof paths[i], "/data/geograph/%07d/photo_%d.jpg", i * 37, i);
    const int counts[] = {1, 2, 7};
    for (int c = 0; c < 3; c++) {
        int n = counts[c], per[7] = {0};
        for (int i = 0; i < N; i++) {
            int owners = 0;
            for (int k = 0; k < n; k++) {
                gl_shard s = {k, n, GL_SHARD_BY_INPUT};
                if (gl_shard_owns_input(&s, paths[i])) owners++, per[k]++;
                /* Tile sharding keeps every input and splits its tiles instead. */
                s.by = GL_SHARD_BY_TILE;
                CHECK(gl_shard_owns_input(&s, paths[i]), "by tile keeps input %d", i);
            }
            CHECK(owners == 1, "n=%d: input %d in %d shards", n, i, owners);
        }
        /* 1000 inputs over 7 shards: each near 143; a broken hash piles them up. */
        for (int k = 0; k < n; k++)
            CHECK(per[k] > N / n * 7 / 10 && per[k] < N / n * 13 / 10, "n=%d shard %d has %d", n, k,
                  per[k]);
        for (int r = 0; r < 20; r++)
            for (int col = 0; col < 20; col++) {
                int owners = 0;
                for (int k = 0; k < n; k++) {
                    gl_shard s = {k, n, GL_SHARD_BY_TILE};
                    owners += gl_shard_owns_tile(&s, "scene.tif", r, col);
                }
                CHECK(owners == 1, "n=%d: tile %d,%d in %d shards", n, r, col, owners);
            }
    }
    CHECK(gl_shard_owns_input(NULL, "x"), "NULL keeps all");
    gl_shard none = {0};
    CHECK(gl_shard_owns_input(&none, "x") && gl_shard_owns_tile(&none, "x", 3, 4), "unsharded");
}

static void test_parse(void) {
    gl_error err = {0};
    gl_shard s = {0};
    CHECK_OK(gl_shard_parse("3/7", &s, &err), &err);
    CHECK(s.index == 3 && s.count == 7, "%d/%d", s.index, s.count);
    const char *bad[] = {"7/7", "-1/3", "1/0", "1", "a/b", "1/2x", "/3", "2/", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (gl_error){0};
        CHECK(gl_shard_parse(bad[i], &s, &err) == GL_ERR_ARG, "'%s' accepted", bad[i]);
        CHECK(strstr(err.msg, "--shard"), "'%s': %s", bad[i], err.msg);
    }
}

static const char *const *t_env;
static const char *fake_env(const char *name) {
    for (int i = 0; t_env[i]; i += 2)
        if (!strcmp(t_env[i], name)) return t_env[i + 1];
    return NULL;
}

static int env_shard(const char *const *vars, int hint, gl_shard *s, int *found) {
    t_env = vars;
    gl_error err = {0};
    *s = (gl_shard){0};
    return gl_shard_from_env(fake_env, hint, s, found, &err);
}

static void test_env(void) {
    gl_shard s;
    int found;
    const char *none[] = {NULL};
    CHECK(env_shard(none, 0, &s, &found) == GL_OK && !found && s.count == 0, "no scheduler");
    const char *slurm[] = {"SLURM_ARRAY_TASK_ID",
                           "2",
                           "SLURM_ARRAY_TASK_COUNT",
                           "4",
                           "SLURM_ARRAY_TASK_MIN",
                           "0",
                           "SLURM_ARRAY_TASK_MAX",
                           "3",
                           NULL};
    CHECK(env_shard(slurm, 0, &s, &found) == GL_OK && found && s.index == 2 && s.count == 4,
          "slurm %d/%d", s.index, s.count);
    /* --array=1-4 numbers tasks from 1; no TASK_COUNT (older Slurm): max - min + 1. */
    const char *slurm1[] = {
        "SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_MAX", "4", NULL};
    CHECK(env_shard(slurm1, 0, &s, &found) == GL_OK && s.index == 0 && s.count == 4,
          "slurm 1-based %d/%d", s.index, s.count);
    const char *stepped[] = {"SLURM_ARRAY_TASK_ID",
                             "4",
                             "SLURM_ARRAY_TASK_COUNT",
                             "3",
                             "SLURM_ARRAY_TASK_MIN",
                             "0",
                             "SLURM_ARRAY_TASK_MAX",
                             "4",
                             NULL};
    CHECK(env_shard(stepped, 0, &s, &found) == GL_ERR_ARG && found, "stepped array accepted");
    const char *k8s[] = {"JOB_COMPLETION_INDEX", "5", NULL};
    CHECK(env_shard(k8s, 8, &s, &found) == GL_OK && s.index == 5 && s.count == 8, "k8s");
    CHECK(env_shard(k8s, 0, &s, &found) == GL_ERR_ARG, "k8s without --shard-count accepted");
    CHECK(env_shard(k8s, 5, &s, &found) == GL_ERR_ARG, "k8s index past the count accepted");
    const char *aws[] = {"AWS_BATCH_JOB_ARRAY_INDEX", "0", "AWS_BATCH_JOB_ARRAY_SIZE", "3", NULL};
    CHECK(env_shard(aws, 0, &s, &found) == GL_OK && s.index == 0 && s.count == 3, "aws");
    const char *aws_bad[] = {"AWS_BATCH_JOB_ARRAY_INDEX", "3", "AWS_BATCH_JOB_ARRAY_SIZE", "3",
                             NULL};
    CHECK(env_shard(aws_bad, 0, &s, &found) == GL_ERR_ARG, "aws index == size accepted");
}

int main(void) {
    RUN(test_hash_vectors);
    RUN(test_partition);
    RUN(test_parse);
    RUN(test_env);
    T_SUMMARY();
}
