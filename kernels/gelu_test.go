package kernels

import (
	"math"
	"testing"
)

// geluRef64 is x·Φ(x) in float64 with Φ from math.Erfc, accurate in
// relative terms in both tails.
func geluRef64(x float64) float64 { return x * 0.5 * math.Erfc(-x/math.Sqrt2) }

// geluErfRef64 is the textbook 0.5·x·(1 + erf(x/√2)) with math.Erf (the
// kernels' old form). Below x ≈ −5 its 1 + erf cancels, so it is only an
// oracle for |x| ≤ 5.
func geluErfRef64(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

// gelu and geluGrad apply the row kernels to one value.
func gelu(x float32) float32 {
	y := []float32{0}
	geluRow(y, []float32{x})
	return y[0]
}

func geluGrad(x float32) float32 {
	g := []float32{0}
	geluGradRow(g, []float32{x})
	return g[0]
}

func tanhGELU(x float32) float32 {
	y := []float32{0}
	tanhGELURow(y, []float32{x})
	return y[0]
}

func tanhGELUGrad(x float32) float32 {
	g := []float32{0}
	tanhGELUGradRow(g, []float32{x})
	return g[0]
}

func TestGELUAccuracy(t *testing.T) {
	// Every float32 result within 1e-6 relative of the float64 GELU, over
	// the whole range where it is a normal float32 (below −13.2 it
	// underflows towards 0, which the tail check covers).
	var worst, worstGrad, worstErf float64
	for x := -13.0; x <= 13; x += 1.0 / 1024 {
		x32 := float32(x)
		v := float64(x32)
		y := float64(gelu(x32))
		if v == 0 {
			worst = max(worst, math.Abs(y))
		} else {
			worst = max(worst, math.Abs(y/geluRef64(v)-1))
			if math.Abs(v) <= 5 {
				worstErf = max(worstErf, math.Abs(y/geluErfRef64(v)-1))
			}
		}
		// gelu' = Φ + x·φ crosses zero near x = −0.75, where its two terms
		// cancel: judge it relative to the size of the terms.
		cdf, xpdf := 0.5*math.Erfc(-v/math.Sqrt2), v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)
		worstGrad = max(worstGrad, math.Abs(float64(geluGrad(x32))-(cdf+xpdf))/(cdf+math.Abs(xpdf)))
	}
	if worst > 1e-6 || worstErf > 1e-6 || worstGrad > 1e-6 {
		t.Errorf("max relative error: gelu %.3g, vs math.Erf form %.3g, gelu' %.3g; want ≤ 1e-6", worst, worstErf, worstGrad)
	}
	t.Logf("max relative error: gelu %.3g (vs math.Erf form on |x| ≤ 5: %.3g), gelu' %.3g", worst, worstErf, worstGrad)
}

func TestGELUSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, y, grad float32 }{
		{0, 0, 0.5},
		{inf, inf, 1},
		{-inf, 0, 0},
		{-40, 0, 0},
		{40, 40, 1},
	} {
		if y := gelu(c.x); y != c.y {
			t.Errorf("gelu(%g) = %g, want %g", c.x, y, c.y)
		}
		if g := geluGrad(c.x); g != c.grad {
			t.Errorf("gelu'(%g) = %g, want %g", c.x, g, c.grad)
		}
	}
	if g := geluGrad(float32(math.Copysign(0, -1))); g != 0.5 {
		t.Errorf("gelu'(-0) = %g, want 0.5", g)
	}
	nan := float32(math.NaN())
	if y, g := gelu(nan), geluGrad(nan); y == y || g == g {
		t.Errorf("gelu(NaN), gelu'(NaN) = %g, %g, want NaN", y, g)
	}
}

func TestGELUForwardBackward(t *testing.T) {
	rng := rkRNG(21)
	for _, n := range append(rkSizes, 1000) {
		x, w := rkRand(rng, n, 6), rkRand(rng, n, 1)
		y := make([]float32, n)
		GELUForward(y, x)
		want := make([]float64, n)
		for i, v := range x {
			want[i] = geluRef64(float64(v))
		}
		rkClose(t, "gelu", y, want, 1e-6, 1e-30)

		dx0 := rkRand(rng, n, 1)
		dx := append([]float32(nil), dx0...)
		GELUBackward(dx, x, w)
		if n <= 65 {
			num := rkNumGrad(func(x []float64) float64 {
				var s float64
				for i, v := range x {
					s += float64(w[i]) * geluRef64(v)
				}
				return s
			}, rk64(x))
			rkClose(t, "gelu dx", rkGradOf(dx, dx0), num, rkGradTol, rkGradFloor)
		}
		GELUForward(x, x) // in place
		if !rkBitsEqual(x, y) {
			t.Error("in-place GELUForward differs")
		}
	}
}

