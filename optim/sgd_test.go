package optim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// sgdRef is torch.optim.SGD in float64 for one tensor (dampening 0).
type sgdRef struct {
	p, buf []float64
	steps  int
}

func (r *sgdRef) update(g []float32, lr, mu, wd float64, nesterov bool) {
	for i := range r.p {
		d := float64(g[i]) + wd*r.p[i]
		if mu != 0 {
			if r.steps == 0 {
				r.buf[i] = d // torch: buf = clone(d_p) at the first step
			} else {
				r.buf[i] = mu*r.buf[i] + d
			}
			if nesterov {
				d += mu * r.buf[i]
			} else {
				d = r.buf[i]
			}
		}
		r.p[i] -= lr * d
	}
	r.steps++
}

func TestSGDMatchesTorchFormula(t *testing.T) {
	for _, cfg := range []SGDConfig{
		{LR: 0.1},
		{LR: 0.05, WeightDecay: 1e-2},
		{LR: 0.01, Momentum: 0.9},
		{LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Nesterov: true},
	} {
		params := testParams(51, 1)
		frozen := clone(params[2].Value.F32())
		opt, err := NewSGD(params, cfg)
		if err != nil {
			t.Fatal(err)
		}
		refs := map[string]*sgdRef{}
		for _, p := range params {
			if p.Grad != nil {
				refs[p.Name] = &sgdRef{p: widen(p.Value.F32()), buf: make([]float64, p.Len())}
			}
		}
		rng := rand.New(rand.NewPCG(52, 1))
		for range 5 {
			newGrads(rng, params)
			opt.Step()
			for _, p := range params {
				if r := refs[p.Name]; r != nil {
					r.update(p.Grad.F32(), cfg.LR, cfg.Momentum, cfg.WeightDecay, cfg.Nesterov)
				}
			}
		}
		for _, p := range params {
			if r := refs[p.Name]; r != nil {
				for i, v := range p.Value.F32() {
					if math.Abs(float64(v)-r.p[i]) > 2e-6*max(1, math.Abs(r.p[i])) {
						t.Fatalf("%+v: %s[%d] = %.9g, want %.9g", cfg, p.Name, i, v, r.p[i])
					}
				}
			}
		}
		for i, v := range params[2].Value.F32() {
			if v != frozen[i] {
				t.Fatalf("%+v: frozen parameter changed", cfg)
			}
		}
		if n := len(opt.StateDict()); (cfg.Momentum == 0 && n != 0) || (cfg.Momentum != 0 && n != 3) {
			t.Errorf("%+v: %d state entries", cfg, n)
		}
	}
}

func TestSGDResume(t *testing.T) {
	resumeIsExact(t, func(params []*nn.Param) Optimizer {
		o, err := NewSGD(params, SGDConfig{LR: 0.01, Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true})
		if err != nil {
			t.Fatal(err)
		}
		return o
	})
}

func TestSGDErrors(t *testing.T) {
	params := testParams(61, 1)
	for _, cfg := range []SGDConfig{
		{LR: -1}, {LR: math.NaN()}, {LR: 0.1, Momentum: -0.5}, {LR: 0.1, WeightDecay: -1}, {LR: 0.1, Nesterov: true},
	} {
		if _, err := NewSGD(params, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	opt, err := NewSGD(params, SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	sd := snapshot(opt.StateDict())
	delete(sd, "a.weight.momentum_buffer")
	sd["a.weight.exp_avg"] = tensor.New(tensor.F32, 7, 5)
	err = opt.LoadStateDict(sd)
	if err == nil || !strings.Contains(err.Error(), `missing "a.weight.momentum_buffer"`) || !strings.Contains(err.Error(), `unexpected "a.weight.exp_avg"`) {
		t.Errorf("error %v", err)
	}
	// Without momentum there is no state, and none is accepted.
	plain, _ := NewSGD(params, SGDConfig{LR: 0.1})
	if err := plain.LoadStateDict(map[string]*tensor.Tensor{}); err != nil {
		t.Errorf("empty state: %v", err)
	}
	if err := plain.LoadStateDict(opt.StateDict()); err == nil {
		t.Error("momentum buffers accepted by an SGD without momentum")
	}
}
