/* pool.c: the thread pool behind every parallel kernel (GEMM tiles, attention heads, row ops).
 * Between jobs workers spin briefly (a forward pass runs jobs back to back), then sleep on a
 * condition variable; tasks are handed out by an atomic counter. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct gl_pool {
    int n_threads; /* including the caller */
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_long generation; /* bumped per job, under mu */
    atomic_int busy;        /* workers still inside the current job */
    int stop;
    gl_pool_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next;
    struct gl_kernels *kernels;
};

typedef struct {
    gl_pool *pool;
    int index;
} worker_arg;

static void drain(gl_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->n_tasks) return;
        p->fn(p->ctx, t, thread);
    }
}

#define SPIN_ROUNDS 4000 /* about 50 microseconds of pause instructions */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits for a generation other than seen: spinning first, then asleep. Returns 0 on stop. */
static int wait_for_job(gl_pool *p, long seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen) return 1;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (!p->stop && atomic_load(&p->generation) == seen)
        pthread_cond_wait(&p->wake, &p->mu);
    int go = !p->stop;
    pthread_mutex_unlock(&p->mu);
    return go;
}

static void *worker_main(void *arg) {
    worker_arg *w = arg;
    gl_pool *p = w->pool;
    int index = w->index;
    free(w);
    long seen = 0;
    while (wait_for_job(p, seen)) {
        seen = atomic_load(&p->generation);
        drain(p, index);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int gl_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

gl_pool *gl_pool_create(int threads, gl_error *err) {
    gl_pool *p = calloc(1, sizeof *p);
    if (!p) {
        gl_fail(err, GL_ERR_NOMEM, "thread pool: out of memory");
        return NULL;
    }
    p->n_threads = threads > 1 ? threads : 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->n_threads == 1) return p;
    p->workers = calloc((size_t)p->n_threads - 1, sizeof *p->workers);
    for (int i = 1; p->workers && i < p->n_threads; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (w) *w = (worker_arg){p, i};
        if (!w || pthread_create(&p->workers[i - 1], NULL, worker_main, w) != 0) {
            free(w);
            p->n_threads = i; /* the ones started are joined by free */
            gl_pool_free(p);
            gl_fail(err, GL_ERR_INTERNAL, "thread pool: cannot start thread %d", i);
            return NULL;
        }
    }
    if (!p->workers) {
        p->n_threads = 1;
        gl_pool_free(p);
        gl_fail(err, GL_ERR_NOMEM, "thread pool: out of memory");
        return NULL;
    }
    return p;
}

void gl_pool_free(gl_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i + 1 < p->n_threads; i++)
        pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

void gl_pool_set_kernels(gl_pool *p, struct gl_kernels *k) {
    if (p) p->kernels = k;
}

struct gl_kernels *gl_pool_kernels(const gl_pool *p) {
    return p ? p->kernels : NULL;
}

int gl_pool_threads(const gl_pool *p) {
    return p ? p->n_threads : 1;
}

void gl_pool_run(gl_pool *p, int n_tasks, gl_pool_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->busy); i++)
        cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->busy))
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
