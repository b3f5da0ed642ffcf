package bert

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
)

// Architecture is the Hugging Face class this package implements.
const Architecture = "BertForSequenceClassification"

// ModelType is config.json's model_type for BERT.
const ModelType = "bert"

// Ceilings of the size fields, checked by Validate before anything is
// allocated (see internal/sizecheck): far above any published BERT
// (bert-large: hidden 1024, 24 layers, 16 heads, intermediate 4096) and
// keeping every product of sizes inside an int64. Whether a config fits
// this machine is checked by bytes (CheckMemory, Load).
const (
	MaxVocab            = 1 << 22 // vocab_size
	MaxHiddenSize       = 1 << 16 // hidden_size
	MaxIntermediateSize = 1 << 18 // intermediate_size
	MaxLayers           = 1 << 10 // num_hidden_layers
	MaxHeads            = 1 << 10 // num_attention_heads
	MaxPositions        = 1 << 20 // max_position_embeddings
	MaxTypeVocab        = 1 << 10 // type_vocab_size
)

// Config is a BERT config.json (transformers' BertConfig plus the label
// fields). Fields absent from the file take transformers' defaults.
type Config struct {
	VocabSize                 int      // vocab_size
	HiddenSize                int      // hidden_size
	NumHiddenLayers           int      // num_hidden_layers
	NumAttentionHeads         int      // num_attention_heads
	IntermediateSize          int      // intermediate_size
	HiddenAct                 string   // hidden_act
	HiddenDropoutProb         float64  // hidden_dropout_prob
	AttentionProbsDropoutProb float64  // attention_probs_dropout_prob
	MaxPositionEmbeddings     int      // max_position_embeddings
	TypeVocabSize             int      // type_vocab_size
	InitializerRange          float64  // initializer_range
	LayerNormEps              float64  // layer_norm_eps
	PadTokenID                int      // pad_token_id
	PositionEmbeddingType     string   // position_embedding_type (only "absolute")
	ClassifierDropout         *float64 // classifier_dropout (null: hidden_dropout_prob)
	ProblemType               *string  // problem_type (only single_label_classification)
	Labels                    []string // id2label in id order (num_labels of them)
	Label2ID                  map[string]int
	ModelType                 string
	Architectures             []string

	// Extra holds the fields golora does not interpret, written back by Save.
	Extra map[string]json.RawMessage
}

// DefaultConfig is transformers' BertConfig() (bert-base-uncased's sizes,
// two labels).
func DefaultConfig() Config {
	return Config{
		VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12, IntermediateSize: 3072,
		HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 512,
		TypeVocabSize: 2, InitializerRange: 0.02, LayerNormEps: 1e-12, PositionEmbeddingType: "absolute",
		Labels: models.DefaultLabels(2), ModelType: ModelType, Architectures: []string{Architecture},
	}
}

// NumLabels is the number of classifier outputs.
func (c *Config) NumLabels() int { return len(c.Labels) }

// SetLabels sets the labels (and label2id).
func (c *Config) SetLabels(names []string) {
	c.Labels = append([]string(nil), names...)
	_, c.Label2ID = models.LabelMaps(names)
}

// ClassifierDropoutProb is the dropout before the classifier.
func (c *Config) ClassifierDropoutProb() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}

