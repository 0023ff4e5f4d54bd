/* blas.h: the library's GEMM entry points and BLAS thread control, plus the OpenBLAS core-type
 * fix-up that the command-line program applies first thing in main(). */
#ifndef GEOLABEL_BLAS_H
#define GEOLABEL_BLAS_H

/* C[M,N] = alpha * A[M,K] * B[N,K]^T + beta * C: the layout of every nn.Linear weight. */
void gl_sgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* C[M,N] = alpha * A[M,K] * B[K,N] + beta * C. */
void gl_sgemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* The threads BLAS currently uses (gl_blas_set_threads is public). */
int gl_blas_get_threads(void);
/* Debian's OpenBLAS 0.3.21 runs generic kernels on CPUs it does not know (Zen 4) unless
 * OPENBLAS_CORETYPE is set before it loads. When the variable is unset and the CPU has AVX-512,
 * this re-executes the program with SKYLAKEX; it returns only when no re-execution happened. */
void gl_blas_reexec_if_needed(char **argv);

#endif
