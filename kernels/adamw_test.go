package kernels

import (
	"math"
	"testing"
)

// adamWRef64 is torch.optim.AdamW's single-tensor update (amsgrad off,
// maximize off) in float64, hyper-parameters as Python floats.
func adamWRef64(p, g, m, v []float64, lr, beta1, beta2, eps, wd float64, step int) {
	bc1 := 1 - math.Pow(beta1, float64(step))
	bc2 := 1 - math.Pow(beta2, float64(step))
	for i := range p {
		p[i] *= 1 - lr*wd
		m[i] = beta1*m[i] + (1-beta1)*g[i]
		v[i] = beta2*v[i] + (1-beta2)*g[i]*g[i]
		denom := math.Sqrt(v[i])/math.Sqrt(bc2) + eps
		p[i] -= lr / bc1 * m[i] / denom
	}
}

func TestAdamWStep(t *testing.T) {
	for _, c := range []struct {
		name                     string
		lr, b1, b2, eps, wd      float64
		n, steps                 int
		gradScale, gradSpreadExp float64
	}{
		{"torch defaults", 1e-3, 0.9, 0.999, 1e-8, 1e-2, 65, 6, 1, 0},
		{"no decay", 3e-4, 0.9, 0.98, 1e-6, 0, 17, 5, 1, 0},
		{"large lr, tiny grads", 0.1, 0.8, 0.99, 1e-8, 0.1, 63, 4, 1e-4, 0},
		{"grads over 6 decades", 1e-3, 0.9, 0.999, 1e-8, 1e-2, 200000, 3, 1, 6}, // parallel
	} {
		rng := rkRNG(61)
		p := rkRand(rng, c.n, 1)
		m, v := make([]float32, c.n), make([]float32, c.n)
		p64, m64, v64 := rk64(p), make([]float64, c.n), make([]float64, c.n)
		mAbs64 := make([]float64, c.n)
		hp := AdamWParams{LR: float32(c.lr), Beta1: float32(c.b1), Beta2: float32(c.b2), Eps: float32(c.eps), WeightDecay: float32(c.wd)}
		for step := 1; step <= c.steps; step++ {
			g := rkRand(rng, c.n, c.gradScale)
			for i := range g {
				g[i] *= float32(math.Pow(10, -c.gradSpreadExp*rng.Float64()))
			}
			AdamWStep(p, g, m, v, hp, step)
			adamWRef64(p64, rk64(g), m64, v64, c.lr, c.b1, c.b2, c.eps, c.wd, step)
			for i, gi := range g {
				mAbs64[i] = c.b1*mAbs64[i] + (1-c.b1)*math.Abs(float64(gi))
			}
		}
		rkClose(t, c.name+" p", p, p64, 1e-6, 1e-3)
		rkClose(t, c.name+" v", v, v64, 1e-5, 1e-6)
		// m averages gradients of both signs: judge it on the average of
		// their magnitudes, which bounds its rounding error.
		for i := range m {
			if d := math.Abs(float64(m[i]) - m64[i]); d > 1e-6*mAbs64[i] {
				t.Errorf("%s: m[%d] = %.9g, want %.9g (|g| average %.3g)", c.name, i, m[i], m64[i], mAbs64[i])
				break
			}
		}
	}
}

func TestAdamWFirstStep(t *testing.T) {
	// With bias correction, the first step moves every parameter by lr·g/(|g|+eps')
	// ≈ lr·sign(g), plus the decay: a hand-checkable case.
	p := []float32{1, -2, 0.5}
	g := []float32{0.3, -4, 1e-3}
	m, v := make([]float32, 3), make([]float32, 3)
	AdamWStep(p, g, m, v, AdamWParams{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5}, 1)
	for i, want := range []float64{1*(1-0.005) - 0.01, -2*(1-0.005) + 0.01, 0.5*(1-0.005) - 0.01} {
		// |g|/(|g|+eps) differs from 1 by at most 1e-5 here.
		if math.Abs(float64(p[i])-want) > 2e-7 {
			t.Errorf("p[%d] = %.9g, want %.9g", i, p[i], want)
		}
	}
}

func TestAdamWThreads(t *testing.T) {
	const n = 100000
	run := func() []float32 {
		rng := rkRNG(62)
		p, m, v := rkRand(rng, n, 1), make([]float32, n), make([]float32, n)
		for step := 1; step <= 3; step++ {
			AdamWStep(p, rkRand(rng, n, 1), m, v, AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}, step)
		}
		return p
	}
	var p1, p4 []float32
	rkThreads(1, func() { p1 = run() })
	rkThreads(4, func() { p4 = run() })
	if !rkBitsEqual(p1, p4) {
		t.Error("results depend on the thread count")
	}
}

func TestDecimal64(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want float64
	}{{0.9, 0.9}, {0.999, 0.999}, {1e-8, 1e-8}, {3e-4, 3e-4}, {0, 0}, {1, 1}} {
		if got := decimal64(c.f); got != c.want {
			t.Errorf("decimal64(%v) = %v, want %v", c.f, got, c.want)
		}
	}
	// The point: 1 − β1 as torch forms it.
	if a := float32(1 - decimal64(0.9)); a != float32(1-0.9) {
		t.Errorf("1 − β1 = %v, want %v", a, float32(1-0.9))
	}
}

func TestAdamWPanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "AdamWStep: v", func() { AdamWStep(f(3), f(3), f(3), f(2), AdamWParams{}, 1) })
	rkPanics(t, "step 0", func() { AdamWStep(f(3), f(3), f(3), f(3), AdamWParams{}, 0) })
}

func BenchmarkAdamWStep(b *testing.B) {
	const n = 1 << 20
	rng := rkRNG(1)
	p, g, m, v := rkRand(rng, n, 1), rkRand(rng, n, 1), make([]float32, n), make([]float32, n)
	hp := AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	step := 0
	for b.Loop() {
		step++
		AdamWStep(p, g, m, v, hp, step)
	}
	rkPerElem(b, n)
}
