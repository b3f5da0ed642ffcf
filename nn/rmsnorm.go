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

	needDX    bool
	transient bool           // no Backward reads the output (KeepOutput(false))
	x         *tensor.Tensor // saved input (a reference), when NeedsInput
	rstd      *tensor.Tensor // per row, saved for the backward
	yt, dx    *tensor.Tensor
	out       *tensor.Tensor // the last output, for Restore
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

// KeepOutput implements OutputKeeper. As LayerNorm's, the output is always
// written to workspace, and a kept one is recomputed by Restore.
func (l *RMSNorm) KeepOutput(keep bool) { l.transient = !keep }

// NeedsInput implements InputReader: any backward reads x, and so does
// Restore.
func (l *RMSNorm) NeedsInput() bool { return l.needDX || l.Weight.Trainable || !l.transient }

// Forward implements Layer.
func (l *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != l.Dim {
		panic(fmt.Sprintf("nn: %s: input has last dimension %d, want %d", l.name, x.Dim(-1), l.Dim))
	}
	rows := x.Len() / l.Dim
	l.yt = ReuseAs(memory.Workspace, l.yt, x.Shape()...)
	l.rstd = ReuseAs(memory.Activations, l.rstd, rows)
	kernels.RMSNormForward(l.yt.F32(), l.rstd.F32(), x.F32(), l.Weight.Value.F32(), rows, l.Dim, l.Eps)
	l.x, l.out = nil, l.yt
	if l.NeedsInput() {
		l.x = x
	}
	return l.yt
}

// Restore implements Restorer: the same kernel on the same input writes
// the same output.
func (l *RMSNorm) Restore() {
	if l.transient || l.x == nil || l.out == nil {
		return
	}
	rows := l.x.Len() / l.Dim
	kernels.RMSNormForward(l.out.F32(), l.rstd.F32(), l.x.F32(), l.Weight.Value.F32(), rows, l.Dim, l.Eps)
}

// Backward implements Layer: the weight's gradient when it trains, dx when
// input gradients are on.
func (l *RMSNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !l.needDX && !l.Weight.Trainable {
		return nil
	}
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
	return []**tensor.Tensor{&l.rstd}, []**tensor.Tensor{&l.dx, &l.yt}
}

// Plan implements Planner: rstd is an activation, y (restored when kept)
// and dx workspace.
func (l *RMSNorm) Plan(in []int, backward bool) Cost {
	var c Cost
	n := tensor.NumElems(in)
	rows := n / l.Dim
	c.f32(memory.Activations, rows)
	c.Output(l.name, false, n)
	c.Ran(Rows(OpRMSNorm, rows, l.Dim))
	if !l.transient {
		c.Restorable(Rows(OpRMSNorm, rows, l.Dim))
	}
	if backward && (l.needDX || l.Weight.Trainable) {
		if l.needDX {
			c.f32(memory.Workspace, n)
			c.Ran(Elementwise(OpClear, n))
		}
		c.Ran(Rows(OpRMSNormBackward, rows, l.Dim))
	}
	return c
}
