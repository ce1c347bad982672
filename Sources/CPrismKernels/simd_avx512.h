// AVX-512 reductions shared by the kernels. Callers are compiled for AVX-512F or a superset of it.
#ifndef PRISM_SIMD_AVX512_H
#define PRISM_SIMD_AVX512_H
#if defined(__x86_64__)
#include <immintrin.h>

// The lane sums of 16 accumulators as one vector, lane 4j + k holding a[4k + j]: 128-bit quarters folded, then
// lanes. Every accumulator's lanes are added in the same order wherever it sits, so a result does not depend on
// the block shape, nor on how many inputs share the block.
__attribute__((target("avx512f"), always_inline)) static inline __m512 sum16_avx512(const __m512 a[16]) {
    __m512 t[8], u[4];
    for (int k = 0; k < 8; k++)
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x44), _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88), _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xDD));
    __m512 p = _mm512_add_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
    __m512 q = _mm512_add_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3]));
    return _mm512_add_ps(_mm512_shuffle_ps(p, q, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(p, q, _MM_SHUFFLE(3, 2, 3, 2)));
}

// The lane of sum16_avx512's result that holds accumulator a.
static inline int sum16_lane(int a) { return 4 * (a & 3) + (a >> 2); }
#endif
#endif
