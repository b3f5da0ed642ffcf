package nn

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// RMSNorm is transformers' LlamaRMSNorm over the last dimension: y = weight
// ⊙ x / sqrt(mean(x²) + eps), weight "<name>.weight", no bias.
type RMSNorm struct {
	name   string
	Dim    int
	Eps    float32
	Weight *Param

	needDX bool
	x      *tensor.Tensor // saved input (a reference)
	rstd   *tensor.Tensor // per row, saved for the backward
	y, dx  *tensor.Tensor
}

// NewRMSNorm returns an RMSNorm with weight 1, as transformers initialises
// it.
func NewRMSNorm(name string, dim int, eps float32) *RMSNorm {
	w := tensor.New(tensor.F32, dim)
	Fill(w, 1)
	return &RMSNorm{name: name, Dim: dim, Eps: eps, needDX: true, Weight: NewParam(join(name, "weight"), w)}
}

// Name implements Module.
func (l *RMSNorm) Name() string { return l.name }

// Params implements Module.
func (l *RMSNorm) Params() []*Param { return []*Param{l.Weight} }

// Children implements Module.
func (l *RMSNorm) Children() []Module { return nil }

// SetInputGrad implements Layer.
func (l *RMSNorm) SetInputGrad(need bool) { l.needDX = need }

// Forward implements Layer.
func (l *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != l.Dim {
		panic(fmt.Sprintf("nn: %s: input has last dimension %d, want %d", l.name, x.Dim(-1), l.Dim))
	}
	rows := x.Len() / l.Dim
	l.y = ReuseAs(memory.Activations, l.y, x.Shape()...)
	l.rstd = ReuseAs(memory.Activations, l.rstd, rows)
	kernels.RMSNormForward(l.y.F32(), l.rstd.F32(), x.F32(), l.Weight.Value.F32(), rows, l.Dim, l.Eps)
	l.x = x
	return l.y
}

// Backward implements Layer: the weight's gradient when it trains, dx when
// input gradients are on.
func (l *RMSNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.x == nil {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", l.name))
	}
	rows := dy.Len() / l.Dim
	var dw, dx []float32
	if l.Weight.Trainable {
		dw = l.Weight.Grad.F32()
	}
	if l.needDX {
		l.dx = ReuseAs(memory.Workspace, l.dx, dy.Shape()...)
		dx = l.dx.F32()
		clear(dx) // the kernel adds into dx
	}
	kernels.RMSNormBackward(dx, dw, dy.F32(), l.x.F32(), l.Weight.Value.F32(), l.rstd.F32(), rows, l.Dim)
	if !l.needDX {
		return nil
	}
	return l.dx
}

// Buffers implements Buffered.
func (l *RMSNorm) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.y, &l.rstd}, []**tensor.Tensor{&l.dx}
}

// Plan implements Planner: y and rstd are activations, dx workspace.
func (l *RMSNorm) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in)
	c.f32(memory.Activations, n+n/l.Dim)
	if backward && l.needDX {
		c.f32(memory.Workspace, n)
	}
	return c
}
