// Fused dequantise + dot products of GGUF weight rows with quantised activations, and the row-range product
// that decode and prompts run over the cores: one activation row goes through the dot kernels, several through
// the multi-row kernels below (int8 GEMM tiles unpacked from the blocks on the fly). Variants: the portable reference
// (quant_ref.c), AVX2, AVX-VNNI and AVX512-VNNI: vpdpbusd instead of maddubs + madd for the 32-value types; the
// K-types scale every 16/32 products by a sub-block scale before summing, which vpdpbusd cannot fold in, so their
// VNNI variants keep maddubs and fold the scale's madd and the sum into vpdpwssd. The variant is chosen once from
// cpuid; one that the CPU lacks is never selected.
#include "prism_kernels.h"
#include "quant_blocks.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int type_index(int type) {
    switch (type) {
    case PRISM_Q4_0: return 0;
    case PRISM_Q5_0: return 1;
    case PRISM_Q8_0: return 2;
    case PRISM_Q4_K: return 3;
    case PRISM_Q5_K: return 4;
    case PRISM_Q6_K: return 5;
    default: return -1;
    }
}
#define NTYPES 6

typedef float (*dot_fn)(const void *w, const void *x, size_t nb);

static float ref_q4_0(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q4_0, w, x, nb); }
static float ref_q5_0(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q5_0, w, x, nb); }
static float ref_q8_0(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q8_0, w, x, nb); }
static float ref_q4_K(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q4_K, w, x, nb); }
static float ref_q5_K(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q5_K, w, x, nb); }
static float ref_q6_K(const void *w, const void *x, size_t nb) { return prism_qdot_ref(PRISM_Q6_K, w, x, nb); }

static dot_fn kernels[PRISM_ISA_COUNT][NTYPES] = {
    {ref_q4_0, ref_q5_0, ref_q8_0, ref_q4_K, ref_q5_K, ref_q6_K},
};

// y[r] = row r · x for rows r0..<r1 (one activation row); NULL: row by row through `kernels`.
typedef void (*rows_fn)(const char *w, size_t rb, const void *x, size_t nb, size_t r0, size_t r1, float *y);
static rows_fn row_kernels[PRISM_ISA_COUNT][NTYPES];

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_avx2.h"

