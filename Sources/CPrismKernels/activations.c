// Vectorised transcendental kernels: softmax rows and the activations, AVX2+FMA with portable fallbacks.
// exp uses Cephes-style range reduction (x = n·ln2 + r) and a degree-6 polynomial: ≤ 2 ulp over the
// float range, inputs below −87.3 give exactly 0 (so −∞ scores from masks vanish, as with expf).
#include "prism_kernels.h"
#include "cpu.h"
#include <math.h>

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float gelu_tanh(float x) { return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x))); }
static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

static void activation_scalar(float *x, size_t n, int kind) {
    switch (kind) {
    case PRISM_ACT_GELU: for (size_t i = 0; i < n; i++) x[i] = gelu_erf(x[i]); break;
    case PRISM_ACT_GELU_TANH: for (size_t i = 0; i < n; i++) x[i] = gelu_tanh(x[i]); break;
    case PRISM_ACT_SILU: for (size_t i = 0; i < n; i++) x[i] = x[i] * sigmoidf_(x[i]); break;
    case PRISM_ACT_SIGMOID: for (size_t i = 0; i < n; i++) x[i] = sigmoidf_(x[i]); break;
    default: break;
    }
}

static void softmax_scalar(const float *src, float *dst, size_t n) {
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++) m = src[i] > m ? src[i] : m;
    if (m == -INFINITY) { for (size_t i = 0; i < n; i++) dst[i] = 0; return; }
    float s = 0;
    for (size_t i = 0; i < n; i++) { float e = expf(src[i] - m); dst[i] = e; s += e; }
    float inv = 1.0f / s;
    for (size_t i = 0; i < n; i++) dst[i] *= inv;
}

static void layernorm_scalar(const float *src, float *dst, size_t n, const float *w, const float *b, float eps) {
    float mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += src[i];
    mean /= (float)n;
    for (size_t i = 0; i < n; i++) { float c = src[i] - mean; var += c * c; }
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (size_t i = 0; i < n; i++) {
        float y = (src[i] - mean) * inv;
        if (w) y *= w[i];
        if (b) y += b[i];
        dst[i] = y;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_avx2.h"
#define AVX __attribute__((target("avx2,fma")))

#define VF __m256
#define TARGET AVX
#define OP(name) _mm256_##name
#define ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define TO_FLOAT(i) _mm256_castsi256_ps(i)
#define ZERO_BELOW(x, lo, y) _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y)
#define EXP exp256
#define ERF erf256
#include "vector_math.h"

AVX static float max_avx2(const float *x, size_t n) {
    size_t vec = n & ~(size_t)7, i;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (i = 0; i < vec; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = hmax8_avx2(vm);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

// dst = exp(src − mx), returns Σ dst (src and dst may alias).
AVX static float exp_sum_avx2(const float *src, float *dst, size_t n, float mx) {
    size_t vec = n & ~(size_t)7, i;
    __m256 vmax = _mm256_set1_ps(mx), vs = _mm256_setzero_ps();
    for (i = 0; i < vec; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(src + i), vmax));
        _mm256_storeu_ps(dst + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    float s = hsum8_avx2(vs);
    for (; i < n; i++) { float e = expf(src[i] - mx); dst[i] = e; s += e; }
    return s;
}

AVX static void softmax_avx2(const float *src, float *dst, size_t n) {
    size_t vec = n & ~(size_t)7, i;
    float m = max_avx2(src, n);
    if (m == -INFINITY) { for (i = 0; i < n; i++) dst[i] = 0; return; }
    float s = exp_sum_avx2(src, dst, n, m);
    __m256 vinv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i < vec; i += 8) _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(dst + i), vinv));
    for (; i < n; i++) dst[i] *= 1.0f / s;
}

AVX static float online_softmax_avx2(float *s, size_t n, float *m, float *l) {
    float blockMax = max_avx2(s, n), old = *m, mx = blockMax > old ? blockMax : old;
    if (mx == -INFINITY) { for (size_t i = 0; i < n; i++) s[i] = 0; return 1.0f; }
    float sum = exp_sum_avx2(s, s, n, mx);
    float c = old == -INFINITY ? 0.0f : expf(old - mx);
    *m = mx;
    *l = *l * c + sum;
    return c;
}

AVX static void activation_avx2(float *x, size_t n, int kind) {
    size_t vec = n & ~(size_t)7;
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (size_t i = 0; i < vec; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), y;
        switch (kind) {
        case PRISM_ACT_GELU:
            y = _mm256_mul_ps(_mm256_mul_ps(half, v),
                              _mm256_add_ps(one, erf256(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)))));
            break;
        case PRISM_ACT_GELU_TANH: {
            __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f),
                                     _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), _mm256_mul_ps(v, v), v));
            // tanh(u) = 1 − 2 / (e^{2u} + 1)
            __m256 th = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f),
                                                         _mm256_add_ps(exp256(_mm256_add_ps(u, u)), one)));
            y = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, th));
            break;
        }
        case PRISM_ACT_SILU:
            y = _mm256_div_ps(v, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
            break;
        case PRISM_ACT_SIGMOID:
            y = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
            break;
        default: y = v;
        }
        _mm256_storeu_ps(x + i, y);
    }
    activation_scalar(x + vec, n - vec, kind);
}

