// Attention for a handful of query rows (a decoding token's heads) against keys and values read in place, and the
// dot products it starts with as a plain f32 GEMV (a decoding token against f32 weight rows: the MoE router). A
// GEMM library packs both operands first, which for a few rows costs more than the products themselves.
#include "prism_kernels.h"
#include "cpu.h"

static void scores_scalar(const float *q, size_t d, const float *k, size_t ldk, size_t n, float scale, float *s) {
    for (size_t j = 0; j < n; j++) {
        float acc = 0;
        for (size_t c = 0; c < d; c++) acc += q[c] * k[j * ldk + c];
        s[j] = acc * scale;
    }
}

static void weighted_sum_scalar(const float *p, size_t n, const float *v, size_t ldv, size_t dv, float *out) {
    for (size_t c = 0; c < dv; c++) out[c] = 0;
    for (size_t j = 0; j < n; j++) for (size_t c = 0; c < dv; c++) out[c] += p[j] * v[j * ldv + c];
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_avx2.h"
#include "simd_avx512.h"
#define AVX __attribute__((target("avx2,fma")))

// A batch of decoding sequences keeps a cache per sequence and layer that is read once per token: with 16
// sequences of a few hundred tokens they no longer fit in L3 next to the weights, and the hardware prefetcher,
// which starts over at every cache, left the score pass waiting on memory (a third of the attention's samples on
// one load). Keys this far ahead are requested with each pair: 16 streamed in a 200-cache harness at 1.15–1.2×
// the rate of none (4 and 8: less), and 16 decoding sequences of 1,024 tokens stepped 1.1× faster.
#define KEY_PREFETCH 16

AVX static inline void prefetch_keys(const float *from, size_t floats) {
    for (size_t o = 0; o < floats; o += 16) _mm_prefetch((const char *)(from + o), _MM_HINT_T0);
}

// s[j] = scale · q·k_j, four keys per pass so one horizontal reduction serves four scores.
AVX static void scores_avx2(const float *q, size_t d, const float *k, size_t ldk, size_t n, float scale, float *s) {
    size_t vec = d & ~(size_t)7, j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + j * ldk, *k1 = k0 + ldk, *k2 = k1 + ldk, *k3 = k2 + ldk;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t c = 0; c < vec; c += 8) {
            __m256 qv = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + c), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + c), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + c), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + c), a3);
        }
        float t[4];
        _mm_storeu_ps(t, hsum4_avx2(a0, a1, a2, a3));
        for (size_t c = vec; c < d; c++) {
            t[0] += q[c] * k0[c]; t[1] += q[c] * k1[c]; t[2] += q[c] * k2[c]; t[3] += q[c] * k3[c];
        }
        for (int i = 0; i < 4; i++) s[j + i] = t[i] * scale;
    }
    scores_scalar(q, d, k + j * ldk, ldk, n - j, scale, s + j);
}

// out = Σ_j p_j · v_j, 32 output columns at a time in registers.
AVX static void weighted_sum_avx2(const float *p, size_t n, const float *v, size_t ldv, size_t dv, float *out) {
    size_t c0 = 0;
    for (; c0 + 32 <= dv; c0 += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t j = 0; j < n; j++) {
            const float *vj = v + j * ldv + c0;
            __m256 pj = _mm256_broadcast_ss(p + j);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
        }
        _mm256_storeu_ps(out + c0, a0); _mm256_storeu_ps(out + c0 + 8, a1);
        _mm256_storeu_ps(out + c0 + 16, a2); _mm256_storeu_ps(out + c0 + 24, a3);
    }
    for (; c0 + 8 <= dv; c0 += 8) {
        __m256 a = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++) a = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * ldv + c0), a);
        _mm256_storeu_ps(out + c0, a);
    }
    if (c0 < dv) weighted_sum_scalar(p, n, v + c0, ldv, dv - c0, out + c0);
}

