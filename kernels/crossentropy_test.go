package kernels

import (
	"math"
	"testing"
)

// crossEntropyRef64 is −mean over non-ignored rows of log softmax(x)[t],
// in float64, with the softmax probabilities.
func crossEntropyRef64(x []float64, targets []int32, rows, cols int) (loss float64, n int, probs []float64) {
	probs = softmaxRef64(x, rows, cols, 1, false)
	for r := 0; r < rows; r++ {
		t := targets[r]
		if t == IgnoreIndex {
			continue
		}
		xr := x[r*cols : (r+1)*cols]
		mx := math.Inf(-1)
		for _, v := range xr {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range xr {
			s += math.Exp(v - mx)
		}
		loss -= xr[t] - mx - math.Log(s) // log softmax at the target
		n++
	}
	if n == 0 {
		return 0, 0, probs
	}
	return loss / float64(n), n, probs
}

// rkTargets draws targets in [0, cols), with every ignoreEvery-th row
// IgnoreIndex (none if ignoreEvery is 0).
func rkTargets(seed uint64, rows, cols, ignoreEvery int) []int32 {
	rng := rkRNG(seed)
	t := make([]int32, rows)
	for r := range t {
		t[r] = int32(rng.IntN(cols))
		if ignoreEvery > 0 && r%ignoreEvery == 0 {
			t[r] = IgnoreIndex
		}
	}
	return t
}

func TestCrossEntropyForward(t *testing.T) {
	rng := rkRNG(51)
	for _, cols := range append(rkSizes, 1000) {
		for _, c := range []struct {
			name           string
			rows, ignore   int
			offset, spread float64
		}{
			{"plain", 5, 0, 0, 4},
			{"ignored rows", 7, 3, 0, 4},
			{"large logits", 4, 0, 2e4, 5},
			{"wide spread", 4, 2, 0, 200}, // exp(±200) overflows even unshifted float64 sums of exp(x)
		} {
			x := rkRand(rng, c.rows*cols, c.spread)
			for i := range x {
				x[i] += float32(c.offset)
			}
			targets := rkTargets(uint64(cols), c.rows, cols, c.ignore)
			probs := make([]float32, len(x))
			loss, n := CrossEntropyForward(probs, x, targets, c.rows, cols)
			wl, wn, wp := crossEntropyRef64(rk64(x), targets, c.rows, cols)
			if n != wn || math.Abs(loss-wl) > 1e-9*max(1, math.Abs(wl)) {
				t.Errorf("%s cols=%d: loss, n = %.12g, %d, want %.12g, %d", c.name, cols, loss, n, wl, wn)
			}
			rkClose(t, c.name+" probs", probs, wp, 2e-6, 1e-30)
		}
	}
}

func TestCrossEntropyAllIgnored(t *testing.T) {
	const rows, cols = 3, 5
	x := rkRand(rkRNG(52), rows*cols, 2)
	targets := []int32{IgnoreIndex, IgnoreIndex, IgnoreIndex}
	probs := make([]float32, rows*cols)
	if loss, n := CrossEntropyForward(probs, x, targets, rows, cols); loss != 0 || n != 0 {
		t.Errorf("all ignored: loss, n = %g, %d, want 0, 0", loss, n)
	}
	// The probabilities are still computed (a caller may want them).
	rkClose(t, "probs", probs, softmaxRef64(rk64(x), rows, cols, 1, false), 2e-6, 1e-30)
	d := make([]float32, rows*cols)
	CrossEntropyBackward(d, probs, targets, rows, cols, 1)
	for _, v := range d {
		if v != 0 {
			t.Fatal("ignored rows got a gradient")
		}
	}
}

func TestCrossEntropyBackward(t *testing.T) {
	rng := rkRNG(53)
	for _, cols := range rkSizes {
		const rows = 5
		x := rkRand(rng, rows*cols, 3)
		targets := rkTargets(uint64(100+cols), rows, cols, 2)
		probs := make([]float32, rows*cols)
		_, n := CrossEntropyForward(probs, x, targets, rows, cols)
		d0 := rkRand(rng, rows*cols, 1)
		d := append([]float32(nil), d0...)
		CrossEntropyBackward(d, probs, targets, rows, cols, 1/float32(n))
		num := rkNumGrad(func(x []float64) float64 {
			l, _, _ := crossEntropyRef64(x, targets, rows, cols)
			return l
		}, rk64(x))
		rkClose(t, "dlogits", rkGradOf(d, d0), num, rkGradTol, rkGradFloor)
	}
}

func TestCrossEntropyThreads(t *testing.T) {
	const rows, cols = 64, 1000
	if numChunks(rows, 8*cols) < 2 {
		t.Fatal("test too small to exercise chunking")
	}
	x := rkRand(rkRNG(54), rows*cols, 5)
	targets := rkTargets(55, rows, cols, 5)
	run := func() (float64, []float32) {
		p := make([]float32, rows*cols)
		l, _ := CrossEntropyForward(p, x, targets, rows, cols)
		return l, p
	}
	var l1, l4 float64
	var p1, p4 []float32
	rkThreads(1, func() { l1, p1 = run() })
	rkThreads(4, func() { l4, p4 = run() })
	if l1 != l4 || !rkBitsEqual(p1, p4) {
		t.Errorf("results depend on the thread count: loss %v vs %v", l1, l4)
	}
	wl, _, _ := crossEntropyRef64(rk64(x), targets, rows, cols)
	if math.Abs(l4-wl) > 1e-9*wl {
		t.Errorf("chunked loss = %.12g, want %.12g", l4, wl)
	}
}

func TestCrossEntropyPanics(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	rkPanics(t, "target 5 of row 1", func() { CrossEntropyForward(f(10), f(10), []int32{0, 5}, 2, 5) })
	rkPanics(t, "target -1 of row 0", func() { CrossEntropyBackward(f(10), f(10), []int32{-1, 0}, 2, 5, 1) })
	rkPanics(t, "1 targets for 2 rows", func() { CrossEntropyForward(f(10), f(10), []int32{0}, 2, 5) })
	rkPanics(t, "CrossEntropyForward: probs", func() { CrossEntropyForward(f(9), f(10), []int32{0, 0}, 2, 5) })
}

func BenchmarkCrossEntropy(b *testing.B) {
	for _, c := range []struct {
		name       string
		rows, cols int
	}{{"8x1000", 8, 1000}, {"1576x1000", benchTokens, 1000}} {
		x := rkRand(rkRNG(1), c.rows*c.cols, 4)
		targets := rkTargets(2, c.rows, c.cols, 0)
		p, d := make([]float32, len(x)), make([]float32, len(x))
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_, n := CrossEntropyForward(p, x, targets, c.rows, c.cols)
				CrossEntropyBackward(d, p, targets, c.rows, c.cols, 1/float32(n))
			}
			rkPerElem(b, len(x))
		})
	}
}
