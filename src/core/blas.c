/* blas.c: the GEMM entry points every subsystem uses, and the OpenBLAS core-type fix-up.
 * Keeping BLAS behind two calls lets a measured-faster kernel replace it in one place. */
#include "core/blas.h"
#include "geolabel.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gl_sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void gl_sgemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void gl_blas_set_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
}

int gl_blas_get_threads(void) {
    return openblas_get_num_threads();
}

void gl_blas_reexec_if_needed(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("GEOLABEL_NO_REEXEC")) return;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return;
    /* Mark the attempt so a failed exec can never loop. */
    setenv("GEOLABEL_NO_REEXEC", "1", 1);
    setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with what OpenBLAS chose */
}
