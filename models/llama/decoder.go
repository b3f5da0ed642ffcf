package llama

import (
	"fmt"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Decoder is LlamaModel ("model"): the token embedding, the decoder layers
// and the final norm, shared by the causal-LM and the sequence
// classification heads. Its Forward stops before the final norm, which the
// heads apply to the rows they read.
type Decoder struct {
	EmbedTokens *nn.Embedding // model.embed_tokens
	Layers      []*Layer
	Norm        *nn.RMSNorm // model.norm
	Rotary      *nn.Rotary

	cfg       *Config
	seqLen    int
	stack     *models.Stack
	layerList *node
	b, t      int

	gradUnit models.UnitHook // nn.GradUnits' callback (the model's)
}

// node is a named module without parameters of its own ("model.layers")
// whose children come from the current fields.
type node struct {
	name     string
	children func() []nn.Module
}

func (n *node) Name() string          { return n.name }
func (n *node) Params() []*nn.Param   { return nil }
func (n *node) Children() []nn.Module { return n.children() }

// newDecoder builds the body for a valid config with zero weights (norms at
// 1); seed keys the dropout masks.
func newDecoder(cfg *Config, seed uint64) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	rot, err := nn.NewRotary(cfg.HeadDim(), cfg.RopeTheta, cfg.RopeScaling)
	if err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	d := &Decoder{cfg: cfg, Rotary: rot, seqLen: cfg.MaxPositionEmbeddings}
	d.EmbedTokens = nn.NewEmbedding("model.embed_tokens", cfg.VocabSize, cfg.HiddenSize)
	scratch := &nn.AttentionScratch{} // blocks run in turn: one attention workspace
	var blocks []models.Block
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l, err := newLayer(fmt.Sprintf("model.layers.%d", i), cfg, rot, seed)
		if err != nil {
			return nil, fmt.Errorf("llama: config: %w", err)
		}
		l.SelfAttn.Scratch = scratch
		d.Layers = append(d.Layers, l)
		blocks = append(blocks, l)
	}
	d.Norm = nn.NewRMSNorm("model.norm", cfg.HiddenSize, float32(cfg.RMSNormEps))
	d.layerList = &node{"model.layers", func() []nn.Module {
		c := make([]nn.Module, len(d.Layers))
		for i, l := range d.Layers {
			c[i] = l
		}
		return c
	}}
	d.stack = models.NewStack("model.layers", blocks)
	return d, nil
}

// Name implements nn.Module.
func (d *Decoder) Name() string { return "model" }

// Params implements nn.Module.
func (d *Decoder) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (d *Decoder) Children() []nn.Module { return []nn.Module{d.EmbedTokens, d.layerList, d.Norm} }

// initWeights gives the body transformers' initialisation (see New).
func (d *Decoder) initWeights(std float64, rng interface{ NormFloat64() float64 }) {
	for _, p := range nn.AllParams(d) {
		if p == d.Norm.Weight || len(p.Value.Shape()) < 2 {
			continue // norms stay 1, biases 0
		}
		x := p.Value.F32()
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
	}
	if p := d.cfg.PadTokenID; p != nil {
		h := d.cfg.HiddenSize
		clear(d.EmbedTokens.Weight.Value.F32()[*p*h : (*p+1)*h])
	}
}

func (d *Decoder) setMask(mask []int32) {
	for _, l := range d.Layers {
		l.SelfAttn.Mask = mask
	}
}

// Forward maps token ids [B, T] (attention mask optional: 1 a token, 0
// padding) to the last layer's hidden states [B, T, H], before the final
// norm.
func (d *Decoder) Forward(ids, mask []int32, B, T int) *tensor.Tensor {
	if T > d.cfg.MaxPositionEmbeddings {
		panic(fmt.Sprintf("llama: %d tokens exceed max_position_embeddings %d", T, d.cfg.MaxPositionEmbeddings))
	}
	d.b, d.t = B, T
	d.setMask(mask)
	below, _ := d.belowFunc()
	for i, l := range d.Layers {
		l.SetInputGrad(below(i)) // the blocks' keep flags follow Backward's
	}
	h := d.EmbedTokens.Forward(ids, B, T)
	for i := range d.Layers {
		h = d.stack.Forward(i, h)
	}
	return h
}

