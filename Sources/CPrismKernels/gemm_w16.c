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
#include "simd_avx512.h"

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
        memmove(d + vec, s + vec, (cols - vec) * sizeof(float));   // in place where the inputs were rounded first
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

// AVX-512: the same widening on 32 columns per load, inputs paired per 32 columns (16 even, then 16 odd). With
// 32 registers a block holds 16 accumulators (4 rows × 4 inputs, or 8 rows × 2), which halves the loads and the
// reductions per multiply-add of the AVX2 blocks; rows of 192–768 columns are 6–24 steps, so the reduction at the
// end of a block is a large share of it, and one transposing reduction serves all 16 accumulators.
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f")))

AVX512 static void pair_inputs_avx512(const float *x, size_t m, size_t cols, float *out) {
    size_t vec = cols & ~(size_t)31;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (size_t i = 0; i < m; i++) {
        const float *s = x + i * cols;
        float *d = out + i * cols;
        for (size_t c = 0; c < vec; c += 32) {
            __m512 a = _mm512_loadu_ps(s + c), b = _mm512_loadu_ps(s + c + 16);
            _mm512_storeu_ps(d + c, _mm512_permutex2var_ps(a, even, b));
            _mm512_storeu_ps(d + c + 16, _mm512_permutex2var_ps(a, odd, b));
        }
        memmove(d + vec, s + vec, (cols - vec) * sizeof(float));   // in place where the inputs were rounded first
    }
}

// y for R bf16 rows from r0 and I paired inputs (R·I ≤ 16 accumulators, acc[r·I + i]).
AVX512 static inline __attribute__((always_inline)) void bf16_block16(const int R, const int I, const float *xp, const uint16_t *w,
                                                                      size_t cols, size_t r0, size_t ahead, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)31;
    __m512 acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000);
    for (size_t c = 0; c < vec; c += 32) {
        __m512 xv[4];
        // 32 weights are one 64-byte line: one prefetch per row and step covers the next block's rows
        if (ahead) for (int r = 0; r < R; r++) _mm_prefetch((const char *)(w + (r0 + ahead + r) * cols + c), _MM_HINT_T0);
        for (int i = 0; i < I; i++) xv[i] = _mm512_loadu_ps(xp + i * cols + c);
        for (int r = 0; r < R; r++) {
            __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w + (r0 + r) * cols + c), 16));
            for (int i = 0; i < I; i++) acc[r * I + i] = _mm512_fmadd_ps(xv[i], even, acc[r * I + i]);
        }
        for (int i = 0; i < I; i++) xv[i] = _mm512_loadu_ps(xp + i * cols + c + 16);
        for (int r = 0; r < R; r++) {
            __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512(w + (r0 + r) * cols + c), high));
            for (int i = 0; i < I; i++) acc[r * I + i] = _mm512_fmadd_ps(xv[i], odd, acc[r * I + i]);
        }
    }
    float t[16];
    _mm512_storeu_ps(t, sum16_avx512(acc));
    for (int r = 0; r < R; r++)
        for (int i = 0; i < I; i++) {
            int k = r * I + i;
            y[i * ldy + r0 + r] = t[sum16_lane(k)] + tail_dot(xp + i * cols, w + (r0 + r) * cols, vec, cols, 1);
        }
}

// Block functions on inputs of either element type (f32 paired, or bf16), for the shared blocking below: BLOCKS16
// makes each shape of a block body (`body(R, I, x, w, cols, r0, ahead, y, ldy)`) a function, and their table.
typedef void (*block16_fn)(const void *, const uint16_t *, size_t, size_t, size_t, float *, size_t);
struct blocks16 { size_t x_bytes; block16_fn b4x4, b4x3, b8x2, b8x1, four[5], one[5]; };

#define BLOCK16(body, target, xtype, R, I) \
    target __attribute__((noinline)) \
    static void body##_##R##x##I(const void *x, const uint16_t *w, size_t cols, size_t r0, size_t ahead, float *y, \
                                 size_t ldy) { body(R, I, (const xtype *)x, w, cols, r0, ahead, y, ldy); }