// The same for G ≤ 4 rows that see the same n keys (a decoding token's heads): each key and value row is loaded
// once for the G rows, which cuts the loads per multiply-add from 5/4 to 6/8 and the cache traffic G-fold. Every
// score and output is summed in the order of the one-row kernels above, so the results are bit-identical to them.
// s: G·n scores, row g at s + g·n.
AVX static inline __attribute__((always_inline)) void scores_group_avx2(int G, const float *q, size_t d, const float *k,
                                                                       size_t ldk, size_t n, float scale, float *s) {
    // keys in pairs up to the one-row kernel's groups of 4, the rest through its scalar tail
    size_t vec = d & ~(size_t)7, n4 = n & ~(size_t)3, j = 0;
    for (; j < n4; j += 2) {
        const float *k0 = k + j * ldk, *k1 = k0 + ldk;
        if (j + KEY_PREFETCH + 2 <= n) prefetch_keys(k + (j + KEY_PREFETCH) * ldk, 2 * ldk);
        __m256 a[4][2];
        for (int g = 0; g < G; g++) a[g][0] = a[g][1] = _mm256_setzero_ps();
        for (size_t c = 0; c < vec; c += 8) {
            __m256 v0 = _mm256_loadu_ps(k0 + c), v1 = _mm256_loadu_ps(k1 + c);
            for (int g = 0; g < G; g++) {
                __m256 qv = _mm256_loadu_ps(q + g * d + c);
                a[g][0] = _mm256_fmadd_ps(qv, v0, a[g][0]);
                a[g][1] = _mm256_fmadd_ps(qv, v1, a[g][1]);
            }
        }
        for (int g = G; g < 4; g++) a[g][0] = a[g][1] = _mm256_setzero_ps();
        float t0[4], t1[4];
        _mm_storeu_ps(t0, hsum4_avx2(a[0][0], a[1][0], a[2][0], a[3][0]));
        _mm_storeu_ps(t1, hsum4_avx2(a[0][1], a[1][1], a[2][1], a[3][1]));
        for (int g = 0; g < G; g++) {
            const float *qg = q + g * d;
            for (size_t c = vec; c < d; c++) { t0[g] += qg[c] * k0[c]; t1[g] += qg[c] * k1[c]; }
            s[g * n + j] = t0[g] * scale;
            s[g * n + j + 1] = t1[g] * scale;
        }
    }
    if (j < n) for (int g = 0; g < G; g++) scores_scalar(q + g * d, d, k + j * ldk, ldk, n - j, scale, s + g * n + j);
}

AVX static inline __attribute__((always_inline)) void weighted_sum_group_avx2(int G, const float *p, size_t n, const float *v,
                                                                             size_t ldv, size_t dv, float *out) {
    size_t c0 = 0;
    for (; c0 + 16 <= dv; c0 += 16) {
        __m256 a[4][2];
        for (int g = 0; g < G; g++) a[g][0] = a[g][1] = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++) {
            const float *vj = v + j * ldv + c0;
            __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
            for (int g = 0; g < G; g++) {
                __m256 pj = _mm256_broadcast_ss(p + g * n + j);
                a[g][0] = _mm256_fmadd_ps(pj, v0, a[g][0]);
                a[g][1] = _mm256_fmadd_ps(pj, v1, a[g][1]);
            }
        }
        for (int g = 0; g < G; g++) {
            _mm256_storeu_ps(out + g * dv + c0, a[g][0]);
            _mm256_storeu_ps(out + g * dv + c0 + 8, a[g][1]);
        }
    }
    if (c0 < dv) for (int g = 0; g < G; g++) weighted_sum_avx2(p + g * n, n, v + c0, ldv, dv - c0, out + g * dv + c0);
}

// G rows (q and out contiguous) against the first n keys; scores: G·n floats.
AVX static void attention_group_avx2(int G, const float *q, size_t d, const float *k, size_t ldk, const float *v, size_t ldv,
                                     size_t dv, size_t n, float scale, float *scores, float *out) {
    if (G == 1) {
        scores_avx2(q, d, k, ldk, n, scale, scores);
        prism_softmax_row(scores, scores, n);
        weighted_sum_avx2(scores, n, v, ldv, dv, out);
        return;
    }
    switch (G) {
    case 4: scores_group_avx2(4, q, d, k, ldk, n, scale, scores); break;
    case 3: scores_group_avx2(3, q, d, k, ldk, n, scale, scores); break;
    default: scores_group_avx2(2, q, d, k, ldk, n, scale, scores); break;
    }
    for (int g = 0; g < G; g++) prism_softmax_row(scores + g * n, scores + g * n, n);
    switch (G) {
    case 4: weighted_sum_group_avx2(4, scores, n, v, ldv, dv, out); break;
    case 3: weighted_sum_group_avx2(3, scores, n, v, ldv, dv, out); break;
    default: weighted_sum_group_avx2(2, scores, n, v, ldv, dv, out); break;
    }
}

