/* cpu.c: run-time CPU dispatch: cpuid and xgetbv say which vector paths the CPU and the OS allow,
 * so one binary built for AVX2 also runs the AVX-512, VNNI/BF16 and AMX paths where they exist. */
#include "core/cpu.h"

#include <cpuid.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

const char *gl_isa_name(gl_isa isa) {
    switch (isa) {
    case GL_ISA_AVX2:
        return "avx2";
    case GL_ISA_AVX512:
        return "avx512";
    case GL_ISA_AMX:
        return "amx";
    default:
        return "none";
    }
}

gl_status gl_cpu_detect(gl_cpu *cpu, gl_error *err) {
    memset(cpu, 0, sizeof *cpu);
    unsigned a, b, c, d, max = __get_cpuid_max(0, NULL);
    if (max < 7 || !__get_cpuid(1, &a, &b, &c, &d))
        return gl_fail(err, GL_ERR_UNSUPPORTED, "cpu: cpuid leaf 7 is missing; AVX2 is required");
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int ymm_os = (xcr0 & 6) == 6, zmm_os = (xcr0 & 0xe6) == 0xe6,
        amx_os = (xcr0 & 0x60000) == 0x60000;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
        vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);
    int bf16 = (a1 >> 5) & 1;
    if (avx2 && fma && ymm_os) cpu->native = GL_ISA_AVX2;
    if (cpu->native && f && dq && bw && vl && zmm_os) cpu->native = GL_ISA_AVX512;
    if (cpu->native == GL_ISA_AVX512 && amx_tile && amx_bf16 && amx_int8 && amx_os)
        cpu->native = GL_ISA_AMX;
    if (!cpu->native)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "cpu: this CPU lacks AVX2 and FMA, which the "
                       "kernels require");
    cpu->isa = cpu->native;
    const char *want = getenv("GEOLABEL_ISA");
    if (want && *want) {
        gl_isa w = !strcmp(want, "avx2")     ? GL_ISA_AVX2
                   : !strcmp(want, "avx512") ? GL_ISA_AVX512
                   : !strcmp(want, "amx")    ? GL_ISA_AMX
                                             : GL_ISA_NONE;
        if (!w)
            return gl_fail(err, GL_ERR_ARG, "GEOLABEL_ISA: '%s' is not one of avx2, avx512, amx",
                           want);
        /* The variable is a cap: a level above the CPU's (amx on a CPU without AMX, a shared
         * job script on mixed nodes) runs the best level there is, and says so once per process
         * (log state, like the log level), not once per model load. */
        static atomic_int warned;
        if (w > cpu->native && !atomic_exchange(&warned, 1))
            gl_log(GL_LOG_WARN,
                   "GEOLABEL_ISA: '%s' asked for, but this CPU offers at most %s; "
                   "using %s",
                   want, gl_isa_name(cpu->native), gl_isa_name(cpu->native));
        cpu->isa = w < cpu->native ? w : cpu->native;
    }
    cpu->bf16 = cpu->isa >= GL_ISA_AVX512 && bf16;
    cpu->vnni = cpu->isa >= GL_ISA_AVX512 && vnni;
    cpu->amx = cpu->isa >= GL_ISA_AMX;
    return GL_OK;
}
