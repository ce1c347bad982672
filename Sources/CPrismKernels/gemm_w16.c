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
#include "simd_avx2.h"

__attribute__((target("avx2,fma,f16c")))
static inline __m256 load8(const uint16_t *p, int is_bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (is_bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
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

// y for R weight rows from r0 and I ≤ 4 inputs: R·I accumulators, so each widened weight vector serves I inputs and
// each input vector R rows (at R = 3, I = 4: 12 FMAs per 7 loads, and with one input register all 16 ymm).
// Batched decode (4–32 rows) is bound by these loads, not by the weight stream, which stays in cache.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void w16_block(const int R, const int I, const float *x, size_t ldx, const uint16_t *w, int is_bf16,
                             size_t cols, size_t r0, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)7;
    __m256 acc[3][4];
    for (int r = 0; r < 3; r++) for (int i = 0; i < 4; i++) acc[r][i] = _mm256_setzero_ps();
    for (size_t c = 0; c < vec; c += 8) {
        __m256 wv[3];
        for (int r = 0; r < R; r++) wv[r] = load8(w + (r0 + r) * cols + c, is_bf16);
        for (int i = 0; i < I; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * ldx + c);
            for (int r = 0; r < R; r++) acc[r][i] = _mm256_fmadd_ps(xv, wv[r], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++) {
        float t[4];
        _mm_storeu_ps(t, hsum4_avx2(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
        for (int i = 0; i < I; i++) y[i * ldy + r0 + r] = t[i] + tail_dot(x + i * ldx, w + (r0 + r) * cols, vec, cols, is_bf16);
    }
}

// Each block shape as a function of its own (inlined into one loop nest, the compiler spills the accumulators).
#define W16_BLOCK(R, I) \
    __attribute__((target("avx2,fma,f16c"), noinline)) \
    static void w16_block_##R##x##I(const float *x, const uint16_t *w, int is_bf16, size_t cols, size_t r0, float *y, \
                                    size_t ldy) { w16_block(R, I, x, cols, w, is_bf16, cols, r0, y, ldy); }
W16_BLOCK(3, 1) W16_BLOCK(3, 2) W16_BLOCK(3, 3) W16_BLOCK(3, 4)
W16_BLOCK(1, 1) W16_BLOCK(1, 2) W16_BLOCK(1, 3) W16_BLOCK(1, 4)
typedef void (*w16_block_fn)(const float *, const uint16_t *, int, size_t, size_t, float *, size_t);

// Weight rows in blocks of 3 (the last 1–2 one at a time), inputs in groups of up to 4.
__attribute__((target("avx2,fma,f16c")))
static void gemm_w16_avx2(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                          size_t row0, size_t row1, float *y, size_t ldy) {
    static const w16_block_fn three[5] = {0, w16_block_3x1, w16_block_3x2, w16_block_3x3, w16_block_3x4};
    static const w16_block_fn one[5] = {0, w16_block_1x1, w16_block_1x2, w16_block_1x3, w16_block_1x4};
    // rows outermost: a block's 3 weight rows stay in L1 while every group of inputs (all in L1 for m ≤ 32 at the
    // models' widths) passes over them, so the weights are read from memory once
    size_t r = row0;
    for (; r + 3 <= row1; r += 3)
        for (size_t i0 = 0; i0 < m; i0 += 4) three[m - i0 < 4 ? m - i0 : 4](x + i0 * cols, w, is_bf16, cols, r, y + i0 * ldy, ldy);
    for (; r < row1; r++)
        for (size_t i0 = 0; i0 < m; i0 += 4) one[m - i0 < 4 ? m - i0 : 4](x + i0 * cols, w, is_bf16, cols, r, y + i0 * ldy, ldy);
}

#endif

void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (cpu_avx2_fma_f16c()) { gemm_w16_avx2(x, m, w, is_bf16, cols, row0, row1, y, ldy); return; }
#endif
    gemm_w16_portable(x, m, w, is_bf16, cols, row0, row1, y, ldy);
}