#define BLOCKS16(body, target, xtype) \
    BLOCK16(body, target, xtype, 4, 4) BLOCK16(body, target, xtype, 4, 3) BLOCK16(body, target, xtype, 4, 2) \
    BLOCK16(body, target, xtype, 4, 1) BLOCK16(body, target, xtype, 8, 2) BLOCK16(body, target, xtype, 8, 1) \
    BLOCK16(body, target, xtype, 1, 1) BLOCK16(body, target, xtype, 1, 2) BLOCK16(body, target, xtype, 1, 3) \
    BLOCK16(body, target, xtype, 1, 4) \
    static const struct blocks16 body##s = { \
        sizeof(xtype), body##_4x4, body##_4x3, body##_8x2, body##_8x1, \
        {0, body##_4x1, body##_4x2, body##_4x3, body##_4x4}, {0, body##_1x1, body##_1x2, body##_1x3, body##_1x4}};
BLOCKS16(bf16_block16, AVX512, float)

// Rows in blocks of 8 (then one of 4, then one at a time), each passed by every group of 4 inputs while it is in
// L1: a group of 4 takes two 4×4 blocks, a last group of 3 two 4×3, of 2 one 8×2, of 1 one 8×1. The first pass
// over a block prefetches the next one, as in the AVX2 kernel.
static void gemm_blocks16(const struct blocks16 *k, const void *x, size_t m, const uint16_t *w, size_t cols, size_t row0,
                          size_t row1, float *y, size_t ldy) {
    size_t full = m & ~(size_t)3, rest = m - full, xrow = cols * k->x_bytes;
    const char *xs = (const char *)x, *xr = xs + full * xrow;
    float *yr = y + full * ldy;
    size_t r = row0;
    for (; r + 8 <= row1; r += 8) {
        size_t ahead = r + 16 <= row1 ? 8 : 0, restAhead = full ? 0 : ahead;
        for (size_t i0 = 0; i0 < full; i0 += 4) {
            k->b4x4(xs + i0 * xrow, w, cols, r, i0 ? 0 : ahead, y + i0 * ldy, ldy);
            k->b4x4(xs + i0 * xrow, w, cols, r + 4, i0 ? 0 : ahead, y + i0 * ldy, ldy);
        }
        switch (rest) {
        case 3:
            k->b4x3(xr, w, cols, r, restAhead, yr, ldy);
            k->b4x3(xr, w, cols, r + 4, restAhead, yr, ldy);
            break;
        case 2: k->b8x2(xr, w, cols, r, restAhead, yr, ldy); break;
        case 1: k->b8x1(xr, w, cols, r, restAhead, yr, ldy); break;
        }
    }
    if (r + 4 <= row1) {
        for (size_t i0 = 0; i0 < m; i0 += 4) k->four[m - i0 < 4 ? m - i0 : 4](xs + i0 * xrow, w, cols, r, 0, y + i0 * ldy, ldy);
        r += 4;
    }
    for (; r < row1; r++)
        for (size_t i0 = 0; i0 < m; i0 += 4) k->one[m - i0 < 4 ? m - i0 : 4](xs + i0 * xrow, w, cols, r, 0, y + i0 * ldy, ldy);
}

// bf16 precision (operands rounded to bf16, f32 accumulation) with AVX512-BF16: vdpbf16ps multiplies 32 weight
// pairs by 32 input pairs as they are stored (no widening, no pairing of the inputs) and adds each lane's two exact
// products to its f32 accumulator: twice the multiply-adds per instruction of the f32 kernels, from half the input
// bytes. The inputs are rounded once per product (prism_f32_to_bf16, the rounding the emulation uses).
#define AVX512BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512bf16")))

AVX512BF16 static inline __attribute__((always_inline)) void bf16x_block(const int R, const int I, const uint16_t *xb, const uint16_t *w,
                                                                         size_t cols, size_t r0, size_t ahead, float *y, size_t ldy) {
    size_t vec = cols & ~(size_t)31;
    __m512 acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    for (size_t c = 0; c < vec; c += 32) {
        __m512bh xv[4];
        if (ahead) for (int r = 0; r < R; r++) _mm_prefetch((const char *)(w + (r0 + ahead + r) * cols + c), _MM_HINT_T0);
        for (int i = 0; i < I; i++) xv[i] = (__m512bh)_mm512_loadu_si512(xb + i * cols + c);
        for (int r = 0; r < R; r++) {
            __m512bh wv = (__m512bh)_mm512_loadu_si512(w + (r0 + r) * cols + c);
            for (int i = 0; i < I; i++) acc[r * I + i] = _mm512_dpbf16_ps(acc[r * I + i], xv[i], wv);
        }
    }
    float t[16];
    _mm512_storeu_ps(t, sum16_avx512(acc));
    for (int r = 0; r < R; r++) {
        const uint16_t *wr = w + (r0 + r) * cols;
        for (int i = 0; i < I; i++) {
            int k = r * I + i;
            const uint16_t *xi = xb + i * cols;
            float tail = 0;
            for (size_t c = vec; c < cols; c++) tail += bf16_scalar(xi[c]) * bf16_scalar(wr[c]);
            y[i * ldy + r0 + r] = t[sum16_lane(k)] + tail;
        }
    }
}

BLOCKS16(bf16x_block, AVX512BF16, uint16_t)

#endif

// 0 portable C, 1 AVX2, 2 AVX-512F, 3 AVX512-BF16: the best the CPU runs unless a test selected another. Prepare
// and product read the same choice, so the inputs are laid out for the kernel that runs. f16 weights use the AVX2
// kernel from variant 1 up, bf16 weights at f32 precision the AVX-512F one from 2 up, and bf16 precision the
// native one at 3 (below it: inputs rounded to bf16 in f32, then the f32 kernel, the same numerics).
static int w16_variant = -1;

static int w16_supported(int variant) {
#if defined(__x86_64__)
    if (variant == 3) {
        static int cached = -1;
        if (cached < 0) cached = cpu_avx512f() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
        return cached;
    }
    if (variant == 2) return cpu_avx512f();
    if (variant == 1) return cpu_avx2_fma_f16c();
#endif
    return variant == 0;
}

static int w16_current(void) {
    if (w16_variant < 0) { int v = 3; while (v > 0 && !w16_supported(v)) v--; w16_variant = v; }
    return w16_variant;
}

int prism_gemm_w16_select(int variant) {
    if (variant < 0) { w16_variant = -1; w16_current(); return 1; }
    if (variant > 3 || !w16_supported(variant)) return 0;
    w16_variant = variant;
    return 1;
}

int prism_gemm_w16_prepare(const float *x, size_t m, size_t cols, int kind, float *out) {
    int v = w16_current();
    if (kind == PRISM_W16_BF16_PRECISION) {
#if defined(__x86_64__)
        if (v == 3) { prism_f32_to_bf16(x, (uint16_t *)out, m * cols); return 1; }
#endif
        prism_round_bf16(x, out, m * cols);
        x = out;   // the rounded inputs, paired in place below where the f32 kernel pairs them
    }
#if defined(__x86_64__)
    if (kind != PRISM_W16_F16 && v >= 2) { pair_inputs_avx512(x, m, cols, out); return 1; }
    if (kind != PRISM_W16_F16 && v == 1) { pair_inputs(x, m, cols, out); return 1; }
#endif
    return kind == PRISM_W16_BF16_PRECISION;
}

void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int kind, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy) {
    int is_bf16 = kind != PRISM_W16_F16;
#if defined(__x86_64__)
    int v = w16_current();
    if (kind == PRISM_W16_BF16_PRECISION && v == 3) { gemm_blocks16(&bf16x_blocks, x, m, w, cols, row0, row1, y, ldy); return; }
    if (is_bf16 && v >= 2) { gemm_blocks16(&bf16_block16s, x, m, w, cols, row0, row1, y, ldy); return; }
    if (v >= 1) {
        if (is_bf16) gemm_bf16_avx2(x, m, w, cols, row0, row1, y, ldy); else gemm_f16_avx2(x, m, w, cols, row0, row1, y, ldy);
        return;
    }
#endif
    gemm_w16_portable(x, m, w, is_bf16, cols, row0, row1, y, ldy);
}
