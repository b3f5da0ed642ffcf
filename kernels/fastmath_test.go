package kernels

import (
	"math"
	"testing"
)

func TestFastExp(t *testing.T) {
	var worst, worstAt float64
	for x := -600.0; x <= 709; x += 0.0137 {
		got, want := fastExp(x), math.Exp(x)
		if e := math.Abs(got/want - 1); e > worst {
			worst, worstAt = e, x
		}
	}
	if worst > 1e-9 {
		t.Errorf("fastExp: max relative error %.3g at x = %g, want ≤ 1e-9", worst, worstAt)
	}
	t.Logf("fastExp: max relative error %.3g", worst)
	for _, c := range []struct{ x, want float64 }{
		{0, 1}, {1, math.E}, {-1, 1 / math.E}, {709, math.Exp(709)},
		{math.Inf(-1), math.Exp(-600)}, {-800, math.Exp(-600)}, // saturated
	} {
		if got := fastExp(c.x); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("fastExp(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if lo := float32(fastExp(math.Inf(-1))); lo != 0 {
		t.Errorf("float32(fastExp(-Inf)) = %g, want 0", lo)
	}
	if got := fastExp(math.NaN()); !math.IsNaN(got) {
		t.Errorf("fastExp(NaN) = %g", got)
	}
}

func TestFastExpFloat32(t *testing.T) {
	// Rounded to float32 it is within one ulp of the correctly rounded value
	// over the whole float32 range, including overflow and gradual underflow.
	for x := -104.0; x < 100; x += 0.00731 {
		got, want := float32(fastExp(x)), float32(math.Exp(x))
		d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
		if d < -1 || d > 1 {
			t.Fatalf("float32(fastExp(%g)) = %g, want %g (%d ulp)", x, got, want, d)
		}
	}
}

func TestMillsRatio(t *testing.T) {
	// Φ(−u) = φ(u)·t·millsPoly(t), t = 1/(1 + u/3.5), against math.Erfc.
	var worst, worstAt float64
	for u := 0.0; u <= 34; u += 0.00173 {
		tt := 1 / (1 + u/3.5)
		q := invSqrt2Pi * fastExp(-0.5*u*u) * tt * millsPoly(tt)
		if e := math.Abs(q/(0.5*math.Erfc(u/math.Sqrt2)) - 1); e > worst {
			worst, worstAt = e, u
		}
	}
	if worst > 2e-8 {
		t.Errorf("normal tail: max relative error %.3g at u = %g, want ≤ 2e-8", worst, worstAt)
	}
	t.Logf("normal tail: max relative error %.3g", worst)
}

func BenchmarkExp(b *testing.B) {
	x := rk64(rkRand(rkRNG(1), 4096, 20))
	b.Run("fastExp", func(b *testing.B) {
		var s float64
		for b.Loop() {
			for _, v := range x {
				s += fastExp(v)
			}
		}
		rkPerElem(b, len(x))
		_ = s
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float64
		for b.Loop() {
			for _, v := range x {
				s += math.Exp(v)
			}
		}
		rkPerElem(b, len(x))
		_ = s
	})
}