// AVX-512: G ≤ 4 rows against 4 keys per pass (16 accumulators, one transposing reduction for the 16 scores), the
// last partial 16 columns through a mask instead of a scalar tail, and the weighted sum 64 value columns at a time
// for all G rows (16 accumulators; each key's value row loaded once per 64 columns). A row's scores and outputs are
// summed in the same order whatever G is, so heads that share a pass get the results they get alone. Zen 4 harness,
// one core, 4 heads: 1.13–1.2× the AVX2 kernel on the embedded model's latent (80 / 64 wide) in cache, 1.2–1.8× on
// A3B's (576 / 512), 2.7–3.1× on widths that are not multiples of 8; level to 0.85× when every key comes from DRAM.
// Alternating the two step by step in the engine: 16 streams 1.03–1.045× faster at 256 tokens, level at 1,024.
#define AVX512 __attribute__((target("avx2,fma,avx512f")))

// KEYS keys (compile-time, so the accumulators stay in registers) from key j: acc[4g + key], the others zero
AVX512 static inline __attribute__((always_inline)) void scores_keys_avx512(const int G, const int KEYS, const float *q, size_t d,
                                                                           const float *k, size_t ldk, size_t j, size_t n,
                                                                           float scale, float *s) {
    const __mmask16 last = (__mmask16)((1u << (d & 15)) - 1);
    size_t vec = d & ~(size_t)15;
    __m512 acc[16];
    for (int a = 0; a < 16; a++) acc[a] = _mm512_setzero_ps();
    for (size_t c = 0; c < vec; c += 16) {
        __m512 kv[4];
        for (int t = 0; t < KEYS; t++) kv[t] = _mm512_loadu_ps(k + (j + t) * ldk + c);
        for (int g = 0; g < G; g++) {
            __m512 qv = _mm512_loadu_ps(q + g * d + c);
            for (int t = 0; t < KEYS; t++) acc[4 * g + t] = _mm512_fmadd_ps(qv, kv[t], acc[4 * g + t]);
        }
    }
    if (last) {
        __m512 kv[4];
        for (int t = 0; t < KEYS; t++) kv[t] = _mm512_maskz_loadu_ps(last, k + (j + t) * ldk + vec);
        for (int g = 0; g < G; g++) {
            __m512 qv = _mm512_maskz_loadu_ps(last, q + g * d + vec);
            for (int t = 0; t < KEYS; t++) acc[4 * g + t] = _mm512_fmadd_ps(qv, kv[t], acc[4 * g + t]);
        }
    }
    float sums[16];
    _mm512_storeu_ps(sums, _mm512_mul_ps(sum16_avx512(acc), _mm512_set1_ps(scale)));
    for (int g = 0; g < G; g++)
        for (int t = 0; t < KEYS; t++) { int a = 4 * g + t; s[g * n + j + t] = sums[sum16_lane(a)]; }
}

AVX512 static inline __attribute__((always_inline)) void scores_group_avx512(const int G, const float *q, size_t d, const float *k,
                                                                            size_t ldk, size_t n, float scale, float *s) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        if (j + KEY_PREFETCH + 4 <= n) prefetch_keys(k + (j + KEY_PREFETCH) * ldk, 4 * ldk);
        scores_keys_avx512(G, 4, q, d, k, ldk, j, n, scale, s);
    }
    switch (n - j) {
    case 3: scores_keys_avx512(G, 3, q, d, k, ldk, j, n, scale, s); break;
    case 2: scores_keys_avx512(G, 2, q, d, k, ldk, j, n, scale, s); break;
    case 1: scores_keys_avx512(G, 1, q, d, k, ldk, j, n, scale, s); break;
    }
}

// CHUNKS (compile-time) vectors of 16 value columns from c0, the last one masked
AVX512 static inline __attribute__((always_inline)) void weighted_chunks_avx512(const int G, const int CHUNKS, const float *p, size_t n,
                                                                               const float *v, size_t ldv, size_t c0,
                                                                               __mmask16 lastMask, size_t dv, float *out) {
    __m512 acc[4][4];
    for (int g = 0; g < G; g++) for (int t = 0; t < CHUNKS; t++) acc[g][t] = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j++) {
        const float *vj = v + j * ldv + c0;
        __m512 vv[4];
        for (int t = 0; t < CHUNKS - 1; t++) vv[t] = _mm512_loadu_ps(vj + 16 * t);
        vv[CHUNKS - 1] = _mm512_maskz_loadu_ps(lastMask, vj + 16 * (CHUNKS - 1));
        for (int g = 0; g < G; g++) {
            __m512 pj = _mm512_set1_ps(p[g * n + j]);
            for (int t = 0; t < CHUNKS; t++) acc[g][t] = _mm512_fmadd_ps(pj, vv[t], acc[g][t]);
        }
    }
    for (int g = 0; g < G; g++) {
        for (int t = 0; t < CHUNKS - 1; t++) _mm512_storeu_ps(out + g * dv + c0 + 16 * t, acc[g][t]);
        _mm512_mask_storeu_ps(out + g * dv + c0 + 16 * (CHUNKS - 1), lastMask, acc[g][CHUNKS - 1]);
    }
}