// tanhGELURef64 is 0.5·x·(1 + tanh(u)) written as x·σ(2u), the same function
// without the cancellation of 1 + tanh(u) for negative x.
func tanhGELURef64(x float64) float64 {
	u := math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
	return x / (1 + math.Exp(-2*u))
}

func TestGELUTanh(t *testing.T) {
	// The σ form used as oracle is the documented tanh formula.
	for _, x := range []float64{-3, -1, -0.1, 0.2, 1.5, 4} {
		u := math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
		if d := tanhGELURef64(x) - 0.5*x*(1+math.Tanh(u)); math.Abs(d) > 1e-15 {
			t.Fatalf("x·σ(2u) differs from 0.5·x·(1+tanh u) by %g at %g", d, x)
		}
	}
	rng := rkRNG(22)
	for _, n := range rkSizes {
		x, w := rkRand(rng, n, 6), rkRand(rng, n, 1)
		y := make([]float32, n)
		GELUTanhForward(y, x)
		want := make([]float64, n)
		for i, v := range x {
			want[i] = tanhGELURef64(float64(v))
		}
		rkClose(t, "gelu_tanh", y, want, 1e-6, 1e-30)
		dx0 := rkRand(rng, n, 1)
		dx := append([]float32(nil), dx0...)
		GELUTanhBackward(dx, x, w)
		num := rkNumGrad(func(x []float64) float64 {
			var s float64
			for i, v := range x {
				s += float64(w[i]) * tanhGELURef64(v)
			}
			return s
		}, rk64(x))
		rkClose(t, "gelu_tanh dx", rkGradOf(dx, dx0), num, rkGradTol, rkGradFloor)
	}
	inf := float32(math.Inf(1))
	if y := tanhGELU(-inf); y != 0 {
		t.Errorf("gelu_tanh(-Inf) = %g, want 0", y)
	}
	if g := tanhGELUGrad(-100); g != 0 {
		t.Errorf("gelu_tanh'(-100) = %g, want 0", g)
	}
}

func TestBiasGELU(t *testing.T) {
	rng := rkRNG(23)
	for _, cols := range rkSizes {
		const rows = 3
		x, b, w := rkRand(rng, rows*cols, 5), rkRand(rng, cols, 1), rkRand(rng, rows*cols, 1)
		xb := append([]float32(nil), x...)
		y := make([]float32, rows*cols)
		BiasGELUForward(y, xb, b, rows, cols)
		want := make([]float64, rows*cols)
		for i, v := range x {
			pre := v + b[i%cols]
			if xb[i] != pre {
				t.Fatalf("x[%d] = %g after BiasGELUForward, want x+b = %g", i, xb[i], pre)
			}
			want[i] = geluRef64(float64(pre))
		}
		rkClose(t, "bias gelu", y, want, 1e-6, 1e-30)

		loss := func(x, b []float64) float64 {
			var s float64
			for i, v := range x {
				s += float64(w[i]) * geluRef64(v+b[i%cols])
			}
			return s
		}
		dx0, db0 := rkRand(rng, rows*cols, 1), rkRand(rng, cols, 1)
		dx, db := append([]float32(nil), dx0...), append([]float32(nil), db0...)
		BiasGELUBackward(dx, db, xb, w, rows, cols)
		numX := rkNumGrad(func(v []float64) float64 { return loss(v, rk64(b)) }, rk64(x))
		numB := rkNumGrad(func(v []float64) float64 { return loss(rk64(x), v) }, rk64(b))
		rkClose(t, "bias gelu dx", rkGradOf(dx, dx0), numX, rkGradTol, rkGradFloor)
		rkClose(t, "bias gelu db", rkGradOf(db, db0), numB, rkGradTol, rkGradFloor)

		// Either output alone gives the same values.
		dxOnly, dbOnly := append([]float32(nil), dx0...), append([]float32(nil), db0...)
		BiasGELUBackward(dxOnly, nil, xb, w, rows, cols)
		BiasGELUBackward(nil, dbOnly, xb, w, rows, cols)
		if !rkBitsEqual(dxOnly, dx) || !rkBitsEqual(dbOnly, db) {
			t.Errorf("cols %d: dx or db alone differs", cols)
		}
		BiasGELUBackward(nil, nil, xb, w, rows, cols)
	}
}

