package kernels

import (
	"math"
	"testing"
)

// softmaxRef64 is the plain float64 softmax(scale·x) per row, causal rows
// masked as SoftmaxForward documents.
func softmaxRef64(x []float64, rows, cols int, scale float64, causal bool) []float64 {
	y := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		n := cols
		if causal {
			n = r%cols + 1
		}
		xr, yr := x[r*cols:r*cols+n], y[r*cols:r*cols+n]
		mx := math.Inf(-1)
		for _, v := range xr {
			mx = max(mx, scale*v)
		}
		var sum float64
		for j, v := range xr {
			yr[j] = math.Exp(scale*v - mx)
			sum += yr[j]
		}
		for j := range yr {
			yr[j] /= sum
		}
	}
	return y
}

func TestSoftmaxForward(t *testing.T) {
	rng := rkRNG(1)
	for _, cols := range append(rkSizes, 197) {
		for _, rows := range []int{1, 3, 8} {
			for _, scale := range []float32{1, 0.125, -0.5} {
				for _, causal := range []bool{false, true} {
					x := rkRand(rng, rows*cols, 6)
					y := make([]float32, rows*cols)
					SoftmaxForward(y, x, rows, cols, scale, causal)
					want := softmaxRef64(rk64(x), rows, cols, float64(scale), causal)
					rkClose(t, "softmax", y, want, 2e-6, 1e-30)
				}
			}
		}
	}
}

func TestSoftmaxForwardExtremes(t *testing.T) {
	for _, c := range []struct {
		name   string
		offset float64 // added to every logit
		spread float64 // logits uniform in offset ± spread
	}{
		{"large logits", 1e4, 3},
		{"large negative logits", -3e4, 3},
		{"wide spread", 0, 80}, // exp(±80) would overflow float32 unshifted
		{"huge spread", 0, 500},
	} {
		rng := rkRNG(2)
		const rows, cols = 5, 65
		x := rkRand(rng, rows*cols, c.spread)
		for i := range x {
			x[i] += float32(c.offset)
		}
		y := make([]float32, len(x))
		SoftmaxForward(y, x, rows, cols, 1, false)
		rkClose(t, c.name, y, softmaxRef64(rk64(x), rows, cols, 1, false), 2e-6, 1e-30)
		for r := 0; r < rows; r++ {
			var s float64
			for _, v := range y[r*cols : (r+1)*cols] {
				s += float64(v)
			}
			if math.Abs(s-1) > 1e-5 {
				t.Errorf("%s: row %d sums to %g", c.name, r, s)
			}
		}
	}
}

func TestSoftmaxCausalMask(t *testing.T) {
	const cols, heads = 7, 2
	rows := heads * cols
	x := rkRand(rkRNG(3), rows*cols, 2)
	y := make([]float32, len(x))
	for i := range y {
		y[i] = 42 // must be overwritten, masked entries included
	}
	SoftmaxForward(y, x, rows, cols, 1, true)
	for r := 0; r < rows; r++ {
		q := r % cols
		for j := 0; j < cols; j++ {
			if v := y[r*cols+j]; (j > q) != (v == 0) {
				t.Errorf("row %d (query %d) col %d: p = %g", r, q, j, v)
			}
		}
	}
	if y[0] != 1 {
		t.Errorf("first query sees only itself: p = %g, want 1", y[0])
	}
}

func TestSoftmaxAliasAndEmpty(t *testing.T) {
	x := rkRand(rkRNG(4), 3*17, 3)
	want := softmaxRef64(rk64(x), 3, 17, 0.5, false)
	SoftmaxForward(x, x, 3, 17, 0.5, false)
	rkClose(t, "in place", x, want, 2e-6, 1e-30)
	SoftmaxForward(nil, nil, 0, 5, 1, false) // nothing to do, no panic
}

func TestSoftmaxBackward(t *testing.T) {
	rng := rkRNG(5)
	for _, cols := range rkSizes {
		for _, causal := range []bool{false, true} {
			for _, scale := range []float32{1, 0.3, -0.7} {
				const rows = 3
				x, w := rkRand(rng, rows*cols, 3), rkRand(rng, rows*cols, 1)
				y := make([]float32, rows*cols)
				SoftmaxForward(y, x, rows, cols, scale, causal)
				dx0 := rkRand(rng, rows*cols, 1)
				dx := append([]float32(nil), dx0...)
				SoftmaxBackward(dx, y, w, rows, cols, scale)
				num := rkNumGrad(func(x []float64) float64 {
					return rkDot(w, softmaxRef64(x, rows, cols, float64(scale), causal))
				}, rk64(x))
				rkClose(t, "softmax dx", rkGradOf(dx, dx0), num, rkGradTol, rkGradFloor)
			}
		}
	}
}

