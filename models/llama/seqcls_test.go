package llama

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/reftest"
	"github.com/golora/golora/models"
	"github.com/golora/golora/nn"
)

func seqClsBatch(t *testing.T, ref reftest.File) *data.Batch {
	t.Helper()
	ids, shape := ref.Ints(t, "input_ids")
	mask, _ := ref.Ints(t, "attention_mask")
	labels, _ := ref.Ints(t, "labels")
	var b data.Batch
	bi, bm, bt := b.SetTokens(shape[0], shape[1], shape[0], true)
	copy(bi, ids)
	copy(bm, mask)
	copy(bt, labels)
	return &b
}

// TestSeqClsMatchesPyTorch checks LlamaForSequenceClassification (pooled at
// the last token) against PyTorch: logits, loss and every gradient; and,
// without the attention mask, pooling by pad_token_id gives the same.
func TestSeqClsMatchesPyTorch(t *testing.T) {
	ref := reftest.Open(t, filepath.Join(testdata("llama-tiny-seqcls"), "expected.safetensors"))
	mm, err := models.Load(testdata("llama-tiny-seqcls"), models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mm.(*SeqCls)
	if !ok {
		t.Fatalf("loaded a %T", mm)
	}
	if strings.Join(m.Labels(), ",") != "negative,neutral,positive" {
		t.Errorf("labels %v", m.Labels())
	}
	for _, p := range nn.AllParams(m) {
		p.SetTrainable(true)
	}
	b := seqClsBatch(t, ref)
	if err := b.Check(m.Spec()); err != nil {
		t.Fatal(err)
	}
	logits := m.ForwardBatch(b)
	reftest.Close(t, "logits", logits.F32(), ref.Tensor(t, "logits").F32(), 1e-4)
	var ce nn.CrossEntropyLoss
	loss, _ := ce.Forward(logits, b.Targets)
	if want := float64(ref.Tensor(t, "loss").F32()[0]); math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %v, want %v", loss, want)
	}
	m.Backward(ce.Backward())
	if n := ref.Grads(t, nn.AllParams(m), 1e-3, nil); n != len(nn.AllParams(m)) {
		t.Errorf("compared %d gradients of %d", n, len(nn.AllParams(m)))
	}
	b.Mask = nil // pooled by pad_token_id (0) instead
	reftest.Close(t, "logits pooled by pad id", m.ForwardBatch(b).F32(), ref.Tensor(t, "logits").F32(), 1e-4)
}

// TestSeqClsFromCausalLM loads a causal-LM checkpoint for classification:
// lm_head is dropped, score is fresh, the body is the checkpoint's.
func TestSeqClsFromCausalLM(t *testing.T) {
	m, err := models.Load(testdata("llama-tiny"), models.LoadOptions{NumLabels: 2, Labels: []string{"neg", "pos"}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sc := m.(*SeqCls)
	if sc.Score.(*nn.Linear).Out != 2 || sc.OutputHead() != "score" {
		t.Errorf("score head %v", sc.Score)
	}
	lm, _ := Load(testdata("llama-tiny"), LoadOptions{})
	if !equal(sc.EmbedTokens.Weight.Value.F32(), lm.EmbedTokens.Weight.Value.F32()) {
		t.Error("body differs from the causal-LM checkpoint's")
	}
	out := t.TempDir()
	if err := sc.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := models.Load(out, models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bs, ok := back.(*SeqCls); !ok || strings.Join(bs.Labels(), ",") != "neg,pos" {
		t.Errorf("saved classifier loads as %v", back)
	}
}
