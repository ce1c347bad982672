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

// One weight row's results for I inputs: its accumulators summed (one reduction for all four), plus the columns past
// the vector body. y points at the row's column of the first input's output.
__attribute__((target("avx2"), always_inline))
static inline void store_row(const __m256 acc[4], int I, const float *x, const uint16_t *wrow, size_t vec, size_t cols,
                             int is_bf16, float *y, size_t ldy) {
    float t[4];
    _mm_storeu_ps(t, hsum4_avx2(acc[0], acc[1], acc[2], acc[3]));
    for (int i = 0; i < I; i++) y[i * ldy] = t[i] + tail_dot(x + i * cols, wrow, vec, cols, is_bf16);
}

// y for R f16 weight rows from r0 and I ≤ 4 inputs: R·I accumulators, so each widened weight vector serves I inputs
// and each input vector R rows (at R = 3, I = 4: 12 FMAs per 7 loads, and with one input register all 16 ymm).
// Batched decode (4–32 rows) is bound by these loads, not by the weight stream, which stays in cache.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void f16_block(const int R, const int I, const float *x, const uint16_t *w, size_t cols, size_t r0,
                             float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)7;
    __m256 acc[3][4];
    for (int r = 0; r < 3; r++) for (int i = 0; i < 4; i++) acc[r][i] = _mm256_setzero_ps();
    for (size_t c = 0; c < vec; c += 8) {
        __m256 wv[3];
        for (int r = 0; r < R; r++) wv[r] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + (r0 + r) * cols + c)));
        for (int i = 0; i < I; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * cols + c);
            for (int r = 0; r < R; r++) acc[r][i] = _mm256_fmadd_ps(xv, wv[r], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++) store_row(acc[r], I, x, w + (r0 + r) * cols, vec, cols, 0, y + r0 + r, ldy);
}

// Each block shape as a function of its own (inlined into one loop nest, the compiler spills the accumulators).
#define F16_BLOCK(R, I) \
    __attribute__((target("avx2,fma,f16c"), noinline)) \
    static void f16_block_##R##x##I(const float *x, const uint16_t *w, size_t cols, size_t r0, float *y, size_t ldy) \
    { f16_block(R, I, x, w, cols, r0, y, ldy); }
F16_BLOCK(3, 1) F16_BLOCK(3, 2) F16_BLOCK(3, 3) F16_BLOCK(3, 4)
F16_BLOCK(1, 1) F16_BLOCK(1, 2) F16_BLOCK(1, 3) F16_BLOCK(1, 4)
typedef void (*block_fn)(const float *, const uint16_t *, size_t, size_t, float *, size_t);

// f16: weight rows in blocks of 3 (the last 1–2 one at a time), inputs in groups of up to 4.
__attribute__((target("avx2,fma,f16c")))
static void gemm_f16_avx2(const float *x, size_t m, const uint16_t *w, size_t cols, size_t row0, size_t row1,
                          float *y, size_t ldy) {
    static const block_fn three[5] = {0, f16_block_3x1, f16_block_3x2, f16_block_3x3, f16_block_3x4};
    static const block_fn one[5] = {0, f16_block_1x1, f16_block_1x2, f16_block_1x3, f16_block_1x4};
    // rows outermost: a block's 3 weight rows stay in L1 while every group of inputs (all in L1 for m ≤ 32 at the
    // models' widths) passes over them, so the weights are read from memory once
    size_t r = row0;
    for (; r + 3 <= row1; r += 3)
        for (size_t i0 = 0; i0 < m; i0 += 4) three[m - i0 < 4 ? m - i0 : 4](x + i0 * cols, w, cols, r, y + i0 * ldy, ldy);
    for (; r < row1; r++)
        for (size_t i0 = 0; i0 < m; i0 += 4) one[m - i0 < 4 ? m - i0 : 4](x + i0 * cols, w, cols, r, y + i0 * ldy, ldy);
}

// bf16 widens without shuffles: a 32-bit lane holds two weights, and `lane << 16` is the even one as f32 while
// `lane & 0xffff0000` is the odd one. So 16 columns widen with one load and two integer operations (not two loads,
// two zero-extensions and two shifts), which leaves the FMA ports to the FMAs. The inputs are rearranged once per
// product to match (prism_gemm_w16_prepare, before the rows are split over the cores): in every 16 columns the 8
// even values, then the 8 odd ones (a dot product does not care about the order of its terms); columns past the
// last 16 stay in place.
__attribute__((target("avx2")))
static void pair_inputs(const float *x, size_t m, size_t cols, float *out) {
    size_t vec = cols & ~(size_t)15;
    for (size_t i = 0; i < m; i++) {
        const float *s = x + i * cols;
        float *d = out + i * cols;
        for (size_t c = 0; c < vec; c += 16) {
            __m256 a = _mm256_loadu_ps(s + c), b = _mm256_loadu_ps(s + c + 8);
            // shuffle_ps works per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6], reordered to [a0 a2 a4 a6 b0 b2 b4 b6]
            __m256d even = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), odd = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD));
            _mm256_storeu_ps(d + c, _mm256_castpd_ps(_mm256_permute4x64_pd(even, 0xD8)));
            _mm256_storeu_ps(d + c + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(odd, 0xD8)));
        }
        memcpy(d + vec, s + vec, (cols - vec) * sizeof(float));
    }
}

