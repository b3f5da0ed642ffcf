package train_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/data/text"
	"github.com/golora/golora/models/bert"
	"github.com/golora/golora/models/llama"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/train"
)

func TestTokensCollation(t *testing.T) {
	lm, err := train.CausalLM([][]int32{{5, 6, 7, 8}, {9, 10}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b data.Batch
	lm.Fill(&b, []int{0, 1})
	if b.N != 2 || b.T != 4 {
		t.Fatalf("batch %d×%d", b.N, b.T)
	}
	ig := int32(data.IgnoreIndex)
	for _, c := range []struct {
		name      string
		got, want []int32
	}{
		{"ids", b.IDs, []int32{5, 6, 7, 8, 9, 10, 0, 0}},
		{"mask", b.Mask, []int32{1, 1, 1, 1, 1, 1, 0, 0}},
		{"targets", b.Targets, []int32{6, 7, 8, ig, 10, ig, ig, ig}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := lm.CountTargets([]int{0, 1}); n != 4 || n != b.ValidTargets() {
		t.Errorf("CountTargets %d, batch scores %d", n, b.ValidTargets())
	}
	lm.Fill(&b, []int{0}) // nothing padded: no mask
	if b.Mask != nil {
		t.Error("an unpadded batch has a mask")
	}
	cls, err := train.SequenceClassification([][]int32{{1, 2, 3}, {4}}, []int32{1, 0}, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	cls.Fill(&b, []int{1, 0})
	if !slices.Equal(b.IDs, []int32{4, 0, 0, 1, 2, 3}) || !slices.Equal(b.Targets, []int32{0, 1}) || !slices.Equal(b.Mask, []int32{1, 0, 0, 1, 1, 1}) {
		t.Errorf("classification batch ids %v mask %v targets %v", b.IDs, b.Mask, b.Targets)
	}
	for _, bad := range []func() error{
		func() error { _, err := train.CausalLM([][]int32{{1}}, 0); return err },
		func() error { _, err := train.SequenceClassification([][]int32{{1}}, []int32{2}, 2, 0); return err },
		func() error { _, err := train.SequenceClassification([][]int32{{}}, []int32{0}, 2, 0); return err },
	} {
		if bad() == nil {
			t.Error("bad text data accepted")
		}
	}
}

// counting is a toy language: each sequence counts up from a random start,
// modulo the vocabulary, so the next token is always determined.
func counting(n, length, vocab int, seed int) [][]int32 {
	var out [][]int32
	for i := range n {
		s := make([]int32, length)
		for j := range s {
			s[j] = int32(3 + (i*7+seed*13+j)%(vocab-3))
		}
		out = append(out, s)
	}
	return out
}

// TestTrainTinyLlama trains a tiny LLaMA from scratch on the counting
// language with the Trainer: the perplexity must fall from the uniform
// guess (the vocabulary size) to near 1.
func TestTrainTinyLlama(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	c := llama.Preset(32, 2, 4, 2, 24, 16)
	c.IntermediateSize = 64
	m, err := llama.New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nn.AllParams(m) {
		p.SetTrainable(true)
	}
	trainSet, _ := train.CausalLM(counting(200, 12, 24, 0), 0)
	evalSet, _ := train.CausalLM(counting(20, 12, 24, 1), 0)
	before, err := train.Evaluate(m, evalSet, 8)
	if err != nil {
		t.Fatal(err)
	}
	a := train.DefaultArgs()
	a.LearningRate, a.MaxSteps, a.PerDeviceTrainBatchSize, a.LoggingSteps, a.SaveSteps, a.Quiet = 1e-2, 150, 16, 0, 0, true
	tr := &train.Trainer{Args: a, Model: m, TrainData: trainSet, EvalData: evalSet}
	res, err := tr.Train()
	if err != nil {
		t.Fatal(err)
	}
	if before.Perplexity() < 10 || res.Eval.Perplexity() > 1.5 {
		t.Errorf("perplexity %.2f before, %.2f after (want ~24 before, < 1.5 after)", before.Perplexity(), res.Eval.Perplexity())
	}
	t.Logf("perplexity %.2f -> %.3f, accuracy %.3f", before.Perplexity(), res.Eval.Perplexity(), res.Eval.Accuracy)
}

// TestTrainTinyBert trains a tiny BERT classifier on which of two token
// ranges a sequence draws from, with padding.
func TestTrainTinyBert(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	c := bert.Preset(32, 2, 2, 64, 16)
	c.VocabSize = 40
	m, err := bert.New(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nn.AllParams(m) {
		p.SetTrainable(true)
	}
	var seqs [][]int32
	var labels []int32
	for i := range 300 {
		n := 3 + i%9
		s := []int32{2}
		for j := range n {
			s = append(s, int32(5+(i*3+j*5)%15+15*(i%2)))
		}
		seqs, labels = append(seqs, s), append(labels, int32(i%2))
	}
	trainSet, _ := train.SequenceClassification(seqs[:250], labels[:250], 2, 0)
	evalSet, _ := train.SequenceClassification(seqs[250:], labels[250:], 2, 0)
	a := train.DefaultArgs()
	a.LearningRate, a.MaxSteps, a.PerDeviceTrainBatchSize, a.LoggingSteps, a.SaveSteps, a.Quiet = 3e-3, 60, 16, 0, 0, true
	res, err := (&train.Trainer{Args: a, Model: m, TrainData: trainSet, EvalData: evalSet}).Train()
	if err != nil {
		t.Fatal(err)
	}
	if res.Eval.Accuracy < 0.95 || math.IsNaN(res.Eval.Loss) {
		t.Errorf("accuracy %.3f, want > 0.95", res.Eval.Accuracy)
	}
}

// TestTokensMatchesPadBatch checks the collation against data/text's
// reference functions: PadBatch (padding "longest", labels -100 on
// padding) and ShiftLabels (target t is label t+1).
func TestTokensMatchesPadBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var seqs [][]int32
	for range 9 {
		s := make([]int32, 2+rng.IntN(7))
		for j := range s {
			s[j] = int32(1 + rng.IntN(50))
		}
		seqs = append(seqs, s)
	}
	lm, _ := train.CausalLM(seqs, 0)
	var b data.Batch
	idx := []int{4, 0, 7, 2}
	lm.Fill(&b, idx)
	var picked [][]int32
	for _, i := range idx {
		picked = append(picked, seqs[i])
	}
	want, err := text.PadBatch(picked, 0, text.PadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	targets, err := text.ShiftLabels(want.Labels, want.N, want.T)
	if err != nil {
		t.Fatal(err)
	}
	if b.N != want.N || b.T != want.T || !slices.Equal(b.IDs, want.InputIDs) || !slices.Equal(b.Mask, want.AttentionMask) || !slices.Equal(b.Targets, targets) {
		t.Errorf("Tokens.Fill differs from text.PadBatch + ShiftLabels:\nids %v\n    %v\ntargets %v\n        %v", b.IDs, want.InputIDs, b.Targets, targets)
	}
}
