package train

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// optimizer is the Trainer's use of package optim: the optimizer Args
// names, its schedule and gradient clipping.
type optimizer struct {
	opt    optim.Optimizer
	sched  optim.Schedule
	base   float64 // peak learning rate
	params []*nn.Param
}

// noDecay exempts biases and LayerNorm weights from weight decay, as the
// Hugging Face Trainer's parameter groups do.
func noDecay(name string) bool {
	return strings.HasSuffix(name, "bias") || strings.Contains(strings.ToLower(name), "layernorm")
}

func newOptimizer(a *Args, params []*nn.Param, total int, lrScale func(*nn.Param) float64) (*optimizer, error) {
	warmup, err := optim.WarmupSteps(total, a.WarmupSteps, a.WarmupRatio)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	sched, err := optim.NewSchedule(a.LRSchedulerType, warmup, total)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	o := &optimizer{sched: sched, base: a.LearningRate, params: params}
	switch a.Optim {
	case "sgd":
		o.opt, err = optim.NewSGD(params, optim.SGDConfig{LR: a.LearningRate, Momentum: a.Momentum, WeightDecay: a.WeightDecay, LRScale: lrScale})
	default:
		o.opt, err = optim.NewAdamW(params, optim.AdamWConfig{LR: a.LearningRate, Beta1: a.AdamBeta1, Beta2: a.AdamBeta2,
			Eps: a.AdamEpsilon, WeightDecay: a.WeightDecay, NoDecay: noDecay, LRScale: lrScale})
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return o, nil
}

// lr is the learning rate of the update numbered step (from 0).
func (o *optimizer) lr(step int) float64 { return o.base * o.sched.Multiplier(step) }

// clip clips the gradients to a global norm of maxNorm (when > 0) and
// returns their norm before clipping; NaN or ±Inf when it is not finite,
// in which case the gradients are left as they are.
func (o *optimizer) clip(maxNorm float64) float64 {
	if !(maxNorm > 0) {
		return optim.GradNorm(o.params)
	}
	// The only error left is a non-finite norm, which n carries.
	n, err := optim.ClipGradNorm(o.params, maxNorm)
	if err != nil && !errors.Is(err, optim.ErrNonFiniteNorm) {
		panic("train: " + err.Error()) // maxNorm > 0 was checked
	}
	return n
}

// step applies one update at rate lr.
func (o *optimizer) step(lr float64) {
	o.opt.SetLR(lr)
	o.opt.Step()
}

// save writes the optimizer state to path.
func (o *optimizer) save(path string, _ *State) error {
	if err := safetensors.Save(path, o.opt.StateDict(), nil); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// load reads the optimizer state from path; a state that does not fit the
// trainable parameters is refused before anything changes.
func (o *optimizer) load(path string, _ *State) error {
	f, err := safetensors.Load(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	sd := make(map[string]*tensor.Tensor, len(f.Names()))
	for _, k := range f.Names() {
		if sd[k], err = f.Tensor(k); err != nil {
			return fmt.Errorf("train: %s: %w", path, err)
		}
	}
	if err := o.opt.LoadStateDict(sd); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}