// A weight row is read once per token, straight from memory. Prefetching each block's cache lines 2 KiB ahead
// keeps more loads in flight than the hardware prefetcher does for these kernels: Q4_K_M decode went from
// 15.9–17.4 to 19.3–23.0 tok/s in an interleaved A/B on Zen 3 (README). A prefetch never faults, so reading past
// the last row is harmless.
static inline void prefetch_ahead(const void *block, size_t bytes) {
    const char *p = (const char *)block + 2048;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

// Rows r0..<r1 of a weight against one activation row, y[r] each (decode), for the variant being compiled (TARGET,
// SFX): the kernel inlined into the row loop, so its constants, prologue and call are paid once per range, not per
// row (a 128-value row, attn_k_b's, is 4 blocks).
#define ROWS_KERNEL(type)                                                                                          \
    TARGET static void SFX(rows_##type)(const char *w, size_t rb, const void *x, size_t nb, size_t r0, size_t r1,  \
                                        float *y) {                                                                \
        for (size_t r = r0; r < r1; r++) y[r] = SFX(dot_##type)(w + r * rb, x, nb);                                \
    }

// out g = 8-byte segment g of a, b, c, e (a 4×4 transpose of 64-bit elements), stored at o[g].
__attribute__((target("avx2"))) static inline void store_segments(__m256i a, __m256i b, __m256i c, __m256i e, uint8_t o[4][32]) {
    __m256i t0 = _mm256_unpacklo_epi64(a, b), t1 = _mm256_unpackhi_epi64(a, b);
    __m256i t2 = _mm256_unpacklo_epi64(c, e), t3 = _mm256_unpackhi_epi64(c, e);
    _mm256_store_si256((__m256i *)o[0], _mm256_permute2x128_si256(t0, t2, 0x20));
    _mm256_store_si256((__m256i *)o[1], _mm256_permute2x128_si256(t1, t3, 0x20));
    _mm256_store_si256((__m256i *)o[2], _mm256_permute2x128_si256(t0, t2, 0x31));
    _mm256_store_si256((__m256i *)o[3], _mm256_permute2x128_si256(t1, t3, 0x31));
}

// Four rows of 32-value blocks interleaved by 8-value segments: w[g] holds segment g of rows 0-3, aw its absolute
// values; d the scale of row r at lanes 2r and 2r+1.
typedef struct { int8_t w[4][32]; uint8_t aw[4][32]; float d[8]; } q32_quad;

#define AVX2 __attribute__((target("avx2,fma,f16c")))

// Q4_K / Q5_K: the 8 6-bit scales (bytes 0-7) and 8 mins (bytes 8-15) of a block from its first 16 bytes (d, dmin,
// then the 12 scale bytes q0..q11, layout in quant_blocks.h) with two byte shuffles: A = [q0-3, q8-11, q4-7, q8-11]
// holds the low bits of every scale and min, B = [0, q0-3, 0, q4-7] the top two bits of sc4-7 and m4-7.
AVX2 static inline __m128i k_scales_mins(__m128i head) {
    const __m128i pickA = _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i pickB = _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11);
    const __m128i maskLo = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    const __m128i maskHi = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    const __m128i a = _mm_shuffle_epi8(head, pickA);
    const __m128i top = _mm_and_si128(_mm_srli_epi16(_mm_shuffle_epi8(head, pickB), 2), _mm_set1_epi8(0x30));
    return _mm_or_si128(_mm_or_si128(_mm_and_si128(a, maskLo), _mm_and_si128(_mm_srli_epi16(a, 4), maskHi)), top);
}

// Byte shuffles that spread the int16 sub-block scales of the K-type decode kernels, read from memory through a
// pointer the compiler cannot see through: with constants it rewrites each one-operation byte shuffle as a dword or
// word shuffle plus a broadcast, 8 more operations per Q4_K/Q5_K super-block and 16 per Q6_K on the vector ports
// that bound these kernels (in-cache harness, Zen 3, one core: Q4_K 8.1 → 7.5 ns a super-block, Q6_K 10.8 → 8.4).
// k_scale_pick[j]: scale j (of 8, in both 128-bit lanes) everywhere.
#define WORD(j) (0x0101 * 2 * (j) + 0x0100)   // bytes 2j, 2j + 1: int16 lane j
#define X8(v) v, v, v, v, v, v, v, v
static const uint16_t k_scale_pick[8][16] __attribute__((aligned(32))) = {
    {X8(WORD(0)), X8(WORD(0))}, {X8(WORD(1)), X8(WORD(1))}, {X8(WORD(2)), X8(WORD(2))}, {X8(WORD(3)), X8(WORD(3))},
    {X8(WORD(4)), X8(WORD(4))}, {X8(WORD(5)), X8(WORD(5))}, {X8(WORD(6)), X8(WORD(6))}, {X8(WORD(7)), X8(WORD(7))},
};
// k_scale_pick_lanes[k]: scale 2k in the low 128 bits, 2k + 1 in the high.
static const uint16_t k_scale_pick_lanes[4][16] __attribute__((aligned(32))) = {
    {X8(WORD(0)), X8(WORD(1))}, {X8(WORD(2)), X8(WORD(3))}, {X8(WORD(4)), X8(WORD(5))}, {X8(WORD(6)), X8(WORD(7))},
};
// k_quad_spread[n]: in each 128-bit lane (two rows' 8 scale bytes), int16 lanes 0-3 take byte n and 4-7 byte 8 + n.
#define Z(b) (b) | 0x8000
static const uint16_t k_quad_spread[8][16] __attribute__((aligned(32))) = {
#define ROW(n) {Z(n), Z(n), Z(n), Z(n), Z(8 + n), Z(8 + n), Z(8 + n), Z(8 + n), Z(n), Z(n), Z(n), Z(n), Z(8 + n), Z(8 + n), Z(8 + n), Z(8 + n)}
    ROW(0), ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6), ROW(7),
#undef ROW
};
#undef Z
#undef X8
#undef WORD

