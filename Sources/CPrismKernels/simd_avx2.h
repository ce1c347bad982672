// AVX2 reductions shared by the kernels. Callers are compiled for AVX2 or a superset of it, so these inline into them.
#ifndef PRISM_SIMD_AVX2_H
#define PRISM_SIMD_AVX2_H
#if defined(__x86_64__)
#include <immintrin.h>

// The sum and the largest of 8 lanes.
__attribute__((target("avx2"))) static inline float hsum8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2"))) static inline float hmax8_avx2(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

// Four sums of 8 lanes each, as one 4-lane vector: one reduction serves four accumulators.
__attribute__((target("avx2"))) static inline __m128 hsum4_avx2(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The four row sums of a quad accumulator whose lanes hold rows 0, 0, 1, 1 | 2, 2, 3, 3.
__attribute__((target("avx2"))) static inline void quad_row_sums_avx2(__m256 v, float out[4]) {
    __m256 h = _mm256_hadd_ps(v, v);   // half 0: rows 0, 1; half 1: rows 2, 3
    __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
    out[0] = _mm_cvtss_f32(lo); out[1] = _mm_cvtss_f32(_mm_permute_ps(lo, 1));
    out[2] = _mm_cvtss_f32(hi); out[3] = _mm_cvtss_f32(_mm_permute_ps(hi, 1));
}

// A half-precision scale as float. `_cvtsh_ss` (and every intrinsic spelling of it) compiles to vpinsrw, which
// merges into a register of the compiler's choosing; clang picked a loop's accumulator, so each block's scale
// waited for the previous block's FMA and the Q5_0 decode kernel read at half the memory rate. vmovd writes the
// whole register and depends on nothing (asm, because clang folds any zeroing back into vpinsrw).
__attribute__((target("f16c"))) static inline float f16_to_f32(uint16_t h) {
    __m128i v;
    __asm__("vmovd %k1, %0" : "=x"(v) : "r"((uint32_t)h));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}
#endif
#endif
