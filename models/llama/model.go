package llama

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is LlamaForCausalLM.
type Model struct {
	Config      Config
	EmbedTokens *nn.Embedding // model.embed_tokens
	Layers      []*Layer
	Norm        *nn.RMSNorm // model.norm
	// LMHead is "lm_head": a Linear slot, or a *TiedHead reading
	// embed_tokens' weight when tie_word_embeddings.
	LMHead nn.Layer
	Rotary *nn.Rotary

	seed             uint64
	seqLen           int
	stack            models.Stack
	model, layerList *node
	b, t             int
	logits           *tensor.Tensor // [B·T, vocab], a view of the head's output
}

// node is a named module without parameters of its own ("model",
// "model.layers") whose children come from the model's current fields.
type node struct {
	name     string
	children func() []nn.Module
}

func (n *node) Name() string          { return n.name }
func (n *node) Params() []*nn.Param   { return nil }
func (n *node) Children() []nn.Module { return n.children() }

// Name implements nn.Module: the model is the root, "".
func (m *Model) Name() string { return "" }

// Params implements nn.Module.
func (m *Model) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (m *Model) Children() []nn.Module { return []nn.Module{m.model, m.LMHead} }

// Slots implements nn.Slotted: an untied lm_head is a replaceable Linear.
func (m *Model) Slots() []nn.Slot {
	if _, tied := m.LMHead.(*TiedHead); tied {
		return nil
	}
	return []nn.Slot{{Name: "lm_head", Layer: &m.LMHead}}
}

// OutputHead names the output layer, which PEFT's "all-linear" leaves out.
func (m *Model) OutputHead() string { return "lm_head" }

// String summarises the architecture.
func (m *Model) String() string {
	c := &m.Config
	tied := ""
	if c.TieWordEmbeddings {
		tied = ", tied embeddings"
	}
	return fmt.Sprintf("%s(vocab %d, hidden %d, %d layers, %d heads / %d kv heads of %d, intermediate %d%s)",
		Architecture, c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim(), c.IntermediateSize, tied)
}

// build makes the module tree for a valid config, with zero weights (norms
// at 1). seed keys the dropout masks.
func build(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	rot, err := nn.NewRotary(cfg.HeadDim(), cfg.RopeTheta, cfg.RopeScaling)
	if err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	m := &Model{Config: cfg, seed: seed, Rotary: rot, seqLen: cfg.MaxPositionEmbeddings}
	m.EmbedTokens = nn.NewEmbedding("model.embed_tokens", cfg.VocabSize, cfg.HiddenSize)
	scratch := &nn.AttentionScratch{} // blocks run in turn: one attention workspace
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l, err := newLayer(fmt.Sprintf("model.layers.%d", i), &m.Config, rot, seed)
		if err != nil {
			return nil, fmt.Errorf("llama: config: %w", err)
		}
		l.SelfAttn.Scratch = scratch
		m.Layers = append(m.Layers, l)
		m.stack.Blocks = append(m.stack.Blocks, l)
	}
	m.Norm = nn.NewRMSNorm("model.norm", cfg.HiddenSize, float32(cfg.RMSNormEps))
	if cfg.TieWordEmbeddings {
		m.LMHead = &TiedHead{name: "lm_head", Weight: m.EmbedTokens.Weight, needDX: true}
	} else {
		m.LMHead = nn.NewLinear("lm_head", cfg.HiddenSize, cfg.VocabSize, false)
	}
	m.layerList = &node{"model.layers", func() []nn.Module {
		c := make([]nn.Module, len(m.Layers))
		for i, l := range m.Layers {
			c[i] = l
		}
		return c
	}}
	m.model = &node{"model", func() []nn.Module { return []nn.Module{m.EmbedTokens, m.layerList, m.Norm} }}
	m.stack.SetCheckpointing(false)
	return m, nil
}

// NewZero returns a model with zero weights (norms at 1) in training mode,
// for planning and for loaders that fill the values.
func NewZero(cfg Config, seed uint64) (*Model, error) { return build(cfg, seed) }

// New returns a randomly initialised model in training mode, as
// transformers' LlamaPreTrainedModel._init_weights: Linear weights and the
// embedding from N(0, initializer_range²) (the pad_token_id row zero),
// biases 0, RMSNorm weights 1. The same seed gives the same weights.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := build(cfg, seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6c616d612d696e)) // "llama-in"
	std := cfg.InitializerRange
	nn.Normal(m.EmbedTokens.Weight.Value, std, rng)
	if p := cfg.PadTokenID; p != nil {
		clear(m.EmbedTokens.Weight.Value.F32()[*p*cfg.HiddenSize : (*p+1)*cfg.HiddenSize])
	}
	_ = nn.Walk(m, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			nn.Normal(l.Weight.Value, std, rng)
		}
		return nil
	})
	return m, nil
}

// setMask gives every attention the batch's padding mask (nil: none).
func (m *Model) setMask(mask []int32) {
	for _, l := range m.Layers {
		l.SelfAttn.Mask = mask
	}
}