// vpdpwssd as written: through the intrinsic, clang's machine combiner splits most of them back into vpmaddwd +
// vpaddd (shorter chains, for cores where vpdpwssd is slow), which costs a vector operation each on cores where it is
// not and these kernels are bound by vector operations. The two encodings are separate instructions (AVX-VNNI
// needs the VEX one).
__attribute__((target("avx2,avxvnni"))) static inline __m256i dpwssd_vex(__m256i acc, __m256i a, __m256i b) {
    __asm__("%{vex%} vpdpwssd %2, %1, %0" : "+x"(acc) : "x"(a), "x"(b));
    return acc;
}
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static inline __m256i dpwssd_evex(__m256i acc, __m256i a, __m256i b) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}

// A block's f16 scale (its first two bytes) converted in a vector register: a 4-byte load straight into it (every
// block type is longer than that), not a general-register load and a move across, which is one more operation on
// the vector ports per block. Written out because clang narrows the load to a vpinsrw into whatever register is
// at hand, which can be a loop's accumulator and then chains every block behind the previous one.
AVX2 static inline float block_scale(const void *block) {
    __m128i v;
    __asm__("vmovd %1, %0" : "=x"(v) : "m"(*(const uint32_t *)block));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

// Each x86 variant's kernels: quant_dot_x86.h (the 32-value types), which ends by including quant_dot_k_x86.h
// (the K-types).
#define TARGET __attribute__((target("avx2,fma,f16c")))
#define SFX(name) name##_avx2
#define MULSUM(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#define MULSUM_ACC(acc, u, s) _mm256_add_epi32(acc, MULSUM(u, s))
#define MADD_ACC(acc, p, s) _mm256_add_epi32(acc, _mm256_madd_epi16(p, s))
#include "quant_dot_x86.h"

#define TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define SFX(name) name##_avxvnni
#define MULSUM(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#define MULSUM_ACC(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#define MADD_ACC(acc, p, s) dpwssd_vex(acc, p, s)
#include "quant_dot_x86.h"

#define TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
#define SFX(name) name##_avx512vnni
#define MULSUM(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#define MULSUM_ACC(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define MADD_ACC(acc, p, s) dpwssd_evex(acc, p, s)
#define MASKED_BYTES
#include "quant_dot_x86.h"
#undef MASKED_BYTES

// ---- Q6_K over several activation rows (prompt processing) ----
// A weight super-block is unpacked once into the operands dot_q6_K_avx2 builds on the fly (values as bytes, per-lane
// scale vectors, the group scales for the −32 offset) and multiplied with up to 4 activation rows at a time. Every
// integer lane and float operation is the one dot_q6_K_avx2 performs, in the same order, so these products are
// bit-identical to the single-row kernel. (Q4_K and Q5_K go one step further: k_quad below.)
typedef struct {
    uint8_t q[QK_K];          // value k at byte k (0..63)
    int16_t sv[8][16];        // chunk n (values 32n..32n+31): the scale of each maddubs lane
    int16_t mc[16];           // the 16 group scales
    float d;
    float pad[7];             // 32-byte multiple
} k_unpacked;

AVX2 static void unpack_q6_K(const blk_q6_K *w, k_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    u->d = f16_to_f32(w->d);
    for (int h = 0; h < 2; h++) {
        __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
        __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        __m256i *q = (__m256i *)(u->q + 128 * h);
        _mm256_store_si256(q + 0, _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)));
        _mm256_store_si256(q + 1, _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)));
        _mm256_store_si256(q + 2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)));
        _mm256_store_si256(q + 3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)));
    }
    for (int n = 0; n < 8; n++) {
        _mm256_store_si256((__m256i *)u->sv[n], _mm256_set_m128i(_mm_set1_epi16(w->scales[2 * n + 1]), _mm_set1_epi16(w->scales[2 * n])));
    }
    for (int j = 0; j < 16; j++) u->mc[j] = w->scales[j];
}

