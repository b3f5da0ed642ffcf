package bert

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Attention is BertAttention: self-attention ("attention.self": query, key,
// value), its output projection with dropout ("attention.output.dense")
// and the post-norm ("attention.output.LayerNorm"), which the Layer applies
// after the residual.
type Attention struct {
	name      string
	Self      *nn.SelfAttention
	Output    *nn.Output
	LayerNorm *nn.LayerNorm
}

// Name implements nn.Module.
func (a *Attention) Name() string { return a.name }

// Params implements nn.Module.
func (a *Attention) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (a *Attention) Children() []nn.Module { return []nn.Module{a.Self, a.Output, a.LayerNorm} }

// Layer is BertLayer, one post-norm encoder block:
//
//	a = attention.output.LayerNorm(x + attention.output(attention.self(x)))
//	y = output.LayerNorm(a + output(intermediate(a)))
type Layer struct {
	name            string
	Attention       *Attention
	Intermediate    *nn.Intermediate
	Output          *nn.Output
	OutputLayerNorm *nn.LayerNorm

	needDX   bool
	pooled   bool // gradient checkpointing: internal buffers shared by all blocks
	s1, s2   *tensor.Tensor
	s1t, s2t *tensor.Tensor // s1, s2 when no backward reads them
	// y is the block's own copy of the output: output.LayerNorm writes into
	// the workspace that the next block takes over.
	y  *tensor.Tensor
	da *tensor.Tensor
	dx models.BlockGrad // lent by the Stack
}

var _ models.Block = (*Layer)(nil)

func newLayer(name string, c *Config, seed uint64) (*Layer, error) {
	h, eps, p := c.HiddenSize, float32(c.LayerNormEps), float32(c.HiddenDropoutProb)
	inter, err := nn.NewIntermediate(nn.Join(name, "intermediate"), h, c.IntermediateSize, c.HiddenAct)
	if err != nil {
		return nil, err
	}
	an := nn.Join(name, "attention")
	return &Layer{
		name: name, needDX: true,
		Attention: &Attention{
			name:      an,
			Self:      nn.NewSelfAttention(nn.Join(an, "self"), h, c.NumAttentionHeads, true, float32(c.AttentionProbsDropoutProb), seed),
			Output:    nn.NewOutput(nn.Join(an, "output"), h, h, p, seed),
			LayerNorm: nn.NewLayerNorm(nn.Join(an, "output.LayerNorm"), h, eps),
		},
		Intermediate:    inter,
		Output:          nn.NewOutput(nn.Join(name, "output"), c.IntermediateSize, h, p, seed),
		OutputLayerNorm: nn.NewLayerNorm(nn.Join(name, "output.LayerNorm"), h, eps),
	}, nil
}

// Name implements nn.Module.
func (l *Layer) Name() string { return l.name }

// Params implements nn.Module.
func (l *Layer) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (l *Layer) Children() []nn.Module {
	return []nn.Module{l.Attention, l.Intermediate, l.Output, l.OutputLayerNorm}
}

// SetInputGrad implements nn.Layer.
func (l *Layer) SetInputGrad(need bool) { l.needDX = need }

// SetPooled implements models.Block.
func (l *Layer) SetPooled(on bool) { l.pooled = on }

// BlockGrad implements models.Block.
func (l *Layer) BlockGrad() *models.BlockGrad { return &l.dx }

// setMask gives the self-attention the batch's padding mask.
func (l *Layer) setMask(mask []int32) { l.Attention.Self.Mask = mask }

// Forward implements nn.Layer.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	f := l.prepare()
	at := l.Attention
	o := at.Output.Forward(at.Self.Forward(x))
	s1 := nn.OutputBuffer(&l.s1, &l.s1t, !f.keepS1, x.Shape()...)
	kernels.Add(s1.F32(), o.F32(), x.F32())
	a := at.LayerNorm.Forward(s1)
	o = l.Output.Forward(l.Intermediate.Forward(a))
	s2 := nn.OutputBuffer(&l.s2, &l.s2t, !f.keepS2, x.Shape()...)
	kernels.Add(s2.F32(), o.F32(), a.F32())
	y := l.OutputLayerNorm.Forward(s2)
	// The LayerNorm's output buffer moves to the next block: keep the
	// output, the next block's input, in a buffer of the block's own.
	l.y = nn.ReuseAs(memory.Activations, l.y, x.Shape()...)
	copy(l.y.F32(), y.F32())
	return l.y
}

// Backward implements nn.Layer; sub-modules run only as far as something
// below them needs a gradient.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	f := l.prepare()
	if !f.active {
		return nil
	}
	at := l.Attention
	g2 := l.OutputLayerNorm.Backward(dy) // dL/ds2: the residual and the MLP branch
	if !f.ln2DX {
		return nil
	}
	gi := l.Output.Backward(g2)
	if gi != nil {
		gi = l.Intermediate.Backward(gi)
	}
	if !f.belowA {
		return nil
	}
	l.da = nn.ReuseAs(memory.Workspace, l.da, dy.Shape()...)
	kernels.Add(l.da.F32(), g2.F32(), gi.F32())
	g1 := at.LayerNorm.Backward(l.da) // dL/ds1
	if !f.ln1DX {
		return nil
	}
	gs := at.Output.Backward(g1)
	if gs != nil {
		gs = at.Self.Backward(gs)
	}
	if !l.needDX {
		return nil
	}
	l.dx.DX = nn.ReuseAs(memory.Workspace, l.dx.DX, dy.Shape()...)
	kernels.Add(l.dx.DX.F32(), g1.F32(), gs.F32())
	return l.dx.DX
}

