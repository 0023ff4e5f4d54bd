/* fma_peak.c: this CPU's measured f32 FMA peak for bench/peers.sh (% of peak per row): T threads
 * each run 12 independent chains of 512-bit (or, without AVX-512, 256-bit) FMAs; prints total
 * GFLOP/s (best of 5, wall clock). Not a test. Usage: fma_peak THREADS [bf16]
 * With bf16, the chains are VDPBF16PS (AVX512-BF16: 32 bf16 products summed into 16 f32 lanes,
 * 64 FLOP an instruction), the ceiling of the bf16 path on CPUs without AMX; exit 3 without it. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ITERS 100000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static float chains512(void) {
    __m512 a[12], b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < ITERS; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}

__attribute__((target("avx2,fma"))) static float chains256(void) {
    __m256 a[12], b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < ITERS; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    float t[8], s = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(t, a[i]);
        for (int j = 0; j < 8; j++) s += t[j];
    }
    return s;
}

__attribute__((target("avx512f,avx512bf16"))) static float chains_bf16(void) {
    __m512 a[12];
    __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3a83);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < ITERS; k++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], b, c);
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}

static int wide, bf16;
static void *worker(void *out) {
    *(float *)out = bf16 ? chains_bf16() : wide ? chains512() : chains256();
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256) return 2;
    __builtin_cpu_init();
    wide = __builtin_cpu_supports("avx512f");
    bf16 = argc > 2 && !strcmp(argv[2], "bf16");
    if (bf16) {
        unsigned a = 7, b, c = 1, d; /* CPUID.(7,1):EAX bit 5 is AVX512_BF16 */
        __asm__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        if (!wide || !((a >> 5) & 1)) return 3;
    }
    double best = 0;
    float sink[256];
    for (int r = 0; r < 5; r++) {
        pthread_t t[256];
        double t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &sink[i]);
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        double g = threads * ITERS * 12.0 * (bf16 ? 64 : wide ? 32 : 16) / (now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    printf("%.1f GFLOP/s %s\n", best, sink[0] == 1234.5f ? "!" : "");
    return 0;
}
