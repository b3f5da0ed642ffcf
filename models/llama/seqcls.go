package llama

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/data"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// SeqCls is LlamaForSequenceClassification: the Decoder ("model") and
// score, a Linear without bias, applied to the last token of each sequence
// (the last position whose attention mask is 1, or whose id is not
// pad_token_id when there is no mask, else the last position), as
// transformers pools it for right-padded batches. The final norm runs on
// those rows only: it is row-wise, so the logits are transformers'.
type SeqCls struct {
	Config Config
	*Decoder
	// Score is a slot ("score"): Linear(H → num_labels), no bias.
	Score nn.Layer

	last   []int          // pooled position of each sequence of the last Forward
	pooled *tensor.Tensor // [B, H]
	dseq   *tensor.Tensor // [B, T, H]
}

var (
	_ models.Classifier = (*SeqCls)(nil)
	_ models.Describer  = (*SeqCls)(nil)
	_ models.SeqLener   = (*SeqCls)(nil)
)

func buildSeqCls(cfg Config, seed uint64) (*SeqCls, error) {
	if len(cfg.Labels) < 2 {
		return nil, fmt.Errorf("llama: config: sequence classification needs at least two labels, got %d", len(cfg.Labels))
	}
	cfg.Architectures = []string{SeqClsArchitecture}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llama: config: %w", err)
	}
	if err := cfg.checkMemory(len(cfg.Labels)); err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	m := &SeqCls{Config: cfg}
	d, err := newDecoder(&m.Config, seed)
	if err != nil {
		return nil, err
	}
	m.Decoder = d
	m.Score = nn.NewLinear("score", cfg.HiddenSize, len(cfg.Labels), false)
	return m, nil
}

// NewZeroSeqCls returns a classifier with zero weights (norms at 1), for
// planning and for loaders that fill the values.
func NewZeroSeqCls(cfg Config, seed uint64) (*SeqCls, error) { return buildSeqCls(cfg, seed) }

// NewSeqCls returns a randomly initialised classifier in training mode
// (transformers' initialisation, as New).
func NewSeqCls(cfg Config, seed uint64) (*SeqCls, error) {
	m, err := buildSeqCls(cfg, seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6c616d612d696e))
	m.Decoder.initWeights(cfg.InitializerRange, rng)
	m.initScore(seed)
	return m, nil
}

// initScore gives score a fresh initialisation: N(0, initializer_range²).
func (m *SeqCls) initScore(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x73636f7265)) // "score"
	l := m.Score.(*nn.Linear)
	l.Weight.Value = tensor.New(tensor.F32, l.Out, l.In)
	nn.Normal(l.Weight.Value, m.Config.InitializerRange, rng)
}

// Name implements nn.Module: the root, "".
func (m *SeqCls) Name() string { return "" }

// Params implements nn.Module.
func (m *SeqCls) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (m *SeqCls) Children() []nn.Module { return []nn.Module{m.Decoder, m.Score} }

// Slots implements nn.Slotted.
func (m *SeqCls) Slots() []nn.Slot { return []nn.Slot{{Name: "score", Layer: &m.Score}} }

// OutputHead names the classification head ("score").
func (m *SeqCls) OutputHead() string { return "score" }

// String summarises the architecture.
func (m *SeqCls) String() string {
	return describe(SeqClsArchitecture, &m.Config)[:len(describe(SeqClsArchitecture, &m.Config))-1] + fmt.Sprintf(", %d labels)", len(m.Config.Labels))
}

// lastTokens finds each sequence's pooled position.
func (m *SeqCls) lastTokens(ids, mask []int32, B, T int) []int {
	m.last = m.last[:0]
	for b := 0; b < B; b++ {
		p := T - 1
		switch {
		case mask != nil:
			for p > 0 && mask[b*T+p] == 0 {
				p--
			}
		case m.Config.PadTokenID != nil:
			pad := int32(*m.Config.PadTokenID)
			for p > 0 && ids[b*T+p] == pad {
				p--
			}
		}
		m.last = append(m.last, p)
	}
	return m.last
}

// Forward maps token ids [B, T] (attention mask optional) to logits [B,
// num_labels].
func (m *SeqCls) Forward(ids, mask []int32, B, T int) *tensor.Tensor {
	h := m.Decoder.Forward(ids, mask, B, T)
	H := m.Config.HiddenSize
	m.pooled = nn.ReuseAs(memory.Activations, m.pooled, B, H)
	for b, p := range m.lastTokens(ids, mask, B, T) {
		copy(m.pooled.F32()[b*H:(b+1)*H], h.F32()[(b*T+p)*H:])
	}
	return m.Score.Forward(m.Norm.Forward(m.pooled))
}