// Two-pass mean and biased variance with 8-lane partial sums (the order PyTorch's vectorised CPU kernel
// also departs from a serial sum in).
AVX static void layernorm_avx2(const float *src, float *dst, size_t n, const float *w, const float *b, float eps) {
    size_t vec = n & ~(size_t)7, i;
    __m256 vs = _mm256_setzero_ps();
    for (i = 0; i < vec; i += 8) vs = _mm256_add_ps(vs, _mm256_loadu_ps(src + i));
    float sum = hsum8_avx2(vs);
    for (; i < n; i++) sum += src[i];
    float mean = sum / (float)n;
    __m256 vmean = _mm256_set1_ps(mean), vv = _mm256_setzero_ps();
    for (i = 0; i < vec; i += 8) { __m256 c = _mm256_sub_ps(_mm256_loadu_ps(src + i), vmean); vv = _mm256_fmadd_ps(c, c, vv); }
    float var = hsum8_avx2(vv);
    for (; i < n; i++) { float c = src[i] - mean; var += c * c; }
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i < vec; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(src + i), vmean), vinv);
        if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
        if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(dst + i, y);
    }
    for (; i < n; i++) {
        float y = (src[i] - mean) * inv;
        if (w) y *= w[i];
        if (b) y += b[i];
        dst[i] = y;
    }
}

// Softmax of `count` consecutive segments of `len` values, in place: per-segment maxima subtracted, one vector
// exp over the whole block (short segments would otherwise run the scalar tail), then per-segment sums.
AVX static void softmax_segments_avx2(float *x, size_t count, size_t len) {
    size_t n = count * len, vec = n & ~(size_t)7, i;
    for (size_t s = 0; s < count; s++) {
        float *seg = x + s * len, m = -INFINITY;
        for (size_t j = 0; j < len; j++) m = seg[j] > m ? seg[j] : m;
        // an all −∞ segment becomes −∞ − 0: exp gives 0 and the sum below is 0 (zeros out, like softmax_row)
        if (m == -INFINITY) m = 0;
        for (size_t j = 0; j < len; j++) seg[j] -= m;
    }
    for (i = 0; i < vec; i += 8) _mm256_storeu_ps(x + i, exp256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = expf(x[i]);
    for (size_t s = 0; s < count; s++) {
        float *seg = x + s * len, sum = 0;
        for (size_t j = 0; j < len; j++) sum += seg[j];
        float inv = sum > 0 ? 1.0f / sum : 0;
        for (size_t j = 0; j < len; j++) seg[j] *= inv;
    }
}

// AVX-512 GELU: the same exp and erf as the AVX2 path on 16 lanes (this is most of SAM's decoder upscaling).
#define AVX512 __attribute__((target("avx512f,avx512dq")))

#define VF __m512
#define TARGET AVX512
#define OP(name) _mm512_##name
#define ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define TO_FLOAT(i) _mm512_castsi512_ps(i)
#define ZERO_BELOW(x, lo, y) _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), y)
#define EXP exp512
#define ERF erf512
#include "vector_math.h"

AVX512 static void gelu_avx512(float *x, size_t n) {
    size_t vec = n & ~(size_t)15;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < vec; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(half, v),
                                 _mm512_add_ps(one, erf512(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f)))));
        _mm512_storeu_ps(x + i, y);
    }
    activation_scalar(x + vec, n - vec, PRISM_ACT_GELU);
}

static int have_avx512(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"); }
    return cached;
}

#endif

void prism_softmax_row(const float *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (cpu_avx2_fma()) { softmax_avx2(src, dst, n); return; }
#endif
    softmax_scalar(src, dst, n);
}

static float online_softmax_scalar(float *s, size_t n, float *m, float *l) {
    float old = *m, mx = old;
    for (size_t i = 0; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    if (mx == -INFINITY) { for (size_t i = 0; i < n; i++) s[i] = 0; return 1.0f; }
    float sum = 0;
    for (size_t i = 0; i < n; i++) { float e = expf(s[i] - mx); s[i] = e; sum += e; }
    float c = old == -INFINITY ? 0.0f : expf(old - mx);
    *m = mx;
    *l = *l * c + sum;
    return c;
}

float prism_online_softmax_row(float *s, size_t n, float *m, float *l) {
#if defined(__x86_64__)
    if (cpu_avx2_fma()) return online_softmax_avx2(s, n, m, l);
#endif
    return online_softmax_scalar(s, n, m, l);
}

void prism_activation(float *x, size_t n, int kind) {
#if defined(__x86_64__)
    if (kind == PRISM_ACT_GELU && have_avx512()) { gelu_avx512(x, n); return; }
    if (cpu_avx2_fma()) { activation_avx2(x, n, kind); return; }
#endif
    activation_scalar(x, n, kind);
}

void prism_layernorm_row(const float *src, float *dst, size_t n, const float *w, const float *b, float eps) {
#if defined(__x86_64__)
    if (cpu_avx2_fma()) { layernorm_avx2(src, dst, n, w, b, eps); return; }
#endif
    layernorm_scalar(src, dst, n, w, b, eps);
}

void prism_softmax_segments(float *x, size_t count, size_t len) {
#if defined(__x86_64__)
    if (cpu_avx2_fma()) { softmax_segments_avx2(x, count, len); return; }
#endif
    for (size_t s = 0; s < count; s++) softmax_scalar(x + s * len, x + s * len, len);
}
