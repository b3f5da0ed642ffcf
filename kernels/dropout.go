package kernels

import (
	"fmt"
	"math"
)

// Dropout draws its mask from a counter-based generator: element i of a call
// with (seed, offset) is kept iff hash(seed, offset+i) ≥ p·2³², where
// hash(seed, idx) is the high half of value number idx (from 0) of the
// SplitMix64 sequence seeded with seed. The mask is never stored: backward
// regenerates it from the same (seed, offset), which saves the memory and
// time PyTorch spends on mask tensors, and any split of a buffer into calls
// with matching offsets draws the same mask as one call.

// golden is SplitMix64's increment, 2⁶⁴/φ rounded to odd.
const golden = 0x9e3779b97f4a7c15

// DropoutKeep reports whether element idx survives dropout with probability p
// under seed.
func DropoutKeep(seed, idx uint64, p float32) bool {
	return uint32(splitmixFinal(seed+(idx+1)*golden)>>32) >= dropoutThreshold(p)
}

// splitmixFinal is SplitMix64's output function: a bijective, well-mixing
// hash of its state.
func splitmixFinal(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dropoutThreshold is p·2³²: hashes below it drop their element.
func dropoutThreshold(p float32) uint32 {
	return uint32(float64(p) * (1 << 32))
}

func checkDropoutP(fn string, p float32) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("kernels: %s: p = %v outside [0, 1)", fn, p))
	}
}

// DropoutForward sets y = x·keep/(1−p) (inverted dropout, as torch). p must be
// in [0, 1); p == 0 copies. y may alias x.
func DropoutForward(y, x []float32, p float32, seed, offset uint64) {
	checkLen("DropoutForward", "y", y, len(x))
	checkDropoutP("DropoutForward", p)
	if p == 0 {
		copy(y, x)
		return
	}
	s := 1 / (1 - p)
	thr := uint64(dropoutThreshold(p))
	parallelRows(len(x), 4, func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		ys = ys[:len(xs)]
		z := seed + (offset+uint64(lo))*golden // state before element lo's draw
		for i, v := range xs {
			z += golden
			ys[i] = math.Float32frombits(math.Float32bits(v*s) & dropoutMask(z, thr))
		}
	})
}

// dropoutMask is all ones when the draw for state z keeps its element and
// zero when it drops it: h − thr borrows into bit 63 exactly when h < thr,
// so no branch mispredicts on random bits.
func dropoutMask(z, thr uint64) uint32 {
	h := splitmixFinal(z) >> 32
	return uint32((h-thr)>>63 - 1)
}

// DropoutBackward adds dy·keep/(1−p) into dx, regenerating the forward mask.
// A nil dx is skipped.
func DropoutBackward(dx, dy []float32, p float32, seed, offset uint64) {
	if dx == nil {
		return
	}
	checkLen("DropoutBackward", "dx", dx, len(dy))
	checkDropoutP("DropoutBackward", p)
	s := 1 / (1 - p)
	thr := uint64(dropoutThreshold(p))
	parallelRows(len(dy), 4, func(lo, hi int) {
		dys, dxs := dy[lo:hi], dx[lo:hi]
		dxs = dxs[:len(dys)]
		if p == 0 {
			for i, g := range dys {
				dxs[i] += g
			}
			return
		}
		z := seed + (offset+uint64(lo))*golden
		for i, g := range dys {
			z += golden
			dxs[i] += math.Float32frombits(math.Float32bits(g*s) & dropoutMask(z, thr))
		}
	})
}