func TestBackwardNilSkipped(t *testing.T) {
	// A nil gradient output is skipped, whatever the other sizes say.
	f := func(n int) []float32 { return make([]float32, n) }
	SoftmaxBackward(nil, f(6), f(6), 2, 3, 1)
	GELUBackward(nil, f(6), f(6))
	GELUTanhBackward(nil, f(6), f(6))
	DropoutBackward(nil, f(6), 0.5, 1, 0)
	CrossEntropyBackward(nil, f(6), []int32{0, 1}, 2, 3, 1)
	BiasBackward(nil, f(6), 2, 3)
	BiasGELUBackward(nil, nil, f(6), f(6), 2, 3)
	LayerNormBackward(nil, nil, nil, f(6), f(6), nil, f(2), f(2), 2, 3)
}

func TestSoftmaxPanics(t *testing.T) {
	rkPanics(t, "SoftmaxForward: y", func() { SoftmaxForward(make([]float32, 5), make([]float32, 6), 2, 3, 1, false) })
	rkPanics(t, "SoftmaxBackward: dx", func() {
		SoftmaxBackward(make([]float32, 5), make([]float32, 6), make([]float32, 6), 2, 3, 1)
	})
}

func TestSoftmaxThreads(t *testing.T) {
	// Large enough to run in parallel: every thread count gives the same bits.
	const rows, cols = 300, 197
	x, dy := rkRand(rkRNG(6), rows*cols, 4), rkRand(rkRNG(7), rows*cols, 1)
	run := func() (y, dx []float32) {
		y, dx = make([]float32, rows*cols), make([]float32, rows*cols)
		SoftmaxForward(y, x, rows, cols, 0.125, true)
		SoftmaxBackward(dx, y, dy, rows, cols, 0.125)
		return
	}
	var y1, dx1, y4, dx4 []float32
	rkThreads(1, func() { y1, dx1 = run() })
	rkThreads(4, func() { y4, dx4 = run() })
	if !rkBitsEqual(y1, y4) || !rkBitsEqual(dx1, dx4) {
		t.Error("results depend on the thread count")
	}
}

// ViT-Tiny attention: batch 8 × 3 heads × 197 queries, 197 keys.
const benchAttnRows, benchAttnCols = 8 * 3 * 197, 197

func BenchmarkSoftmaxForward(b *testing.B) {
	x := rkRand(rkRNG(1), benchAttnRows*benchAttnCols, 4)
	y := make([]float32, len(x))
	for b.Loop() {
		SoftmaxForward(y, x, benchAttnRows, benchAttnCols, 0.125, false)
	}
	rkPerElem(b, len(x))
}

func BenchmarkSoftmaxBackward(b *testing.B) {
	x := rkRand(rkRNG(1), benchAttnRows*benchAttnCols, 4)
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	SoftmaxForward(y, x, benchAttnRows, benchAttnCols, 0.125, false)
	for b.Loop() {
		SoftmaxBackward(dx, y, x, benchAttnRows, benchAttnCols, 0.125)
	}
	rkPerElem(b, len(x))
}

// BenchmarkSoftmaxAttention compares the causal attention softmax of a
// LLaMA step (batch 8 × 4 heads × 256 queries, 256 keys) without a padding
// mask, with one of all ones (a full batch) and with each sequence's last
// quarter padded:
//
//	go test ./kernels -run '^$' -bench SoftmaxAttention -count 4
func BenchmarkSoftmaxAttention(b *testing.B) {
	const B, heads, T = 8, 4, 256
	rows := B * heads * T
	x := rkRand(rkRNG(1), rows*T, 4)
	y := make([]float32, len(x))
	ones, padded := make([]int32, B*T), make([]int32, B*T)
	for i := range ones {
		ones[i] = 1
		if i%T < 3*T/4 {
			padded[i] = 1
		}
	}
	for _, c := range []struct {
		name string
		keep []int32
	}{{"nomask", nil}, {"mask-ones", ones}, {"mask-padded", padded}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				SoftmaxAttention(y, x, rows, T, T, 0.125, true, c.keep, heads)
			}
			rkPerElem(b, len(x)/2)
		})
	}
}