// out[a] = W-row · x_a for R ≤ 4 activation rows of a Q6_K row (the offset folded into the integers).
AVX2 static inline __attribute__((always_inline)) void q6k_tile(const k_unpacked *u, size_t nb, const act_q8_K *const *x,
                                                                int R, float *out) {
    __m256 acc[4];
    for (int a = 0; a < R; a++) acc[a] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i sumi[4];
        for (int a = 0; a < R; a++) sumi[a] = _mm256_setzero_si256();
        for (int n = 0; n < 8; n++) {
            const __m256i q = _mm256_load_si256((const __m256i *)(u[i].q + 32 * n));
            const __m256i s = _mm256_load_si256((const __m256i *)u[i].sv[n]);
            for (int a = 0; a < R; a++) {
                __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(x[a][i].qs + 32 * n)));
                sumi[a] = _mm256_add_epi32(sumi[a], _mm256_madd_epi16(p, s));
            }
        }
        const __m256i mc = _mm256_load_si256((const __m256i *)u[i].mc);
        for (int a = 0; a < R; a++) {
            __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[a][i].bsums), mc);
            sumi[a] = _mm256_sub_epi32(sumi[a], _mm256_slli_epi32(corr, 5));
            acc[a] = _mm256_fmadd_ps(_mm256_set1_ps(u[i].d * x[a][i].d), _mm256_cvtepi32_ps(sumi[a]), acc[a]);
        }
    }
    for (int a = 0; a < R; a++) out[a] = hsum8_avx2(acc[a]);
}

// One weight row (out[a][0]) for R activation rows, in the signature of the multi-row driver.
AVX2 static void q6k_tile_rows(int type, const void *u, size_t nb, const void *const *xv, int R, float out[4][4]) {
    (void)type;
    const act_q8_K *const *x = (const act_q8_K *const *)xv;
    float o[4];
    switch (R) {
    case 4: q6k_tile(u, nb, x, 4, o); break;
    case 3: q6k_tile(u, nb, x, 3, o); break;
    case 2: q6k_tile(u, nb, x, 2, o); break;
    default: q6k_tile(u, nb, x, 1, o); break;
    }
    for (int a = 0; a < R; a++) out[a][0] = o[a];
}

AVX2 static void q6k_unpack_row(int type, const char *const rows[4], size_t nb, void *out) {
    (void)type;
    for (size_t i = 0; i < nb; i++) unpack_q6_K((const blk_q6_K *)rows[0] + i, (k_unpacked *)out + i);
}

// ---- Q4_K and Q5_K: four weight rows interleaved (prompt processing) ----
// Four weight rows are unpacked together so that one 32-byte register holds 8 values of each row (one 8-value
// segment of a 32-value sub-block). Multiplied with an activation segment broadcast 4 times, the byte products
// of the 4 segments of one sub-block (one scale per row) can be summed in int16 before the single multiply by
// the scales, as llama.cpp's repacked q4_K kernels do: 5 multiply instructions per 128 products instead of 8.
// The int16 sums stay in range: 8 products of ≤ 31·127. Row r of the quad owns int32 lanes 2r and 2r+1; every
// row goes through a quad (a partial one repeats its first row), so a row's result does not depend on its
// neighbours. (Q6_K, whose 16-value groups would take two scale multiplies per sub-block, gained nothing
// from quads and keeps the row kernel above.)
typedef struct {
    uint8_t q[8][4][32];      // sub-block n, segment g: 8 values (32n+8g…) of rows 0-3
    int16_t sv[8][16];        // sub-block n: each row's scale ×4 lanes
    int16_t mc[2][16];        // [0] the 8 mins of rows 0 and 2, [1] of rows 1 and 3
    float d[8], dmin[8];      // per int32 lane
} k_quad;

