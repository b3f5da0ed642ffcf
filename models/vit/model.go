package vit

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is ViTForImageClassification.
type Model struct {
	Config     Config
	Embeddings *Embeddings
	Layers     []*Layer
	LayerNorm  *nn.LayerNorm
	// Classifier is a slot ("classifier"): Linear(H → num_labels) on the
	// CLS token.
	Classifier nn.Layer
	// InputGrad makes Backward compute and return dL/dpixel_values.
	InputGrad bool

	seed                    uint64
	vit, encoder, layerList *node
	b, t                    int
	cls                     *tensor.Tensor // [B, H]: the CLS rows of the encoder output
	dseq                    *tensor.Tensor // [B, T, H]: the top block's incoming gradient
	// stack runs the blocks on one set of handed-over buffers, with their
	// input gradients in two buffers by parity (models.Stack).
	stack *models.Stack

	gradUnit models.UnitHook // nn.GradUnits' callback
}

// node is a named module without parameters of its own ("vit",
// "vit.encoder", "vit.encoder.layer") whose children come from the model's
// current fields, so replaced slots show up.
type node struct {
	name     string
	children func() []nn.Module
}

// Name implements nn.Module.
func (n *node) Name() string { return n.name }

// OutputHead names the classification head, which PEFT's "all-linear"
// target leaves out.
func (m *Model) OutputHead() string { return "classifier" }

// Params implements nn.Module.
func (n *node) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (n *node) Children() []nn.Module { return n.children() }

// Name implements nn.Module: the model is the root, "".
func (m *Model) Name() string { return "" }

// Params implements nn.Module (the model holds none of its own; see
// nn.AllParams).
func (m *Model) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (m *Model) Children() []nn.Module { return []nn.Module{m.vit, m.Classifier} }

// Slots implements nn.Slotted.
func (m *Model) Slots() []nn.Slot { return []nn.Slot{{Name: "classifier", Layer: &m.Classifier}} }

// String summarises the architecture.
func (m *Model) String() string {
	c := &m.Config
	return fmt.Sprintf("%s(hidden %d, %d layers, %d heads, image %d, patch %d, %d labels)",
		Architecture, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.ImageSize, c.PatchSize, c.NumLabels)
}

// build makes the module tree for a valid config, with zero weights
// (LayerNorms at weight 1, bias 0). seed keys the dropout masks.
func build(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vit: config: %w", err)
	}
	if err := cfg.CheckMemory(); err != nil {
		return nil, fmt.Errorf("vit: %w", err)
	}
	m := &Model{Config: cfg, seed: seed}
	m.Embeddings = newEmbeddings("vit.embeddings", &m.Config, seed)
	// The blocks run one after another, so their attention workspace
	// ([B, heads, T, T] buffers that live within one call) is shared.
	scratch := &nn.AttentionScratch{}
	var blocks []models.Block
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l, err := newLayer(fmt.Sprintf("vit.encoder.layer.%d", i), &m.Config, seed)
		if err != nil {
			return nil, fmt.Errorf("vit: config: %w", err)
		}
		l.Attention.Attention.Scratch = scratch
		m.Layers = append(m.Layers, l)
		blocks = append(blocks, l)
	}
	m.stack = models.NewStack("vit.encoder.layer", blocks)
	m.LayerNorm = nn.NewLayerNorm("vit.layernorm", cfg.HiddenSize, float32(cfg.LayerNormEps))
	m.Classifier = nn.NewLinear("classifier", cfg.HiddenSize, cfg.NumLabels, true)
	m.layerList = &node{"vit.encoder.layer", func() []nn.Module {
		c := make([]nn.Module, len(m.Layers))
		for i, l := range m.Layers {
			c[i] = l
		}
		return c
	}}
	m.encoder = &node{"vit.encoder", func() []nn.Module { return []nn.Module{m.layerList} }}
	m.vit = &node{"vit", func() []nn.Module { return []nn.Module{m.Embeddings, m.encoder, m.LayerNorm} }}
	return m, nil
}

// NewZero returns a model with zero weights (LayerNorms at weight 1, bias
// 0) in training mode, for planning and for loaders that fill the values.
func NewZero(cfg Config, seed uint64) (*Model, error) { return build(cfg, seed) }

