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
// A packed, 3 asm with A in place); threads = 1 + pads>>5 (1 to 8), and the
// kernel path is picked by the seed among those the CPU has (zmm, ymm, go).
// Seed bits 32-36 pad C and add a product with an fp16, int8 or NF4
// operand.
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
		f.Add(s.m, s.n, s.k, s.pads, s.fl, uint64(s.k)*31+uint64(s.fl)+uint64(s.pads)<<32)
	}
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, pads, fl uint8, seed uint64) {
		tc := gemmCase{
			m: int(m) % 100, n: int(n) % 100, k: int(k) % 700,
			padA: int(pads) & 7, padB: int(pads) >> 3 & 7, padC: int(seed >> 32 & 1),
			transA: fl&1 != 0, transB: fl&2 != 0, bf16A: fl&4 != 0, bf16B: fl&8 != 0,
			alpha: 1, beta: 0.75,
		}
		if fl&16 != 0 {
			tc.beta = 0
		}
		if fl&32 != 0 {
			tc.alpha = -1.5
		}
		// The path cycles with the seed through those this CPU has.
		ps := paths()
		im := gemmImpl{path: ps[seed%uint64(len(ps))], threads: 1 + int(pads>>5), minFlops: 0}
		switch fl >> 6 {
		case 1:
			im.path = isaGo
		case 2:
			im.packA = 1
		case 3:
			im.packA = 2
		}
		im.use(t)
		rng := rand.New(rand.NewPCG(seed, 7))
		checkGemmCase(t, rng, tc, false)
		// Seed bit 33 adds the same product with A or B (bit 34) in one
		// of the narrow storages (bits 35-36), widened while packing.
		if seed>>33&1 != 0 && tc.m > 0 && tc.n > 0 && tc.k > 0 {
			st := quantStorages[seed>>35%uint64(len(quantStorages))]
			checkQuantGemm(t, rng, st, tc.m, tc.n, tc.k, tc.transA, tc.transB, seed>>34&1 != 0, false)
		}
	})
}
