// Portable reference code for the GGUF block types: the deterministic quantisers llama.cpp uses to write
// model files (its `*_ref` algorithms, so files are byte-identical), the dequantisers, the activation
// quantisers of the integer dot products, and scalar dot products every SIMD variant is tested against.
// Float expressions are kept in llama.cpp's evaluation order and never contracted into FMAs, because
// byte-identical output depends on it.
#pragma STDC FP_CONTRACT OFF
#include "prism_kernels.h"
#include "quant_blocks.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#include "cpu.h"
#include "simd_avx2.h"
#endif

#define MAXI(a, b) ((a) > (b) ? (a) : (b))
#define MINI(a, b) ((a) < (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

// ---- type table ----------------------------------------------------------------------------------

static int is_k_type(int type) { return type == PRISM_Q4_K || type == PRISM_Q5_K || type == PRISM_Q6_K; }

// One row per type: values per block, bytes per block, quantiser, dequantiser, reference dot (filled below).
typedef void (*quant_fn)(const float *, void *, size_t);
typedef void (*dequant_fn)(const void *, float *, size_t);
typedef float (*ref_dot_fn)(const void *, const void *, size_t);
struct qtype { int type; size_t elems, bytes; quant_fn quantize; dequant_fn dequantize; ref_dot_fn dot; };
static const struct qtype *find_type(int type);

size_t prism_q_block_elems(int type) { const struct qtype *t = find_type(type); return t ? t->elems : 0; }
size_t prism_q_block_bytes(int type) { const struct qtype *t = find_type(type); return t ? t->bytes : 0; }

size_t prism_q_act_row_bytes(int type, size_t n) {
    return is_k_type(type) ? n / QK_K * sizeof(act_q8_K) : n / QK * sizeof(act_q8_32);
}

// ---- helpers (llama.cpp's algorithms) ------------------------------------------------------------

// Round to nearest with ties to even via the 1.5·2^23 trick; valid for |x| ≤ 2^22.
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i; memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// Symmetric scale search for Q6_K (rmse_type 1: weights x², no importance matrix).
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MAXI(-nmax, MINI(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = MAXI(-nmax, MINI(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, l)));
            }
            scale = sumlx / suml2; best = scale * sumlx;
        }
    }
    return scale;
}