// New returns a randomly initialised model in training mode, initialised
// as transformers' ViTPreTrainedModel._init_weights: Linear and Conv2d
// weights, cls_token and position_embeddings from a normal with std
// initializer_range truncated to [-2, 2], biases 0, LayerNorm weight 1 and
// bias 0. The same seed gives the same weights and dropout masks.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := build(cfg, seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x7669742d696e6974)) // "vit-init"
	std := cfg.InitializerRange
	nn.TruncNormal(m.Embeddings.CLSToken.Value, std, rng)
	nn.TruncNormal(m.Embeddings.PositionEmbeddings.Value, std, rng)
	_ = nn.Walk(m, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			nn.TruncNormal(l.Weight.Value, std, rng)
		}
		return nil
	})
	return m, nil
}

// Forward maps pixel_values [B, C, S, S] to logits [B, num_labels]. The
// final LayerNorm runs on the CLS rows only: it is row-wise, and the
// classifier reads nothing else, so the logits are those of transformers.
func (m *Model) Forward(pix *tensor.Tensor) *tensor.Tensor {
	m.prepare()
	h := m.Embeddings.Forward(pix)
	for i := range m.Layers {
		h = m.stack.Forward(i, h)
	}
	B, T, H := h.Dim(0), h.Dim(1), h.Dim(2)
	m.b, m.t = B, T
	m.cls = nn.ReuseAs(memory.Activations, m.cls, B, H)
	for b := 0; b < B; b++ {
		copy(m.cls.F32()[b*H:(b+1)*H], h.F32()[b*T*H:])
	}
	return m.Classifier.Forward(m.LayerNorm.Forward(m.cls))
}

// Backward takes dL/dlogits for the last Forward, accumulates the gradients
// of the trainable parameters and returns dL/dpixel_values when InputGrad
// is set (nil otherwise). It goes down only as far as the lowest module
// with a trainable parameter.
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	if m.cls == nil {
		panic("vit: Backward before Forward")
	}
	m.prepare()
	g := m.Classifier.Backward(dlogits)
	m.gradUnit.Done(0)
	if g == nil {
		return nil
	}
	g = m.LayerNorm.Backward(g)
	m.gradUnit.Done(1)
	if g == nil {
		return nil
	}
	B, T, H := m.b, m.t, m.Config.HiddenSize
	m.dseq = m.stack.TopGrad(B, T, H)
	d := m.dseq.F32()
	clear(d)
	for b := 0; b < B; b++ {
		copy(d[b*T*H:b*T*H+H], g.F32()[b*H:(b+1)*H])
	}
	g = m.dseq
	for i := len(m.Layers) - 1; i >= 0; i-- {
		g = m.stack.Backward(i, g)
		m.gradUnit.Done(2 + len(m.Layers) - 1 - i)
		if g == nil {
			return nil
		}
	}
	g = m.Embeddings.Backward(g)
	m.gradUnit.Done(2 + len(m.Layers))
	return g
}

// GradUnits implements nn.GradUnits: the classifier, the final LayerNorm,
// the blocks from the last to the first, the embeddings.
func (m *Model) GradUnits() []nn.Module {
	us := []nn.Module{m.Classifier, m.LayerNorm}
	for i := len(m.Layers) - 1; i >= 0; i-- {
		us = append(us, m.Layers[i])
	}
	return append(us, m.Embeddings)
}

// OnGradUnit implements nn.GradUnits.
func (m *Model) OnGradUnit(fn func(unit int)) { m.gradUnit = fn }

// prepare sets the input-gradient and keep flags of the top-level modules
// and blocks as Backward needs them; Forward, Backward and Plan share it.
func (m *Model) prepare() {
	below, belowNorm := m.belowFunc()
	m.Classifier.SetInputGrad(belowNorm || nn.HasTrainable(m.LayerNorm))
	m.LayerNorm.SetInputGrad(belowNorm)
	m.LayerNorm.KeepOutput(nn.NeedsInput(m.Classifier))
	for i, l := range m.Layers {
		l.SetInputGrad(below(i))
	}
	m.Embeddings.SetInputGrad(m.InputGrad)
}

// ZeroGrads clears the gradients of all trainable parameters.
func (m *Model) ZeroGrads() { nn.ZeroGrads(m) }

// SetTraining switches dropout on (training) or off (evaluation) in the
// whole tree (it implements nn.Trainable, so it visits the children only).
func (m *Model) SetTraining(on bool) {
	for _, c := range m.Children() {
		nn.SetTraining(c, on)
	}
}
