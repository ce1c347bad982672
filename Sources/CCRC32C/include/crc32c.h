#ifndef PRISM_CRC32C_H
#define PRISM_CRC32C_H
#include <stddef.h>
#include <stdint.h>

// CRC-32C (Castagnoli, reflected poly 0x82F63B78). `crc` is a previous result (0 to start);
// init/final xor 0xFFFFFFFF are applied inside, so crc32c_extend(0, "123456789", 9) == 0xE3069283.
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);
// The portable table path, exposed so tests can check both paths agree.
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t n);
// 1 when the SSE4.2 instruction is used.
int crc32c_hardware_available(void);
// TFRecord's mask: rotate right by 15, add 0xA282EAD8.
static inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
static inline uint32_t crc32c_unmask(uint32_t masked) {
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}
#endif
