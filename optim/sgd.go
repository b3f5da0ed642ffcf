package optim

import (
	"fmt"
	"math"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// SGDConfig holds torch.optim.SGD's hyper-parameters (dampening 0,
// maximize off).
type SGDConfig struct {
	LR          float64
	Momentum    float64
	WeightDecay float64 // L2: added to the gradient, not decoupled
	Nesterov    bool
	// LRScale, if set, multiplies each parameter's learning rate (torch's
	// parameter groups with their own lr; see AdamWConfig.LRScale).
	LRScale func(p *nn.Param) float64
}

func (c SGDConfig) check() error {
	switch {
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("optim: SGD: invalid learning rate %v", c.LR)
	case !(c.Momentum >= 0) || math.IsInf(c.Momentum, 0):
		return fmt.Errorf("optim: SGD: invalid momentum %v", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("optim: SGD: invalid weight decay %v", c.WeightDecay)
	case c.Nesterov && c.Momentum == 0:
		return fmt.Errorf("optim: SGD: Nesterov momentum requires a momentum")
	}
	return nil
}

// SGD is torch.optim.SGD: with g the gradient plus weight_decay·p,
// buf ← momentum·buf + g (buf = g at the first step), then
// p ← p − lr·(g + momentum·buf) with Nesterov, p ← p − lr·buf without, and
// p ← p − lr·g when momentum is 0 (no state at all).
type SGD struct {
	cfg    SGDConfig
	lr     float64
	params []*nn.Param
	buf    map[string]*tensor.Tensor // momentum buffers
}

var _ Optimizer = (*SGD)(nil)

// NewSGD returns an SGD over params, with zeroed momentum buffers for the
// trainable ones when momentum is not 0 (a zero buffer gives exactly torch's
// first step, buf = g).
func NewSGD(params []*nn.Param, cfg SGDConfig) (*SGD, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := checkParams("SGD", params); err != nil {
		return nil, err
	}
	o := &SGD{cfg: cfg, lr: cfg.LR, params: params, buf: map[string]*tensor.Tensor{}}
	if cfg.Momentum != 0 {
		for _, p := range params {
			if hasGrad("SGD", p) {
				o.buf[p.Name] = memory.Tensor(memory.Optimizer, p.Value.Shape()...)
			}
		}
	}
	return o, nil
}

// SetLR sets the learning rate of the following steps.
func (o *SGD) SetLR(lr float64) { o.lr = lr }

// LR returns the current learning rate.
func (o *SGD) LR() float64 { return o.lr }

// Step applies one SGD update to every parameter with a gradient. The
// arithmetic is float32 in torch's order, scalars rounded to float32 once.
func (o *SGD) Step() {
	mu, wd := float32(o.cfg.Momentum), float32(o.cfg.WeightDecay)
	for _, p := range o.params {
		if !hasGrad("SGD", p) {
			continue
		}
		lr := float32(o.lr)
		if o.cfg.LRScale != nil {
			lr = float32(o.lr * o.cfg.LRScale(p))
		}
		w, g := p.Value.F32(), p.Grad.F32()
		g = g[:len(w)]
		if o.cfg.Momentum == 0 {
			for i, gi := range g {
				w[i] -= lr * (gi + wd*w[i])
			}
			continue
		}
		b := o.buf[p.Name]
		if b == nil {
			b = memory.Tensor(memory.Optimizer, p.Value.Shape()...)
			o.buf[p.Name] = b
		}
		buf := b.F32()[:len(w)]
		for i, gi := range g {
			d := gi + wd*w[i]
			buf[i] = mu*buf[i] + d
			if o.cfg.Nesterov {
				d += mu * buf[i]
			} else {
				d = buf[i]
			}
			w[i] -= lr * d
		}
	}
}

// StateKeys implements StateLayout: a momentum buffer per parameter, when
// there is momentum.
func (o *SGD) StateKeys() (perValue, scalars []string) {
	if o.cfg.Momentum == 0 {
		return nil, nil
	}
	return []string{"momentum_buffer"}, nil
}

// StateDict returns "<name>.momentum_buffer" for every parameter with a
// buffer, sharing storage with it; empty when momentum is 0.
func (o *SGD) StateDict() map[string]*tensor.Tensor {
	sd := make(map[string]*tensor.Tensor, len(o.buf))
	for name, b := range o.buf {
		sd[name+".momentum_buffer"] = b
	}
	return sd
}

// LoadStateDict replaces the momentum buffers with a copy of sd (see
// Optimizer.LoadStateDict).
func (o *SGD) LoadStateDict(sd map[string]*tensor.Tensor) error {
	want := map[string][]int{}
	var names []*nn.Param
	if o.cfg.Momentum != 0 {
		for _, p := range o.params {
			if p.Grad == nil && o.buf[p.Name] == nil {
				continue
			}
			names = append(names, p)
			want[p.Name+".momentum_buffer"] = p.Value.Shape()
		}
	}
	if err := checkState("SGD", sd, want); err != nil {
		return err
	}
	for _, p := range names {
		b := o.buf[p.Name]
		if b == nil {
			b = memory.Tensor(memory.Optimizer, p.Value.Shape()...)
			o.buf[p.Name] = b
		}
		copy(b.F32(), sd[p.Name+".momentum_buffer"].F32())
	}
	return nil
}
