package tensor

import "math"

// F16FromF32 rounds f to IEEE-754 binary16 with round-to-nearest-even, as
// PyTorch's .to(torch.float16): values past the largest half (65504, with
// ties at 65520 going up) become ±Inf, tiny values become subnormals or ±0,
// NaN becomes the quiet NaN 0x7e00 with its sign (the payload is dropped,
// as torch does).
func F16FromF32(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7e00
	case a >= 0x477ff000: // >= 65520 rounds to Inf (and Inf stays Inf)
		return sign | 0x7c00
	case a >= 0x38800000: // normal half: exponent >= -14
		// Rebias the exponent (127 -> 15) and round the 13 dropped bits.
		a -= (127 - 15) << 23
		a += 0xfff + (a>>13)&1
		return sign | uint16(a>>13)
	case a < 0x33000000: // below half the smallest subnormal (2^-25): ±0
		return sign
	}
	// Subnormal half: value = m · 2^-24 with m < 1024. Shift the full
	// 24-bit significand right so that its unit is 2^-24, rounding to even.
	e := a >> 23                     // 102..112
	m := a&0x7fffff | 0x800000       // 24-bit significand, value m·2^(e-150)
	shift := 126 - e                 // 14..24: m·2^(e-150) = (m >> shift)·2^-24
	half := uint32(1) << (shift - 1) // the tie
	q := m >> shift
	rem := m & (1<<shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return sign | uint16(q)
}

// F32FromF16 widens a binary16 exactly, as torch's .float(): a NaN keeps
// its payload and is made quiet. It is a few integer operations, inlined
// (the GEMM packing calls it per element; a 64K-entry table would not
// stay in L1 there).
func F32FromF16(h uint16) float32 {
	s := uint32(h&0x8000) << 16
	u := uint32(h&0x7fff) << 13 // exponent and mantissa in f32 position
	switch h & 0x7c00 {
	case 0: // ±0 or subnormal m·2^-24 = 2^-14·(1 + m/1024) − 2^-14, exact
		return math.Float32frombits(math.Float32bits(math.Float32frombits(u+113<<23)-1.0/16384) | s)
	case 0x7c00: // Inf, or NaN made quiet: bit 22 set if the mantissa is not 0
		return math.Float32frombits(u | 0x7f800000 | (u+0x3fffff)&0x400000 | s)
	}
	return math.Float32frombits(u + 112<<23 | s) // rebias the exponent: 15 -> 127
}

// f32FromF16Bits is the plain definition of F32FromF16, field by field,
// that the tests check it against for all 65,536 halves.
func f32FromF16Bits(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch {
	case e == 0x1f && m != 0: // NaN, quiet
		return math.Float32frombits(sign | 0x7fc00000 | m<<13)
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7f800000)
	case e != 0:
		return math.Float32frombits(sign | (e+127-15)<<23 | m<<13)
	}
	v := float32(m) * (1.0 / (1 << 24)) // subnormal or zero: m·2^-24, exact
	if sign != 0 {
		v = -v
	}
	return v
}

// F16FromF32Slice converts src into dst (same length).
func F16FromF32Slice(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = F16FromF32(f)
	}
}

// F32FromF16Slice converts src into dst (same length).
func F32FromF16Slice(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = F32FromF16(h)
	}
}
