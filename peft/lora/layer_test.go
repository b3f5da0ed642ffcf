package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// lossOf is L = Σ w⊙y, a random projection of the output.
func lossOf(y *tensor.Tensor, w []float32) float64 {
	var s float64
	for i, v := range y.F32() {
		s += float64(v) * float64(w[i])
	}
	return s
}

// checkGrad compares an analytic gradient with central differences of f
// over every element of v. The LoRA output is linear in each of x, A and B
// separately, so central differences are exact up to rounding.
func checkGrad(t *testing.T, what string, v, grad []float32, f func() float64) {
	t.Helper()
	const eps = 0.05
	var maxAbs float64
	for _, g := range grad {
		maxAbs = math.Max(maxAbs, math.Abs(float64(g)))
	}
	for i := range v {
		old := v[i]
		v[i] = old + eps
		lp := f()
		v[i] = old - eps
		lm := f()
		v[i] = old
		fd := (lp - lm) / (2 * eps)
		if d := math.Abs(fd - float64(grad[i])); d > 1e-3*math.Max(maxAbs, 1e-3) {
			t.Fatalf("%s[%d]: analytic %g, finite difference %g", what, i, grad[i], fd)
		}
	}
}

func TestLinearGradients(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dropout  float64
		training bool
		rslora   bool
	}{
		{"plain", 0, true, false},
		{"dropout-train", 0.3, true, false},
		{"dropout-eval", 0.3, false, false},
		{"rslora", 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			const n, in, out, r = 5, 7, 6, 3
			base := nn.NewLinear("blk.query", in, out, true)
			randFill(rng, base.Weight.Value.F32(), 0.5)
			randFill(rng, base.Bias.Value.F32(), 0.5)
			l := newLinear(base)
			cfg := Config{UseRSLoRA: tc.rslora}
			mustAdd(t, l, "default", adapterSpec{r: r, alpha: 4, scale: cfg.Scaling(r, 4), dropout: tc.dropout, init: InitRandom}, rng)
			l.active = "default"
			l.SetTraining(tc.training)
			l.SetStep(3)
			a, b, _ := l.Factors("default")
			if err := a.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
			if err := b.SetTrainable(true); err != nil {
				t.Fatal(err)
			}
			x := tensor.New(tensor.F32, n, in)
			randFill(rng, x.F32(), 1)
			w := make([]float32, n*out)
			randFill(rng, w, 1)

			before := kernels.ReadCounters()
			y := l.Forward(x)
			dy := tensor.FromF32(append([]float32(nil), w...), n, out)
			dx := l.Backward(dy)
			calls := kernels.ReadCounters().Sub(before).Calls
			// forward: base, h, update; backward: dB, dh, dA, base dX, LoRA dX.
			if calls != 8 {
				t.Errorf("GEMM calls = %d, want 8 (no dW of the frozen base)", calls)
			}
			if base.Weight.Grad != nil {
				t.Fatal("frozen base weight has a gradient buffer")
			}
			_ = y
			dxCopy := append([]float32(nil), dx.F32()...)
			f := func() float64 { return lossOf(l.Forward(x), w) }
			checkGrad(t, "dA", a.Value.F32(), a.Grad.F32(), f)
			checkGrad(t, "dB", b.Value.F32(), b.Grad.F32(), f)
			checkGrad(t, "dx", x.F32(), dxCopy, f)
		})
	}
}

func TestLinearMatchesDenseUpdate(t *testing.T) {
	// y must equal x·(W + s·B·A)ᵀ + b: the merged weight computes the same.
	rng := rand.New(rand.NewPCG(1, 2))
	const n, in, out, r = 4, 9, 5, 2
	base := nn.NewLinear("q", in, out, true)
	randFill(rng, base.Weight.Value.F32(), 0.5)
	randFill(rng, base.Bias.Value.F32(), 0.5)
	l := newLinear(base)
	mustAdd(t, l, "default", adapterSpec{r: r, alpha: 8, scale: 4, dropout: 0, init: InitRandom}, rng)
	l.active = "default"
	x := tensor.New(tensor.F32, n, in)
	randFill(rng, x.F32(), 1)
	want := l.Forward(x).Clone()
	orig := base.Weight.Value.Clone()
	if err := l.merge("default"); err != nil {
		t.Fatal(err)
	}
	got := l.Forward(x) // merged: the adapter path is skipped
	for i := range want.F32() {
		if d := math.Abs(float64(got.F32()[i] - want.F32()[i])); d > 1e-5*math.Max(1, math.Abs(float64(want.F32()[i]))) {
			t.Fatalf("merged output %d: %g vs adapter %g", i, got.F32()[i], want.F32()[i])
		}
	}
	l.unmerge()
	for i, v := range orig.F32() {
		if d := math.Abs(float64(base.Weight.Value.F32()[i] - v)); d > 1e-6 {
			t.Fatalf("unmerge left W[%d] off by %g", i, d)
		}
	}
}

func TestInitDefault(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	l := newLinear(nn.NewLinear("q", 64, 32, false))
	mustAdd(t, l, "default", adapterSpec{r: 8, alpha: 16, scale: 2, dropout: 0, init: InitDefault}, rng)
	a, b, _ := l.Factors("default")
	bound := 1 / math.Sqrt(64)
	var sumSq float64
	for _, v := range a.Value.F32() {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("A value %g outside kaiming bound %g", v, bound)
		}
		sumSq += float64(v * v)
	}
	// Uniform(±bound) has variance bound²/3.
	if v := sumSq / float64(a.Len()); math.Abs(v-bound*bound/3) > 0.2*bound*bound/3 {
		t.Errorf("A variance %g, want ≈ %g", v, bound*bound/3)
	}
	for _, v := range b.Value.F32() {
		if v != 0 {
			t.Fatal("B must start at zero")
		}
	}
}

// mustAdd adds an adapter to l or fails the test.
func mustAdd(t *testing.T, l *Linear, name string, sp adapterSpec, rng *rand.Rand) {
	t.Helper()
	if err := l.addAdapter(name, sp, rng); err != nil {
		t.Fatal(err)
	}
}