// Super-block i of 4 rows; qh_at 0 for Q4_K (blocks `stride` bytes, nibbles at qs_at, as dot_k45_avx2).
AVX2 static inline __attribute__((always_inline)) void unpack_k_quad(const char *const rows[4], size_t i, size_t stride,
                                                                     size_t qh_at, size_t qs_at, k_quad *o) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m128i scmn[4];   // row r: 8 scales, then 8 mins
    const uint8_t *w[4];
    for (int r = 0; r < 4; r++) {
        w[r] = (const uint8_t *)rows[r] + i * stride;
        uint16_t d16, dmin16;
        memcpy(&d16, w[r], 2); memcpy(&dmin16, w[r] + 2, 2);
        o->d[2 * r] = o->d[2 * r + 1] = f16_to_f32(d16);
        o->dmin[2 * r] = o->dmin[2 * r + 1] = f16_to_f32(dmin16);
        scmn[r] = k_scales_mins(_mm_loadu_si128((const __m128i *)w[r]));
    }
    for (int c = 0; c < 4; c++) {   // sub-blocks 2c (low nibbles) and 2c+1 (high)
        __m256i lo[4], hi[4];
        for (int r = 0; r < 4; r++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[r] + qs_at + 32 * c));
            lo[r] = _mm256_and_si256(q, m4);
            hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (qh_at) {
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(w[r] + qh_at));
                __m128i sa = _mm_cvtsi32_si128(2 * c), sb = _mm_cvtsi32_si128(2 * c + 1);
                lo[r] = _mm256_or_si256(lo[r], _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sa), one), 4));
                hi[r] = _mm256_or_si256(hi[r], _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sb), one), 4));
            }
        }
        store_segments(lo[0], lo[1], lo[2], lo[3], o->q[2 * c]);
        store_segments(hi[0], hi[1], hi[2], hi[3], o->q[2 * c + 1]);
    }
    // the four rows' scales as bytes [row 0, row 1 | row 2, row 3]; sub-block n's scales spread by one byte shuffle
    const __m256i scales = _mm256_unpacklo_epi64(_mm256_set_m128i(scmn[2], scmn[0]), _mm256_set_m128i(scmn[3], scmn[1]));
    const __m256i *spread = (const __m256i *)k_quad_spread;   // laundered: see k_scale_pick
    __asm__("" : "+r"(spread));
    for (int n = 0; n < 8; n++) _mm256_store_si256((__m256i *)o->sv[n], _mm256_shuffle_epi8(scales, _mm256_load_si256(spread + n)));
    _mm256_store_si256((__m256i *)o->mc[0], _mm256_cvtepu8_epi16(_mm_unpackhi_epi64(scmn[0], scmn[2])));
    _mm256_store_si256((__m256i *)o->mc[1], _mm256_cvtepu8_epi16(_mm_unpackhi_epi64(scmn[1], scmn[3])));
}

