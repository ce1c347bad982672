// Dot products of the 32-value block types (Q8_0, Q4_0, Q5_0) with int8 activations, written once for the
// x86 variants that differ only in how unsigned×signed byte products are summed. quant_dot.c includes this
// file once per variant after defining
//   TARGET        the target attribute           SFX(name)    the variant's function name
//   MULSUM(u, s)  int32 ×8: each lane the sum of 4 adjacent u8·s8 products (AVX2: maddubs + madd by ones,
//                 which never saturates here because |u| ≤ 128 and |s| ≤ 127; VNNI: one vpdpbusd)
//   MULSUM_ACC(acc, u, s)  acc + MULSUM(u, s) (VNNI: one vpdpbusd into acc)
//   MADD_ACC      for the K-type kernels, which this file includes at its end (quant_dot_k_x86.h)
// and, where the variant has AVX512BW, MASKED_BYTES (byte masks straight from bit fields). It undefines TARGET,
// SFX, MULSUM, MULSUM_ACC and MADD_ACC again at the end (no include guard on purpose). Weights are made signed and moved
// into the unsigned operand with the sign trick: |w| · (x·sign(w)) = w·x.

// w·x summed per 4 lanes for signed w and x.
TARGET static inline __m256i SFX(mulsum_signed)(__m256i w, __m256i x) {
    return MULSUM(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

// Nibbles of 16 bytes as 32 values: low nibbles are values 0-15, high nibbles values 16-31.
TARGET static inline __m256i SFX(nibbles32)(const uint8_t *p) {
    // the 16 bytes in both halves, the upper half shifted by 4: one variable shift instead of shift + insert
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
}

// Byte k = 0x10 where bit k of `bits` is set, else 0.
TARGET static inline __m256i SFX(bits_to_0x10)(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i select = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    b = _mm256_cmpeq_epi8(_mm256_and_si256(b, select), select);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x10));
}

TARGET static inline __attribute__((always_inline)) float SFX(dot_q8_0)(const void *wv, const void *xv, size_t nb) {
    const blk_q8_0 *w = wv;
    const act_q8_32 *x = xv;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        prefetch_ahead(w + i, 2 * sizeof *w);
        __m256i p0 = SFX(mulsum_signed)(_mm256_loadu_si256((const __m256i *)w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        __m256i p1 = SFX(mulsum_signed)(_mm256_loadu_si256((const __m256i *)w[i + 1].qs), _mm256_loadu_si256((const __m256i *)x[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i) * x[i].d), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i + 1) * x[i + 1].d), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = SFX(mulsum_signed)(_mm256_loadu_si256((const __m256i *)w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i) * x[i].d), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum8_avx2(_mm256_add_ps(acc0, acc1));
}

// Q4_0 and Q5_0 hold unsigned values u with an offset: w·x = u·x − offset·Σx, so u goes straight into the unsigned
// operand without the sign trick (two fewer operations on the multiply ports per block), and the lanes start at the
// activation block's share of the offset term (a broadcast load: no vector operation with VNNI, one add without).
TARGET static inline __m256i SFX(mulsum_offset)(__m256i u, const act_q8_32 *x) {
    return MULSUM_ACC(_mm256_set1_epi32(x->lane_offset), u, _mm256_loadu_si256((const __m256i *)x->qs));
}

// Q5_0's 32 unsigned values: the nibbles, plus 16 where the block's fifth bit is set (with AVX-512 the bits are
// a byte mask as they are: one masked add instead of the broadcast, shuffle, compare and two ands).
TARGET static inline __m256i SFX(five_bits32)(const blk_q5_0 *b) {
    uint32_t qh; memcpy(&qh, b->qh, 4);
    const __m256i low = SFX(nibbles32)(b->qs);
#ifdef MASKED_BYTES
    // written out: clang turns the masked add into an or and a masked move, two operations
    __m256i v = low;
    __asm__("vpaddb %2, %0, %0%{%1%}" : "+v"(v) : "Yk"((__mmask32)qh), "v"(_mm256_set1_epi8(16)));
    return v;
#else
    return _mm256_or_si256(low, SFX(bits_to_0x10)(qh));
#endif
}

// Two blocks per step into two accumulators, so consecutive blocks' FMAs do not wait for each other.
#define DOT_OFFSET_BLOCKS(blk_t, unsigned32)                                                          \
    const blk_t *w = wv;                                                                                      \
    const act_q8_32 *x = xv;                                                                                  \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                            \
    size_t i = 0;                                                                                             \
    for (; i + 2 <= nb; i += 2) {                                                                             \
        prefetch_ahead(w + i, 2 * sizeof *w);                                                                 \
        __m256i p0 = SFX(mulsum_offset)(unsigned32(w + i), x + i);                                    \
        __m256i p1 = SFX(mulsum_offset)(unsigned32(w + i + 1), x + i + 1);                            \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i) * x[i].d), _mm256_cvtepi32_ps(p0), acc0);   \
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i + 1) * x[i + 1].d), _mm256_cvtepi32_ps(p1), acc1); \
    }                                                                                                         \
    for (; i < nb; i++) {                                                                                     \
        __m256i p = SFX(mulsum_offset)(unsigned32(w + i), x + i);                                     \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(block_scale(w + i) * x[i].d), _mm256_cvtepi32_ps(p), acc0);    \
    }                                                                                                         \
    return hsum8_avx2(_mm256_add_ps(acc0, acc1));

