package kernels

import "testing"

// TestRMSNormRowVecMatchesGo runs every row length 0..40 (full blocks and
// masked tails) through the assembly and the pure-Go row loops: the forward
// and the weight gradient compute in the same order (same bits but for the
// weight gradient's FMA), the input gradient sums its dot product in float32
// lanes where Go sums in float64, judged against 1 (the scale of dy and w)
// since dx cancels. zmm and ymm give the same forward and weight gradient
// bits (no sum across lanes).
func TestRMSNormRowVecMatchesGo(t *testing.T) {
	if len(asmPaths()) == 0 {
		t.Skip("no assembly on this machine or build")
	}
	rng := rkRNG(13)
	for n := range 41 {
		x, w, dy := rkRand(rng, n, 2), rkRand(rng, n, 1.5), rkRand(rng, n, 1)
		dx0, dw0 := rkRand(rng, n, 1), rkRand(rng, n, 1)
		const rs = 0.75
		type out struct{ y, dx, dw []float32 }
		run := func(p isa) (o out) {
			withRowPath(p, func() {
				o.y = make([]float32, n)
				rmsNormRowVec(o.y, x, w, rs)
				o.dx = append([]float32(nil), dx0...)
				rmsNormBackwardRowVec(o.dx, dy, x, w, rs)
				o.dw = append([]float32(nil), dw0...)
				rmsNormParamGradRowVec(o.dw, dy, x, rs)
			})
			return o
		}
		g := run(isaGo)
		var prev out
		for i, p := range asmPaths() {
			a := run(p)
			if !rkBitsEqual(a.y, g.y) {
				t.Errorf("%s n=%d: rmsnorm differs from go", p, n)
			}
			rkAgree(t, p.String()+" rmsnorm dx", a.dx, g.dx, 1e-6, 1)
			rkAgree(t, p.String()+" rmsnorm dw", a.dw, g.dw, 1e-6, 1)
			if i > 0 && (!rkBitsEqual(a.y, prev.y) || !rkBitsEqual(a.dw, prev.dw)) {
				t.Errorf("n=%d: %s and %s RMSNorm differ", n, p, asmPaths()[i-1])
			}
			prev = a
		}
	}
}

// BenchmarkRMSNorm compares RMSNorm forward and backward on every kernel
// path in one run, on benchTokens rows of benchHidden, e.g.
//
//	go test ./kernels -run '^$' -bench RMSNorm -count 4
func BenchmarkRMSNorm(b *testing.B) {
	rows, cols := benchTokens, benchHidden
	x, w, dy := rkRand(rkRNG(1), rows*cols, 2), rkRand(rkRNG(2), cols, 1), rkRand(rkRNG(3), rows*cols, 1)
	y, rstd, dx, dw := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows*cols), make([]float32, cols)
	for _, p := range paths() {
		withRowPath(p, func() {
			b.Run("forward/"+p.String(), func(b *testing.B) {
				for b.Loop() {
					RMSNormForward(y, rstd, x, w, rows, cols, 1e-6)
				}
				rkPerElem(b, rows*cols)
			})
			b.Run("backward/"+p.String(), func(b *testing.B) {
				for b.Loop() {
					RMSNormBackward(dx, dw, dy, x, w, rstd, rows, cols)
				}
				rkPerElem(b, rows*cols)
			})
		})
	}
}