// Backward takes dL/dlogits of the last Forward and goes down as far as
// something trains. It returns nil.
func (m *SeqCls) Backward(dlogits *tensor.Tensor) *tensor.Tensor {
	if m.pooled == nil {
		panic("llama: Backward before Forward")
	}
	m.Score.SetInputGrad(m.headInputGrad())
	g := m.Score.Backward(dlogits)
	m.gradUnit.Done(0)
	if g == nil {
		return nil
	}
	g = m.Norm.Backward(g)
	m.gradUnit.Done(1)
	if g == nil {
		return nil
	}
	B, T, H := m.b, m.t, m.Config.HiddenSize
	m.dseq = nn.ReuseAs(memory.Workspace, m.dseq, B, T, H)
	d := m.dseq.F32()
	clear(d)
	for b, p := range m.last {
		copy(d[(b*T+p)*H:(b*T+p+1)*H], g.F32()[b*H:(b+1)*H])
	}
	m.Decoder.Backward(m.dseq)
	return nil
}

// GradUnits implements nn.GradUnits: score, the final norm, the blocks
// from the last to the first, the embedding.
func (m *SeqCls) GradUnits() []nn.Module { return m.gradUnits(m.Score) }

// OnGradUnit implements nn.GradUnits.
func (m *SeqCls) OnGradUnit(fn func(unit int)) { m.gradUnit = fn }

// SetTraining switches dropout on or off in the whole tree.
func (m *SeqCls) SetTraining(on bool) {
	for _, c := range m.Children() {
		nn.SetTraining(c, on)
	}
}

// Plan implements nn.Planner for ids of shape in [B, T].
func (m *SeqCls) Plan(in []int, backward bool) nn.Cost {
	B, T, H := in[0], in[1], m.Config.HiddenSize
	rows := []int{B, H}
	var c nn.Cost
	c.Bytes[memory.Activations] = 4 * int64(B*H) // pooled
	c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	headDX := m.headInputGrad()
	m.Score.SetInputGrad(headDX)
	c = c.Plus(nn.PlanOf(m.Score, rows, backward))
	goes := backward && headDX
	c = c.Plus(m.Norm.Plan(rows, goes))
	_, belowNorm := m.belowFunc()
	goes = goes && belowNorm
	if goes {
		c.Bytes[memory.Workspace] += 4 * int64(B*T*H) // dseq
		c.Ran(nn.Elementwise(nn.OpClear, B*T*H))
		c.Run(nn.Elementwise(nn.OpCopy, H), int64(B))
	}
	return c.Plus(m.planBody(in, goes))
}

// ForwardBatch implements models.Model.
func (m *SeqCls) ForwardBatch(b *data.Batch) *tensor.Tensor {
	return m.Forward(b.IDs, b.Mask, b.N, b.T)
}

// Spec implements models.Model: sequences of up to SeqLen tokens, one class
// each.
func (m *SeqCls) Spec() data.Spec {
	return data.Spec{SeqLen: m.seqLen, Vocab: m.Config.VocabSize, Classes: len(m.Config.Labels)}
}

// PlanBatch implements models.Model.
func (m *SeqCls) PlanBatch(n int, backward bool) nn.Cost { return m.Plan([]int{n, m.seqLen}, backward) }

// Labels implements models.Classifier.
func (m *SeqCls) Labels() []string { return append([]string(nil), m.Config.Labels...) }

// NewHead implements models.Classifier: a fresh score for labels.
func (m *SeqCls) NewHead(labels []string, seed uint64) error {
	if _, ok := m.Score.(*nn.Linear); !ok {
		return fmt.Errorf("llama: the score head is already wrapped; cannot replace it")
	}
	if len(labels) < 2 {
		return fmt.Errorf("llama: a classification head needs at least two labels")
	}
	m.Config.SetLabels(labels)
	m.Score = nn.NewLinear("score", m.Config.HiddenSize, len(labels), false)
	m.initScore(seed)
	return nil
}

// Save writes dir/config.json and dir/model.safetensors, atomically each.
func (m *SeqCls) Save(dir string) error {
	b, err := m.Config.configFile()
	if err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	if err := models.SaveDir(dir, m, b, m.Config.saveDType()); err != nil {
		return fmt.Errorf("llama: save: %w", err)
	}
	return nil
}

// ParamKind implements models.Describer.
func (m *SeqCls) ParamKind(name string) string {
	if name == "score.weight" {
		return "score"
	}
	return paramKind(name)
}

// Describe implements models.Describer.
func (m *SeqCls) Describe() models.Description {
	d := description(SeqClsArchitecture, &m.Config)
	d.Config["num_labels"], d.Config["labels"] = len(m.Config.Labels), m.Config.Labels
	d.Lines = append(d.Lines, models.Line{Label: "labels", Text: fmt.Sprintf("%d: %v, pooled at the last token", len(m.Config.Labels), m.Config.Labels)})
	d.Kinds = []string{"embeddings", "attention", "mlp", "norm", "score"}
	return d
}
