package optim

import (
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// AdamWConfig holds torch.optim.AdamW's hyper-parameters (amsgrad off).
type AdamWConfig struct {
	LR           float64
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	// NoDecay, if set, exempts the parameters it accepts (by name) from
	// weight decay, as the Hugging Face Trainer exempts biases and
	// LayerNorm weights by putting them in a second parameter group.
	NoDecay func(name string) bool
	// LRScale, if set, multiplies the learning rate (and with it the
	// decoupled weight decay, as torch's per-group lr does) of each
	// parameter: torch's parameter groups with their own lr, as LoRA+
	// builds them. It is configuration, not state: the state dict is the
	// same with or without it.
	LRScale func(p *nn.Param) float64
}

// DefaultAdamW returns torch.optim.AdamW's defaults: lr 1e-3, betas
// (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}
}

func (c AdamWConfig) check() error {
	switch {
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("optim: AdamW: invalid learning rate %v", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("optim: AdamW: invalid beta1 %v (want 0 ≤ beta1 < 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optim: AdamW: invalid beta2 %v (want 0 ≤ beta2 < 1)", c.Beta2)
	case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("optim: AdamW: invalid epsilon %v", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("optim: AdamW: invalid weight decay %v", c.WeightDecay)
	}
	return nil
}

// AdamW is torch.optim.AdamW (decoupled weight decay, bias correction,
// amsgrad off) over a list of parameters, each updated by
// kernels.AdamWStep.
type AdamW struct {
	cfg    AdamWConfig
	lr     float64
	params []*nn.Param
	state  map[string]*adamState
}

// adamState is one parameter's moments and step count (torch's
// state["exp_avg"], state["exp_avg_sq"], state["step"]).
type adamState struct {
	m, v *tensor.Tensor
	step int
}

var _ Optimizer = (*AdamW)(nil)

// NewAdamW returns an AdamW over params with zeroed moments for every
// parameter that is trainable now; a parameter made trainable later gets its
// state at its first step. It fails on invalid hyper-parameters and on
// repeated parameter names.
func NewAdamW(params []*nn.Param, cfg AdamWConfig) (*AdamW, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := checkParams("AdamW", params); err != nil {
		return nil, err
	}
	o := &AdamW{cfg: cfg, lr: cfg.LR, params: params, state: map[string]*adamState{}}
	for _, p := range params {
		if hasGrad("AdamW", p) {
			o.state[p.Name] = newAdamState(p)
		}
	}
	return o, nil
}

func newAdamState(p *nn.Param) *adamState {
	return &adamState{m: memory.Tensor(memory.Optimizer, p.Value.Shape()...), v: memory.Tensor(memory.Optimizer, p.Value.Shape()...)}
}

// SetLR sets the learning rate of the following steps.
func (o *AdamW) SetLR(lr float64) { o.lr = lr }

// LR returns the current learning rate.
func (o *AdamW) LR() float64 { return o.lr }

// Step applies one AdamW update to every parameter with a gradient.
func (o *AdamW) Step() {
	for _, p := range o.params {
		if !hasGrad("AdamW", p) {
			continue
		}
		st := o.state[p.Name]
		if st == nil {
			st = newAdamState(p)
			o.state[p.Name] = st
		}
		wd := o.cfg.WeightDecay
		if o.cfg.NoDecay != nil && o.cfg.NoDecay(p.Name) {
			wd = 0
		}
		lr := o.lr
		if o.cfg.LRScale != nil {
			lr *= o.cfg.LRScale(p)
		}
		st.step++
		kernels.AdamWStep(p.Value.F32(), p.Grad.F32(), st.m.F32(), st.v.F32(), kernels.AdamWParams{
			LR: float32(lr), Beta1: float32(o.cfg.Beta1), Beta2: float32(o.cfg.Beta2),
			Eps: float32(o.cfg.Eps), WeightDecay: float32(wd),
		}, st.step)
	}
}

// StateKeys implements StateLayout.
func (o *AdamW) StateKeys() (perValue, scalars []string) {
	return []string{"exp_avg", "exp_avg_sq"}, []string{"step"}
}

// StateDict returns "<name>.exp_avg", "<name>.exp_avg_sq" (sharing storage
// with the live moments) and "<name>.step" (a one-element f32 tensor) for
// every parameter that has state.
func (o *AdamW) StateDict() map[string]*tensor.Tensor {
	sd := make(map[string]*tensor.Tensor, 3*len(o.state))
	for name, st := range o.state {
		sd[name+".exp_avg"] = st.m
		sd[name+".exp_avg_sq"] = st.v
		sd[name+".step"] = stepTensor(st.step)
	}
	return sd
}

// LoadStateDict replaces the state with a copy of sd (see
// Optimizer.LoadStateDict): every trainable parameter's three entries must
// be present with its shape, and nothing else.
func (o *AdamW) LoadStateDict(sd map[string]*tensor.Tensor) error {
	want := map[string][]int{}
	var names []*nn.Param
	for _, p := range o.params {
		if p.Grad == nil && o.state[p.Name] == nil {
			continue // frozen and never stepped: has no state
		}
		names = append(names, p)
		want[p.Name+".exp_avg"] = p.Value.Shape()
		want[p.Name+".exp_avg_sq"] = p.Value.Shape()
		want[p.Name+".step"] = []int{1}
	}
	if err := checkState("AdamW", sd, want); err != nil {
		return err
	}
	steps := make([]int, len(names))
	for i, p := range names {
		s, err := stepFrom("AdamW", p.Name+".step", sd[p.Name+".step"])
		if err != nil {
			return err
		}
		steps[i] = s
	}
	for i, p := range names {
		st := o.state[p.Name]
		if st == nil {
			st = newAdamState(p)
			o.state[p.Name] = st
		}
		copy(st.m.F32(), sd[p.Name+".exp_avg"].F32())
		copy(st.v.F32(), sd[p.Name+".exp_avg_sq"].F32())
		st.step = steps[i]
	}
	return nil
}