// layerFlags is which parts of a block's backward run.
type layerFlags struct {
	active bool // anything at all
	ln2DX  bool // output.LayerNorm passes a gradient down
	belowA bool // anything under a (the attention block's output) needs one
	ln1DX  bool // attention.output.LayerNorm passes a gradient down
	keepS1 bool // the backward reads s1 (attention.output.LayerNorm's input)
	keepS2 bool // the backward reads s2 (output.LayerNorm's input)
}

// prepare sets every child's input-gradient and keep flags and returns
// which parts of a Backward run; Forward, Backward and Plan share it. The
// residual adds read nothing in the backward; the block's output is its
// own copy, so output.LayerNorm's is never kept.
func (l *Layer) prepare() layerFlags {
	at := l.Attention
	trSelf, trAO, trLN1 := nn.HasTrainable(at.Self), nn.HasTrainable(at.Output), nn.HasTrainable(at.LayerNorm)
	trInter, trOut := nn.HasTrainable(l.Intermediate), nn.HasTrainable(l.Output)
	var f layerFlags
	f.belowA = l.needDX || trLN1 || trAO || trSelf
	f.ln2DX = f.belowA || trOut || trInter
	f.ln1DX = l.needDX || trAO || trSelf
	f.active = f.ln2DX || nn.HasTrainable(l.OutputLayerNorm)
	l.OutputLayerNorm.SetInputGrad(f.ln2DX)
	l.OutputLayerNorm.KeepOutput(false)
	f.keepS2 = l.OutputLayerNorm.NeedsInput()
	l.Output.SetInputGrad(f.belowA || trInter)
	l.Output.KeepOutput(false)
	l.Intermediate.SetInputGrad(f.belowA)
	l.Intermediate.KeepOutput(l.Output.NeedsInput())
	at.LayerNorm.SetInputGrad(f.ln1DX)
	at.LayerNorm.KeepOutput(l.Intermediate.NeedsInput())
	f.keepS1 = at.LayerNorm.NeedsInput()
	at.Output.SetInputGrad(l.needDX || trSelf)
	at.Output.KeepOutput(false)
	at.Self.SetInputGrad(l.needDX)
	at.Self.KeepOutput(at.Output.NeedsInput())
	return f
}

// Buffers implements nn.Buffered: the internal buffers only (y stays with
// the block; the Stack lends dx).
func (l *Layer) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&l.s1, &l.s2}, []**tensor.Tensor{&l.da, &l.s1t, &l.s2t}
}

// Plan implements nn.Planner for x [B, T, H]: y is the block's own, dx the
// Stack's buffer of its parity (BlockGrad.Slot), the rest is handed from
// block to block (nn.Pool).
func (l *Layer) Plan(in []int, backward bool) nn.Cost {
	f := l.prepare()
	bw := backward && f.active
	at := l.Attention
	n := tensor.NumElems(in)
	var own, inner nn.Cost
	own.Bytes[memory.Activations] += 4 * int64(n) // y
	for _, s := range []struct {
		keep bool
		name string
	}{{f.keepS1, "s1"}, {f.keepS2, "s2"}} {
		if s.keep {
			inner.Slot(l.name+"#"+s.name, memory.Activations, n)
		} else {
			inner.Slot(l.name+"#"+s.name+"t", memory.Workspace, n)
		}
	}
	inner.Run(nn.Elementwise(nn.OpAdd, n), 2) // the residual sums
	inner.Ran(nn.Elementwise(nn.OpCopy, n))   // y
	if bw && f.belowA {
		inner.Bytes[memory.Workspace] += 4 * int64(n) // da
		inner.Ran(nn.Elementwise(nn.OpAdd, n))
	}
	if bw && l.needDX {
		own.Slot(l.dx.Slot, memory.Workspace, n)
		inner.Ran(nn.Elementwise(nn.OpAdd, n))
	}
	inter := append(append([]int(nil), in[:len(in)-1]...), nn.OutFeatures(l.Intermediate.Dense))
	inner = inner.Plus(l.OutputLayerNorm.Plan(in, bw))
	inner = inner.Plus(l.Output.Plan(inter, bw && f.ln2DX))
	inner = inner.Plus(l.Intermediate.Plan(in, bw && f.ln2DX))
	inner = inner.Plus(at.LayerNorm.Plan(in, bw && f.belowA))
	inner = inner.Plus(at.Output.Plan(in, bw && f.ln1DX))
	inner = inner.Plus(at.Self.Plan(in, bw && f.ln1DX))
	return nn.Pool(l.name, own, inner, l.pooled)
}
