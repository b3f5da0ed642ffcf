package plan

import (
	"testing"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/models"
	"github.com/golora/golora/models/bert"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/peft/lora"
	"github.com/golora/golora/tensor"
)

// smallLlama is a LLaMA small enough for tests: grouped-query attention,
// attention dropout, tied embeddings, 6 tokens per example.
func smallLlama(tied bool) Source {
	c := llama.Preset(16, 3, 4, 2, 50, 6)
	c.IntermediateSize, c.AttentionDropout, c.TieWordEmbeddings = 24, 0.1, tied
	return func(random bool, seed uint64) (models.Model, error) {
		if random {
			return llama.New(c, seed)
		}
		return llama.NewZero(c, seed)
	}
}

// smallLlamaSeqCls is smallLlama with a classification head (3 labels).
func smallLlamaSeqCls() Source {
	c := llama.Preset(16, 3, 4, 2, 50, 6)
	c.IntermediateSize, c.AttentionDropout = 24, 0.1
	c.SetLabels([]string{"a", "b", "c"})
	return func(random bool, seed uint64) (models.Model, error) {
		if random {
			return llama.NewSeqCls(c, seed)
		}
		return llama.NewZeroSeqCls(c, seed)
	}
}

// smallBert is a BERT small enough for tests, with dropout everywhere.
func smallBert() Source {
	c := bert.Preset(16, 3, 2, 24, 6)
	c.VocabSize = 40
	return func(random bool, seed uint64) (models.Model, error) {
		if random {
			return bert.New(c, seed)
		}
		return bert.NewZero(c, seed)
	}
}

// textSetups are the methods golora compares, on a text model, plus LoRA
// on some layers only (differing block structures).
func textSetups(t testing.TB, src Source, partialTargets ...string) map[string]Setup {
	m, err := src(false, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := DefaultLoRA(m)
	l.LoraDropout = 0.1
	p := l
	p.LayersToTransform = []int{0, 2}
	p.TargetModules = lora.TargetList(partialTargets...)
	return map[string]Setup{
		"full":              {Base: src, Method: "full", BaseDType: tensor.F32},
		"lora":              {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F32},
		"lora-bf16":         {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.BF16},
		"lora-fp16":         {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F16},
		"lora-int8":         {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.Int8},
		"lora-nf4-dq":       {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.NF4, DoubleQuant: true, GradientCheckpointing: true},
		"lora-ckpt":         {Base: src, Method: "lora", LoRA: l, BaseDType: tensor.F32, GradientCheckpointing: true},
		"lora-partial":      {Base: src, Method: "lora", LoRA: p, BaseDType: tensor.F32},
		"lora-partial-ckpt": {Base: src, Method: "lora", LoRA: p, BaseDType: tensor.F32, GradientCheckpointing: true},
	}
}

// TestTextEstimateMatchesMeasurement is TestEstimateMatchesMeasurement on
// the text models: every memory category and the GEMM FLOPs of a real step
// equal the planner's, and a second step allocates nothing.
func TestTextEstimateMatchesMeasurement(t *testing.T) {
	for model, ms := range map[string]map[string]Setup{
		"llama":      textSetups(t, smallLlama(false), "q_proj", "down_proj"),
		"llama-tied": textSetups(t, smallLlama(true), "k_proj", "gate_proj"),
		"bert":       textSetups(t, smallBert(), "query", "dense"),
		"llama-cls":  textSetups(t, smallLlamaSeqCls(), "v_proj", "up_proj"),
	} {
		for name, s := range ms {
			t.Run(model+"/"+name, func(t *testing.T) { checkEstimate(t, s, 3) })
		}
	}
}

// TestTextCheckpointGradients checks that gradient checkpointing leaves
// LoRA's gradients bitwise unchanged on the text models, dropout on.
func TestTextCheckpointGradients(t *testing.T) {
	for name, src := range map[string]Source{"llama": smallLlama(true), "bert": smallBert()} {
		ms := textSetups(t, src, "q_proj")
		if name == "bert" {
			ms = textSetups(t, src, "query")
		}
		for _, pair := range [][2]string{{"lora", "lora-ckpt"}, {"lora-partial", "lora-partial-ckpt"}} {
			plain, ckpt := stepGrads(t, ms[pair[0]]), stepGrads(t, ms[pair[1]])
			compareGrads(t, name+"/"+pair[0], plain, ckpt)
		}
	}
}

// TestSeqLen: a setup's sequence length is what the model plans and runs
// (bert-mini at 128 of its 256 positions: the plan equals the measured
// step exactly); a model without one refuses it, and so does a length
// beyond max_position_embeddings.
func TestSeqLen(t *testing.T) {
	src, err := FromPreset("bert-mini")
	if err != nil {
		t.Fatal(err)
	}
	base, err := src(false, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := Setup{Base: src, Method: "lora", LoRA: DefaultLoRA(base), BaseDType: tensor.F32, SeqLen: 128}
	m, err := Build(s, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Base.Spec().SeqLen; got != 128 {
		t.Fatalf("SeqLen 128: the model reads %d tokens", got)
	}
	full := s
	full.SeqLen = 0
	mf, err := Build(full, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	short, long := m.Estimate(2), mf.Estimate(2)
	if max := mf.Base.Spec().SeqLen; max <= 128 || short.Forward >= long.Forward || short.Bytes[memory.Activations] >= long.Bytes[memory.Activations] {
		t.Errorf("128 tokens planned as much as %d: forward %d vs %d FLOPs", max, short.Forward, long.Forward)
	}
	checkEstimate(t, s, 2)

	for name, bad := range map[string]Setup{
		"image model":    {Base: source(vit.Preset(16, 8, 1)), Method: "full", BaseDType: tensor.F32, SeqLen: 16},
		"beyond maximum": {Base: src, Method: "full", BaseDType: tensor.F32, SeqLen: 257},
		"negative":       {Base: src, Method: "full", BaseDType: tensor.F32, SeqLen: -1},
	} {
		if _, err := Build(bad, false, 1); err == nil {
			t.Errorf("%s: SeqLen %d accepted", name, bad.SeqLen)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
