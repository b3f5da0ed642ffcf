package kernels

import (
	"fmt"
	"math"
	"testing"
)

// Tests of the text models' row kernels: RMSNorm, SiLU/SwiGLU, rotary
// embeddings and the masked attention softmax.

func rmsNormRef64(x, w []float64, rows, cols int, eps float64) []float64 {
	y := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		var ss float64
		for _, v := range x[r*cols : (r+1)*cols] {
			ss += v * v
		}
		rs := 1 / math.Sqrt(ss/float64(cols)+eps)
		for j := 0; j < cols; j++ {
			y[r*cols+j] = w[j] * x[r*cols+j] * rs
		}
	}
	return y
}

func TestRMSNorm(t *testing.T) {
	for _, p := range paths() {
		t.Run(p.String(), func(t *testing.T) { withRowPath(p, func() { testRMSNorm(t) }) })
	}
}

func testRMSNorm(t *testing.T) {
	for _, cols := range rkSizes {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			rng := rkRNG(uint64(cols))
			const rows, eps = 3, 1e-6
			x, w, dy := rkRand(rng, rows*cols, 2), rkRand(rng, cols, 1.5), rkRand(rng, rows*cols, 1)
			y, rstd := make([]float32, rows*cols), make([]float32, rows)
			RMSNormForward(y, rstd, x, w, rows, cols, eps)
			rkClose(t, "y", y, rmsNormRef64(rk64(x), rk64(w), rows, cols, eps), 1e-6, 1e-3)

			dx0, dw0 := rkRand(rng, rows*cols, 1), rkRand(rng, cols, 1)
			dx, dw := append([]float32(nil), dx0...), append([]float32(nil), dw0...)
			RMSNormBackward(dx, dw, dy, x, w, rstd, rows, cols)
			wantDX := rkNumGrad(func(xx []float64) float64 { return rkDot(dy, rmsNormRef64(xx, rk64(w), rows, cols, eps)) }, rk64(x))
			wantDW := rkNumGrad(func(ww []float64) float64 { return rkDot(dy, rmsNormRef64(rk64(x), ww, rows, cols, eps)) }, rk64(w))
			if cols > 1 { // one value normalises to ±w: dx is 0 up to eps, all rounding
				rkClose(t, "dx", rkGradOf(dx, dx0), wantDX, rkGradTol, rkGradFloor)
			}
			rkClose(t, "dw", rkGradOf(dw, dw0), wantDW, rkGradTol, rkGradFloor)
		})
	}
}

// TestRMSNormBackwardChunks checks that the weight gradient does not depend
// on the thread count on inputs large enough to be split into chunks.
func TestRMSNormBackwardChunks(t *testing.T) {
	rng := rkRNG(3)
	const rows, cols = 300, 256
	x, w, dy := rkRand(rng, rows*cols, 1), rkRand(rng, cols, 1), rkRand(rng, rows*cols, 1)
	y, rstd := make([]float32, rows*cols), make([]float32, rows)
	RMSNormForward(y, rstd, x, w, rows, cols, 1e-5)
	var one, two []float32
	rkThreads(1, func() { one = make([]float32, cols); RMSNormBackward(nil, one, dy, x, w, rstd, rows, cols) })
	rkThreads(2, func() { two = make([]float32, cols); RMSNormBackward(nil, two, dy, x, w, rstd, rows, cols) })
	if !rkBitsEqual(one, two) {
		t.Error("dw differs between 1 and 2 threads")
	}
}

func silu64(x float64) float64 { return x / (1 + math.Exp(-x)) }

func TestSwiGLU(t *testing.T) {
	for _, p := range paths() {
		t.Run(p.String(), func(t *testing.T) { withRowPath(p, func() { testSwiGLU(t) }) })
	}
}

func testSwiGLU(t *testing.T) {
	rng := rkRNG(5)
	const n = 97
	g, u, dy := rkRand(rng, n, 6), rkRand(rng, n, 2), rkRand(rng, n, 1)
	g[0], g[1] = -80, 80 // no overflow at the extremes
	ref := func(gg, uu []float64) []float64 {
		y := make([]float64, n)
		for i := range y {
			y[i] = silu64(gg[i]) * uu[i]
		}
		return y
	}
	y := make([]float32, n)
	SwiGLUForward(y, g, u)
	rkClose(t, "y", y, ref(rk64(g), rk64(u)), 1e-6, 1e-6)
	dg0, du0 := rkRand(rng, n, 1), rkRand(rng, n, 1)
	dg, du := append([]float32(nil), dg0...), append([]float32(nil), du0...)
	SwiGLUBackward(dg, du, g, u, dy)
	rkClose(t, "dgate", rkGradOf(dg, dg0), rkNumGrad(func(gg []float64) float64 { return rkDot(dy, ref(gg, rk64(u))) }, rk64(g)), rkGradTol, rkGradFloor)
	rkClose(t, "dup", rkGradOf(du, du0), rkNumGrad(func(uu []float64) float64 { return rkDot(dy, ref(rk64(g), uu)) }, rk64(u)), rkGradTol, rkGradFloor)

	// SiLU alone.
	SiLUForward(y, g)
	want := make([]float64, n)
	for i, v := range g {
		want[i] = silu64(float64(v))
	}
	rkClose(t, "silu", y, want, 1e-6, 1e-6)
	dx := make([]float32, n)
	SiLUBackward(dx, g, dy)
	rkClose(t, "silu dx", dx, rkNumGrad(func(gg []float64) float64 {
		s := make([]float64, n)
		for i, v := range gg {
			s[i] = silu64(v)
		}
		return rkDot(dy, s)
	}, rk64(g)), rkGradTol, rkGradFloor)
}