// out[a][r] = W-row r · x_a for the quad's 4 rows and R ≤ 4 activation rows.
AVX2 static inline __attribute__((always_inline)) void k_quad_tile(const k_quad *u, size_t nb, const act_q8_K *const *x,
                                                                   int R, float out[4][4]) {
    __m256 acc[4], accm[4];
    for (int a = 0; a < R; a++) acc[a] = accm[a] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i sumi[4];
        for (int a = 0; a < R; a++) sumi[a] = _mm256_setzero_si256();
        for (int n = 0; n < 8; n++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)u[i].q[n][0]), w1 = _mm256_load_si256((const __m256i *)u[i].q[n][1]);
            const __m256i w2 = _mm256_load_si256((const __m256i *)u[i].q[n][2]), w3 = _mm256_load_si256((const __m256i *)u[i].q[n][3]);
            const __m256i s = _mm256_load_si256((const __m256i *)u[i].sv[n]);
            for (int a = 0; a < R; a++) {
                const int8_t *xp = x[a][i].qs + 32 * n;
                int64_t s0, s1, s2, s3;
                memcpy(&s0, xp, 8); memcpy(&s1, xp + 8, 8); memcpy(&s2, xp + 16, 8); memcpy(&s3, xp + 24, 8);
                __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi64x(s0)), _mm256_maddubs_epi16(w1, _mm256_set1_epi64x(s1)));
                __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(w2, _mm256_set1_epi64x(s2)), _mm256_maddubs_epi16(w3, _mm256_set1_epi64x(s3)));
                sumi[a] = _mm256_add_epi32(sumi[a], _mm256_madd_epi16(_mm256_add_epi16(p01, p23), s));
            }
        }
        const __m256 d = _mm256_load_ps(u[i].d), dmin = _mm256_load_ps(u[i].dmin);
        const __m256i mc0 = _mm256_load_si256((const __m256i *)u[i].mc[0]), mc1 = _mm256_load_si256((const __m256i *)u[i].mc[1]);
        for (int a = 0; a < R; a++) {
            // sums of the activation's 32-value sub-blocks as 8 int16 in both halves, times each row's mins,
            // reduced to lanes 2r and 2r+1
            __m256i b2 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[a][i].bsums), _mm256_set1_epi16(1));
            b2 = _mm256_permute4x64_epi64(_mm256_packs_epi32(b2, b2), 0x88);
            const __m256i mt = _mm256_hadd_epi32(_mm256_madd_epi16(mc0, b2), _mm256_madd_epi16(mc1, b2));
            const __m256 xd = _mm256_set1_ps(x[a][i].d);
            acc[a] = _mm256_fmadd_ps(_mm256_mul_ps(d, xd), _mm256_cvtepi32_ps(sumi[a]), acc[a]);
            accm[a] = _mm256_fmadd_ps(_mm256_mul_ps(dmin, xd), _mm256_cvtepi32_ps(mt), accm[a]);
        }
    }
    for (int a = 0; a < R; a++) {
        quad_row_sums_avx2(_mm256_sub_ps(acc[a], accm[a]), out[a]);
    }
}

AVX2 static void k_unpack_quad(int type, const char *const rows[4], size_t nb, void *u) {
    if (type == PRISM_Q4_K) {
        for (size_t i = 0; i < nb; i++) unpack_k_quad(rows, i, sizeof(blk_q4_K), 0, offsetof(blk_q4_K, qs), (k_quad *)u + i);
    } else {
        for (size_t i = 0; i < nb; i++)
            unpack_k_quad(rows, i, sizeof(blk_q5_K), offsetof(blk_q5_K, qh), offsetof(blk_q5_K, qs), (k_quad *)u + i);
    }
}

AVX2 static void k_quad_tiles(int type, const void *u, size_t nb, const void *const *xv, int R, float out[4][4]) {
    (void)type;
    const act_q8_K *const *x = (const act_q8_K *const *)xv;
    switch (R) {
    case 4: k_quad_tile(u, nb, x, 4, out); break;
    case 3: k_quad_tile(u, nb, x, 3, out); break;
    case 2: k_quad_tile(u, nb, x, 2, out); break;
    default: k_quad_tile(u, nb, x, 1, out); break;
    }
}

// A unit of `unit` weight rows (1 or 4) unpacked for nb blocks, and its products with R ≤ 4 activation rows:
// out[a][k] for row k of the unit.
typedef void (*unpack_fn)(int type, const char *const rows[4], size_t nb, void *u);
typedef void (*tile_fn)(int type, const void *u, size_t nb, const void *const *x, int R, float out[4][4]);

