/* pool.h: a fixed thread pool that runs parallel-for jobs; the caller's thread takes part.
 * One pool per context; a job's tasks are claimed dynamically, so results never depend on timing.
 */
#ifndef GEOLABEL_POOL_H
#define GEOLABEL_POOL_H

#include "geolabel.h"

typedef struct gl_pool gl_pool;

/* A task gets the job's context, its index in [0, n_tasks) and the running thread's index in
 * [0, gl_pool_threads()), which picks per-thread scratch space. */
typedef void (*gl_pool_fn)(void *ctx, int task, int thread);

/* threads <= 1 gives a pool that runs everything inline. Returns NULL on failure. */
gl_pool *gl_pool_create(int threads, gl_error *err);
void gl_pool_free(gl_pool *pool);
int gl_pool_threads(const gl_pool *pool);
/* Runs fn for every task and returns when all are done. Not reentrant. */
void gl_pool_run(gl_pool *pool, int n_tasks, gl_pool_fn fn, void *ctx);
/* The kernels' state (packed weights, scratch) of the context owning the pool; not owned. */
struct gl_kernels;
void gl_pool_set_kernels(gl_pool *pool, struct gl_kernels *k);
struct gl_kernels *gl_pool_kernels(const gl_pool *pool);
/* The online core count (at least 1). */
int gl_cpu_count(void);

#endif