// Asymmetric (scale, min) search for Q4_K / Q5_K: weighted least squares over nstep+1 candidate scales.
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MAXI(0, MINI(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// ---- quantisers ----------------------------------------------------------------------------------

static void quantize_Q8_0(const float *x, void *yv, size_t nb) {
    blk_q8_0 *y = yv;
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = float_to_half(d);
        for (int j = 0; j < QK; ++j) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

// Q4_0 (offset 8, 15 levels) and Q5_0 (offset 16, 31 levels, 5th bits in qh) share the rule d = max / −offset.
static void quantize_q4_5_0(const float *x, uint16_t *d_out, uint8_t *qs, uint8_t *qh_out, int bits) {
    const int offset = 1 << (bits - 1), top = (1 << bits) - 1;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    const float d = max / -offset;
    const float id = d ? 1.0f / d : 0.0f;
    *d_out = float_to_half(d);
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; ++j) {
        const uint8_t q0 = (uint8_t)MINI(top, (int8_t)(x[j] * id + (offset + 0.5f)));
        const uint8_t q1 = (uint8_t)MINI(top, (int8_t)(x[QK / 2 + j] * id + (offset + 0.5f)));
        qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= ((uint32_t)(q0 & 0x10u) >> 4) << j;
        qh |= ((uint32_t)(q1 & 0x10u) >> 4) << (j + QK / 2);
    }
    if (qh_out) memcpy(qh_out, &qh, 4);
}

static void quantize_Q4_0(const float *x, void *yv, size_t nb) {
    blk_q4_0 *y = yv;
    for (size_t i = 0; i < nb; i++, x += QK) quantize_q4_5_0(x, &y[i].d, y[i].qs, NULL, 4);
}

static void quantize_Q5_0(const float *x, void *yv, size_t nb) {
    blk_q5_0 *y = yv;
    for (size_t i = 0; i < nb; i++, x += QK) quantize_q4_5_0(x, &y[i].d, y[i].qs, y[i].qh, 5);
}

// Packs the eight 6-bit scales and mins of a Q4_K / Q5_K super-block (layout in quant_blocks.h).
static void pack_k_scales(uint8_t *scales, const float *sc, const float *mn, float *d_out, float *dmin_out,
                          uint16_t *d, uint16_t *dmin) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mn[j] > max_min) max_min = mn[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * sc[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mn[j]);
        ls = (uint8_t)MINI(63, ls);
        lm = (uint8_t)MINI(63, lm);
        if (j < 4) {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = float_to_half(max_scale / 63.f);
    *dmin = float_to_half(max_min / 63.f);
    *d_out = half_to_float(*d);
    *dmin_out = half_to_float(*dmin);
}

// Q4_K (nmax 15) and Q5_K (nmax 31): per sub-block (scale, min) search, then requantise with the packed ones.
static void quantize_k_levels(const float *x, int nmax, float rmin, int nstep, uint8_t *L, uint8_t *scales,
                              uint16_t *d, uint16_t *dmin) {
    uint8_t Laux[32];
    float weights[32], mins[8], sc[8];
    for (int j = 0; j < 8; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        sc[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    }
    float df, dminf;
    memset(scales, 0, 12);
    pack_k_scales(scales, sc, mins, &df, &dminf, d, dmin);
    for (int j = 0; j < 8; ++j) {
        uint8_t s, m;
        q4k_scale_min(j, scales, &s, &m);
        const float dd = df * s;
        if (!dd) continue;
        const float dm = dminf * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / dd);
            L[32 * j + ii] = (uint8_t)MAXI(0, MINI(nmax, l));
        }
    }
}

static void quantize_Q4_K(const float *x, void *yv, size_t nb) {
    blk_q4_K *y = yv;
    uint8_t L[QK_K];
    for (size_t i = 0; i < nb; i++, x += QK_K) {
        quantize_k_levels(x, 15, -1.f, 20, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void quantize_Q5_K(const float *x, void *yv, size_t nb) {
    blk_q5_K *y = yv;
    uint8_t L[QK_K];
    for (size_t i = 0; i < nb; i++, x += QK_K) {
        quantize_k_levels(x, 31, -0.5f, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < QK_K; n += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 <<= 2; m2 <<= 2;
        }
    }
}

static void quantize_Q6_K(const float *x, void *yv, size_t nb) {
    blk_q6_K *y = yv;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (size_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof(blk_q6_K));
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = float_to_half(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) y[i].scales[ib] = (int8_t)MINI(127, nearest_int(iscale * scales[ib]));
        const float d0 = half_to_float(y[i].d);
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = d0 * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(MAXI(-32, MINI(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

int prism_quantize_row(int type, const float *x, void *y, size_t n) {
    const struct qtype *t = find_type(type);
    if (!t || n % t->elems != 0) return -1;
    t->quantize(x, y, n / t->elems);
    return 0;
}

// ---- dequantisers (ggml's dequantize_row_*, same float operations) ----------------------------------

static void dequant_Q4_0(const void *xv, float *y, size_t nb) {
    const blk_q4_0 *x = xv;
    for (size_t i = 0; i < nb; i++, y += QK) {
        const float d = half_to_float(x[i].d);
        for (int j = 0; j < QK / 2; ++j) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_Q5_0(const void *xv, float *y, size_t nb) {
    const blk_q5_0 *x = xv;
    for (size_t i = 0; i < nb; i++, y += QK) {
        const float d = half_to_float(x[i].d);
        uint32_t qh; memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK / 2; ++j) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + QK / 2] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void dequant_Q8_0(const void *xv, float *y, size_t nb) {
    const blk_q8_0 *x = xv;
    for (size_t i = 0; i < nb; i++, y += QK) {
        const float d = half_to_float(x[i].d);
        for (int j = 0; j < QK; ++j) y[j] = x[i].qs[j] * d;
    }
}

// Q4_K and Q5_K (qh: the 5th bits, NULL for Q4_K); block strides differ, so the caller passes one block.
static void dequant_k45(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qh, const uint8_t *ql, float *y) {
    const float d = half_to_float(d16), min = half_to_float(dmin16);
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QK_K; j += 64, ql += 32, is += 2) {
        uint8_t sc, m;
        q4k_scale_min(is, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        q4k_scale_min(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - m2;
        u1 <<= 2; u2 <<= 2;
    }
}

static void dequant_Q4_K(const void *xv, float *y, size_t nb) {
    const blk_q4_K *x = xv;
    for (size_t i = 0; i < nb; i++, y += QK_K) dequant_k45(x[i].d, x[i].dmin, x[i].scales, NULL, x[i].qs, y);
}

static void dequant_Q5_K(const void *xv, float *y, size_t nb) {
    const blk_q5_K *x = xv;
    for (size_t i = 0; i < nb; i++, y += QK_K) dequant_k45(x[i].d, x[i].dmin, x[i].scales, x[i].qh, x[i].qs, y);
}

static void dequant_Q6_K(const void *xv, float *y, size_t nb) {
    const blk_q6_K *x = xv;
    for (size_t i = 0; i < nb; i++) {
        const float d = half_to_float(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

int prism_dequantize_row(int type, const void *x, float *y, size_t n) {
    const struct qtype *t = find_type(type);
    if (!t || n % t->elems != 0) return -1;
    t->dequantize(x, y, n / t->elems);
    return 0;
}

// ---- activation quantisers ---------------------------------------------------------------------------

// The lane share of the offset term for weights of `type` (act_q8_32): −(o/8)·Σq.
static int32_t lane_offset(int type, int32_t sum) {
    return type == PRISM_Q4_0 ? -sum : type == PRISM_Q5_0 ? -2 * sum : 0;
}

// 32-blocks: d = amax/127, q = round(x/d), plus the offset term of `type` from the exact sum of the quants.
static void quantize_act_32(int type, const float *x, act_q8_32 *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = d ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < QK; ++j) {
            int8_t q = (int8_t)roundf(x[j] * id);
            y[i].qs[j] = q;
            sum += q;
        }
        y[i].d = d;
        y[i].lane_offset = lane_offset(type, sum);
    }
}

#if defined(__x86_64__)
// The same, 8 values at a time, bit for bit: roundf (half away from zero) as floor(|v|) + (frac ≥ ½) with the sign
// put back, both exact for |v| ≤ 127. A prompt quantises every row once per product, which the scalar loop made
// a few per cent of Q8_0 prefill.
__attribute__((target("avx2,fma"))) static void quantize_act_32_avx2(int type, const float *x, act_q8_32 *y, size_t nb) {
    const __m256 signbit = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (size_t i = 0; i < nb; i++, x += QK) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) { v[k] = _mm256_loadu_ps(x + 8 * k); m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, v[k])); }
        const float d = hmax8_avx2(m) / 127.f;
        const __m256 id = _mm256_set1_ps(d ? 1.0f / d : 0.0f);
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256 t = _mm256_mul_ps(v[k], id), a = _mm256_andnot_ps(signbit, t), f = _mm256_floor_ps(a);
            f = _mm256_add_ps(f, _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(a, f), half, _CMP_GE_OQ), one));
            q[k] = _mm256_cvttps_epi32(_mm256_or_ps(f, _mm256_and_ps(t, signbit)));
            sum = _mm256_add_epi32(sum, q[k]);
        }
        // int32 → int8 in order: the packs interleave 128-bit halves, the permute puts them back
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, p);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        y[i].d = d;
        y[i].lane_offset = lane_offset(type, _mm_cvtsi128_si32(s4));
    }
}
#endif

// K-blocks (ggml's quantize_row_q8_K): scale −127/max of the signed extreme, 16-value sums.
static void quantize_act_K(const float *x, act_q8_K *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) {
            memset(&y[i], 0, sizeof(act_q8_K));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) y[i].qs[j] = (int8_t)MINI(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

#if defined(__x86_64__)
// The same, 8 values at a time, bit for bit: the product is the scalar one, vcvtps2dq rounds half to even as
// nearest_int does (|v| ≤ 127 here), and the scale comes from the first value of largest magnitude, as the
// scalar loop's strict comparison picks it. Decoding quantises every layer's inputs on one core while the
// others wait, which the scalar loop made about 1% of Q4_K_M decode (perf).
__attribute__((target("avx2,fma"))) static void quantize_act_K_avx2(const float *x, act_q8_K *y, size_t nb) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    for (size_t i = 0; i < nb; i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(x + k)));
        const float amax = hmax8_avx2(m);
        int j = 0;
        while (j < QK_K && fabsf(x[j]) != amax) j++;
        if (j == QK_K || !(amax > 0)) {   // all zero, or NaN: the scalar loop's result
            quantize_act_K(x, y + i, 1);
            continue;
        }
        const float iscale = -127.f / x[j];
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i q[4];
            for (int t = 0; t < 4; t++) q[t] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + k + 8 * t))), top);
            // int32 → int8 in order (as quantize_act_32_avx2)
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
            // the two 16-value sums: lanes 0 and 1 after two horizontal adds and the halves added
            __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            h = _mm256_hadd_epi32(h, h);
            const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            y[i].bsums[k / 16] = (int16_t)_mm_cvtsi128_si32(s);
            y[i].bsums[k / 16 + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
        y[i].d = 1 / iscale;
    }
}
#endif

