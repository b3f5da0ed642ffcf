package llama

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Layer is LlamaDecoderLayer, one pre-norm decoder block:
//
//	r = x + self_attn(input_layernorm(x))
//	y = r + mlp(post_attention_layernorm(r))
type Layer struct {
	name                   string
	InputLayernorm         *nn.RMSNorm
	SelfAttn               *nn.SelfAttention
	PostAttentionLayernorm *nn.RMSNorm
	MLP                    *nn.GatedMLP

	needDX bool
	pooled bool // gradient checkpointing: internal buffers shared by all blocks
	r, y   *tensor.Tensor
	rt     *tensor.Tensor // r when no backward reads it
	dr     *tensor.Tensor
	dx     models.BlockGrad // lent by the Stack
}

var _ models.Block = (*Layer)(nil)

func newLayer(name string, c *Config, rot *nn.Rotary, seed uint64) (*Layer, error) {
	h, eps := c.HiddenSize, float32(c.RMSNormEps)
	attn, err := nn.NewAttention(nn.Join(name, "self_attn"), nn.AttentionConfig{
		Hidden: h, Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim(),
		Query: "q_proj", Key: "k_proj", Value: "v_proj", Output: "o_proj",
		Bias: c.AttentionBias, OutputBias: c.AttentionBias, Dropout: float32(c.AttentionDropout), Seed: seed, Causal: true,
	})
	if err != nil {
		return nil, err
	}
	attn.Rotary = rot
	mlp, err := nn.NewGatedMLP(nn.Join(name, "mlp"), h, c.IntermediateSize, c.MLPBias, c.HiddenAct)
	if err != nil {
		return nil, err
	}
	return &Layer{
		name: name, needDX: true,
		InputLayernorm:         nn.NewRMSNorm(nn.Join(name, "input_layernorm"), h, eps),
		SelfAttn:               attn,
		PostAttentionLayernorm: nn.NewRMSNorm(nn.Join(name, "post_attention_layernorm"), h, eps),
		MLP:                    mlp,
	}, nil
}

// Name implements nn.Module.
func (l *Layer) Name() string { return l.name }

// Params implements nn.Module.
func (l *Layer) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (l *Layer) Children() []nn.Module {
	return []nn.Module{l.InputLayernorm, l.SelfAttn, l.PostAttentionLayernorm, l.MLP}
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
	a := l.SelfAttn.Forward(l.InputLayernorm.Forward(x))
	r := nn.OutputBuffer(&l.r, &l.rt, !f.keepR, x.Shape()...)
	kernels.Add(r.F32(), a.F32(), x.F32())
	m := l.MLP.Forward(l.PostAttentionLayernorm.Forward(r))
	l.y = nn.ReuseAs(memory.Activations, l.y, x.Shape()...)
	kernels.Add(l.y.F32(), m.F32(), r.F32())
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
	g := l.MLP.Backward(dy)
	if g != nil {
		g = l.PostAttentionLayernorm.Backward(g)
	}
	if !f.belowR {
		return nil
	}
	l.dr = nn.ReuseAs(memory.Workspace, l.dr, dy.Shape()...)
	kernels.Add(l.dr.F32(), dy.F32(), g.F32())
	g = l.SelfAttn.Backward(l.dr)
	if g != nil {
		g = l.InputLayernorm.Backward(g)
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
	mlpDX  bool // the MLP passes a gradient down
	attnDX bool // the attention passes a gradient down
	keepR  bool // the backward reads r (post_attention_layernorm needs its input)
}

// prepare sets every child's input-gradient and keep flags for a Backward
// and returns which parts run; Forward, Backward and Plan share it, so the
// plan is the backward's own decision. The residual adds read nothing in
// the backward: the attention's and the MLP's outputs are never kept.
func (l *Layer) prepare() layerFlags {
	trIn := nn.HasTrainable(l.InputLayernorm)
	trAttn := nn.HasTrainable(l.SelfAttn)
	trPost := nn.HasTrainable(l.PostAttentionLayernorm)
	f := layerFlags{active: l.needDX || trIn || trAttn || trPost || nn.HasTrainable(l.MLP)}
	f.belowR = l.needDX || trIn || trAttn
	f.mlpDX = f.belowR || trPost
	f.attnDX = l.needDX || trIn
	l.MLP.SetInputGrad(f.mlpDX)
	l.MLP.KeepOutput(false)
	l.PostAttentionLayernorm.SetInputGrad(f.belowR)
	l.PostAttentionLayernorm.KeepOutput(l.MLP.NeedsInput())
	f.keepR = l.PostAttentionLayernorm.NeedsInput()
	l.SelfAttn.SetInputGrad(f.attnDX)
	l.SelfAttn.KeepOutput(false)
	l.InputLayernorm.SetInputGrad(l.needDX)
	l.InputLayernorm.KeepOutput(l.SelfAttn.NeedsInput())
	return f
}

// Buffers implements nn.Buffered: the internal buffers only (y, the next
// block's input, stays with the block; the Stack lends dx).
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
	inner = inner.Plus(l.MLP.Plan(in, bw))
	inner = inner.Plus(l.PostAttentionLayernorm.Plan(in, bw && f.mlpDX))
	inner = inner.Plus(l.SelfAttn.Plan(in, bw && f.belowR))
	inner = inner.Plus(l.InputLayernorm.Plan(in, bw && f.attnDX))
	return nn.Pool(l.name, own, inner, l.pooled)
}