// Backward takes dL/d(last hidden states) [B, T, H] and runs the layers'
// and the embedding's backward as far down as something trains. The
// head's units come first (nn.GradUnits): the blocks are units
// headUnits…, the embedding the last.
func (d *Decoder) Backward(g *tensor.Tensor) {
	below, _ := d.belowFunc()
	for i := len(d.Layers) - 1; i >= 0; i-- {
		d.Layers[i].SetInputGrad(below(i))
		g = d.stack.Backward(i, g)
		d.gradUnit.Done(headUnits + len(d.Layers) - 1 - i)
		if g == nil {
			return
		}
	}
	d.EmbedTokens.Backward(g)
	d.gradUnit.Done(headUnits + len(d.Layers))
}

// headUnits is how many gradient units the heads have before the blocks:
// the output projection (lm_head or score) and the final norm.
const headUnits = 2

// gradUnits are the units of a model with head h (nn.GradUnits): the head,
// the final norm, the blocks from the last to the first, the embedding. A
// tied lm_head holds no parameter of its own: the embedding's gradient is
// final only after the embedding's backward.
func (d *Decoder) gradUnits(h nn.Module) []nn.Module {
	us := []nn.Module{h, d.Norm}
	for i := len(d.Layers) - 1; i >= 0; i-- {
		us = append(us, d.Layers[i])
	}
	return append(us, d.EmbedTokens)
}

// belowFunc returns below(i), whether anything under block i needs a
// gradient, and below(len(Layers)): whether the final norm must pass one
// down.
func (d *Decoder) belowFunc() (func(int) bool, bool) {
	trEmb := d.EmbedTokens.Weight.Trainable
	lowest := -1 // lowest block with a trainable parameter
	for i, l := range d.Layers {
		if nn.HasTrainable(l) {
			lowest = i
			break
		}
	}
	below := func(i int) bool { return trEmb || (lowest >= 0 && lowest < i) }
	return below, below(len(d.Layers))
}

// headInputGrad reports whether a head must pass a gradient to the final
// norm (something below it, or the norm itself, trains), and sets the
// norm's input-gradient flag.
func (d *Decoder) headInputGrad() bool {
	_, belowNorm := d.belowFunc()
	d.Norm.SetInputGrad(belowNorm)
	return belowNorm || nn.HasTrainable(d.Norm)
}

// planBody declares the layers' and the embedding's cost on ids [B, T]:
// goes says whether the backward reaches the last layer.
func (d *Decoder) planBody(in []int, goes bool) nn.Cost {
	seq := []int{in[0], in[1], d.cfg.HiddenSize}
	below, _ := d.belowFunc()
	var c nn.Cost
	for i := len(d.Layers) - 1; i >= 0; i-- {
		l := d.Layers[i]
		l.SetInputGrad(below(i))
		c = c.Plus(d.stack.PlanBlock(i, seq, goes))
		goes = goes && below(i)
	}
	return c.Plus(d.EmbedTokens.Plan(in, goes))
}

// BlocksBackward is how many blocks a Backward runs through.
func (d *Decoder) BlocksBackward() int {
	below, belowNorm := d.belowFunc()
	if !belowNorm {
		return 0
	}
	n := 0
	for i := len(d.Layers) - 1; i >= 0; i-- {
		n++
		if !below(i) {
			break
		}
	}
	return n
}

// Blocks implements models.Model.
func (d *Decoder) Blocks() (forward, backward int) {
	backward = d.BlocksBackward()
	forward = len(d.Layers)
	if d.GradientCheckpointing() && backward > 1 {
		forward += backward - 1
	}
	return forward, backward
}

// SetGradientCheckpointing implements models.Model (see models.Stack).
func (d *Decoder) SetGradientCheckpointing(on bool) { d.stack.SetCheckpointing(on) }

// GradientCheckpointing implements models.Model.
func (d *Decoder) GradientCheckpointing() bool { return d.stack.Checkpointing() }

// SetSeqLen implements models.SeqLener.
func (d *Decoder) SetSeqLen(n int) error {
	if n < 1 || n > d.cfg.MaxPositionEmbeddings {
		return fmt.Errorf("llama: sequence length %d outside [1, max_position_embeddings %d]", n, d.cfg.MaxPositionEmbeddings)
	}
	d.seqLen = n
	return nil
}

// Dims implements models.Model.
func (d *Decoder) Dims() models.Dims {
	c := d.cfg
	return models.Dims{Hidden: c.HiddenSize, Intermediate: c.IntermediateSize, Heads: c.NumAttentionHeads,
		KVHeads: c.NumKeyValueHeads, Layers: c.NumHiddenLayers, Tokens: d.seqLen}
}

// ModelType implements models.Model.
func (d *Decoder) ModelType() string { return ModelType }

// EOS returns eos_token_id (one id or several), which ends generation.
func (d *Decoder) EOS() []int { return append([]int(nil), d.cfg.EOSTokenIDs...) }