int prism_quantize_activation(int type, const float *x, void *xq, size_t n) {
    size_t be = prism_q_block_elems(type);
    if (be == 0 || n % be != 0) return -1;
    if (is_k_type(type)) {
#if defined(__x86_64__)
        if (cpu_avx2_fma()) { quantize_act_K_avx2(x, xq, n / QK_K); return 0; }
#endif
        quantize_act_K(x, xq, n / QK_K);
    } else {
#if defined(__x86_64__)
        if (cpu_avx2_fma()) { quantize_act_32_avx2(type, x, xq, n / QK); return 0; }
#endif
        quantize_act_32(type, x, xq, n / QK);
    }
    return 0;
}

// ---- scalar dot products (the reference every SIMD variant must match) ------------------------------

static float dot_Q8_0(const void *wv, const void *xv, size_t nb) {
    const blk_q8_0 *w = wv;
    const act_q8_32 *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += w[i].qs[j] * x[i].qs[j];
        acc += half_to_float(w[i].d) * x[i].d * (float)s;
    }
    return acc;
}

static float dot_Q4_0(const void *wv, const void *xv, size_t nb) {
    const blk_q4_0 *w = wv;
    const act_q8_32 *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < QK / 2; j++) s += (w[i].qs[j] & 0xF) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + 16];
        acc += half_to_float(w[i].d) * x[i].d * (float)(s + 8 * x[i].lane_offset);
    }
    return acc;
}

