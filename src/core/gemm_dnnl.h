/* gemm_dnnl.h: Debian's oneDNN (libdnnl 2.6) matmul as the bf16 and int8 GEMM: weights reordered
 * once at load into the blocked layout its brgemm kernels choose (AMX tiles where the CPU has
 * them). */
#ifndef GEOLABEL_GEMM_DNNL_H
#define GEOLABEL_GEMM_DNNL_H

#include "core/cpu.h"
#include "core/kernels.h"

#include <stdint.h>

/* Rows per oneDNN call at most: each call runs on one pool thread over the full width N. */
#define GL_DNNL_ROWS 64

typedef struct gl_dnnl gl_dnnl;
typedef struct gl_dnnl_weight gl_dnnl_weight;

/* Whether bf16 and int8 weights go to oneDNN: GEOLABEL_GEMM=dnnl|own (a test and diagnostic knob)
 * says so; unset or empty, only where the kernels run at amx (so GEOLABEL_ISA=avx512 keeps our
 * own). An unknown value is an error naming the variable. *use: 0 no, 1 by default, 2 forced. */
gl_status gl_dnnl_wanted(gl_isa isa, int *use, gl_error *err);

/* The engine and the primitive cache. isa below amx caps oneDNN's own ISA at AVX512-BF16 (once
 * per process: oneDNN takes the cap only before its first primitive). gl_dnnl_free frees all. */
gl_dnnl *gl_dnnl_create(gl_isa isa, gl_error *err);
void gl_dnnl_free(gl_dnnl *d);

/* W [N, K] (row-major, out x in) reordered to [Kp, N] in oneDNN's layout, rows K..Kp zero (Kp: the
 * prepared activations' row length). bf16: W is f32, rounded to bf16; int8: W is the quantised
 * int8 q (gl_quantize_int8), multiplied as u8 activations x s8 weights -> s32. Caller frees with
 * gl_dnnl_weight_free. */
gl_status gl_dnnl_pack(gl_dnnl *d, gl_dtype dtype, const void *W, int N, int K, int Kp,
                       gl_dnnl_weight **out, gl_error *err);
void gl_dnnl_weight_free(gl_dnnl_weight *w);

/* The implementation oneDNN chose for the first packed weight, e.g. "brg:avx512_core_amx". */
const char *gl_dnnl_impl(const gl_dnnl *d);

/* Whether oneDNN is worth running by default for implementation impl: only with AMX ("amx" in its
 * name). On an AMX CPU whose OS denies the tiles to the process, oneDNN picks its AVX512-BF16/VNNI
 * brgemm, which is slower than our own kernels: those run instead. */
int gl_dnnl_worth(const char *impl);

/* Per-thread state for threads pool threads and outputs up to max_n wide. */
gl_status gl_dnnl_reserve(gl_dnnl *d, int threads, int max_n, gl_error *err);

/* How a GEMM of M rows is cut into row blocks: returns the count, *rows the block height (the last
 * block takes the rest); at least threads blocks when M allows, none taller than GL_DNNL_ROWS. */
int gl_dnnl_blocks(int M, int threads, int *rows);

/* Rows [r0, r1) of A W^T, A the prepared rows [M, Kp] (bf16, or uint8 for int8 weights), on the
 * calling pool thread. bf16: C (row stride ldc) = act(A W^T + bias), or C += A W^T + bias. int8:
 * *acc = the s32 sums [r1 - r0, N] (dense, the thread's buffer, valid until its next call), for
 * the caller to scale; C, bias and act are not used. Returns 0, or -1 when oneDNN could not (no
 * primitive for this shape, or no per-thread state): the caller then computes these rows itself. */
int gl_dnnl_gemm(gl_dnnl *d, const gl_dnnl_weight *w, const void *A, int r0, int r1,
                 const float *bias, float *C, int ldc, int accumulate, gl_act act, int thread,
                 const int32_t **acc);

#endif
