package kernels

import "math"

// Fast scalar approximations of exp and of the normal distribution's tails,
// used by softmax, cross-entropy and GELU in place of math.Exp and math.Erf.
// (Where AVX2/FMA assembly runs, softmax and GELU use its 8-lane float32
// versions of the same formulas instead: see rows.go.)
//
// They compute in float64: on amd64 a scalar float64 multiply or add costs
// the same as a float32 one, and working in float64 removes the usual float32
// tricks (split constants for the range reduction, split squares for
// exp(-x²/2)) while the results are rounded to float32 once, at the end.
// Accuracy (checked in fastmath_test.go against math.Exp and math.Erfc):
// fastExp within 1e-9 relative, the normal tail within 2e-8 relative, so the
// float32 kernels built on them are within about one float32 ulp.

// exp2Table[j] = 2^(j/32): the table part of fastExp's range reduction.
var exp2Table = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// fastExp returns e^x for x ≤ 709 in float64 with a relative error below
// 1e-9: plenty for a float32 result, and ~3x cheaper than math.Exp, mostly
// because it inlines (written with care for the inliner's budget).
//
// Range reduction: x = (32·m + j)·ln2/32 + r with |r| ≤ ln2/64, so
// e^x = 2^m · 2^(j/32) · e^r, and e^r needs only its cubic Taylor polynomial
// (truncation error r⁴/24 < 6e-10). Below −600, x saturates: e^−600 is 0 in
// float32, yet far from float64's subnormals, whose arithmetic is ~100x
// slower, and nonzero, so no ∞·0 = NaN downstream. Above 709 the result is
// garbage: every caller here passes x ≤ 603 (softmax and the normal density
// x ≤ 0). NaN gives NaN.
func fastExp(x float64) float64 {
	// Adding 1.5·2⁵² rounds a float64 of magnitude < 2⁵¹ to an integer,
	// which then sits in the low bits of the sum's mantissa.
	const roundMagic, roundMagicBits = 0x1.8p52, 0x4338000000000000
	if x < -600 { // a branch: callers almost never take it
		x = -600
	}
	kd := x*(32/math.Ln2) + roundMagic
	n := int64(math.Float64bits(kd)) - roundMagicBits // round(x·32/ln2)
	r := x - (kd-roundMagic)*(math.Ln2/32)
	p := 1 + r*(1+r*(0.5+r*(1.0/6)))
	return math.Float64frombits(uint64(n>>5+1023)<<52) * exp2Table[n&31] * p // 2^⌊n/32⌋·2^(j/32)·e^r
}

// The upper tail of the standard normal, Φ(−u) = P(Z > u), is computed
// through the Mills ratio R(u) = Φ(−u)/φ(u), which is smooth and bounded on
// [0, ∞), so the only exponential is the density:
//
//	Φ(−u) = φ(u)·R(u),  R(u) = t·millsPoly(t),  t = 1/(1 + u/3.5)
//
// with relative error below 2e-8 for u ≤ 34 (Φ(−34) ≈ 1e-253, far below
// float32's range; beyond, fastExp saturates). GELU uses it in place of erf.

const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)

// millsPoly(t) ≈ R(3.5·(1−t)/t)/t, which is analytic in t on [0, 1] (it
// tends to 1/3.5 as u → ∞, t → 0): a degree-10 Chebyshev least-squares fit
// on [0, 1] made with mpmath.chebyfit at 40 digits, max relative error of R
// 1.2e-8 (TestMillsRatio checks it against math.Erfc).
func millsPoly(t float64) float64 {
	r := -0.036497434915720085
	r = r*t + 0.16978700380075104
	r = r*t - 0.2704475865844399
	r = r*t + 0.13946609137980806
	r = r*t - 0.044443291912225534
	r = r*t + 0.0964420661882316
	r = r*t + 0.14927590258822707
	r = r*t + 0.21591894848651388
	r = r*t + 0.2623837434443242
	r = r*t + 0.2857144000219131
	return r*t + 0.285714285290255
}
