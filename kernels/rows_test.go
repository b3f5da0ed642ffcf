package kernels

import (
	"fmt"
	"math"
	"testing"
)

// The tests here drive the dispatching wrappers of rows.go on every kernel
// path the machine has (zmm, ymm, go), so they check the AVX-512 and AVX2
// assembly against the float64 references, against the pure-Go loops and
// against each other. On other machines (or with -tags purego) only the
// pure-Go path runs and the tests still check it against the references.

// withRowPath runs f with the kernel path set to p (and back).
func withRowPath(p isa, f func()) {
	prev, err := SetKernelPath(p.String())
	if err != nil {
		panic(err)
	}
	defer SetKernelPath(prev)
	f()
}

// asmPaths lists the assembly paths this machine has.
func asmPaths() []isa {
	var out []isa
	for _, p := range paths() {
		if p != isaGo {
			out = append(out, p)
		}
	}
	return out
}

// geluSweep returns every 1/1024 from −13 to 13: the whole range where the
// GELU is a normal float32, in one slice, so that the assembly sees full
// blocks and a tail.
func geluSweep() []float32 {
	var x []float32
	for v := -13.0; v <= 13; v += 1.0 / 1024 {
		x = append(x, float32(v))
	}
	return x[:len(x)-3] // a length that is not a multiple of 8
}

func TestGELURowVecAccuracy(t *testing.T) {
	for _, p := range paths() {
		withRowPath(p, func() { testGELURowVecAccuracy(t) })
	}
}

func testGELURowVecAccuracy(t *testing.T) {
	x := geluSweep()
	y := make([]float32, len(x))
	geluRowVec(y, x)
	g := make([]float32, len(x))
	ones := make([]float32, len(x))
	for i := range ones {
		ones[i] = 1
	}
	var buf [geluBlock]float32
	geluBackwardRowVec(g, nil, x, ones, &buf)
	var worst, worstGrad float64
	for i, x32 := range x {
		v := float64(x32)
		if v == 0 {
			worst = max(worst, math.Abs(float64(y[i])))
		} else {
			worst = max(worst, math.Abs(float64(y[i])/geluRef64(v)-1))
		}
		// As in TestGELUAccuracy: gelu' relative to the size of its terms.
		cdf, xpdf := 0.5*math.Erfc(-v/math.Sqrt2), v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)
		worstGrad = max(worstGrad, math.Abs(float64(g[i])-(cdf+xpdf))/(cdf+math.Abs(xpdf)))
	}
	if worst > 1e-6 || worstGrad > 1e-6 {
		t.Errorf("%s: max relative error gelu %.3g, gelu' %.3g; want ≤ 1e-6", KernelPath(), worst, worstGrad)
	}
	t.Logf("%s: max relative error gelu %.3g, gelu' %.3g", KernelPath(), worst, worstGrad)
}

func TestGELURowVecSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	cases := []struct{ x, y, grad float32 }{
		{0, 0, 0.5},
		{negZero, 0, 0.5},
		{inf, inf, 1},
		{-inf, 0, 0},
		{-40, 0, 0},
		{40, 40, 1},
		{-1e30, 0, 0},
		{1e30, 1e30, 1},
		{nan, nan, nan},
	}
	// All cases in one row, then each alone (the masked tail path).
	var x []float32
	for _, c := range cases {
		x = append(x, c.x)
	}
	check := func(x []float32, cs []struct{ x, y, grad float32 }) {
		y, g, dy := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
		for i := range dy {
			dy[i] = 1
		}
		var buf [geluBlock]float32
		geluRowVec(y, x)
		geluBackwardRowVec(g, nil, x, dy, &buf)
		for i, c := range cs {
			if !(y[i] == c.y || y[i] != y[i] && c.y != c.y) {
				t.Errorf("%s: gelu(%g) = %g, want %g", KernelPath(), c.x, y[i], c.y)
			}
			if !(g[i] == c.grad || g[i] != g[i] && c.grad != c.grad) {
				t.Errorf("%s: gelu'(%g) = %g, want %g", KernelPath(), c.x, g[i], c.grad)
			}
		}
	}
	for _, p := range paths() {
		withRowPath(p, func() {
			check(x, cases)
			for _, c := range cases {
				check([]float32{c.x}, []struct{ x, y, grad float32 }{c})
			}
		})
	}
}

