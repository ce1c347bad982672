// Decode dot products of the K-types (Q4_K, Q5_K, Q6_K) with int8 activations, written once for the x86 variants.
// quant_dot_x86.h includes this file at its end, so once per variant (after quant_dot.c's K-type helpers:
// k_scales_mins, the scale shuffles), with
//   TARGET, SFX(name)      as for quant_dot_x86.h
//   MADD_ACC(acc, p, s)    acc + madd(p, s): int16 pairs times the sub-block scales, summed into int32 (AVX2:
//                          vpmaddwd + vpaddd; VNNI: one vpdpwssd, the same integers, never saturating)
// defined; quant_dot_x86.h undefines them after it. The sub-block scales multiply every 16/32
// products before they are summed, which vpdpbusd cannot fold in, so the byte products stay vpmaddubsw in every
// variant. Integer sums are exact in any order, so every variant gives the same bits.

// Q4_K and Q5_K share everything but the 5th bits: blocks `stride` bytes apart with d, dmin and the scales at
// the start, the 5th bits at `qh_at` (0: none, Q4_K) and the nibbles at `qs_at`. Inlined per type.
// The decode kernel of Q4_K_M's bulk, so the per-block work outside the products is kept small (in-cache
// harness on Zen 3, best of 6: 14.4 → 16.2 GB/s on one core): the scales unpack in registers (k_scales_mins),
// d and dmin convert together, and the mins meet the activation's 16-value sums directly (each min twice)
// instead of through a horizontal add.
TARGET static inline float SFX(dot_k45)(const uint8_t *w, size_t stride, size_t qh_at, size_t qs_at, const act_q8_K *x, size_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m128i dupMins = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i *pick = (const __m256i *)k_scale_pick;   // laundered: see k_scale_pick
    __asm__("" : "+r"(pick));
    for (size_t i = 0; i < nb; i++, w += stride) {
        prefetch_ahead(w, stride);
        const __m128i head = _mm_loadu_si128((const __m128i *)w);   // d, dmin, 12 scale bytes
        const __m128i scmn = k_scales_mins(head);
        // Σ_j m_j·(bsums[2j] + bsums[2j+1]) as 8 int32 lanes
        const __m256i mins = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(scmn, dupMins)),
                                               _mm256_loadu_si256((const __m256i *)x[i].bsums));
        // the 8 scales as int16 in both 128-bit lanes; scale j is broadcast by one byte shuffle
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
        const __m256i qh = qh_at ? _mm256_loadu_si256((const __m256i *)(w + qh_at)) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();   // two chains for the VNNI adds
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + qs_at + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (qh_at) {
                __m128i sa = _mm_cvtsi32_si128(2 * c), sb = _mm_cvtsi32_si128(2 * c + 1);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sa), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, sb), one), 4));
            }
            __m256i pa = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c)));
            __m256i pb = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32)));
            sumi = MADD_ACC(sumi, pa, _mm256_shuffle_epi8(sc16, _mm256_load_si256(pick + 2 * c)));
            sumi2 = MADD_ACC(sumi2, pb, _mm256_shuffle_epi8(sc16, _mm256_load_si256(pick + 2 * c + 1)));
        }
        sumi = _mm256_add_epi32(sumi, sumi2);
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(head), _mm_set1_ps(x[i].d));   // [d, dmin] · the activation's scale
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_permute_ps(dd, 1)), _mm256_cvtepi32_ps(mins), accm);
    }
    return hsum8_avx2(_mm256_sub_ps(acc, accm));
}

TARGET static inline __attribute__((always_inline)) float SFX(dot_q4_K)(const void *w, const void *x, size_t nb) {
    return SFX(dot_k45)(w, sizeof(blk_q4_K), 0, offsetof(blk_q4_K, qs), x, nb);
}

TARGET static inline __attribute__((always_inline)) float SFX(dot_q5_K)(const void *w, const void *x, size_t nb) {
    return SFX(dot_k45)(w, sizeof(blk_q5_K), offsetof(blk_q5_K, qh), offsetof(blk_q5_K, qs), x, nb);
}

// Q6_K: 6-bit values 0..63 as the unsigned operand; the −32 offset is applied once per super-block from
// the activation's 16-value sums, scaled by the same int8 group scales.
TARGET static inline __attribute__((always_inline)) float SFX(dot_q6_K)(const void *wv, const void *xv, size_t nb) {
    const blk_q6_K *w = wv;
    const act_q8_K *x = xv;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    // shuffle k spreads group scales 2k (low 128 bits) and 2k+1 (high) from 8 int16 scales; laundered as k_scale_pick
    const __m256i *pick = (const __m256i *)k_scale_pick_lanes;
    __asm__("" : "+r"(pick));
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        prefetch_ahead(w + i, sizeof *w);
        const int8_t *sc = w[i].scales;
        __m256i sumi = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();   // two chains for the VNNI adds
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            // 6-bit values: low nibble | two high bits moved to bits 4-5 (16-bit shifts stay inside the bytes
            // once masked with 0x30)
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(sc + 8 * h))));
            for (int k = 0; k < 4; k += 2) {
                __m256i p0 = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(x[i].qs + 128 * h + 32 * k)));
                __m256i p1 = _mm256_maddubs_epi16(q[k + 1], _mm256_loadu_si256((const __m256i *)(x[i].qs + 128 * h + 32 * k + 32)));
                sumi = MADD_ACC(sumi, p0, _mm256_shuffle_epi8(sc16, _mm256_load_si256(pick + k)));
                sumi2 = MADD_ACC(sumi2, p1, _mm256_shuffle_epi8(sc16, _mm256_load_si256(pick + k + 1)));
            }
        }
        sumi = _mm256_add_epi32(sumi, sumi2);
        __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums),
                                         _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8_avx2(acc);
}

ROWS_KERNEL(q4_K)
ROWS_KERNEL(q5_K)
ROWS_KERNEL(q6_K)
