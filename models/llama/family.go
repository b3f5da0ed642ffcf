package llama

import (
	"fmt"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

func init() {
	models.Register(&models.Family{
		ModelType:     ModelType,
		Architectures: []string{Architecture},
		LoRATargets:   []string{"q_proj", "v_proj"},
		TaskType:      "CAUSAL_LM",
		Load: func(dir string, o models.LoadOptions) (models.Model, error) {
			if o.NumLabels > 0 {
				return nil, fmt.Errorf("llama: %s is a causal language model (%s); it has no classification head for %d labels", dir, Architecture, o.NumLabels)
			}
			return Load(dir, LoadOptions{Seed: o.Seed})
		},
		FromConfig: func(b []byte, random bool, seed uint64) (models.Model, error) {
			c, err := ParseConfig(b)
			if err != nil {
				return nil, err
			}
			return newModel(c, random, seed)
		},
		Presets: map[string]func(bool, uint64) (models.Model, error){
			"llama-tiny": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(256, 4, 4, 2, 4096, 256), random, seed)
			},
			"llama-small": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(512, 8, 8, 4, 8192, 512), random, seed)
			},
		},
	})
}

func newModel(c Config, random bool, seed uint64) (models.Model, error) {
	if random {
		return New(c, seed)
	}
	return NewZero(c, seed)
}

// Preset is a small LLaMA for the planner and benchmarks: hidden size,
// layers, heads, key/value heads, vocabulary and context length, MLP
// 8/3 × hidden rounded up to a multiple of 64 (LLaMA's rule), tied
// embeddings.
func Preset(hidden, layers, heads, kvHeads, vocab, context int) Config {
	c := DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads = hidden, layers, heads, kvHeads
	c.IntermediateSize = (8*hidden/3 + 63) / 64 * 64
	c.VocabSize, c.MaxPositionEmbeddings, c.TieWordEmbeddings = vocab, context, true
	c.EOSTokenIDs = []int{2}
	return c
}

// ForwardBatch implements models.Model: the batch's token ids and mask.
func (m *Model) ForwardBatch(b *data.Batch) *tensor.Tensor {
	return m.Forward(b.IDs, b.Mask, b.N, b.T)
}

// Spec implements models.Model: token sequences of up to SeqLen tokens
// (max_position_embeddings unless SetSeqLen chose fewer), one target per
// token.
func (m *Model) Spec() data.Spec {
	return data.Spec{SeqLen: m.seqLen, Vocab: m.Config.VocabSize, Classes: m.Config.VocabSize, PerToken: true}
}

// SetSeqLen implements models.SeqLener.
func (m *Model) SetSeqLen(n int) error {
	if n < 1 || n > m.Config.MaxPositionEmbeddings {
		return fmt.Errorf("llama: sequence length %d outside [1, max_position_embeddings %d]", n, m.Config.MaxPositionEmbeddings)
	}
	m.seqLen = n
	return nil
}

// PlanBatch implements models.Model.
func (m *Model) PlanBatch(n int, backward bool) nn.Cost { return m.Plan([]int{n, m.seqLen}, backward) }

// Blocks implements models.Model.
func (m *Model) Blocks() (forward, backward int) {
	backward = m.BlocksBackward()
	forward = len(m.Layers)
	if m.GradientCheckpointing() && backward > 1 {
		forward += backward - 1
	}
	return forward, backward
}

// Dims implements models.Model.
func (m *Model) Dims() models.Dims {
	c := &m.Config
	return models.Dims{Hidden: c.HiddenSize, Intermediate: c.IntermediateSize, Heads: c.NumAttentionHeads,
		KVHeads: c.NumKeyValueHeads, Layers: c.NumHiddenLayers, Tokens: m.seqLen}
}

// ModelType implements models.Model.
func (m *Model) ModelType() string { return ModelType }

var (
	_ models.Describer = (*Model)(nil)
	_ models.SeqLener  = (*Model)(nil)
)

// ParamKind implements models.Describer: "embeddings", "attention", "mlp",
// "norm", "lm_head" or "other".
func (m *Model) ParamKind(name string) string {
	switch {
	case name == "model.embed_tokens.weight":
		return "embeddings"
	case name == "lm_head.weight":
		return "lm_head"
	case name == "model.norm.weight", hasAny(name, "_layernorm."):
		return "norm"
	case hasAny(name, ".self_attn.q_proj.", ".self_attn.k_proj.", ".self_attn.v_proj.", ".self_attn.o_proj."):
		return "attention"
	case hasAny(name, ".mlp.gate_proj.", ".mlp.up_proj.", ".mlp.down_proj."):
		return "mlp"
	}
	return "other"
}

// Describe implements models.Describer.
func (m *Model) Describe() models.Description {
	c := &m.Config
	rope := "none"
	if c.RopeScaling != nil {
		rope = fmt.Sprintf("%s ×%g", c.RopeScaling.Type, c.RopeScaling.Factor)
	}
	return models.Description{
		Architecture: Architecture,
		Config: map[string]any{
			"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
			"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
			"num_key_value_heads": c.NumKeyValueHeads, "head_dim": c.HeadDim(), "hidden_act": c.HiddenAct,
			"max_position_embeddings": c.MaxPositionEmbeddings, "rms_norm_eps": c.RMSNormEps,
			"rope_theta": c.RopeTheta, "rope_scaling": c.RopeScaling, "tie_word_embeddings": c.TieWordEmbeddings,
			"attention_bias": c.AttentionBias, "mlp_bias": c.MLPBias, "torch_dtype": c.TorchDType,
		},
		Lines: []models.Line{
			{Label: "decoder", Text: fmt.Sprintf("%d layers, hidden %d, %d heads of %d (%d key/value heads), intermediate %d, %s, rms_norm_eps %g",
				c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.HeadDim(), c.NumKeyValueHeads, c.IntermediateSize, c.HiddenAct, c.RMSNormEps)},
			{Label: "positions", Text: fmt.Sprintf("rotary, theta %g, scaling %s, up to %d tokens", c.RopeTheta, rope, c.MaxPositionEmbeddings)},
			{Label: "vocabulary", Text: fmt.Sprintf("%d tokens, tied embeddings %v", c.VocabSize, c.TieWordEmbeddings)},
		},
		Kinds: []string{"embeddings", "attention", "mlp", "norm", "lm_head"},
	}
}

func hasAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
