package llama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Architecture and SeqClsArchitecture are the Hugging Face classes this
// package implements.
const (
	Architecture       = "LlamaForCausalLM"
	SeqClsArchitecture = "LlamaForSequenceClassification"
)

// ModelType is config.json's model_type for LLaMA.
const ModelType = "llama"

// Ceilings of the size fields, checked by Validate before anything is
// allocated (see internal/sizecheck). They lie far above any published
// LLaMA (Llama 3.1 405B: hidden 16384, intermediate 53248, 126 layers, 128
// heads, vocabulary 128256, context 131072) and keep every product of
// sizes inside an int64; whether a config fits this machine is checked by
// bytes (CheckMemory, Load).
const (
	MaxVocab            = 1 << 22 // vocab_size
	MaxHiddenSize       = 1 << 16 // hidden_size
	MaxIntermediateSize = 1 << 18 // intermediate_size
	MaxLayers           = 1 << 10 // num_hidden_layers
	MaxHeads            = 1 << 10 // num_attention_heads, num_key_value_heads
	MaxHeadDim          = 1 << 12 // head_dim
	MaxPositions        = 1 << 22 // max_position_embeddings
)

// Config is a LLaMA config.json (transformers' LlamaConfig). Fields absent
// from the file take transformers' defaults (DefaultConfig).
type Config struct {
	VocabSize             int     // vocab_size
	HiddenSize            int     // hidden_size
	IntermediateSize      int     // intermediate_size
	NumHiddenLayers       int     // num_hidden_layers
	NumAttentionHeads     int     // num_attention_heads
	NumKeyValueHeads      int     // num_key_value_heads (null: num_attention_heads)
	HeadDimension         int     // head_dim (0 when absent: hidden_size / num_attention_heads)
	HiddenAct             string  // hidden_act
	MaxPositionEmbeddings int     // max_position_embeddings
	InitializerRange      float64 // initializer_range
	RMSNormEps            float64 // rms_norm_eps
	RopeTheta             float64 // rope_theta
	RopeScaling           *nn.RopeScaling
	AttentionBias         bool    // attention_bias
	AttentionDropout      float64 // attention_dropout
	MLPBias               bool    // mlp_bias
	TieWordEmbeddings     bool    // tie_word_embeddings
	BOSTokenID            *int    // bos_token_id
	EOSTokenIDs           []int   // eos_token_id: one id or a list (Llama 3)
	PadTokenID            *int    // pad_token_id
	TorchDType            string  // torch_dtype ("float32", "bfloat16", …): informative
	ModelType             string
	Architectures         []string
	// Labels are id2label in id order (num_labels, default LABEL_0 and
	// LABEL_1): the classes of LlamaForSequenceClassification.
	Labels   []string
	Label2ID map[string]int

	// Extra holds the fields golora does not interpret (use_cache,
	// pretraining_tp, transformers_version, …), written back by Save.
	Extra map[string]json.RawMessage
}

// DefaultConfig is transformers' LlamaConfig() (LLaMA-7B's sizes).
func DefaultConfig() Config {
	bos := 1
	return Config{
		VocabSize: 32000, HiddenSize: 4096, IntermediateSize: 11008, NumHiddenLayers: 32,
		NumAttentionHeads: 32, NumKeyValueHeads: 32, HiddenAct: "silu", MaxPositionEmbeddings: 2048,
		InitializerRange: 0.02, RMSNormEps: 1e-6, RopeTheta: 10000,
		BOSTokenID: &bos, EOSTokenIDs: []int{2}, TorchDType: "float32",
		ModelType: ModelType, Architectures: []string{Architecture}, Labels: models.DefaultLabels(2),
	}
}

// SetLabels sets the labels (and label2id).
func (c *Config) SetLabels(names []string) {
	c.Labels = append([]string(nil), names...)
	_, c.Label2ID = models.LabelMaps(names)
}

