package llama

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/internal/reftest"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

func testdata(dir string) string { return filepath.Join("..", "..", "testdata", dir) }

// refBatch makes the batch of a reference file: its input ids, attention
// mask and labels, shifted as golora's collators do (target t is label
// t+1, the last position unscored).
func refBatch(t testing.TB, ref reftest.File) *data.Batch {
	t.Helper()
	ids, shape := ref.Ints(t, "input_ids")
	mask, _ := ref.Ints(t, "attention_mask")
	labels, _ := ref.Ints(t, "labels")
	B, T := shape[0], shape[1]
	var b data.Batch
	bi, bm, bt := b.SetTokens(B, T, B*T, true)
	copy(bi, ids)
	copy(bm, mask)
	for s := 0; s < B; s++ {
		for i := 0; i < T; i++ {
			bt[s*T+i] = data.IgnoreIndex
			if i+1 < T {
				bt[s*T+i] = labels[s*T+i+1]
			}
		}
	}
	return &b
}

// TestMatchesPyTorch loads the tiny LLaMAs (grouped-query attention with
// an untied head in f32; multi-query attention with head_dim ≠
// hidden/heads, biases, linear rope scaling and tied embeddings in bf16),
// trains every parameter, and compares logits, the causal-LM loss and all
// gradients with PyTorch's (testdata/gen_text_models.py).
func TestMatchesPyTorch(t *testing.T) {
	for _, dir := range []string{"llama-tiny", "llama-tiny-tied"} {
		t.Run(dir, func(t *testing.T) {
			ref := reftest.Open(t, filepath.Join(testdata(dir), "expected.safetensors"))
			m, err := Load(testdata(dir), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range nn.AllParams(m) {
				if err := p.SetTrainable(true); err != nil {
					t.Fatal(err)
				}
			}
			b := refBatch(t, ref)
			if err := b.Check(m.Spec()); err != nil {
				t.Fatal(err)
			}
			logits := m.ForwardBatch(b)
			reftest.Close(t, "logits", logits.F32(), ref.Tensor(t, "logits").F32(), 1e-4)
			var ce nn.CrossEntropyLoss
			loss, err := ce.Forward(logits, b.Targets)
			if err != nil {
				t.Fatal(err)
			}
			if want := float64(ref.Tensor(t, "loss").F32()[0]); math.Abs(loss-want) > 1e-5*math.Abs(want) {
				t.Errorf("loss %v, want %v", loss, want)
			}
			m.Backward(ce.Backward())
			if n, want := ref.Grads(t, nn.AllParams(m), 1e-3, nil), len(nn.AllParams(m)); n != want {
				t.Errorf("compared %d gradients, want %d (every parameter)", n, want)
			}
		})
	}
}

// TestBF16Base keeps the tied model's frozen Linear weights in bf16 (as
// stored): the logits are the same as with f32 weights, since the values
// are bf16 either way.
func TestBF16Base(t *testing.T) {
	ref := reftest.Open(t, filepath.Join(testdata("llama-tiny-tied"), "expected.safetensors"))
	m, err := Load(testdata("llama-tiny-tied"), LoadOptions{BaseDType: tensor.BF16})
	if err != nil {
		t.Fatal(err)
	}
	if dt := m.Layers[0].SelfAttn.Query.(*nn.Linear).Weight.Value.DType(); dt != tensor.BF16 {
		t.Fatalf("q_proj stored as %v, want bf16", dt)
	}
	reftest.Close(t, "logits", m.ForwardBatch(refBatch(t, ref)).F32(), ref.Tensor(t, "logits").F32(), 1e-4)
}

func reftestOpen(t testing.TB) reftest.File {
	return reftest.Open(t, filepath.Join(testdata("llama-tiny"), "expected.safetensors"))
}