#define Q4_0_NIBBLES(b) SFX(nibbles32)((b)->qs)
TARGET static inline __attribute__((always_inline)) float SFX(dot_q4_0)(const void *wv, const void *xv, size_t nb) { DOT_OFFSET_BLOCKS(blk_q4_0, Q4_0_NIBBLES) }
TARGET static inline __attribute__((always_inline)) float SFX(dot_q5_0)(const void *wv, const void *xv, size_t nb) { DOT_OFFSET_BLOCKS(blk_q5_0, SFX(five_bits32)) }
#undef Q4_0_NIBBLES
#undef DOT_OFFSET_BLOCKS

ROWS_KERNEL(q8_0)
ROWS_KERNEL(q4_0)
ROWS_KERNEL(q5_0)

// ---- several activation rows (prompt processing) ----
// Four weight rows interleaved by 8-value segments (as k_quad in quant_dot.c): one broadcast activation segment
// meets the same segment of 4 rows, and the per-block float work (convert, scale, accumulate) is done once per
// 4 rows instead of per row. Row r owns int32 lanes 2r and 2r+1.
// Block i of a row as 32 signed bytes, its scale in *d; inlined with a constant type.
TARGET static inline __attribute__((always_inline)) __m256i SFX(block32)(int type, const char *row, size_t i, float *d) {
    if (type == PRISM_Q8_0) {
        const blk_q8_0 *b = (const blk_q8_0 *)row + i;
        *d = f16_to_f32(b->d);
        return _mm256_loadu_si256((const __m256i *)b->qs);
    }
    if (type == PRISM_Q4_0) {
        const blk_q4_0 *b = (const blk_q4_0 *)row + i;
        *d = f16_to_f32(b->d);
        return _mm256_sub_epi8(SFX(nibbles32)(b->qs), _mm256_set1_epi8(8));
    }
    const blk_q5_0 *b = (const blk_q5_0 *)row + i;
    *d = f16_to_f32(b->d);
    return _mm256_sub_epi8(SFX(five_bits32)(b), _mm256_set1_epi8(16));
}

TARGET static inline __attribute__((always_inline)) void SFX(unpack32q_t)(int type, const char *const rows[4], size_t nb, q32_quad *o) {
    for (size_t i = 0; i < nb; i++) {
        float d[4];
        __m256i c0 = SFX(block32)(type, rows[0], i, d), c1 = SFX(block32)(type, rows[1], i, d + 1);
        __m256i c2 = SFX(block32)(type, rows[2], i, d + 2), c3 = SFX(block32)(type, rows[3], i, d + 3);
        store_segments(c0, c1, c2, c3, (uint8_t (*)[32])o[i].w);
        for (int k = 0; k < 4; k++) {
            const __m256i g = _mm256_load_si256((const __m256i *)o[i].w[k]);
            _mm256_store_si256((__m256i *)o[i].aw[k], _mm256_sign_epi8(g, g));
        }
        // lanes 2r, 2r+1 = d[r]
        __m128 d4 = _mm_loadu_ps(d);
        _mm256_store_ps(o[i].d, _mm256_set_m128(_mm_unpackhi_ps(d4, d4), _mm_unpacklo_ps(d4, d4)));
    }
}

TARGET static void SFX(unpack32q)(int type, const char *const rows[4], size_t nb, void *out) {
    switch (type) {
    case PRISM_Q8_0: SFX(unpack32q_t)(PRISM_Q8_0, rows, nb, out); break;
    case PRISM_Q4_0: SFX(unpack32q_t)(PRISM_Q4_0, rows, nb, out); break;
    default: SFX(unpack32q_t)(PRISM_Q5_0, rows, nb, out); break;
    }
}

TARGET static inline __attribute__((always_inline)) void SFX(tile32q_r)(const q32_quad *u, size_t nb, const act_q8_32 *const *x,
                                                                        int R, float out[4][4]) {
    __m256 acc[4];
    for (int a = 0; a < R; a++) acc[a] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_load_ps(u[i].d);
        for (int a = 0; a < R; a++) {
            __m256i sum = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                int64_t seg;
                memcpy(&seg, x[a][i].qs + 8 * k, 8);
                const __m256i w = _mm256_load_si256((const __m256i *)u[i].w[k]);
                sum = _mm256_add_epi32(sum, MULSUM(_mm256_load_si256((const __m256i *)u[i].aw[k]), _mm256_sign_epi8(_mm256_set1_epi64x(seg), w)));
            }
            acc[a] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[a][i].d)), _mm256_cvtepi32_ps(sum), acc[a]);
        }
    }
    for (int a = 0; a < R; a++) {
        quad_row_sums_avx2(acc[a], out[a]);
    }
}

TARGET static void SFX(tile32q)(int type, const void *u, size_t nb, const void *const *x, int R, float out[4][4]) {
    (void)type;
    const act_q8_32 *const *xa = (const act_q8_32 *const *)x;
    switch (R) {
    case 4: SFX(tile32q_r)(u, nb, xa, 4, out); break;
    case 3: SFX(tile32q_r)(u, nb, xa, 3, out); break;
    case 2: SFX(tile32q_r)(u, nb, xa, 2, out); break;
    default: SFX(tile32q_r)(u, nb, xa, 1, out); break;
    }
}

#include "quant_dot_k_x86.h"   // the K-types, for the same variant

#undef TARGET
#undef SFX
#undef MULSUM
#undef MULSUM_ACC
#undef MADD_ACC