static float dot_Q5_0(const void *wv, const void *xv, size_t nb) {
    const blk_q5_0 *w = wv;
    const act_q8_32 *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) {
        uint32_t qh; memcpy(&qh, w[i].qh, 4);
        int s = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (w[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (w[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            s += q0 * x[i].qs[j] + q1 * x[i].qs[j + 16];
        }
        acc += half_to_float(w[i].d) * x[i].d * (float)(s + 8 * x[i].lane_offset);
    }
    return acc;
}

// Q4_K and Q5_K (qh NULL for Q4_K) for one super-block.
static float dot_k45(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qh, const uint8_t *qs, const act_q8_K *x) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        q4k_scale_min(j, scales, &sc, &m);
        const uint8_t *q = qs + 32 * (j / 2);
        const int8_t *a = x->qs + 32 * j;
        int s = 0;
        for (int l = 0; l < 32; l++) {
            int v = ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) | (qh ? ((qh[l] >> j) & 1) << 4 : 0);
            s += v * a[l];
        }
        sumi += sc * s;
        summ += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return half_to_float(d16) * x->d * (float)sumi - half_to_float(dmin16) * x->d * (float)summ;
}

static float dot_Q4_K(const void *wv, const void *xv, size_t nb) {
    const blk_q4_K *w = wv;
    const act_q8_K *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) acc += dot_k45(w[i].d, w[i].dmin, w[i].scales, NULL, w[i].qs, &x[i]);
    return acc;
}

static float dot_Q5_K(const void *wv, const void *xv, size_t nb) {
    const blk_q5_K *w = wv;
    const act_q8_K *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) acc += dot_k45(w[i].d, w[i].dmin, w[i].scales, w[i].qh, w[i].qs, &x[i]);
    return acc;
}

static float dot_Q6_K(const void *wv, const void *xv, size_t nb) {
    const blk_q6_K *w = wv;
    const act_q8_K *x = xv;
    float acc = 0;
    for (size_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            // group g = values 16g ..< 16g+16; half h, quarter k (which nibble / qh bits), lane offset
            const int h = g / 8, k = (g % 8) / 2, off = (g % 2) * 16;
            const uint8_t *ql = w[i].ql + 64 * h + (k & 1) * 32, *qh = w[i].qh + 32 * h;
            int s = 0;
            for (int l = off; l < off + 16; l++) {
                int lo = (k < 2) ? (ql[l] & 0xF) : (ql[l] >> 4);
                int v = lo | (((qh[l] >> (2 * k)) & 3) << 4);
                s += v * x[i].qs[16 * g + (l - off)];
            }
            sumi += w[i].scales[g] * (s - 32 * x[i].bsums[g]);
        }
        acc += half_to_float(w[i].d) * x[i].d * (float)sumi;
    }
    return acc;
}

float prism_qdot_ref(int type, const void *w, const void *x, size_t nb) {
    const struct qtype *t = find_type(type);
    return t ? t->dot(w, x, nb) : 0;
}

#define ROW(T, E, B) {PRISM_##T, E, sizeof(B), quantize_##T, dequant_##T, dot_##T}
static const struct qtype types[] = {
    ROW(Q4_0, QK, blk_q4_0), ROW(Q5_0, QK, blk_q5_0), ROW(Q8_0, QK, blk_q8_0),
    ROW(Q4_K, QK_K, blk_q4_K), ROW(Q5_K, QK_K, blk_q5_K), ROW(Q6_K, QK_K, blk_q6_K),
};
#undef ROW

static const struct qtype *find_type(int type) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) if (types[i].type == type) return &types[i];
    return NULL;
}
