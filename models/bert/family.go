package bert

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
		Architectures: []string{Architecture, "BertModel", "BertForMaskedLM", "BertForPreTraining"},
		LoRATargets:   []string{"query", "value"},
		Load: func(dir string, o models.LoadOptions) (models.Model, error) {
			return Load(dir, LoadOptions{Seed: o.Seed, NumLabels: o.NumLabels, Labels: o.Labels})
		},
		FromConfig: func(b []byte, random bool, seed uint64) (models.Model, error) {
			c, err := ParseConfig(b)
			if err != nil {
				return nil, err
			}
			return newModel(c, random, seed)
		},
		Presets: map[string]func(bool, uint64) (models.Model, error){
			"bert-tiny": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(128, 2, 2, 512, 128), random, seed)
			},
			"bert-mini": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(256, 4, 4, 1024, 256), random, seed)
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

// Preset is one of Google's small BERTs (Turc et al. 2019: bert-tiny is
// hidden 128, 2 layers, 2 heads; bert-mini 256, 4, 4) with the
// bert-base-uncased vocabulary, a context of context tokens and two labels.
func Preset(hidden, layers, heads, inter, context int) Config {
	c := DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = hidden, layers, heads, inter
	c.MaxPositionEmbeddings = context
	return c
}

var (
	_ models.Classifier = (*Model)(nil)
	_ models.Describer  = (*Model)(nil)
	_ models.SeqLener   = (*Model)(nil)
)

// ForwardBatch implements models.Model: ids, token types, attention mask.
func (m *Model) ForwardBatch(b *data.Batch) *tensor.Tensor {
	return m.Forward(b.IDs, b.TokenTypes, b.Mask, b.N, b.T)
}

// Spec implements models.Model: sequences of up to SeqLen tokens, one
// class per sequence.
func (m *Model) Spec() data.Spec {
	return data.Spec{SeqLen: m.seqLen, Vocab: m.Config.VocabSize, Classes: m.Config.NumLabels()}
}

// SetSeqLen implements models.SeqLener.
func (m *Model) SetSeqLen(n int) error {
	if n < 1 || n > m.Config.MaxPositionEmbeddings {
		return fmt.Errorf("bert: sequence length %d outside [1, max_position_embeddings %d]", n, m.Config.MaxPositionEmbeddings)
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
		KVHeads: c.NumAttentionHeads, Layers: c.NumHiddenLayers, Tokens: m.seqLen}
}

// ModelType implements models.Model.
func (m *Model) ModelType() string { return ModelType }

// Labels implements models.Classifier.
func (m *Model) Labels() []string { return append([]string(nil), m.Config.Labels...) }

// NewHead implements models.Classifier: a fresh classifier for labels
// (weight ~ N(0, initializer_range²), bias 0), drawn from seed.
func (m *Model) NewHead(labels []string, seed uint64) error {
	if _, ok := m.Classifier.(*nn.Linear); !ok {
		return fmt.Errorf("bert: the classifier is already wrapped; cannot replace it")
	}
	if len(labels) < 2 {
		return fmt.Errorf("bert: a classification head needs at least two labels")
	}
	m.Config.SetLabels(labels)
	m.Classifier = nn.NewLinear("classifier", m.Config.HiddenSize, len(labels), true)
	m.initClassifier(seed)
	return nil
}

// ParamKind implements models.Describer.
func (m *Model) ParamKind(name string) string {
	switch {
	case strings.HasPrefix(name, "bert.embeddings."):
		return "embeddings"
	case strings.Contains(name, "LayerNorm"):
		return "layernorm"
	case strings.HasPrefix(name, "classifier."):
		return "classifier"
	case strings.HasPrefix(name, "bert.pooler."):
		return "pooler"
	case strings.Contains(name, ".attention."):
		return "attention"
	case strings.Contains(name, ".intermediate.dense.") || strings.Contains(name, ".output.dense."):
		return "mlp"
	}
	return "other"
}

// Describe implements models.Describer.
func (m *Model) Describe() models.Description {
	c := &m.Config
	return models.Description{
		Architecture: Architecture,
		Config: map[string]any{
			"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
			"num_attention_heads": c.NumAttentionHeads, "intermediate_size": c.IntermediateSize, "hidden_act": c.HiddenAct,
			"max_position_embeddings": c.MaxPositionEmbeddings, "type_vocab_size": c.TypeVocabSize,
			"layer_norm_eps": c.LayerNormEps, "hidden_dropout_prob": c.HiddenDropoutProb,
			"attention_probs_dropout_prob": c.AttentionProbsDropoutProb, "num_labels": c.NumLabels(), "labels": c.Labels,
		},
		Lines: []models.Line{
			{Label: "encoder", Text: fmt.Sprintf("%d layers, hidden %d, %d heads, intermediate %d, %s, layer_norm_eps %g (post-norm)",
				c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize, c.HiddenAct, c.LayerNormEps)},
			{Label: "inputs", Text: fmt.Sprintf("vocabulary %d, up to %d positions, %d token types", c.VocabSize, c.MaxPositionEmbeddings, c.TypeVocabSize)},
			{Label: "dropout", Text: fmt.Sprintf("hidden %g, attention %g, classifier %g", c.HiddenDropoutProb, c.AttentionProbsDropoutProb, c.ClassifierDropoutProb())},
			{Label: "labels", Text: fmt.Sprintf("%d: %s", c.NumLabels(), strings.Join(c.Labels, ", "))},
		},
		Kinds: []string{"embeddings", "attention", "mlp", "layernorm", "pooler", "classifier"},
	}
}