// rkAgree fails unless a and b agree within rtol relative to the larger of
// |a[i]| and floor.
func rkAgree(t *testing.T, what string, a, b []float32, rtol, floor float64) {
	t.Helper()
	bad := 0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if !(d <= rtol*max(math.Abs(float64(a[i])), math.Abs(float64(b[i])), floor)) {
			if bad < 5 {
				t.Errorf("%s[%d]: %.9g vs %.9g", what, i, a[i], b[i])
			}
			bad++
		}
	}
}

func TestGELURowVecMatchesGo(t *testing.T) {
	if len(asmPaths()) == 0 {
		t.Skip("no assembly on this machine or build")
	}
	rng := rkRNG(8)
	for n := range 41 {
		x, dy := rkRand(rng, n, 8), rkRand(rng, n, 1)
		dx0, db0 := rkRand(rng, n, 1), rkRand(rng, n, 1)
		type out struct{ y, dx, db, dxOnly, dbOnly []float32 }
		run := func(p isa) (o out) {
			withRowPath(p, func() {
				var buf [geluBlock]float32
				o.y = make([]float32, n)
				geluRowVec(o.y, x)
				o.dx, o.db = append([]float32(nil), dx0...), append([]float32(nil), db0...)
				geluBackwardRowVec(o.dx, o.db, x, dy, &buf)
				o.dxOnly = append([]float32(nil), dx0...)
				geluBackwardRowVec(o.dxOnly, nil, x, dy, &buf)
				o.dbOnly = append([]float32(nil), db0...)
				geluBackwardRowVec(nil, o.dbOnly, x, dy, &buf)
			})
			return o
		}
		g := run(isaGo)
		var prev out
		for i, p := range asmPaths() {
			a := run(p)
			rkAgree(t, p.String()+" gelu", a.y, g.y, 2e-6, 1e-30)
			// dx = dx0 + g: judged on the size of dx0 + |g|, which cancels.
			rkAgree(t, p.String()+" gelu dx", a.dx, g.dx, 2e-6, 1)
			rkAgree(t, p.String()+" gelu db", a.db, g.db, 2e-6, 1)
			rkAgree(t, p.String()+" gelu dx only", a.dxOnly, g.dxOnly, 2e-6, 1)
			rkAgree(t, p.String()+" gelu db only", a.dbOnly, g.dbOnly, 2e-6, 1)
			if !rkBitsEqual(a.dx, a.dxOnly) || !rkBitsEqual(a.db, a.dbOnly) {
				t.Errorf("%s n=%d: the fused dx+db backward differs from the single ones", p, n)
			}
			// zmm and ymm run the same formula lane by lane: same bits.
			if i > 0 && (!rkBitsEqual(a.y, prev.y) || !rkBitsEqual(a.dx, prev.dx) || !rkBitsEqual(a.db, prev.db)) {
				t.Errorf("n=%d: %s and %s GELU differ", n, p, asmPaths()[i-1])
			}
			prev = a
		}
	}
}

func TestSoftmaxRowVec(t *testing.T) {
	rng := rkRNG(9)
	for _, p := range paths() {
		withRowPath(p, func() {
			for n := 1; n <= 41; n++ {
				for _, c := range []struct{ scale, spread float32 }{{1, 3}, {0.125, 40}, {0, 1}, {1, 80}, {-0.5, 3}} {
					x := rkRand(rng, n, float64(c.spread))
					y := make([]float32, n)
					softmaxRowVec(y, x, c.scale)
					rkClose(t, "softmax", y, softmaxRef64(rk64(x), 1, n, float64(c.scale), false), 2e-6, 1e-30)
				}
			}
			// The extremes of the range: probabilities down to float32's
			// smallest subnormals, and -Inf logits.
			x := []float32{0, -80, -87, -100, -103, -104, -110, float32(math.Inf(-1)), 5}
			y := make([]float32, len(x))
			softmaxRowVec(y, x, 1)
			rkClose(t, "softmax extremes", y, softmaxRef64(rk64(x), 1, len(x), 1, false), 2e-6, 1e-37)
		})
	}
}

