package adalora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// randLayer is an SVD layer on a random 5→7 Linear with random rank-3
// factors, every factor trainable and input gradients on.
func randLayer(t *testing.T, rng *rand.Rand, dropout float64) *Linear {
	t.Helper()
	base := nn.NewLinear("blk.query", 5, 7, true)
	for _, p := range []*nn.Param{base.Weight, base.Bias} {
		for i, v := range p.Value.F32() {
			_ = v
			p.Value.F32()[i] = float32(rng.NormFloat64())
		}
	}
	base.SetInputGrad(true)
	l := newLinear(base, 3, 2, dropout)
	for _, p := range l.Params() {
		for i := range p.Value.F32() {
			p.Value.F32()[i] = float32(rng.NormFloat64())
		}
		if err := p.SetTrainable(true); err != nil {
			t.Fatal(err)
		}
	}
	l.SetInputGrad(true)
	return l
}

// TestLinearFiniteDifferences checks dX, dA, dE and dB of the SVD layer
// against central differences of L = Σ y·w, with and without dropout (the
// mask is a function of the step, so both sides see the same one), and in
// evaluation mode.
func TestLinearFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dropout  float64
		training bool
	}{{"plain", 0, true}, {"dropout", 0.3, true}, {"dropout-eval", 0.3, false}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			l := randLayer(t, rng, tc.dropout)
			l.SetTraining(tc.training)
			l.SetStep(7)
			x := tensor.New(tensor.F32, 4, 5)
			for i := range x.F32() {
				x.F32()[i] = float32(rng.NormFloat64())
			}
			w := make([]float64, 4*7)
			for i := range w {
				w[i] = rng.NormFloat64()
			}
			loss := func() float64 {
				y := l.Forward(x)
				var s float64
				for i, v := range y.F32() {
					s += float64(v) * w[i]
				}
				return s
			}
			loss()
			dy := tensor.New(tensor.F32, 4, 7)
			for i := range w {
				dy.F32()[i] = float32(w[i])
			}
			for _, p := range l.Params() {
				p.ZeroGrad()
			}
			dx := append([]float32(nil), l.Backward(dy).F32()...)
			check := func(name string, vals []float32, grad []float32) {
				const h = 1e-2
				for i := range vals {
					old := vals[i]
					vals[i] = old + h
					lp := loss()
					vals[i] = old - h
					lm := loss()
					vals[i] = old
					fd := (lp - lm) / (2 * h)
					if d := math.Abs(fd - float64(grad[i])); d > 1e-3*math.Max(1, math.Abs(fd)) {
						t.Errorf("%s[%d]: backward %g, finite difference %g", name, i, grad[i], fd)
					}
				}
			}
			check("x", x.F32(), dx)
			check("A", l.A.Value.F32(), l.A.Grad.F32())
			check("E", l.E.Value.F32(), l.E.Grad.F32())
			check("B", l.B.Value.F32(), l.B.Grad.F32())
		})
	}
}

// TestRegularizeFiniteDifferences checks the orthogonal regulariser's
// gradient against central differences of its value.
func TestRegularizeFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	l1, l2 := randLayer(t, rng, 0), randLayer(t, rng, 0)
	for _, l := range []*Linear{l1, l2} { // keep the Gram matrices moderate
		for _, p := range []*nn.Param{l.A, l.B} {
			for i := range p.Value.F32() {
				p.Value.F32()[i] *= 0.5
			}
		}
	}
	m := &Model{cfg: Config{OrthRegWeight: 0.7}, layers: []*Linear{l1, l2}}
	value := func() float64 {
		for _, l := range m.layers {
			for _, p := range l.Params() {
				p.ZeroGrad()
			}
		}
		return m.Regularize()
	}
	value()
	grads := map[*nn.Param][]float32{}
	for _, l := range m.layers {
		for _, p := range []*nn.Param{l.A, l.B} {
			grads[p] = append([]float32(nil), p.Grad.F32()...)
		}
		for _, v := range l.E.Grad.F32() {
			if v != 0 {
				t.Errorf("the regulariser gave lora_E a gradient")
			}
		}
	}
	for p, g := range grads {
		vals := p.Value.F32()
		for i := range vals {
			const h = 1e-3
			old := vals[i]
			vals[i] = old + h
			lp := value()
			vals[i] = old - h
			lm := value()
			vals[i] = old
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - float64(g[i])); d > 2e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: gradient %g, finite difference %g", p.Name, i, g[i], fd)
			}
		}
	}
}

// TestMaskToBudgetTies: every triplet at or below the k-th smallest score
// is masked, so equal scores at the threshold are masked together (as
// PEFT's "<= threshold"), and k <= 0 masks nothing.
func TestMaskToBudgetTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	l := randLayer(t, rng, 0)
	m := &Model{cfg: Config{Beta1: 0.5, Beta2: 0.5, TargetR: 1}, layers: []*Linear{l}}
	a := newRankAllocator(m)
	m.alloc = a
	// Hand-set scores: E's sensitivity only, A and B zero.
	a.state[l.E] = &ipt{cur: make([]float32, 3), avg: []float32{1, 2, 1}, unc: []float32{1, 1, 1}}
	rp := a.MaskToBudget(2) // k = 1: threshold 1, and both ones go
	if got := rp["blk.query.lora_E"]; got[0] || !got[1] || got[2] {
		t.Errorf("mask %v, want [false true false]", got)
	}
	if e := l.E.Value.F32(); e[0] != 0 || e[1] == 0 || e[2] != 0 {
		t.Errorf("E after masking %v", e)
	}
	rp = a.MaskToBudget(3) // k = 0
	if got := rp["blk.query.lora_E"]; !got[0] || !got[1] || !got[2] {
		t.Errorf("k = 0 masked %v", got)
	}
}