// LoadConfig reads and validates a config.json.
func LoadConfig(path string) (Config, error) {
	return models.LoadConfigFile("bert", path, ParseConfig)
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
	var numLabels *int
	var id2label map[string]string
	var label2id map[string]int
	var modelType *string
	var pad *int
	fields := map[string]any{
		"vocab_size": &c.VocabSize, "hidden_size": &c.HiddenSize, "num_hidden_layers": &c.NumHiddenLayers,
		"num_attention_heads": &c.NumAttentionHeads, "intermediate_size": &c.IntermediateSize,
		"hidden_act": &c.HiddenAct, "hidden_dropout_prob": &c.HiddenDropoutProb,
		"attention_probs_dropout_prob": &c.AttentionProbsDropoutProb,
		"max_position_embeddings":      &c.MaxPositionEmbeddings, "type_vocab_size": &c.TypeVocabSize,
		"initializer_range": &c.InitializerRange, "layer_norm_eps": &c.LayerNormEps, "pad_token_id": &pad,
		"position_embedding_type": &c.PositionEmbeddingType, "classifier_dropout": &c.ClassifierDropout,
		"problem_type": &c.ProblemType, "num_labels": &numLabels, "id2label": &id2label, "label2id": &label2id,
		"model_type": &modelType, "architectures": &c.Architectures,
	}
	for key, val := range raw {
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
	if pad != nil {
		c.PadTokenID = *pad
	}
	labels, err := models.ParseLabels(numLabels, id2label)
	if err != nil {
		return Config{}, err
	}
	c.SetLabels(labels)
	if label2id != nil { // kept as written (transformers does not check it)
		c.Label2ID = label2id
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the values golora relies on; errors name the field.
func (c *Config) Validate() error {
	if c.ModelType != ModelType {
		return fmt.Errorf("field model_type: %q is not supported by package bert (want %q)", c.ModelType, ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int64
	}{
		{"vocab_size", c.VocabSize, MaxVocab}, {"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"num_hidden_layers", c.NumHiddenLayers, MaxLayers}, {"num_attention_heads", c.NumAttentionHeads, MaxHeads},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize}, {"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions},
		{"type_vocab_size", c.TypeVocabSize, MaxTypeVocab}, {"num_labels", c.NumLabels(), models.MaxLabels},
	} {
		if err := sizecheck.Int("field "+f.name, int64(f.v), 1, f.max); err != nil {
			return err
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("field hidden_size: %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if err := nn.CheckActivation(c.HiddenAct); err != nil {
		return fmt.Errorf("field hidden_act: %w", err)
	}
	if c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("field position_embedding_type: %q is not supported (golora implements \"absolute\")", c.PositionEmbeddingType)
	}
	if c.ProblemType != nil && *c.ProblemType != "single_label_classification" {
		return fmt.Errorf("field problem_type: %q is not supported (golora trains single_label_classification)", *c.ProblemType)
	}
	if c.NumLabels() == 1 && c.ProblemType == nil {
		return fmt.Errorf("field num_labels: 1 means regression in transformers, which golora does not train")
	}
	probs := []struct {
		name string
		v    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}}
	if c.ClassifierDropout != nil {
		probs = append(probs, struct {
			name string
			v    float64
		}{"classifier_dropout", *c.ClassifierDropout})
	}
	for _, f := range probs {
		if !(f.v >= 0 && f.v < 1) {
			return fmt.Errorf("field %s: %v, want a probability in [0, 1)", f.name, f.v)
		}
	}
	if !(c.LayerNormEps > 0) || math.IsInf(c.LayerNormEps, 0) {
		return fmt.Errorf("field layer_norm_eps: %v, want > 0", c.LayerNormEps)
	}
	if !(c.InitializerRange >= 0) || math.IsInf(c.InitializerRange, 0) {
		return fmt.Errorf("field initializer_range: %v, want >= 0", c.InitializerRange)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("field pad_token_id: %d is outside the vocabulary of %d", c.PadTokenID, c.VocabSize)
	}
	return nil
}

// MarshalJSON writes config.json as transformers does (sorted keys, HF
// names, id2label and label2id); Extra fields are written back unchanged.
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{Architecture}
	}
	id2label, _ := models.LabelMaps(c.Labels)
	for k, v := range map[string]any{
		"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "intermediate_size": c.IntermediateSize,
		"hidden_act": c.HiddenAct, "hidden_dropout_prob": c.HiddenDropoutProb,
		"attention_probs_dropout_prob": c.AttentionProbsDropoutProb,
		"max_position_embeddings":      c.MaxPositionEmbeddings, "type_vocab_size": c.TypeVocabSize,
		"initializer_range": c.InitializerRange, "layer_norm_eps": c.LayerNormEps, "pad_token_id": c.PadTokenID,
		"position_embedding_type": c.PositionEmbeddingType, "classifier_dropout": c.ClassifierDropout,
		"id2label": id2label, "label2id": c.Label2ID, "model_type": c.ModelType, "architectures": arch,
	} {
		m[k] = v
	}
	if c.ProblemType != nil {
		m["problem_type"] = *c.ProblemType
	}
	return json.Marshal(m)
}

// configFile is config.json's bytes: indented by 2 with a final newline.
func (c Config) configFile() ([]byte, error) { return models.MarshalConfigFile(c) }
