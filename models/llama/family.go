package llama

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

func init() {
	models.Register(&models.Family{
		ModelType:     ModelType,
		Architectures: []string{Architecture, SeqClsArchitecture, "LlamaModel"},
		LoRATargets:   []string{"q_proj", "v_proj"},
		Load: func(dir string, o models.LoadOptions) (models.Model, error) {
			cfg, err := LoadConfig(filepath.Join(dir, models.ConfigFile))
			if err != nil {
				return nil, err
			}
			if o.NumLabels > 0 || (len(cfg.Architectures) > 0 && cfg.Architectures[0] == SeqClsArchitecture) {
				return LoadSeqCls(dir, SeqClsOptions{LoadOptions: LoadOptions{Seed: o.Seed}, NumLabels: o.NumLabels, Labels: o.Labels})
			}
			return Load(dir, LoadOptions{Seed: o.Seed})
		},
		FromConfig: func(b []byte, random bool, seed uint64) (models.Model, error) {
			c, err := ParseConfig(b)
			if err != nil {
				return nil, err
			}
			if len(c.Architectures) > 0 && c.Architectures[0] == SeqClsArchitecture {
				if random {
					return NewSeqCls(c, seed)
				}
				return NewZeroSeqCls(c, seed)
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

// PlanBatch implements models.Model.
func (m *Model) PlanBatch(n int, backward bool) nn.Cost { return m.Plan([]int{n, m.seqLen}, backward) }

var (
	_ models.Model     = (*Model)(nil)
	_ models.Describer = (*Model)(nil)
	_ models.SeqLener  = (*Model)(nil)
	_ models.Model     = (*SeqCls)(nil)
)

// ParamKind implements models.Describer: "embeddings", "attention", "mlp",
// "norm", "lm_head" or "other".
func (m *Model) ParamKind(name string) string { return paramKind(name) }

func paramKind(name string) string {
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
func (m *Model) Describe() models.Description { return description(Architecture, &m.Config) }

func description(arch string, c *Config) models.Description {
	rope := "none"
	if c.RopeScaling != nil {
		rope = fmt.Sprintf("%s ×%g", c.RopeScaling.Type, c.RopeScaling.Factor)
	}
	return models.Description{
		Architecture: arch,
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