// prism_qgemv for m ≥ 2 rows on x86: weight rows by units of `unit` (a partial unit repeats its first row), each
// unpacked once per chunk of activation rows that stays in L2 (256 KiB) and multiplied with them 4 at a time.
// Returns 0 if it cannot run (allocation failure).
static int tiled_gemm(int type, int unit, unpack_fn unpack, tile_fn tile, size_t unpacked_bytes, const char *w,
                      size_t row_bytes, size_t nb, const char *xq, size_t xq_stride, size_t m, size_t row0, size_t row1,
                      float *y, size_t ldy) {
    void *u = aligned_alloc(64, (nb * unpacked_bytes + 63) / 64 * 64);
    if (!u) return 0;
    const size_t chunk = xq_stride * 4 >= (256u << 10) ? 4 : (256u << 10) / xq_stride / 4 * 4;
    for (size_t a0 = 0; a0 < m; a0 += chunk) {
        const size_t a1 = a0 + chunk < m ? a0 + chunk : m;
        for (size_t r = row0; r < row1; r += unit) {
            const int nr = row1 - r < (size_t)unit ? (int)(row1 - r) : unit;
            const char *rows[4];
            for (int k = 0; k < 4; k++) rows[k] = w + (r + (k < nr ? k : 0)) * row_bytes;
            unpack(type, rows, nb, u);
            for (size_t a = a0; a < a1; a += 4) {
                const int R = a1 - a < 4 ? (int)(a1 - a) : 4;
                const void *x[4];
                float out[4][4];
                for (int k = 0; k < R; k++) x[k] = xq + (a + k) * xq_stride;
                tile(type, u, nb, x, R, out);
                for (int k = 0; k < R; k++) memcpy(y + (a + k) * ldy + r, out[k], nr * sizeof(float));
            }
        }
    }
    free(u);
    return 1;
}

// Multi-row kernels per variant: the K-types use the AVX2 ones everywhere (as the dot products do). `prism bench vlm`
// (Zen 3, 2 threads, one run) at 128 rows: Q4_K [1408, 2048] 4.3 ms vs 11.9 ms with the single-row kernel per row,
// Q8_0 5.9 vs 20.0 ms (Tools/bench/vlm/README.md). Q6_K by quads was no faster than by rows in a one-core A/B
// (1.02 vs 0.84 ms at 13 rows), so it keeps the bit-identical row kernel.
static int x86_gemm(int isa, int type, const char *w, size_t row_bytes, size_t nb, const char *xq, size_t xq_stride,
                    size_t m, size_t row0, size_t row1, float *y, size_t ldy) {
    if (type == PRISM_Q4_K || type == PRISM_Q5_K)
        return tiled_gemm(type, 4, k_unpack_quad, k_quad_tiles, sizeof(k_quad), w, row_bytes, nb, xq, xq_stride, m, row0, row1, y, ldy);
    if (type == PRISM_Q6_K)
        return tiled_gemm(type, 1, q6k_unpack_row, q6k_tile_rows, sizeof(k_unpacked), w, row_bytes, nb, xq, xq_stride, m, row0, row1, y, ldy);
    static const unpack_fn unpack[PRISM_ISA_COUNT] = {0, unpack32q_avx2, unpack32q_avxvnni, unpack32q_avx512vnni};
    static const tile_fn tile[PRISM_ISA_COUNT] = {0, tile32q_avx2, tile32q_avxvnni, tile32q_avx512vnni};
    return tiled_gemm(type, 4, unpack[isa], tile[isa], sizeof(q32_quad), w, row_bytes, nb, xq, xq_stride, m, row0, row1, y, ldy);
}