// Forward maps token ids [B, T] (with an optional attention mask, 1 for a
// token, 0 for padding) to logits [B·T, vocab]: row b·T+t predicts the
// token after position t.
func (m *Model) Forward(ids, mask []int32, B, T int) *tensor.Tensor {
	if T > m.Config.MaxPositionEmbeddings {
		panic(fmt.Sprintf("llama: %d tokens exceed max_position_embeddings %d", T, m.Config.MaxPositionEmbeddings))
	}
	m.b, m.t = B, T
	m.setMask(mask)
	h := m.EmbedTokens.Forward(ids, B, T)
	for i := range m.Layers {
		h = m.stack.Forward(i, h)
	}
	y := m.LMHead.Forward(m.Norm.Forward(h))
	m.logits = tensor.FromF32(y.F32(), B*T, m.Config.VocabSize)
	return m.logits
}

// Backward takes dL/dlogits [B·T, vocab] of the last Forward, accumulates
// the gradients of the trainable parameters and goes down only as far as
// the lowest module with one. It returns nil (token ids have no gradient).
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	if m.logits == nil {
		panic("llama: Backward before Forward")
	}
	B, T, V := m.b, m.t, m.Config.VocabSize
	if dlogits.Len() != B*T*V {
		panic(fmt.Sprintf("llama: dlogits %v, want [%d %d]", dlogits, B*T, V))
	}
	below, belowNorm := m.belowFunc()
	m.LMHead.SetInputGrad(belowNorm || nn.HasTrainable(m.Norm))
	g := m.LMHead.Backward(tensor.FromF32(dlogits.F32(), B, T, V))
	if g == nil {
		return nil
	}
	m.Norm.SetInputGrad(belowNorm)
	if g = m.Norm.Backward(g); g == nil {
		return nil
	}
	for i := len(m.Layers) - 1; i >= 0; i-- {
		m.Layers[i].SetInputGrad(below(i))
		if g = m.stack.Backward(i, g); g == nil {
			return nil
		}
	}
	m.EmbedTokens.Backward(g)
	return nil
}

// belowFunc returns below(i), whether anything under block i needs a
// gradient, and below(len(Layers)) for the final norm.
func (m *Model) belowFunc() (func(int) bool, bool) {
	trEmb := m.EmbedTokens.Weight.Trainable
	lowest := -1 // lowest block with a trainable parameter
	for i, l := range m.Layers {
		if nn.HasTrainable(l) {
			lowest = i
			break
		}
	}
	below := func(i int) bool { return trEmb || (lowest >= 0 && lowest < i) }
	return below, below(len(m.Layers))
}

// SetTraining switches dropout on (training) or off (evaluation) in the
// whole tree.
func (m *Model) SetTraining(on bool) {
	for _, c := range m.Children() {
		nn.SetTraining(c, on)
	}
}

// Plan implements nn.Planner for token ids of shape in [B, T]: the buffers
// and GEMM FLOPs of a Forward and, when backward, of the Backward from
// dL/dlogits, following Backward's decisions step by step.
func (m *Model) Plan(in []int, backward bool) nn.Cost {
	B, T, H := in[0], in[1], m.Config.HiddenSize
	seq := []int{B, T, H}
	below, belowNorm := m.belowFunc()
	var c nn.Cost
	m.LMHead.SetInputGrad(belowNorm || nn.HasTrainable(m.Norm))
	c = c.Plus(nn.PlanOf(m.LMHead, seq, backward))
	goes := backward && (belowNorm || nn.HasTrainable(m.Norm))
	m.Norm.SetInputGrad(belowNorm)
	c = c.Plus(m.Norm.Plan(seq, goes))
	goes = goes && belowNorm
	for i := len(m.Layers) - 1; i >= 0; i-- {
		l := m.Layers[i]
		l.SetInputGrad(below(i))
		c = c.Plus(l.Plan(seq, goes))
		if m.stack.Checkpointing() && goes && i != len(m.Layers)-1 {
			re := l.Plan(seq, false) // the recomputation
			c.Forward += re.Forward
			c.Attention += re.Attention
			c.LowRank += re.LowRank
		}
		goes = goes && below(i)
	}
	return c.Plus(m.EmbedTokens.Plan(in, goes))
}

// BlocksBackward is how many blocks a Backward runs through.
func (m *Model) BlocksBackward() int {
	below, belowNorm := m.belowFunc()
	if !belowNorm {
		return 0
	}
	n := 0
	for i := len(m.Layers) - 1; i >= 0; i-- {
		n++
		if !below(i) {
			break
		}
	}
	return n
}

// SetGradientCheckpointing implements models.Model (see models.Stack).
func (m *Model) SetGradientCheckpointing(on bool) { m.stack.SetCheckpointing(on) }

// GradientCheckpointing implements models.Model.
func (m *Model) GradientCheckpointing() bool { return m.stack.Checkpointing() }