// BenchmarkRowVec compares the row kernels on every path, one row each:
// GELU forward and backward (768 wide), softmax (197), LayerNorm forward
// with its statistics (192) and an add (768), e.g.
//
//	go test ./kernels -run '^$' -bench RowVec -count 8
func BenchmarkRowVec(b *testing.B) {
	x := rkRand(rkRNG(1), 768, 3)
	y, dy, dx := make([]float32, len(x)), rkRand(rkRNG(2), len(x), 1), make([]float32, len(x))
	var buf [geluBlock]float32
	for _, p := range paths() {
		name := p.String()
		withRowPath(p, func() {
			b.Run("forward/"+name, func(b *testing.B) {
				for b.Loop() {
					geluRowVec(y, x)
				}
				rkPerElem(b, len(x))
			})
			b.Run("backward/"+name, func(b *testing.B) {
				for b.Loop() {
					geluBackwardRowVec(dx, nil, x, dy, &buf)
				}
				rkPerElem(b, len(x))
			})
			b.Run("softmax/"+name, func(b *testing.B) {
				for b.Loop() {
					softmaxRowVec(y[:197], x[:197], 0.125)
				}
				rkPerElem(b, 197)
			})
			b.Run("layernorm/"+name, func(b *testing.B) {
				w := dy[:192]
				for b.Loop() {
					m := float32(sumRowVec(x[:192]) / 192)
					v := sqDevRowVec(x[:192], m) / 192
					layerNormRowVec(y[:192], x[:192], w, w, m, float32(v))
				}
				rkPerElem(b, 192)
			})
			b.Run("add/"+name, func(b *testing.B) {
				for b.Loop() {
					addRowVec(y, x, dy)
				}
				rkPerElem(b, len(x))
			})
		})
	}
}

// bandwidthOut is what the memory-bound row kernels compute on one input.
type bandwidthOut struct {
	sum, sqDev       float64
	add, ln, dx, smx []float32
	dw, db           []float32
}

func runBandwidthRows(p isa, x, w, b, dy []float32, m, rs, scale float32) (o bandwidthOut) {
	n := len(x)
	withRowPath(p, func() {
		o.sum, o.sqDev = sumRowVec(x), sqDevRowVec(x, m)
		o.add = make([]float32, n)
		addRowVec(o.add, x, dy)
		o.ln = make([]float32, n)
		layerNormRowVec(o.ln, x, w, b, m, rs)
		o.dx = append([]float32(nil), b...)
		layerNormBackwardRowVec(o.dx, dy, x, w, m, rs)
		o.dw, o.db = append([]float32(nil), w...), append([]float32(nil), b...)
		layerNormParamGradRowVec(o.dw, o.db, dy, x, m, rs)
		y := make([]float32, n)
		softmaxRowVec(y, w, 1)
		o.smx = append([]float32(nil), b...)
		softmaxBackwardRowVec(o.smx, y, dy, scale)
	})
	return o
}

func TestBandwidthRowVecMatchesGo(t *testing.T) {
	if len(asmPaths()) == 0 {
		t.Skip("no assembly on this machine or build")
	}
	rng := rkRNG(10)
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 40, 47, 48, 49, 192, 197} {
		x, w, b, dy := rkRand(rng, n, 3), rkRand(rng, n, 1), rkRand(rng, n, 1), rkRand(rng, n, 1)
		for i := range x {
			x[i] += 100 // a mean far from zero: the statistics must not cancel
		}
		const m, rs, scale = float32(100.25), float32(0.75), float32(0.125)
		g := runBandwidthRows(isaGo, x, w, b, dy, m, rs, scale)
		var prev bandwidthOut
		for i, p := range asmPaths() {
			a := runBandwidthRows(p, x, w, b, dy, m, rs, scale)
			if math.Abs(a.sum-g.sum) > 1e-12*math.Abs(g.sum) || math.Abs(a.sqDev-g.sqDev) > 1e-12*g.sqDev {
				t.Errorf("%s n=%d: sum, sqDev = %v, %v vs %v, %v (go)", p, n, a.sum, a.sqDev, g.sum, g.sqDev)
			}
			if !rkBitsEqual(a.add, g.add) {
				t.Errorf("%s n=%d: add differs", p, n)
			}
			rkAgree(t, p.String()+" layernorm", a.ln, g.ln, 1e-6, 1) // y = n·w + b may cancel
			rkAgree(t, p.String()+" layernorm dx", a.dx, g.dx, 1e-5, 1)
			rkAgree(t, p.String()+" layernorm dw", a.dw, g.dw, 1e-6, 1)
			rkAgree(t, p.String()+" layernorm db", a.db, g.db, 1e-6, 1)
			rkAgree(t, p.String()+" softmax dx", a.smx, g.smx, 1e-6, 1)
			// The elementwise kernels (no sums across lanes) give the
			// same bits on zmm and ymm.
			if i > 0 && (!rkBitsEqual(a.ln, prev.ln) || !rkBitsEqual(a.dw, prev.dw) || !rkBitsEqual(a.db, prev.db)) {
				t.Errorf("n=%d: %s and %s LayerNorm rows differ", n, p, asmPaths()[i-1])
			}
			prev = a
		}
	}
}

