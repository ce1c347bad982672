#ifndef PRISM_KERNELS_H
#define PRISM_KERNELS_H
#include <stddef.h>
#include <stdint.h>

// Widen n half-precision values to float32. Uses F16C / AVX2 when the CPU has them.
void prism_f16_to_f32(const uint16_t *src, float *dst, size_t n);
// Widen n bfloat16 values to float32 (a 16-bit left shift of the bit pattern).
void prism_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
// Narrow float32 to bfloat16 / float16 with round-to-nearest-even (NaN stays NaN).
void prism_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
void prism_f32_to_f16(const float *src, uint16_t *dst, size_t n);
// Rounds float32 values to the nearest bfloat16 (ties to even), kept as float32: what a bf16 GEMM does to its
// operands (the emulation of bf16 numerics on f32 kernels). src and dst may alias.
void prism_round_bf16(const float *src, float *dst, size_t n);
// 1 when the vector paths are in use (for benchmarks and diagnostics).
int prism_kernels_have_f16c(void);


// y[m, rows] = x[m, cols] · W[rows, cols]ᵀ for a 16-bit weight matrix (is_bf16: 1 = bf16, 0 = f16),
// restricted to weight rows [row0, row1). Fused widen + FMA: each weight row is read once for all m
// inputs, which is what bandwidth-bound decoding needs. ldy is the row stride of y.
void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int is_bf16, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy);

// Softmax of one row (max-subtracted; an all −∞ row gives zeros). src and dst may alias.
void prism_softmax_row(const float *src, float *dst, size_t n);

// One step of the online (FlashAttention) softmax for one query row and a new block of n scores: with the row's
// running max *m and running sum *l, replaces s by exp(s − m') (m' = max(*m, max s)), sets *m = m' and
// *l = *l·c + Σ exp(s − m'), and returns c = exp(m_old − m'), the factor for the row's previous output.
// All −∞ so far: exps are 0 and c = 1 (nothing to rescale). Scores of −∞ (masked) give exactly 0.
float prism_online_softmax_row(float *s, size_t n, float *m, float *l);

// Softmax of each of `count` consecutive segments of `len` values, in place (for many short rows).
void prism_softmax_segments(float *x, size_t count, size_t len);

// LayerNorm of one row of n values with biased variance; w and b may be NULL. src and dst may alias.
void prism_layernorm_row(const float *src, float *dst, size_t n, const float *w, const float *b, float eps);

// In-place activations (PyTorch definitions), vectorised where the CPU allows.
enum { PRISM_ACT_GELU = 1, PRISM_ACT_GELU_TANH = 2, PRISM_ACT_SILU = 3, PRISM_ACT_SIGMOID = 4 };
void prism_activation(float *x, size_t n, int kind);

#endif
