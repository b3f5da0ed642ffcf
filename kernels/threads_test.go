package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestRowKernelsAnyThreadCount runs every exported row kernel on inputs
// large enough to be split (beyond parallelGrain) with 1 to 8 workers, on
// every kernel path, and requires the same bits as one worker: rows and
// columns are split over Threads() for any count, and reductions run over
// chunks fixed by the sizes alone. The machine may have fewer cores than
// workers; correctness must not depend on it.
func TestRowKernelsAnyThreadCount(t *testing.T) {
	const rows, cols = 3 * 197, 192 // 113k elements: split at every count
	rng := rkRNG(21)
	x, dy := rkRand(rng, rows*cols, 3), rkRand(rng, rows*cols, 1)
	w, b := rkRand(rng, cols, 1), rkRand(rng, cols, 1)
	targets := make([]int32, rows)
	for i := range targets {
		targets[i] = int32(i % cols)
	}
	targets[5] = -100 // ignored
	run := func() map[string][]float32 {
		out := map[string][]float32{}
		keep := func(name string, v []float32) { out[name] = append([]float32(nil), v...) }
		y := make([]float32, rows*cols)
		dx := make([]float32, rows*cols)
		GELUForward(y, x)
		keep("gelu", y)
		GELUBackward(dx, x, dy)
		keep("gelu dx", dx)
		GELUTanhForward(y, x)
		keep("gelu tanh", y)
		clear(dx)
		GELUTanhBackward(dx, x, dy)
		keep("gelu tanh dx", dx)
		SiLUForward(y, x)
		keep("silu", y)
		clear(dx)
		SiLUBackward(dx, x, dy)
		keep("silu dx", dx)
		SwiGLUForward(y, x, dy)
		keep("swiglu", y)
		clear(dx)
		du := make([]float32, len(x))
		SwiGLUBackward(dx, du, x, dy, y)
		keep("swiglu dgate", dx)
		keep("swiglu dup", du)
		pre := append([]float32(nil), x...)
		BiasGELUForward(y, pre, b, rows, cols)
		keep("bias gelu", y)
		clear(dx)
		db := make([]float32, cols)
		BiasGELUBackward(dx, db, pre, dy, rows, cols)
		keep("bias gelu dx", dx)
		keep("bias gelu db", db)
		SoftmaxForward(y, x, rows, cols, 0.125, false)
		keep("softmax", y)
		clear(dx)
		SoftmaxBackward(dx, y, dy, rows, cols, 0.125)
		keep("softmax dx", dx)
		sq := 24 // causal softmax on 24×24 blocks
		SoftmaxForward(y[:sq*sq*100], x[:sq*sq*100], sq*100, sq, 1, true)
		keep("softmax causal", y[:sq*sq*100])
		pad := make([]int32, 2*sq) // 100 blocks, 50 heads per sequence: one padded on the left, one with holes
		for j := range pad {
			pad[j] = int32(min(1, j%5))
			if j < sq {
				pad[j] = int32(min(1, j/5))
			}
		}
		SoftmaxAttention(y[:sq*sq*100], x[:sq*sq*100], sq*100, sq, sq, 0.125, true, pad, 50)
		keep("softmax attention masked", y[:sq*sq*100])
		mean, rstd := make([]float32, rows), make([]float32, rows)
		LayerNormForward(y, mean, rstd, x, w, b, rows, cols, 1e-6)
		keep("layernorm", y)
		keep("layernorm mean", mean)
		clear(dx)
		dw, dbl := make([]float32, cols), make([]float32, cols)
		LayerNormBackward(dx, dw, dbl, dy, x, w, mean, rstd, rows, cols)
		keep("layernorm dx", dx)
		keep("layernorm dw", dw)
		keep("layernorm db", dbl)
		RMSNormForward(y, rstd, x, w, rows, cols, 1e-6)
		keep("rmsnorm", y)
		keep("rmsnorm rstd", rstd)
		clear(dx)
		clear(dw)
		RMSNormBackward(dx, dw, dy, x, w, rstd, rows, cols)
		keep("rmsnorm dx", dx)
		keep("rmsnorm dw", dw)
		copy(y, x)
		AddBias(y, b, rows, cols)
		keep("add bias", y)
		db = make([]float32, cols)
		BiasBackward(db, dy, rows, cols)
		keep("bias backward", db)
		Add(y, x, dy)
		keep("add", y)
		AddTo(y, x)
		keep("add to", y)
		Scale(y, 0.5)
		keep("scale", y)
		DropoutForward(y, x, 0.1, 7, 3)
		keep("dropout", y)
		clear(dx)
		DropoutBackward(dx, dy, 0.1, 7, 3)
		keep("dropout dx", dx)
		probs := make([]float32, rows*cols)
		loss, n := CrossEntropyForward(probs, x, targets, rows, cols)
		keep("ce probs", probs)
		keep("ce loss", []float32{float32(loss), float32(n), float32(loss - float64(float32(loss)))})
		clear(dx)
		CrossEntropyBackward(dx, probs, targets, rows, cols, 1/float32(n))
		keep("ce dlogits", dx)
		p, m, v := append([]float32(nil), x...), make([]float32, len(x)), make([]float32, len(x))
		AdamWStep(p, dy, m, v, AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}, 3)
		keep("adamw", p)
		return out
	}
	for _, path := range paths() {
		var ref map[string][]float32
		rkThreads(1, func() { withRowPath(path, func() { ref = run() }) })
		for th := 2; th <= 8; th++ {
			var got map[string][]float32
			rkThreads(th, func() { withRowPath(path, func() { got = run() }) })
			for name, want := range ref {
				if !rkBitsEqual(got[name], want) {
					i := firstDiff(got[name], want)
					t.Errorf("%s, %d threads: %s differs from 1 thread at %d: %g vs %g", path, th, name, i, got[name][i], want[i])
				}
			}
		}
	}
}

