package bert

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is BertForSequenceClassification.
type Model struct {
	Config     Config
	Embeddings *Embeddings
	Layers     []*Layer
	// Pooler is BertPooler: tanh(dense(h[:, 0])) ("bert.pooler.dense" is a
	// slot).
	Pooler  *nn.Intermediate
	Dropout *nn.Dropout // before the classifier ("dropout")
	// Classifier is a slot ("classifier"): Linear(H → num_labels).
	Classifier nn.Layer

	seed                     uint64
	seqLen                   int
	stack                    *models.Stack
	gradUnit                 models.UnitHook // nn.GradUnits' callback
	bert, encoder, layerList *node
	b, t                     int
	cls                      *tensor.Tensor // [B, H]: the first token's rows
}

// node is a named module without parameters of its own.
type node struct {
	name     string
	children func() []nn.Module
}

func (n *node) Name() string          { return n.name }
func (n *node) Params() []*nn.Param   { return nil }
func (n *node) Children() []nn.Module { return n.children() }

// Name implements nn.Module: the model is the root, "".
func (m *Model) Name() string { return "" }

// Params implements nn.Module.
func (m *Model) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (m *Model) Children() []nn.Module { return []nn.Module{m.bert, m.Dropout, m.Classifier} }

// Slots implements nn.Slotted.
func (m *Model) Slots() []nn.Slot { return []nn.Slot{{Name: "classifier", Layer: &m.Classifier}} }

// OutputHead names the classification head, which PEFT's "all-linear"
// leaves out.
func (m *Model) OutputHead() string { return "classifier" }

// String summarises the architecture.
func (m *Model) String() string {
	c := &m.Config
	return fmt.Sprintf("%s(vocab %d, hidden %d, %d layers, %d heads, intermediate %d, %d labels)",
		Architecture, c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.NumLabels())
}

// build makes the module tree for a valid config with zero weights
// (LayerNorms at 1, 0). seed keys the dropout masks.
func build(cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bert: config: %w", err)
	}
	if err := cfg.CheckMemory(); err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	m := &Model{Config: cfg, seed: seed, seqLen: cfg.MaxPositionEmbeddings}
	m.Embeddings = newEmbeddings("bert.embeddings", &m.Config, seed)
	scratch := &nn.AttentionScratch{}
	var blocks []models.Block
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l, err := newLayer(fmt.Sprintf("bert.encoder.layer.%d", i), &m.Config, seed)
		if err != nil {
			return nil, fmt.Errorf("bert: config: %w", err)
		}
		l.Attention.Self.Scratch = scratch
		m.Layers = append(m.Layers, l)
		blocks = append(blocks, l)
	}
	pooler, err := nn.NewIntermediate("bert.pooler", cfg.HiddenSize, cfg.HiddenSize, "tanh")
	if err != nil {
		return nil, err
	}
	m.Pooler = pooler
	m.Dropout = nn.NewDropout("dropout", float32(cfg.ClassifierDropoutProb()), seed)
	m.Classifier = nn.NewLinear("classifier", cfg.HiddenSize, cfg.NumLabels(), true)
	m.layerList = &node{"bert.encoder.layer", func() []nn.Module {
		c := make([]nn.Module, len(m.Layers))
		for i, l := range m.Layers {
			c[i] = l
		}
		return c
	}}
	m.encoder = &node{"bert.encoder", func() []nn.Module { return []nn.Module{m.layerList} }}
	m.bert = &node{"bert", func() []nn.Module { return []nn.Module{m.Embeddings, m.encoder, m.Pooler} }}
	m.stack = models.NewStack("bert.encoder.layer", blocks)
	return m, nil
}

// NewZero returns a model with zero weights (LayerNorms at 1, 0) in
// training mode, for planning and for loaders that fill the values.
func NewZero(cfg Config, seed uint64) (*Model, error) { return build(cfg, seed) }

// New returns a randomly initialised model in training mode, as
// transformers' BertPreTrainedModel._init_weights: Linear weights and
// embeddings from N(0, initializer_range²) (the pad_token_id row of the
// word embeddings zero), biases 0, LayerNorms 1 and 0.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := build(cfg, seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x626572742d696e69)) // "bert-ini"
	std := cfg.InitializerRange
	for _, e := range []*nn.Embedding{m.Embeddings.Word, m.Embeddings.Position, m.Embeddings.Type} {
		nn.Normal(e.Weight.Value, std, rng)
	}
	h, p := cfg.HiddenSize, cfg.PadTokenID
	clear(m.Embeddings.Word.Weight.Value.F32()[p*h : (p+1)*h])
	_ = nn.Walk(m, func(x nn.Module) error {
		if l, ok := x.(*nn.Linear); ok {
			nn.Normal(l.Weight.Value, std, rng)
		}
		return nil
	})
	return m, nil
}

// Forward maps token ids [B, T] (token types and the attention mask
// optional) to logits [B, num_labels], read from the first token ([CLS]).
func (m *Model) Forward(ids, types, mask []int32, B, T int) *tensor.Tensor {
	m.b, m.t = B, T
	below, _ := m.belowFunc()
	for i, l := range m.Layers {
		l.setMask(mask)
		l.SetInputGrad(below(i)) // the blocks' keep flags follow Backward's
	}
	h := m.Embeddings.Forward(ids, types, B, T)
	for i := range m.Layers {
		h = m.stack.Forward(i, h)
	}
	H := m.Config.HiddenSize
	m.cls = nn.ReuseAs(memory.Activations, m.cls, B, H)
	for b := 0; b < B; b++ {
		copy(m.cls.F32()[b*H:(b+1)*H], h.F32()[b*T*H:])
	}
	return m.Classifier.Forward(m.Dropout.Forward(m.Pooler.Forward(m.cls)))
}

