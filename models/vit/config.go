package vit

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
)

// Architecture is the Hugging Face class this package implements.
const Architecture = "ViTForImageClassification"

// Ceilings of the size fields, checked by Validate before anything is
// allocated (see internal/sizecheck). They lie far above any published ViT
// (ViT-22B: hidden 6144, 48 layers, 48 heads) and keep every product of
// sizes the model and the planner compute inside an int64; whether a config
// fits this machine is checked separately, by bytes (CheckMemory, Load).
const (
	MaxHiddenSize       = 1 << 16 // hidden_size
	MaxIntermediateSize = 1 << 18 // intermediate_size
	MaxLayers           = 1 << 10 // num_hidden_layers
	MaxHeads            = 1 << 10 // num_attention_heads
	MaxImageSize        = 1 << 16 // image_size
	MaxChannels         = 1 << 10 // num_channels
	MaxLabels           = 1 << 18 // num_labels, id2label entries
	// MaxPatchesPerSide bounds image_size/patch_size: at most 65,536
	// patches, since attention is quadratic in them.
	MaxPatchesPerSide = 256
)

// Config is a ViT config.json (transformers' ViTConfig plus the
// PretrainedConfig label fields). Fields absent from the file take
// transformers' defaults (DefaultConfig).
type Config struct {
	HiddenSize                int     // hidden_size
	NumHiddenLayers           int     // num_hidden_layers
	NumAttentionHeads         int     // num_attention_heads
	IntermediateSize          int     // intermediate_size
	HiddenAct                 string  // hidden_act
	HiddenDropoutProb         float64 // hidden_dropout_prob
	AttentionProbsDropoutProb float64 // attention_probs_dropout_prob
	InitializerRange          float64 // initializer_range
	LayerNormEps              float64 // layer_norm_eps
	ImageSize                 int     // image_size (square)
	PatchSize                 int     // patch_size (square)
	NumChannels               int     // num_channels
	QKVBias                   bool    // qkv_bias
	EncoderStride             int     // encoder_stride (masked image modelling only; kept)
	NumLabels                 int     // num_labels, or len(id2label)
	ID2Label                  map[int]string
	Label2ID                  map[string]int
	ModelType                 string   // model_type: "vit"
	Architectures             []string // architectures

	// Extra holds the fields golora does not interpret (torch_dtype,
	// transformers_version, _name_or_path, ...), written back by Save.
	Extra map[string]json.RawMessage
}

// DefaultConfig is transformers' ViTConfig() (google/vit-base-patch16-224
// sizes, dropouts 0, two labels LABEL_0 and LABEL_1).
func DefaultConfig() Config {
	c := Config{
		HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12, IntermediateSize: 3072,
		HiddenAct: "gelu", InitializerRange: 0.02, LayerNormEps: 1e-12,
		ImageSize: 224, PatchSize: 16, NumChannels: 3, QKVBias: true, EncoderStride: 16,
		ModelType: "vit", Architectures: []string{Architecture},
	}
	c.SetLabels(DefaultLabels(2))
	return c
}

// DefaultLabels returns transformers' label names LABEL_0 … LABEL_{n-1}.
func DefaultLabels(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = "LABEL_" + strconv.Itoa(i)
	}
	return l
}

// SetLabels sets NumLabels, ID2Label and Label2ID from label names.
func (c *Config) SetLabels(names []string) {
	c.NumLabels = len(names)
	c.ID2Label = make(map[int]string, len(names))
	c.Label2ID = make(map[string]int, len(names))
	for i, n := range names {
		c.ID2Label[i] = n
		c.Label2ID[n] = i
	}
}

// Labels returns the label names in id order.
func (c *Config) Labels() []string {
	l := make([]string, c.NumLabels)
	for i := range l {
		l[i] = c.ID2Label[i]
	}
	return l
}

// Tokens is the sequence length: patches plus the CLS token.
func (c *Config) Tokens() int { return c.Patches() + 1 }

// Patches is the number of image patches.
func (c *Config) Patches() int { n := c.ImageSize / c.PatchSize; return n * n }

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// LoadConfig reads and validates a config.json.
func LoadConfig(path string) (Config, error) {
	return models.LoadConfigFile("vit", path, ParseConfig)
}