// TestRowVecSpecialValues feeds NaN, ±Inf, huge values, subnormals and
// signed zeros, at every position of rows of odd lengths (full vectors and
// masked tails), through every row kernel on every path, and requires the
// assembly to give what the pure-Go loops give: NaN where they give NaN,
// the same infinities, and the same finite values within rounding.
func TestRowVecSpecialValues(t *testing.T) {
	if len(asmPaths()) == 0 {
		t.Skip("no assembly on this machine or build")
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	special := []float32{nan, inf, -inf, 3e38, -3e38, 1e-42, -1e-42, 1.5e-39, float32(math.Copysign(0, -1)), 0, 1e20, -1e20}
	// The tolerances and floors are those of the tests above: GELU's
	// derivative and the LayerNorm output cancel, so they are judged
	// against 1 (the scale of dy and w).
	agree := func(what string, a, g []float32, rtol, floor float64) {
		t.Helper()
		for i := range g {
			an, gn := a[i] != a[i], g[i] != g[i]
			ok := an == gn && (an || a[i] == g[i] ||
				!math.IsInf(float64(g[i]), 0) && math.Abs(float64(a[i])-float64(g[i])) <= rtol*max(math.Abs(float64(g[i])), floor))
			if !ok {
				t.Errorf("%s[%d]: %g, go gives %g", what, i, a[i], g[i])
				return
			}
		}
	}
	rng := rkRNG(11)
	for _, n := range []int{1, 7, 17, 33} {
		for pos := 0; pos < n; pos += max(1, n/5) {
			for _, v := range special {
				x, w, b, dy := rkRand(rng, n, 3), rkRand(rng, n, 1), rkRand(rng, n, 1), rkRand(rng, n, 1)
				x[pos] = v
				type out struct{ gelu, gdx, sm, add, ln, dw, db, silu, sdx, sw, sdg, sdu []float32 }
				run := func(p isa) (o out) {
					withRowPath(p, func() {
						var buf [geluBlock]float32
						o.gelu = make([]float32, n)
						geluRowVec(o.gelu, x)
						o.gdx, o.db = make([]float32, n), make([]float32, n)
						geluBackwardRowVec(o.gdx, o.db, x, dy, &buf)
						o.sm = make([]float32, n)
						softmaxRowVec(o.sm, x, 0.5)
						o.add = make([]float32, n)
						addRowVec(o.add, x, dy)
						o.ln = make([]float32, n)
						layerNormRowVec(o.ln, x, w, b, 0.25, 2)
						o.dw = make([]float32, n)
						db := make([]float32, n)
						layerNormParamGradRowVec(o.dw, db, dy, x, 0.25, 2)
						o.silu, o.sdx = make([]float32, n), make([]float32, n)
						siluRowVec(o.silu, x)
						siluBackwardRowVec(o.sdx, x, dy)
						o.sw, o.sdg, o.sdu = make([]float32, n), make([]float32, n), make([]float32, n)
						swigluRowVec(o.sw, x, w)
						swigluBackwardRowVec(o.sdg, o.sdu, x, w, dy)
					})
					return o
				}
				g := run(isaGo)
				for _, p := range asmPaths() {
					a := run(p)
					what := func(k string) string { return fmt.Sprintf("%s %s(n=%d, x[%d]=%g)", p, k, n, pos, v) }
					agree(what("gelu"), a.gelu, g.gelu, 2e-6, 1e-30)
					agree(what("gelu dx"), a.gdx, g.gdx, 2e-6, 1)
					agree(what("gelu db"), a.db, g.db, 2e-6, 1)
					agree(what("softmax"), a.sm, g.sm, 2e-6, 1e-30)
					agree(what("add"), a.add, g.add, 0, 0)
					agree(what("layernorm"), a.ln, g.ln, 1e-6, 1)
					agree(what("layernorm dw"), a.dw, g.dw, 1e-6, 1)
					agree(what("silu"), a.silu, g.silu, 2e-6, 1e-30)
					agree(what("silu dx"), a.sdx, g.sdx, 2e-6, 1)
					agree(what("swiglu"), a.sw, g.sw, 2e-6, 1e-30)
					agree(what("swiglu dgate"), a.sdg, g.sdg, 2e-6, 1)
					agree(what("swiglu dup"), a.sdu, g.sdu, 2e-6, 1e-30)
				}
			}
		}
	}
}