func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return 0
}

// TestParallelForAnyCount checks that ParallelFor covers [0, n) exactly
// once with at most Threads() calls, for worker counts from 1 to 8 and
// more workers than indices.
func TestParallelForAnyCount(t *testing.T) {
	for th := 1; th <= 8; th++ {
		for _, n := range []int{0, 1, 2, 5, 7, 8, 9, 100} {
			t.Run(fmt.Sprintf("t%d/n%d", th, n), func(t *testing.T) {
				seen := make([]int32, n)
				calls := make(chan struct{}, 16)
				rkThreads(th, func() {
					ParallelFor(n, func(lo, hi int) {
						calls <- struct{}{}
						for i := lo; i < hi; i++ {
							seen[i]++ // disjoint ranges: no race
						}
					})
				})
				for i, s := range seen {
					if s != 1 {
						t.Fatalf("index %d visited %d times", i, s)
					}
				}
				if c := len(calls); c > th || n > 0 && c == 0 {
					t.Errorf("%d calls for %d workers", c, th)
				}
			})
		}
	}
}

// TestGemmAnyThreadCount: a product split over 2 to 8 workers (the split
// threshold lowered so that every count is used) gives the bits of one
// worker, on every path, transpose and with beta ≠ 0: every element is
// computed by one worker with the same k blocking and the same tile kind.
func TestGemmAnyThreadCount(t *testing.T) {
	rng := rkRNG(22)
	const m, n, k = 203, 150, 300
	a, b := rkRand(rng, m*k, 1), rkRand(rng, k*n, 1)
	c0 := rkRand(rng, m*n, 1)
	old := gemmMinFlopsPerThread
	gemmMinFlopsPerThread = 0
	defer func() { gemmMinFlopsPerThread = old }()
	for _, path := range paths() {
		for tr := 0; tr < 4; tr++ {
			transA, transB := tr&1 != 0, tr&2 != 0
			lda, ldb := k, n
			if transA {
				lda = m
			}
			if transB {
				ldb = k
			}
			var ref []float32
			for th := 1; th <= 8; th++ {
				got := append([]float32(nil), c0...)
				rkThreads(th, func() {
					withRowPath(path, func() { Sgemm(transA, transB, m, n, k, 1.5, a, lda, b, ldb, 0.5, got, n) })
				})
				if th == 1 {
					ref = got
				} else if !rkBitsEqual(got, ref) {
					i := firstDiff(got, ref)
					t.Errorf("%s tA=%v tB=%v, %d threads: C[%d] = %g, one thread %g", path, transA, transB, th, i, got[i], ref[i])
				}
			}
		}
	}
}
