package vit

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// ModelType is config.json's model_type for ViT.
const ModelType = "vit"

func init() {
	models.Register(&models.Family{
		ModelType:     ModelType,
		Architectures: []string{Architecture, "ViTModel"},
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
			"vit-tiny-224": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(224, 16, 12), random, seed)
			},
			"vit-small-64": func(random bool, seed uint64) (models.Model, error) {
				return newModel(Preset(64, 8, 6), random, seed)
			},
		},
	})
}

// build2 is New (random) or NewZero.
func newModel(c Config, random bool, seed uint64) (models.Model, error) {
	if random {
		return New(c, seed)
	}
	return NewZero(c, seed)
}

// Preset is golora's benchmark ViT: ViT-Tiny's widths (hidden 192, 3
// heads, MLP 768) at the given image size, patch size and depth, with 10
// labels.
func Preset(image, patch, layers int) Config {
	c := DefaultConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 192, layers, 3, 768
	c.ImageSize, c.PatchSize = image, patch
	c.SetLabels(DefaultLabels(10))
	return c
}

var _ models.Classifier = (*Model)(nil)

// ForwardBatch implements models.Model: the batch's pixel values.
func (m *Model) ForwardBatch(b *data.Batch) *tensor.Tensor { return m.Forward(b.Pixels) }

// Spec implements models.Model.
func (m *Model) Spec() data.Spec {
	c := &m.Config
	return data.Spec{Channels: c.NumChannels, Height: c.ImageSize, Width: c.ImageSize, Classes: c.NumLabels}
}

// PlanBatch implements models.Model.
func (m *Model) PlanBatch(n int, backward bool) nn.Cost {
	c := &m.Config
	return m.Plan([]int{n, c.NumChannels, c.ImageSize, c.ImageSize}, backward)
}

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
		KVHeads: c.NumAttentionHeads, Layers: c.NumHiddenLayers, Tokens: c.Tokens()}
}

// ModelType implements models.Model.
func (m *Model) ModelType() string { return ModelType }

// Labels implements models.Classifier.
func (m *Model) Labels() []string { return m.Config.Labels() }

// SetInputGrad implements models.InputGradienter: Backward returns
// dL/dpixel_values.
func (m *Model) SetInputGrad(on bool) { m.InputGrad = on }

// NewHead implements models.Classifier: a fresh classifier for labels,
// as transformers initialises a new head (weight ~ N(0,
// initializer_range²) truncated, bias 0), drawn from seed.
func (m *Model) NewHead(labels []string, seed uint64) error {
	base, ok := m.Classifier.(*nn.Linear)
	if !ok {
		return fmt.Errorf("vit: the classifier is already wrapped; cannot replace it")
	}
	if len(labels) < 1 {
		return fmt.Errorf("vit: a head needs at least one label")
	}
	h := nn.NewLinear("classifier", base.In, len(labels), true)
	rng := rand.New(rand.NewPCG(seed, 0x6865616421)) // "head!"
	nn.TruncNormal(h.Weight.Value, m.Config.InitializerRange, rng)
	m.Classifier = h
	m.Config.SetLabels(labels)
	return nil
}

var _ models.Describer = (*Model)(nil)

// ParamKind implements models.Describer (see Kind).
func (m *Model) ParamKind(name string) string { return Kind(name) }

// Describe implements models.Describer.
func (m *Model) Describe() models.Description {
	c := &m.Config
	labels := c.Labels()
	shown, more := labels, ""
	if len(shown) > 10 {
		shown, more = shown[:10], fmt.Sprintf(", … (%d more)", len(labels)-10)
	}
	return models.Description{
		Architecture: Architecture,
		Config: map[string]any{
			"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
			"head_dim": c.HeadDim(), "intermediate_size": c.IntermediateSize, "hidden_act": c.HiddenAct,
			"layer_norm_eps": c.LayerNormEps, "qkv_bias": c.QKVBias,
			"hidden_dropout_prob": c.HiddenDropoutProb, "attention_probs_dropout_prob": c.AttentionProbsDropoutProb,
			"image_size": c.ImageSize, "patch_size": c.PatchSize, "num_channels": c.NumChannels, "tokens": c.Tokens(),
			"num_labels": c.NumLabels, "labels": labels,
		},
		Lines: []models.Line{
			{Label: "encoder", Text: fmt.Sprintf("%d layers, hidden %d, %d heads of %d, intermediate %d, %s, layer_norm_eps %g, qkv_bias %v",
				c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.HeadDim(), c.IntermediateSize, c.HiddenAct, c.LayerNormEps, c.QKVBias)},
			{Label: "image", Text: fmt.Sprintf("%dx%d, %d channels, patch %d: %d patches + CLS = %d tokens",
				c.ImageSize, c.ImageSize, c.NumChannels, c.PatchSize, c.Patches(), c.Tokens())},
			{Label: "dropout", Text: fmt.Sprintf("hidden %g, attention %g", c.HiddenDropoutProb, c.AttentionProbsDropoutProb)},
			{Label: "labels", Text: fmt.Sprintf("%d: %s%s", c.NumLabels, strings.Join(shown, ", "), more)},
		},
		Kinds: []string{"embeddings", "attention", "mlp", "layernorm", "classifier"},
	}
}
