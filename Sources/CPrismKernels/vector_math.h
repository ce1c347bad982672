// exp and erf for one vector width, written once: activations.c includes this file once per width (AVX2,
// AVX-512) after defining
//   VF              the float vector type          TARGET      the target attribute
//   OP(name)        that width's intrinsic, e.g. OP(add_ps) = _mm256_add_ps
//   ROUND(x)        round to the nearest integer    TO_FLOAT(i) reinterpret integer lanes as float lanes
//   ZERO_BELOW(x, lo, y)  y, with lanes where x < lo set to 0
//   EXP, ERF        the names of the two functions to define,
// which it undefines again at the end (no include guard on purpose).

// exp: Cephes-style range reduction x = n·ln2 + r and a degree-6 polynomial, ≤ 2 ulp; inputs below −87.3
// give exactly 0 (so −∞ scores from masks vanish, as with expf).
TARGET static inline VF EXP(VF x) {
    const VF lo = OP(set1_ps)(-87.3365447504f);
    VF c = OP(min_ps)(OP(max_ps)(x, lo), OP(set1_ps)(88.3762626647949f));
    // n = round(x / ln2); r = x − n·ln2 (ln2 split in two for accuracy)
    VF n = ROUND(OP(mul_ps)(c, OP(set1_ps)(1.44269504088896341f)));
    VF r = OP(fnmadd_ps)(n, OP(set1_ps)(0.693359375f), c);
    r = OP(fnmadd_ps)(n, OP(set1_ps)(-2.12194440e-4f), r);
    static const float poly[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                                 1.6666665459e-1f, 5.0000001201e-1f};
    VF p = OP(set1_ps)(poly[0]);
    for (int i = 1; i < 6; i++) p = OP(fmadd_ps)(p, r, OP(set1_ps)(poly[i]));
    p = OP(fmadd_ps)(p, OP(mul_ps)(r, r), OP(add_ps)(r, OP(set1_ps)(1.0f)));
    VF scale = TO_FLOAT(OP(slli_epi32)(OP(add_epi32)(OP(cvtps_epi32)(n), OP(set1_epi32)(127)), 23));
    return ZERO_BELOW(x, lo, OP(mul_ps)(p, scale));
}

// erf(x) = sign(x) · (1 − erfc(|x|)), erfc from the Numerical Recipes Chebyshev fit (fractional error
// < 1.2e-7), evaluated with the vector exp: close enough to erff for 1e-6 GELU parity.
TARGET static inline VF ERF(VF x) {
    const VF one = OP(set1_ps)(1.0f), signbit = OP(set1_ps)(-0.0f);
    VF sign = OP(and_ps)(x, signbit);
    VF z = OP(andnot_ps)(signbit, x);
    VF t = OP(div_ps)(one, OP(fmadd_ps)(OP(set1_ps)(0.5f), z, one));
    static const float poly[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f,
                                 -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f};
    VF p = OP(set1_ps)(poly[0]);
    for (int i = 1; i < 10; i++) p = OP(fmadd_ps)(p, t, OP(set1_ps)(poly[i]));
    VF erfc = OP(mul_ps)(t, EXP(OP(sub_ps)(p, OP(mul_ps)(z, z))));
    return OP(or_ps)(OP(sub_ps)(one, erfc), sign);
}

#undef VF
#undef TARGET
#undef OP
#undef ROUND
#undef TO_FLOAT
#undef ZERO_BELOW
#undef EXP
#undef ERF
