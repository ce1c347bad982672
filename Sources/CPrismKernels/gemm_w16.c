// Small-M matrix product against 16-bit weights with widening fused into the dot products.
#include "prism_kernels.h"
#include "cpu.h"
#include <string.h>

static inline float bf16_scalar(uint16_t v) { uint32_t b = (uint32_t)v << 16; float f; memcpy(&f, &b, 4); return f; }

static void gemm_w16_portable(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                              size_t row0, size_t row1, float *y, size_t ldy) {
    float tmp[256];
    for (size_t r = row0; r < row1; r++) {
        const uint16_t *wr = w + r * cols;
        for (size_t i = 0; i < m; i++) y[i * ldy + r] = 0;
        for (size_t c0 = 0; c0 < cols; c0 += 256) {
            size_t n = cols - c0 < 256 ? cols - c0 : 256;
            if (is_bf16) for (size_t j = 0; j < n; j++) tmp[j] = bf16_scalar(wr[c0 + j]);
            else prism_f16_to_f32(wr + c0, tmp, n);
            for (size_t i = 0; i < m; i++) {
                const float *xi = x + i * cols + c0;
                float acc = 0;
                for (size_t j = 0; j < n; j++) acc += xi[j] * tmp[j];
                y[i * ldy + r] += acc;
            }
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline __m256 load8(const uint16_t *p, int is_bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (is_bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

__attribute__((target("avx2,fma,f16c")))
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// The columns past the last whole vector, one at a time.
static inline float tail_dot(const float *x, const uint16_t *w, size_t from, size_t cols, int is_bf16) {
    float s = 0;
    for (size_t c = from; c < cols; c++) {
        float wv;
        if (is_bf16) wv = bf16_scalar(w[c]); else prism_f16_to_f32(w + c, &wv, 1);
        s += x[c] * wv;
    }
    return s;
}

// Four sums of 8 lanes each, as one 4-lane vector (one reduction for a block's four inputs).
__attribute__((target("avx2,fma,f16c")))
static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// y for R weight rows from r0 and 4 inputs: R·4 accumulators, so each widened weight vector serves 4 inputs and
// each input vector R rows (12 FMAs per 7 loads at R = 3, which with one input register fills all 16 ymm).
// Batched decode (4–32 rows) is bound by these loads, not by the weight stream, which stays in cache.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void w16_block(const int R, const float *x, size_t ldx, const uint16_t *w, int is_bf16, size_t cols,
                             size_t r0, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)7;
    __m256 acc[3][4];
    for (int r = 0; r < R; r++) for (int i = 0; i < 4; i++) acc[r][i] = _mm256_setzero_ps();
    for (size_t c = 0; c < vec; c += 8) {
        __m256 wv[3];
        for (int r = 0; r < R; r++) wv[r] = load8(w + (r0 + r) * cols + c, is_bf16);
        for (int i = 0; i < 4; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * ldx + c);
            for (int r = 0; r < R; r++) acc[r][i] = _mm256_fmadd_ps(xv, wv[r], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++) {
        float t[4];
        _mm_storeu_ps(t, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
        for (int i = 0; i < 4; i++) y[i * ldy + r0 + r] = t[i] + tail_dot(x + i * ldx, w + (r0 + r) * cols, vec, cols, is_bf16);
    }
}

// The two block heights as functions of their own: inlined into one loop nest, the compiler spills the accumulators.
__attribute__((target("avx2,fma,f16c"), noinline))
static void w16_block3(const float *x, const uint16_t *w, int is_bf16, size_t cols, size_t r0, float *y, size_t ldy) {
    w16_block(3, x, cols, w, is_bf16, cols, r0, y, ldy);
}
__attribute__((target("avx2,fma,f16c"), noinline))
static void w16_block1(const float *x, const uint16_t *w, int is_bf16, size_t cols, size_t r0, float *y, size_t ldy) {
    w16_block(1, x, cols, w, is_bf16, cols, r0, y, ldy);
}

// Whole groups of 4 inputs go to the blocks above; the last 1–3 inputs (and single-stream decode) share each
// widened weight vector here.
__attribute__((target("avx2,fma,f16c")))
static void gemm_w16_avx2(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                          size_t row0, size_t row1, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)15;
    size_t fours = m & ~(size_t)3;
    for (size_t i0 = 0; i0 < fours; i0 += 4) {
        size_t r = row0;
        for (; r + 3 <= row1; r += 3) w16_block3(x + i0 * cols, w, is_bf16, cols, r, y + i0 * ldy, ldy);
        for (; r < row1; r++) w16_block1(x + i0 * cols, w, is_bf16, cols, r, y + i0 * ldy, ldy);
    }
    for (size_t i0 = fours; i0 < m; i0 += 4) {
        size_t mi = m - i0 < 4 ? m - i0 : 4;
        const float *x0 = x + i0 * cols;
        for (size_t r = row0; r < row1; r++) {
            const uint16_t *wr = w + r * cols;
            __m256 acc[4][2];
            for (size_t i = 0; i < 4; i++) { acc[i][0] = _mm256_setzero_ps(); acc[i][1] = _mm256_setzero_ps(); }
            for (size_t c = 0; c < vec; c += 16) {
                __m256 wa = load8(wr + c, is_bf16), wb = load8(wr + c + 8, is_bf16);
                for (size_t i = 0; i < mi; i++) {
                    const float *xi = x0 + i * cols + c;
                    acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(xi), wa, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(_mm256_loadu_ps(xi + 8), wb, acc[i][1]);
                }
            }
            for (size_t i = 0; i < mi; i++) {
                y[(i0 + i) * ldy + r] = hsum(_mm256_add_ps(acc[i][0], acc[i][1])) + tail_dot(x0 + i * cols, wr, vec, cols, is_bf16);
            }
        }
    }
}

#endif

void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (cpu_avx2_fma_f16c()) { gemm_w16_avx2(x, m, w, is_bf16, cols, row0, row1, y, ldy); return; }
#endif
    gemm_w16_portable(x, m, w, is_bf16, cols, row0, row1, y, ldy);
}