// ParseConfig decodes and validates config.json content. Errors name the
// offending field.
func ParseConfig(data []byte) (Config, error) {
	raw, err := models.ConfigObject(data)
	if err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	c.Extra = map[string]json.RawMessage{}
	var numLabels *int
	var id2label map[string]string
	var label2id map[string]int
	var modelType *string
	fields := map[string]any{
		"hidden_size": &c.HiddenSize, "num_hidden_layers": &c.NumHiddenLayers,
		"num_attention_heads": &c.NumAttentionHeads, "intermediate_size": &c.IntermediateSize,
		"hidden_act": &c.HiddenAct, "hidden_dropout_prob": &c.HiddenDropoutProb,
		"attention_probs_dropout_prob": &c.AttentionProbsDropoutProb,
		"initializer_range":            &c.InitializerRange, "layer_norm_eps": &c.LayerNormEps,
		"num_channels": &c.NumChannels, "qkv_bias": &c.QKVBias, "encoder_stride": &c.EncoderStride,
		"num_labels": &numLabels, "id2label": &id2label, "label2id": &label2id,
		"model_type": &modelType, "architectures": &c.Architectures,
	}
	for key, val := range raw {
		switch key {
		case "image_size":
			if err := squareSize(val, &c.ImageSize); err != nil {
				return Config{}, fmt.Errorf("field image_size: %w", err)
			}
			continue
		case "patch_size":
			if err := squareSize(val, &c.PatchSize); err != nil {
				return Config{}, fmt.Errorf("field patch_size: %w", err)
			}
			continue
		}
		dst, ok := fields[key]
		if !ok {
			c.Extra[key] = val
			continue
		}
		if err := json.Unmarshal(val, dst); err != nil {
			return Config{}, fmt.Errorf("field %s: %w", key, err)
		}
	}
	if modelType != nil {
		c.ModelType = *modelType
	}
	if err := c.setLabelFields(numLabels, id2label, label2id); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// squareSize accepts an integer or a pair of equal integers ([224, 224]).
func squareSize(val json.RawMessage, dst *int) error {
	if err := json.Unmarshal(val, dst); err == nil {
		return nil
	}
	var pair []int
	if err := json.Unmarshal(val, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("want an integer or [height, width], got %s", val)
	}
	if pair[0] != pair[1] {
		return fmt.Errorf("non-square %dx%d is not supported", pair[0], pair[1])
	}
	*dst = pair[0]
	return nil
}

// setLabelFields applies PretrainedConfig's rule: id2label, when present,
// defines the labels (and must agree with num_labels if that is given
// too); otherwise num_labels (default 2) gives LABEL_i names.
func (c *Config) setLabelFields(numLabels *int, id2label map[string]string, label2id map[string]int) error {
	if id2label == nil {
		n := 2
		if numLabels != nil {
			n = *numLabels
		}
		if err := sizecheck.Int("field num_labels", int64(n), 1, MaxLabels); err != nil {
			return err // before DefaultLabels allocates n names
		}
		c.SetLabels(DefaultLabels(n))
	} else {
		if numLabels != nil && *numLabels != len(id2label) {
			return fmt.Errorf("field num_labels: %d disagrees with the %d entries of id2label", *numLabels, len(id2label))
		}
		if len(id2label) == 0 {
			return fmt.Errorf("field id2label: empty")
		}
		if err := sizecheck.Int("field id2label: entry count", int64(len(id2label)), 1, MaxLabels); err != nil {
			return err
		}
		names := make([]string, len(id2label))
		for k, v := range id2label {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(id2label) {
				return fmt.Errorf("field id2label: key %q is not a label id in [0,%d)", k, len(id2label))
			}
			names[i] = v
		}
		c.SetLabels(names)
	}
	if label2id != nil { // kept as written (transformers does not check it)
		c.Label2ID = label2id
	}
	return nil
}

// Validate checks the values golora relies on; errors name the field.
func (c *Config) Validate() error {
	if c.ModelType != "vit" {
		return fmt.Errorf("field model_type: %q is not supported by package vit (want \"vit\")", c.ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int64
	}{
		{"hidden_size", c.HiddenSize, MaxHiddenSize}, {"num_hidden_layers", c.NumHiddenLayers, MaxLayers},
		{"num_attention_heads", c.NumAttentionHeads, MaxHeads}, {"intermediate_size", c.IntermediateSize, MaxIntermediateSize},
		{"image_size", c.ImageSize, MaxImageSize}, {"patch_size", c.PatchSize, MaxImageSize},
		{"num_channels", c.NumChannels, MaxChannels}, {"num_labels", c.NumLabels, MaxLabels},
	} {
		if err := sizecheck.Int("field "+f.name, int64(f.v), 1, f.max); err != nil {
			return err
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("field hidden_size: %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.ImageSize%c.PatchSize != 0 {
		return fmt.Errorf("field image_size: %d is not a multiple of patch_size %d", c.ImageSize, c.PatchSize)
	}
	if side := c.ImageSize / c.PatchSize; side > MaxPatchesPerSide {
		return fmt.Errorf("field image_size: %d with patch_size %d gives %d×%d patches, more than the %d×%d golora accepts (attention is quadratic in them)",
			c.ImageSize, c.PatchSize, side, side, MaxPatchesPerSide, MaxPatchesPerSide)
	}
	if err := nn.CheckActivation(c.HiddenAct); err != nil {
		return fmt.Errorf("field hidden_act: %w", err)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}} {
		if f.v < 0 || f.v >= 1 {
			return fmt.Errorf("field %s: %v, want a probability in [0, 1)", f.name, f.v)
		}
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("field layer_norm_eps: %v, want > 0", c.LayerNormEps)
	}
	if !(c.InitializerRange >= 0) {
		return fmt.Errorf("field initializer_range: %v, want >= 0", c.InitializerRange)
	}
	if len(c.ID2Label) != c.NumLabels {
		return fmt.Errorf("field id2label: %d entries for num_labels %d", len(c.ID2Label), c.NumLabels)
	}
	return nil
}

// MarshalJSON writes config.json as transformers does: HF field names,
// id2label and label2id (num_labels is implied by them), architectures,
// sorted keys. Extra fields are written back unchanged.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	id2label := map[string]string{}
	for i, n := range c.ID2Label {
		id2label[strconv.Itoa(i)] = n
	}
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{Architecture}
	}
	for k, v := range map[string]any{
		"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "intermediate_size": c.IntermediateSize,
		"hidden_act": c.HiddenAct, "hidden_dropout_prob": c.HiddenDropoutProb,
		"attention_probs_dropout_prob": c.AttentionProbsDropoutProb,
		"initializer_range":            c.InitializerRange, "layer_norm_eps": c.LayerNormEps,
		"image_size": c.ImageSize, "patch_size": c.PatchSize, "num_channels": c.NumChannels,
		"qkv_bias": c.QKVBias, "encoder_stride": c.EncoderStride,
		"id2label": id2label, "label2id": c.Label2ID,
		"model_type": c.ModelType, "architectures": arch,
	} {
		m[k] = v
	}
	return json.Marshal(m)
}

// configFile is config.json's bytes: indented by 2 with a final newline,
// as transformers' to_json_file writes it.
func (c Config) configFile() ([]byte, error) { return models.MarshalConfigFile(c) }
