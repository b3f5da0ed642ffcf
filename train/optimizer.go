package train

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golora/golora/collective"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/optim"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/zero"
)

// optimizer is the Trainer's use of packages optim and zero: the
// optimizer Args names over the rank's share of the trainable parameters,
// its schedule, clipping, and the collective work of a data-parallel step.
type optimizer struct {
	eng   *zero.Engine
	sched optim.Schedule
	base  float64 // peak learning rate
}

// noDecay exempts biases and LayerNorm weights from weight decay, as the
// Hugging Face Trainer's parameter groups do.
func noDecay(name string) bool {
	return strings.HasSuffix(name, "bias") || strings.Contains(strings.ToLower(name), "layernorm")
}

func newOptimizer(a *Args, model nn.Module, comm collective.Comm, total int, lrScale func(*nn.Param) float64) (*optimizer, error) {
	warmup, err := optim.WarmupSteps(total, a.WarmupSteps, a.WarmupRatio)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	sched, err := optim.NewSchedule(a.LRSchedulerType, warmup, total)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if lrScale != nil {
		// The optimizer may see views of the parameters' shares (ZeRO-1
		// and 2), named as the parameter: scale by the parameter's.
		byName := map[string]*nn.Param{}
		for _, p := range nn.TrainableParams(model) {
			byName[p.Name] = p
		}
		scale := lrScale
		lrScale = func(p *nn.Param) float64 {
			if q, ok := byName[p.Name]; ok {
				return scale(q)
			}
			return scale(p)
		}
	}
	newOpt := func(params []*nn.Param) (optim.Optimizer, error) {
		if a.Optim == "sgd" {
			return optim.NewSGD(params, optim.SGDConfig{LR: a.LearningRate, Momentum: a.Momentum, WeightDecay: a.WeightDecay, LRScale: lrScale})
		}
		return optim.NewAdamW(params, optim.AdamWConfig{LR: a.LearningRate, Beta1: a.AdamBeta1, Beta2: a.AdamBeta2,
			Eps: a.AdamEpsilon, WeightDecay: a.WeightDecay, NoDecay: noDecay, LRScale: lrScale})
	}
	eng, err := zero.New(comm, model, zero.Config{Stage: a.ZeroStage, NewOptimizer: newOpt})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &optimizer{eng: eng, sched: sched, base: a.LearningRate}, nil
}

// lr is the learning rate of the update numbered step (from 0).
func (o *optimizer) lr(step int) float64 { return o.base * o.sched.Multiplier(step) }

// clip clips the gradients to a global norm of maxNorm (when > 0) and
// returns their norm before clipping; NaN or ±Inf when it is not finite,
// in which case the gradients are left as they are.
func (o *optimizer) clip(maxNorm float64) (float64, error) {
	n, err := o.eng.ClipGradNorm(maxNorm)
	if err != nil && !errors.Is(err, optim.ErrNonFiniteNorm) {
		return n, fmt.Errorf("train: %w", err) // a collective failed
	}
	return n, nil
}

// step applies one update at rate lr.
func (o *optimizer) step(lr float64) error {
	if err := o.eng.Step(lr); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// gather returns the optimizer state in the one-process format, complete
// on rank 0 (collective).
func (o *optimizer) gather() (map[string]*tensor.Tensor, error) {
	sd, err := o.eng.GatherState()
	if err != nil {
		return nil, fmt.Errorf("train: gathering the optimizer state: %w", err)
	}
	return sd, nil
}

// save writes a gathered optimizer state to path.
func saveOptimizer(path string, sd map[string]*tensor.Tensor) error {
	if err := safetensors.Save(path, sd, nil); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// load reads the optimizer state from path (written at any world size);
// a state that does not fit the trainable parameters is refused before
// anything changes.
func (o *optimizer) load(path string) error {
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
	if err := o.eng.LoadState(sd); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}
