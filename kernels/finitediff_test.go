package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Shared helpers of the row-kernel tests (prefix rk: the package's tests
// share one namespace with the GEMM tests).

// rkSizes are the odd row lengths every row kernel is tried on: below, at and
// just past the 4-wide unrolling and the 64-element marks.
var rkSizes = []int{1, 7, 17, 63, 65}

func rkRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// rkRand returns n values uniform in [−scale, scale).
func rkRand(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return x
}

// rk64 widens x (nil stays nil: "no affine" and friends).
func rk64(x []float32) []float64 {
	if x == nil {
		return nil
	}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// rkDot returns Σ w·y in float64: the scalar loss L = Σ w⊙y whose gradient
// with respect to y is w.
func rkDot(w []float32, y []float64) float64 {
	var s float64
	for i, v := range y {
		s += float64(w[i]) * v
	}
	return s
}

// rkNumGrad returns ∂f/∂x by central differences in float64, with a step
// relative to each coordinate's size. For the smooth float64 references used
// here the error is ~1e-9 relative, far below the 1e-3 the tests demand.
func rkNumGrad(f func(x []float64) float64, x []float64) []float64 {
	g := make([]float64, len(x))
	xx := append([]float64(nil), x...)
	for i, v := range x {
		h := 1e-6 * max(1, math.Abs(v))
		xx[i] = v + h
		fp := f(xx)
		xx[i] = v - h
		fm := f(xx)
		xx[i] = v
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// rkGradOf is what a backward kernel added into a gradient buffer that held
// before: the buffers start non-zero so the tests also prove the kernels add
// rather than overwrite.
func rkGradOf(after, before []float32) []float32 {
	d := make([]float32, len(after))
	for i := range after {
		d[i] = after[i] - before[i]
	}
	return d
}

// rkClose fails unless |got−want| ≤ rtol·max(|want|, floor·max|want|) for
// every element: relative error, with a floor so that entries which are zero
// up to cancellation are judged on the vector's scale.
func rkClose(t *testing.T, what string, got []float32, want []float64, rtol, floor float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	bad := 0
	for i, w := range want {
		g := float64(got[i])
		tol := rtol * max(math.Abs(w), floor*scale)
		if !(math.Abs(g-w) <= tol) && !(g == w) { // g == w covers equal infinities
			if bad < 5 {
				t.Errorf("%s[%d] = %.9g, want %.9g (rel err %.3g)", what, i, g, w, math.Abs(g-w)/max(math.Abs(w), 1e-300))
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values off", what, bad, len(want))
	}
}

// rkGradTol and rkGradFloor are the gradient checks' tolerance: 1e-3
// relative, entries below 1 % of the largest judged on that scale.
const rkGradTol, rkGradFloor = 1e-3, 1e-2

// rkPanics fails unless fn panics with a message starting "kernels:" that
// contains want.
func rkPanics(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if r == nil || !strings.HasPrefix(msg, "kernels:") || !strings.Contains(msg, want) {
			t.Errorf("panic = %v, want a \"kernels:\" message containing %q", r, want)
		}
	}()
	fn()
}

// rkThreads runs fn with the kernel pool set to n workers.
func rkThreads(n int, fn func()) {
	old := SetThreads(n)
	defer SetThreads(old)
	fn()
}

// rkBitsEqual reports whether a and b are identical bit for bit.
func rkBitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// rkPerElem reports ns per element in a benchmark.
func rkPerElem(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
}

func TestRKNumGrad(t *testing.T) {
	// The helper itself: the gradient of Σ sin(x_i)·x_i is sin + x·cos.
	x := []float64{-3, -0.5, 0, 0.25, 2, 40}
	got := rkNumGrad(func(x []float64) float64 {
		var s float64
		for _, v := range x {
			s += math.Sin(v) * v
		}
		return s
	}, x)
	want := make([]float32, len(x))
	for i, v := range x {
		want[i] = float32(math.Sin(v) + v*math.Cos(v))
	}
	rkClose(t, "numgrad", want, got, 1e-6, 1e-6)
}
