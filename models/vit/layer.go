package vit

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Attention is ViTAttention: self-attention ("attention.attention") and
// its output projection ("attention.output").
type Attention struct {
	name      string
	Attention *nn.SelfAttention
	Output    *nn.Output

	needDX bool
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

// Forward implements nn.Layer.
func (a *Attention) Forward(x *tensor.Tensor) *tensor.Tensor {
	return a.Output.Forward(a.Attention.Forward(x))
}

// Backward implements nn.Layer.
func (a *Attention) Backward(dy *tensor.Tensor) *tensor.Tensor {
	a.Output.SetInputGrad(a.needDX || nn.HasTrainable(a.Attention))
	g := a.Output.Backward(dy)
	if g == nil {
		return nil
	}
	a.Attention.SetInputGrad(a.needDX)
	return a.Attention.Backward(g)
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
	r, y   *tensor.Tensor
	dr, dx *tensor.Tensor
}

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

// Forward implements nn.Layer.
func (l *Layer) Forward(x *tensor.Tensor) *tensor.Tensor {
	a := l.Attention.Forward(l.LayernormBefore.Forward(x))
	l.r = nn.Reuse(l.r, x.Shape()...)
	kernels.Add(l.r.F32(), a.F32(), x.F32())
	o := l.Output.Forward(l.Intermediate.Forward(l.LayernormAfter.Forward(l.r)))
	l.y = nn.Reuse(l.y, x.Shape()...)
	kernels.Add(l.y.F32(), o.F32(), l.r.F32())
	return l.y
}

// Backward implements nn.Layer. Each sub-module is asked for its input
// gradient only if something below it needs one, so a block whose only
// trainable parameters sit in its attention runs no MLP weight gradient,
// and a block that neither trains nor passes gradients down does nothing.
func (l *Layer) Backward(dy *tensor.Tensor) *tensor.Tensor {
	trBefore := nn.HasTrainable(l.LayernormBefore)
	trAttn := nn.HasTrainable(l.Attention)
	trAfter := nn.HasTrainable(l.LayernormAfter)
	trInter := nn.HasTrainable(l.Intermediate)
	if !l.needDX && !trBefore && !trAttn && !trAfter && !trInter && !nn.HasTrainable(l.Output) {
		return nil
	}
	// belowR: does anything under the residual r need a gradient?
	belowR := l.needDX || trBefore || trAttn
	l.Output.SetInputGrad(belowR || trAfter || trInter)
	g := l.Output.Backward(dy)
	if g != nil {
		l.Intermediate.SetInputGrad(belowR || trAfter)
		g = l.Intermediate.Backward(g)
	}
	if g != nil {
		l.LayernormAfter.SetInputGrad(belowR)
		g = l.LayernormAfter.Backward(g)
	}
	if !belowR {
		return nil
	}
	l.dr = nn.Reuse(l.dr, dy.Shape()...)
	kernels.Add(l.dr.F32(), dy.F32(), g.F32())
	l.Attention.SetInputGrad(l.needDX || trBefore)
	g = l.Attention.Backward(l.dr)
	if g != nil {
		l.LayernormBefore.SetInputGrad(l.needDX)
		g = l.LayernormBefore.Backward(g)
	}
	if !l.needDX {
		return nil
	}
	l.dx = nn.Reuse(l.dx, dy.Shape()...)
	kernels.Add(l.dx.F32(), l.dr.F32(), g.F32())
	return l.dx
}
