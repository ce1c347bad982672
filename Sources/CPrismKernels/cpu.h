// Run-time CPU feature checks, cached per file: the kernels dispatch on the machine they run on, never on the
// one they were built on (the fleet mixes AVX2-only, AVX-512 and AMX machines).
#ifndef PRISM_CPU_H
#define PRISM_CPU_H
#if defined(__x86_64__)
// AVX2 with FMA: the float kernels' baseline vector path.
static inline int cpu_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
    return cached;
}
// The same with F16C, for kernels that widen half-precision values.
static inline int cpu_avx2_fma_f16c(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = cpu_avx2_fma() && __builtin_cpu_supports("f16c"); }
    return cached;
}
// AVX-512F on top of that, for the float kernels' 16-lane paths.
static inline int cpu_avx512f(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = cpu_avx2_fma_f16c() && __builtin_cpu_supports("avx512f"); }
    return cached;
}
#endif
#endif
