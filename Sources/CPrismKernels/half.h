// IEEE half <-> float for one value, exact and round-to-nearest-even (what F16C does), shared by the
// conversion kernels and the quantised-block code (block scales are f16).
#ifndef PRISM_HALF_H
#define PRISM_HALF_H
#include <stdint.h>
#include <string.h>

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: renormalise
            int e = -1;
            do { e++; mant <<= 1; } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) bits = sign | 0x7f800000u | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f; memcpy(&f, &bits, 4); return f;
}

static inline uint16_t float_to_half(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx > 0x7f800000u) return (uint16_t)(sign | 0x7e00);          // NaN
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);         // overflow → inf (after rounding)
    if (absx < 0x38800000u) {                                          // subnormal half or zero
        if (absx < 0x33000000u) return (uint16_t)sign;                  // below half of the smallest subnormal
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        // value = m * 2^(e-150); the half subnormal unit is 2^-24, so q = m * 2^(e-126)
        uint32_t s = 126 - e;                                           // right shift amount (>= 1)
        uint32_t q = m >> s, rem = m & ((1u << s) - 1), halfway = 1u << (s - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = absx + 0xfff + ((absx >> 13) & 1);                    // round to nearest even
    r -= 0x38000000u;                                                   // rebias 127 → 15
    return (uint16_t)(sign | (r >> 13));
}

#endif
