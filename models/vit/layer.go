package vit

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Attention is ViTAttention: self-attention ("attention.attention") and
// its output projection ("attention.output").
type Attention struct {
	name      string
	Attention *nn.SelfAttention
	Output    *nn.Output

	needDX, transient bool
}

func newAttention(name string, cfg *Config, seed uint64) *Attention {
	h := cfg.HiddenSize
	return &Attention{
		name: name, needDX: true,
		Attention: nn.NewSelfAttention(nn.Join(name, "attention"), h, cfg.NumAttentionHeads, cfg.QKVBias, float32(cfg.AttentionProbsDropoutProb), seed),
		Output:    nn.NewOutput(nn.Join(name, "output"), h, h, float32(cfg.HiddenDropoutProb), seed),
	}
}

// Name implements nn.Module.
func (a *Attention) Name() string { return a.name }

// Params implements nn.Module.
func (a *Attention) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (a *Attention) Children() []nn.Module { return []nn.Module{a.Attention, a.Output} }

// SetInputGrad implements nn.Layer.
func (a *Attention) SetInputGrad(need bool) { a.needDX = need }

// KeepOutput implements nn.OutputKeeper.
func (a *Attention) KeepOutput(keep bool) { a.transient = !keep }

// NeedsInput implements nn.InputReader.
func (a *Attention) NeedsInput() bool {
	a.prepare()
	return a.Attention.NeedsInput()
}

// Forward implements nn.Layer.
func (a *Attention) Forward(x *tensor.Tensor) *tensor.Tensor {
	a.prepare()
	return a.Output.Forward(a.Attention.Forward(x))
}

// Backward implements nn.Layer.
func (a *Attention) Backward(dy *tensor.Tensor) *tensor.Tensor {
	a.prepare()
	g := a.Output.Backward(dy)
	if g == nil {
		return nil
	}
	return a.Attention.Backward(g)
}

// prepare sets the children's input-gradient and keep flags and reports
// whether the backward goes on into the self-attention; Forward, Backward
// and Plan share it.
func (a *Attention) prepare() bool {
	down := a.needDX || nn.HasTrainable(a.Attention)
	a.Output.SetInputGrad(down)
	a.Attention.SetInputGrad(a.needDX)
	a.Output.KeepOutput(!a.transient)
	a.Attention.KeepOutput(a.Output.NeedsInput())
	return down
}

// Plan implements nn.Planner.
func (a *Attention) Plan(in []int, backward bool) nn.Cost {
	down := a.prepare() && backward
	return a.Attention.Plan(in, down).Plus(a.Output.Plan(in, backward))
}

// Layer is ViTLayer, one pre-norm encoder block:
//
//	r = x + attention(layernorm_before(x))
//	y = r + output(intermediate(layernorm_after(r)))
type Layer struct {
	name            string
	LayernormBefore *nn.LayerNorm
	Attention       *Attention
	LayernormAfter  *nn.LayerNorm
	Intermediate    *nn.Intermediate
	Output          *nn.Output

	needDX bool
	// pooled: gradient checkpointing hands the block's internal buffers
	// (all but y and dx) from block to block, so they count once.
	pooled bool
	r, y   *tensor.Tensor
	rt     *tensor.Tensor // r when no backward reads it
	dr     *tensor.Tensor
	dx     models.BlockGrad // lent by the Stack
}

var _ models.Block = (*Layer)(nil)

func newLayer(name string, cfg *Config, seed uint64) (*Layer, error) {
	h, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	inter, err := nn.NewIntermediate(nn.Join(name, "intermediate"), h, cfg.IntermediateSize, cfg.HiddenAct)
	if err != nil {
		return nil, err
	}
	return &Layer{
		name: name, needDX: true,
		LayernormBefore: nn.NewLayerNorm(nn.Join(name, "layernorm_before"), h, eps),
		Attention:       newAttention(nn.Join(name, "attention"), cfg, seed),
		LayernormAfter:  nn.NewLayerNorm(nn.Join(name, "layernorm_after"), h, eps),
		Intermediate:    inter,
		Output:          nn.NewOutput(nn.Join(name, "output"), cfg.IntermediateSize, h, float32(cfg.HiddenDropoutProb), seed),
	}, nil
}

// Name implements nn.Module.
func (l *Layer) Name() string { return l.name }

// Params implements nn.Module.
func (l *Layer) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (l *Layer) Children() []nn.Module {
	return []nn.Module{l.LayernormBefore, l.Attention, l.LayernormAfter, l.Intermediate, l.Output}
}

// SetInputGrad implements nn.Layer.
func (l *Layer) SetInputGrad(need bool) { l.needDX = need }

// SetPooled implements models.Block.
func (l *Layer) SetPooled(on bool) { l.pooled = on }

// BlockGrad implements models.Block.
func (l *Layer) BlockGrad() *models.BlockGrad { return &l.dx }

// Forward implements nn.Layer.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	f := l.prepare()
	a := l.Attention.Forward(l.LayernormBefore.Forward(x))
	r := nn.OutputBuffer(&l.r, &l.rt, !f.keepR, x.Shape()...)
	kernels.Add(r.F32(), a.F32(), x.F32())
	o := l.Output.Forward(l.Intermediate.Forward(l.LayernormAfter.Forward(r)))
	l.y = nn.ReuseAs(memory.Activations, l.y, x.Shape()...)
	kernels.Add(l.y.F32(), o.F32(), r.F32())
	return l.y
}