func TestBiasGELULarge(t *testing.T) {
	const rows, cols = 200, 768
	if numChunks(rows, cols*(geluCost+2)) < 2 {
		t.Fatal("test too small to exercise chunking")
	}
	rng := rkRNG(24)
	x0, b, dy := rkRand(rng, rows*cols, 4), rkRand(rng, cols, 1), rkRand(rng, rows*cols, 1)
	run := func() (y, dx, db []float32) {
		x := append([]float32(nil), x0...)
		y, dx, db = make([]float32, rows*cols), make([]float32, rows*cols), make([]float32, cols)
		BiasGELUForward(y, x, b, rows, cols)
		BiasGELUBackward(dx, db, x, dy, rows, cols)
		return
	}
	var y1, dx1, db1, y4, dx4, db4 []float32
	rkThreads(1, func() { y1, dx1, db1 = run() })
	rkThreads(4, func() { y4, dx4, db4 = run() })
	if !rkBitsEqual(y1, y4) || !rkBitsEqual(dx1, dx4) || !rkBitsEqual(db1, db4) {
		t.Error("results depend on the thread count")
	}
	// db is the column sum of dx (which started at zero).
	want := make([]float64, cols)
	for i, v := range dx4 {
		want[i%cols] += float64(v)
	}
	rkClose(t, "db", db4, want, 1e-5, 1e-2)
}

func TestGELUPanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "GELUForward: y", func() { GELUForward(f(2), f(3)) })
	rkPanics(t, "GELUBackward: dx", func() { GELUBackward(f(2), f(3), f(3)) })
	rkPanics(t, "BiasGELUForward: b", func() { BiasGELUForward(f(6), f(6), f(2), 2, 3) })
	x := f(6)
	rkPanics(t, "aliases", func() { BiasGELUForward(x, x, f(3), 2, 3) })
	rkPanics(t, "BiasGELUBackward: db", func() { BiasGELUBackward(nil, f(2), f(6), f(6), 2, 3) })
}

func BenchmarkGELUForward(b *testing.B) {
	x := rkRand(rkRNG(1), benchTokens*benchMLP, 3)
	y := make([]float32, len(x))
	for b.Loop() {
		GELUForward(y, x)
	}
	rkPerElem(b, len(x))
}

func BenchmarkGELUBackward(b *testing.B) {
	x, dy := rkRand(rkRNG(1), benchTokens*benchMLP, 3), rkRand(rkRNG(2), benchTokens*benchMLP, 1)
	dx := make([]float32, len(x))
	for b.Loop() {
		GELUBackward(dx, x, dy)
	}
	rkPerElem(b, len(x))
}

func BenchmarkBiasGELUForward(b *testing.B) {
	x, bias := rkRand(rkRNG(1), benchTokens*benchMLP, 3), rkRand(rkRNG(2), benchMLP, 1e-3)
	y := make([]float32, len(x))
	for b.Loop() {
		BiasGELUForward(y, x, bias, benchTokens, benchMLP)
	}
	rkPerElem(b, len(x))
}

func BenchmarkBiasGELUBackward(b *testing.B) {
	x, dy := rkRand(rkRNG(1), benchTokens*benchMLP, 3), rkRand(rkRNG(2), benchTokens*benchMLP, 1)
	dx, db := make([]float32, len(x)), make([]float32, benchMLP)
	for b.Loop() {
		BiasGELUBackward(dx, db, x, dy, benchTokens, benchMLP)
	}
	rkPerElem(b, len(x))
}

func BenchmarkGELUTanhForward(b *testing.B) {
	x := rkRand(rkRNG(1), benchTokens*benchMLP, 3)
	y := make([]float32, len(x))
	for b.Loop() {
		GELUTanhForward(y, x)
	}
	rkPerElem(b, len(x))
}

func BenchmarkGELUTanhBackward(b *testing.B) {
	x, dy := rkRand(rkRNG(1), benchTokens*benchMLP, 3), rkRand(rkRNG(2), benchTokens*benchMLP, 1)
	dx := make([]float32, len(x))
	for b.Loop() {
		GELUTanhBackward(dx, x, dy)
	}
	rkPerElem(b, len(x))
}
