// CRC-32C with the SSE4.2 crc32 instruction where the CPU has it, a slicing-by-8 table otherwise.
#include "crc32c.h"
#include <string.h>

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();  // idempotent; races are benign
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        uint32_t lo = (uint32_t)w ^ c, hi = (uint32_t)(w >> 32);
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8; n -= 8;
    }
    while (n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

// One crc32 stream, unrolled 8×: ~8 bytes per 3 cycles, several GB/s, well above what TFRecord needs.
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    uint64_t c = (uint32_t)~crc;
    while (n && ((uintptr_t)p & 7)) { c = _mm_crc32_u8((uint32_t)c, *p++); n--; }
    while (n >= 64) {
        uint64_t w[8]; memcpy(w, p, 64);
        c = _mm_crc32_u64(c, w[0]); c = _mm_crc32_u64(c, w[1]);
        c = _mm_crc32_u64(c, w[2]); c = _mm_crc32_u64(c, w[3]);
        c = _mm_crc32_u64(c, w[4]); c = _mm_crc32_u64(c, w[5]);
        c = _mm_crc32_u64(c, w[6]); c = _mm_crc32_u64(c, w[7]);
        p += 64; n -= 64;
    }
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c = _mm_crc32_u64(c, w); p += 8; n -= 8; }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

int crc32c_hardware_available(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = __builtin_cpu_supports("sse4.2") ? 1 : 0; }
    return cached;
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n) {
    return crc32c_hardware_available() ? crc32c_hw(crc, data, n) : crc32c_extend_portable(crc, data, n);
}
#else
int crc32c_hardware_available(void) { return 0; }
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n) { return crc32c_extend_portable(crc, data, n); }
#endif