// Backward implements nn.Layer. Each sub-module is asked for its input
// gradient only if something below it needs one, so a block whose only
// trainable parameters sit in its attention runs no MLP weight gradient,
// and a block that neither trains nor passes gradients down does nothing.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	f := l.prepare()
	if !f.active {
		return nil
	}
	g := l.Output.Backward(dy)
	if g != nil {
		g = l.Intermediate.Backward(g)
	}
	if g != nil {
		g = l.LayernormAfter.Backward(g)
	}
	if !f.belowR {
		return nil
	}
	l.dr = nn.ReuseAs(memory.Workspace, l.dr, dy.Shape()...)
	kernels.Add(l.dr.F32(), dy.F32(), g.F32())
	g = l.Attention.Backward(l.dr)
	if g != nil {
		g = l.LayernormBefore.Backward(g)
	}
	if !l.needDX {
		return nil
	}
	l.dx.DX = nn.ReuseAs(memory.Workspace, l.dx.DX, dy.Shape()...)
	kernels.Add(l.dx.DX.F32(), l.dr.F32(), g.F32())
	return l.dx.DX
}

// layerFlags is which parts of a block's backward run.
type layerFlags struct {
	active bool // anything at all
	belowR bool // anything under the residual r needs a gradient
	mlpDX  bool // the output sub-layer passes a gradient down
	interX bool // the intermediate passes a gradient down
	attnDX bool // the attention passes a gradient down
	keepR  bool // the backward reads r (layernorm_after needs its input)
}

// prepare sets every child's input-gradient and keep flags for a Backward
// and returns which parts run; Forward, Backward and Plan share it, so the
// plan is the backward's own decision. The residual adds read nothing in
// the backward: the attention's and the MLP's outputs are never kept.
func (l *Layer) prepare() layerFlags {
	trBefore := nn.HasTrainable(l.LayernormBefore)
	trAttn := nn.HasTrainable(l.Attention)
	trAfter := nn.HasTrainable(l.LayernormAfter)
	trInter := nn.HasTrainable(l.Intermediate)
	f := layerFlags{active: l.needDX || trBefore || trAttn || trAfter || trInter || nn.HasTrainable(l.Output)}
	f.belowR = l.needDX || trBefore || trAttn
	f.mlpDX = f.belowR || trAfter || trInter
	f.interX = f.belowR || trAfter
	f.attnDX = l.needDX || trBefore
	l.Output.SetInputGrad(f.mlpDX)
	l.Output.KeepOutput(false)
	l.Intermediate.SetInputGrad(f.interX)
	l.Intermediate.KeepOutput(l.Output.NeedsInput())
	l.LayernormAfter.SetInputGrad(f.belowR)
	l.LayernormAfter.KeepOutput(l.Intermediate.NeedsInput())
	f.keepR = l.LayernormAfter.NeedsInput()
	l.Attention.SetInputGrad(f.attnDX)
	l.Attention.KeepOutput(false)
	l.LayernormBefore.SetInputGrad(l.needDX)
	l.LayernormBefore.KeepOutput(l.Attention.NeedsInput())
	return f
}

// Buffers implements nn.Buffered: the internal buffers only. y (the next
// block's input, kept by checkpointing) stays with its block; the Stack
// lends dx.
func (l *Layer) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.r}, []**tensor.Tensor{&l.dr, &l.rt}
}

// Plan implements nn.Planner for x [B, T, H]. The internal workspace is
// handed from block to block, and with pooled buffers (gradient
// checkpointing) the internal activations too: only y is the block's own
// (nn.Pool), and dx is the Stack's buffer of its parity (BlockGrad.Slot).
func (l *Layer) Plan(in []int, backward bool) nn.Cost {
	f := l.prepare()
	bw := backward && f.active
	n := tensor.NumElems(in)
	var own, inner nn.Cost
	own.Bytes[memory.Activations] += 4 * int64(n) // y
	if f.keepR {
		inner.Slot(l.name+"#r", memory.Activations, n)
	} else {
		inner.Slot(l.name+"#rt", memory.Workspace, n)
	}
	inner.Run(nn.Elementwise(nn.OpAdd, n), 2) // the residual sums
	if bw && f.belowR {
		inner.Bytes[memory.Workspace] += 4 * int64(n) // dr
		inner.Ran(nn.Elementwise(nn.OpAdd, n))
	}
	if bw && l.needDX {
		own.Slot(l.dx.Slot, memory.Workspace, n)
		inner.Ran(nn.Elementwise(nn.OpAdd, n))
	}
	inter := withLast(in, nn.OutFeatures(l.Intermediate.Dense))
	inner = inner.Plus(l.Output.Plan(inter, bw))
	inner = inner.Plus(l.Intermediate.Plan(in, bw && f.mlpDX))
	inner = inner.Plus(l.LayernormAfter.Plan(in, bw && f.interX))
	inner = inner.Plus(l.Attention.Plan(in, bw && f.belowR))
	inner = inner.Plus(l.LayernormBefore.Plan(in, bw && f.attnDX))
	return nn.Pool(l.name, own, inner, l.pooled)
}

func withLast(shape []int, d int) []int {
	s := append([]int(nil), shape...)
	s[len(s)-1] = d
	return s
}
