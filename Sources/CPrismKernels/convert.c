// Dtype conversion kernels. The vector paths are chosen at run time, so one binary runs on any x86-64
// (and builds unchanged on other architectures, where only the portable paths exist).
#include "prism_kernels.h"
#include "half.h"
#include <string.h>

// ---- portable paths ---------------------------------------------------------------------------
static void f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

static void bf16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
}

// ---- x86-64 vector paths ----------------------------------------------------------------------
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,f16c")))
static void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    f16_to_f32_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2")))
static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    bf16_to_f32_scalar(src + i, dst + i, n - i);
}

static int have_avx2_f16c(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    }
    return cached;
}
#else
static int have_avx2_f16c(void) { return 0; }
#endif

int prism_kernels_have_f16c(void) { return have_avx2_f16c(); }

void prism_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (have_avx2_f16c()) { f16_to_f32_f16c(src, dst, n); return; }
#endif
    f16_to_f32_scalar(src, dst, n);
}

void prism_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (have_avx2_f16c()) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
    bf16_to_f32_scalar(src, dst, n);
}

void prism_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x; memcpy(&x, &src[i], 4);
        if ((x & 0x7fffffffu) > 0x7f800000u) { dst[i] = (uint16_t)((x >> 16) | 0x40); continue; }
        x += 0x7fff + ((x >> 16) & 1);
        dst[i] = (uint16_t)(x >> 16);
    }
}

void prism_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}