// Backward takes dL/dlogits of the last Forward, accumulates the
// gradients of the trainable parameters and goes down only as far as the
// lowest module with one. It returns nil.
func (m *Model) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	if m.cls == nil {
		panic("bert: Backward before Forward")
	}
	below, belowPooler := m.belowFunc()
	poolDX := belowPooler || nn.HasTrainable(m.Pooler)
	m.Classifier.SetInputGrad(poolDX)
	g := m.Classifier.Backward(dlogits)
	m.gradUnit.Done(0)
	if g == nil {
		return nil
	}
	m.Dropout.SetInputGrad(true)
	g = m.Dropout.Backward(g)
	m.Pooler.SetInputGrad(belowPooler)
	g = m.Pooler.Backward(g)
	m.gradUnit.Done(1)
	if g == nil {
		return nil
	}
	B, T, H := m.b, m.t, m.Config.HiddenSize
	dseq := m.stack.TopGrad(B, T, H)
	d := dseq.F32()
	clear(d)
	for b := 0; b < B; b++ {
		copy(d[b*T*H:b*T*H+H], g.F32()[b*H:(b+1)*H])
	}
	g = dseq
	for i := len(m.Layers) - 1; i >= 0; i-- {
		m.Layers[i].SetInputGrad(below(i))
		g = m.stack.Backward(i, g)
		m.gradUnit.Done(2 + len(m.Layers) - 1 - i)
		if g == nil {
			return nil
		}
	}
	m.Embeddings.Backward(g)
	m.gradUnit.Done(2 + len(m.Layers))
	return nil
}

// GradUnits implements nn.GradUnits: the classifier, the pooler, the
// blocks from the last to the first, the embeddings.
func (m *Model) GradUnits() []nn.Module {
	us := []nn.Module{m.Classifier, m.Pooler}
	for i := len(m.Layers) - 1; i >= 0; i-- {
		us = append(us, m.Layers[i])
	}
	return append(us, m.Embeddings)
}

// OnGradUnit implements nn.GradUnits.
func (m *Model) OnGradUnit(fn func(unit int)) { m.gradUnit = fn }

// belowFunc returns below(i), whether anything under block i needs a
// gradient, and below(len(Layers)) for the pooler.
func (m *Model) belowFunc() (func(int) bool, bool) {
	trEmb := nn.HasTrainable(m.Embeddings)
	lowest := -1
	for i, l := range m.Layers {
		if nn.HasTrainable(l) {
			lowest = i
			break
		}
	}
	below := func(i int) bool { return trEmb || (lowest >= 0 && lowest < i) }
	return below, below(len(m.Layers))
}

// Plan implements nn.Planner for ids of shape in [B, T], following
// Backward's decisions step by step.
func (m *Model) Plan(in []int, backward bool) nn.Cost {
	B, T, H := in[0], in[1], m.Config.HiddenSize
	seq, cls := []int{B, T, H}, []int{B, H}
	below, belowPooler := m.belowFunc()
	var c nn.Cost
	c.Bytes[memory.Activations] = 4 * int64(B*H) // cls
	c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	poolDX := belowPooler || nn.HasTrainable(m.Pooler)
	m.Classifier.SetInputGrad(poolDX)
	c = c.Plus(nn.PlanOf(m.Classifier, cls, backward))
	goes := backward && poolDX
	if goes {
		m.Dropout.SetInputGrad(true)
	}
	c = c.Plus(m.Dropout.Plan(cls, goes))
	m.Pooler.SetInputGrad(belowPooler)
	c = c.Plus(m.Pooler.Plan(cls, goes))
	goes = goes && belowPooler
	if goes {
		m.stack.PlanTopGrad(&c, B*T*H) // dseq
		c.Ran(nn.Elementwise(nn.OpClear, B*T*H))
		c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	}
	c.Restores = nil // the top-level modules' buffers are their own
	for i := len(m.Layers) - 1; i >= 0; i-- {
		m.Layers[i].SetInputGrad(below(i))
		c = c.Plus(m.stack.PlanBlock(i, seq, goes))
		goes = goes && below(i)
	}
	return c.Plus(m.Embeddings.Plan(in, goes))
}

// BlocksBackward is how many blocks a Backward runs through.
func (m *Model) BlocksBackward() int {
	below, belowPooler := m.belowFunc()
	if !belowPooler {
		return 0
	}
	n := 0
	for i := len(m.Layers) - 1; i >= 0; i-- {
		n++
		if !below(i) {
			break
		}
	}
	return n
}

// SetTraining switches dropout on (training) or off (evaluation).
func (m *Model) SetTraining(on bool) {
	for _, c := range m.Children() {
		nn.SetTraining(c, on)
	}
}

// SetGradientCheckpointing implements models.Model (see models.Stack).
func (m *Model) SetGradientCheckpointing(on bool) { m.stack.SetCheckpointing(on) }

// GradientCheckpointing implements models.Model.
func (m *Model) GradientCheckpointing() bool { return m.stack.Checkpointing() }
