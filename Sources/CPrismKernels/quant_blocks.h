// Block layouts of the GGUF quantised types exactly as ggml defines them (ggml-common.h), plus the two
// activation formats the integer dot products use. Everything is little-endian and byte-packed; scales
// marked f16 are IEEE half. Element k of a row lives in block k / block_elems.
#ifndef PRISM_QUANT_BLOCKS_H
#define PRISM_QUANT_BLOCKS_H
#include <stddef.h>
#include <stdint.h>
#include "half.h"

#define QK 32     // values per block of the 32-types
#define QK_K 256  // values per super-block of the K-types

// Q4_0: 32 values; d f16; 16 bytes of nibbles: byte j holds value j (low) and value j+16 (high);
// w = d·(q − 8).
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;                       // 18 B
// Q5_0: as Q4_0 plus the 5th bits: bit j of the little-endian u32 qh belongs to value j; w = d·(q − 16).
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_0;        // 22 B
// Q8_0: 32 values; d f16; 32 int8; w = d·q.
typedef struct { uint16_t d; int8_t qs[QK]; } blk_q8_0;                            // 34 B
// Q4_K: 256 values = 8 sub-blocks × 32; d, dmin f16; 12 bytes of 6-bit scales and mins (sc0-3 and m0-3 in
// the low 6 bits of bytes 0-3 / 4-7, sc4-7 and m4-7 as low/high nibbles of bytes 8-11 with their top two
// bits in the top bits of bytes 0-3 / 4-7); 128 bytes of nibbles: byte 32c+l holds value 64c+l (low) and
// 64c+32+l (high). w = d·sc·q − dmin·m.
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } blk_q4_K;        // 144 B
// Q5_K: as Q4_K plus qh[32]: bit 2c of qh[l] is the 5th bit of value 64c+l, bit 2c+1 that of 64c+32+l.
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } blk_q5_K;  // 176 B
// Q6_K: 256 values = 16 groups × 16, w = d·sc·(q − 32) with q 6 bits. Per half h (128 values): ql[64h+l]
// low nibble = value 128h+l, ql[64h+32+l] low = 128h+32+l, ql[64h+l] high = 128h+64+l, ql[64h+32+l] high =
// 128h+96+l; qh[32h+l] bits 0-1, 2-3, 4-5, 6-7 are the top two bits of those four values; int8 scales
// per group of 16; d f16 last.
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } blk_q6_K;  // 210 B

// Activations for the 32-types: float scale, the offset term's share per int32 lane, 32 int8. Q4_0 and Q5_0 hold
// unsigned values u with an offset o (8, 16): w·x = u·x − o·Σq, and the dot kernels start each block's 8 int32
// lanes at lane_offset = −(o/8)·Σq (exact), so the offset costs no operation there; 0 for Q8_0. The activations are
// therefore made for one weight type.
typedef struct { float d; int32_t lane_offset; int8_t qs[QK]; } act_q8_32;        // 40 B
// Activations for the K-types (ggml's block_q8_K): float scale, 256 int8, sums of each 16 quants.
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } act_q8_K;  // 292 B

// Q4_K / Q5_K 6-bit scale and min of sub-block j.
static inline void q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63; *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Internal kernel entry points (quant_ref.c, quant_dot.c).
typedef void (*prism_qdot_fn)(const void *w, const void *x, size_t nblocks, float *out);
float prism_qdot_ref(int type, const void *w, const void *x, size_t nblocks);

#endif