AVX512 static inline __attribute__((always_inline)) void weighted_sum_group_avx512(const int G, const float *p, size_t n, const float *v,
                                                                                  size_t ldv, size_t dv, float *out) {
    size_t c0 = 0;
    for (; c0 + 64 <= dv; c0 += 64) weighted_chunks_avx512(G, 4, p, n, v, ldv, c0, 0xFFFF, dv, out);
    size_t rest = dv - c0;
    if (rest == 0) return;
    __mmask16 lastMask = (rest & 15) ? (__mmask16)((1u << (rest & 15)) - 1) : (__mmask16)0xFFFF;
    switch ((rest + 15) / 16) {
    case 4: weighted_chunks_avx512(G, 4, p, n, v, ldv, c0, lastMask, dv, out); break;
    case 3: weighted_chunks_avx512(G, 3, p, n, v, ldv, c0, lastMask, dv, out); break;
    case 2: weighted_chunks_avx512(G, 2, p, n, v, ldv, c0, lastMask, dv, out); break;
    case 1: weighted_chunks_avx512(G, 1, p, n, v, ldv, c0, lastMask, dv, out); break;
    }
}

#define GROUP512(G) \
    AVX512 __attribute__((noinline)) static void attention_group_avx512_##G(const float *q, size_t d, const float *k, size_t ldk, \
        const float *v, size_t ldv, size_t dv, size_t n, float scale, float *scores, float *out) { \
        scores_group_avx512(G, q, d, k, ldk, n, scale, scores); \
        for (int g = 0; g < G; g++) prism_softmax_row(scores + g * n, scores + g * n, n); \
        weighted_sum_group_avx512(G, scores, n, v, ldv, dv, out); \
    }
GROUP512(1) GROUP512(2) GROUP512(3) GROUP512(4)
typedef void (*group512_fn)(const float *, size_t, const float *, size_t, const float *, size_t, size_t, size_t, float, float *, float *);
static const group512_fn attention_group_avx512[5] = {0, attention_group_avx512_1, attention_group_avx512_2,
                                                     attention_group_avx512_3, attention_group_avx512_4};

static int attention_avx512 = -1;   // -1: the CPU decides; tests set 0 or 1 (prism_attention_rows_select)

int prism_attention_rows_select(int use_avx512) {
    if (use_avx512 < 0) { attention_avx512 = -1; return 1; }
    if (use_avx512 && !cpu_avx512f()) return 0;
    attention_avx512 = use_avx512;
    return 1;
}

#endif

void prism_attention_rows(const float *q, size_t rows, size_t d, const float *k, size_t ldk, const float *v,
                          size_t ldv, size_t dv, const size_t *visible, float scale, float *scores, float *out) {
    for (size_t i = 0; i < rows; i++) {
        size_t n = visible[i];
        const float *qi = q + i * d;
        float *oi = out + i * dv;
        if (n == 0) { for (size_t c = 0; c < dv; c++) oi[c] = 0; continue; }
#if defined(__x86_64__)
        if (cpu_avx2_fma()) {
            // up to 4 consecutive rows that see the same keys go together
            int g = 1;
            while (g < 4 && i + g < rows && visible[i + g] == n) g++;
            if (attention_avx512 < 0) attention_avx512 = cpu_avx512f();
            if (attention_avx512) attention_group_avx512[g](qi, d, k, ldk, v, ldv, dv, n, scale, scores, oi);
            else attention_group_avx2(g, qi, d, k, ldk, v, ldv, dv, n, scale, scores, oi);
            i += g - 1;
            continue;
        }
#endif
        scores_scalar(qi, d, k, ldk, n, scale, scores);
        prism_softmax_row(scores, scores, n);
        weighted_sum_scalar(scores, n, v, ldv, dv, oi);
    }
}

void prism_dot_rows(const float *x, size_t d, const float *w, size_t ldw, size_t n, float *y) {
#if defined(__x86_64__)
    if (cpu_avx2_fma()) { scores_avx2(x, d, w, ldw, n, 1.0f, y); return; }
#endif
    scores_scalar(x, d, w, ldw, n, 1.0f, y);
}
