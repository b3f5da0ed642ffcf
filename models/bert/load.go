package bert

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// LoadOptions adjust Load.
type LoadOptions struct {
	// NumLabels, when > 0 and different from the checkpoint's, replaces
	// the classifier with a fresh one of that many outputs (transformers'
	// from_pretrained(num_labels=…, ignore_mismatched_sizes=True)); Labels
	// names them.
	NumLabels int
	Labels    []string
	// Seed keys a fresh classifier's initialisation and the dropout masks.
	Seed uint64
	// BaseDType stores Linear weights in this dtype (zero value: F32)
	// except those of modules for which KeepF32 reports true (nil: the
	// classifier).
	BaseDType tensor.DType
	KeepF32   func(module string) bool
}

// Load reads a Hugging Face BertForSequenceClassification directory. A
// checkpoint of the bare encoder (BertModel, keys without "bert.", or
// BertForPreTraining / BertForMaskedLM with their "cls." heads, which are
// ignored) gets a freshly initialised classifier, as transformers gives
// it. The position_ids buffer older checkpoints carry is ignored. Errors
// name the file and the key. The model is in evaluation mode, every
// parameter frozen.
func Load(dir string, o LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, models.ConfigFile))
	if err != nil {
		return nil, err
	}
	if o.Labels != nil && len(o.Labels) != o.NumLabels {
		return nil, fmt.Errorf("bert: %d label names for %d labels", len(o.Labels), o.NumLabels)
	}
	path := filepath.Join(dir, models.WeightsFile)
	if err := checkWeightsFile(&cfg, path); err != nil {
		return nil, err
	}
	f, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	prefix := "bert."
	if !slices.ContainsFunc(f.Names(), func(n string) bool { return strings.HasPrefix(n, "bert.") }) {
		prefix = ""
	}
	_, hasHead := f.Info("classifier.weight")
	fresh := !hasHead
	if o.NumLabels > 0 && o.NumLabels != cfg.NumLabels() {
		fresh = true
	}
	if fresh {
		names := o.Labels
		if names == nil {
			if o.NumLabels > 0 && o.NumLabels != cfg.NumLabels() {
				names = models.DefaultLabels(o.NumLabels)
			} else {
				names = cfg.Labels
			}
		}
		cfg.SetLabels(names)
	} else if o.Labels != nil {
		cfg.SetLabels(o.Labels)
	}
	m, err := build(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	keep := o.KeepF32
	if keep == nil {
		keep = func(module string) bool { return module == "classifier" }
	}
	err = models.ReadWeights(path, m, models.WeightOptions{
		BaseDType: o.BaseDType, KeepF32: keep,
		Key: func(p string) string {
			if prefix == "" {
				return strings.TrimPrefix(p, "bert.")
			}
			return p
		},
		Skip: func(p string) bool { return fresh && strings.HasPrefix(p, "classifier.") },
		Ignore: func(key string) bool {
			return strings.HasSuffix(key, "embeddings.position_ids") || strings.HasPrefix(key, "cls.") ||
				(fresh && strings.HasPrefix(key, "classifier."))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	if fresh {
		m.initClassifier(o.Seed)
	}
	m.SetTraining(false)
	return m, nil
}

// initClassifier gives the classifier transformers' fresh-head
// initialisation: weight ~ N(0, initializer_range²), bias 0.
func (m *Model) initClassifier(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x636c617373696679)) // "classify"
	l := m.Classifier.(*nn.Linear)
	l.Weight.Value = tensor.New(tensor.F32, l.Out, l.In)
	l.Bias.Value = tensor.New(tensor.F32, l.Out)
	nn.Normal(l.Weight.Value, m.Config.InitializerRange, rng)
}

// Save writes dir/config.json and dir/model.safetensors, atomically each.
func (m *Model) Save(dir string) error {
	b, err := m.Config.configFile()
	if err != nil {
		return fmt.Errorf("bert: save: %w", err)
	}
	if err := models.SaveDir(dir, m, b, 0); err != nil {
		return fmt.Errorf("bert: save: %w", err)
	}
	return nil
}
