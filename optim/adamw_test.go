package optim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// adamRef is torch.optim.AdamW in float64 for one tensor.
type adamRef struct {
	p, m, v []float64
	step    int
}

func (r *adamRef) update(g []float32, lr, b1, b2, eps, wd float64) {
	r.step++
	bc1 := 1 - math.Pow(b1, float64(r.step))
	bc2 := 1 - math.Pow(b2, float64(r.step))
	for i := range r.p {
		gi := float64(g[i])
		r.p[i] *= 1 - lr*wd
		r.m[i] = b1*r.m[i] + (1-b1)*gi
		r.v[i] = b2*r.v[i] + (1-b2)*gi*gi
		r.p[i] -= lr / bc1 * r.m[i] / (math.Sqrt(r.v[i])/math.Sqrt(bc2) + eps)
	}
}

func widen(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// newGrads draws fresh gradients for every trainable parameter.
func newGrads(rng *rand.Rand, params []*nn.Param) {
	for _, p := range params {
		if p.Grad != nil {
			fill(rng, p.Grad.F32(), 1)
		}
	}
}

func TestAdamWMatchesTorchFormula(t *testing.T) {
	params := testParams(11, 1)
	frozen := clone(params[2].Value.F32())
	cfg := DefaultAdamW()
	cfg.NoDecay = func(name string) bool { return strings.HasSuffix(name, ".bias") }
	opt, err := NewAdamW(params, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := NewSchedule("linear", 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]*adamRef{}
	for _, p := range params {
		if p.Grad != nil {
			n := p.Len()
			refs[p.Name] = &adamRef{p: widen(p.Value.F32()), m: make([]float64, n), v: make([]float64, n)}
		}
	}
	rng := rand.New(rand.NewPCG(12, 1))
	for step := 0; step < 6; step++ {
		newGrads(rng, params)
		lr := cfg.LR * sched.Multiplier(step)
		opt.SetLR(lr)
		opt.Step()
		for _, p := range params {
			if r := refs[p.Name]; r != nil {
				wd := cfg.WeightDecay
				if cfg.NoDecay(p.Name) {
					wd = 0
				}
				r.update(p.Grad.F32(), lr, cfg.Beta1, cfg.Beta2, cfg.Eps, wd)
			}
		}
	}
	for _, p := range params {
		r := refs[p.Name]
		if r == nil {
			continue
		}
		for i, v := range p.Value.F32() {
			if math.Abs(float64(v)-r.p[i]) > 1e-6*max(1, math.Abs(r.p[i])) {
				t.Fatalf("%s[%d] = %.9g, want %.9g", p.Name, i, v, r.p[i])
			}
		}
	}
	for i, v := range params[2].Value.F32() {
		if v != frozen[i] {
			t.Fatal("frozen parameter changed")
		}
	}
	if sd := opt.StateDict(); len(sd) != 9 {
		t.Errorf("state dict has %d entries, want 3 per trainable parameter (9)", len(sd))
	}
}

func TestAdamWNoStateForFrozen(t *testing.T) {
	params := testParams(13, 1)
	opt, err := NewAdamW(params, DefaultAdamW())
	if err != nil {
		t.Fatal(err)
	}
	sd := opt.StateDict()
	for k := range sd {
		if strings.HasPrefix(k, "frozen.") {
			t.Errorf("frozen parameter has state %q", k)
		}
	}
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		for _, suffix := range []string{".exp_avg", ".exp_avg_sq", ".step"} {
			if sd[p.Name+suffix] == nil {
				t.Errorf("missing %s%s", p.Name, suffix)
			}
		}
	}
	// Made trainable later, a parameter gets its state at its first step.
	if err := params[2].SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	fill(rand.New(rand.NewPCG(14, 1)), params[2].Grad.F32(), 1)
	before := clone(params[2].Value.F32())
	opt.Step()
	if sd := opt.StateDict(); sd["frozen.weight.step"] == nil || sd["frozen.weight.step"].F32()[0] != 1 {
		t.Error("newly trainable parameter got no state")
	}
	if params[2].Value.F32()[0] == before[0] {
		t.Error("newly trainable parameter was not updated")
	}
}

// snapshot deep-copies a state dict, as writing it to a file would.
func snapshot(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	c := make(map[string]*tensor.Tensor, len(sd))
	for k, v := range sd {
		c[k] = v.Clone()
	}
	return c
}

func valuesOf(params []*nn.Param) [][]float32 {
	var vs [][]float32
	for _, p := range params {
		vs = append(vs, clone(p.Value.F32()))
	}
	return vs
}

func setValues(params []*nn.Param, vs [][]float32) {
	for i, p := range params {
		copy(p.Value.F32(), vs[i])
	}
}

// resumeIsExact runs 3 steps, saves, runs 3 more; then rebuilds a fresh
// optimizer from the saved state and parameters and checks that its 3 steps
// give bitwise the same parameters.
func resumeIsExact(t *testing.T, newOpt func(params []*nn.Param) Optimizer) {
	t.Helper()
	params := testParams(21, 1)
	opt := newOpt(params)
	src := rand.NewPCG(22, 1)
	grads := rand.New(src)
	for range 3 {
		newGrads(grads, params)
		opt.Step()
	}
	saved, savedValues := snapshot(opt.StateDict()), valuesOf(params)
	srcAtSave := *src // the gradient stream continues identically after the resume
	for range 3 {
		newGrads(grads, params)
		opt.Step()
	}
	want := valuesOf(params)

	setValues(params, savedValues)
	resumed := newOpt(params)
	if err := resumed.LoadStateDict(saved); err != nil {
		t.Fatal(err)
	}
	grads = rand.New(&srcAtSave)
	for range 3 {
		newGrads(grads, params)
		resumed.Step()
	}
	for i, p := range params {
		for j, v := range p.Value.F32() {
			if math.Float32bits(v) != math.Float32bits(want[i][j]) {
				t.Fatalf("%s[%d] = %v after resume, want %v", p.Name, j, v, want[i][j])
			}
		}
	}
}

func TestAdamWResume(t *testing.T) {
	resumeIsExact(t, func(params []*nn.Param) Optimizer {
		o, err := NewAdamW(params, DefaultAdamW())
		if err != nil {
			t.Fatal(err)
		}
		o.SetLR(3e-3)
		return o
	})
}

func TestAdamWLoadStateDictErrors(t *testing.T) {
	params := testParams(31, 1)
	opt, err := NewAdamW(params, DefaultAdamW())
	if err != nil {
		t.Fatal(err)
	}
	newGrads(rand.New(rand.NewPCG(32, 1)), params)
	opt.Step()
	good := snapshot(opt.StateDict())
	for _, c := range []struct {
		name   string
		modify func(sd map[string]*tensor.Tensor)
		want   string
	}{
		{"missing", func(sd map[string]*tensor.Tensor) { delete(sd, "a.bias.exp_avg_sq") }, `missing "a.bias.exp_avg_sq"`},
		{"shape", func(sd map[string]*tensor.Tensor) { sd["a.weight.exp_avg"] = tensor.New(tensor.F32, 5, 7) }, "has shape [5 7], want [7 5]"},
		{"dtype", func(sd map[string]*tensor.Tensor) { sd["a.bias.exp_avg"] = tensor.New(tensor.BF16, 7) }, "is BF16, want F32"},
		{"unexpected", func(sd map[string]*tensor.Tensor) { sd["frozen.weight.exp_avg"] = tensor.New(tensor.F32, 9, 9) }, `unexpected "frozen.weight.exp_avg"`},
		{"negative step", func(sd map[string]*tensor.Tensor) { sd["b.weight.step"] = tensor.FromF32([]float32{-1}, 1) }, "not a step count"},
		{"fractional step", func(sd map[string]*tensor.Tensor) { sd["b.weight.step"] = tensor.FromF32([]float32{1.5}, 1) }, "not a step count"},
		{"NaN step", func(sd map[string]*tensor.Tensor) {
			sd["b.weight.step"] = tensor.FromF32([]float32{float32(math.NaN())}, 1)
		}, "not a step count"},
	} {
		sd := snapshot(good)
		c.modify(sd)
		fresh, _ := NewAdamW(params, DefaultAdamW())
		err := fresh.LoadStateDict(sd)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
			continue
		}
		// Nothing was loaded: the fresh state is still zero.
		for k, v := range fresh.StateDict() {
			for _, x := range v.F32() {
				if x != 0 {
					t.Fatalf("%s: %s changed by a failed load", c.name, k)
				}
			}
		}
	}
}

func TestAdamWConfigErrors(t *testing.T) {
	params := testParams(41, 1)
	for _, c := range []struct {
		name   string
		modify func(*AdamWConfig)
	}{
		{"lr", func(c *AdamWConfig) { c.LR = -1 }},
		{"lr NaN", func(c *AdamWConfig) { c.LR = math.NaN() }},
		{"beta1", func(c *AdamWConfig) { c.Beta1 = 1 }},
		{"beta2", func(c *AdamWConfig) { c.Beta2 = -0.1 }},
		{"eps", func(c *AdamWConfig) { c.Eps = -1e-8 }},
		{"weight decay", func(c *AdamWConfig) { c.WeightDecay = math.Inf(1) }},
	} {
		cfg := DefaultAdamW()
		c.modify(&cfg)
		if _, err := NewAdamW(params, cfg); err == nil || !strings.Contains(err.Error(), "optim: AdamW: invalid") {
			t.Errorf("%s: error %v", c.name, err)
		}
	}
	dup := append(testParams(42, 1), testParams(43, 1)[0])
	if _, err := NewAdamW(dup, DefaultAdamW()); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("repeated names: error %v", err)
	}
}
