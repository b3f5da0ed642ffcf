package nn

import (
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// Activations maps the Hugging Face hidden_act names golora supports to
// the function they denote. "gelu" is the exact erf form; "gelu_new",
// "gelu_pytorch_tanh" and "gelu_fast" are the same tanh approximation
// (gelu_fast only writes it with rounded constants).
var Activations = map[string]string{
	"gelu":              "gelu",
	"gelu_new":          "gelu_tanh",
	"gelu_pytorch_tanh": "gelu_tanh",
	"gelu_fast":         "gelu_tanh",
	"relu":              "relu",
	"silu":              "silu",
	"swish":             "silu",
	"tanh":              "tanh",
}

// CheckActivation returns an error naming hidden_act when golora does not
// implement it.
func CheckActivation(act string) error {
	if _, ok := Activations[act]; !ok {
		return fmt.Errorf("unsupported hidden_act %q (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish, tanh)", act)
	}
	return nil
}

// Activation is an elementwise activation (GELU exact, GELU tanh, ReLU,
// SiLU, tanh) selected by its Hugging Face hidden_act name. It saves its input, which
// its backward needs; its output is transient, recomputed by Restore when
// a backward reads it (one elementwise pass instead of a buffer per block).
type Activation struct {
	name string
	Act  string // the hidden_act name

	fn        string // "gelu", "gelu_tanh", "relu", "silu" or "tanh"
	needDX    bool
	transient bool           // no Backward reads the output (KeepOutput(false))
	x         *tensor.Tensor // the input, when NeedsInput
	yt, dx    *tensor.Tensor
	out       *tensor.Tensor // the last output, for Restore
}

// NewActivation returns the activation named act, or an error naming it.
func NewActivation(name, act string) (*Activation, error) {
	if err := CheckActivation(act); err != nil {
		return nil, fmt.Errorf("nn: %s: %w", name, err)
	}
	return &Activation{name: name, Act: act, fn: Activations[act], needDX: true}, nil
}

// Name implements Module.
func (a *Activation) Name() string { return a.name }

// Params implements Module.
func (a *Activation) Params() []*Param { return nil }

// Children implements Module.
func (a *Activation) Children() []Module { return nil }

// SetInputGrad implements Layer.
func (a *Activation) SetInputGrad(need bool) { a.needDX = need }

// KeepOutput implements OutputKeeper (see Restore).
func (a *Activation) KeepOutput(keep bool) { a.transient = !keep }

// NeedsInput implements InputReader: the backward and Restore read x.
func (a *Activation) NeedsInput() bool { return a.needDX || !a.transient }

// Forward implements Layer.
func (a *Activation) Forward(x *tensor.Tensor) *tensor.Tensor {
	a.yt = ReuseAs(memory.Workspace, a.yt, x.Shape()...)
	a.apply(a.yt.F32(), x.F32())
	a.x, a.out = nil, a.yt
	if a.NeedsInput() {
		a.x = x
	}
	return a.yt
}

// Restore implements Restorer.
func (a *Activation) Restore() {
	if !a.transient && a.x != nil && a.out != nil {
		a.apply(a.out.F32(), a.x.F32())
	}
}

// apply sets y = act(x).
func (a *Activation) apply(y, xs []float32) {
	switch a.fn {
	case "gelu":
		kernels.GELUForward(y, xs)
	case "gelu_tanh":
		kernels.GELUTanhForward(y, xs)
	case "relu":
		ReLU(y, xs)
	case "silu":
		kernels.SiLUForward(y, xs)
	case "tanh":
		Tanh(y, xs)
	}
}

// ReLU sets y = max(x, 0).
func ReLU(y, x []float32) {
	kernels.ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = max(x[i], 0)
		}
	})
}

// ReLUBackward sets dx = dy where x > 0, else 0.
func ReLUBackward(dx, x, dy []float32) {
	kernels.ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if x[i] > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	})
}

// Tanh sets y = tanh(x) (plain math.Tanh: BERT's pooler is its only user,
// on one row per sequence).
func Tanh(y, x []float32) {
	for i, v := range x {
		y[i] = float32(math.Tanh(float64(v)))
	}
}

// TanhBackward sets dx = dy·(1 − tanh(x)²), from the input (the output is
// transient).
func TanhBackward(dx, x, dy []float32) {
	for i, v := range x[:len(dx)] {
		y := float32(math.Tanh(float64(v)))
		dx[i] = dy[i] * (1 - y*y)
	}
}

// Backward implements Layer.
func (a *Activation) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !a.needDX {
		return nil
	}
	if a.x == nil {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", a.name))
	}
	a.dx = ReuseAs(memory.Workspace, a.dx, dy.Shape()...)
	dx, x, g := a.dx.F32(), a.x.F32(), dy.F32()
	switch a.fn {
	case "gelu":
		clear(dx)
		kernels.GELUBackward(dx, x, g)
	case "gelu_tanh":
		clear(dx)
		kernels.GELUTanhBackward(dx, x, g)
	case "relu":
		ReLUBackward(dx, x, g)
	case "silu":
		clear(dx)
		kernels.SiLUBackward(dx, x, g)
	case "tanh":
		TanhBackward(dx, x, g)
	}
	return a.dx
}

// Buffers implements Buffered.
func (a *Activation) Buffers() (act, work []**tensor.Tensor) {
	return nil, []**tensor.Tensor{&a.dx, &a.yt}
}

// Plan implements Planner: y (restored when kept) and dx are workspace.
func (a *Activation) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in)
	c.Output(a.name, false, n)
	fwd, bwd := a.kernels()
	c.Ran(Elementwise(fwd, n))
	if !a.transient {
		c.Restorable(Elementwise(fwd, n))
	}
	if backward && a.needDX {
		c.f32(memory.Workspace, n)
		if a.fn != "relu" && a.fn != "tanh" {
			c.Ran(Elementwise(OpClear, n))
		}
		c.Ran(Elementwise(bwd, n))
	}
	return c
}

// kernels are the ops of the forward and backward.
func (a *Activation) kernels() (fwd, bwd Kernel) {
	switch a.fn {
	case "gelu":
		return OpGELU, OpGELUBackward
	case "gelu_tanh":
		return OpGELUTanh, OpGELUTanhBackward
	case "silu":
		return OpSiLU, OpSiLUBackward
	case "tanh":
		return OpTanh, OpTanhBackward
	}
	return OpReLU, OpReLUBackward
}
