package tensor

import "math"

// BF16FromF32 rounds f to bfloat16 with round-to-nearest-even, as PyTorch's
// .to(torch.bfloat16). NaN stays NaN (quiet); infinities are kept.
func BF16FromF32(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN: keep sign, force a quiet payload bit
		return uint16(u>>16) | 0x40
	}
	// Add 0x7fff plus the lowest kept bit: ties go to the even neighbour.
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F32FromBF16 widens a bfloat16 exactly.
func F32FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// BF16FromF32Slice converts src into dst (same length).
func BF16FromF32Slice(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = BF16FromF32(f)
	}
}

// F32FromBF16Slice converts src into dst (same length).
func F32FromBF16Slice(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = F32FromBF16(h)
	}
}