static int cpu_has(int isa) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    switch (isa) {
    case PRISM_ISA_PORTABLE: return 1;
    case PRISM_ISA_AVX2: return avx2;
    case PRISM_ISA_AVXVNNI: return avx2 && __builtin_cpu_supports("avxvnni");
    case PRISM_ISA_AVX512VNNI:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    default: return 0;
    }
}

// Each variant's own kernels (quant_dot_x86.h, quant_dot_k_x86.h).
#define FILL_TABLES(isa, v)                                                                                          \
    do {                                                                                                             \
        dot_fn dots[NTYPES] = {dot_q4_0_##v, dot_q5_0_##v, dot_q8_0_##v, dot_q4_K_##v, dot_q5_K_##v, dot_q6_K_##v};       \
        rows_fn rows[NTYPES] = {rows_q4_0_##v, rows_q5_0_##v, rows_q8_0_##v, rows_q4_K_##v, rows_q5_K_##v, rows_q6_K_##v}; \
        memcpy(kernels[isa], dots, sizeof dots);                                                                     \
        memcpy(row_kernels[isa], rows, sizeof rows);                                                                 \
    } while (0)

static void fill_x86_tables(void) {
    FILL_TABLES(PRISM_ISA_AVX2, avx2);
    FILL_TABLES(PRISM_ISA_AVXVNNI, avxvnni);
    FILL_TABLES(PRISM_ISA_AVX512VNNI, avx512vnni);
}
#else
static int cpu_has(int isa) { return isa == PRISM_ISA_PORTABLE; }
static void fill_x86_tables(void) {}
#endif

// Selected once; all variants' tables are filled before any is read.
static int selected_isa = -1;

static int ensure_init(void) {
    int s = __atomic_load_n(&selected_isa, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    fill_x86_tables();
    int best = PRISM_ISA_PORTABLE;
    for (int isa = 1; isa < PRISM_ISA_COUNT; isa++) if (cpu_has(isa)) best = isa;
    __atomic_store_n(&selected_isa, best, __ATOMIC_RELEASE);
    return best;
}

int prism_q_isa_supported(int isa) { ensure_init(); return isa >= 0 && isa < PRISM_ISA_COUNT && cpu_has(isa); }

int prism_q_isa_selected(void) { return ensure_init(); }

const char *prism_q_isa_name(int isa) {
    static const char *names[PRISM_ISA_COUNT] = {"portable", "avx2", "avx-vnni", "avx512-vnni"};
    return isa >= 0 && isa < PRISM_ISA_COUNT ? names[isa] : "unknown";
}

int prism_qdot_isa(int isa, int type, const void *w, const void *xq, size_t nblocks, float *out) {
    int t = type_index(type);
    if (t < 0 || !prism_q_isa_supported(isa)) return -1;
    *out = kernels[isa][t](w, xq, nblocks);
    return 0;
}

void prism_qgemv(int type, const void *w, size_t row_bytes, size_t cols, const void *xq, size_t xq_stride,
                 size_t m, size_t row0, size_t row1, float *y, size_t ldy) {
    int t = type_index(type);
    if (t < 0) return;
    const int isa = ensure_init();
    dot_fn dot = kernels[isa][t];
    size_t nb = cols / prism_q_block_elems(type);
    const char *wb = (const char *)w, *xb = (const char *)xq;
#if defined(__x86_64__)
    if (m >= 2 && isa != PRISM_ISA_PORTABLE && x86_gemm(isa, type, wb, row_bytes, nb, xb, xq_stride, m, row0, row1, y, ldy)) return;
#endif
    if (m == 1 && row_kernels[isa][t]) { row_kernels[isa][t](wb, row_bytes, xb, nb, row0, row1, y); return; }
    for (size_t r = row0; r < row1; r++) {
        const void *wr = wb + r * row_bytes;
        for (size_t i = 0; i < m; i++) y[i * ldy + r] = dot(wr, xb + i * xq_stride, nb);
    }
}
