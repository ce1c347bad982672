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


// y[m, rows] = x[m, cols] · W[rows, cols]ᵀ for a 16-bit weight matrix, restricted to weight rows [row0, row1).
// Fused widen + multiply-add: each weight row is read once for all m inputs, which is what decoding needs. ldy is
// the row stride of y. kind: f16 or bf16 weights with f32 inputs, or bf16 weights at bf16 precision (inputs
// rounded to bf16 as a bf16 GEMM rounds them; f32 accumulation). x is the input as prism_gemm_w16_prepare leaves
// it: call that once per product, then this for each range of rows.
enum { PRISM_W16_F16 = 0, PRISM_W16_BF16 = 1, PRISM_W16_BF16_PRECISION = 2 };
void prism_gemm_w16(const float *x, size_t m, const uint16_t *w, int kind, size_t cols,
                    size_t row0, size_t row1, float *y, size_t ldy);
// The input x[m, cols] in the form the kernel for this kind reads it, written to out (m·cols floats); returns 1,
// or 0 where the kernel reads x as it is (out untouched).
int prism_gemm_w16_prepare(const float *x, size_t m, size_t cols, int kind, float *out);
// Selects a kernel variant of the two functions above for tests and benchmarks (0 portable C, 1 AVX2, 2 AVX-512F,
// 3 AVX512-BF16; each kind uses the best one it has up to the selected one): returns 1, or 0 where the CPU cannot
// run it (nothing changes); -1 restores the best. Not for use while a product runs.
int prism_gemm_w16_select(int variant);

// Softmax of one row (max-subtracted; an all −∞ row gives zeros). src and dst may alias.
void prism_softmax_row(const float *src, float *dst, size_t n);

// One step of the online (FlashAttention) softmax for one query row and a new block of n scores: with the row's
// running max *m and running sum *l, replaces s by exp(s − m') (m' = max(*m, max s)), sets *m = m' and
// *l = *l·c + Σ exp(s − m'), and returns c = exp(m_old − m'), the factor for the row's previous output.
// All −∞ so far: exps are 0 and c = 1 (nothing to rescale). Scores of −∞ (masked) give exactly 0.
float prism_online_softmax_row(float *s, size_t n, float *m, float *l);

// Softmax of each of `count` consecutive segments of `len` values, in place (for many short rows).
void prism_softmax_segments(float *x, size_t count, size_t len);

// y[j] = x · w_j for n rows w_j of length d, ldw floats apart (a decode-sized f32 product).
void prism_dot_rows(const float *x, size_t d, const float *w, size_t ldw, size_t n, float *y);

// Attention of `rows` query rows (d values each, contiguous) against keys and values read in place: row i sees
// the first visible[i] keys (k rows ldk apart, d values; v rows ldv apart, dv values) and writes dv values to
// out + i·dv. scores: scratch of 4·max(visible) floats. For a few rows (a decoding token's heads), where a GEMM
// library's packing costs more than the products; consecutive rows that see the same keys share their loads.
void prism_attention_rows(const float *q, size_t rows, size_t d, const float *k, size_t ldk, const float *v,
                          size_t ldv, size_t dv, const size_t *visible, float scale, float *scores, float *out);
// For tests and benchmarks: 1 selects the AVX-512 kernel of prism_attention_rows (returns 0 where the CPU has none),
// 0 the AVX2 one, -1 the CPU's best again. Not for use while attention runs.
int prism_attention_rows_select(int use_avx512);

// LayerNorm of one row of n values with biased variance; w and b may be NULL. src and dst may alias.
void prism_layernorm_row(const float *src, float *dst, size_t n, const float *w, const float *b, float eps);

// In-place activations (PyTorch definitions), vectorised where the CPU allows.
enum { PRISM_ACT_GELU = 1, PRISM_ACT_GELU_TANH = 2, PRISM_ACT_SILU = 3, PRISM_ACT_SIGMOID = 4 };
void prism_activation(float *x, size_t n, int kind);

// ---- GGUF block-quantised weights (quant_ref.c, quant_dot.c) -----------------------------------------
// Type ids are ggml's (GGUF tensor type field).
enum { PRISM_Q4_0 = 2, PRISM_Q5_0 = 6, PRISM_Q8_0 = 8, PRISM_Q4_K = 12, PRISM_Q5_K = 13, PRISM_Q6_K = 14 };
// Values per block and bytes per block (0 for a type this library does not know).
size_t prism_q_block_elems(int type);
size_t prism_q_block_bytes(int type);
// llama.cpp's deterministic reference quantisers (byte-identical files) and its dequantisers, for n values
// (a multiple of the block size; returns -1 otherwise or for an unknown type).
int prism_quantize_row(int type, const float *x, void *y, size_t n);
int prism_dequantize_row(int type, const void *x, float *y, size_t n);
// Activations for the integer dot products: int8 blocks of 32 (for Q4_0/Q5_0/Q8_0) or of 256 (K-types), made for
// weights of `type` (the 32-value blocks carry that type's offset term).
size_t prism_q_act_row_bytes(int type, size_t n);
int prism_quantize_activation(int type, const float *x, void *xq, size_t n);
// y[i·ldy + r] = W[r] · x_i for weight rows r in [row0, row1) and m activation rows (quantised, xq_stride
// bytes apart). W rows are row_bytes apart, cols values each. Uses the best kernel variant the CPU runs; with
// m ≥ 2 on x86, the multi-row kernels (same results as row by row up to float rounding; bit-identical for Q6_K).
void prism_qgemv(int type, const void *w, size_t row_bytes, size_t cols, const void *xq, size_t xq_stride,
                 size_t m, size_t row0, size_t row1, float *y, size_t ldy);
// Kernel variants: 0 portable C, 1 AVX2, 2 AVX-VNNI, 3 AVX512-VNNI. The dispatcher uses the best supported one;
// tests run each supported one against the portable reference.
enum { PRISM_ISA_PORTABLE = 0, PRISM_ISA_AVX2 = 1, PRISM_ISA_AVXVNNI = 2, PRISM_ISA_AVX512VNNI = 3, PRISM_ISA_COUNT = 4 };
int prism_q_isa_supported(int isa);
int prism_q_isa_selected(void);
const char *prism_q_isa_name(int isa);
// One dot product (nblocks blocks) with a given variant; returns 0 and stores it in *out, -1 if unsupported.
int prism_qdot_isa(int isa, int type, const void *w, const void *xq, size_t nblocks, float *out);

// ---- Worker pool (pool.c) ----------------------------------------------------------------------------------
// fn(ctx, i) for i in [0, count), spread over the pool's threads and the caller (chunks are claimed in order as
// threads free up). Returns -1 without running anything when another thread's job holds the pool (the caller
// then runs it another way), 0 when done. Configure before the first run: threads in all (callers included) and
// how long an idle worker spins before it sleeps.
typedef void (*prism_pool_fn)(void *ctx, size_t index);
void prism_pool_configure(int threads, long spin_us);
int prism_pool_run(size_t count, prism_pool_fn fn, void *ctx);
// Tells spinning workers to sleep now (before a library's own threads take the cores).
void prism_pool_nap(void);

// ---- OpenMP spin (openmp_spin.c) ---------------------------------------------------------------------------
// The setting the process adds to its environment at start-up ("GOMP_SPINCOUNT=…"), or NULL when `envp` (an
// environ-style array) already says how OpenMP threads should wait.
const char *prism_openmp_spin_setting(char *const *envp);

// Returns the heap's free pages to the system (glibc keeps freed memory in per-thread arenas otherwise).
void prism_release_free_memory(void);

#endif
