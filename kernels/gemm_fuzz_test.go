package kernels

import (
	"math/rand/v2"
	"testing"
)

// FuzzGemm checks the fast GEMM against GemmRef over shapes, leading
// dimensions, transposes, storage dtypes, scalings and implementations.
// Without -fuzz it runs the seed corpus below (a fraction of a second); with
// -fuzz=FuzzGemm it explores further.
//
// flags bits: 0 transA, 1 transB, 2 bf16 A, 3 bf16 B, 4 beta = 0 (C full of
// NaN), 5 alpha ≠ 1, 6-7 implementation (0 default, 1 pure Go, 2 asm with
// A packed, 3 asm with A in place), and threads = 1 + pads>>6.
func FuzzGemm(f *testing.F) {
	for _, s := range []struct {
		m, n uint8
		k    uint16
		pads uint8
		fl   uint8
	}{
		{1, 1, 1, 0, 0}, {7, 17, 5, 0x09, 0x03}, {6, 16, 256, 0, 0x40},
		{17, 33, 257, 0x12, 0x8c}, {65, 63, 17, 0x7f, 0xd1}, {13, 5, 0, 0x40, 0x10},
		{100, 20, 64, 0x55, 0x22}, {31, 48, 300, 0x48, 0xf6}, {2, 70, 9, 0xc0, 0x5f},
		{64, 16, 16, 0x40, 0xc4}, {12, 96, 33, 0x24, 0x81}, {3, 3, 600, 0x01, 0x6a},
	} {
		f.Add(s.m, s.n, s.k, s.pads, s.fl, uint64(s.k)*31+uint64(s.fl))
	}
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, pads, fl uint8, seed uint64) {
		tc := gemmCase{
			m: int(m) % 100, n: int(n) % 100, k: int(k) % 700,
			padA: int(pads) & 7, padB: int(pads) >> 3 & 7, padC: int(pads) >> 5 & 1,
			transA: fl&1 != 0, transB: fl&2 != 0, bf16A: fl&4 != 0, bf16B: fl&8 != 0,
			alpha: 1, beta: 0.75,
		}
		if fl&16 != 0 {
			tc.beta = 0
		}
		if fl&32 != 0 {
			tc.alpha = -1.5
		}
		im := gemmImpl{asm: haveAsm, threads: 1 + int(pads>>6), minFlops: 0}
		switch fl >> 6 {
		case 1:
			im.asm = false
		case 2:
			im.packA = 1
		case 3:
			im.packA = 2
		}
		im.use(t)
		checkGemmCase(t, rand.New(rand.NewPCG(seed, 7)), tc, false)
	})
}
