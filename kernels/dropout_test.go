package kernels

import (
	"math"
	"testing"
)

// dropoutRef64 applies the mask DropoutKeep defines, in float64.
func dropoutRef64(x []float64, p float32, seed, offset uint64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		if DropoutKeep(seed, offset+uint64(i), p) {
			y[i] = v / (1 - float64(p))
		}
	}
	return y
}

func TestDropoutKeepIsSplitMix64(t *testing.T) {
	// Element idx uses value number idx of the SplitMix64 sequence of seed,
	// written here as the generator's usual state-advancing loop.
	const seed = 12345
	p := float32(0.3)
	thr := uint32(float64(p) * (1 << 32)) // keep iff the high 32 bits ≥ p·2³²
	state := uint64(seed)
	for idx := uint64(0); idx < 1000; idx++ {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		want := uint32(z>>32) >= thr
		if got := DropoutKeep(seed, idx, p); got != want {
			t.Fatalf("DropoutKeep(%d, %d) = %v, want %v", seed, idx, got, want)
		}
	}
}

func TestDropoutKeptFraction(t *testing.T) {
	const n = 1 << 18
	for _, p := range []float32{0.05, 0.1, 0.5, 0.9} {
		for _, seed := range []uint64{0, 1, 0xdeadbeef} {
			kept := 0
			for i := uint64(0); i < n; i++ {
				if DropoutKeep(seed, i, p) {
					kept++
				}
			}
			// Binomial(n, 1−p): 5 standard deviations.
			want := float64(n) * (1 - float64(p))
			sd := math.Sqrt(float64(n) * float64(p) * (1 - float64(p)))
			if math.Abs(float64(kept)-want) > 5*sd {
				t.Errorf("p=%g seed=%d: kept %d of %d, want %.0f ± %.0f", p, seed, kept, n, want, 5*sd)
			}
		}
	}
}

func TestDropoutForwardBackward(t *testing.T) {
	rng := rkRNG(41)
	for _, n := range append(rkSizes, 100000) {
		for _, p := range []float32{0.1, 0.5} {
			const seed, offset = 7, 1000
			x, w := rkRand(rng, n, 2), rkRand(rng, n, 1)
			y := make([]float32, n)
			DropoutForward(y, x, p, seed, offset)
			s := 1 / (1 - p)
			for i, v := range y {
				keep := DropoutKeep(seed, offset+uint64(i), p)
				if (keep && v != x[i]*s) || (!keep && v != 0) {
					t.Fatalf("n=%d p=%g: y[%d] = %g, x = %g, keep = %v", n, p, i, v, x[i], keep)
				}
			}
			dx0 := rkRand(rng, n, 1)
			dx := append([]float32(nil), dx0...)
			DropoutBackward(dx, w, p, seed, offset)
			// Same mask in backward: exactly dy·s where kept, nothing else.
			for i := range dx {
				want := dx0[i]
				if DropoutKeep(seed, offset+uint64(i), p) {
					want += w[i] * s
				}
				if dx[i] != want {
					t.Fatalf("n=%d p=%g: dx[%d] = %g, want %g", n, p, i, dx[i], want)
				}
			}
			if n <= 65 {
				num := rkNumGrad(func(x []float64) float64 { return rkDot(w, dropoutRef64(x, p, seed, offset)) }, rk64(x))
				rkClose(t, "dropout dx", rkGradOf(dx, dx0), num, rkGradTol, rkGradFloor)
			}
		}
	}
}

func TestDropoutMasks(t *testing.T) {
	const n, p = 4096, 0.5
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	mask := func(seed, offset uint64) []float32 {
		y := make([]float32, n)
		DropoutForward(y, ones, p, seed, offset)
		return y
	}
	agree := func(a, b []float32) float64 {
		k := 0
		for i := range a {
			if a[i] == b[i] {
				k++
			}
		}
		return float64(k) / n
	}
	base := mask(3, 0)
	if !rkBitsEqual(base, mask(3, 0)) {
		t.Error("same seed and offset gave different masks")
	}
	// Independent masks agree on about half the elements at p = 0.5.
	for _, c := range []struct {
		name         string
		seed, offset uint64
	}{{"next offset", 3, n}, {"offset+1", 3, 1}, {"other seed", 4, 0}, {"seed 0", 0, 0}} {
		if a := agree(base, mask(c.seed, c.offset)); a < 0.45 || a > 0.55 {
			t.Errorf("%s: masks agree on %.3f of elements, want ≈ 0.5", c.name, a)
		}
	}
	// A buffer split into calls with matching offsets draws the same mask.
	split := make([]float32, n)
	DropoutForward(split[:1000], ones[:1000], p, 3, 0)
	DropoutForward(split[1000:], ones[1000:], p, 3, 1000)
	if !rkBitsEqual(split, base) {
		t.Error("split calls differ from one call")
	}
}

func TestDropoutZeroP(t *testing.T) {
	x := rkRand(rkRNG(42), 65, 1)
	y := make([]float32, 65)
	DropoutForward(y, x, 0, 1, 0)
	if !rkBitsEqual(x, y) {
		t.Error("p = 0 forward does not copy")
	}
	dx := rkRand(rkRNG(43), 65, 1)
	want := append([]float32(nil), dx...)
	AddTo(want, x)
	DropoutBackward(dx, x, 0, 1, 0)
	if !rkBitsEqual(dx, want) {
		t.Error("p = 0 backward does not add dy")
	}
	DropoutForward(x, x, 0.5, 1, 0) // in place
	for i, v := range x {
		if v != 0 && v != 2*y[i] {
			t.Fatalf("in place: y[%d] = %g from %g", i, v, y[i])
		}
	}
}

func TestDropoutPanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "DropoutForward: p", func() { DropoutForward(f(3), f(3), 1, 0, 0) })
	rkPanics(t, "DropoutForward: p", func() { DropoutForward(f(3), f(3), -0.1, 0, 0) })
	rkPanics(t, "DropoutBackward: p", func() { DropoutBackward(f(3), f(3), float32(math.NaN()), 0, 0) })
	rkPanics(t, "DropoutForward: y", func() { DropoutForward(f(2), f(3), 0.1, 0, 0) })
}

func BenchmarkDropoutForward(b *testing.B) {
	x := rkRand(rkRNG(1), benchTokens*benchHidden, 1)
	y := make([]float32, len(x))
	for b.Loop() {
		DropoutForward(y, x, 0.1, 1, 0)
	}
	rkPerElem(b, len(x))
}

func BenchmarkDropoutBackward(b *testing.B) {
	dy := rkRand(rkRNG(1), benchTokens*benchHidden, 1)
	dx := make([]float32, len(dy))
	for b.Loop() {
		DropoutBackward(dx, dy, 0.1, 1, 0)
	}
	rkPerElem(b, len(dy))
}
