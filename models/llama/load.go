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
	path := filepath.Join(dir, models.WeightsFile)
	if err := checkWeightsFile(&cfg, headOf(&cfg), path); err != nil {
		return nil, err
	}
	m, err := build(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	err = models.ReadWeights(path, m, models.WeightOptions{
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
	if err := models.SaveDir(dir, m, b, m.Config.saveDType()); err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	return nil
}

// SeqClsOptions adjust LoadSeqCls.
type SeqClsOptions struct {
	LoadOptions
	// NumLabels, when > 0 and different from the checkpoint's (or for a
	// causal-LM checkpoint), gives a fresh score head of that many
	// outputs; Labels names them (default LABEL_i).
	NumLabels int
	Labels    []string
}

// LoadSeqCls reads a LlamaForSequenceClassification directory, or a
// LlamaForCausalLM one whose lm_head it drops for a freshly initialised
// score (transformers' AutoModelForSequenceClassification on a causal-LM
// checkpoint). The model is in evaluation mode, every parameter frozen.
func LoadSeqCls(dir string, o SeqClsOptions) (*SeqCls, error) {
	cfg, err := LoadConfig(filepath.Join(dir, models.ConfigFile))
	if err != nil {
		return nil, err
	}
	if o.Labels != nil && len(o.Labels) != o.NumLabels {
		return nil, fmt.Errorf("llama: %d label names for %d labels", len(o.Labels), o.NumLabels)
	}
	path := filepath.Join(dir, models.WeightsFile)
	n := len(cfg.Labels)
	if o.NumLabels > 0 {
		n = o.NumLabels
	}
	if err := checkWeightsFile(&cfg, n, path); err != nil {
		return nil, err
	}
	f, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	_, hasScore := f.Info("score.weight")
	fresh := !hasScore || (o.NumLabels > 0 && o.NumLabels != len(cfg.Labels))
	switch {
	case o.Labels != nil:
		cfg.SetLabels(o.Labels)
	case fresh && o.NumLabels > 0 && o.NumLabels != len(cfg.Labels):
		cfg.SetLabels(models.DefaultLabels(o.NumLabels))
	}
	m, err := buildSeqCls(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	err = models.ReadWeights(path, m, models.WeightOptions{
		BaseDType: o.BaseDType, KeepF32: func(mod string) bool { return mod == "score" || (o.KeepF32 != nil && o.KeepF32(mod)) },
		Skip: func(p string) bool { return fresh && p == "score.weight" },
		Ignore: func(key string) bool {
			return strings.HasSuffix(key, ".rotary_emb.inv_freq") || key == "lm_head.weight" || (fresh && key == "score.weight")
		},
	})
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	if fresh {
		m.initScore(o.Seed)
	}
	m.SetTraining(false)
	return m, nil
}
