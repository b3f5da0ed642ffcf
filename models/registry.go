package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/golora/golora/internal/sizecheck"
)

// File names of a Hugging Face model directory.
const (
	ConfigFile  = "config.json"
	WeightsFile = "model.safetensors"
)

// LoadOptions adjust Load.
type LoadOptions struct {
	// Seed keys anything Load initialises (a fresh head) and the dropout
	// masks.
	Seed uint64
	// NumLabels, when > 0 and different from the checkpoint's, replaces a
	// classification head with a fresh one of that many outputs, as
	// transformers' from_pretrained(num_labels=…,
	// ignore_mismatched_sizes=True); Labels names them.
	NumLabels int
	Labels    []string
}

// Family is one model architecture family: how to read, build and name it.
type Family struct {
	// ModelType is config.json's model_type ("vit").
	ModelType string
	// Architectures are the Hugging Face classes it implements
	// ("ViTForImageClassification"); the first is the default.
	Architectures []string
	// Load reads a model directory (config.json, model.safetensors) with
	// every parameter frozen, in evaluation mode.
	Load func(dir string, o LoadOptions) (Model, error)
	// FromConfig builds a model from config.json's bytes: zero weights
	// (LayerNorms at one) for planning, or transformers' initialisation
	// when random, in training mode.
	FromConfig func(config []byte, random bool, seed uint64) (Model, error)
	// LoRATargets are the modules PEFT adapts when target_modules is not
	// given (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
	LoRATargets []string
	// Presets are named configurations for the planner and benchmarks.
	Presets map[string]func(random bool, seed uint64) (Model, error)
}

var (
	mu       sync.Mutex
	families = map[string]*Family{}
)

// Register adds a family; a second family with the same model_type or a
// preset name taken already is a programming error.
func Register(f *Family) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := families[f.ModelType]; dup {
		panic("models: model_type " + f.ModelType + " registered twice")
	}
	for name := range f.Presets {
		for _, g := range families {
			if _, dup := g.Presets[name]; dup {
				panic("models: preset " + name + " registered twice")
			}
		}
	}
	families[f.ModelType] = f
}

// Families lists the registered families by model_type.
func Families() []*Family {
	mu.Lock()
	defer mu.Unlock()
	var out []*Family
	for _, f := range families {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Family) int { return strings.Compare(a.ModelType, b.ModelType) })
	return out
}

// Types lists the registered model_type values.
func Types() []string {
	var ts []string
	for _, f := range Families() {
		ts = append(ts, f.ModelType)
	}
	return ts
}

// header is what Load reads of a config.json before choosing a family.
type header struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
}

// FamilyOf returns the family of a config.json: by its model_type, or,
// when that is missing, by its architectures.
func FamilyOf(config []byte) (*Family, error) {
	var h header
	if err := json.Unmarshal(config, &h); err != nil {
		return nil, fmt.Errorf("not a JSON object with model_type: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if h.ModelType != "" {
		if f, ok := families[h.ModelType]; ok {
			return f, nil
		}
		return nil, fmt.Errorf("model_type %q is not supported (golora reads %s)", h.ModelType, strings.Join(typesLocked(), ", "))
	}
	for _, f := range families {
		for _, a := range h.Architectures {
			if slices.Contains(f.Architectures, a) {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("no model_type and no known architecture in %v (golora reads %s)", h.Architectures, strings.Join(typesLocked(), ", "))
}

func typesLocked() []string {
	var ts []string
	for t := range families {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// CheckDir gives a one-line error naming what is missing from a model
// directory, before anything is read.
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("model directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("model: %s is not a directory", dir)
	}
	for _, f := range []string{ConfigFile, WeightsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("model directory %s has no %s", dir, f)
		}
	}
	return nil
}

// ReadConfig reads dir/config.json and finds its family.
func ReadConfig(dir string) ([]byte, *Family, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	f, err := FamilyOf(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, f, nil
}

// Load reads the Hugging Face model directory dir with the family its
// config.json names; every parameter is frozen and the model is in
// evaluation mode.
func Load(dir string, o LoadOptions) (Model, error) {
	_, f, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	return f.Load(dir, o)
}

// FromConfigFile builds a model (zero weights, or initialised when random)
// from the config.json in dir, or the config.json at path.
func FromConfigFile(path string, random bool, seed uint64) (Model, error) {
	if fi, err := os.Stat(path); (err == nil && fi.IsDir()) || (err != nil && !strings.HasSuffix(path, ".json")) {
		path = filepath.Join(path, ConfigFile)
	}
	b, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	f, err := FamilyOf(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := f.FromConfig(b, random, seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// PresetNames lists every registered preset, sorted.
func PresetNames() []string {
	var ns []string
	for _, f := range Families() {
		for n := range f.Presets {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}

// Preset builds the named preset (zero weights, or initialised when random).
func Preset(name string, random bool, seed uint64) (Model, error) {
	for _, f := range Families() {
		if p, ok := f.Presets[name]; ok {
			return p(random, seed)
		}
	}
	return nil, fmt.Errorf("models: unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
}

// FamilyOfType returns the registered family of a model_type.
func FamilyOfType(modelType string) (*Family, error) {
	mu.Lock()
	defer mu.Unlock()
	if f, ok := families[modelType]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("model_type %q is not supported (golora reads %s)", modelType, strings.Join(typesLocked(), ", "))
}