// y for R bf16 rows from r0 and I paired inputs: R·I accumulators, one register per input and one for the widened
// weight (R = 2, I = 4: 14 of the 16 ymm, 16 FMAs per 12 loads from L1).
__attribute__((target("avx2,fma"), always_inline))
static inline void bf16_block(const int R, const int I, const float *xp, const uint16_t *w, size_t cols, size_t r0,
                              size_t ahead, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)15;
    __m256 acc[4][4];
    for (int r = 0; r < 4; r++) for (int i = 0; i < 4; i++) acc[r][i] = _mm256_setzero_ps();
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000);
    for (size_t c = 0; c < vec; c += 16) {
        __m256 xv[4];
        for (int i = 0; i < I; i++) xv[i] = _mm256_loadu_ps(xp + i * cols + c);
        if (ahead && (c & 31) == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(w + (r0 + ahead + r) * cols + c), _MM_HINT_T0);
        for (int r = 0; r < R; r++) {
            __m256i pair = _mm256_loadu_si256((const __m256i *)(w + (r0 + r) * cols + c));
            __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(pair, 16));
            for (int i = 0; i < I; i++) acc[r][i] = _mm256_fmadd_ps(xv[i], even, acc[r][i]);
        }
        for (int i = 0; i < I; i++) xv[i] = _mm256_loadu_ps(xp + i * cols + c + 8);
        for (int r = 0; r < R; r++) {
            __m256i pair = _mm256_loadu_si256((const __m256i *)(w + (r0 + r) * cols + c));
            __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(pair, high));
            for (int i = 0; i < I; i++) acc[r][i] = _mm256_fmadd_ps(xv[i], odd, acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++) store_row(acc[r], I, xp, w + (r0 + r) * cols, vec, cols, 1, y + r0 + r, ldy);
}

#define BF16_BLOCK(R, I) \
    __attribute__((target("avx2,fma"), noinline)) \
    static void bf16_block_##R##x##I(const float *xp, const uint16_t *w, size_t cols, size_t r0, size_t ahead, float *y, \
                                     size_t ldy) { bf16_block(R, I, xp, w, cols, r0, ahead, y, ldy); }
BF16_BLOCK(2, 4) BF16_BLOCK(2, 3) BF16_BLOCK(4, 2) BF16_BLOCK(4, 1)
BF16_BLOCK(1, 1) BF16_BLOCK(1, 2) BF16_BLOCK(1, 3) BF16_BLOCK(1, 4)
typedef void (*bf16_block_fn)(const float *, const uint16_t *, size_t, size_t, size_t, float *, size_t);

// Weight rows in blocks of 4, each passed once by every group of inputs while it is in L1: groups of 4 inputs take
// two 2×4 blocks, a last group of 3 two 2×3 blocks, of 2 one 4×2, of 1 one 4×1 (the fastest shapes for each count
// measured on Zen 3; fewer rows per block leave FMA ports idle, more spill registers). The first pass over a block
// prefetches the next one: rows of a few hundred columns are too short for the hardware prefetcher, and a model
// whose weights do not fit in cache otherwise waits on memory at every block. The last 1–3 rows go one at a time.
__attribute__((target("avx2,fma")))
static void gemm_bf16_avx2(const float *paired, size_t m, const uint16_t *w, size_t cols, size_t row0, size_t row1,
                           float *y, size_t ldy) {
    static const bf16_block_fn one[5] = {0, bf16_block_1x1, bf16_block_1x2, bf16_block_1x3, bf16_block_1x4};
    size_t full = m & ~(size_t)3, rest = m - full;
    const float *xr = paired + full * cols;
    float *yr = y + full * ldy;
    size_t r = row0;
    for (; r + 4 <= row1; r += 4) {
        size_t ahead = r + 8 <= row1 ? 4 : 0, restAhead = full ? 0 : ahead;
        for (size_t i0 = 0; i0 < full; i0 += 4) {
            bf16_block_2x4(paired + i0 * cols, w, cols, r, i0 ? 0 : ahead, y + i0 * ldy, ldy);
            bf16_block_2x4(paired + i0 * cols, w, cols, r + 2, i0 ? 0 : ahead, y + i0 * ldy, ldy);
        }
        switch (rest) {
        case 3:
            bf16_block_2x3(xr, w, cols, r, restAhead, yr, ldy);
            bf16_block_2x3(xr, w, cols, r + 2, restAhead, yr, ldy);
            break;
        case 2: bf16_block_4x2(xr, w, cols, r, restAhead, yr, ldy); break;
        case 1: bf16_block_4x1(xr, w, cols, r, restAhead, yr, ldy); break;
        }
    }
    for (; r < row1; r++)
        for (size_t i0 = 0; i0 < m; i0 += 4) one[m - i0 < 4 ? m - i0 : 4](paired + i0 * cols, w, cols, r, 0, y + i0 * ldy, ldy);
}

#endif

int prism_gemm_w16_prepare(const float *x, size_t m, size_t cols, int is_bf16, float *out) {
#if defined(__x86_64__)
    if (is_bf16 && cpu_avx2_fma_f16c()) { pair_inputs(x, m, cols, out); return 1; }
#endif
    (void)x; (void)m; (void)cols; (void)is_bf16; (void)out;
    return 0;
}

void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (cpu_avx2_fma_f16c()) {
        if (is_bf16) gemm_bf16_avx2(x, m, w, cols, row0, row1, y, ldy); else gemm_f16_avx2(x, m, w, cols, row0, row1, y, ldy);
        return;
    }
#endif
    gemm_w16_portable(x, m, w, is_bf16, cols, row0, row1, y, ldy);
}
