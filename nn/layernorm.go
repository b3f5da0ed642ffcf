package nn

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// LayerNorm is torch.nn.LayerNorm over the last dimension with an affine
// weight and bias (HF names "<name>.weight", "<name>.bias").
type LayerNorm struct {
	name   string
	Dim    int
	Eps    float32
	Weight *Param
	Bias   *Param

	needDX     bool
	transient  bool           // no Backward reads the output (KeepOutput(false))
	x          *tensor.Tensor // saved input (a reference, not a copy), when NeedsInput
	mean, rstd *tensor.Tensor // per row, saved for the backward
	yt, dx     *tensor.Tensor
	out        *tensor.Tensor // the last output, for Restore
}

// NewLayerNorm returns a LayerNorm with weight 1 and bias 0, as torch
// initialises it.
func NewLayerNorm(name string, dim int, eps float32) *LayerNorm {
	w := tensor.New(tensor.F32, dim)
	Fill(w, 1)
	return &LayerNorm{
		name: name, Dim: dim, Eps: eps, needDX: true,
		Weight: NewParam(join(name, "weight"), w),
		Bias:   NewParam(join(name, "bias"), tensor.New(tensor.F32, dim)),
	}
}

// Name implements Module.
func (l *LayerNorm) Name() string { return l.name }

// Params implements Module.
func (l *LayerNorm) Params() []*Param { return []*Param{l.Weight, l.Bias} }

// Children implements Module.
func (l *LayerNorm) Children() []Module { return nil }

// SetInputGrad implements Layer.
func (l *LayerNorm) SetInputGrad(need bool) { l.needDX = need }

// KeepOutput implements OutputKeeper. The output is always written to
// workspace: a kept one is recomputed by Restore (one pass over the input,
// which the LayerNorm then keeps) rather than saved.
func (l *LayerNorm) KeepOutput(keep bool) { l.transient = !keep }

// NeedsInput implements InputReader: any backward reads x, and so does
// Restore.
func (l *LayerNorm) NeedsInput() bool {
	return l.needDX || l.Weight.Trainable || l.Bias.Trainable || !l.transient
}

// Forward implements Layer.
func (l *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != l.Dim {
		panic(fmt.Sprintf("nn: %s: input has last dimension %d, want %d", l.name, x.Dim(-1), l.Dim))
	}
	rows := x.Len() / l.Dim
	l.yt = ReuseAs(memory.Workspace, l.yt, x.Shape()...)
	l.mean = ReuseAs(memory.Activations, l.mean, rows)
	l.rstd = ReuseAs(memory.Activations, l.rstd, rows)
	kernels.LayerNormForward(l.yt.F32(), l.mean.F32(), l.rstd.F32(), x.F32(), l.Weight.Value.F32(), l.Bias.Value.F32(), rows, l.Dim, l.Eps)
	l.x, l.out = nil, l.yt
	if l.NeedsInput() {
		l.x = x
	}
	return l.yt
}

// Restore implements Restorer: the same kernel on the same input writes
// the same output (and the same statistics).
func (l *LayerNorm) Restore() {
	if l.transient || l.x == nil || l.out == nil {
		return
	}
	rows := l.x.Len() / l.Dim
	kernels.LayerNormForward(l.out.F32(), l.mean.F32(), l.rstd.F32(), l.x.F32(), l.Weight.Value.F32(), l.Bias.Value.F32(), rows, l.Dim, l.Eps)
}

// Backward implements Layer. It computes only what is needed: parameter
// gradients of trainable parameters and dx when input gradients are on.
func (l *LayerNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	rows := dy.Len() / l.Dim
	var dw, db, dx []float32
	if l.Weight.Trainable {
		dw = l.Weight.Grad.F32()
	}
	if l.Bias.Trainable {
		db = l.Bias.Grad.F32()
	}
	if dw == nil && db == nil && !l.needDX {
		return nil
	}
	if l.x == nil {
		panic(fmt.Sprintf("nn: %s: Backward before Forward", l.name))
	}
	if l.needDX {
		l.dx = ReuseAs(memory.Workspace, l.dx, dy.Shape()...)
		dx = l.dx.F32()
		clear(dx) // the kernel adds into dx
	}
	kernels.LayerNormBackward(dx, dw, db, dy.F32(), l.x.F32(), l.Weight.Value.F32(), l.mean.F32(), l.rstd.F32(), rows, l.Dim)
	if !l.needDX {
		return nil
	}
	return l.dx
}

// Buffers implements Buffered.
func (l *LayerNorm) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.mean, &l.rstd}, []**tensor.Tensor{&l.dx, &l.yt}
}

// Plan implements Planner: mean and rstd are activations, y (restored
// when kept) and dx workspace.
func (l *LayerNorm) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in)
	rows := n / l.Dim
	c.f32(memory.Activations, 2*rows)
	c.Output(l.name, false, n)
	c.Ran(Rows(OpLayerNorm, rows, l.Dim))
	if !l.transient {
		c.Restorable(Rows(OpLayerNorm, rows, l.Dim))
	}
	if backward && (l.needDX || l.Weight.Trainable || l.Bias.Trainable) {
		if l.needDX {
			c.f32(memory.Workspace, n)
			c.Ran(Elementwise(OpClear, n))
		}
		c.Ran(Rows(OpLayerNormBackward, rows, l.Dim))
	}
	return c
}
