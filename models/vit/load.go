package vit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/safetensors"
	"github.com/golora/golora/tensor"
)

// File names of a Hugging Face model directory.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
)

// LoadOptions adjust Load.
type LoadOptions struct {
	// NumLabels, when > 0 and different from the checkpoint's, replaces
	// the classifier with a freshly initialised one of that many outputs,
	// like transformers' from_pretrained(num_labels=…,
	// ignore_mismatched_sizes=True).
	NumLabels int
	// Labels names the labels (len NumLabels): those of a fresh head
	// (default LABEL_i), or new names for the checkpoint's head.
	Labels []string
	// Seed keys the fresh classifier's initialisation and the dropout masks.
	Seed uint64
	// BaseDType stores Linear weights in this dtype (zero value: F32). With
	// BF16 they are converted while loading, except the weights of modules
	// for which KeepF32 reports true (they are to be trained, and only f32
	// trains); a nil KeepF32 keeps "classifier" in f32. See also
	// nn.ConvertFrozenLinears for converting after trainability is set.
	BaseDType tensor.DType
	KeepF32   func(module string) bool
}

// Load reads a Hugging Face ViTForImageClassification directory:
// config.json and model.safetensors. Every parameter must be present with
// its exact shape and no unknown tensor may be left over; errors name the
// file and the key. Two kinds of key are accepted besides the model's own:
// pooler weights ("vit.pooler.*", which this head does not use, as
// transformers drops them too), and a bare ViTModel checkpoint (keys
// without "vit.", then the classifier is freshly initialised). The model is
// returned in evaluation mode, with every parameter frozen.
func Load(dir string, opts LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	if opts.BaseDType == 0 {
		opts.BaseDType = tensor.F32
	}
	if opts.BaseDType != tensor.F32 && opts.BaseDType != tensor.BF16 {
		return nil, fmt.Errorf("vit: base dtype %v is not supported (want F32 or BF16)", opts.BaseDType)
	}
	if opts.Labels != nil && len(opts.Labels) != opts.NumLabels {
		return nil, fmt.Errorf("vit: %d label names for %d labels", len(opts.Labels), opts.NumLabels)
	}
	if err := sizecheck.Int("vit: the number of labels asked for", int64(opts.NumLabels), 0, MaxLabels); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, WeightsFile)
	if err := checkWeightsFile(&cfg, path); err != nil {
		return nil, err
	}
	f, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("vit: %w", err)
	}
	// A bare ViTModel checkpoint names its tensors without "vit.".
	prefix := "vit."
	if !slices.ContainsFunc(f.Names(), func(n string) bool { return strings.HasPrefix(n, "vit.") }) {
		prefix = ""
	}
	fileKey := func(name string) string {
		if prefix == "" {
			return strings.TrimPrefix(name, "vit.")
		}
		return name
	}
	_, hasHead := f.Info("classifier.weight")
	fresh := prefix == "" && !hasHead
	if opts.NumLabels > 0 && opts.NumLabels != cfg.NumLabels {
		fresh = true
	}
	if fresh {
		n := cfg.NumLabels
		if opts.NumLabels > 0 {
			n = opts.NumLabels
		}
		names := opts.Labels
		if names == nil {
			if n == cfg.NumLabels {
				names = cfg.Labels()
			} else {
				names = DefaultLabels(n)
			}
		}
		cfg.SetLabels(names)
	} else if opts.Labels != nil { // same head, new names
		cfg.SetLabels(opts.Labels)
	}
	m, err := build(cfg, opts.Seed)
	if err != nil {
		return nil, err
	}
	keep := opts.KeepF32
	if keep == nil {
		keep = func(module string) bool { return module == "classifier" }
	}
	// Linear weights may be stored in BaseDType; everything else is f32.
	linearWeight := map[*nn.Param]string{}
	_ = nn.Walk(m, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			linearWeight[l.Weight] = l.Name()
		}
		return nil
	})
	used := map[string]bool{}
	for _, p := range nn.AllParams(m) {
		if fresh && strings.HasPrefix(p.Name, "classifier.") {
			used[p.Name] = true // the checkpoint's head, if any, is replaced
			continue
		}
		key := fileKey(p.Name)
		info, ok := f.Info(key)
		if !ok {
			return nil, fmt.Errorf("vit: %s: missing tensor %q", path, key)
		}
		if !tensor.SameShape(info.Shape, p.Value.Shape()) {
			return nil, fmt.Errorf("vit: %s: tensor %q has shape %v, want %v", path, key, info.Shape, p.Value.Shape())
		}
		t, err := f.Tensor(key)
		if err != nil {
			return nil, fmt.Errorf("vit: %w", err)
		}
		want := tensor.F32
		if mod, ok := linearWeight[p]; ok && !keep(mod) {
			want = opts.BaseDType
		}
		if t.DType() != want {
			t = t.To(want)
		}
		p.Value = t
		used[key] = true
	}
	for _, key := range f.Names() {
		if used[key] || strings.HasPrefix(key, prefix+"pooler.") {
			continue
		}
		return nil, fmt.Errorf("vit: %s: unexpected tensor %q (not a parameter of %s)", path, key, Architecture)
	}
	if fresh {
		m.initClassifier(opts.Seed)
	}
	m.SetTraining(false)
	return m, nil
}

// checkWeightsFile checks, before the file is read, that it can hold the
// parameters config.json implies (at 2 bytes each, the smallest dtype
// Load converts; the classifier is left out, as a bare ViTModel checkpoint
// has none) and that the file and the f32 model fit in memory together.
func checkWeightsFile(cfg *Config, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("vit: %w", err)
	}
	p := ExpectedCount(*cfg)
	stored := sizecheck.Mul(2, sizecheck.Add(p.Embeddings, p.Attention, p.MLP, p.LayerNorm))
	if err := sizecheck.FileHolds(ConfigFile+": the "+cfg.describe(p)+" at 2 bytes or more each", stored, path, st.Size()); err != nil {
		return fmt.Errorf("vit: %w", err)
	}
	need := sizecheck.Add(st.Size(), p.Bytes[tensor.F32.String()])
	if err := sizecheck.Memory("vit: loading "+path+" and the f32 weights of "+cfg.describe(p), need); err != nil {
		return err
	}
	return nil
}

// initClassifier gives the classifier transformers' fresh-head
// initialisation: weight ~ N(0, initializer_range²) truncated to [-2, 2],
// bias 0.
func (m *Model) initClassifier(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x636c617373696679)) // "classify"
	l := m.Classifier.(*nn.Linear)
	l.Weight.Value = tensor.New(tensor.F32, l.Out, l.In)
	l.Bias.Value = tensor.New(tensor.F32, l.Out)
	nn.TruncNormal(l.Weight.Value, m.Config.InitializerRange, rng)
}

// Save writes dir/config.json and dir/model.safetensors (metadata
// {"format": "pt"}) so that transformers' from_pretrained and Load read
// them back. Each file is replaced atomically. Weights are written in the
// dtype they are stored in.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	tensors := map[string]*tensor.Tensor{}
	for _, p := range nn.AllParams(m) {
		if _, dup := tensors[p.Name]; dup {
			return fmt.Errorf("vit: save: two parameters named %q", p.Name)
		}
		tensors[p.Name] = p.Value
	}
	if err := safetensors.Save(filepath.Join(dir, WeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	data, err := m.Config.configFile()
	if err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	return writeAtomic(filepath.Join(dir, ConfigFile), data)
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old or the new file, never part.
func writeAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("vit: save: %w", err)
	}
	return nil
}
