package llama

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is LlamaForCausalLM: the Decoder ("model") and lm_head.
type Model struct {
	Config Config
	*Decoder
	// LMHead is "lm_head": a Linear slot, or a *TiedHead reading
	// embed_tokens' weight when tie_word_embeddings.
	LMHead nn.Layer

	logits *tensor.Tensor // [B·T, vocab], a view of the head's output
}

// Name implements nn.Module: the model is the root, "".
func (m *Model) Name() string { return "" }

// Params implements nn.Module.
func (m *Model) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (m *Model) Children() []nn.Module { return []nn.Module{m.Decoder, m.LMHead} }

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
func (m *Model) String() string { return describe(Architecture, &m.Config) }

func describe(arch string, c *Config) string {
	tied := ""
	if c.TieWordEmbeddings {
		tied = ", tied embeddings"
	}
	return fmt.Sprintf("%s(vocab %d, hidden %d, %d layers, %d heads / %d kv heads of %d, intermediate %d%s)",
		arch, c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim(), c.IntermediateSize, tied)
}

// build makes the module tree for a valid config, with zero weights (norms
// at 1). seed keys the dropout masks.
func build(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	if err := cfg.CheckMemory(); err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	m := &Model{Config: cfg}
	d, err := newDecoder(&m.Config, seed)
	if err != nil {
		return nil, err
	}
	m.Decoder = d
	if cfg.TieWordEmbeddings {
		m.LMHead = &TiedHead{name: "lm_head", Weight: d.EmbedTokens.Weight, needDX: true}
	} else {
		m.LMHead = nn.NewLinear("lm_head", cfg.HiddenSize, cfg.VocabSize, false)
	}
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
	m.Decoder.initWeights(cfg.InitializerRange, rng)
	if l, ok := m.LMHead.(*nn.Linear); ok {
		nn.Normal(l.Weight.Value, cfg.InitializerRange, rng)
	}
	return m, nil
}

// Forward maps token ids [B, T] (with an optional attention mask, 1 for a
// token, 0 for padding) to logits [B·T, vocab]: row b·T+t predicts the
// token after position t.
func (m *Model) Forward(ids, mask []int32, B, T int) *tensor.Tensor {
	h := m.Decoder.Forward(ids, mask, B, T)
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
	m.LMHead.SetInputGrad(m.headInputGrad())
	g := m.LMHead.Backward(tensor.FromF32(dlogits.F32(), B, T, V))
	m.gradUnit.Done(0)
	if g == nil {
		return nil
	}
	g = m.Norm.Backward(g)
	m.gradUnit.Done(1)
	if g != nil {
		m.Decoder.Backward(g)
	}
	return nil
}

// GradUnits implements nn.GradUnits: lm_head, the final norm, the blocks
// from the last to the first, the embedding.
func (m *Model) GradUnits() []nn.Module { return m.gradUnits(m.LMHead) }

// OnGradUnit implements nn.GradUnits.
func (m *Model) OnGradUnit(fn func(unit int)) { m.gradUnit = fn }

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
	seq := []int{in[0], in[1], m.Config.HiddenSize}
	headDX := m.headInputGrad()
	m.LMHead.SetInputGrad(headDX)
	c := nn.PlanOf(m.LMHead, seq, backward)
	goes := backward && headDX
	c = c.Plus(m.Norm.Plan(seq, goes))
	_, belowNorm := m.belowFunc()
	return c.Plus(m.planBody(in, goes && belowNorm))
}
