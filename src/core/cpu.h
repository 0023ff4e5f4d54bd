/* cpu.h: which instruction-set level the kernels run at, from cpuid at run time, capped by
 * GEOLABEL_ISA=avx2|avx512|amx so a lower path can be tested on a machine that has more. */
#ifndef GEOLABEL_CPU_H
#define GEOLABEL_CPU_H

#include "geolabel.h"

typedef enum { GL_ISA_NONE = 0, GL_ISA_AVX2, GL_ISA_AVX512, GL_ISA_AMX } gl_isa;

typedef struct {
    gl_isa isa;    /* the level the kernels use: the best present, capped by GEOLABEL_ISA */
    int bf16;      /* AVX512-BF16 usable at that level */
    int vnni;      /* AVX512-VNNI usable at that level */
    int amx;       /* AMX tiles usable (AMX-BF16 and AMX-INT8) */
    gl_isa native; /* the best level the CPU and OS offer */
} gl_cpu;

/* Detects the CPU and applies GEOLABEL_ISA as a cap: an unknown value is an error naming the
 * variable; a level above what the CPU offers falls back to the CPU's best, with one warning line
 * per process (gl_log). */
gl_status gl_cpu_detect(gl_cpu *cpu, gl_error *err);
const char *gl_isa_name(gl_isa isa);

#endif
