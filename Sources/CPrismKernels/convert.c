// Dtype conversion kernels. The vector paths are chosen at run time, so one binary runs on any x86-64
// (and builds unchanged on other architectures, where only the portable paths exist).
#include "prism_kernels.h"
#include <string.h>

// ---- portable paths ---------------------------------------------------------------------------
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: renormalise
            int e = -1;
            do { e++; mant <<= 1; } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) bits = sign | 0x7f800000u | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f; memcpy(&f, &bits, 4); return f;
}

static inline uint16_t float_to_half(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) return (uint16_t)(sign | 0x7e00);          // NaN
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);         // overflow → inf (after rounding)
    if (absx < 0x38800000u) {                                          // subnormal half or zero
        if (absx < 0x33000000u) return (uint16_t)sign;                  // below half of the smallest subnormal
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        // value = m * 2^(e-150); the half subnormal unit is 2^-24, so q = m * 2^(e-126)
        uint32_t s = 126 - e;                                           // right shift amount (>= 1)
        uint32_t q = m >> s, rem = m & ((1u << s) - 1), halfway = 1u << (s - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = absx + 0xfff + ((absx >> 13) & 1);                    // round to nearest even
    r -= 0x38000000u;                                                   // rebias 127 → 15
    return (uint16_t)(sign | (r >> 13));
}

static void f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

static void bf16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
}

// f32 → bf16 bits with round-to-nearest-even; NaN stays a (quiet) NaN.
static inline uint16_t float_to_bf16(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static void f32_to_bf16_scalar(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = float_to_bf16(src[i]);
}

static void round_bf16_scalar(const float *src, float *dst, size_t n) {
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)float_to_bf16(src[i]) << 16;
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


// The same rounding on 8 lanes: (x + 0x7fff + lsb) >> 16, NaN lanes keep their top half with the quiet bit.
__attribute__((target("avx2")))
static inline __m256i bf16_bits_avx2(__m256i x) {
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

__attribute__((target("avx2")))
static void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = bf16_bits_avx2(_mm256_loadu_si256((const __m256i *)(src + i)));
        __m256i b = bf16_bits_avx2(_mm256_loadu_si256((const __m256i *)(src + i + 8)));
        // packus works within 128-bit lanes: (a0 b0 a1 b1) → reorder the 64-bit quarters to (a0 a1 b0 b1)
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    f32_to_bf16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2")))
static void round_bf16_avx2(const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i b = bf16_bits_avx2(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(b, 16));
    }
    round_bf16_scalar(src + i, dst + i, n - i);
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
#if defined(__x86_64__)
    if (have_avx2_f16c()) { f32_to_bf16_avx2(src, dst, n); return; }
#endif
    f32_to_bf16_scalar(src, dst, n);
}

void prism_round_bf16(const float *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (have_avx2_f16c()) { round_bf16_avx2(src, dst, n); return; }
#endif
    round_bf16_scalar(src, dst, n);
}

void prism_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = float_to_half(src[i]);
}
