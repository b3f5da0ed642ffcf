package llama

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/golora/golora/models"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// LoadOptions adjust Load.
type LoadOptions struct {
	// Seed keys the dropout masks.
	Seed uint64
	// BaseDType stores Linear weights in this dtype (zero value: F32),
	// except those of modules for which KeepF32 reports true. Weights
	// stored in bf16 or f16 are widened to f32 otherwise.
	BaseDType tensor.DType
	KeepF32   func(module string) bool
}

// Load reads a Hugging Face LlamaForCausalLM directory: config.json and
// model.safetensors with transformers' keys (model.embed_tokens.weight,
// model.layers.N.self_attn.q_proj.weight, …, model.norm.weight,
// lm_head.weight unless tie_word_embeddings). A tied checkpoint may still
// carry lm_head.weight if it equals the embedding; rotary inv_freq buffers
// of older checkpoints are ignored. Errors name the file and the key. The
// model is returned in evaluation mode, every parameter frozen.
func Load(dir string, o LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, models.ConfigFile))
	if err != nil {
		return nil, err
	}
	m, err := build(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	err = models.ReadWeights(filepath.Join(dir, models.WeightsFile), m, models.WeightOptions{
		BaseDType: o.BaseDType, KeepF32: o.KeepF32,
		Ignore: func(key string) bool { return strings.HasSuffix(key, ".rotary_emb.inv_freq") },
		Check: func(key string, f *safetensors.File) error {
			if key != "lm_head.weight" || !cfg.TieWordEmbeddings {
				return fmt.Errorf("unexpected tensor %q (not a parameter of %s)", key, Architecture)
			}
			a, _, err := f.Raw(key)
			if err != nil {
				return err
			}
			b, _, err := f.Raw("model.embed_tokens.weight")
			if err != nil || !bytes.Equal(a, b) {
				return fmt.Errorf("lm_head.weight differs from model.embed_tokens.weight, but tie_word_embeddings is true")
			}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	m.SetTraining(false)
	return m, nil
}

// Save writes dir/config.json and dir/model.safetensors (weights in the
// dtype they are stored in; no lm_head.weight when tied), atomically each.
func (m *Model) Save(dir string) error {
	b, err := m.Config.configFile()
	if err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	if err := models.SaveDir(dir, m, b); err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	return nil
}