// HeadDim is the size of one attention head.
func (c *Config) HeadDim() int {
	if c.HeadDimension > 0 {
		return c.HeadDimension
	}
	if c.NumAttentionHeads <= 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// LoadConfig reads and validates a config.json.
func LoadConfig(path string) (Config, error) {
	return models.LoadConfigFile("llama", path, ParseConfig)
}

// ParseConfig decodes and validates config.json content; errors name the
// field.
func ParseConfig(data []byte) (Config, error) {
	raw, err := models.ConfigObject(data)
	if err != nil {
		return Config{}, err
	}
	c := DefaultConfig()
	c.Extra = map[string]json.RawMessage{}
	var kvHeads, headDim, numLabels *int
	var modelType *string
	var id2label map[string]string
	var label2id map[string]int
	fields := map[string]any{
		"vocab_size": &c.VocabSize, "hidden_size": &c.HiddenSize, "intermediate_size": &c.IntermediateSize,
		"num_hidden_layers": &c.NumHiddenLayers, "num_attention_heads": &c.NumAttentionHeads,
		"num_key_value_heads": &kvHeads, "head_dim": &headDim, "hidden_act": &c.HiddenAct,
		"max_position_embeddings": &c.MaxPositionEmbeddings, "initializer_range": &c.InitializerRange,
		"rms_norm_eps": &c.RMSNormEps, "rope_theta": &c.RopeTheta, "attention_bias": &c.AttentionBias,
		"attention_dropout": &c.AttentionDropout, "mlp_bias": &c.MLPBias, "tie_word_embeddings": &c.TieWordEmbeddings,
		"bos_token_id": &c.BOSTokenID, "pad_token_id": &c.PadTokenID, "torch_dtype": &c.TorchDType,
		"model_type": &modelType, "architectures": &c.Architectures,
		"num_labels": &numLabels, "id2label": &id2label, "label2id": &label2id,
	}
	for key, val := range raw {
		switch key {
		case "eos_token_id":
			ids, err := intOrList(val)
			if err != nil {
				return Config{}, fmt.Errorf("field eos_token_id: %w", err)
			}
			c.EOSTokenIDs = ids
			continue
		case "rope_scaling":
			if err := parseRopeScaling(val, &c.RopeScaling); err != nil {
				return Config{}, fmt.Errorf("field rope_scaling: %w", err)
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
	c.NumKeyValueHeads = c.NumAttentionHeads
	if kvHeads != nil {
		c.NumKeyValueHeads = *kvHeads
	}
	if headDim != nil {
		c.HeadDimension = *headDim
	}
	labels, err := models.ParseLabels(numLabels, id2label)
	if err != nil {
		return Config{}, err
	}
	c.SetLabels(labels)
	if label2id != nil {
		c.Label2ID = label2id
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// intOrList reads null, an integer or a list of integers.
func intOrList(val json.RawMessage) ([]int, error) {
	if string(bytes.TrimSpace(val)) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(val, &one); err == nil {
		return []int{one}, nil
	}
	var list []int
	if err := json.Unmarshal(val, &list); err != nil {
		return nil, fmt.Errorf("want an integer or a list of integers, got %s", val)
	}
	return list, nil
}

// parseRopeScaling reads rope_scaling: null, or an object with rope_type
// (or the older "type", which transformers renames).
func parseRopeScaling(val json.RawMessage, dst **nn.RopeScaling) error {
	if string(bytes.TrimSpace(val)) == "null" {
		*dst = nil
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(val, &m); err != nil {
		return fmt.Errorf("want null or an object, got %s", val)
	}
	if _, ok := m["rope_type"]; !ok {
		if t, ok := m["type"]; ok {
			m["rope_type"] = t
		}
	}
	b, _ := json.Marshal(m)
	var s nn.RopeScaling
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s.Type == "" {
		return fmt.Errorf("no rope_type in %s", val)
	}
	*dst = &s
	return nil
}

// Validate checks the values golora relies on; errors name the field.
func (c *Config) Validate() error {
	if c.ModelType != ModelType {
		return fmt.Errorf("field model_type: %q is not supported by package llama (want %q)", c.ModelType, ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int64
	}{
		{"vocab_size", c.VocabSize, MaxVocab}, {"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize}, {"num_hidden_layers", c.NumHiddenLayers, MaxLayers},
		{"num_attention_heads", c.NumAttentionHeads, MaxHeads}, {"num_key_value_heads", c.NumKeyValueHeads, MaxHeads},
		{"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions},
	} {
		if err := sizecheck.Int("field "+f.name, int64(f.v), 1, f.max); err != nil {
			return err
		}
	}
	if c.HeadDimension != 0 {
		if err := sizecheck.Int("field head_dim", int64(c.HeadDimension), 1, MaxHeadDim); err != nil {
			return err
		}
	}
	if c.HeadDimension == 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("field hidden_size: %d is not a multiple of num_attention_heads %d (and no head_dim is given)", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("field num_key_value_heads: %d does not divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if c.HeadDim()%2 != 0 {
		return fmt.Errorf("field head_dim: %d is odd; rotary embeddings need an even head dimension", c.HeadDim())
	}
	if c.HiddenAct != "silu" && c.HiddenAct != "swish" {
		return fmt.Errorf("field hidden_act: %q is not supported for LLaMA (supported: silu)", c.HiddenAct)
	}
	if c.HeadDim() > MaxHeadDim {
		return fmt.Errorf("field hidden_size: %d / num_attention_heads %d gives heads of %d, more than %d", c.HiddenSize, c.NumAttentionHeads, c.HeadDim(), MaxHeadDim)
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		return fmt.Errorf("field rms_norm_eps: %v, want > 0", c.RMSNormEps)
	}
	if !(c.InitializerRange >= 0) || math.IsInf(c.InitializerRange, 0) {
		return fmt.Errorf("field initializer_range: %v, want >= 0", c.InitializerRange)
	}
	if !(c.AttentionDropout >= 0 && c.AttentionDropout < 1) {
		return fmt.Errorf("field attention_dropout: %v, want a probability in [0, 1)", c.AttentionDropout)
	}
	if _, err := nn.NewRotary(c.HeadDim(), c.RopeTheta, c.RopeScaling); err != nil {
		return fmt.Errorf("field rope_theta/rope_scaling: %w", err)
	}
	for _, f := range []struct {
		name string
		id   *int
	}{{"bos_token_id", c.BOSTokenID}, {"pad_token_id", c.PadTokenID}} {
		if f.id != nil && (*f.id < 0 || *f.id >= c.VocabSize) {
			return fmt.Errorf("field %s: %d is outside the vocabulary of %d", f.name, *f.id, c.VocabSize)
		}
	}
	for _, id := range c.EOSTokenIDs {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("field eos_token_id: %d is outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	return nil
}

// MarshalJSON writes config.json as transformers does: HF field names,
// sorted keys; Extra fields are written back unchanged.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{Architecture}
	}
	var eos any
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		eos = c.EOSTokenIDs[0]
	default:
		eos = c.EOSTokenIDs
	}
	var scaling any
	if c.RopeScaling != nil {
		scaling = c.RopeScaling
	}
	for k, v := range map[string]any{
		"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
		"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
		"num_key_value_heads": c.NumKeyValueHeads, "hidden_act": c.HiddenAct,
		"max_position_embeddings": c.MaxPositionEmbeddings, "initializer_range": c.InitializerRange,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "rope_scaling": scaling,
		"attention_bias": c.AttentionBias, "attention_dropout": c.AttentionDropout, "mlp_bias": c.MLPBias,
		"tie_word_embeddings": c.TieWordEmbeddings, "bos_token_id": c.BOSTokenID, "eos_token_id": eos,
		"pad_token_id": c.PadTokenID, "torch_dtype": c.TorchDType, "model_type": c.ModelType, "architectures": arch,
	} {
		m[k] = v
	}
	if c.HeadDimension > 0 {
		m["head_dim"] = c.HeadDimension
	}
	// Labels are written when they are not PretrainedConfig's defaults (or
	// the model classifies), as transformers' to_diff_dict does.
	if arch[0] == SeqClsArchitecture || !slices.Equal(c.Labels, models.DefaultLabels(2)) {
		m["id2label"], _ = models.LabelMaps(c.Labels)
		m["label2id"] = c.Label2ID
	}
	return json.Marshal(m)
}

// configFile is config.json's bytes: indented by 2 with a final newline.
func (c Config) configFile() ([]byte, error) { return models.MarshalConfigFile(c) }

// saveDType is the dtype Save writes f32 weights in: bf16 when torch_dtype
// is "bfloat16" (as save_pretrained), else as stored.
func (c *Config) saveDType() tensor.DType {
	if c.TorchDType == "bfloat16" {
		return tensor.BF16
	}
	return 0
}