func TestRotary(t *testing.T) {
	rng := rkRNG(7)
	const tokens, T, pos0, heads, d, ld = 6, 3, 2, 2, 8, 20 // ld > heads·d: the rest of a row is untouched
	half := d / 2
	cos, sin := make([]float32, (pos0+T)*half), make([]float32, (pos0+T)*half)
	for p := 0; p < pos0+T; p++ {
		for i := 0; i < half; i++ {
			a := float64(p) * math.Pow(10000, -2*float64(i)/d)
			cos[p*half+i], sin[p*half+i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	x := rkRand(rng, tokens*ld, 1)
	orig := append([]float32(nil), x...)
	RotaryForward(x, tokens, T, pos0, heads, d, ld, cos, sin, false)
	want := make([]float64, len(x))
	for i, v := range orig {
		want[i] = float64(v)
	}
	for r := 0; r < tokens; r++ {
		p := pos0 + r%T
		for h := 0; h < heads; h++ {
			o := r*ld + h*d
			for i := 0; i < half; i++ {
				a, b := float64(orig[o+i]), float64(orig[o+half+i])
				c, s := float64(cos[p*half+i]), float64(sin[p*half+i])
				want[o+i], want[o+half+i] = a*c-b*s, b*c+a*s // x·cos + rotate_half(x)·sin
			}
		}
	}
	rkClose(t, "rotated", x, want, 1e-6, 1) // judged on the scale: a rotation cancels
	RotaryForward(x, tokens, T, pos0, heads, d, ld, cos, sin, true)
	rkClose(t, "rotated back", x, rk64(orig), 1e-6, 1)
	rkPanics(t, "odd", func() { RotaryForward(x, 1, 1, 0, 1, 3, 3, cos, sin, false) })
	rkPanics(t, "cos", func() { RotaryForward(x, tokens, T, 4, heads, d, ld, cos, sin, false) })
}

// softmaxAttentionRef is the masked softmax from its definition: masked
// scores are −∞, a row with nothing left is zero.
func softmaxAttentionRef(x []float32, rows, cols, tq int, scale float64, causal bool, keep []int32, per int) []float64 {
	y := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		ok := func(j int) bool {
			if causal && j > cols-tq+r%tq {
				return false
			}
			return keep == nil || keep[(r/tq/per)*cols+j] != 0
		}
		mx := math.Inf(-1)
		for j := 0; j < cols; j++ {
			if ok(j) {
				mx = max(mx, scale*float64(x[r*cols+j]))
			}
		}
		var s float64
		for j := 0; j < cols; j++ {
			if ok(j) {
				y[r*cols+j] = math.Exp(scale*float64(x[r*cols+j]) - mx)
				s += y[r*cols+j]
			}
		}
		for j := 0; j < cols && s > 0; j++ {
			y[r*cols+j] /= s
		}
	}
	return y
}

func TestSoftmaxAttention(t *testing.T) {
	rng := rkRNG(9)
	const B, heads = 2, 3
	for _, path := range KernelPaths() {
		for _, tc := range []struct {
			tq, cols int
			causal   bool
			mask     bool
			pad      int // with mask: 0 random holes, 1 padded on the right, −1 on the left
		}{{5, 5, true, false, 0}, {5, 5, false, true, 0}, {5, 5, true, true, 0}, {2, 7, true, false, 0}, {1, 19, true, true, 0}, {4, 9, false, false, 0},
			{5, 5, true, true, 1}, {19, 19, true, true, 1}, {19, 19, false, true, -1}, {3, 40, true, true, -1}, {3, 40, false, true, 1}} {
			t.Run(fmt.Sprintf("%s,tq=%d,cols=%d,causal=%v,mask=%v,pad=%d", path, tc.tq, tc.cols, tc.causal, tc.mask, tc.pad), func(t *testing.T) {
				old, err := SetKernelPath(path)
				if err != nil {
					t.Fatal(err)
				}
				defer SetKernelPath(old)
				rows := B * heads * tc.tq
				x := rkRand(rng, rows*tc.cols, 4)
				var keep []int32
				if tc.mask {
					keep = make([]int32, B*tc.cols)
					for i := range keep {
						keep[i] = int32(rng.IntN(4) % 3 % 2) // mostly ones
					}
					keep[0], keep[tc.cols-1] = 1, 0
					if tc.pad != 0 { // the first sequence: tokens then padding, or the reverse (one run)
						for j := range tc.cols {
							keep[j] = 0
							if j < tc.cols*2/3 == (tc.pad > 0) {
								keep[j] = 1
							}
						}
					}
					for j := 0; j < tc.cols; j++ { // the second sequence: nothing to attend to
						keep[tc.cols+j] = 0
					}
				}
				want := softmaxAttentionRef(x, rows, tc.cols, tc.tq, 0.35, tc.causal, keep, heads)
				y := make([]float32, len(x))
				SoftmaxAttention(y, x, rows, tc.cols, tc.tq, 0.35, tc.causal, keep, heads)
				rkClose(t, "y", y, want, 2e-6, 1e-6)
				SoftmaxAttention(x, x, rows, tc.cols, tc.tq, 0.35, tc.causal, keep, heads) // aliased
				rkClose(t, "y aliased", x, want, 2e-6, 1e-6)
			})
		}
	}
	rkPanics(t, "tq", func() { SoftmaxAttention(make([]float32, 6), make([]float32, 6), 2, 3, 4, 1, true, nil, 0) })
	rkPanics(t, "keep", func() { SoftmaxAttention(make([]float32, 6), make([]float32, 6), 2, 3, 1, 1, true, []int32{1}, 1) })
}
